#!/bin/bash
# topologies: default passthrough
# kernels: project debian
# The legacy VFIO backend (the group node /dev/vfio/N and a container /dev/vfio/vfio), which isolated
# picks on kernels without iommufd (Debian's own, RHEL's): on Debian's packaged kernel it is picked by
# itself; on the project's kernel (which has both) --backend=legacy forces it. Blocked DMA faults,
# scratch-page reads are served and writes fault, kill -9 is survived through the fd store (the group
# and container files), and release to a guest leaves the group node free for a VMM.
. /usr/lib/isolate-vm/lib.bash

EDU_A=0000:00:02.0 # captured on unbind, blocked
EDU_B=0000:00:03.0 # scratch-page, allowed to pass through
kernel=${ISOLATE_VM_KERNEL:-project}

dropins=/run/systemd/system/isolated.service.d
mkdir -p $dropins
cleanup() {
    rm -f $LEGACY_DROPIN $dropins/50-test-slow-restart.conf
    systemctl daemon-reload
}
trap cleanup EXIT
force_legacy_backend

write_policy <<'JSON'
{
  "version": 1,
  "defaults": { "mode": "blocked", "quarantine_on_unbind": "all", "scratch_cover": "1G" },
  "rules": [
    { "id": "edu-b", "match": { "slot": "0000:00:03.0" }, "passthrough": "allow" }
  ]
}
JSON
require "edu $EDU_A bound to pci-stub" bind_stub $EDU_A
require "isolated started" start_daemon

echo "== the backend: legacy, and status says why"
isolatectl status | sed 's/^/  /'
check "Backend property is legacy" bash -c "[ \"\$(busctl get-property org.isolate1 /org/isolate1 org.isolate1.Manager Backend)\" = 's \"legacy\"' ]"
check "status names it" bash -c "isolatectl status | grep -q '^Backend: legacy ('"
if [ "$kernel" = debian ]; then
    check "picked by itself on Debian's kernel: no /dev/iommu" bash -c "isolatectl status | grep -q '^Backend: legacy (/dev/iommu is missing'"
fi
check "the journal says it" bash -c "journalctl -b -u isolated -o cat --no-pager | grep -q 'Holding devices through legacy VFIO'"

gA=$(basename "$(readlink /sys/bus/pci/devices/$EDU_A/iommu_group)")
gB=$(basename "$(readlink /sys/bus/pci/devices/$EDU_B/iommu_group)")
# isolated's files, by the link's tail (a file taken back from the fd store was opened in the previous
# instance's /dev, which shows no /dev prefix from outside)
holds_count() { ls -l "/proc/$(daemon_pid)/fd" | grep -c -- "-> .*$1\$" || true; }
holds() { [ "$(holds_count "$1")" -ge 1 ]; }
dmar_since() { dmesg | tail -n +"$(( $1 + 1 ))" | grep -q "$2"; }
# dma_faults SLOT read|write IOVA LEN: the DMA leaves its raw DMAR fault line. Up to three tries: QEMU's
# VT-d now and then raises the fault interrupt with no fault record for the kernel to print ("DRHD:
# handling fault status reg 2" alone, seen once in CI); a DMA that is served leaves no line however often.
dma_faults() {
    local slot=$1 op=$2 iova=$3 len=$4 access=Write mark i
    [ "$op" = read ] && access=Read
    for i in 1 2 3; do
        mark=$(dmesg_mark)
        edu "$slot" "$op" "$iova" "$len"
        wait_for 5 dmar_since "$mark" "DMAR: \[DMA $access.*Request device \[${slot#0000:}\] fault addr $iova " && return 0
        echo "    (try $i: no DMAR line for the $op at $iova)"
    done
    return 1
}

echo "== blocked: unbind → the group held in a container, every DMA faults"
echo $EDU_A > /sys/bus/pci/drivers/pci-stub/unbind
require "$EDU_A quarantined after the unbind" wait_for 10 is_state $EDU_A quarantined
check "mode blocked" [ "$(mode_of $EDU_A)" = blocked ]
check "isolated holds /dev/vfio/$gA" holds "vfio/$gA"
check "and the container /dev/vfio/vfio" holds vfio/vfio
check "and no VFIO device file" [ "$(holds_count 'vfio/devices/.*')" = 0 ]
check "nobody else can open /dev/vfio/$gA (EBUSY: the group is isolated's)" bash -c "! (exec 9<>/dev/vfio/$gA) 2>/dev/null"
check "no degradation reported" bash -c "[ \"\$(isolatectl --json=short status $EDU_A | jq -r '.[0].degraded | length')\" = 0 ]"
mark=$(dmesg_mark)
check "an edu DMA write faults (raw DMAR line)" dma_faults $EDU_A write 0x2000 64
check "a DMA read faults too" dma_faults $EDU_A read 0x1000 64
dmesg | tail -n +"$((mark + 1))" | grep 'DMAR: \[DMA' | sed 's/^/  kernel: /'
check "and isolated counted them" wait_for 5 bash -c "[ \$(isolatectl --json=short status $EDU_A | jq '.[0].dma_faults.read + .[0].dma_faults.write') -ge 2 ]"

