/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma-fault.h"
#include "fault-attribution.h"
#include "findings.h"
#include "json-util.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"

static const char *const severity_table[_SEVERITY_MAX] = {
        [SEVERITY_INFO] = "info",
        [SEVERITY_WARNING] = "warning",
        [SEVERITY_HIGH] = "high",
        [SEVERITY_CRITICAL] = "critical",
};

const char *severity_to_string(Severity s) {
        return s >= 0 && s < _SEVERITY_MAX ? severity_table[s] : NULL;
}

Severity severity_from_string(const char *s) {
        return (Severity) string_table_lookup(severity_table, _SEVERITY_MAX, s);
}

/* ---- DMA fault counts ------------------------------------------------------------------- */

void fault_counts_done(FaultCounts *f) {
        free(f->items);
        *f = (FaultCounts) {};
}

static FaultCount *fault_counts_get_iommu(FaultCounts *f, const PciAddress *a, bool has_domain, const char *iommu) {
        assert(f);
        assert(a);
        assert(iommu);

        FOREACH_ARRAY(c, f->items, f->n)
                if (c->has_domain == has_domain && pci_address_equal(&c->address, a) && streq(c->iommu, iommu))
                        return c;
        if (!GREEDY_REALLOC(f->items, f->n_allocated, f->n + 1))
                return NULL;
        f->items[f->n] = (FaultCount) { .address = *a, .has_domain = has_domain };
        snprintf(f->items[f->n].iommu, sizeof(f->items[f->n].iommu), "%s", iommu);
        return &f->items[f->n++];
}

FaultCount *fault_counts_get(FaultCounts *f, const PciAddress *a, bool has_domain) {
        return fault_counts_get_iommu(f, a, has_domain, "");
}

static int count_fault(const DmaFault *fault, const KmsgRecord *rec, void *userdata) {
        FaultCounts *f = userdata;
        FaultCount *c;

        (void) rec;
        if (!fault) {
                f->suppressed = true;
                return 0;
        }
        /* the unit only matters where it supplies the segment */
        c = fault_counts_get_iommu(f, &fault->requester, fault->has_domain, fault->has_domain ? "" : fault->iommu);
        if (!c)
                return -ENOMEM;
        if (fault->interrupt)
                c->interrupts++;
        else if (fault->access == DMA_ACCESS_READ)
                c->reads++;
        else if (fault->access == DMA_ACCESS_WRITE)
                c->writes++;
        else
                c->other++;
        if (fault->has_iova) {
                c->has_iova = true;
                c->last_iova = fault->iova;
        }
        snprintf(c->last_reason, sizeof(c->last_reason), "%s", fault->reason_text);
        return 0;
}

int fault_counts_from_kmsg(const char *root, FaultCounts *ret) {
        _cleanup_free_ char *path = root_path(root, "/dev/kmsg");
        FaultCounts f = {};
        int r;

        if (!path)
                return -ENOMEM;
        r = kmsg_read_faults(path, count_fault, &f);
        if (r < 0) {
                fault_counts_done(&f);
                return r;
        }
        *ret = f;
        return 0;
}

/* ---- building findings ------------------------------------------------------------------ */

typedef struct Collector {
        const Topology *t;
        Findings *f;
        int error;
} Collector;

static Finding *add_finding(Collector *c, const char *id, Severity sev, char **devices, const char *summary,
                            const char *fix, const char *detail_fmt, ...) _printf_(7, 8);
static Finding *add_finding(Collector *c, const char *id, Severity sev, char **devices, const char *summary,
                            const char *fix, const char *detail_fmt, ...) {
        Finding *x;
        va_list ap;
        char *detail = NULL;

        assert(c);

        if (c->error < 0) {
                strv_free(devices);
                return NULL;
        }
        va_start(ap, detail_fmt);
        if (vasprintf(&detail, detail_fmt, ap) < 0)
                detail = NULL;
        va_end(ap);

        if (!detail || !GREEDY_REALLOC(c->f->items, c->f->n_allocated, c->f->n + 1)) {
                free(detail);
                strv_free(devices);
                c->error = -ENOMEM;
                return NULL;
        }
        x = &c->f->items[c->f->n++];
        *x = (Finding) {
                .id = id,
                .severity = sev,
                .devices = devices,
                .summary = strdup(summary),
                .detail = detail,
                .fix = strdup(fix),
        };
        if (!x->summary || !x->fix)
                c->error = -ENOMEM;
        return x;
}

/* Devices handed to VFIO (quarantined or assigned to a guest) make a finding about them weigh more. */
static bool device_is_held(const PciDevice *d) {
        assert(d);

        return d->vfio_dev || (d->driver && streq(d->driver, "vfio-pci"));
}

static Severity raise_if_held(const Topology *t, Severity base, char *const *devices) {
        STRV_FOREACH(s, devices) {
                PciAddress a;
                const PciDevice *d;
                if (pci_address_parse_full(*s, &a) < 0)
                        continue;
                d = topology_find_device(t, &a);
                if (d && device_is_held(d))
                        return base < SEVERITY_CRITICAL ? base + 1 : base;
        }
        return base;
}

