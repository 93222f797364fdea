/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* scratch_plan() and iova_ranges_subtract(): pure functions, so these tests check properties of their
 * results on many inputs rather than exact step lists. A plan is replayed on a model of the IOAS: every
 * COPY must read IOVA that is already mapped (by an earlier step or the existing source), nothing may be
 * mapped twice, and what ends up mapped must be exactly [from, to) ∩ allowed, shrunk to whole pages. */

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "scratch.h"

#define K4 (UINT64_C(4) << 10)
#define M1 (UINT64_C(1) << 20)
#define M2 (UINT64_C(2) << 20)
#define G1 (UINT64_C(1) << 30)
#define G4 (UINT64_C(4) << 30)
#define MAX48 ((UINT64_C(1) << 48) - 1)
#define MSI_START UINT64_C(0xfee00000)
#define MSI_LAST UINT64_C(0xfeefffff)

/* ---- a set of half-open intervals [s, e) --------------------------------------------------- */

typedef struct Span {
        uint64_t s, e;
} Span;

typedef struct Spans {
        Span *v;
        size_t n;
} Spans;

static void spans_add(Spans *x, uint64_t s, uint64_t e) {
        Span *v = reallocarray(x->v, x->n + 1, sizeof(Span));
        assert_non_null(v);
        x->v = v;
        x->v[x->n++] = (Span) { s, e };
}

static int span_cmp(const void *a, const void *b) {
        const Span *x = a, *y = b;
        return x->s < y->s ? -1 : x->s > y->s;
}

/* Sorts and merges touching intervals; returns false if two of them overlap. */
static bool spans_normalize(Spans *x) {
        size_t k = 0;
        bool disjoint = true;

        if (x->n > 1)
                qsort(x->v, x->n, sizeof(Span), span_cmp);
        for (size_t i = 0; i < x->n; i++) {
                if (k > 0 && x->v[i].s < x->v[k - 1].e)
                        disjoint = false;
                if (k > 0 && x->v[i].s <= x->v[k - 1].e)
                        x->v[k - 1].e = MAX(x->v[k - 1].e, x->v[i].e);
                else
                        x->v[k++] = x->v[i];
        }
        x->n = k;
        return disjoint;
}

static bool spans_contain(const Spans *x, uint64_t s, uint64_t e) {
        FOREACH_ARRAY(p, x->v, x->n)
                if (p->s <= s && e <= p->e)
                        return true;
        return false;
}

static bool spans_overlap(const Spans *x, uint64_t s, uint64_t e) {
        FOREACH_ARRAY(p, x->v, x->n)
                if (s < p->e && p->s < e)
                        return true;
        return false;
}

static void spans_done(Spans *x) {
        free(x->v);
        *x = (Spans) {};
}

static uint64_t up(uint64_t x, uint64_t a) {
        return (x + a - 1) / a * a;
}

static uint64_t down(uint64_t x, uint64_t a) {
        return x / a * a;
}

static unsigned ceil_log2(uint64_t x) {
        unsigned l = 0;
        while ((UINT64_C(1) << l) < x)
                l++;
        return l;
}

/* What the plan must cover, computed independently of scratch.c: shrunk to the IOVA alignment. */
static void expected_spans_aligned(uint64_t from, uint64_t to, const IovaRange *allowed, size_t n, uint64_t alignment,
                                   Spans *ret) {
        for (size_t i = 0; i < n; i++) {
                uint64_t s = MAX(from, allowed[i].start);
                uint64_t e = allowed[i].last >= to - 1 ? to : allowed[i].last + 1;
                s = up(s, alignment);
                e = down(e, alignment);
                if (s < e)
                        spans_add(ret, s, e);
        }
        assert_true(spans_normalize(ret));
}

static void expected_spans(uint64_t from, uint64_t to, const IovaRange *allowed, size_t n, Spans *ret) {
        expected_spans_aligned(from, to, allowed, n, K4, ret);
}

typedef struct PlanCheck {
        size_t n_steps;
        size_t n_intervals;
        uint64_t source;
} PlanCheck;

/* Runs scratch_plan_aligned and checks every property of the result. `mapped` is the IOAS so far (the
 * existing source and earlier plans' destinations), and grows by this plan's destinations. Every step's
 * IOVAs and length are multiples of `alignment` (the kernel refuses others). */
