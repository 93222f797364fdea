#!/bin/bash
# topologies: bridge
# ATS: a device with Address Translation Services enabled asks the IOMMU for translations and caches
# them; in quarantine it must not be able to use them. The bridge topology has a virtio-rng with ats=on
# behind a root port and device-iotlb=on on the VT-d, so the kernel enables ATS under virtio-pci.
# Blocked mode must leave ATS disabled (ATSCtl: Enable-); the scratch page is a paging domain, where
# ATS may be on, so switching an ATS device to scratch-page is refused unless its rule says
# "ats": "accept"; and back in blocked, ATS is off again.
. /usr/lib/isolate-vm/lib.bash


# The ATS-capable virtio-rng: the one function with an ATS capability.
ATS=$(ats_device)
require "an ATS-capable device exists (virtio-rng,ats=on)" [ -n "$ATS" ]
echo "  ATS device: $ATS ($(lspci -s "$ATS" | cut -d' ' -f2-)), driver $(driver_of "$ATS")"
echo "  under its host driver: ATSCtl: $(ats_ctl "$ATS")"
check "under $(driver_of "$ATS") the kernel enabled ATS (Enable+: what device-iotlb gives)" ats_enabled "$ATS"

write_policy <<'JSON'
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "none" } }
JSON
require "isolated started" start_daemon

echo "== blocked: ATS off"
require "quarantine $ATS (blocked)" isolatectl quarantine "$ATS"
check "quarantined, blocked" is_state_mode "$ATS" quarantined blocked
echo "  held in blocked: ATSCtl: $(ats_ctl "$ATS")"
check "ATSCtl: Enable- while held in blocked" ats_disabled "$ATS"

echo "== scratch-page is refused for an ATS device without \"ats\": \"accept\""
if isolatectl quarantine --mode=scratch-page "$ATS" 2>/tmp/err; then rc=0; else rc=$?; fi
sed 's/^/  stderr: /' /tmp/err
check "switch to scratch-page refused (non-zero exit)" [ "$rc" != 0 ]
check "the refusal names ATS" grep -qi 'ATS\|address translation' /tmp/err
check "still quarantined, blocked" is_state_mode "$ATS" quarantined blocked
check "ATS still off" ats_disabled "$ATS"

echo "== with a rule that accepts ATS: scratch-page, then back to blocked"
write_policy <<JSON
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "none" },
  "rules": [ { "id": "ats-rng", "match": { "slot": "$ATS" }, "ats": "accept",
               "comment": "the test's ATS virtio-rng may sit on the scratch page with ATS" } ] }
JSON
require "reload with the accepting rule" isolatectl reload
check "switch to scratch-page accepted" isolatectl quarantine --mode=scratch-page "$ATS"
check "quarantined, scratch-page" is_state_mode "$ATS" quarantined scratch-page
echo "  held in scratch-page: ATSCtl: $(ats_ctl "$ATS")"
check "back to blocked" isolatectl quarantine --mode=blocked "$ATS"
check "quarantined, blocked" is_state_mode "$ATS" quarantined blocked
echo "  back in blocked: ATSCtl: $(ats_ctl "$ATS")"
check "ATSCtl: Enable- again in blocked" ats_disabled "$ATS"

echo "== kill -9 and restart: still blocked with ATS off"
pid=$(daemon_pid)
systemctl kill -s KILL isolated
check "ATS still off while isolated is down" ats_disabled "$ATS"
require "isolated restarted" wait_for 20 bash -c "p=\$(systemctl show -P MainPID isolated); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && busctl status org.isolate1"
check "after the restart: quarantined, blocked" wait_for 10 is_state_mode "$ATS" quarantined blocked
check "ATS off after the restart" ats_disabled "$ATS"

echo "== release to the host: the driver gets its device back"
check "release --to host" isolatectl release --to=host "$ATS"
check "back on virtio-pci" wait_for 10 bash -c "[ \"\$(basename \$(readlink /sys/bus/pci/devices/$ATS/driver))\" = virtio-pci ]"
echo "  back under virtio-pci: ATSCtl: $(ats_ctl "$ATS")"
finish