static char **endpoint_slots(const Topology *t, bool (*pred)(const Topology *t, const PciDevice *d)) {
        char **l = NULL;

        assert(t);

        FOREACH_ARRAY(d, t->devices, t->n_devices)
                if (pci_device_is_endpoint(d) && (!pred || pred(t, d)))
                        if (strv_extend(&l, d->slot) < 0)
                                return strv_free(l);
        return l;
}

static char *join_slots(char *const *l) {
        return strv_join(l, ", ");
}

typedef void (*EmitFunc)(Collector *c, char **devices, Severity severity);

/* Emits one finding for the endpoints that match pred, at base severity, and a separate one a level
 * higher for those of them that are held by VFIO, so that one held device does not raise the rest. */
static void emit_split(Collector *c, bool (*pred)(const Topology *t, const PciDevice *d), Severity base,
                       EmitFunc emit) {
        const Topology *t = c->t;
        char **held = NULL, **other = NULL;

        assert(c);

        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                if (!pci_device_is_endpoint(d) || !pred(t, d))
                        continue;
                if (strv_extend(device_is_held(d) ? &held : &other, d->slot) < 0) {
                        strv_free(held);
                        strv_free(other);
                        c->error = -ENOMEM;
                        return;
                }
        }
        if (other)
                emit(c, other, base);
        if (held)
                emit(c, held, base < SEVERITY_CRITICAL ? base + 1 : base);
}

static void check_no_iommu(Collector *c) {
        const Topology *t = c->t;
        const HostInfo *h = &t->host;
        const char *cause;

        assert(c);

        if (topology_has_iommu(t))
                return;

        cause = h->cmdline_iommu_off
                        ? "The kernel command line turns it off (iommu=off, intel_iommu=off or amd_iommu=off). "
                : topology_count_iommus(t, IOMMU_KIND_SELFTEST) > 0
                        ? "Only iommufd's self-test mock is registered under /sys/class/iommu; it translates nothing. "
                        : "No unit is registered under /sys/class/iommu and no device has an IOMMU group. ";
        add_finding(c, "no-iommu", SEVERITY_CRITICAL, endpoint_slots(t, NULL),
                    "No IOMMU is active: every device can read and write all of memory by DMA",
                    "Enable the IOMMU in the firmware setup (Intel VT-d / AMD-Vi, often called \"Virtualization "
                    "Technology for Directed I/O\" or \"IOMMU\"), boot with intel_iommu=on (Intel) and without "
                    "iommu=off, and check that the ACPI DMAR or IVRS table is present.",
                    "%sWithout an IOMMU there is no DMA isolation: a device can reach all of host memory, "
                    "interrupts cannot be remapped, and neither vfio nor iommufd can quarantine or assign devices "
                    "safely (only the unsafe no-IOMMU mode would work).",
                    cause);
}

/* A kernel without iommufd or the VFIO device cdev (Debian's, RHEL's): isolated holds devices through
 * VFIO's legacy group and container interface, which guarantees less. */
static void check_legacy_vfio(Collector *c) {
        const Topology *t = c->t;
        const HostInfo *h = &t->host;

        assert(c);

        if (!topology_has_iommu(t) || h->iommufd != TRISTATE_NO)
                return;
        add_finding(
                c, "legacy-vfio", SEVERITY_WARNING, NULL,
                "No iommufd: devices are quarantined through VFIO's legacy group and container interface",
                "Use a kernel built with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV (Linux 6.6 or newer) and "
                "load the iommufd module; isolated picks iommufd by itself where it exists.",
                "This kernel has no iommufd (CONFIG_IOMMUFD), so isolated holds a quarantined device's whole IOMMU group through "
                "/dev/vfio/N in a container of its own. What still holds: blocked mode claims the group's DMA "
                "ownership, which puts it on the kernel's blocking domain, and every DMA faults; scratch-page "
                "maps the zeroed page read-only through type1 (each 2 MiB of cover is a mapping of its own, "
                "pinned and counted as locked memory each time); the stored group files keep the quarantine "
                "across a crash of isolated. What is weaker: where the IOMMU driver has no blocking domain "
                "(VT-d and AMD-Vi on Linux 6.1) the kernel substitutes an empty paging domain, on which ATS "
                "stays enabled, so an ATS device may still use translations it cached; a group cannot go from "
                "scratch-page back to the blocking domain without a moment on its default domain, so it stays "
                "on an empty paging domain (status says \"paging-domain\"); isolated opens no device file, so "
                "bus mastering is cleared through sysfs (refused under kernel lockdown: status says "
                "\"bus-master\"), the device is not reset on entry, and vfio's device-request channel is not "
                "used.");
}

static bool in_no_group(const Topology *t, const PciDevice *d) {
        if (d->iommu_group >= 0)
                return false;
        /* virtio-iommu and the ARM SMMUs configure a device when a driver binds (dma_configure), so
         * an unbound device there has no group yet and gets one when vfio-pci binds. */
        if (!d->driver &&
            (topology_count_iommus(t, IOMMU_KIND_VIRTIO) > 0 || topology_count_iommus(t, IOMMU_KIND_ARM_SMMU) > 0))
                return false;
        return true;
}

