/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "macro.h"
#include "topology.h"

/* Topology and interrupt-safety findings (`isolatectl audit`, the daemon's Audit()). Each finding
 * has a stable kebab-case id, a severity, the devices it concerns (none for host-wide ones), a
 * one-line summary, a detail that explains the risk and a fix. */

typedef enum Severity {
        SEVERITY_INFO,
        SEVERITY_WARNING,
        SEVERITY_HIGH,
        SEVERITY_CRITICAL,
        _SEVERITY_MAX,
        _SEVERITY_INVALID = -EINVAL,
} Severity;

const char *severity_to_string(Severity s);
Severity severity_from_string(const char *s);

typedef struct Finding {
        const char *id; /* static */
        Severity severity;
        char **devices; /* slots; NULL: the whole host */
        char *summary;
        char *detail;
        char *fix;
} Finding;

typedef struct Findings {
        Finding *items;
        size_t n, n_allocated;
} Findings;

/* DMA faults seen in the kernel log, per requester. */
typedef struct FaultCount {
        PciAddress address;
        bool has_domain; /* Intel's DMAR lines print bus:dev.fn without the PCI segment */
        char iommu[64];  /* the IOMMU instance that logged them (DmaFault.iommu), "" if not named */
        unsigned reads, writes, other, interrupts;
        uint64_t last_iova;
        bool has_iova;
        char last_reason[128];
} FaultCount;

typedef struct FaultCounts {
        FaultCount *items;
        size_t n, n_allocated;
        bool suppressed; /* the kernel said it dropped reports: counts are a lower bound */
} FaultCounts;

void fault_counts_done(FaultCounts *f);
/* Finds or adds the entry for a requester. */
FaultCount *fault_counts_get(FaultCounts *f, const PciAddress *a, bool has_domain);
/* Reads ROOT/dev/kmsg (the live log, or a snapshot's copy) and counts DMA faults per requester.
 * -ENOENT/-EACCES when there is no readable log. */
int fault_counts_from_kmsg(const char *root, FaultCounts *ret);
/* Which devices a fault entry belongs to: dma_fault_attribute() (fault-attribution.h). */

/* Computes every finding for the topology. faults may be NULL. */
int findings_collect(const Topology *t, const FaultCounts *faults, Findings *ret);
void findings_done(Findings *f);

/* Keeps only findings that concern one of the given devices (and host-wide ones), and drops other
 * devices from their device lists. */
void findings_filter(Findings *f, const PciAddress *devices, size_t n_devices);

Severity findings_max_severity(const Findings *f);

int finding_to_json(const Finding *f, json_object **ret);
/* The `audit --json` document: {"version": 1, "host": {...}, "devices": [...], "findings": [...]}.
 * devices filters the device list (NULL: all). */
int audit_to_json(const Topology *t, const Findings *f, const PciAddress *devices, size_t n_devices, json_object **ret);
int device_to_json(const Topology *t, const PciDevice *d, json_object **ret);