static void check_plan_aligned(uint64_t from, uint64_t to, const IovaRange *allowed, size_t n_allowed, uint64_t granule,
                               uint64_t alignment, uint64_t source, Spans *mapped, PlanCheck *ret) {
        _cleanup_free_ ScratchStep *steps = NULL;
        Spans want = {}, dst = {};
        size_t n = 0, maps = 0;
        uint64_t src = source, bulk = 0, total = 0;
        bool fits = false;
        int r;

        expected_spans_aligned(from, to, allowed, n_allowed, alignment, &want);
        FOREACH_ARRAY(w, want.v, want.n)
                if (up(w->s, granule) + granule <= w->e)
                        fits = true;

        if (alignment == scratch_page_size())
                r = scratch_plan(from, to, allowed, n_allowed, granule, &src, &steps, &n);
        else
                r = scratch_plan_aligned(from, to, allowed, n_allowed, granule, alignment, &src, &steps, &n);
        if (source == UINT64_MAX && want.n > 0 && !fits) {
                assert_int_equal(r, -ENOSPC);
                assert_int_equal(src, UINT64_MAX);
                spans_done(&want);
                *ret = (PlanCheck) {};
                return;
        }
        assert_int_equal(r, 0);

        for (size_t i = 0; i < n; i++) {
                const ScratchStep *st = &steps[i];

                assert_true(st->length > 0);
                if (st->dst % alignment || st->length % alignment || st->src % alignment)
                        fail_msg("step %zu [%#" PRIx64 ", +%#" PRIx64 ") from %#" PRIx64 " is not %" PRIu64 "-aligned",
                                 i, st->dst, st->length, st->src, alignment);
                /* nothing is mapped twice: the kernel would refuse (EEXIST) */
                if (spans_overlap(mapped, st->dst, st->dst + st->length))
                        fail_msg("step %zu maps [%#" PRIx64 ", %#" PRIx64 ") twice", i, st->dst, st->dst + st->length);
                if (st->kind == SCRATCH_STEP_MAP) {
                        assert_int_equal(i, 0);
                        assert_int_equal(source, UINT64_MAX);
                        assert_int_equal(st->dst % granule, 0);
                        assert_int_equal(st->length, granule);
                        assert_int_equal(st->dst, src);
                        maps++;
                } else {
                        assert_int_equal(st->kind, SCRATCH_STEP_COPY);
                        /* a COPY reads what an earlier step (or the existing source) mapped */
                        if (!spans_contain(mapped, st->src, st->src + st->length))
                                fail_msg("step %zu copies from unmapped [%#" PRIx64 ", %#" PRIx64 ")", i, st->src,
                                         st->src + st->length);
                }
                spans_add(mapped, st->dst, st->dst + st->length);
                assert_true(spans_normalize(mapped));
                spans_add(&dst, st->dst, st->dst + st->length);

                total += st->length;
                if (st->dst % granule == 0 && st->length % granule == 0)
                        bulk += st->length;
        }
        assert_int_equal(maps, source == UINT64_MAX && want.n > 0 ? 1 : 0);
        if (source != UINT64_MAX)
                assert_int_equal(src, source);

        /* The destinations are exactly [from, to) ∩ allowed, page-shrunk, with no overlap. */
        assert_true(spans_normalize(&dst));
        assert_int_equal(dst.n, want.n);
        for (size_t i = 0; i < want.n; i++) {
                assert_int_equal(dst.v[i].s, want.v[i].s);
                assert_int_equal(dst.v[i].e, want.v[i].e);
        }

        /* Bulk: all but an unaligned head and tail per interval are whole granules at aligned IOVA. */
        assert_true(total - bulk < 2 * granule * MAX(want.n, (size_t) 1));

        /* O(intervals × log(cover / granule)) ioctls. */
        uint64_t len = to - from;
        size_t bound = want.n * (ceil_log2(up(len, granule) / granule) + 3) + 1;
        if (n > bound)
                fail_msg("%zu steps for [%#" PRIx64 ", %#" PRIx64 ") in %zu intervals, bound %zu", n, from, to, want.n,
                         bound);

        *ret = (PlanCheck) { .n_steps = n, .n_intervals = want.n, .source = src };
        spans_done(&want);
        spans_done(&dst);
}