static void emit_no_group(Collector *c, char **devices, Severity sev) {
        _cleanup_free_ char *list = join_slots(devices);
        add_finding(c, "no-iommu-group", sev, devices, "Devices outside every IOMMU group: their DMA is not translated",
                    "Check that the firmware's DMAR (Intel) or IVRS (AMD) table covers the slot, update the "
                    "firmware, or move the card to a slot that an IOMMU covers.",
                    "%s %s no /sys/bus/pci/devices/*/iommu_group link although an IOMMU is active. Such a "
                    "device is not behind any IOMMU: it can reach all of memory by DMA, vfio-pci will not bind "
                    "it and iommufd refuses it (ENODEV), so it can be neither quarantined nor assigned.",
                    list, strv_length(devices) == 1 ? "has" : "have");
}

static void check_no_group(Collector *c) {
        assert(c);

        if (topology_has_iommu(c->t))
                emit_split(c, in_no_group, SEVERITY_HIGH, emit_no_group);
}

static bool any_ir_capable_unit(const Topology *t, bool *ret_known_incapable) {
        bool capable = false, known = false;

        assert(t);
        assert(ret_known_incapable);

        FOREACH_ARRAY(u, t->iommus, t->n_iommus) {
                if (u->kind == IOMMU_KIND_AMD)
                        capable = true;
                if (u->kind == IOMMU_KIND_INTEL) {
                        known = true;
                        if (u->ecap & VTD_ECAP_IR)
                                capable = true;
                }
        }
        *ret_known_incapable = known && !capable;
        return capable || topology_count_iommus(t, IOMMU_KIND_AMD) > 0;
}

static bool interrupts_unsafe(const Topology *t, const PciDevice *d) {
        assert(d);

        return d->interrupts == INTERRUPTS_UNSAFE;
}

static void check_interrupts(Collector *c) {
        const Topology *t = c->t;
        const HostInfo *h = &t->host;
        bool x86_iommu = topology_count_iommus(t, IOMMU_KIND_INTEL) + topology_count_iommus(t, IOMMU_KIND_AMD) > 0;
        bool incapable = false;
        char **devices;

        assert(c);

        if (!topology_has_iommu(t))
                return; /* no-iommu says it all */

        (void) any_ir_capable_unit(t, &incapable);

        if (x86_iommu && (h->interrupt_remapping == TRISTATE_NO || h->cmdline_intremap_off || incapable)) {
                const char *evidence =
                        h->cmdline_intremap_off ? "the kernel command line has intremap=off"
                        : incapable
                                ? "the VT-d unit does not offer interrupt remapping (ecap bit 3 clear)"
                                : "/proc/interrupts shows MSIs and IO-APIC lines without the \"IR-\" prefix of remapped interrupts";
                add_finding(c, "interrupt-remapping-off", SEVERITY_CRITICAL, NULL,
                            "Interrupt remapping is off: any device can forge MSIs to any interrupt vector",
                            "Remove intremap=off from the kernel command line; enable \"Interrupt Remapping\" (and "
                            "x2APIC) in the firmware setup, whose DMAR table must set INTR_REMAP. Under QEMU: "
                            "-device intel-iommu,intremap=on with -machine kernel-irqchip=split.",
                            "An MSI is just a DMA write to the interrupt doorbell at 0xfeexxxxx. Without interrupt "
                            "remapping the IOMMU does not check it, so a device (or a guest driving it) can raise "
                            "any interrupt vector on any CPU. vfio and iommufd therefore refuse assignment unless "
                            "allow_unsafe_interrupts is set. Evidence: %s.",
                            evidence);
        }

        devices = endpoint_slots(t, interrupts_unsafe);
        if (devices) {
                _cleanup_free_ char *list = join_slots(devices);
                const char *why, *fix;

                if (topology_count_iommus(t, IOMMU_KIND_VIRTIO) > 0 && !x86_iommu && !h->arch_arm_its) {
                        why = "The IOMMU is virtio-iommu, which on x86 offers no interrupt remapping and no MSI "
                              "isolation.";
                        fix = "Use an IOMMU with interrupt remapping: under QEMU, -device intel-iommu,intremap=on "
                              "(with -machine kernel-irqchip=split) instead of virtio-iommu-pci.";
                } else if (h->arch_arm_gicv2m) {
                        why = "MSIs go through a GICv2m frame, which cannot tell devices apart.";
                        fix = "Use a platform with a GICv3 ITS for devices that are assigned or quarantined.";
                } else {
                        why = "Interrupt remapping is not active for them (see interrupt-remapping-off).";
                        fix = "Enable interrupt remapping (see interrupt-remapping-off).";
                }
                add_finding(
                        c, "msi-not-isolated", SEVERITY_CRITICAL, devices,
                        "MSIs are not isolated: iommufd and vfio refuse these devices unless unsafe interrupts are allowed",
                        fix,
                        "%s %s The kernel's MSI isolation check (iommu_group_has_isolated_msi) fails for %s, "
                        "so binding them to iommufd fails with EPERM unless "
                        "/sys/module/iommufd/parameters/allow_unsafe_interrupts is Y, and a device can then "
                        "forge interrupts.",
                        why, "A device without the MSI capability is no safer: any bus master can write the doorbell.",
                        list);
        }
}

