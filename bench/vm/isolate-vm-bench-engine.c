/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmarks of the quarantine engine on the real kernel (run in the VM tier's guest by bench/vm-engine).
 * Prints numbers; asserts nothing.
 *
 *   isolate-vm-bench-engine take SLOT [N]      engine quarantine/release vs the bare ioctls
 *   isolate-vm-bench-engine cover SLOT [2M|4K] scratch cover cost by doubling steps: ioctls, time, kernel
 *                                              memory, within $ISOLATE_BENCH_COVER_BUDGET seconds (180;
 *                                              the guest allows a script 300 s)
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "bench.h"
#include "iommufd.h"
#include "quarantine.h"
#include "scratch.h"
#include "topology.h"
#include "vfio.h"

static void report(const char *what, uint64_t *v, size_t n) {
        bench_sort(v, n);
        printf("  %-58s p50 %8.1f µs   p99 %8.1f µs   (n=%zu)\n", what, bench_pct(v, n, 50) / 1000.0,
               bench_pct(v, n, 99) / 1000.0, n);
}

static Topology *topo(void) {
        Topology *t;
        char *msg = NULL;
        if (topology_load(NULL, &t, &msg) < 0) {
                fprintf(stderr, "topology: %s\n", msg ? msg : "?");
                exit(1);
        }
        return t;
}

static int bench_take(const char *slot, size_t n) {
        Topology *t = topo();
        Engine *e;
        EngineError err = {};
        char *slots[] = { (char *) slot, NULL };
        uint64_t *take = calloc(n, sizeof(uint64_t)), *bare = calloc(n, sizeof(uint64_t)),
                 *sw = calloc(n, sizeof(uint64_t)), *bare_sw = calloc(n, sizeof(uint64_t)),
                 *rel = calloc(n, sizeof(uint64_t));
        int ifd;
        uint32_t ioas, ioas2, devid;

        if (engine_new(NULL, NULL, NULL, &e) < 0)
                return 1;
        printf("take and switch %s, %zu rounds each (take: engine and bare interleaved)\n", slot, n);

        /* engine: the device is already on vfio-pci and released, so this is open + bind + attach +
         * bus-master check + get_info + reset, as when isolated re-takes a device after a guest. */
        QuarantineRequest req = { .slots = slots, .mode = QUARANTINE_MODE_BLOCKED, .reset = true };
        if (engine_quarantine(e, t, &req, NULL, &err) < 0) {
                fprintf(stderr, "quarantine: %s\n", err.message);
                return 1;
        }
        /* the bare ioctls, round by round with the engine's (the load of a shared host changes between
         * phases): open the cdev, BIND, ATTACH to an empty IOAS, then ATTACH replace; closed again */
        if (iommufd_open(&ifd) < 0 || iommufd_ioas_alloc(ifd, &ioas) < 0 || iommufd_ioas_alloc(ifd, &ioas2) < 0)
                return 1;
        for (size_t i = 0; i < n; i++) {
                uint64_t t0;
                int dfd;

                (void) engine_release_guest(e, t, slots, NULL, &err);
                t0 = bench_now_ns();
                if (vfio_cdev_open(NULL, slot, &dfd) < 0 || vfio_device_bind_iommufd(dfd, ifd, &devid) < 0 ||
                    vfio_device_attach_pt(dfd, ioas, NULL) < 0) {
                        fprintf(stderr, "bare ioctls failed\n");
                        return 1;
                }
                bare[i] = bench_now_ns() - t0;
                t0 = bench_now_ns();
                (void) vfio_device_attach_pt(dfd, ioas2, NULL);
                bare_sw[i] = bench_now_ns() - t0;
                close(dfd);

                t0 = bench_now_ns();
                if (engine_quarantine(e, t, &req, NULL, &err) < 0) {
                        fprintf(stderr, "quarantine: %s\n", err.message);
                        return 1;
                }
                take[i] = bench_now_ns() - t0;
        }
        close(ifd);
        /* mode switch: attach to the scratch HWPT, detach back to the blocking domain */
        req.mode = QUARANTINE_MODE_SCRATCH_PAGE;
        req.cover = UINT64_C(4) << 30;
        req.slots = slots;
        (void) engine_set_mode(e, t, &req, &err); /* builds the scratch once */
        for (size_t i = 0; i < n; i++) {
                uint64_t t0 = bench_now_ns();
                req.mode = i % 2 ? QUARANTINE_MODE_SCRATCH_PAGE : QUARANTINE_MODE_BLOCKED;
                if (engine_set_mode(e, t, &req, &err) < 0) {
                        fprintf(stderr, "set mode: %s\n", err.message);
                        return 1;
                }
                sw[i] = bench_now_ns() - t0;
        }
        for (size_t i = 0; i < n; i++) {
                uint64_t t0;
                (void) engine_quarantine(e, t, &req, NULL, &err);
                t0 = bench_now_ns();
                (void) engine_release_guest(e, t, slots, NULL, &err);
                rel[i] = bench_now_ns() - t0;
        }
        engine_free(e);

        report("engine: take a released device (blocked: sysfs checks, open, BIND, reset)", take, n);
        report("bare:   open cdev + BIND + ATTACH", bare, n);
        printf("  ratio engine/bare (p50): %.2f\n", (double) take[n / 2] / (double) bare[n / 2]);
        report("engine: switch mode (replace-attach)", sw, n);
        report("bare:   ATTACH replace", bare_sw, n);
        report("engine: release to a guest (close: quiesce, reset)", rel, n);

        /* what attaching to the scratch IOAS adds beyond the ioctl: attach_scratch() zeroes the 2 MiB
         * scratch page on every attach (scratch_zero); the same memset on a 2 MiB hugetlb page */
        {
                size_t sz = SCRATCH_HUGE_SIZE;
                char *buf = mmap(NULL, sz, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
                if (buf != MAP_FAILED) {
                        for (size_t i = 0; i < n; i++) {
                                uint64_t t0 = bench_now_ns();
                                memset(buf, (int) i, sz);
                                __asm__ __volatile__("" : : "r"(buf) : "memory");
                                bare_sw[i] = bench_now_ns() - t0;
                        }
                        report("bare:   memset of a 2 MiB hugetlb page (scratch_zero())", bare_sw, n);
                        munmap(buf, sz);
                } else
                        printf("  (no free hugepage for the memset comparison)\n");
        }
        topology_free(t);
        return 0;
}

static long meminfo(const char *key) {
        char line[256];
        long v = -1;
        FILE *f = fopen("/proc/meminfo", "re");
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
                        v = strtol(line + strlen(key) + 1, NULL, 10);
        if (f)
                fclose(f);
        return v;
}

static long vmstat(const char *key) {
        char name[128];
        long v, found = -1;
        FILE *f = fopen("/proc/vmstat", "re");
        while (f && fscanf(f, "%127s %ld", name, &v) == 2)
                if (strcmp(name, key) == 0)
                        found = v;
        if (f)
                fclose(f);
        return found;
}

static long slab_kb(void) {
        return meminfo("Slab");
}

static void fmt_size(uint64_t b, char buf[static 32]) {
        if (b >= UINT64_C(1) << 30)
                snprintf(buf, 32, "%" PRIu64 " GiB", b >> 30);
        else
                snprintf(buf, 32, "%" PRIu64 " MiB", b >> 20);
}

/* Covers more and more (doubling) until max_cover, and prints each step as it is done: the cost per
 * doubling shows how it grows. Stops when the budget is spent or the next step, growing as the last
 * did, would not fit in it (64 GiB at 2 MiB ran for more than the guest's 300 s per script under TCG
 * and printed nothing at all). */
static int bench_cover_one(int ifd, int dfd, uint64_t max_cover, bool huge, double budget_s) {
        Scratch s = SCRATCH_INIT;
        IovaRange *ranges = NULL;
        size_t n = 0;
        uint64_t start = huge ? UINT64_C(1) << 30 : UINT64_C(16) << 20, spent = 0, last = 0, prev = 0;
        long pt0, sec0, slab0, free0;
        int r;

        r = scratch_alloc(&s, !huge);
        if (r < 0 || s.huge != huge) {
                printf("  at %s: no %s backing available\n", huge ? "2M" : "4K", huge ? "hugetlb" : "4K");
                scratch_release(&s);
                return 0;
        }
        if (iommufd_ioas_alloc(ifd, &s.ioas) < 0 || vfio_device_attach_pt(dfd, s.ioas, NULL) < 0 ||
            iommufd_ioas_iova_ranges(ifd, s.ioas, &ranges, &n, NULL) < 0)
                return 1;
        /* the 4 KiB fallback is capped by the engine; here the cost is measured uncapped */
        if (!huge)
                s.huge = true, s.size = SCRATCH_SMALL_SIZE; /* lift the cap, keep the 4K granule */
        sync();
        pt0 = vmstat("nr_iommu_pages");
        sec0 = meminfo("SecPageTables");
        slab0 = slab_kb();
        free0 = meminfo("MemFree");
        printf("  %s granule, doubling up to %" PRIu64 " GiB (budget %.0f s; each line: the whole cover so far, the "
               "step's ioctls and time, memory since the start)\n",
               huge ? "2 MiB" : "4 KiB", max_cover >> 30, budget_s);
        for (uint64_t cover = start; cover <= max_cover; cover *= 2) {
                char what[32];
                size_t ioctls0 = s.ioctls;
                uint64_t t0 = bench_now_ns(), took;

                if (last > 0 && prev > 0) {
                        double growth = (double) last / (double) prev, next = last * (growth > 2 ? growth : 2) / 1e9;
                        if ((spent / 1e9) + next > budget_s) {
                                fmt_size(cover, what);
                                printf("    %8s: not attempted: the last doubling took %.1f s (%.1fx the one before), "
                                       "the next would take about %.0f s, over the budget (ISOLATE_BENCH_COVER_BUDGET)\n",
                                       what, last / 1e9, growth, next);
                                break;
                        }
                }
                r = scratch_extend(&s, ifd, cover, ranges, n);
                took = bench_now_ns() - t0;
                prev = last;
                last = took;
                spent += took;
                long pt1 = vmstat("nr_iommu_pages"), sec1 = meminfo("SecPageTables"), slab1 = slab_kb(),
                     free1 = meminfo("MemFree");
                fmt_size(cover, what);
                if (r < 0) {
                        printf("    %8s: failed: %s\n", what, strerror(-r));
                        break;
                }
                printf("    %8s: %4zu ioctls %10.1f ms   IOMMU page tables %7ld KiB   slab +%7ld KiB   MemFree -%7ld KiB\n",
                       what, s.ioctls - ioctls0, took / 1e6,
                       pt1 >= 0 && pt0 >= 0 ? (pt1 - pt0) * 4 : (sec1 >= 0 && sec0 >= 0 ? sec1 - sec0 : -1),
                       slab1 - slab0, free0 - free1);
                if (spent / 1e9 > budget_s)
                        break;
        }
        (void) iommufd_ioas_unmap(ifd, s.ioas, 0, 0, NULL);
        (void) vfio_device_detach_pt(dfd);
        (void) iommufd_destroy(ifd, s.ioas);
        s.ioas = 0;
        free(ranges);
        scratch_release(&s);
        return 0;
}

static int bench_cover(const char *slot, const char *granule) {
        const char *b = getenv("ISOLATE_BENCH_COVER_BUDGET");
        double budget = b ? atof(b) : 180;
        bool huge = !granule || strcmp(granule, "4K") != 0;
        int ifd, dfd;
        uint32_t devid;

        if (iommufd_open(&ifd) < 0 || vfio_cdev_open(NULL, slot, &dfd) < 0 ||
            vfio_device_bind_iommufd(dfd, ifd, &devid) < 0) {
                fprintf(stderr, "cannot bind %s (is it on vfio-pci?)\n", slot);
                return 1;
        }
        printf("scratch cover cost, %s (one device attached; IOMMU page tables from /proc/vmstat nr_iommu_pages or "
               "SecPageTables)\n",
               huge ? "2 MiB hugetlb page" : "4 KiB page");
        bench_cover_one(ifd, dfd, huge ? UINT64_C(64) << 30 : UINT64_C(4) << 30, huge, budget);
        if (!huge)
                printf("  64 GiB at 4K: not attempted: 16.8 M leaf entries, about 3 GiB of iopt_area metadata and "
                       "128 MiB of page tables (more than this guest has); the engine caps the 4K fallback at %" PRIu64
                       " MiB\n",
                       SCRATCH_SMALL_MAX_COVER >> 20);
        close(dfd);
        close(ifd);
        return 0;
}

int main(int argc, char *argv[]) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc >= 3 && strcmp(argv[1], "take") == 0)
                return bench_take(argv[2], argc > 3 ? (size_t) atoi(argv[3]) : 100);
        if ((argc == 3 || argc == 4) && strcmp(argv[1], "cover") == 0)
                return bench_cover(argv[2], argc == 4 ? argv[3] : NULL);
        fprintf(stderr, "usage: %s take SLOT [N] | cover SLOT [2M|4K]\n", argv[0]);
        return 2;
}
