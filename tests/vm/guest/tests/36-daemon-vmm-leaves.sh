#!/bin/bash
# topologies: default
# kernels: project debian
# A device released to a guest leaves vfio-pci behind isolated's back (an admin's unbind, a management
# tool's reattach after the VMM closed it): it is between owners again. isolated forgets the release and
# takes it back into quarantine at once; it must not stay driverless and unwatched, nor be counted
# "released" any more.
. /usr/lib/isolate-vm/lib.bash
EDU=0000:00:03.0

write_policy <<'JSON'
{ "version": 1,
  "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" },
  "rules": [ { "id": "edu-b", "match": { "slot": "0000:00:03.0" }, "passthrough": "allow" } ] }
JSON
require "isolated started" start_daemon
isolatectl quarantine $EDU >/dev/null 2>&1 || true
require "$EDU quarantined" wait_for 10 is_state $EDU quarantined
require "released to a guest" isolatectl release --to=guest $EDU
require "  state released" is_state $EDU released
require "  still on vfio-pci (for the VMM)" [ "$(driver_of $EDU)" = vfio-pci ]
pid=$(daemon_pid)

echo "== vfio-pci unbound from the released device (nobody has it open)"
echo $EDU > /sys/bus/pci/drivers/vfio-pci/unbind
check "$EDU is quarantined again" wait_for 15 is_state $EDU quarantined
check "  on vfio-pci, held by isolated" [ "$(driver_of $EDU)" = vfio-pci ]
check "  isolated holds a VFIO file of it (its cdev, or its group's node on the legacy backend)" \
    [ "$(vfio_files "$pid" $EDU)" -ge 1 ]
check "the same isolated" [ "$(daemon_pid)" = "$pid" ]
journalctl -u isolated -o cat | grep -F "$EDU" | tail -n 2 | sed 's/^/  journal: /' || true
finish
