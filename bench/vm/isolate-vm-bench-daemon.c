/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmarks of isolated on the real kernel (run in the VM tier's guest by bench/vm-daemon). Prints
 * numbers; asserts nothing.
 *
 *   isolate-vm-bench-daemon unbind SLOT DRIVER N [--trace]
 *          write SLOT to DRIVER's unbind and time until isolated announces it quarantined
 *          (DeviceStateChanged), N times; between rounds the device goes back to DRIVER (Release to the
 *          host, not timed). --trace prints each round's start and end (CLOCK_REALTIME, s.µs) to line
 *          it up with strace -ttt.
 *   isolate-vm-bench-daemon compare SLOT FLOOR_SLOT DRIVER N blocked|scratch
 *          the same, interleaved round by round with the honest floor (floor.h) taking FLOOR_SLOT
 *          (which the policy must leave alone: passthrough allowed, not captured on unbind): the daemon
 *          against the least a program must do, in the same boot, under the same load
 *   isolate-vm-bench-daemon floor-many blocked|scratch SLOT...
 *          the floor's take of devices already on vfio-pci, one after the other in one loop (what
 *          isolated does for them at start)
 *   isolate-vm-bench-daemon roundtrip SLOT N       GetDevice() round trips over the system bus
 */

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bench.h"
#include "floor.h"

static void report(const char *what, uint64_t *v, size_t n) {
        bench_sort(v, n);
        printf("  %-50s p50 %9.1f µs   p99 %9.1f µs   max %9.1f µs   (n=%zu)\n", what, bench_pct(v, n, 50) / 1000.0,
               bench_pct(v, n, 99) / 1000.0, v[n - 1] / 1000.0, n);
}

typedef struct Wait {
        const char *slot;
        const char *state;
        bool seen;
        bool bound; /* DeviceStateChanged(slot, ..., reason "bound"): isolated saw the host driver bind */
} Wait;

static int on_state(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Wait *w = userdata;
        const char *slot, *state, *mode, *reason;
        if (sd_bus_message_read(m, "ssss", &slot, &state, &mode, &reason) < 0 || strcmp(slot, w->slot) != 0)
                return 0;
        if (strcmp(state, w->state) == 0)
                w->seen = true;
        if (strcmp(reason, "bound") == 0)
                w->bound = true;
        return 0;
}

static int wait_state(sd_bus *bus, Wait *w, uint64_t timeout_ns) {
        uint64_t deadline = bench_now_ns() + timeout_ns;
        while (!w->seen) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                if (bench_now_ns() > deadline)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, 100000);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One daemon round: back to the host driver (not timed), then the unbind write until the signal. */
typedef struct DaemonRound {
        sd_bus *bus;
        Wait w;
        const char *slot, *driver;
        char unbind[256];
        bool first, warned;
} DaemonRound;

static int daemon_round_init(DaemonRound *d, const char *slot, const char *driver) {
        int r;

        *d = (DaemonRound) { .slot = slot, .driver = driver, .first = true };
        d->w = (Wait) { .slot = slot, .state = "quarantined" };
        snprintf(d->unbind, sizeof(d->unbind), "/sys/bus/pci/drivers/%s/unbind", driver);
        r = sd_bus_open_system(&d->bus);
        if (r < 0)
                return fprintf(stderr, "bus: %s\n", strerror(-r)), r;
        r = sd_bus_match_signal(d->bus, NULL, "org.isolate1", "/org/isolate1", "org.isolate1.Manager",
                                "DeviceStateChanged", on_state, &d->w);
        if (r < 0)
                return fprintf(stderr, "match: %s\n", strerror(-r)), r;
        return 0;
}

