#!/bin/bash
# topologies: bridge
# vfio-pci's device request (someone unbinds vfio-pci from a held device) releases only the device
# asked for: its IOMMU group mate stays held, and the group stays on the blocking domain.
. /usr/lib/isolate-vm/lib.bash
EDU=0000:02:01.0   # behind the PCIe-to-PCI bridge
RNG=0000:02:02.0   # in the same IOMMU group, on virtio-pci
group=$(basename "$(readlink /sys/bus/pci/devices/$EDU/iommu_group)")

write_policy <<'JSON'
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" } }
JSON
require "$EDU and $RNG share IOMMU group $group" [ "$(basename "$(readlink /sys/bus/pci/devices/$RNG/iommu_group)")" = "$group" ]
require "isolated started" start_daemon
require "quarantine the whole group" isolatectl quarantine $EDU $RNG
check "$EDU quarantined" is_state $EDU quarantined
check "$RNG quarantined" is_state $RNG quarantined

echo "== an admin unbinds vfio-pci from $EDU: the kernel asks isolated to let go (device request)"
since=$(date '+%Y-%m-%d %H:%M:%S')
sleep 1
t0=$(date +%s%N)
timeout 30 bash -c "echo $EDU > /sys/bus/pci/drivers/vfio-pci/unbind"
rc=$?
echo "  the unbind took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "the unbind completed (exit 0, not hung)" [ "$rc" = 0 ]
check "$EDU has no driver now" [ -z "$(driver_of $EDU)" ]
check "$RNG is still quarantined (not released with it)" is_state $RNG quarantined
check "$RNG still on vfio-pci" [ "$(driver_of $RNG)" = vfio-pci ]
check "the journal has one release-on-request record (for $EDU only)" bash -c \
    "journalctl -u isolated --since '$since' -o cat | grep -c 'relayed a request to unbind' | grep -qx 1"
finish
