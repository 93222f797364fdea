#!/bin/bash
# Guest side of bench/vm-engine: the engine's take/switch times against the bare ioctls, and the
# scratch-page cover cost. Runs as root inside the VM tier's guest.
set -eu
EDU=0000:00:02.0
echo vfio-pci > /sys/bus/pci/devices/$EDU/driver_override
echo $EDU > /sys/bus/pci/drivers_probe
echo "guest: $(uname -r), $(nproc) vCPU under TCG, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, hugepages free: $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)"
isolate-vm-bench-engine take $EDU "${ISOLATE_BENCH_ROUNDS:-100}"
isolate-vm-bench-engine cover $EDU
