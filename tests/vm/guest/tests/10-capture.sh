#!/bin/bash
# topologies: all
# kernels: project debian
# Snapshots of real kernels for the unit tests' fixtures (tests/fixtures/sysfs/, see its README):
# `isolatectl capture` in each topology, a few variants, and the audit of each as the guest sees it.
# The snapshot must read back the same through --root as the live system does.
set -eu
out=${ISOLATE_VM_OUT:-/tmp}
t=$ISOLATE_VM_TOPOLOGY

# audit_to FILE CMD...: the audit's JSON into FILE; exit 1 unless it ran and wrote the document.
audit_to() {
    local file=$1 rc=0; shift
    "$@" > "$file" || rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
        echo "$* exited $rc" >&2
        exit 1
    fi
    if [ ! -s "$file" ] || ! jq -e '.version == 1 and (.host | type) == "object" and (.devices | length) > 0 and (.findings | type) == "array"' "$file" > /dev/null; then
        echo "$*: no audit document in its output:" >&2
        head -c 400 "$file" >&2
        exit 1
    fi
    # exit 3 exactly when there is a high or critical finding
    local grave
    grave=$(jq '[.findings[] | select(.severity == "high" or .severity == "critical")] | length' "$file")
    if { [ "$rc" = 3 ] && [ "$grave" = 0 ]; } || { [ "$rc" = 0 ] && [ "$grave" != 0 ]; }; then
        echo "$* exited $rc with $grave high or critical finding(s)" >&2
        exit 1
    fi
}

snap() {
    local name=$1
    rm -rf "${out:?}/$name"
    isolatectl capture "$out/$name"
    # The snapshot must give the same audit as the live system (apart from the kernel log).
    # Exit 0, or 3 with a high or critical finding; any other status (1: failed, 2: usage) is a failure,
    # and so is an output that is empty or not the audit document: an empty diff would compare nothing.
    audit_to "$out/$name.live.json" isolatectl --json=short audit
    audit_to "$out/$name.snapshot.json" isolatectl --json=short --root "$out/$name" audit
    jq -S 'del(.host.kernel_log_read) | .findings |= map(select(.id != "dma-faults"))' "$out/$name.live.json" > /tmp/a.json
    jq -S 'del(.host.kernel_log_read) | .findings |= map(select(.id != "dma-faults"))' "$out/$name.snapshot.json" > /tmp/b.json
    if ! diff -u /tmp/a.json /tmp/b.json; then
        echo "snapshot $name reads back differently from the live system" >&2
        exit 1
    fi
    jq -r '.findings[] | "\(.severity) \(.id) \(.devices | join(","))"' "$out/$name.snapshot.json"
}

snap "$t"

case "$t" in
nointremap)
    echo Y > /sys/module/iommufd/parameters/allow_unsafe_interrupts
    snap nointremap-unsafe
    echo N > /sys/module/iommufd/parameters/allow_unsafe_interrupts
    ;;
noiommu)
    echo Y > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode
    snap noiommu-vfio-unsafe
    echo N > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode
    ;;
default)
    # one edu on vfio-pci: what a held or assigned device looks like
    echo vfio-pci > /sys/bus/pci/devices/0000:00:03.0/driver_override
    echo 0000:00:03.0 > /sys/bus/pci/drivers_probe
    snap default-vfio
    # DMA from it while nobody holds it: the translated default domain has nothing mapped, so the
    # IOMMU faults; the kernel's DMAR lines go into the snapshot's dev/kmsg.
    isolate-vm-edu 0000:00:03.0 read 0x1000 64
    isolate-vm-edu 0000:00:03.0 write 0x2000 64
    sleep 1
    snap default-faults
    jq -e '.findings[] | select(.id == "dma-faults")' "$out/default-faults.snapshot.json" > /dev/null
    echo 0000:00:03.0 > /sys/bus/pci/drivers/vfio-pci/unbind
    echo > /sys/bus/pci/devices/0000:00:03.0/driver_override
    ;;
esac
