# The VM tier's named machine topologies (sourced by tests/vm/run). Bash.
#
# Each topology sets QEMU_TOPOLOGY_ARGS (devices; the IOMMU first, before the devices it translates)
# and KERNEL_TOPOLOGY_ARGS (guest kernel command line additions), and describes itself in
# TOPOLOGY_DESCRIPTION. Guest slots are fixed (addr=) so that tests can name devices.

VM_TOPOLOGIES="default bridge nointremap passthrough virtio noiommu amd lockdown"
# Topologies for benchmarks only (not in "all"):
VM_BENCH_TOPOLOGIES="many"

vm_topology() {
    local name=$1
    # edu: QEMU's educational DMA device (1234:11e8); virtio-rng-pci: a device with a cheap in-kernel
    # driver to unbind from; e1000e: a PCIe NIC with an in-kernel driver and FLR/PM reset.
    # dma_mask: let edu reach every IOVA (its default cuts addresses to 28 bits)
    local edu="edu,dma_mask=0xffffffffffffffff"
    local edu2="-device $edu,addr=0x02 -device $edu,addr=0x03"
    local rng="-device virtio-rng-pci,addr=0x05"
    local vtd="-device intel-iommu,intremap=on,caching-mode=on"
    case "$name" in
    default)
        TOPOLOGY_DESCRIPTION="VT-d with interrupt remapping; two edu, one e1000e, one virtio-rng"
        QEMU_TOPOLOGY_ARGS="$vtd $edu2 -device e1000e,addr=0x04 $rng"
        KERNEL_TOPOLOGY_ARGS="intel_iommu=on iommu.strict=1"
        ;;
    bridge)
        TOPOLOGY_DESCRIPTION="VT-d; a PCIe-to-PCI bridge with an edu and a virtio-rng behind it (one group); a root port without ACS above an ATS-enabled virtio-rng"
        QEMU_TOPOLOGY_ARGS="$vtd,device-iotlb=on -device pcie-root-port,id=rp1,chassis=1,addr=0x06 -device pcie-pci-bridge,id=br1,bus=rp1 -device $edu,bus=br1,addr=0x01 -device virtio-rng-pci,bus=br1,addr=0x02 -device pcie-root-port,id=rp2,chassis=2,addr=0x07,disable-acs=on -device virtio-rng-pci,bus=rp2,ats=on,disable-legacy=on -device $edu,addr=0x02 $rng"
        KERNEL_TOPOLOGY_ARGS="intel_iommu=on iommu.strict=1"
        ;;
    nointremap)
        TOPOLOGY_DESCRIPTION="VT-d without interrupt remapping (intremap=off)"
        QEMU_TOPOLOGY_ARGS="-device intel-iommu,intremap=off,caching-mode=on $edu2 $rng"
        KERNEL_TOPOLOGY_ARGS="intel_iommu=on iommu.strict=1"
        ;;
    passthrough)
        TOPOLOGY_DESCRIPTION="VT-d with iommu=pt: identity default domains"
        QEMU_TOPOLOGY_ARGS="$vtd $edu2 $rng"
        KERNEL_TOPOLOGY_ARGS="intel_iommu=on iommu=pt"
        ;;
    virtio)
        TOPOLOGY_DESCRIPTION="virtio-iommu (no MSI isolation on x86)"
        QEMU_TOPOLOGY_ARGS="-device virtio-iommu-pci,addr=0x07 $edu2 $rng"
        KERNEL_TOPOLOGY_ARGS="iommu.strict=1"
        ;;
    amd)
        TOPOLOGY_DESCRIPTION="AMD-Vi (amd-iommu with interrupt remapping and device IOTLB); two edu, one virtio-rng"
        QEMU_TOPOLOGY_ARGS="-device amd-iommu,intremap=on,device-iotlb=on $edu2 $rng"
        KERNEL_TOPOLOGY_ARGS="iommu.strict=1"
        ;;
    lockdown)
        # lockdown= from boot on, as Secure Boot does: the modules load because they are signed (the guest
        # kernel checks their signatures), and sysfs config and resource writes fail.
        TOPOLOGY_DESCRIPTION="VT-d under kernel lockdown (lockdown=integrity from boot, as with Secure Boot): sysfs config writes fail"
        QEMU_TOPOLOGY_ARGS="$vtd $edu2 $rng"
        KERNEL_TOPOLOGY_ARGS="intel_iommu=on iommu.strict=1 lockdown=integrity"
        ;;
    many)
        TOPOLOGY_DESCRIPTION="VT-d; 64 edu functions (8 multi-function slots of 8: 8 groups of 8)"
        QEMU_TOPOLOGY_ARGS="$vtd"
        for slot in 8 9 a b c d e f; do
            QEMU_TOPOLOGY_ARGS="$QEMU_TOPOLOGY_ARGS -device $edu,addr=0x0$slot.0,multifunction=on"
            for fn in 1 2 3 4 5 6 7; do
                QEMU_TOPOLOGY_ARGS="$QEMU_TOPOLOGY_ARGS -device $edu,addr=0x0$slot.$fn"
            done
        done
        KERNEL_TOPOLOGY_ARGS="intel_iommu=on iommu.strict=1"
        ;;
    noiommu)
        TOPOLOGY_DESCRIPTION="no IOMMU at all"
        QEMU_TOPOLOGY_ARGS="$edu2 $rng"
        KERNEL_TOPOLOGY_ARGS=""
        ;;
    *)
        return 1
        ;;
    esac
}
