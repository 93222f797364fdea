#!/bin/bash
# topologies: passthrough
# Chaos: kill -9 isolated at random moments of its operations and check, after each restart, that no
# edu outside its host driver can reach RAM. With iommu=pt the default domains are identity, so a
# device nobody holds (on vfio-pci, or on no driver) REACHES RAM: every window in which the daemon
# let go of a device without handing it back to its driver shows up as a leak. Each iteration starts
# one operation in the background (quarantine, quarantine in scratch-page, a mode switch, a release to
# the host, or an unbind from pci-stub for isolated to capture), sleeps 0-300 ms, kills isolated, waits
# for systemd to restart it, and checks:
#   - every edu not on pci-stub cannot write into RAM by DMA (isolate-vm-hazard);
#   - every device on vfio-pci is reported quarantined by isolatectl --json status.
. /usr/lib/isolate-vm/lib.bash
EDUS="0000:00:02.0 0000:00:03.0"
ITERATIONS=${CHAOS_ITERATIONS:-30}
BUDGET=${CHAOS_BUDGET:-230}   # seconds; guest-run kills a test at 300 s

write_policy <<'JSON'
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" } }
JSON
for e in $EDUS; do
    if [ "$(driver_of $e)" != pci-stub ]; then
        [ -n "$(driver_of $e)" ] && echo "$e" > "/sys/bus/pci/devices/$e/driver/unbind"
        require "$e bound to pci-stub (its host driver)" bind_stub $e
    fi
done
require "isolated started" start_daemon
for e in $EDUS; do
    g=$(basename "$(readlink /sys/bus/pci/devices/$e/iommu_group)")
    echo "  $e: driver $(driver_of $e), group $g $(cat /sys/kernel/iommu_groups/$g/type)"
done

# The oracle must be able to fail: on pci-stub, with the identity domain, the edu writes into RAM.
e1=${EDUS%% *}
check "the oracle sees the hazard: $e1 on pci-stub (identity) reaches RAM" bash -c "! isolate-vm-hazard $e1"

# Under emulation isolatectl takes a while to start and reach the bus: a kill "0-300 ms after the
# operation started" would mostly land before isolated even saw the call (D-Bus then queues it for the
# restarted daemon). Measure that client latency and count the random delay from when the call arrives.
lat=()
for _ in 1 2 3; do
    t0=$(date +%s%N); isolatectl status >/dev/null; lat+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
CLIENT_MS=$(printf '%s\n' "${lat[@]}" | sort -n | sed -n 2p)
echo "  isolatectl round trip (median of 3): $CLIENT_MS ms; kills land that long plus 0-300 ms after a client starts"
rand_ms() { echo $(( RANDOM % 301 )); }
other_mode() { [ "$1" = blocked ] && echo scratch-page || echo blocked; }

# start_op: one random operation on a random edu, in the background; sets $op and $bg.
start_op() {
    local e st
    e=$(printf '%s\n' $EDUS | shuf -n1)
    st=$(state_of "$e" 2>/dev/null || echo unknown)
    case "$(driver_of "$e"):$st" in
    vfio-pci:quarantined)
        if [ $(( RANDOM % 2 )) = 0 ]; then
            local m; m=$(other_mode "$(mode_of "$e")")
            op="mode switch of $e to $m"
            timeout 30 isolatectl quarantine --mode="$m" "$e" >/dev/null 2>&1 &
        else
            op="release $e --to host"
            timeout 30 isolatectl release --to=host "$e" >/dev/null 2>&1 &
        fi ;;
    pci-stub:*)
        case $(( RANDOM % 3 )) in
        0) op="quarantine $e"; timeout 30 isolatectl quarantine "$e" >/dev/null 2>&1 & ;;
        1) op="quarantine --mode=scratch-page $e"; timeout 30 isolatectl quarantine --mode=scratch-page "$e" >/dev/null 2>&1 & ;;
        2) op="unbind $e from pci-stub (capture)"; (echo "$e" > /sys/bus/pci/drivers/pci-stub/unbind) >/dev/null 2>&1 & ;;
        esac ;;
    *)
        op="quarantine $e (driver '$(driver_of "$e")', state $st)"
        timeout 30 isolatectl quarantine "$e" >/dev/null 2>&1 & ;;
    esac
    bg=$!
}