static void check_plan(uint64_t from, uint64_t to, const IovaRange *allowed, size_t n_allowed, uint64_t granule,
                       uint64_t source, Spans *mapped, PlanCheck *ret) {
        check_plan_aligned(from, to, allowed, n_allowed, granule, K4, source, mapped, ret);
}

/* ---- allowed-range sets ---------------------------------------------------------------------- */

typedef struct RangeSet {
        const char *name;
        IovaRange r[20];
        size_t n;
} RangeSet;

static RangeSet range_sets[] = {
        { "whole 48-bit space", { { 0, MAX48 } }, 1 },
        { "x86 MSI window", { { 0, MSI_START - 1 }, { MSI_LAST + 1, MAX48 } }, 2 },
        { "MSI window, unsorted", { { MSI_LAST + 1, MAX48 }, { 0, MSI_START - 1 } }, 2 },
        { "up to UINT64_MAX", { { 0, MSI_START - 1 }, { MSI_LAST + 1, UINT64_MAX } }, 2 },
        { "not starting at 0", { { UINT64_C(0x40000000), MAX48 } }, 1 },
        { "not starting at 0, unaligned", { { UINT64_C(0x3000), MAX48 } }, 1 },
        { "holes at odd 4K offsets",
          { { UINT64_C(0x3000), UINT64_C(0x23456fff) },
            { UINT64_C(0x23458000), MSI_START - 1 },
            { MSI_LAST + 1, UINT64_C(0x100004fff) },
            { UINT64_C(0x100009000), MAX48 } },
          4 },
        { "unaligned ends (not page-aligned)",
          { { UINT64_C(0x1234), UINT64_C(0x12345678) }, { UINT64_C(0x20000001), UINT64_C(0x7fffffffff) } },
          2 },
        { "small pieces below a granule",
          { { 0, UINT64_C(0xfffff) }, { UINT64_C(0x180000), UINT64_C(0x27ffff) }, { UINT64_C(0x400000), MAX48 } },
          3 },
        { "a 4K hole every 256M",
          { { 0, UINT64_C(0x0fffefff) },
            { UINT64_C(0x10000000), UINT64_C(0x1fffefff) },
            { UINT64_C(0x20000000), UINT64_C(0x2fffefff) },
            { UINT64_C(0x30000000), UINT64_C(0x3fffefff) },
            { UINT64_C(0x40000000), UINT64_C(0x4fffefff) },
            { UINT64_C(0x50000000), UINT64_C(0x5fffefff) },
            { UINT64_C(0x60000000), UINT64_C(0x6fffefff) },
            { UINT64_C(0x70000000), UINT64_C(0x7fffefff) },
            { UINT64_C(0x80000000), UINT64_C(0x8fffefff) },
            { UINT64_C(0x90000000), UINT64_C(0x9fffefff) },
            { UINT64_C(0xa0000000), UINT64_C(0xafffefff) },
            { UINT64_C(0xb0000000), UINT64_C(0xbfffefff) },
            { UINT64_C(0xc0000000), UINT64_C(0xcfffefff) },
            { UINT64_C(0xd0000000), UINT64_C(0xdfffefff) },
            { UINT64_C(0xe0000000), UINT64_C(0xefffefff) },
            { UINT64_C(0xf0000000), MSI_START - 1 },
            { MSI_LAST + 1, MAX48 } },
          17 },
};

static const uint64_t covers[] = {
        M2,
        2 * M2,
        3 * M2,
        16 * M1,
        16 * M1 + K4,
        100 * M1 + 3 * K4,
        256 * M1,
        G1,
        G1 + M1,
        UINT64_C(0xfee00000),
        UINT64_C(0xfef00000),
        UINT64_C(0xfef01000),
        G4,
        G4 + 5 * K4,
        UINT64_C(16) << 30,
        UINT64_C(64) << 30,
};

/* ---- scratch_plan ------------------------------------------------------------------------------ */

