#!/bin/bash
# Guest side of bench/vm-daemon, 2: isolated (scratch-page mode) against the honest floor, interleaved.
set -eu
. /opt/extra/daemon-lib.sh
policy scratch-page
systemctl reload isolated
c=$(cursor)
isolate-vm-bench-daemon compare $EDU $FLOOR pci-stub "$N" scratch
isolated_view "$c"
