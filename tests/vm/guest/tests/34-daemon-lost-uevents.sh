#!/bin/bash
# topologies: default
# Lost uevents: when more uevents arrive than isolated's socket buffer holds, the kernel drops the
# newest and the next read fails with ENOBUFS. An unbind among the dropped ones is a device between
# owners that nobody captures, unless isolated treats ENOBUFS as "events were lost" and rescans sysfs.
# The test stops isolated (SIGSTOP), floods the socket with "change" uevents of a PCI device, unbinds a
# managed edu from its driver (that event is dropped: the buffer is full), and lets isolated go on.
. /usr/lib/isolate-vm/lib.bash
EDU=0000:00:02.0
FLOOD_DEV=/sys/bus/pci/devices/0000:00:03.0/uevent

write_policy <<'JSON'
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" } }
JSON
# Earlier tests may hold the edu (30-daemon takes it from pci-stub): a release to the host gives it back
# to pci-stub, its host driver here. (Unbinding it again would be captured.)
require "isolated started" start_daemon
[ "$(driver_of $EDU)" = vfio-pci ] && { isolatectl release --to=host $EDU || true; }
if [ "$(driver_of $EDU)" != pci-stub ]; then
    [ -n "$(driver_of $EDU)" ] && echo $EDU > "/sys/bus/pci/devices/$EDU/driver/unbind"
    require "edu $EDU bound to pci-stub" bind_stub $EDU
fi
require "edu $EDU on pci-stub" [ "$(driver_of $EDU)" = pci-stub ]
require "$EDU with its host driver, not held" is_state $EDU host

pid=$(daemon_pid)
echo "== isolated stopped; 3000 change uevents, then the unbind"
kill -STOP "$pid"
t0=$(date +%s%N)
for _ in $(seq 3000); do echo change > $FLOOD_DEV; done
echo "  3000 uevents in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
echo $EDU > /sys/bus/pci/drivers/pci-stub/unbind
check "$EDU has no driver now" [ -z "$(driver_of $EDU)" ]
kill -CONT "$pid"

check "$EDU quarantined: the overflow (ENOBUFS) made isolated rescan" wait_for 20 is_state $EDU quarantined
check "  on vfio-pci" [ "$(driver_of $EDU)" = vfio-pci ]
check "the journal says uevents were lost and it rescanned" bash -c \
    "journalctl -u isolated -o cat | grep -q 'uevents were lost'"
journalctl -u isolated -o cat | grep -E 'lost|rescan|between owners' | tail -n 3 | sed 's/^/  journal: /' || true
check "the same isolated (no restart)" [ "$(daemon_pid)" = "$pid" ]
finish
