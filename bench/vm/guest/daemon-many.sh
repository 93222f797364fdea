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
# The floor: the same devices taken by a bare loop (override, open, BIND), twice; it closes them again.
isolate-vm-bench-daemon floor-many blocked "${slots[@]}"
isolate-vm-bench-daemon floor-many blocked "${slots[@]}"
t0=$(date +%s%N)
systemctl start isolated     # Type=notify: returns once isolated is ready, coldplug done
t1=$(date +%s%N)
echo "  ISOLATED-START start_ms=$(( (t1 - t0) / 1000000 )) (systemctl start isolated: exec, coldplug, bus name, READY=1)"
journalctl -u isolated -b -o cat --no-pager | grep -E "coldplug" | sed 's/^/  isolated: /'
echo "  quarantined now: $(isolatectl --json=short status | jq '[.[] | select(.state == "quarantined")] | length')"
pid=$(systemctl show -P MainPID isolated)
echo "  RSS holding them: $(awk '/^VmRSS/ {print $2 " " $3}' /proc/$pid/status)"