static void check_parameters(Collector *c) {
        const HostInfo *h = &c->t->host;

        assert(c);

        if (h->vfio_noiommu == TRISTATE_YES)
                add_finding(
                        c, "vfio-noiommu", SEVERITY_CRITICAL, NULL,
                        "VFIO's no-IOMMU mode is enabled: devices can be handed to user space without any DMA isolation",
                        "echo N > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode, and remove "
                        "vfio.enable_unsafe_noiommu_mode=1 from the kernel command line and /etc/modprobe.d.",
                        "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode is Y. Devices bound to vfio "
                        "then appear as /dev/vfio/noiommu-N with no DMA translation and no host protection; "
                        "whoever opens one can read and write all of memory (the kernel taints itself).");

        if (h->iommufd_allow_unsafe_interrupts == TRISTATE_YES || h->type1_allow_unsafe_interrupts == TRISTATE_YES) {
                const char *which = h->iommufd_allow_unsafe_interrupts == TRISTATE_YES &&
                                                    h->type1_allow_unsafe_interrupts == TRISTATE_YES
                                            ? "iommufd and vfio_iommu_type1"
                                    : h->iommufd_allow_unsafe_interrupts == TRISTATE_YES ? "iommufd"
                                                                                         : "vfio_iommu_type1";
                add_finding(c, "allow-unsafe-interrupts", SEVERITY_HIGH, NULL,
                            "allow_unsafe_interrupts is set: devices without MSI isolation can be assigned",
                            "echo N > /sys/module/iommufd/parameters/allow_unsafe_interrupts (and "
                            "vfio_iommu_type1's), and remove the option from the kernel command line and "
                            "/etc/modprobe.d; fix the platform's interrupt remapping instead.",
                            "The %s module parameter allow_unsafe_interrupts is Y: the kernel's check that a device's "
                            "MSIs are isolated is only a warning, so a device assigned on a platform without "
                            "interrupt remapping can forge interrupts into the host.",
                            which);
        }

        if (h->cmdline_acs_override)
                add_finding(c, "acs-override", SEVERITY_HIGH, NULL,
                            "pcie_acs_override is set: IOMMU groups do not reflect real isolation",
                            "Remove pcie_acs_override= from the kernel command line; put devices that must be "
                            "separated in slots whose ports implement ACS.",
                            "The kernel command line has pcie_acs_override=%s (an out-of-tree patch). It makes the "
                            "kernel pretend that ports and functions implement ACS, so devices that can reach each "
                            "other by peer-to-peer DMA, without the IOMMU seeing it, end up in different groups.",
                            h->cmdline_acs_override);
}

static bool in_identity_group(const Topology *t, const PciDevice *d) {
        IommuGroup *g = d->iommu_group >= 0 ? topology_find_group(t, d->iommu_group) : NULL;

        assert(d);

        return g && g->type && streq(g->type, "identity");
}

static void emit_identity(Collector *c, char **devices, Severity sev) {
        _cleanup_free_ char *list = join_slots(devices);

        assert(c);

        add_finding(c, "identity-domain", sev, devices,
                    "Identity (passthrough) default domains: unowned devices can reach all of memory",
                    "Boot without iommu=pt and iommu.passthrough=1 (or with iommu.passthrough=0). isolated "
                    "switches the group of a device it quarantines to DMA (echo DMA > "
                    "/sys/kernel/iommu_groups/N/type while no driver is bound).",
                    "The IOMMU groups of %s have an identity default domain%s. A device in it that is bound to no "
                    "driver, bound to vfio-pci but not opened, or left behind when the process holding it exits "
                    "can DMA to all of host memory: exactly the window in which a torn-down guest's device may "
                    "still be doing DMA.",
                    list,
                    c->t->host.cmdline_iommu_pt ? " (the kernel command line has iommu=pt or iommu.passthrough=1)"
                                                : "");
}

static void check_identity(Collector *c) {
        emit_split(c, in_identity_group, SEVERITY_HIGH, emit_identity);
}

static size_t group_endpoints(const Topology *t, const IommuGroup *g) {
        size_t n = 0;

        assert(g);

        STRV_FOREACH(s, g->devices) {
                PciAddress a;
                const PciDevice *d;
                if (pci_address_parse_full(*s, &a) < 0)
                        continue;
                d = topology_find_device(t, &a);
                if (!d || pci_device_is_endpoint(d))
                        n++;
        }
        return n;
}

static void check_groups(Collector *c) {
        const Topology *t = c->t;

        assert(c);

        FOREACH_ARRAY(g, t->groups, t->n_groups) {
                _cleanup_free_ char *list = NULL;
                char **devices;
                bool behind_pci_bridge = false;

                if (group_endpoints(t, g) < 2)
                        continue;
                devices = strv_copy(g->devices);
                if (!devices) {
                        c->error = -ENOMEM;
                        return;
                }
                list = join_slots(devices);
                STRV_FOREACH(s, g->devices) {
                        PciAddress a;
                        const PciDevice *d;
                        if (pci_address_parse_full(*s, &a) < 0 || !(d = topology_find_device(t, &a)))
                                continue;
                        if (d->pcie_type == PCI_EXP_TYPE_PCI_BRIDGE ||
                            (pci_device_is_bridge(d) && d->pcie_type == PCIE_TYPE_NONE))
                                behind_pci_bridge = true;
                }
                add_finding(c, "multi-device-group", raise_if_held(t, SEVERITY_WARNING, devices), devices,
                            "Several devices share one IOMMU group: they can only be isolated together",
                            "Quarantine or assign the whole group together; for separate isolation, move the cards "
                            "to slots whose root or downstream ports implement ACS, and avoid conventional PCI "
                            "bridges.",
                            "IOMMU group %d holds %s. The IOMMU cannot tell these devices' DMA apart (%s), so the "
                            "kernel only hands out the group as a whole: isolated takes all of them into quarantine "
                            "or none, and a guest that gets one of them must get all of them.",
                            g->id, list,
                            behind_pci_bridge ? "they sit behind a PCIe-to-PCI bridge that aliases their requester IDs"
                                              : "missing ACS or functions of one multi-function device");
        }
}