static void test_plan_properties_fresh(void **state) {
        size_t plans = 0;

        FOREACH_ARRAY(rs, range_sets, ELEMENTSOF(range_sets))
                FOREACH_ARRAY(c, covers, ELEMENTSOF(covers)) {
                        const uint64_t granules[] = { M2, K4 };
                        FOREACH_ARRAY(g, granules, ELEMENTSOF(granules)) {
                                Spans mapped = {};
                                PlanCheck pc;
                                check_plan(0, *c, rs->r, rs->n, *g, UINT64_MAX, &mapped, &pc);
                                spans_done(&mapped);
                                plans++;
                        }
                }
        printf("checked %zu fresh plans\n", plans);
}

/* Growing a cover in steps, as successive devices ask for more: each extension starts from the source
 * the first one mapped, and together they cover [0, last cover) exactly once. */
static void test_plan_properties_extend(void **state) {
        static const uint64_t chain[] = { M2, 16 * M1, 100 * M1 + 3 * K4, G1, G4, UINT64_C(64) << 30 };

        FOREACH_ARRAY(rs, range_sets, ELEMENTSOF(range_sets)) {
                const uint64_t granules[] = { M2, K4 };
                FOREACH_ARRAY(g, granules, ELEMENTSOF(granules)) {
                        Spans mapped = {}, want = {};
                        uint64_t source = UINT64_MAX, from = 0;
                        bool started = false;

                        FOREACH_ARRAY(c, chain, ELEMENTSOF(chain)) {
                                PlanCheck pc;
                                check_plan(from, *c, rs->r, rs->n, *g, source, &mapped, &pc);
                                if (pc.n_steps == 0 && !started)
                                        continue; /* nothing to map yet (or no room): try a larger cover */
                                started = true;
                                source = pc.source;
                                from = *c;
                        }
                        if (!started) {
                                spans_done(&mapped);
                                continue;
                        }
                        /* The extensions together cover [0, last cover) ∩ allowed exactly, each page once
                         * (check_plan refused any overlap). */
                        expected_spans(0, chain[ELEMENTSOF(chain) - 1], rs->r, rs->n, &want);
                        assert_int_equal(mapped.n, want.n);
                        for (size_t i = 0; i < want.n; i++) {
                                assert_int_equal(mapped.v[i].s, want.v[i].s);
                                assert_int_equal(mapped.v[i].e, want.v[i].e);
                        }
                        spans_done(&want);
                        spans_done(&mapped);
                }
        }
}

/* An IOAS that needs 64 KiB-aligned IOVAs (arm64 with 64 KiB IOMMU pages), on every range set (most of
 * them have 4 KiB-aligned ends): no step has a destination, source or length that is not a multiple of
 * 64 KiB, and what is mapped is exactly the allowed ranges shrunk to 64 KiB; fresh and extended. */
static void test_plan_aligned_64k(void **state) {
        const uint64_t K64 = UINT64_C(64) << 10;
        size_t plans = 0;

        FOREACH_ARRAY(rs, range_sets, ELEMENTSOF(range_sets)) {
                const uint64_t granules[] = { M2, K64 };
                FOREACH_ARRAY(g, granules, ELEMENTSOF(granules)) {
                        FOREACH_ARRAY(c, covers, ELEMENTSOF(covers)) {
                                Spans mapped = {};
                                PlanCheck pc;
                                check_plan_aligned(0, *c, rs->r, rs->n, *g, K64, UINT64_MAX, &mapped, &pc);
                                spans_done(&mapped);
                                plans++;
                        }

                        /* grown in steps from unaligned covers: each extension stays aligned too */
                        static const uint64_t chain[] = { M2 + K4, 16 * M1 + 3 * K4, G1 + K4, G4 };
                        Spans mapped = {};
                        uint64_t source = UINT64_MAX, from = 0;
                        FOREACH_ARRAY(c, chain, ELEMENTSOF(chain)) {
                                PlanCheck pc;
                                check_plan_aligned(from, *c, rs->r, rs->n, *g, K64, source, &mapped, &pc);
                                if (pc.n_steps == 0 && source == UINT64_MAX)
                                        continue;
                                source = pc.source;
                                from = *c;
                                plans++;
                        }
                        spans_done(&mapped);
                }
        }
        printf("checked %zu 64K-aligned plans\n", plans);
}

