#!/bin/bash
# Guest side of bench/vm-daemon, 1: isolated (blocked mode) against the honest floor, interleaved.
set -eu
. /opt/extra/daemon-lib.sh
echo "guest: $(uname -r), $(nproc) vCPU under TCG (software emulation inflates absolute times: compare ratios)"
policy blocked
for s in $EDU $FLOOR; do
    echo pci-stub > /sys/bus/pci/devices/$s/driver_override
    echo $s > /sys/bus/pci/drivers_probe
done
systemctl start isolated
c=$(cursor)
isolate-vm-bench-daemon compare $EDU $FLOOR pci-stub "$N" blocked
isolated_view "$c"