#define ACS_NEEDED (PCI_ACS_CTRL_VALID | PCI_ACS_CTRL_REQ_RED | PCI_ACS_CTRL_CMPLT_RED | PCI_ACS_CTRL_FORWARD)

static bool port_lacks_acs(const PciDevice *port) {
        assert(port);

        if (port->pcie_type != PCI_EXP_TYPE_ROOT_PORT && port->pcie_type != PCI_EXP_TYPE_DOWNSTREAM)
                return false;
        if (port->config_size < 4096)
                return false; /* extended capabilities unknown */
        return !(port->has_acs && (port->acs_ctrl & ACS_NEEDED) == ACS_NEEDED);
}

static void check_acs(Collector *c) {
        const Topology *t = c->t;
        char ***below = NULL;
        bool *has_endpoint = NULL;

        assert(c);

        /* One pass over every device's parents instead of one pass over all devices per port. */
        below = calloc(t->n_devices ?: 1, sizeof(char **));
        has_endpoint = calloc(t->n_devices ?: 1, sizeof(bool));
        if (!below || !has_endpoint) {
                c->error = -ENOMEM;
                goto finish;
        }
        FOREACH_ARRAY(d, t->devices, t->n_devices)
                STRV_FOREACH(p, d->parents) {
                        PciAddress a;
                        const PciDevice *port;
                        if (pci_address_parse_full(*p, &a) < 0 || !(port = topology_find_device(t, &a)) ||
                            !port_lacks_acs(port))
                                continue;
                        size_t i = (size_t) (port - t->devices);
                        if (strv_extend(&below[i], d->slot) < 0) {
                                c->error = -ENOMEM;
                                goto finish;
                        }
                        if (pci_device_is_endpoint(d))
                                has_endpoint[i] = true;
                }

        FOREACH_ARRAY(port, t->devices, t->n_devices) {
                _cleanup_free_ char *list = NULL;
                size_t i = (size_t) (port - t->devices), n;
                char **devices;

                if (!port_lacks_acs(port) || !has_endpoint[i])
                        continue;
                n = strv_length(below[i]);
                devices = calloc(n + 2, sizeof(char *));
                if (!devices || !(devices[0] = strdup(port->slot))) {
                        free(devices);
                        c->error = -ENOMEM;
                        goto finish;
                }
                memcpy(devices + 1, below[i], n * sizeof(char *));
                free(below[i]);
                below[i] = NULL;
                list = join_slots(devices + 1);
                add_finding(
                        c, "acs-missing", raise_if_held(t, SEVERITY_WARNING, devices), devices,
                        "A PCIe port without ACS: devices below it can talk peer-to-peer past the IOMMU",
                        "Use slots below ports that implement ACS (most CPU root ports do; many chipset and "
                        "switch ports do not), or treat everything below the port as one unit.",
                        "%s %s %s (%s below it). Without ACS source validation and request/completion "
                        "redirection, a request from one device below the port can be routed to another "
                        "device's BAR without passing the IOMMU, so those devices are not isolated from each "
                        "other.",
                        port->pcie_type == PCI_EXP_TYPE_ROOT_PORT ? "Root port" : "Downstream port", port->slot,
                        port->has_acs
                                ? "has ACS but does not enable source validation, request redirect, completion redirect and upstream forwarding"
                                : "has no ACS capability",
                        list);
        }

        /* Functions of one multi-function PCIe device without ACS can reach each other. The devices
         * are sorted by address, so the functions of a slot follow its function 0. */
        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                char **devices = NULL;
                _cleanup_free_ char *list = NULL;

                if (d->address.func != 0 || !d->multifunction || d->pcie_type == PCIE_TYPE_NONE ||
                    d->pcie_type == PCI_EXP_TYPE_ROOT_INT_EP || d->config_size < 4096 || !pci_device_is_endpoint(d))
                        continue;
                for (const PciDevice *e = d; e < t->devices + t->n_devices; e++) {
                        if (e->address.domain != d->address.domain || e->address.bus != d->address.bus ||
                            e->address.slot != d->address.slot)
                                break;
                        if (!e->has_acs && pci_device_is_endpoint(e) && strv_extend(&devices, e->slot) < 0) {
                                strv_free(devices);
                                c->error = -ENOMEM;
                                goto finish;
                        }
                }
                if (strv_length(devices) < 2) {
                        strv_free(devices);
                        continue;
                }
                list = join_slots(devices);
                add_finding(c, "acs-missing", raise_if_held(t, SEVERITY_WARNING, devices), devices,
                            "Functions of a multi-function device without ACS can talk to each other past the IOMMU",
                            "Treat the functions as one unit (the kernel groups them together), or use a device "
                            "that implements ACS on each function.",
                            "The functions %s belong to one multi-function PCIe device and do not implement ACS, "
                            "so one function may reach another by peer-to-peer DMA inside the device.",
                            list);
        }