static void test_plan_aligned_invalid(void **state) {
        const IovaRange allowed[] = { { 0, MAX48 } };
        ScratchStep *steps = NULL;
        uint64_t source = UINT64_MAX;
        size_t n = 0;

        /* not a power of two; larger than the granule (the page could not be mapped at all) */
        assert_int_equal(scratch_plan_aligned(0, G1, allowed, 1, M2, 3 * K4, &source, &steps, &n), -EINVAL);
        assert_int_equal(scratch_plan_aligned(0, G1, allowed, 1, K4, UINT64_C(64) << 10, &source, &steps, &n), -EINVAL);
        assert_null(steps);
        /* 0 means the kernel's page size */
        assert_int_equal(scratch_plan_aligned(0, M2 * 4, allowed, 1, M2, 0, &source, &steps, &n), 0);
        assert_true(n > 0);
        free(steps);
}

/* Without an alignment from the IOAS, IOVAs are aligned to the kernel's page size, whatever it is (64 KiB
 * on some arm64 kernels), not to a page size assumed here: scratch_plan() and alignment 0 alike. */
static void test_plan_kernel_page_size(void **state) {
        const uint64_t ps = scratch_page_size();
        const IovaRange allowed[] = { { ps / 2, MSI_START - 1 - ps / 2 }, { MSI_LAST + 1, MAX48 } };
        Spans mapped = {};
        PlanCheck pc;

        assert_int_equal(ps, (uint64_t) sysconf(_SC_PAGESIZE));
        for (int aligned = 0; aligned < 2; aligned++) {
                _cleanup_free_ ScratchStep *steps = NULL;
                uint64_t source = UINT64_MAX, lo = UINT64_MAX, hi = 0;
                size_t n = 0;

                if (aligned)
                        assert_int_equal(
                                scratch_plan_aligned(0, G4, allowed, ELEMENTSOF(allowed), M2, 0, &source, &steps, &n),
                                0);
                else
                        assert_int_equal(scratch_plan(0, G4, allowed, ELEMENTSOF(allowed), M2, &source, &steps, &n), 0);
                assert_true(n > 0);
                FOREACH_ARRAY(st, steps, n) {
                        assert_int_equal(st->dst % ps, 0);
                        assert_int_equal(st->src % ps, 0);
                        assert_int_equal(st->length % ps, 0);
                        if (st->dst < MSI_START) {
                                lo = MIN(lo, st->dst);
                                hi = MAX(hi, st->dst + st->length);
                        }
                }
                /* the first range shrunk to whole pages of this kernel */
                assert_int_equal(lo, ps);
                assert_int_equal(hi, MSI_START - ps);
        }
        check_plan_aligned(0, G4, allowed, ELEMENTSOF(allowed), M2, ps, UINT64_MAX, &mapped, &pc);
        assert_true(pc.n_steps > 0);
        spans_done(&mapped);
}

/* An existing source below `from` (a later extension): no MAP, everything is copied. */
static void test_plan_existing_source(void **state) {
        const IovaRange allowed[] = { { 0, MSI_START - 1 }, { MSI_LAST + 1, MAX48 } };
        Spans mapped = {};
        PlanCheck pc;

        spans_add(&mapped, 0, 16 * M1); /* an earlier plan covered [0, 16M) from a source at 0 */
        check_plan(16 * M1, G4, allowed, ELEMENTSOF(allowed), M2, 0, &mapped, &pc);
        assert_int_equal(pc.source, 0);
        assert_true(pc.n_steps > 0);
        spans_done(&mapped);
}

/* The x86 case: 4 GiB with the MSI window, one 2 MiB page. */
static void test_plan_4g_msi_window(void **state) {
        const IovaRange allowed[] = { { 0, MSI_START - 1 }, { MSI_LAST + 1, MAX48 } };
        _cleanup_free_ ScratchStep *steps = NULL;
        uint64_t source = UINT64_MAX;
        Spans mapped = {};
        PlanCheck pc;
        size_t n = 0;

        check_plan(0, G4, allowed, ELEMENTSOF(allowed), M2, UINT64_MAX, &mapped, &pc);
        printf("4 GiB at 2 MiB around the MSI window: %zu ioctls (%zu intervals)\n", pc.n_steps, pc.n_intervals);
        assert_int_equal(pc.n_intervals, 2);
        assert_true(pc.n_steps <= 20);
        assert_int_equal(pc.source, 0);
        spans_done(&mapped);

        /* The MSI window itself is never touched. */
        assert_int_equal(scratch_plan_aligned(0, G4, allowed, ELEMENTSOF(allowed), M2, K4, &source, &steps, &n), 0);
        FOREACH_ARRAY(st, steps, n)
                assert_true(st->dst + st->length <= MSI_START || st->dst > MSI_LAST);
}