static int daemon_round(DaemonRound *d, uint64_t *ret_ns, uint64_t *ret_start_rt, uint64_t *ret_end_rt) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t t0;
        int r;

        /* back to the host driver (not measured) */
        r = sd_bus_call_method(d->bus, "org.isolate1", "/org/isolate1", "org.isolate1.Manager", "Release", &error,
                               &reply, "assb", 1, d->slot, "host", 0);
        sd_bus_message_unref(reply);
        if (r < 0 && !d->first) {
                fprintf(stderr, "release to the host: %s\n", error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        sd_bus_error_free(&error);
        /* Release returns once the device is back on its driver, but the uevents that caused (vfio-pci's
         * unbind, the driver's bind) are still queued for isolated: wait until it has handled them (it
         * announces the bind), or they would be handled inside the timed window of the next capture. */
        if (r >= 0) {
                uint64_t deadline = bench_now_ns() + UINT64_C(30) * 1000000000;
                while (!d->w.bound && bench_now_ns() < deadline) {
                        r = sd_bus_process(d->bus, NULL);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                (void) sd_bus_wait(d->bus, 100000);
                }
                if (!d->w.bound && !d->warned) {
                        fprintf(stderr, "warning: isolated did not announce %s bound to %s after the release\n",
                                d->slot, d->driver);
                        d->warned = true;
                }
        }
        d->first = false;
        while (sd_bus_process(d->bus, NULL) > 0)
                ;
        d->w.seen = false;
        d->w.bound = false;
        if (ret_start_rt)
                *ret_start_rt = now_nsec(CLOCK_REALTIME);
        t0 = bench_now_ns();
        r = bench_write_file(d->unbind, d->slot);
        if (r < 0)
                return fprintf(stderr, "unbind: %s\n", strerror(-r)), r;
        r = wait_state(d->bus, &d->w, UINT64_C(60) * 1000000000);
        if (r < 0)
                return fprintf(stderr, "no DeviceStateChanged(quarantined) for %s: %s\n", d->slot, strerror(-r)), r;
        *ret_ns = bench_now_ns() - t0;
        if (ret_end_rt)
                *ret_end_rt = now_nsec(CLOCK_REALTIME);
        return 0;
}

static void settle_floor(DaemonRound *d, Wait *fw) {
        uint64_t deadline = bench_now_ns() + UINT64_C(30) * 1000000000;
        while (!fw->bound && bench_now_ns() < deadline)
                if (sd_bus_process(d->bus, NULL) == 0)
                        (void) sd_bus_wait(d->bus, 100000);
        fw->bound = false;
}

static int bench_unbind(const char *slot, const char *driver, size_t n, bool trace) {
        uint64_t *v = calloc(n, sizeof(uint64_t));
        DaemonRound d;

        if (!v || daemon_round_init(&d, slot, driver) < 0)
                return 1;
        for (size_t i = 0; i < n; i++) {
                uint64_t s, e;
                if (daemon_round(&d, &v[i], &s, &e) < 0)
                        return 1;
                if (trace)
                        printf("  round %zu: unbind write at %" PRIu64 ".%06" PRIu64 ", signal at %" PRIu64
                               ".%06" PRIu64 " (%.1f µs)\n",
                               i, s / 1000000000, s / 1000 % 1000000, e / 1000000000, e / 1000 % 1000000,
                               v[i] / 1000.0);
        }
        report("unbind write → DeviceStateChanged(quarantined)", v, n);
        sd_bus_unref(d.bus);
        free(v);
        return 0;
}

static double p_of(uint64_t *v, size_t n, unsigned pct) {
        bench_sort(v, n);
        return bench_pct(v, n, pct) / 1000.0;
}

static int bench_compare(const char *slot, const char *floor_slot, const char *driver, size_t n, bool scratch) {
        uint64_t *dv = calloc(n, sizeof(uint64_t)), *fv[_FLOOR_STEP_MAX], *fd[_FLOOR_STEP_MAX];
        unsigned end = scratch ? FLOOR_ATTACH : FLOOR_BIND;
        DaemonRound d;
        Floor *f = NULL;
        int r;

        for (unsigned k = 0; k < _FLOOR_STEP_MAX; k++) {
                fv[k] = calloc(n, sizeof(uint64_t)); /* since the unbind write */
                fd[k] = calloc(n, sizeof(uint64_t)); /* since the previous step */
                if (!fv[k] || !fd[k])
                        return 1;
        }
        if (!dv || daemon_round_init(&d, slot, driver) < 0)
                return 1;
        r = floor_new(scratch, &f);
        if (r < 0)
                return 1;
        Wait fw = { .slot = floor_slot, .state = "-" };
        r = sd_bus_match_signal(d.bus, NULL, "org.isolate1", "/org/isolate1", "org.isolate1.Manager",
                                "DeviceStateChanged", on_state, &fw);
        if (r < 0)
                return 1;

        printf("isolated (%s mode) on %s against the floor on %s, both unbinding from %s, %zu rounds interleaved\n",
               scratch ? "scratch-page" : "blocked", slot, floor_slot, driver, n);
        /* one untimed round of each first: the scratch IOAS, caches, the page cache of sysfs */
        {
                uint64_t t[_FLOOR_STEP_MAX], x;
                if (daemon_round(&d, &x, NULL, NULL) < 0 || floor_take(f, floor_slot, driver, t) < 0 ||
                    floor_give_back(f, floor_slot, driver) < 0)
                        return 1;
                settle_floor(&d, &fw);
        }
        for (size_t i = 0; i < n; i++) {
                uint64_t t[_FLOOR_STEP_MAX] = {};
                /* alternate which goes first, so that neither always runs right after the other's
                 * give-back */
                for (int pass = 0; pass < 2; pass++) {
                        if ((pass == 0) == (i % 2 == 0)) {
                                if (daemon_round(&d, &dv[i], NULL, NULL) < 0)
                                        return 1;
                        } else {
                                if (floor_take(f, floor_slot, driver, t) < 0 ||
                                    floor_give_back(f, floor_slot, driver) < 0)
                                        return 1;
                                /* isolated hears the floor's device go back to its driver too: let it
                                 * finish with that before the next timed window */
                                settle_floor(&d, &fw);
                                for (unsigned k = 0; k < _FLOOR_STEP_MAX; k++) {
                                        fv[k][i] = t[k];
                                        fd[k][i] = k == 0 ? t[0] : t[k] - t[k - 1];
                                }
                        }
                }
        }
        /* the final release leaves the daemon's device on its driver for what follows */
        {
                sd_bus_message *reply = NULL;
                (void) sd_bus_call_method(d.bus, "org.isolate1", "/org/isolate1", "org.isolate1.Manager", "Release",
                                          NULL, &reply, "assb", 1, slot, "host", 0);
                sd_bus_message_unref(reply);
        }

        printf("  the floor, step by step (µs; 'at' = since the unbind write, 'step' = since the previous step):\n");
        for (unsigned k = 0; k <= end; k++) {
                if (k == FLOOR_ATTACH && !scratch)
                        break;
                double a50 = p_of(fv[k], n, 50), a99 = p_of(fv[k], n, 99);
                double s50 = p_of(fd[k], n, 50), s99 = p_of(fd[k], n, 99);
                printf("    %-44s at p50 %9.1f p99 %9.1f   step p50 %9.1f p99 %9.1f\n", floor_step_name[k], a50, a99,
                       s50, s99);
        }
        double f50 = p_of(fv[end], n, 50), f99 = p_of(fv[end], n, 99);
        double ev50 = p_of(fv[FLOOR_EVENT], n, 50);
        double d50 = p_of(dv, n, 50), d99 = p_of(dv, n, 99);
        report(scratch ? "floor: unbind write → attached" : "floor: unbind write → bound (blocked)", fv[end], n);
        report("isolated: unbind write → DeviceStateChanged(quarantined)", dv, n);
        printf("  RATIO isolated/floor (%s): p50 %.2f   p99 %.2f   (target ≤ 1.5)\n",
               scratch ? "scratch-page" : "blocked", d50 / f50, d99 / f99);
        printf("  floor from the event on (what isolated's 'attached N µs after the event' compares with): p50 %.1f µs\n",
               f50 - ev50);
        printf("  FLOOR-SUMMARY mode=%s event_p50=%.1f end_p50=%.1f end_p99=%.1f daemon_p50=%.1f daemon_p99=%.1f\n",
               scratch ? "scratch" : "blocked", ev50, f50, f99, d50, d99);
        floor_free(f);
        sd_bus_unref(d.bus);
        free(dv);
        for (unsigned k = 0; k < _FLOOR_STEP_MAX; k++)
                free(fv[k]), free(fd[k]);
        return 0;
}

static int bench_floor_many(bool scratch, char **slots, size_t n) {
        uint64_t *steps[_FLOOR_STEP_MAX], t0, total;
        Floor *f = NULL;

        if (floor_new(scratch, &f) < 0)
                return 1;
        for (unsigned k = 0; k < _FLOOR_STEP_MAX; k++)
                if (!(steps[k] = calloc(n, sizeof(uint64_t))))
                        return 1;
        t0 = bench_now_ns();
        for (size_t i = 0; i < n; i++) {
                uint64_t t[_FLOOR_STEP_MAX] = {};
                if (floor_take_driverless(f, slots[i], t) < 0)
                        return 1;
                for (unsigned k = FLOOR_OVERRIDE; k < _FLOOR_STEP_MAX; k++)
                        steps[k][i] = t[k] - t[k - 1];
        }
        total = bench_now_ns() - t0;
        printf("  FLOOR-MANY n=%zu total_ms=%.1f (%s: driver_override, open, BIND%s, one after the other)\n", n,
               total / 1e6, scratch ? "scratch" : "blocked", scratch ? ", ATTACH" : "");
        for (unsigned k = FLOOR_OVERRIDE; k < _FLOOR_STEP_MAX; k++) {
                uint64_t sum = 0;
                if (k == FLOOR_ATTACH && !scratch)
                        break;
                for (size_t i = 0; i < n; i++)
                        sum += steps[k][i];
                printf("    %-44s sum %8.1f ms   p50 %8.1f µs\n", floor_step_name[k], sum / 1e6, p_of(steps[k], n, 50));
        }
        /* closed again and left on vfio-pci, for isolated to take at its start */
        for (size_t i = 0; i < n; i++)
                (void) floor_give_back(f, slots[i], NULL);
        floor_free(f);
        return 0;
}

static int bench_roundtrip(const char *slot, size_t n) {
        sd_bus *bus = NULL;
        uint64_t *v = calloc(n, sizeof(uint64_t));
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return 1;
        for (size_t i = 0; i < n; i++) {
                sd_bus_message *reply = NULL;
                uint64_t t0 = bench_now_ns();
                r = sd_bus_call_method(bus, "org.isolate1", "/org/isolate1", "org.isolate1.Manager", "GetDevice", NULL,
                                       &reply, "s", slot);
                v[i] = bench_now_ns() - t0;
                sd_bus_message_unref(reply);
                if (r < 0)
                        return fprintf(stderr, "GetDevice: %s\n", strerror(-r)), 1;
        }
        report("GetDevice() round trip (what 'status DEVICE' asks)", v, n);
        for (size_t i = 0; i < n; i++) {
                sd_bus_message *reply = NULL;
                uint64_t t0 = bench_now_ns();
                r = sd_bus_call_method(bus, "org.isolate1", "/org/isolate1", "org.isolate1.Manager", "ListDevices",
                                       NULL, &reply, NULL);
                v[i] = bench_now_ns() - t0;
                sd_bus_message_unref(reply);
                if (r < 0)
                        return 1;
        }
        report("ListDevices() round trip (what 'status' asks)", v, n);
        sd_bus_unref(bus);
        free(v);
        return 0;
}

int main(int argc, char *argv[]) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if ((argc == 5 || argc == 6) && strcmp(argv[1], "unbind") == 0)
                return bench_unbind(argv[2], argv[3], (size_t) atoi(argv[4]),
                                    argc == 6 && strcmp(argv[5], "--trace") == 0);
        if (argc == 7 && strcmp(argv[1], "compare") == 0)
                return bench_compare(argv[2], argv[3], argv[4], (size_t) atoi(argv[5]),
                                     strcmp(argv[6], "scratch") == 0);
        if (argc >= 4 && strcmp(argv[1], "floor-many") == 0)
                return bench_floor_many(strcmp(argv[2], "scratch") == 0, argv + 3, (size_t) argc - 3);
        if (argc == 4 && strcmp(argv[1], "roundtrip") == 0)
                return bench_roundtrip(argv[2], (size_t) atoi(argv[3]));
        fprintf(stderr,
                "usage: %s unbind SLOT DRIVER N [--trace] | compare SLOT FLOOR_SLOT DRIVER N blocked|scratch |\n"
                "       floor-many blocked|scratch SLOT... | roundtrip SLOT N\n",
                argv[0]);
        return 2;
}