finish:
        if (below)
                for (size_t i = 0; i < t->n_devices; i++)
                        strv_free(below[i]);
        free(below);
        free(has_endpoint);
}

static bool has_ats_enabled(const Topology *t, const PciDevice *d) {
        assert(d);

        return d->ats_enabled;
}

static bool is_removable(const Topology *t, const PciDevice *d) {
        assert(d);

        return d->removable == TRISTATE_YES;
}

static bool cannot_reset(const Topology *t, const PciDevice *d) {
        assert(d);

        return d->can_reset == TRISTATE_NO;
}

static void emit_ats(Collector *c, char **devices, Severity sev) {
        _cleanup_free_ char *list = join_slots(devices);
        add_finding(c, "ats-enabled", sev, devices, "ATS is enabled: the device caches IOMMU translations",
                    "Boot with pci=noats where devices are not trusted, and reset devices before they "
                    "change owners. Keep such devices in blocked quarantine; allow scratch-page for one "
                    "only with \"ats\": \"accept\" in its policy rule.",
                    "%s %s Address Translation Services enabled. The device keeps its own cache of "
                    "translations and may send pre-translated requests, which the IOMMU does not check. "
                    "isolate's blocked mode is the kernel's blocking domain, which turns ATS off; "
                    "scratch-page mode needs a paging domain, and attaching any paging domain (even an "
                    "empty one) turns ATS on again, so isolated refuses scratch-page for a device with an "
                    "ATS capability unless its rule accepts it. Translations cached before quarantine must "
                    "be invalidated, and a malicious device could ignore that.",
                    list, strv_length(devices) == 1 ? "has" : "have");
}

static void emit_untrusted(Collector *c, char **devices, Severity sev) {
        _cleanup_free_ char *list = join_slots(devices);
        bool one = strv_length(devices) == 1;
        add_finding(c, "untrusted-port", sev, devices,
                    "Devices below an external-facing port (hot-plug, Thunderbolt/USB4)",
                    "Keep kernel DMA protection on for external ports (do not boot with iommu=pt or "
                    "disable the IOMMU) and do not allow passthrough of devices you do not know.",
                    "%s %s below a port the firmware marks external-facing (sysfs \"removable\"): the "
                    "kernel treats %s as untrusted, since anyone with physical access can plug in a "
                    "device that attacks by DMA.",
                    list, one ? "sits" : "sit", one ? "it" : "them");
}

static void emit_no_reset(Collector *c, char **devices, Severity sev) {
        _cleanup_free_ char *list = join_slots(devices);
        add_finding(c, "no-reset-method", sev, devices,
                    "Devices the kernel cannot reset: state survives a change of owner",
                    "Prefer devices with Function Level Reset for assignment; a device alone below a "
                    "bridge may still be reset with a secondary bus reset.",
                    "%s %s no reset method (no FLR, power-management or bus reset in "
                    "/sys/bus/pci/devices/*/reset_method). Whatever a previous owner left running in "
                    "the device (programmed DMA engines, firmware state, secrets in device memory) "
                    "survives quarantine and release.",
                    list, strv_length(devices) == 1 ? "has" : "have");
}

static void check_device_properties(Collector *c) {
        emit_split(c, has_ats_enabled, SEVERITY_INFO, emit_ats);
        emit_split(c, is_removable, SEVERITY_INFO, emit_untrusted);
        emit_split(c, cannot_reset, SEVERITY_WARNING, emit_no_reset);
}

static void check_faults(Collector *c, const FaultCounts *faults) {
        const Topology *t = c->t;

        assert(c);

        if (!faults)
                return;
        FOREACH_ARRAY(fc, faults->items, faults->n) {
                _cleanup_free_ char *subject = NULL;
                char slot[PCI_ADDRESS_MAX];
                char **devices = NULL;
                char iova[40] = "";
                unsigned dma = fc->reads + fc->writes + fc->other;
                int kind;

                if (dma == 0 && fc->interrupts == 0)
                        continue;
                kind = dma_fault_attribute_iommu(t, &fc->address, fc->has_domain, fc->iommu, &devices);
                if (kind >= 0 && !devices)
                        kind = strv_extend(&devices, pci_address_format(&fc->address, slot));
                if (kind < 0) {
                        c->error = kind;
                        return;
                }
                if (kind == DMA_FAULT_BRIDGE_ALIAS) {
                        _cleanup_free_ char *list = join_slots(devices);
                        if (!list || asprintf(&subject, "One of %s", list) < 0) {
                                subject = NULL;
                                strv_free(devices);
                                c->error = -ENOMEM;
                                return;
                        }
                }
                if (fc->has_iova)
                        snprintf(iova, sizeof(iova), ", last at IOVA 0x%" PRIx64, fc->last_iova);
                add_finding(
                        c, "dma-faults", SEVERITY_HIGH, devices,
                        kind == DMA_FAULT_BRIDGE_ALIAS
                                ? "The kernel log has IOMMU faults from behind a bridge: one of these devices is still doing DMA"
                                : "The kernel log has IOMMU faults from this device: it is still doing DMA",
                        "Keep the device quarantined, find out what the previous driver or guest left "
                        "running, and reset it before anyone else gets it.",
                        "%s caused %u DMA fault%s (%u read, %u write%s)%s and %u interrupt-remapping fault%s; last "
                        "reason: %s.%s%s",
                        subject ?: devices[0], dma, dma == 1 ? "" : "s", fc->reads, fc->writes,
                        fc->other ? ", some of unknown direction" : "", iova, fc->interrupts,
                        fc->interrupts == 1 ? "" : "s", fc->last_reason[0] ? fc->last_reason : "unknown",
                        subject ? " The faults came through a bridge's alias: their requester ID is the one a "
                                  "PCIe-to-PCI bridge puts on the requests of every device behind it, so the "
                                  "IOMMU cannot tell these devices apart."
                                : "",
                        faults->suppressed ? " The kernel dropped some fault reports (rate limit), so the real "
                                             "count is higher."
                                           : "");
        }
}

