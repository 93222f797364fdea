/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "pci-address.h"

/* The machine as isolate sees it: PCI functions, IOMMU groups and units, and the kernel switches
 * that decide whether DMA and interrupts are isolated. Everything is read below a root directory
 * (a live "/" or a snapshot written by `isolatectl capture`): ROOT/sys, ROOT/proc, ROOT/dev/kmsg. */

typedef enum Tristate {
        TRISTATE_NO = 0,
        TRISTATE_YES = 1,
        TRISTATE_UNKNOWN = -1,
} Tristate;

typedef enum InterruptSafety {
        INTERRUPTS_SAFE,
        INTERRUPTS_UNSAFE,
        INTERRUPTS_UNKNOWN,
        _INTERRUPTS_MAX,
        _INTERRUPTS_INVALID = -EINVAL,
} InterruptSafety;

const char *interrupt_safety_to_string(InterruptSafety s);

typedef enum IommuKind {
        IOMMU_KIND_INTEL,
        IOMMU_KIND_AMD,
        IOMMU_KIND_VIRTIO,
        IOMMU_KIND_ARM_SMMU,
        IOMMU_KIND_SELFTEST, /* iommufd's self-test mock: not an IOMMU */
        IOMMU_KIND_OTHER,
        _IOMMU_KIND_MAX,
        _IOMMU_KIND_INVALID = -EINVAL,
} IommuKind;

const char *iommu_kind_to_string(IommuKind k);

typedef struct IommuUnit {
        char *name;
        char *device; /* the device that registered it ("arm-smmu-v3.0.auto"); NULL for virtual ones (dmarN) */
        IommuKind kind;
        bool has_regs; /* Intel: cap/ecap; AMD: cap/features */
        uint64_t cap;
        uint64_t ecap;
} IommuUnit;

/* Intel VT-d extended capability bits (VT-d spec 11.4.3). */
#define VTD_ECAP_DT (UINT64_C(1) << 2)
#define VTD_ECAP_IR (UINT64_C(1) << 3)
#define VTD_ECAP_EIM (UINT64_C(1) << 4)
#define VTD_ECAP_PT (UINT64_C(1) << 6)

typedef enum ReservedRegionType {
        RESERVED_DIRECT,
        RESERVED_DIRECT_RELAXABLE,
        RESERVED_MSI,
        RESERVED_RESERVED,
        RESERVED_OTHER,
} ReservedRegionType;

typedef struct ReservedRegion {
        uint64_t start;
        uint64_t end; /* inclusive */
        ReservedRegionType type;
} ReservedRegion;

typedef struct IommuGroup {
        int id;
        char *type; /* default domain type: DMA, DMA-FQ, identity, blocked, unmanaged, unknown; NULL if unreadable */
        char **devices; /* member device names as the kernel lists them (PCI ones are slots) */
        ReservedRegion *regions;
        size_t n_regions;
} IommuGroup;

#define PCIE_TYPE_NONE (-1)

typedef struct PciDevice {
        PciAddress address;
        char slot[PCI_ADDRESS_MAX];
        uint16_t vendor, device;
        uint16_t subsystem_vendor, subsystem_device;
        uint32_t class; /* base class, subclass, prog-if */
        uint8_t revision;
        uint8_t header_type; /* low 7 bits; 0 endpoint, 1 PCI bridge, 2 CardBus */
        bool multifunction;
        char *driver;    /* NULL: no driver bound */
        int iommu_group; /* -1: no group */
        char **parents;  /* upstream PCI bridges, nearest first (slots) */

        /* Reset: reset_method lists the methods (kernel ≥ 5.15); older kernels only have "reset". */
        char **reset_methods;
        Tristate can_reset;

        char *vfio_dev;     /* "vfio3" when bound to a VFIO driver with the device cdev */
        Tristate removable; /* sysfs "removable": the device sits below an external-facing port */

        /* From config space, through libpci. config_size < 256 means capabilities are unknown
         * (an unprivileged reader sees 64 bytes). */
        size_t config_size;
        int pcie_type; /* PCI_EXP_TYPE_*, or PCIE_TYPE_NONE */
        bool has_msi, has_msix;
        bool has_acs;
        uint16_t acs_cap, acs_ctrl;
        bool has_ats, ats_enabled;
        uint16_t ats_offset; /* the ATS capability in config space (0: none found) */
        bool has_pri, has_pasid;
        bool has_dsn;
        uint64_t dsn;

        char *iommu; /* the IOMMU unit (/sys/class/iommu name) its "iommu" link names; NULL if none */

        InterruptSafety interrupts;
        bool is_iommu; /* the device is itself an IOMMU (virtio-iommu, AMD's IOMMU function) */
} PciDevice;

