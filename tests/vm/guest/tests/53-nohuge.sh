#!/bin/bash
# topologies: default
# No free hugepage: the scratch page falls back to one 4 KiB page, whose cover is limited (16 MiB: one
# leaf entry per 4 KiB). A rule asking for a 4 GiB cover then gets less than it asked for: status must
# say so ("degraded"), a DMA beyond the cut must fault, and releasing that device to a guest is refused
# unless its rule accepts the degraded quarantine.
. /usr/lib/isolate-vm/lib.bash
EDU=0000:00:03.0
hp() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }

restore() {
    systemctl stop isolated
    systemctl reset-failed isolated 2>/dev/null || true
    echo 16 > /proc/sys/vm/nr_hugepages
    systemctl start isolated || true
}
trap restore EXIT
echo "== no hugepages, and isolated started without a scratch page"
systemctl stop isolated
echo 0 > /proc/sys/vm/nr_hugepages
echo "  HugePages_Total $(hp HugePages_Total), HugePages_Free $(hp HugePages_Free)"
require "no hugepage left" [ "$(hp HugePages_Total)" = 0 ]
write_policy <<JSON
{ "version": 1, "defaults": { "mode": "scratch-page", "quarantine_on_unbind": "none" },
  "rules": [ { "id": "big-cover", "match": { "slot": "$EDU" }, "scratch_cover": "4G", "passthrough": "allow" } ] }
JSON
require "isolated started" start_daemon

echo "== scratch-page with a 4 GiB cover on the 4 KiB fallback page"
t0=$(date +%s%N)
if ! isolatectl quarantine --mode=scratch-page $EDU; then
    echo "  FAIL: quarantine $EDU --mode=scratch-page (after $(( ($(date +%s%N) - t0) / 1000000 )) ms; cannot go on)"
    journalctl -b -u isolated --no-pager -o cat | grep -v FileDescriptorStorePreserve | tail -n 12 | sed 's/^/  journal: /'
    echo "  isolated: $(systemctl show -P ActiveState isolated), NRestarts $(systemctl show -P NRestarts isolated), Result $(systemctl show -P Result isolated)"
    exit 1
fi
echo "  quarantine in scratch-page with the 4 KiB page took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "quarantined, scratch-page" is_state_mode $EDU quarantined scratch-page
isolatectl status $EDU | sed 's/^/  /'
json_status $EDU > /tmp/s.json
jq -c '.[0] | {state, mode, degraded}' /tmp/s.json | sed 's/^/  /'
check "status reports the quarantine degraded: scratch-cover" jq -e '.[0].degraded | index("scratch-cover") != null' /tmp/s.json
journalctl -b -u isolated --no-pager -o cat | grep -i 'cover\|hugepage\|scratch' | tail -n 4 | sed 's/^/  journal: /' || true

echo "== the cut is real: inside 16 MiB a read hits the scratch page, beyond it the read faults"
mark=$(dmesg_mark)
edu $EDU read 0x100000 64
sleep 1
check "a read at 1 MiB (inside the cut cover) did not fault" [ "$(dmar_faults_since "$mark" 00:03.0)" = 0 ]
mark=$(dmesg_mark)
edu $EDU read 0x20000000 64
check "a read at 512 MiB (inside the 4 GiB asked for, outside the 16 MiB given) faulted" wait_for 5 bash -c "[ \$(dmesg | tail -n +$((mark + 1)) | grep -c 'Request device \[00:03.0\]') -ge 1 ]"

echo "== release to a guest of the degraded device: refused unless the rule accepts it"
if isolatectl release --to=guest $EDU 2>/tmp/err; then rc=0; else rc=$?; fi
sed 's/^/  stderr: /' /tmp/err
check "refused (exit 1)" [ "$rc" = 1 ]
check "  saying why (degraded / cover)" grep -qi 'degraded\|cover' /tmp/err
check "still quarantined" is_state $EDU quarantined
write_policy <<JSON
{ "version": 1, "defaults": { "mode": "scratch-page", "quarantine_on_unbind": "none" },
  "rules": [ { "id": "big-cover", "match": { "slot": "$EDU" }, "scratch_cover": "4G", "passthrough": "allow",
               "accept_degraded": true } ] }
JSON
require "reload with a rule that accepts it" isolatectl reload
check "release --to guest accepted" isolatectl release --to=guest $EDU
check "released" is_state $EDU released
check "quarantine takes it back" isolatectl quarantine $EDU

echo "== hugepages back for the tests after this one"
trap - EXIT
restore
check "16 hugepages again" [ "$(hp HugePages_Total)" = 16 ]
finish
