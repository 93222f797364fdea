#!/bin/bash
# topologies: default
# isolated under systemd, with dbus and udev, on the real kernel: capture on unbind, policy enforcement
# on release, crash-proof quarantine (kill -9, stop/start), reload rollback, authorization, the
# device-request channel, and devices bound to vfio-pci by someone else.
. /usr/lib/isolate-vm/lib.bash

EDU_A=0000:00:02.0   # bound to pci-stub, then unbound: captured
EDU_B=0000:00:03.0   # allowed to pass through
RNG=0000:00:05.0     # virtio-rng on virtio-pci

write_policy <<'JSON'
{
  "version": 1,
  "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" },
  "rules": [
    { "id": "edu-b", "match": { "slot": "0000:00:03.0", "vendor": "1234", "device": "11e8" },
      "passthrough": "allow", "comment": "the second edu may go to guests" }
  ]
}
JSON
require "edu $EDU_A bound to pci-stub (its host driver for the test)" bind_stub $EDU_A
require "isolated started" start_daemon
isolatectl --no-legend status || true

echo "== unbinding a managed device from its driver gets it quarantined"
t0=$(date +%s%N)
echo $EDU_A > /sys/bus/pci/drivers/pci-stub/unbind
require "$EDU_A quarantined after the unbind" wait_for 10 is_state $EDU_A quarantined
t1=$(date +%s%N)
echo "  unbind → quarantined (seen by the CLI): $(( (t1 - t0) / 1000 )) µs"
check "mode blocked (policy default)" [ "$(mode_of $EDU_A)" = blocked ]
check "host driver remembered: pci-stub" [ "$(json_status $EDU_A | jq -r '.[0].host_driver')" = pci-stub ]
check "on vfio-pci" [ "$(driver_of $EDU_A)" = vfio-pci ]
mark=$(dmesg_mark)
edu $EDU_A read 0x1000 64
check "an edu DMA after that faults (kernel log)" wait_for 5 bash -c "[ \$(dmesg | tail -n +$((mark + 1)) | grep -c 'Request device \[00:02.0\]') -ge 1 ]"
check "and isolated counted it (status dma_faults.read ≥ 1)" wait_for 5 bash -c "[ \$(isolatectl --json=short status $EDU_A | jq '.[0].dma_faults.read') -ge 1 ]"

echo "== release to a guest: refused for a device the policy does not allow, accepted for one it does"
if isolatectl release $EDU_A --to guest 2>/tmp/err; then rc=0; else rc=$?; fi
check "refused with exit 1" [ "$rc" = 1 ]
check "the refusal says why" grep -q "may not be passed through" /tmp/err
check "$EDU_A still quarantined" is_state $EDU_A quarantined
check "isolatectl list asks isolated: $EDU_A quarantined (on vfio-pci, which alone would read 'released')" bash -c "isolatectl --json=short list | jq -e '.[] | select(.slot == \"$EDU_A\") | .state == \"quarantined\"'"
check "  and says where its states come from" bash -c "isolatectl list | tail -n 1 | grep -q 'states from isolated'"
require "quarantine $EDU_B" isolatectl quarantine $EDU_B
check "release $EDU_B --to guest accepted" isolatectl release $EDU_B --to guest
check "$EDU_B released, still on vfio-pci for a VMM" bash -c "[ \$(isolatectl --json=short status $EDU_B | jq -r '.[0].state') = released ] && [ \$(basename \$(readlink /sys/bus/pci/devices/$EDU_B/driver)) = vfio-pci ]"
check "quarantine takes it back (the libvirt hook's 'release end')" isolatectl quarantine --mode=scratch-page $EDU_B
check "$EDU_B in scratch-page mode" [ "$(mode_of $EDU_B)" = scratch-page ]

echo "== kill -9 while devices are held: quarantine holds across the restart"
# The oracle is the kernel's own DMAR lines (not isolated's parser). A held scratch-page device reads
# zeros without a fault; a lost one falls back to the translated default domain, where the same read
# faults. So that "no fault line" means something: systemd restarts isolated only after 5 s (a runtime
# drop-in), the DMAs run while no isolated is running, the kernel's DMAR rate limit (10 per 5 s) has
# refilled before, and a fault from the other edu, after the read, must be logged.
mkdir -p /run/systemd/system/isolated.service.d
printf '[Service]\nRestartSec=5s\n' > /run/systemd/system/isolated.service.d/50-test-slow-restart.conf
systemctl daemon-reload
trap 'rm -f /run/systemd/system/isolated.service.d/50-test-slow-restart.conf; systemctl daemon-reload' EXIT # a failed require
pid=$(daemon_pid)
sleep 6
mark=$(dmesg_mark)
systemctl kill -s KILL isolated
require "isolated is dead, not yet restarted" wait_for 5 bash -c "[ \$(systemctl show -P MainPID isolated) = 0 ]"
check "$EDU_B (scratch-page): a DMA read inside the cover, while no isolated runs" edu $EDU_B read 0x10000 2048
check "$EDU_A (blocked): a DMA write, while no isolated runs" edu $EDU_A write 0x2000 64
check "both DMAs ran before the restart" [ "$(systemctl show -P MainPID isolated)" = 0 ]
check "the write from $EDU_A faulted (raw DMAR line: the log was not rate-limited)" \
    wait_for 5 bash -c "dmesg | tail -n +$((mark + 1)) | grep -q 'DMAR: \[DMA Write.*Request device \[00:02.0\] fault addr 0x2000'"
check "no DMAR line from $EDU_B's read: still on the scratch page, held by the stored fds" \
    [ "$(dmesg | tail -n +$((mark + 1)) | grep -c 'Request device \[00:03.0\]' || true)" = 0 ]