static int finding_cmp(const void *a, const void *b) {
        const Finding *x = a, *y = b;
        if (x->severity != y->severity)
                return x->severity > y->severity ? -1 : 1;
        return strcmp(x->id, y->id);
}

int findings_collect(const Topology *t, const FaultCounts *faults, Findings *ret) {
        Findings f = {};
        Collector c = { .t = t, .f = &f };

        check_no_iommu(&c);
        check_legacy_vfio(&c);
        check_no_group(&c);
        check_interrupts(&c);
        check_parameters(&c);
        check_identity(&c);
        check_groups(&c);
        check_acs(&c);
        check_device_properties(&c);
        check_faults(&c, faults);

        if (c.error < 0) {
                findings_done(&f);
                return c.error;
        }
        if (f.n > 1)
                qsort(f.items, f.n, sizeof(Finding), finding_cmp);
        *ret = f;
        return 0;
}

void findings_done(Findings *f) {
        FOREACH_ARRAY(x, f->items, f->n) {
                strv_free(x->devices);
                free(x->summary);
                free(x->detail);
                free(x->fix);
        }
        free(f->items);
        *f = (Findings) {};
}

static bool selected(const char *slot, const PciAddress *devices, size_t n) {
        PciAddress a;

        assert(devices);

        if (pci_address_parse_full(slot, &a) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (pci_address_equal(&a, &devices[i]))
                        return true;
        return false;
}

void findings_filter(Findings *f, const PciAddress *devices, size_t n_devices) {
        size_t k = 0;

        for (size_t i = 0; i < f->n; i++) {
                Finding *x = &f->items[i];
                bool keep = !x->devices;
                size_t w = 0;

                for (size_t j = 0; x->devices && x->devices[j]; j++) {
                        if (selected(x->devices[j], devices, n_devices)) {
                                x->devices[w++] = x->devices[j];
                                keep = true;
                        } else
                                free(x->devices[j]);
                }
                if (x->devices)
                        x->devices[w] = NULL;
                if (keep)
                        f->items[k++] = *x;
                else {
                        strv_free(x->devices);
                        free(x->summary);
                        free(x->detail);
                        free(x->fix);
                }
        }
        f->n = k;
}

Severity findings_max_severity(const Findings *f) {
        Severity m = _SEVERITY_INVALID;
        FOREACH_ARRAY(x, f->items, f->n)
                if ((int) x->severity > (int) m)
                        m = x->severity;
        return m;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static json_object *strv_to_json(char *const *l) {
        json_object *a = json_object_new_array();
        STRV_FOREACH(s, l)
                json_object_array_add(a, json_object_new_string(*s));
        return a;
}

int finding_to_json(const Finding *f, json_object **ret) {
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "id", json_object_new_string(f->id));
        json_object_object_add(o, "severity", json_object_new_string(severity_to_string(f->severity)));
        json_object_object_add(o, "devices", strv_to_json(f->devices));
        json_object_object_add(o, "summary", json_object_new_string(f->summary));
        json_object_object_add(o, "detail", json_object_new_string(f->detail));
        json_object_object_add(o, "fix", json_object_new_string(f->fix));
        *ret = o;
        return 0;
}

static json_object *hex_json(unsigned width, uint64_t v) {
        char buf[24];
        snprintf(buf, sizeof(buf), "%0*" PRIx64, (int) width, v);
        return json_object_new_string(buf);
}

static json_object *tristate_json(Tristate t) {
        return t == TRISTATE_UNKNOWN ? NULL : json_object_new_boolean(t == TRISTATE_YES);
}

int device_to_json(const Topology *t, const PciDevice *d, json_object **ret) {
        json_object *o = json_object_new_object();
        IommuGroup *g = d->iommu_group >= 0 ? topology_find_group(t, d->iommu_group) : NULL;

        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "slot", json_object_new_string(d->slot));
        json_object_object_add(o, "vendor", hex_json(4, d->vendor));
        json_object_object_add(o, "device", hex_json(4, d->device));
        json_object_object_add(o, "subsystem_vendor", hex_json(4, d->subsystem_vendor));
        json_object_object_add(o, "subsystem_device", hex_json(4, d->subsystem_device));
        json_object_object_add(o, "class", hex_json(6, d->class));
        json_object_object_add(o, "driver", d->driver ? json_object_new_string(d->driver) : NULL);
        json_object_object_add(o, "iommu_group", d->iommu_group >= 0 ? json_object_new_int(d->iommu_group) : NULL);
        json_object_object_add(o, "group_devices", g ? strv_to_json(g->devices) : json_object_new_array());
        json_object_object_add(o, "default_domain", g && g->type ? json_object_new_string(g->type) : NULL);
        json_object_object_add(o, "interrupts", json_object_new_string(interrupt_safety_to_string(d->interrupts)));
        json_object_object_add(o, "parents", strv_to_json(d->parents));
        json_object_object_add(o, "reset_methods", d->reset_methods ? strv_to_json(d->reset_methods) : NULL);
        json_object_object_add(o, "can_reset", tristate_json(d->can_reset));
        json_object_object_add(o, "vfio_device", d->vfio_dev ? json_object_new_string(d->vfio_dev) : NULL);
        if (d->config_size >= 4096) {
                json_object_object_add(o, "acs", d->has_acs ? hex_json(4, d->acs_ctrl) : NULL);
                json_object_object_add(o, "ats_enabled", json_object_new_boolean(d->ats_enabled));
        }
        json_object_object_add(o, "removable", tristate_json(d->removable));
        *ret = o;
        return 0;
}

