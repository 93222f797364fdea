/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "fault-attribution.h"
#include "strv.h"

static bool same_bdf(const PciAddress *a, const PciAddress *b) {
        assert(a);
        assert(b);

        return a->bus == b->bus && a->slot == b->slot && a->func == b->func;
}

/* The function a requester names (see the header: domain 0 first, else the unique match). */
static const PciDevice *find_function(const Topology *t, const PciAddress *requester, bool has_domain) {
        const PciDevice *found = NULL;
        PciAddress a = *requester;

        assert(t);
        assert(requester);

        if (has_domain)
                return topology_find_device(t, &a);
        a.domain = 0;
        found = topology_find_device(t, &a);
        if (found)
                return found;
        FOREACH_ARRAY(d, t->devices, t->n_devices)
                if (same_bdf(&d->address, &a)) {
                        if (found)
                                return NULL; /* ambiguous */
                        found = d;
                }
        return found;
}

/* A bridge that puts its alias (secondary bus, 00.0) on the requests of the devices behind it: PCIe-to-PCI
 * (pci_for_each_dma_alias's PCI_EXP_TYPE_PCI_BRIDGE), conventional PCI, or of unknown PCIe type. */
static bool is_aliasing_bridge(const PciDevice *b) {
        assert(b);

        return pci_device_is_bridge(b) && (b->pcie_type == PCI_EXP_TYPE_PCI_BRIDGE || b->pcie_type == PCIE_TYPE_NONE);
}

/* The bridge whose alias the requester is: a device on the requester's bus whose nearest upstream
 * bridge aliases. Same domain rule as for functions. */
static const PciDevice *find_alias_bridge(const Topology *t, const PciAddress *requester, bool has_domain) {
        const PciDevice *zero = NULL, *other = NULL;
        bool other_unique = true;

        assert(t);
        assert(requester);

        if (requester->slot != 0 || requester->func != 0)
                return NULL;
        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                const PciDevice *b;
                PciAddress pa;

                if (d->address.bus != requester->bus || !d->parents || !d->parents[0] ||
                    pci_address_parse_full(d->parents[0], &pa) < 0 || pa.domain != d->address.domain)
                        continue;
                if (has_domain && d->address.domain != requester->domain)
                        continue;
                b = topology_find_device(t, &pa);
                if (!b || !is_aliasing_bridge(b))
                        continue;
                if (has_domain || b->address.domain == 0)
                        zero = b; /* one bus number per domain: one bridge */
                else {
                        if (other && other != b)
                                other_unique = false;
                        other = b;
                }
        }
        return zero ?: other_unique ? other : NULL;
}

int dma_fault_attribute(const Topology *t, const PciAddress *requester, bool has_domain, char ***ret_slots) {
        _cleanup_strv_free_ char **l = NULL;
        const PciDevice *found, *bridge;
        int r;

        assert(t);
        assert(requester);
        assert(ret_slots);

        found = find_function(t, requester, has_domain);
        if (found) {
                r = strv_extend(&l, found->slot);
                if (r < 0)
                        return r;
                *ret_slots = TAKE_PTR(l);
                return DMA_FAULT_FUNCTION;
        }

        bridge = find_alias_bridge(t, requester, has_domain);
        if (!bridge) {
                *ret_slots = NULL;
                return DMA_FAULT_UNATTRIBUTED;
        }
        FOREACH_ARRAY(d, t->devices, t->n_devices)
                if (strv_contains(d->parents, bridge->slot)) {
                        r = strv_extend(&l, d->slot);
                        if (r < 0)
                                return r;
                }
        *ret_slots = TAKE_PTR(l); /* not empty: a device on the requester's bus led to the bridge */
        return DMA_FAULT_BRIDGE_ALIAS;
}

int dma_fault_attribute_iommu(const Topology *t, const PciAddress *requester, bool has_domain, const char *iommu,
                              char ***ret_slots) {
        PciAddress a;
        uint32_t domain;

        assert(t);
        assert(requester);
        assert(ret_slots);

        if (has_domain || topology_iommu_segment(t, iommu, &domain) <= 0)
                return dma_fault_attribute(t, requester, has_domain, ret_slots);
        a = *requester;
        a.domain = domain;
        return dma_fault_attribute(t, &a, true, ret_slots);
}
