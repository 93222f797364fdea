/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommufd.h"

/* The scratch-page quarantine: one zeroed page, mapped read-only into an IOAS over a bounded IOVA range
 * (the "cover"), so that a quarantined device's reads return zeros and its writes fault. Linux's IOMMU
 * page tables cannot alias one table many times as Xen's do, so the cover costs one leaf entry per
 * page: the scratch is one 2 MiB hugetlb page (2 MiB leaves), mapped once with IOMMU_IOAS_MAP and
 * replicated by doubling with IOMMU_IOAS_COPY (O(log n) ioctls, one pinned page shared by every
 * device). Without a free hugepage it falls back to one base page of the kernel (scratch_page_size():
 * 4 KiB on x86, 4, 16 or 64 KiB on arm64) and a cover of at most SCRATCH_SMALL_MAX_COVER. Reserved
 * IOVA ranges (the MSI window) are left out. */

#define SCRATCH_HUGE_SIZE (UINT64_C(2) << 20)
/* x86's base page, the smallest Linux has: what scratch_page_size() falls back to. The fallback page is
 * the running kernel's base page, never assumed to be this. */
#define SCRATCH_SMALL_SIZE (UINT64_C(4) << 10)
/* 4096 leaves of a 4 KiB fallback page (256 of a 64 KiB one), the same map work as a 8 GiB cover of huge
 * pages: a larger cover of base pages costs the kernel (and an emulated IOMMU: tens of seconds for
 * 256 MiB under QEMU) too much. */
#define SCRATCH_SMALL_MAX_COVER (UINT64_C(16) << 20)

typedef enum ScratchStepKind {
        SCRATCH_STEP_MAP,
        SCRATCH_STEP_COPY,
} ScratchStepKind;

typedef struct ScratchStep {
        ScratchStepKind kind;
        uint64_t dst; /* IOVA to fill */
        uint64_t src; /* COPY: IOVA to copy from */
        uint64_t length;
} ScratchStep;

/* The kernel's base page size (sysconf(_SC_PAGESIZE)): the fallback scratch page, and the IOVA
 * alignment where the IOAS gives none. */
uint64_t scratch_page_size(void);

/* Plans how to cover [from, to) ∩ allowed with a scratch of `granule` bytes (a power of two), at IOVAs
 * aligned to the kernel's page size (scratch_page_size()).
 * *source is the IOVA where the scratch is already mapped (UINT64_MAX: not yet; then the plan starts
 * with a MAP at the first granule-aligned place that fits, and *source is set). Pure: no ioctls. */
int scratch_plan(uint64_t from, uint64_t to, const IovaRange *allowed, size_t n_allowed, uint64_t granule,
                 uint64_t *source, ScratchStep **ret_steps, size_t *ret_n);
/* The same with the IOVA alignment the IOAS requires (IOMMU_IOAS_IOVA_RANGES' out_iova_alignment: the
 * IOMMU's smallest page, 64 KiB on some arm64 hosts) instead of the kernel's page size (alignment 0);
 * granule must be a multiple. */
int scratch_plan_aligned(uint64_t from, uint64_t to, const IovaRange *allowed, size_t n_allowed, uint64_t granule,
                         uint64_t alignment, uint64_t *source, ScratchStep **ret_steps, size_t *ret_n);

/* Removes [start, last] from a set of ranges (for reserved regions known from sysfs). */
int iova_ranges_subtract(IovaRange **ranges, size_t *n, uint64_t start, uint64_t last);

typedef struct Scratch {
        int memfd; /* the backing: kept (and put in the fd store) so a restarted daemon can re-zero it */
        void *va;
        uint64_t size; /* SCRATCH_HUGE_SIZE or scratch_page_size() */
        bool huge;
        uint32_t ioas;      /* 0: no IOAS yet */
        uint64_t source;    /* IOVA of the MAP'ed copy; UINT64_MAX: none */
        uint64_t covered;   /* [0, covered) is covered (minus reserved ranges) */
        uint64_t alignment; /* the IOAS's IOVA alignment (0: the kernel's page size), set before extending */
        /* Called now and then while a large cover is built (the daemon tells its watchdog it is alive).
         * May be NULL. */
        void (*keepalive)(void *userdata);
        void *keepalive_userdata;
        size_t ioctls; /* MAP + COPY ioctls issued so far */
} Scratch;

#define SCRATCH_INIT                                                                                                   \
        { .memfd = -EBADF, .source = UINT64_MAX }

/* Allocates the backing page: a 2 MiB hugetlb memfd, or one of the kernel's base page size
 * (scratch_page_size()) when no hugepage can be had (force_small skips the hugepage attempt). Zeroed. */
int scratch_alloc(Scratch *s, bool force_small);
/* Re-maps a backing memfd inherited from an earlier process (daemon restart). */
int scratch_adopt(Scratch *s, int memfd, bool huge);
void scratch_zero(Scratch *s);
/* Covers [s->covered, cover) ∩ allowed in s->ioas through fd. The largest cover the fallback page
 * allows is SCRATCH_SMALL_MAX_COVER; a larger request is cut there (the cut is reported in
 * s->covered). */
int scratch_extend(Scratch *s, int iommufd, uint64_t cover, const IovaRange *allowed, size_t n_allowed);
/* Unmaps and closes (the IOAS itself is the caller's). */
void scratch_release(Scratch *s);
