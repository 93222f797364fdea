#!/bin/bash
# Guest side of bench/vm-daemon (topology "many"): 64 devices on vfio-pci that the policy does not
# allow, taken into quarantine when isolated starts.
set -eu
mkdir -p /etc/isolate
echo '{ "version": 1 }' > /etc/isolate/policy.json
n=0
for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] || continue
    echo vfio-pci > $d/driver_override
    echo "$(basename $d)" > /sys/bus/pci/drivers_probe
    n=$((n + 1))
done
echo "$n edu functions on vfio-pci, in $(ls /sys/kernel/iommu_groups | wc -l) IOMMU groups"
t0=$(date +%s%N)
systemctl start isolated     # Type=notify: returns once isolated is ready, coldplug done
t1=$(date +%s%N)
echo "systemctl start isolated (exec, coldplug, READY=1): $(( (t1 - t0) / 1000000 )) ms"
journalctl -u isolated -b -o cat --no-pager | grep -E "Coldplug" | sed 's/^/isolated: /'
echo "quarantined now: $(isolatectl --json=short status | jq '[.[] | select(.state == "quarantined")] | length')"
pid=$(systemctl show -P MainPID isolated)
echo "RSS holding them: $(awk '/^VmRSS/ {print $2 " " $3}' /proc/$pid/status)"