echo "== scratch-page: reads served from the zeroed page, writes fault"
t0=$(date +%s%N)
require "quarantine $EDU_B in scratch-page mode" isolatectl quarantine --mode=scratch-page $EDU_B
echo "  quarantine --mode=scratch-page (1 GiB cover: 512 MAP_DMA of the 2 MiB page): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
grep -E 'VmLck|VmPin' "/proc/$(daemon_pid)/status" | sed 's/^/  isolated: /'
check "mode scratch-page" is_state_mode $EDU_B quarantined scratch-page
check "isolated holds /dev/vfio/$gB" holds "vfio/$gB"
# The write first, into a 2 MiB page nothing has read: QEMU's VT-d reports a permission fault only on a
# page walk, and drops without a fault line a write that hits a read-only IOTLB entry it cached.
check "a DMA write inside the cover faults (raw DMAR line)" dma_faults $EDU_B write 0x600000 64
mark=$(dmesg_mark)
check "a DMA read inside the cover runs" edu $EDU_B read 0x10000 2048
check "and leaves no DMAR line" bash -c "sleep 1; ! dmesg | tail -n +$((mark + 1)) | grep -q 'Request device \[00:03.0\]'"
check "a DMA read above the 1 GiB cover faults" dma_faults $EDU_B read 0x50000000 64

echo "== kill -9: the stored group and container files hold the quarantine while no isolated runs"
printf '[Service]\nRestartSec=5s\n' > $dropins/50-test-slow-restart.conf
systemctl daemon-reload
pid=$(daemon_pid)
sleep 6 # the DMAR log's rate limit refills
mark=$(dmesg_mark)
systemctl kill -s KILL isolated
require "isolated is dead, not yet restarted" wait_for 5 bash -c "[ \$(systemctl show -P MainPID isolated) = 0 ]"
check "$EDU_B (scratch-page): a DMA read while no isolated runs" edu $EDU_B read 0x10000 2048
check "$EDU_A (blocked): a DMA write while no isolated runs" edu $EDU_A write 0x3000 64
check "both ran before the restart" [ "$(systemctl show -P MainPID isolated)" = 0 ]
check "the write from $EDU_A faulted" wait_for 5 dmar_since $mark 'DMAR: \[DMA Write.*Request device \[00:02.0\] fault addr 0x3000'
check "no DMAR line from $EDU_B's read: still on the scratch page" \
    [ "$(dmesg | tail -n +$((mark + 1)) | grep -c 'Request device \[00:03.0\]' || true)" = 0 ]
require "isolated restarted by systemd" wait_for 20 bash -c "[ \$(systemctl show -P MainPID isolated) != 0 ] && [ \$(systemctl show -P MainPID isolated) != $pid ] && busctl status org.isolate1"
rm -f $dropins/50-test-slow-restart.conf
systemctl daemon-reload
check "took $EDU_B back (scratch-page)" bash -c "journalctl -b --no-pager -o cat _PID=\$(systemctl show -P MainPID isolated) | grep -q 'Took back $EDU_B (quarantined, scratch-page) from the previous instance'"
check "$EDU_A quarantined, blocked" is_state_mode $EDU_A quarantined blocked
check "$EDU_B quarantined, scratch-page" is_state_mode $EDU_B quarantined scratch-page
check "the new isolated holds both groups" bash -c "[ $(holds_count "vfio/$gA") = 1 ] && [ $(holds_count "vfio/$gB") = 1 ]"
check "and their containers" [ "$(holds_count vfio/vfio)" = 2 ]

echo "== scratch-page → blocked after the restart (through the stored container): DMA faults, the paging domain is said"
check "quarantine --mode=blocked $EDU_B" isolatectl quarantine --mode=blocked $EDU_B
check "mode blocked" is_state_mode $EDU_B quarantined blocked
check "degraded: paging-domain (a type1 group cannot go back to the blocking domain without a gap)" \
    bash -c "isolatectl --json=short status $EDU_B | jq -e '.[0].degraded | index(\"paging-domain\")'"
check "the read that was served now faults" dma_faults $EDU_B read 0x10000 64

echo "== release to a guest: the group node is free for a VMM; quarantine takes it back"
check "a degraded device (paging-domain) is not released to a guest" bash -c "! isolatectl release $EDU_B --to guest 2>/dev/null"
check "back to scratch-page (through the stored container)" isolatectl quarantine --mode=scratch-page $EDU_B
check "which clears the degradation" bash -c "[ \"\$(isolatectl --json=short status $EDU_B | jq -r '.[0].degraded | length')\" = 0 ]"
check "release $EDU_B --to guest" isolatectl release $EDU_B --to guest
check "released" is_state $EDU_B released
check "on vfio-pci" [ "$(driver_of $EDU_B)" = vfio-pci ]
check "isolated no longer holds /dev/vfio/$gB" [ "$(holds_count "vfio/$gB")" = 0 ]
check "a VMM can open /dev/vfio/$gB" bash -c "(exec 9<>/dev/vfio/$gB)"
check "release $EDU_A --to guest is refused (not allowed)" bash -c "! isolatectl release $EDU_A --to guest 2>/dev/null"
check "quarantine $EDU_B again (blocked)" isolatectl quarantine $EDU_B
check "held again" is_state $EDU_B quarantined

echo "== release to the host: pci-stub again"
check "release $EDU_A --to host" isolatectl release $EDU_A --to host
check "$EDU_A on pci-stub" [ "$(driver_of $EDU_A)" = pci-stub ]
check "isolated holds no file of group $gA" [ "$(holds_count "vfio/$gA")" = 0 ]

echo "== the audit says what this kernel guarantees"
isolatectl audit > /tmp/audit.txt 2>&1 || true
grep -iE -A3 'legacy' /tmp/audit.txt | sed 's/^/  audit: /' || true
if [ "$kernel" = debian ]; then
    check "the audit has the legacy-vfio finding" bash -c "isolatectl --json=short audit | jq -e '.findings[] | select(.id == \"legacy-vfio\")' >/dev/null"
fi

isolatectl release $EDU_B --to host >/dev/null 2>&1 || true
systemctl stop isolated
finish
