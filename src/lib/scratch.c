/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/memfd.h>

#include "fileio.h"
#include "macro.h"
#include "scratch.h"

static uint64_t align_up(uint64_t x, uint64_t a) {
        return (x + a - 1) & ~(a - 1);
}

static uint64_t align_down(uint64_t x, uint64_t a) {
        return x & ~(a - 1);
}

typedef struct Plan {
        ScratchStep *steps;
        size_t n, allocated;
} Plan;

static int plan_add(Plan *p, ScratchStepKind kind, uint64_t dst, uint64_t src, uint64_t length) {
        assert(p);

        if (length == 0)
                return 0;
        if (!GREEDY_REALLOC(p->steps, p->allocated, p->n + 1))
                return -ENOMEM;
        p->steps[p->n++] = (ScratchStep) { .kind = kind, .dst = dst, .src = src, .length = length };
        return 0;
}

/* Fills [x, y) (granule-aligned) from the source by doubling: one copy of the scratch, then copies
 * of what is already filled. */
static int plan_fill(Plan *p, uint64_t x, uint64_t y, uint64_t source, uint64_t granule) {
        uint64_t filled;
        int r;

        if (x >= y)
                return 0;
        r = plan_add(p, SCRATCH_STEP_COPY, x, source, granule);
        if (r < 0)
                return r;
        for (filled = granule; filled < y - x;) {
                uint64_t n = MIN(filled, y - x - filled);
                r = plan_add(p, SCRATCH_STEP_COPY, x + filled, x, n);
                if (r < 0)
                        return r;
                filled += n;
        }
        return 0;
}

static int range_cmp(const void *a, const void *b) {
        const IovaRange *x = a, *y = b;
        return x->start < y->start ? -1 : x->start > y->start;
}

uint64_t scratch_page_size(void) {
        long ps = sysconf(_SC_PAGESIZE);
        /* a power of two on every Linux; the fallback is x86's, should sysconf() ever fail */
        return ps > 0 ? (uint64_t) ps : SCRATCH_SMALL_SIZE;
}

int scratch_plan(uint64_t from, uint64_t to, const IovaRange *allowed, size_t n_allowed, uint64_t granule,
                 uint64_t *source, ScratchStep **ret_steps, size_t *ret_n) {
        return scratch_plan_aligned(from, to, allowed, n_allowed, granule, 0, source, ret_steps, ret_n);
}

int scratch_plan_aligned(uint64_t from, uint64_t to, const IovaRange *allowed, size_t n_allowed, uint64_t granule,
                         uint64_t alignment, uint64_t *source, ScratchStep **ret_steps, size_t *ret_n) {
        _cleanup_free_ IovaRange *iv = NULL;
        Plan p = {};
        size_t n = 0;
        uint64_t src = *source;
        int r;

        if (alignment == 0)
                alignment = scratch_page_size();
        if ((alignment & (alignment - 1)) || granule < alignment || (granule & (granule - 1)) || from > to)
                return -EINVAL;

        /* The intervals to fill: [from, to) ∩ allowed, shrunk to whole pages. */
        iv = calloc(n_allowed ?: 1, sizeof(IovaRange));
        if (!iv)
                return -ENOMEM;
        for (size_t i = 0; i < n_allowed; i++) {
                uint64_t a = MAX(from, allowed[i].start);
                uint64_t b = allowed[i].last == UINT64_MAX ? to : MIN(to, allowed[i].last + 1);
                a = align_up(a, alignment);
                b = align_down(b, alignment);
                if (a < b)
                        iv[n++] = (IovaRange) { .start = a, .last = b - 1 };
        }
        qsort(iv, n, sizeof(IovaRange), range_cmp);

        if (src == UINT64_MAX) {
                /* Map the scratch once, at the first place a whole granule fits, aligned. */
                for (size_t i = 0; i < n && src == UINT64_MAX; i++) {
                        uint64_t a = align_up(iv[i].start, granule);
                        if (a + granule - 1 <= iv[i].last)
                                src = a;
                }
                if (src == UINT64_MAX) {
                        if (n > 0)
                                return -ENOSPC;
                        /* Nothing to cover: an empty plan. */
                        *ret_steps = NULL;
                        *ret_n = 0;
                        return 0;
                }
                r = plan_add(&p, SCRATCH_STEP_MAP, src, 0, granule);
                if (r < 0)
                        goto fail;
        }

        for (size_t i = 0; i < n; i++) {
                uint64_t a = iv[i].start, b = iv[i].last + 1;
                uint64_t head_end = MIN(align_up(a, granule), b);
                uint64_t m0 = head_end, m1 = MAX(m0, align_down(b, granule));

                /* Unaligned head and tail: sub-ranges of the scratch, mapped with small leaves. */
                r = plan_add(&p, SCRATCH_STEP_COPY, a, src, head_end - a);
                if (r < 0)
                        goto fail;
                if (src >= m0 && src < m1) {
                        r = plan_fill(&p, m0, src, src, granule);
                        if (r >= 0)
                                r = plan_fill(&p, src + granule, m1, src, granule);
                } else
                        r = plan_fill(&p, m0, m1, src, granule);
                if (r < 0)
                        goto fail;
                r = plan_add(&p, SCRATCH_STEP_COPY, m1, src, b - m1);
                if (r < 0)
                        goto fail;
        }

        *source = src;
        *ret_steps = p.steps;
        *ret_n = p.n;
        return 0;
fail:
        free(p.steps);
        return r;
}

