#!/bin/bash
# Guest side of bench/vm-daemon (topology "many"): 64 edu functions on vfio-pci that the policy does not
# allow, taken into quarantine when isolated starts, against the floor taking the same 64 in one loop.
set -eu
mkdir -p /etc/isolate
echo '{ "version": 1 }' > /etc/isolate/policy.json
slots=()
for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] || continue
    echo vfio-pci > $d/driver_override
    echo "$(basename $d)" > /sys/bus/pci/drivers_probe
    slots+=("$(basename $d)")
done
echo "${#slots[@]} edu functions on vfio-pci, in $(ls /sys/kernel/iommu_groups | wc -l) IOMMU groups"
# isolated's start, from systemd's "Starting" to READY=1, step by step (journal, monotonic)
timeline() {
    journalctl -b -o short-monotonic --no-pager --after-cursor="$1" _PID=1 + _SYSTEMD_UNIT=isolated.service |
        grep -E "isolated|Isolat|coldplug|Quarantine of|quarantined|isolation manager" |
        sed 's/^\[ *\([0-9.]*\)\] [^ ]* /\1 /' |
        awk '/Starting isolated/ { t0 = $1 + 0 } !t0 { next } { t = $1 + 0; $1 = ""; sub(/^ +/, ""); if (length($0) > 110) $0 = substr($0, 1, 110) "…";
               printf "    %+9.1f ms  %s\n", (t - t0) * 1000, $0 }' | sed -n '1,12p;$p'
}
start() {
    local c t0 t1
    c=$(journalctl -q -n 1 --show-cursor -o cat | sed -n 's/^-- cursor: //p')
    t0=$(date +%s%N)
    systemctl start isolated     # Type=notify: returns once isolated is ready, coldplug done
    t1=$(date +%s%N)
    echo "  ISOLATED-START$1 start_ms=$(( (t1 - t0) / 1000000 )) (systemctl start isolated: exec, topology, coldplug, bus name, READY=1)"
    journalctl -u isolated -b -o cat --no-pager --after-cursor="$c" | grep -E "^coldplug" | sed 's/^/  isolated: /'
    echo "  quarantined now: $(isolatectl --json=short status | jq '[.[] | select(.state == "quarantined")] | length')"
    timeline "$c"
}
# The floor: the same devices taken by a bare loop (override, open, BIND), twice; it closes them again.
isolate-vm-bench-daemon floor-many blocked "${slots[@]}"
isolate-vm-bench-daemon floor-many blocked "${slots[@]}"
start ""
pid=$(systemctl show -P MainPID isolated)
echo "  RSS holding them: $(awk '/^VmRSS/ {print $2 " " $3}' /proc/$pid/status)"

# Once more with isolated's debug log, for the split of each group's engine time: stopped (the guest's
# systemd 252 empties the fd store on stop) and its state removed, isolated's coldplug takes them again.
systemctl stop isolated
rm -f /run/isolate/state.json
isolate-vm-bench-daemon floor-many blocked "${slots[@]}"
mkdir -p /run/systemd/system/isolated.service.d
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/isolated --log-level=debug\n' > /run/systemd/system/isolated.service.d/debug.conf
systemctl daemon-reload
c=$(journalctl -q -n 1 --show-cursor -o cat | sed -n 's/^-- cursor: //p')
start " (debug log)"
journalctl -u isolated -b -o cat --no-pager --after-cursor="$c" > /tmp/j.txt
echo "  per group (8 functions) in the engine, debug log, ms (p50 over the groups):"
for step in plan "host unbind" "group type" "vfio-pci bind" "open+bind+attach" total; do
    grep '^Quarantine of .*: plan' /tmp/j.txt | sed -n "s/.*[:,] $step \([0-9]*\) µs.*/\1/p" | sort -n |
        awk -v s="$step" '{ v[NR] = $1; sum += $1 } END { if (NR) printf "    %-20s p50 %8.1f ms   sum %8.1f ms (n=%d)\n", s, v[int((NR + 1) / 2)] / 1000, sum / 1000, NR }'
done
echo "  journal lines isolated wrote during the start: $(grep -c . /tmp/j.txt)"
cp /tmp/j.txt "${ISOLATE_VM_OUT:-/tmp}/isolated-many-debug.journal" 2>/dev/null || true
