/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <time.h>

#define USEC_PER_SEC ((uint64_t) 1000000)

/* The clock's time in ns. */
static inline uint64_t now_nsec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

/* Wall-clock time in µs (timestamps shown to users and stored in state). */
static inline uint64_t now_realtime_usec(void) {
        return now_nsec(CLOCK_REALTIME) / 1000;
}

/* Monotonic time in µs (durations). */
static inline uint64_t now_monotonic_usec(void) {
        return now_nsec(CLOCK_MONOTONIC) / 1000;
}