static void test_plan_enospc(void **state) {
        /* Room for pieces of 2M, but nowhere a whole aligned 2M page fits. */
        const IovaRange allowed[] = { { K4, M2 - 1 }, { M2 + K4, 2 * M2 - 1 }, { 2 * M2 + M1, 3 * M2 + M1 - 1 } };
        ScratchStep *steps = (ScratchStep *) UINT64_C(0x1);
        uint64_t source = UINT64_MAX;
        size_t n = 12345;

        assert_int_equal(scratch_plan_aligned(0, G1, allowed, ELEMENTSOF(allowed), M2, K4, &source, &steps, &n),
                         -ENOSPC);
        assert_int_equal(source, UINT64_MAX);
        /* not written on failure */
        assert_ptr_equal(steps, (ScratchStep *) UINT64_C(0x1));
        assert_int_equal(n, 12345);
}

static void test_plan_no_room_with_source(void **state) {
        /* The same pieces are fine once a source exists elsewhere: all COPYs, in 4K leaves. */
        const IovaRange allowed[] = { { K4, M2 - 1 }, { M2 + K4, 2 * M2 - 1 }, { 2 * M2 + M1, 3 * M2 + M1 - 1 } };
        Spans mapped = {};
        PlanCheck pc;

        spans_add(&mapped, G1, G1 + M2);
        check_plan(0, G1, allowed, ELEMENTSOF(allowed), M2, G1, &mapped, &pc);
        assert_int_equal(pc.n_intervals, 3);
        spans_done(&mapped);
}

static void test_plan_nothing_to_do(void **state) {
        const IovaRange allowed[] = { { MSI_LAST + 1, MAX48 } };
        ScratchStep *steps = (ScratchStep *) UINT64_C(0x1);
        uint64_t source = UINT64_MAX;
        size_t n = 12345;

        /* [0, 16M) ∩ allowed is empty: success, no steps, no source. */
        assert_int_equal(scratch_plan_aligned(0, 16 * M1, allowed, ELEMENTSOF(allowed), M2, K4, &source, &steps, &n),
                         0);
        assert_int_equal(n, 0);
        assert_null(steps);
        assert_int_equal(source, UINT64_MAX);

        /* An empty cover, and no ranges at all. */
        n = 12345;
        assert_int_equal(scratch_plan_aligned(G1, G1, allowed, ELEMENTSOF(allowed), M2, K4, &source, &steps, &n), 0);
        assert_int_equal(n, 0);
        n = 12345;
        assert_int_equal(scratch_plan_aligned(0, G1, NULL, 0, M2, K4, &source, &steps, &n), 0);
        assert_int_equal(n, 0);
        assert_null(steps);
}

static void test_plan_invalid(void **state) {
        const IovaRange allowed[] = { { 0, MAX48 } };
        ScratchStep *steps = NULL;
        uint64_t source = UINT64_MAX;
        size_t n = 0;

        assert_int_equal(scratch_plan(0, G1, allowed, 1, 3 * M1, &source, &steps, &n), -EINVAL);
        assert_int_equal(scratch_plan(0, G1, allowed, 1, 2048, &source, &steps, &n), -EINVAL);
        assert_int_equal(scratch_plan(G1, 0, allowed, 1, M2, &source, &steps, &n), -EINVAL);
        assert_null(steps);
}

/* ---- iova_ranges_subtract ---------------------------------------------------------------------- */

static IovaRange *ranges_new(const IovaRange *r, size_t n) {
        IovaRange *v = calloc(n ?: 1, sizeof(IovaRange));
        assert_non_null(v);
        if (n > 0)
                memcpy(v, r, n * sizeof(IovaRange));
        return v;
}

