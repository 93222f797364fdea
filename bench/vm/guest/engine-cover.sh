#!/bin/bash
# Guest side of bench/vm-engine, part 2: the scratch-page cover's cost with the 2 MiB page.
set -eu
EDU=0000:00:02.0
echo vfio-pci > /sys/bus/pci/devices/$EDU/driver_override
echo $EDU > /sys/bus/pci/drivers_probe
isolate-vm-bench-engine cover $EDU 2M