int iova_ranges_subtract(IovaRange **ranges, size_t *n, uint64_t start, uint64_t last) {
        IovaRange *out = calloc(*n * 2 + 1, sizeof(IovaRange));
        size_t k = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < *n; i++) {
                IovaRange r = (*ranges)[i];
                if (last < r.start || start > r.last) {
                        out[k++] = r;
                        continue;
                }
                if (start > r.start)
                        out[k++] = (IovaRange) { r.start, start - 1 };
                if (last < r.last)
                        out[k++] = (IovaRange) { last + 1, r.last };
        }
        free(*ranges);
        *ranges = out;
        *n = k;
        return 0;
}

static int backing(Scratch *s, bool huge) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t size = huge ? SCRATCH_HUGE_SIZE : scratch_page_size();
        void *va;

        assert(s);

        fd = memfd_create("isolate-scratch", MFD_CLOEXEC | (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0));
        if (fd < 0)
                return negative_errno();
        if (ftruncate(fd, (off_t) size) < 0)
                return negative_errno();
        /* With hugetlb, mmap fails (ENOMEM) when no free hugepage can be reserved. */
        va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (va == MAP_FAILED)
                return negative_errno();
        s->memfd = TAKE_FD(fd);
        s->va = va;
        s->size = size;
        s->huge = huge;
        scratch_zero(s);
        return 0;
}

int scratch_alloc(Scratch *s, bool force_small) {
        if (!force_small && backing(s, true) >= 0)
                return 0;
        return backing(s, false);
}

int scratch_adopt(Scratch *s, int memfd, bool huge) {
        uint64_t size = huge ? SCRATCH_HUGE_SIZE : scratch_page_size();
        void *va = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);

        if (va == MAP_FAILED)
                return negative_errno();
        s->memfd = memfd;
        s->va = va;
        s->size = size;
        s->huge = huge;
        return 0;
}

void scratch_zero(Scratch *s) {
        /* Devices only ever get the page read-only; zeroing on every entry anyway means nothing a
         * device could have left there (Xen's CVE-2023-46835) can reach the next one. */
        if (s->va)
                memset(s->va, 0, s->size);
}

int scratch_extend(Scratch *s, int iommufd, uint64_t cover, const IovaRange *allowed, size_t n_allowed) {
        _cleanup_free_ ScratchStep *steps = NULL;
        uint64_t from = s->covered, source = s->source;
        size_t n = 0;
        int r;

        if (!s->va || s->ioas == 0)
                return -EINVAL;
        if (!s->huge && cover > SCRATCH_SMALL_MAX_COVER)
                cover = SCRATCH_SMALL_MAX_COVER;
        if (cover <= from)
                return 0;

        r = scratch_plan_aligned(from, cover, allowed, n_allowed, s->size, s->alignment, &source, &steps, &n);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                const ScratchStep *st = &steps[i];
                if (st->kind == SCRATCH_STEP_MAP)
                        r = iommufd_ioas_map_fixed(iommufd, s->ioas, s->va, st->length, st->dst,
                                                   IOMMU_IOAS_MAP_READABLE);
                else
                        r = iommufd_ioas_copy(iommufd, s->ioas, s->ioas, st->length, st->dst, st->src,
                                              IOMMU_IOAS_MAP_READABLE);
                s->ioctls++;
                if (s->keepalive && i % 64 == 63)
                        s->keepalive(s->keepalive_userdata);
                if (r < 0) {
                        /* Undo this extension so that a later one starts from a clean state. */
                        for (size_t j = 0; j < i; j++)
                                (void) iommufd_ioas_unmap(iommufd, s->ioas, steps[j].dst, steps[j].length, NULL);
                        return r;
                }
        }
        s->source = source;
        s->covered = cover;
        return 0;
}

void scratch_release(Scratch *s) {
        if (s->va)
                munmap(s->va, s->size);
        s->va = NULL;
        s->memfd = safe_close(s->memfd);
        s->ioas = 0;
        s->source = UINT64_MAX;
        s->covered = 0;
}
