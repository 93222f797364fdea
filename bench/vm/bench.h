/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "time-util.h"

/* What the VM benchmarks share: a monotonic clock and percentiles of samples. */

static inline uint64_t bench_now_ns(void) {
        return now_nsec(CLOCK_MONOTONIC);
}

static inline int bench_cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static inline void bench_sort(uint64_t *v, size_t n) {
        qsort(v, n, sizeof(uint64_t), bench_cmp_u64);
}

/* The pct-th percentile of sorted samples (n > 0). */
static inline uint64_t bench_pct(const uint64_t *v, size_t n, unsigned pct) {
        size_t i = n * pct / 100;
        return v[i >= n ? n - 1 : i];
}
