#!/bin/bash
# Guest side of bench/vm-engine, part 1: the engine's take/switch/release times against the bare ioctls.
set -eu
EDU=0000:00:02.0
echo vfio-pci > /sys/bus/pci/devices/$EDU/driver_override
echo $EDU > /sys/bus/pci/drivers_probe
echo "guest: $(uname -r), $(nproc) vCPU under TCG, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, hugepages free: $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)"
isolate-vm-bench-engine take $EDU "${ISOLATE_BENCH_ROUNDS:-100}"