static const char *tristate_word(Tristate t, const char *yes, const char *no) {
        return t == TRISTATE_YES ? yes : t == TRISTATE_NO ? no : "unknown";
}

static json_object *host_to_json(const Topology *t) {
        const HostInfo *h = &t->host;
        json_object *o = json_object_new_object(), *units = json_object_new_array(), *params = json_object_new_object(),
                    *cmd = json_object_new_object();

        assert(t);

        json_object_object_add(o, "kernel", h->kernel_release ? json_object_new_string(h->kernel_release) : NULL);
        json_object_object_add(o, "cmdline", h->cmdline ? json_object_new_string(h->cmdline) : NULL);
        json_object_object_add(o, "iommu", json_object_new_boolean(topology_has_iommu(t)));
        FOREACH_ARRAY(u, t->iommus, t->n_iommus) {
                json_object *j = json_object_new_object();
                json_object_object_add(j, "name", json_object_new_string(u->name));
                json_object_object_add(j, "type", json_object_new_string(iommu_kind_to_string(u->kind)));
                if (u->has_regs) {
                        json_object_object_add(j, "cap", hex_json(16, u->cap));
                        json_object_object_add(j, "ecap", hex_json(16, u->ecap));
                }
                json_object_array_add(units, j);
        }
        json_object_object_add(o, "iommus", units);
        json_object_object_add(o, "interrupt_remapping",
                               json_object_new_string(tristate_word(h->interrupt_remapping, "enabled", "disabled")));
        json_object_object_add(o, "interrupt_evidence",
                               h->interrupt_evidence ? json_object_new_string(h->interrupt_evidence) : NULL);
        json_object_object_add(params, "iommufd.allow_unsafe_interrupts",
                               tristate_json(h->iommufd_allow_unsafe_interrupts));
        json_object_object_add(params, "vfio_iommu_type1.allow_unsafe_interrupts",
                               tristate_json(h->type1_allow_unsafe_interrupts));
        json_object_object_add(params, "vfio.enable_unsafe_noiommu_mode", tristate_json(h->vfio_noiommu));
        json_object_object_add(o, "parameters", params);
        json_object_object_add(cmd, "iommu_passthrough", json_object_new_boolean(h->cmdline_iommu_pt));
        json_object_object_add(cmd, "iommu_off", json_object_new_boolean(h->cmdline_iommu_off));
        json_object_object_add(cmd, "intremap_off", json_object_new_boolean(h->cmdline_intremap_off));
        json_object_object_add(cmd, "lazy_invalidation", json_object_new_boolean(h->cmdline_lazy));
        json_object_object_add(cmd, "pcie_acs_override",
                               h->cmdline_acs_override ? json_object_new_string(h->cmdline_acs_override) : NULL);
        json_object_object_add(o, "cmdline_switches", cmd);
        return o;
}

int audit_to_json(const Topology *t, const Findings *f, const PciAddress *devices, size_t n_devices,
                  json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *devs = json_object_new_array(),
                                                *fs = json_object_new_array();
        int r;

        if (!o || !devs || !fs)
                return -ENOMEM;
        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(o, "host", host_to_json(t));
        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                json_object *j;
                if (devices && !selected(d->slot, devices, n_devices))
                        continue;
                r = device_to_json(t, d, &j);
                if (r < 0)
                        return r;
                json_object_array_add(devs, j);
        }
        json_object_object_add(o, "devices", TAKE_PTR(devs));
        FOREACH_ARRAY(x, f->items, f->n) {
                json_object *j;
                r = finding_to_json(x, &j);
                if (r < 0)
                        return r;
                json_object_array_add(fs, j);
        }
        json_object_object_add(o, "findings", TAKE_PTR(fs));
        *ret = TAKE_PTR(o);
        return 0;
}