static void check_subtract(const IovaRange *in, size_t n_in, uint64_t start, uint64_t last, const IovaRange *want,
                           size_t n_want) {
        _cleanup_free_ IovaRange *v = ranges_new(in, n_in);
        size_t n = n_in;

        assert_int_equal(iova_ranges_subtract(&v, &n, start, last), 0);
        assert_int_equal(n, n_want);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(v[i].start, want[i].start);
                assert_int_equal(v[i].last, want[i].last);
        }
}

static const IovaRange four[] = { { 0x0, 0xfff }, { 0x2000, 0x2fff }, { 0x4000, 0x4fff }, { 0x6000, 0x6fff } };

static void test_subtract_hole_at_start(void **state) {
        const IovaRange in[] = { { 0x1000, 0x9fff } }, want[] = { { 0x2000, 0x9fff } };
        check_subtract(in, 1, 0x1000, 0x1fff, want, 1);
        check_subtract(in, 1, 0x0, 0x1fff, want, 1); /* starting before the range */
}

static void test_subtract_hole_at_end(void **state) {
        const IovaRange in[] = { { 0x1000, 0x9fff } }, want[] = { { 0x1000, 0x8fff } };
        check_subtract(in, 1, 0x9000, 0x9fff, want, 1);
        check_subtract(in, 1, 0x9000, UINT64_MAX, want, 1); /* ending after it */
}

static void test_subtract_hole_inside(void **state) {
        const IovaRange in[] = { { 0, MAX48 } }, want[] = { { 0, MSI_START - 1 }, { MSI_LAST + 1, MAX48 } };
        check_subtract(in, 1, MSI_START, MSI_LAST, want, 2);
}

static void test_subtract_spanning_several(void **state) {
        const IovaRange want_partial[] = { { 0x0, 0xfff }, { 0x2000, 0x27ff }, { 0x4800, 0x4fff }, { 0x6000, 0x6fff } };
        const IovaRange want_whole[] = { { 0x0, 0xfff }, { 0x6000, 0x6fff } };
        check_subtract(four, 4, 0x2800, 0x47ff, want_partial, 4);
        check_subtract(four, 4, 0x1000, 0x5fff, want_whole, 2);
        check_subtract(four, 4, 0x0, UINT64_MAX, NULL, 0);
}

static void test_subtract_no_overlap(void **state) {
        check_subtract(four, 4, 0x1000, 0x1fff, four, 4);     /* exactly the gap */
        check_subtract(four, 4, 0x7000, UINT64_MAX, four, 4); /* after the last, touching */
        check_subtract(NULL, 0, 0x1000, 0x1fff, NULL, 0);     /* nothing to subtract from */
}

static void test_subtract_exactly_equal(void **state) {
        const IovaRange want[] = { { 0x0, 0xfff }, { 0x4000, 0x4fff }, { 0x6000, 0x6fff } };
        check_subtract(four, 4, 0x2000, 0x2fff, want, 3);
}

static void test_subtract_extremes(void **state) {
        const IovaRange all[] = { { 0, UINT64_MAX } };
        const IovaRange want_lo[] = { { 1, UINT64_MAX } }, want_hi[] = { { 0, UINT64_MAX - 1 } };
        check_subtract(all, 1, 0, 0, want_lo, 1);
        check_subtract(all, 1, UINT64_MAX, UINT64_MAX, want_hi, 1);
        check_subtract(all, 1, 0, UINT64_MAX, NULL, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_properties_fresh),
                cmocka_unit_test(test_plan_properties_extend),
                cmocka_unit_test(test_plan_aligned_64k),
                cmocka_unit_test(test_plan_aligned_invalid),
                cmocka_unit_test(test_plan_kernel_page_size),
                cmocka_unit_test(test_plan_existing_source),
                cmocka_unit_test(test_plan_4g_msi_window),
                cmocka_unit_test(test_plan_enospc),
                cmocka_unit_test(test_plan_no_room_with_source),
                cmocka_unit_test(test_plan_nothing_to_do),
                cmocka_unit_test(test_plan_invalid),
                cmocka_unit_test(test_subtract_hole_at_start),
                cmocka_unit_test(test_subtract_hole_at_end),
                cmocka_unit_test(test_subtract_hole_inside),
                cmocka_unit_test(test_subtract_spanning_several),
                cmocka_unit_test(test_subtract_no_overlap),
                cmocka_unit_test(test_subtract_exactly_equal),
                cmocka_unit_test(test_subtract_extremes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
