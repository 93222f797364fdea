#!/bin/bash
# topologies: bridge
# kernels: project debian
# ATS on the legacy VFIO backend: blocked claims the group's DMA ownership, and the kernel puts it on
# its blocking domain, which turns ATS off, where the IOMMU driver has one (the project's 6.12). Where
# it has none (VT-d on Debian's 6.1) the kernel substitutes an empty paging domain and ATS stays on;
# then isolated must say so (degraded "ats"), from the device's own ATS control register. The oracle
# is lspci's ATSCtl, read independently of isolated.
. /usr/lib/isolate-vm/lib.bash

kernel=${ISOLATE_VM_KERNEL:-project}
degraded_has() { isolatectl --json=short status "$1" | jq -e --arg w "$2" '.[0].degraded | index($w) != null' >/dev/null; }
degraded_lacks() { ! degraded_has "$@"; }

trap 'rm -f $LEGACY_DROPIN; systemctl daemon-reload' EXIT
force_legacy_backend

ATS=$(ats_device)
require "an ATS-capable device exists (virtio-rng,ats=on)" [ -n "$ATS" ]
echo "  ATS device: $ATS, driver $(driver_of "$ATS"), ATSCtl under it: $(ats_ctl "$ATS")"
check "under its host driver the kernel enabled ATS" ats_enabled "$ATS"

write_policy <<JSON
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "none" },
  "rules": [ { "id": "ats-rng", "match": { "slot": "$ATS" }, "ats": "accept", "passthrough": "allow" } ] }
JSON
require "isolated started" start_daemon
check "legacy backend" bash -c "[ \"\$(busctl get-property org.isolate1 /org/isolate1 org.isolate1.Manager Backend)\" = 's \"legacy\"' ]"

echo "== blocked"
require "quarantine $ATS (blocked)" isolatectl quarantine "$ATS"
ctl=$(ats_ctl "$ATS")
echo "  held in blocked ($kernel kernel, legacy backend): ATSCtl: $ctl; degraded: $(isolatectl --json=short status "$ATS" | jq -c '.[0].degraded')"
if ats_enabled "$ATS"; then
    check "ATS still enabled: status says degraded \"ats\"" degraded_has "$ATS" ats
else
    check "ATS off: no \"ats\" degradation" degraded_lacks "$ATS" ats
fi
case "$kernel" in
project) check "the project's kernel (6.12) has a real blocking domain: ATS off" ats_disabled "$ATS" ;;
debian) check "Debian's 6.1 VT-d has none (an empty paging domain): ATS stays on, and that is said" degraded_has "$ATS" ats ;;
esac
if degraded_has "$ATS" ats; then
    if isolatectl release "$ATS" --to guest 2>/tmp/err; then rc=0; else rc=$?; fi
    sed 's/^/  stderr: /' /tmp/err
    check "a release to a guest (allowed by the policy) is refused while it is said (accept_degraded not set)" [ "$rc" != 0 ]
    check "  saying why" grep -q "ATS is still enabled" /tmp/err
fi

echo "== scratch-page (ATS accepted) and back"
check "scratch-page" isolatectl quarantine --mode=scratch-page "$ATS"
echo "  in scratch-page: ATSCtl: $(ats_ctl "$ATS")"
check "no \"ats\" degradation in scratch-page (ATS on by design, accepted)" degraded_lacks "$ATS" ats
check "back to blocked" isolatectl quarantine --mode=blocked "$ATS"
echo "  back in blocked: ATSCtl: $(ats_ctl "$ATS"); degraded: $(isolatectl --json=short status "$ATS" | jq -c '.[0].degraded')"
if ats_enabled "$ATS"; then
    check "ATS on: said" degraded_has "$ATS" ats
else
    check "ATS off: not said" degraded_lacks "$ATS" ats
fi
check "and paging-domain (the type1 group stays on its emptied domain)" degraded_has "$ATS" paging-domain

isolatectl release "$ATS" --to host >/dev/null 2>&1 || true
systemctl stop isolated
finish
