/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmarks of isolated on the real kernel (run in the VM tier's guest by bench/vm-daemon). Prints
 * numbers; asserts nothing.
 *
 *   isolate-vm-bench-daemon unbind SLOT DRIVER N   write SLOT to DRIVER's unbind and time until isolated
 *                                                  announces it quarantined (DeviceStateChanged), N times;
 *                                                  between rounds the device goes back to DRIVER
 *   isolate-vm-bench-daemon roundtrip SLOT N       GetDevice() round trips over the system bus
 */

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bench.h"

static void report(const char *what, uint64_t *v, size_t n) {
        bench_sort(v, n);
        printf("  %-50s p50 %9.1f µs   p99 %9.1f µs   max %9.1f µs   (n=%zu)\n", what, bench_pct(v, n, 50) / 1000.0,
               bench_pct(v, n, 99) / 1000.0, v[n - 1] / 1000.0, n);
}

static int write_file(const char *path, const char *s) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t k;
        if (fd < 0)
                return -errno;
        k = write(fd, s, strlen(s));
        close(fd);
        return k == (ssize_t) strlen(s) ? 0 : -EIO;
}

typedef struct Wait {
        const char *slot;
        const char *state;
        bool seen;
} Wait;

static int on_state(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Wait *w = userdata;
        const char *slot, *state, *mode, *reason;
        if (sd_bus_message_read(m, "ssss", &slot, &state, &mode, &reason) >= 0 && strcmp(slot, w->slot) == 0 &&
            strcmp(state, w->state) == 0)
                w->seen = true;
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

static int bench_unbind(const char *slot, const char *driver, size_t n) {
        sd_bus *bus = NULL;
        uint64_t *v = calloc(n, sizeof(uint64_t));
        char unbind[256], devs[2][64];
        Wait w = { .slot = slot, .state = "quarantined" };
        int r;

        snprintf(unbind, sizeof(unbind), "/sys/bus/pci/drivers/%s/unbind", driver);
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return fprintf(stderr, "bus: %s\n", strerror(-r)), 1;
        r = sd_bus_match_signal(bus, NULL, "org.isolate1", "/org/isolate1", "org.isolate1.Manager", "DeviceStateChanged",
                                on_state, &w);
        if (r < 0)
                return fprintf(stderr, "match: %s\n", strerror(-r)), 1;
        snprintf(devs[0], sizeof(devs[0]), "%s", slot);

        for (size_t i = 0; i < n; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                uint64_t t0;

                /* back to the host driver (not measured) */
                r = sd_bus_call_method(bus, "org.isolate1", "/org/isolate1", "org.isolate1.Manager", "Release", &error,
                                       &reply, "assb", 1, slot, "host", 0);
                sd_bus_message_unref(reply);
                if (r < 0 && i > 0) {
                        fprintf(stderr, "release to the host: %s\n", error.message ?: strerror(-r));
                        return 1;
                }
                sd_bus_error_free(&error);
                while (sd_bus_process(bus, NULL) > 0)
                        ;
                w.seen = false;
                t0 = bench_now_ns();
                r = write_file(unbind, slot);
                if (r < 0)
                        return fprintf(stderr, "unbind: %s\n", strerror(-r)), 1;
                r = wait_state(bus, &w, UINT64_C(20) * 1000000000);
                if (r < 0)
                        return fprintf(stderr, "no DeviceStateChanged(quarantined) for %s: %s\n", slot, strerror(-r)), 1;
                v[i] = bench_now_ns() - t0;
        }
        report("unbind write → DeviceStateChanged(quarantined)", v, n);
        sd_bus_unref(bus);
        free(v);
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
                r = sd_bus_call_method(bus, "org.isolate1", "/org/isolate1", "org.isolate1.Manager", "ListDevices", NULL,
                                       &reply, NULL);
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
        if (argc == 5 && strcmp(argv[1], "unbind") == 0)
                return bench_unbind(argv[2], argv[3], (size_t) atoi(argv[4]));
        if (argc == 4 && strcmp(argv[1], "roundtrip") == 0)
                return bench_roundtrip(argv[2], (size_t) atoi(argv[3]));
        fprintf(stderr, "usage: %s unbind SLOT DRIVER N | roundtrip SLOT N\n", argv[0]);
        return 2;
}
