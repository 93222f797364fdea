#!/bin/bash
# topologies: lockdown
# Kernel lockdown (lockdown=integrity, what Secure Boot turns on): config space writes through sysfs
# fail with EPERM, so an engine that clears bus mastering by writing /sys/bus/pci/devices/X/config
# silently leaves it on. isolated must clear it through the VFIO device (allowed under lockdown), and
# where it cannot, status must say the quarantine is degraded.
. /usr/lib/isolate-vm/lib.bash
EDU=0000:00:02.0
RNG=0000:00:05.0
bus_master() { echo $(( 0x$(setpci -s "$1" COMMAND) & 0x4 )); }

echo "== lockdown is on"
echo "  /sys/kernel/security/lockdown: $(cat /sys/kernel/security/lockdown)"
require "lockdown [integrity]" grep -q '\[integrity\]' /sys/kernel/security/lockdown

echo "== the hazard is live: sysfs config writes fail with EPERM, reads work"
cmd=$(setpci -s $EDU COMMAND)
check "setpci reads COMMAND of $EDU through sysfs (0x$cmd)" [ -n "$cmd" ]
if printf '\x06\x00' | dd of=/sys/bus/pci/devices/$EDU/config bs=2 seek=2 count=1 conv=notrunc 2>/tmp/err; then rc=0; else rc=$?; fi
sed 's/^/  dd: /' /tmp/err
check "a dd to config at offset 4 fails" [ "$rc" != 0 ]
check "  with EPERM (Operation not permitted)" grep -q 'Operation not permitted' /tmp/err
if setpci -A linux-sysfs -s $EDU COMMAND=0x$cmd 2>/tmp/err; then rc=0; else rc=$?; fi
sed 's/^/  setpci: /' /tmp/err
check "setpci -A linux-sysfs COMMAND=... fails too" bash -c "[ $rc != 0 ] || grep -qi 'not permitted' /tmp/err"
check "COMMAND unchanged (0x$cmd)" [ "$(setpci -s $EDU COMMAND)" = "$cmd" ]
if isolate-vm-edu $EDU id 2>/tmp/err; then rc=0; else rc=$?; fi
check "the edu cannot be driven from user space either (resource0/config refused): $(cat /tmp/err)" [ "$rc" != 0 ]

write_policy <<'JSON'
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" } }
JSON
require "isolated started" start_daemon

echo "== the virtio-rng: bus master under virtio-pci, quarantined by isolatectl"
echo "  $RNG under $(driver_of $RNG): COMMAND 0x$(setpci -s $RNG COMMAND)"
check "$RNG masters the bus under virtio-pci (so the check below means something)" [ "$(bus_master $RNG)" = 4 ]
check "quarantine $RNG" isolatectl quarantine $RNG
check "quarantined, blocked" is_state_mode $RNG quarantined blocked
echo "  $RNG quarantined: COMMAND 0x$(setpci -s $RNG COMMAND)"
check "bus master off" [ "$(bus_master $RNG)" = 0 ]

echo "== an edu: captured on unbind from pci-stub"
# earlier tests (40-libvirt-hook) leave the edus held: hand it back first
[ "$(driver_of $EDU)" = vfio-pci ] && { isolatectl release --to=host $EDU || true; }
[ -n "$(driver_of $EDU)" ] && echo $EDU > /sys/bus/pci/devices/$EDU/driver/unbind
require "edu $EDU bound to pci-stub" bind_stub $EDU
echo "  $EDU under pci-stub: COMMAND 0x$(setpci -s $EDU COMMAND)"
echo $EDU > /sys/bus/pci/drivers/pci-stub/unbind
require "$EDU quarantined after the unbind" wait_for 10 is_state $EDU quarantined
echo "  $EDU quarantined: COMMAND 0x$(setpci -s $EDU COMMAND)"
check "bus master off" [ "$(bus_master $EDU)" = 0 ]
check "scratch-page mode under lockdown" isolatectl quarantine --mode=scratch-page $EDU
check "  quarantined, scratch-page" is_state_mode $EDU quarantined scratch-page
check "  bus master still off" [ "$(bus_master $EDU)" = 0 ]

echo "== status: quarantined, not degraded, no bus-master warning"
isolatectl status | sed 's/^/  /'
isolatectl --json=short status > /tmp/status.json
for d in $RNG $EDU; do
    check "$d: quarantined" jq -e --arg s $d '.[] | select(.slot == $s) | .state == "quarantined"' /tmp/status.json
    check "$d: not degraded (no bus-master in .degraded)" jq -e --arg s $d '.[] | select(.slot == $s) | .degraded == []' /tmp/status.json
    check "$d: no last_error" jq -e --arg s $d '.[] | select(.slot == $s) | .last_error == null' /tmp/status.json
done
check "no bus-master warning in status" bash -c "! isolatectl status 2>&1 | grep -qi 'bus.master\|mastering'"
check "no bus-master warning in isolated's journal" bash -c "! journalctl -b -u isolated --no-pager -o cat | grep -i 'bus.master\|mastering'"

echo "== release to the host under lockdown"
check "release $RNG --to host" isolatectl release --to=host $RNG
check "$RNG back on virtio-pci" wait_for 10 bash -c "[ \$(basename \$(readlink /sys/bus/pci/devices/$RNG/driver)) = virtio-pci ]"
finish
