#!/bin/bash
# topologies: passthrough
# iommu=pt (identity default domains): an unowned device reaches all of RAM. isolated turns the group
# to DMA on entry, so that neither a kill -9 (the fds stay in systemd's store) nor a clean stop (the
# store is emptied on systemd 252) gives the device memory again.
. /usr/lib/isolate-vm/lib.bash
EDU=0000:00:02.0
group=$(basename "$(readlink /sys/bus/pci/devices/$EDU/iommu_group)")

write_policy <<'JSON'
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" } }
JSON
require "group $group starts identity" [ "$(cat /sys/kernel/iommu_groups/$group/type)" = identity ]
check "unowned, the edu reaches RAM (the hazard)" bash -c "! isolate-vm-hazard $EDU"
require "edu bound to pci-stub" bind_stub $EDU
require "isolated started" start_daemon
echo $EDU > /sys/bus/pci/drivers/pci-stub/unbind
require "quarantined after the unbind" wait_for 10 is_state $EDU quarantined
check "group $group switched to DMA" [ "$(cat /sys/kernel/iommu_groups/$group/type)" = DMA ]
check "quarantined: the DMA cannot reach RAM" isolate-vm-hazard $EDU

systemctl kill -s KILL isolated
check "right after kill -9: still cannot reach RAM" isolate-vm-hazard $EDU
require "restarted" wait_for 20 busctl status org.isolate1
check "after the restart: quarantined" wait_for 10 is_state $EDU quarantined

systemctl stop isolated
check "after systemctl stop (store emptied): the translated default domain still keeps RAM out" isolate-vm-hazard $EDU
require "started again" start_daemon
check "taken back" wait_for 10 is_state $EDU quarantined

check "release to the host puts the group back to identity" bash -c "isolatectl release $EDU --to host && [ \$(cat /sys/kernel/iommu_groups/$group/type) = identity ] && [ \$(basename \$(readlink /sys/bus/pci/devices/$EDU/driver)) = pci-stub ]"
finish