kills=0 leaks=0 errors=0 i=0
t_start=$(date +%s)
last_kill=0
# systemd's default start limit is 5 starts in 10 s: keep kills at least 2.6 s apart, so that the
# restarts this test causes never hit it (a real crash loop would, and the unit would then stay down).
MIN_GAP_MS=2600
while [ $i -lt "$ITERATIONS" ] && [ $(( $(date +%s) - t_start )) -lt "$BUDGET" ]; do
    i=$((i + 1))
    start_op
    ms=$(rand_ms)
    delay=$ms
    case "$op" in unbind*) ;; *) delay=$(( ms + CLIENT_MS * 2 / 3 )) ;; esac
    sleep "$(( delay / 1000 )).$(printf '%03d' $(( delay % 1000 )))"
    now=$(( $(date +%s%N) / 1000000 ))
    if [ $(( now - last_kill )) -lt $MIN_GAP_MS ]; then
        wait "$bg" 2>/dev/null || true   # too soon: let this one finish, kill during the next
        gap=$(( MIN_GAP_MS - (now - last_kill) ))
        sleep "$(( gap / 1000 )).$(printf '%03d' $(( gap % 1000 )))"
        i=$((i - 1))
        continue
    fi
    pid=$(daemon_pid)
    systemctl kill -s KILL isolated
    last_kill=$(( $(date +%s%N) / 1000000 ))
    kills=$((kills + 1))
    if ! wait_for 20 bash -c "p=\$(systemctl show -P MainPID isolated); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && busctl status org.isolate1"; then
        echo "  #$i: isolated did not come back after the kill (PID $pid)"
        systemctl status isolated --no-pager | sed 's/^/    /' || true
        errors=$((errors + 1))
        break
    fi
    wait "$bg" 2>/dev/null || true
    line="#$i: $op, killed after ${delay} ms (PID $pid -> $(daemon_pid)):"
    isolatectl --json=short status > /tmp/chaos-status.json 2>/dev/null || echo '[]' > /tmp/chaos-status.json
    for e in $EDUS; do
        drv=$(driver_of "$e")
        st=$(jq -r --arg s "$e" '.[] | select(.slot == $s) | "\(.state) \(.mode)"' /tmp/chaos-status.json)
        # On vfio-pci: isolated must report it quarantined (a few seconds for a restart's take-back).
        if [ "$drv" = vfio-pci ] && [ "${st%% *}" != quarantined ]; then
            if wait_for 5 is_state "$e" quarantined; then
                st="quarantined $(mode_of "$e") (after a wait)"
            else
                echo "  LEAK $line $e on vfio-pci but reported '$(state_of "$e" 2>/dev/null)'"
                leaks=$((leaks + 1))
            fi
        fi
        if [ "$drv" = pci-stub ]; then
            line="$line $e pci-stub;"
            continue
        fi
        if out=$(isolate-vm-hazard "$e" 2>&1); then
            line="$line $e ${drv:-no driver} ${st:-unknown}, no reach;"
        else
            rc=$?
            if [ $rc = 1 ]; then
                echo "  LEAK $line $e (${drv:-no driver}, ${st:-unknown}) reached RAM: $out"
                leaks=$((leaks + 1))
                # back to its host driver, so that one leak is not counted again and again
                [ -z "$drv" ] && bind_stub "$e" >/dev/null 2>&1
            else
                echo "  ERROR $line $e: the oracle could not run: $out"
                errors=$((errors + 1))
            fi
        fi
    done
    echo "  $line"
done
took=$(( $(date +%s) - t_start ))
echo "chaos: $kills kills, $leaks leaks ($i iterations in $took s, $errors oracle errors)"
check "at least 20 iterations ran ($i)" [ "$i" -ge 20 ]
check "no leak" [ "$leaks" = 0 ]
check "no oracle error" [ "$errors" = 0 ]
journalctl -b -u isolated --no-pager -o cat | grep -iE 'taking it back|lost|fail' | tail -n 8 | sed 's/^/  journal: /' || true
finish
