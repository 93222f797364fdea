#!/bin/bash
# topologies: passthrough
# kernels: project debian
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
check "unowned, the edu reaches RAM (the hazard: isolate-vm-hazard exits 1)" exit_is 1 isolate-vm-hazard $EDU
require "edu bound to pci-stub" bind_stub $EDU
require "isolated started" start_daemon
echo $EDU > /sys/bus/pci/drivers/pci-stub/unbind
require "quarantined after the unbind" wait_for 10 is_state $EDU quarantined
check "group $group switched to DMA" [ "$(cat /sys/kernel/iommu_groups/$group/type)" = DMA ]
check "quarantined: the DMA cannot reach RAM (exit 0)" exit_is 0 isolate-vm-hazard $EDU

pid=$(daemon_pid)
systemctl kill -s KILL isolated
check "right after kill -9: still cannot reach RAM (exit 0)" exit_is 0 isolate-vm-hazard $EDU
require "restarted: org.isolate1 is owned by a new process (PID $pid before the kill)" wait_for 20 bus_pid_is_not "$pid"
echo "  PID $pid → $(bus_pid)"
check "after the restart: quarantined" wait_for 10 is_state $EDU quarantined

pid=$(daemon_pid)
systemctl stop isolated
check "after systemctl stop (store emptied): the translated default domain still keeps RAM out (exit 0)" exit_is 0 isolate-vm-hazard $EDU
require "started again" start_daemon
check "org.isolate1 is owned by a new process after stop/start ($pid → $(bus_pid))" bus_pid_is_not "$pid"
check "taken back" wait_for 10 is_state $EDU quarantined

check "release to the host puts the group back to identity" bash -c "isolatectl release $EDU --to host && [ \$(cat /sys/kernel/iommu_groups/$group/type) = identity ] && [ \$(basename \$(readlink /sys/bus/pci/devices/$EDU/driver)) = pci-stub ]"
check "released to the host, identity again: the edu reaches RAM again (the helper still sees the hazard, exit 1)" exit_is 1 isolate-vm-hazard $EDU
finish