typedef struct HostInfo {
        char *kernel_release;
        char *cmdline;

        /* /proc/cmdline switches */
        bool cmdline_iommu_pt;      /* iommu=pt or iommu.passthrough=1 */
        bool cmdline_iommu_off;     /* iommu=off, intel_iommu=off, amd_iommu=off */
        bool cmdline_intremap_off;  /* intremap=off, amd_iommu_intr=... off */
        bool cmdline_lazy;          /* iommu.strict=0 */
        char *cmdline_acs_override; /* value of pcie_acs_override=, NULL if absent */

        /* module parameters (sysfs, falling back to the command line) */
        Tristate iommufd_allow_unsafe_interrupts;
        Tristate type1_allow_unsafe_interrupts;
        Tristate vfio_noiommu;

        /* Whether the kernel has iommufd, as far as the loaded modules show (/sys/module/iommufd; unknown
         * when vfio is not loaded either). Without it, isolated holds devices through VFIO's legacy group and
         * container interface. */
        Tristate iommufd;

        /* interrupt remapping as /proc/interrupts shows it */
        Tristate interrupt_remapping;
        char *interrupt_evidence; /* the chip name that decided it, e.g. "IR-PCI-MSI" */
        bool arch_arm_its;        /* MSIs go through a GICv3 ITS (isolated) */
        bool arch_arm_gicv2m;     /* MSIs go through GICv2m (not isolated) */
} HostInfo;

typedef struct Topology {
        char *root; /* "" for the live system */
        HostInfo host;
        PciDevice *devices; /* sorted by address */
        size_t n_devices;
        IommuGroup *groups; /* sorted by id */
        size_t n_groups;
        IommuUnit *iommus;
        size_t n_iommus;
} Topology;

/* Loads the topology below root (NULL or "" or "/" for the live system). On failure returns -errno
 * and, where it helps, a message naming the file or value in *reterr_message. -ENOTDIR: root has no
 * sys/bus/pci/devices (not a snapshot). */
int topology_load(const char *root, Topology **ret, char **reterr_message);
Topology *topology_free(Topology *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Topology *, topology_free);

PciDevice *topology_find_device(const Topology *t, const PciAddress *a);
IommuGroup *topology_find_group(const Topology *t, int id);

/* The PCI segment of the devices behind an IOMMU unit, named as /sys/class/iommu names it ("dmar1") or
 * as the device that registered it ("arm-smmu-v3.0.auto", the prefix of the SMMU's log lines). Returns
 * 1 and sets *ret_domain when the topology links devices to that unit (their "iommu" links) and they
 * all sit in one segment; 0 when the unit is unknown, has no linked devices, or spans segments. */
int topology_iommu_segment(const Topology *t, const char *iommu, uint32_t *ret_domain);

/* Evidence from the kernel itself: iommufd_device_bind() refuses a device whose group fails
 * iommu_group_has_isolated_msi() with EPERM unless iommufd.allow_unsafe_interrupts is set. So a
 * successful VFIO_DEVICE_BIND_IOMMUFD of `bound` while that parameter is N proves the MSIs of its whole
 * IOMMU group isolated, whatever /proc/interrupts could not tell (an unknown chip, an interrupt not yet
 * allocated). Call right after the bind: the parameter is read again now (below t->root), and only
 * an N counts (a runtime change between bind and this call is the caller's window to keep short).
 * Marks the group's devices whose verdict is INTERRUPTS_UNKNOWN as INTERRUPTS_SAFE (a verdict read
 * from their own interrupt lines is left alone). Returns the number of devices changed, 0 when the
 * parameter is not N; -ENODEV when bound is not in t or has no IOMMU group. */
int topology_note_isolated_msi(Topology *t, const PciAddress *bound);

/* True when some unit is a real IOMMU (the iommufd self-test mock does not count) or some group exists. */
bool topology_has_iommu(const Topology *t);
/* Number of real IOMMU units of that kind. */
size_t topology_count_iommus(const Topology *t, IommuKind kind);

/* Classification helpers. */
bool pci_device_is_bridge(const PciDevice *d);
bool pci_device_is_host_bridge(const PciDevice *d);
/* Endpoints are what can be quarantined or passed through: not bridges, host bridges or IOMMUs. */
bool pci_device_is_endpoint(const PciDevice *d);
