/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "pci-address.h"
#include "topology.h"

/* What a DMA fault's requester ID stands for. The IOMMU reports the requester ID it saw on the bus,
 * which is not always a device of the topology:
 *
 *   - Intel's DMAR lines print bus:dev.fn without the PCI segment (has_domain false): the requester is
 *     the function with that bus:dev.fn in domain 0 if there is one, else the one function with that
 *     bus:dev.fn in any domain; several in other domains and none in domain 0 is ambiguous.
 *   - A PCIe-to-PCI bridge (and a conventional PCI bridge, or a bridge whose PCIe type is unknown)
 *     takes over the requests of every device behind it with its own alias: its secondary bus, devfn
 *     00.0. A requester that is no function but such an alias stands for every device below the
 *     bridge (all of its subtree, in topology order), since the IOMMU cannot tell them apart. Without
 *     a domain, the bridge is looked for as functions are: domain 0 first, else the one such bridge.
 *
 * A function's own address always means that function, also at 00.0 behind such a bridge (where it
 * could be the alias too): so slots that were attributed once (the daemon's per-device counts, given
 * back to the audit with their domain) are attributed to themselves again.
 *
 * This is the one rule for the daemon's fault counts and the audit's dma-faults finding. */

typedef enum DmaFaultAttribution {
        DMA_FAULT_UNATTRIBUTED = 0, /* no device of the topology (a device that went away, a stale log) */
        DMA_FAULT_FUNCTION = 1,     /* the requester is the function itself */
        DMA_FAULT_BRIDGE_ALIAS = 2, /* the requester is a bridge's alias: every device behind it */
} DmaFaultAttribution;

/* Attributes a fault from requester (has_domain false: only bus:dev.fn is known, requester->domain is
 * ignored) to the devices of t. On success *ret_slots is the list of slots (PciDevice.slot) the fault
 * counts for, NULL when it cannot be attributed, and the return value says how (DmaFaultAttribution:
 * 0 unattributed, > 0 attributed). -ENOMEM on allocation failure (*ret_slots untouched). */
int dma_fault_attribute(const Topology *t, const PciAddress *requester, bool has_domain, char ***ret_slots);

/* The same for a fault that names the IOMMU instance that logged it (DmaFault.iommu: "dmar1",
 * "arm-smmu-v3.0.auto"; NULL or "" for none). A requester without its segment gets the segment of the
 * devices behind that unit (topology_iommu_segment()), so that on a host with several segments a
 * VT-d or SMMUv3 fault is never taken for segment 0's function when the unit says otherwise. When the
 * topology cannot say (no such unit, no device links, a unit spanning segments) this is
 * dma_fault_attribute(). */
int dma_fault_attribute_iommu(const Topology *t, const PciAddress *requester, bool has_domain, const char *iommu,
                              char ***ret_slots);