check "fewer than 10 DMAR lines since the kill (under the kernel's burst)" \
    [ "$(dmesg | tail -n +$((mark + 1)) | grep -c 'DMAR: \[DMA' || true)" -lt 10 ]
require "isolated restarted by systemd" wait_for 20 bash -c "[ \$(systemctl show -P MainPID isolated) != 0 ] && [ \$(systemctl show -P MainPID isolated) != $pid ] && busctl status org.isolate1"
rm /run/systemd/system/isolated.service.d/50-test-slow-restart.conf
systemctl daemon-reload
trap - EXIT
check "the restarted isolated took $EDU_B back from the store, scratch-page (not re-captured)" \
    bash -c "journalctl -b --no-pager -o cat _PID=\$(systemctl show -P MainPID isolated) | grep -q 'Took back $EDU_B (quarantined, scratch-page) from the previous instance'"
check "after the restart $EDU_A is quarantined, blocked" is_state_mode $EDU_A quarantined blocked
check "after the restart $EDU_B is quarantined, scratch-page" is_state_mode $EDU_B quarantined scratch-page
journalctl -u isolated -b --no-pager | grep -E "Took back|Got .* file descriptor" | sed 's/^/  journal: /' || true

echo "== systemctl stop, then start: never reachable, taken back at start"
systemctl stop isolated
mark=$(dmesg_mark)
edu $EDU_A write 0x3000 64
check "stopped (the store is emptied on systemd 252): a DMA still faults on the translated default domain" wait_for 5 bash -c "[ \$(dmesg | tail -n +$((mark + 1)) | grep -c 'Request device \[00:02.0\]') -ge 1 ]"
require "started again" start_daemon
check "$EDU_A taken back into quarantine" wait_for 10 is_state $EDU_A quarantined
journalctl -u isolated -b --no-pager | grep -E "taking it back" | tail -n 2 | sed 's/^/  journal: /' || true

echo "== reload: an invalid policy is refused, the old one stays in force"
cp /etc/isolate/policy.json /tmp/good.json
cat > /etc/isolate/policy.json <<'JSON'
{ "version": 1, "rules": [ { "id": "x", "match": { "vendr": "1234" }, "passthrough": "allow" } ] }
JSON
if isolatectl reload 2>/tmp/err; then rc=0; else rc=$?; fi
check "reload refused (exit 1)" [ "$rc" = 1 ]
check "with FILE:LINE:COLUMN" grep -q "/etc/isolate/policy.json:1:[0-9]*: unknown key 'vendr'" /tmp/err
check "old policy still enforced: $EDU_A still may not pass through" bash -c "! isolatectl release $EDU_A --to guest 2>/dev/null"
check "old policy still enforced: $EDU_B still may" isolatectl release $EDU_B --to guest
cp /tmp/good.json /etc/isolate/policy.json
check "reload of the good policy" isolatectl reload

echo "== authorization: reads are open, changes need root or polkit"
check "status as nobody works" setpriv --reuid=65534 --regid=65534 --clear-groups isolatectl --no-ask-password status
if setpriv --reuid=65534 --regid=65534 --clear-groups isolatectl --no-ask-password quarantine $RNG 2>/tmp/err; then rc=0; else rc=$?; fi
check "quarantine as nobody refused (exit 1)" [ "$rc" = 1 ]
check "  saying so" grep -qi "not authorized\|authentication is required" /tmp/err
check "  and nothing happened" [ "$(driver_of $RNG)" = virtio-pci ]

echo "== a device bound to vfio-pci by someone else, not allowed to pass through, is taken at once"
write_policy <<'JSON'
{ "version": 1, "defaults": { "quarantine_on_unbind": "none" } }
JSON
isolatectl reload
echo vfio-pci > /sys/bus/pci/devices/$RNG/driver_override
echo $RNG > /sys/bus/pci/drivers/virtio-pci/unbind
sleep 1
check "unbound: quarantine_on_unbind none leaves it (unmanaged)" is_state $RNG unmanaged
echo $RNG > /sys/bus/pci/drivers_probe
check "bound to vfio-pci by someone else → quarantined" wait_for 10 is_state $RNG quarantined

echo "== vfio's device request: an admin unbinding vfio-pci from a held device does not hang"
t0=$(date +%s)
check "unbind of vfio-pci returns within 30 s" timeout 30 bash -c "echo $EDU_A > /sys/bus/pci/drivers/vfio-pci/unbind"
echo "  took $(( $(date +%s) - t0 )) s"
check "$EDU_A released to the host (no driver)" wait_for 10 bash -c "[ \$(isolatectl --json=short status $EDU_A | jq -r '.[0].state') != quarantined ]"
check "and not captured again after the requested unbind" bash -c "sleep 1; [ \$(isolatectl --json=short status $EDU_A | jq -r '.[0].state') != quarantined ]"
journalctl -u isolated -b --no-pager | grep -i "request" | tail -n 2 | sed 's/^/  journal: /' || true

echo "== the audit trail: structured journal fields"
check "ISOLATE_ACTION=release-guest ISOLATE_RESULT=refused recorded with the device" \
    bash -c "journalctl -b ISOLATE_ACTION=release-guest ISOLATE_RESULT=refused ISOLATE_DEVICE=$EDU_A -o cat --no-pager | grep -q 'may not be passed through'"
journalctl -b -o verbose ISOLATE_ACTION=quarantine --no-pager | grep -E "ISOLATE_|MESSAGE=" | head -n 8 | sed 's/^/  /' || true

finish
