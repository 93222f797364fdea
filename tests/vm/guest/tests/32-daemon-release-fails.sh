#!/bin/bash
# topologies: default
# A release to the host that fails before it unbinds anything (a VMM still has the device) must not
# leave isolated expecting an unbind: the next real unbind of that device is a device between owners
# and is captured. (isolated once counted expected unbinds globally, and dropped this one.)
. /usr/lib/isolate-vm/lib.bash
EDU=0000:00:03.0

write_policy <<'JSON'
{
  "version": 1,
  "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" },
  "rules": [ { "id": "edu-b", "match": { "slot": "0000:00:03.0" }, "passthrough": "allow" } ]
}
JSON
require "isolated started" start_daemon
require "quarantine $EDU" isolatectl quarantine $EDU
require "release $EDU to a guest" isolatectl release $EDU --to guest
isolate-vm-hold $EDU > /tmp/hold.out 2>&1 &
vmm=$!
require "a VMM holds $EDU" wait_for 10 grep -qx held /tmp/hold.out

echo "== release --to host while the VMM has the device: refused, nothing unbound"
if isolatectl release $EDU --to host 2>/tmp/err; then rc=0; else rc=$?; fi
check "release --to host fails (exit 1)" [ "$rc" = 1 ]
echo "  $(head -c 300 /tmp/err)"
check "still on vfio-pci" [ "$(driver_of $EDU)" = vfio-pci ]
check "the VMM still runs" kill -0 $vmm
check "status still says released" is_state $EDU released

echo "== the VMM goes, then someone unbinds vfio-pci: a device between owners, captured"
kill $vmm
wait $vmm || true
echo $EDU > /sys/bus/pci/drivers/vfio-pci/unbind
check "$EDU quarantined again after the unbind" wait_for 10 is_state $EDU quarantined
check "  on vfio-pci" [ "$(driver_of $EDU)" = vfio-pci ]
finish
