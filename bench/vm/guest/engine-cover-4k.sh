#!/bin/bash
# Guest side of bench/vm-engine, part 3: the scratch-page cover's cost with the 4 KiB fallback page.
set -eu
EDU=0000:00:02.0
echo vfio-pci > /sys/bus/pci/devices/$EDU/driver_override
echo $EDU > /sys/bus/pci/drivers_probe
isolate-vm-bench-engine cover $EDU 4K
