/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The quarantine engine on the real kernel (runs inside the VM tier's guest, as root):
 *
 *   isolate-vm-engine-test CHECK...
 *
 * Each check drives libisolate's engine and QEMU's edu device and proves from the data it moved and
 * the IOMMU faults the kernel logged what a quarantined device can and cannot reach. Exit status 0
 * only if every check passed. Test-only code: it prints freely. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "dma-fault.h"
#include "edu.h"
#include "fileio.h"
#include "iommufd.h"
#include "quarantine.h"
#include "strv.h"
#include "topology.h"
#include "pci-driver.h"
#include "vfio.h"

static int failures;
static bool check_ok;

#define CHECK(cond, ...)                                                                                               \
        do {                                                                                                           \
                if ((check_ok = (cond)))                                                                               \
                        printf("  ok: " __VA_ARGS__);                                                                  \
                else {                                                                                                 \
                        printf("  FAIL (%s:%d): ", __FILE__, __LINE__);                                                \
                        printf(__VA_ARGS__);                                                                           \
                        failures++;                                                                                    \
                }                                                                                                      \
                printf("\n");                                                                                          \
        } while (0)

/* Evaluates cond once (it often has side effects), and ends the check when it fails. */
#define REQUIRE(cond, ...)                                                                                             \
        do {                                                                                                           \
                CHECK(cond, __VA_ARGS__);                                                                              \
                if (!check_ok)                                                                                         \
                        return;                                                                                        \
        } while (0)

static Topology *topo(void) {
        Topology *t = NULL;
        char *msg = NULL;
        int r = topology_load(NULL, &t, &msg);
        if (r < 0) {
                fprintf(stderr, "topology: %s %s\n", strerror(-r), msg ? msg : "");
                exit(1);
        }
        return t;
}

static char *driver_of(const char *slot) {
        char *d = NULL;
        (void) pci_sysfs_driver(NULL, slot, &d);
        return d;
}

static bool driver_is(const char *slot, const char *want) {
        _cleanup_free_ char *d = driver_of(slot);
        return want ? d && streq(d, want) : !d;
}

static uint16_t command_register(const char *slot) {
        char path[256];
        uint16_t cmd = 0xffff;
        int fd;
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", slot);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (pread(fd, &cmd, 2, 4) != 2)
                        cmd = 0xffff;
                close(fd);
        }
        return cmd;
}

/* ---- the kernel log -------------------------------------------------------------------- */

/* The checks count faults from the raw kernel lines ("DMAR: [DMA Read NO_PASID] Request device
 * [00:02.0] fault addr 0x1000 ..."), matched as text: an oracle apart from libisolate's parser, which
 * counts the same lines on its own (parsed_*) and must agree. */
typedef struct Faults {
        unsigned reads, writes;               /* raw DMAR lines */
        uint64_t last_iova;                   /* from the raw line's "fault addr" */
        unsigned parsed_reads, parsed_writes; /* dma_fault_parse_message() */
        PciAddress want;
} Faults;

static int kmsg_fd = -1;

static void kmsg_mark(void) {
        if (kmsg_fd < 0)
                kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (kmsg_fd >= 0)
                (void) lseek(kmsg_fd, 0, SEEK_END);
}

/* The requester ID a fault from this device carries: its own, or, behind a PCIe-to-PCI bridge, the
 * bridge's alias (secondary bus, devfn 0). */
static bool requester_matches(const PciAddress *want, const PciAddress *got) {
        if (got->bus == want->bus && got->slot == want->slot && got->func == want->func)
                return true;
        char path[256], target[512];
        ssize_t n;
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%04x:%02x:%02x.%x", want->domain, want->bus, want->slot,
                 want->func);
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
                return false;
        target[n] = '\0';
        /* behind a conventional bridge: ../pci0000:00/0000:00:06.0/0000:01:00.0/0000:02:01.0 */
        return got->bus == want->bus && got->slot == 0 && got->func == 0 && strstr(target, ":01:00.0/");
}

/* The oracle: a DMAR line of the requester, as text. */
static void raw_count(const char *msg, Faults *f) {
        const char *rd = strstr(msg, "DMAR: [DMA Read"), *wr = strstr(msg, "DMAR: [DMA Write");
        const char *req = strstr(msg, "] Request device [");
        unsigned bus, slot, func;
        if ((!rd && !wr) || !req || sscanf(req, "] Request device [%x:%x.%x]", &bus, &slot, &func) != 3)
                return;
        PciAddress got = { .domain = f->want.domain, .bus = bus, .slot = slot, .func = func };
        if (!requester_matches(&f->want, &got))
                return;
        if (rd)
                f->reads++;
        else
                f->writes++;
        const char *a = strstr(req, "fault addr ");
        if (a)
                f->last_iova = strtoull(a + strlen("fault addr "), NULL, 16);
}

/* Collects DMA faults logged since kmsg_mark() for the given requester, for up to `ms`. */
static void kmsg_collect(const char *slot, unsigned ms, Faults *f) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        char buf[8192];

        *f = (Faults) {};
        assert(pci_address_parse(slot, &f->want) >= 0);
        for (unsigned waited = 0; waited <= ms; waited += 50) {
                for (;;) {
                        ssize_t n = read(kmsg_fd, buf, sizeof(buf) - 1);
                        KmsgRecord rec;
                        DmaFault fault;
                        if (n < 0 && errno == EPIPE)
                                continue;
                        if (n <= 0)
                                break;
                        buf[n] = '\0';
                        if (kmsg_record_parse(buf, (size_t) n, &rec) < 0)
                                continue;
                        if (dma_fault_parse_message(rec.message, &fault) == 1 && !fault.interrupt &&
                            requester_matches(&f->want, &fault.requester)) {
                                if (fault.access == DMA_ACCESS_READ)
                                        f->parsed_reads++;
                                else if (fault.access == DMA_ACCESS_WRITE)
                                        f->parsed_writes++;
                        }
                        raw_count(rec.message, f);
                        kmsg_record_done(&rec);
                }
                if (f->reads + f->writes + f->parsed_reads + f->parsed_writes > 0)
                        break;
                nanosleep(&ts, NULL);
        }
}

/* The raw lines and libisolate's parser must count the same faults. */
static void faults_agree(const char *slot, const Faults *f) {
        if (f->parsed_reads != f->reads || f->parsed_writes != f->writes) {
                printf("  FAIL: DMAR lines of %s: %u read, %u write; the parser counted %u read, %u write\n", slot,
                       f->reads, f->writes, f->parsed_reads, f->parsed_writes);
                failures++;
        }
}

/* The kernel rate-limits DMAR messages (burst 10 per 5 s): space out the checks that count them. */
static void ratelimit_pause(void) {
        static time_t last;
        time_t now = time(NULL);
        if (last && now - last < 3)
                sleep((unsigned) (3 - (now - last)));
        last = time(NULL);
}

static void dma(const char *slot, bool to_memory, uint64_t iova, uint32_t len, Faults *f) {
        Edu e;
        int r;

        ratelimit_pause();
        kmsg_mark();
        r = edu_open(slot, &e);
        if (r < 0) {
                printf("  FAIL: edu %s: %s\n", slot, strerror(-r));
                failures++;
                return;
        }
        r = to_memory ? edu_dma_to_memory(&e, iova, 0, len) : edu_dma_from_memory(&e, iova, 0, len);
        edu_close(&e);
        if (r < 0) {
                printf("  FAIL: edu %s DMA: %s\n", slot, strerror(-r));
                failures++;
        }
        kmsg_collect(slot, 3000, f);
        faults_agree(slot, f);
}

/* ---- a test IOAS with a read-write page, to load and inspect edu's buffer ---------------- */

#define TEST_IOVA UINT64_C(0x40000000) /* 1 GiB: outside the covers the checks use */

typedef struct TestPage {
        uint32_t ioas;
        uint8_t *page;
} TestPage;

static int test_page_setup(Engine *e, TestPage *tp) {
        int r;
        tp->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (tp->page == MAP_FAILED)
                return -errno;
        r = iommufd_ioas_alloc(e->iommufd, &tp->ioas);
        if (r < 0)
                return r;
        return iommufd_ioas_map_fixed(e->iommufd, tp->ioas, tp->page, 4096, TEST_IOVA,
                                      IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE);
}

/* Fills edu's buffer with `pattern` by letting it read the test page (attached to the test IOAS). */
static void edu_load(Engine *e, HeldDevice *h, TestPage *tp, uint8_t pattern) {
        Faults f;
        memset(tp->page, pattern, 4096);
        CHECK(vfio_device_attach_pt(h->fd, tp->ioas, NULL) >= 0, "harness: %s attached to the test IOAS", h->slot);
        dma(h->slot, false, TEST_IOVA, 2048, &f);
}

/* Reads edu's buffer back through the test page; returns the first byte and whether all 2 KiB equal it. */
static bool edu_unload(Engine *e, HeldDevice *h, TestPage *tp, uint8_t *ret) {
        Faults f;
        memset(tp->page, 0x5a, 4096);
        CHECK(vfio_device_attach_pt(h->fd, tp->ioas, NULL) >= 0, "harness: %s attached to the test IOAS", h->slot);
        dma(h->slot, true, TEST_IOVA, 2048, &f);
        *ret = tp->page[0];
        for (int i = 1; i < 2048; i++)
                if (tp->page[i] != tp->page[0])
                        return false;
        return true;
}

/* ---- checks ------------------------------------------------------------------------------ */

/* What a device of the mode is attached to: the engine's persistent HWPT, or the IOAS itself. */
static uint32_t scratch_pt(const Engine *e) {
        return e->scratch_hwpt ?: e->scratch.ioas;
}

static int set_mode(Engine *e, Topology *t, char **slots, QuarantineMode mode, uint64_t cover, EngineError *err) {
        QuarantineRequest req = { .slots = slots, .mode = mode, .cover = cover };
        return engine_set_mode(e, t, &req, err);
}

static Engine *new_engine(void) {
        Engine *e;
        assert(engine_new(NULL, NULL, NULL, &e) >= 0);
        return e;
}

static int quarantine(Engine *e, Topology *t, const char *slot, QuarantineMode mode, uint64_t cover, EngineError *err) {
        char *slots[] = { (char *) slot, NULL };
        engine_error_done(err);
        QuarantineRequest req = { .slots = slots, .mode = mode, .cover = cover };
        return engine_quarantine(e, t, &req, NULL, err);
}

static void check_blocked(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        Faults f;
        const char *slot = "0000:00:02.0";
        int r;

        printf("blocked: an edu DMA read and write to any IOVA fault, attributed to the device\n");
        r = quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err);
        REQUIRE(r >= 0, "quarantine %s blocked (%s)", slot, err.message ?: "");
        CHECK(driver_is(slot, "vfio-pci"), "%s is on vfio-pci", slot);
        CHECK(!(command_register(slot) & 0x4), "bus mastering is off after entering quarantine");
        HeldDevice *h = engine_find(e, slot);
        CHECK(h && h->state == DEVICE_STATE_QUARANTINED && h->pt_id == 0,
              "held on the kernel's blocking domain (bound, attached to nothing)");

        dma(slot, false, 0x1000, 64, &f);
        CHECK(f.reads >= 1 && f.last_iova == 0x1000,
              "DMA read of IOVA 0x1000 faulted (%u read faults, last at 0x%" PRIx64 ")", f.reads, f.last_iova);
        dma(slot, true, 0x200000, 64, &f);
        CHECK(f.writes >= 1 && f.last_iova == 0x200000, "DMA write to IOVA 0x200000 faulted (%u write faults)",
              f.writes);
        dma(slot, false, 0x3ff000000, 64, &f);
        CHECK(f.reads >= 1, "DMA read far above 4 GiB faulted too (%u)", f.reads);

        /* the other edu, not quarantined, is untouched */
        CHECK(driver_is("0000:00:03.0", NULL), "the other edu stayed unbound");

        char *slots[] = { (char *) slot, NULL };
        r = engine_release_host(e, t, slots, NULL, &err);
        CHECK(r >= 0, "release %s to the host (%s)", slot, err.message ?: "");
        CHECK(driver_is(slot, NULL), "%s is unbound again (it had no driver before)", slot);
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_scratch(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        TestPage tp = {};
        Faults f;
        uint8_t b;
        const char *slot = "0000:00:03.0";
        const uint64_t cover = UINT64_C(64) << 20;
        int r;

        printf("scratch-page: reads inside the cover return zeros, writes fault and leave the scratch unchanged,\n"
               "reads outside the cover fault\n");
        r = quarantine(e, t, slot, QUARANTINE_MODE_SCRATCH_PAGE, cover, &err);
        REQUIRE(r >= 0, "quarantine %s scratch-page, cover 64 MiB (%s)", slot, err.message ?: "");
        HeldDevice *h = engine_find(e, slot);
        REQUIRE(h && h->pt_id == scratch_pt(e) && e->scratch.ioas != 0, "attached to the scratch IOAS");
        printf("  scratch: %s page, %" PRIu64 " MiB covered with %zu ioctls\n",
               e->scratch.huge ? "2 MiB huge" : "4 KiB", e->scratch.covered >> 20, e->scratch.ioctls);
        CHECK(e->scratch.covered == cover, "the whole cover is mapped");

        REQUIRE(test_page_setup(e, &tp) >= 0, "harness: test IOAS with a read-write page");

        /* 1. read inside the cover: the buffer becomes the scratch's zeros, no fault */
        edu_load(e, h, &tp, 0xa5);
        CHECK(vfio_device_attach_pt(h->fd, scratch_pt(e), NULL) >= 0, "back to the scratch IOAS (replace)");
        dma(slot, false, 0x10000, 2048, &f);
        CHECK(f.reads == 0 && f.writes == 0, "DMA read at IOVA 0x10000 inside the cover did not fault");
        CHECK(edu_unload(e, h, &tp, &b) && b == 0x00, "the device read zeros from the scratch page (buffer now 0x%02x)",
              b);

        /* 2. read at the top of the cover (a copied chunk, not the MAP'ed one) */
        edu_load(e, h, &tp, 0xa5);
        CHECK(vfio_device_attach_pt(h->fd, scratch_pt(e), NULL) >= 0, "back to the scratch IOAS");
        dma(slot, false, cover - 4096, 2048, &f);
        CHECK(f.reads == 0, "DMA read at the last page of the cover did not fault");
        CHECK(edu_unload(e, h, &tp, &b) && b == 0x00, "and returned zeros (0x%02x)", b);

        /* 3. write inside the cover faults; the scratch stays zero */
        edu_load(e, h, &tp, 0xee);
        CHECK(vfio_device_attach_pt(h->fd, scratch_pt(e), NULL) >= 0, "back to the scratch IOAS");
        dma(slot, true, 0x10000, 2048, &f);
        CHECK(f.writes >= 1, "DMA write inside the cover faulted (%u write faults)", f.writes);
        bool zero = true;
        for (uint64_t i = 0; i < e->scratch.size; i++)
                if (((uint8_t *) e->scratch.va)[i] != 0)
                        zero = false;
        CHECK(zero, "the scratch page is still all zeros");

        /* 4. read outside the cover faults */
        dma(slot, false, cover + 0x100000, 64, &f);
        CHECK(f.reads >= 1, "DMA read outside the cover faulted (%u read faults)", f.reads);

        /* the MSI window is left out of the cover */
        CHECK(iommufd_ioas_unmap(e->iommufd, e->scratch.ioas, 0xfee00000, 4096, NULL) < 0 || cover < 0xfee00000,
              "nothing is mapped in the MSI window");

        char *slots[] = { (char *) slot, NULL };
        CHECK(engine_release_host(e, t, slots, NULL, &err) >= 0, "release to the host (%s)", err.message ?: "");
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_mode_switch(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        Faults f;
        const char *slot = "0000:00:02.0";
        char *slots[] = { (char *) slot, NULL };
        int fd;

        printf("mode switch without release: blocked → scratch-page → blocked, same fd, never outside quarantine\n");
        REQUIRE(quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err) >= 0, "quarantine blocked (%s)",
                err.message ?: "");
        fd = engine_find(e, slot)->fd;
        REQUIRE(set_mode(e, t, slots, QUARANTINE_MODE_SCRATCH_PAGE, UINT64_C(16) << 20, &err) >= 0,
                "switch to scratch-page (%s)", err.message ?: "");
        CHECK(engine_find(e, slot)->fd == fd && engine_find(e, slot)->mode == QUARANTINE_MODE_SCRATCH_PAGE,
              "same fd, now scratch-page");
        dma(slot, false, 0x1000, 64, &f);
        CHECK(f.reads == 0, "a read inside the cover does not fault in scratch-page mode");
        REQUIRE(set_mode(e, t, slots, QUARANTINE_MODE_BLOCKED, 0, &err) >= 0, "back to blocked (%s)",
                err.message ?: "");
        dma(slot, false, 0x1000, 64, &f);
        CHECK(f.reads >= 1, "the same read faults again in blocked mode");
        /* quarantine of a held device with another mode is a switch too */
        REQUIRE(quarantine(e, t, slot, QUARANTINE_MODE_SCRATCH_PAGE, UINT64_C(16) << 20, &err) >= 0,
                "quarantine again, scratch-page");
        CHECK(engine_find(e, slot)->fd == fd && engine_find(e, slot)->mode == QUARANTINE_MODE_SCRATCH_PAGE,
              "switched in place");
        CHECK(engine_release_host(e, t, slots, NULL, &err) >= 0, "release to the host");
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_release_guest(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        const char *slot = "0000:00:02.0";
        char *slots[] = { (char *) slot, NULL };
        int vmm_fd, vmm_iommufd;
        uint32_t devid;

        printf("release to a guest, a VMM binds the device, then quarantine takes it back\n");
        REQUIRE(quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err) >= 0, "quarantine");

        /* while held, a VMM cannot bind it */
        REQUIRE(vfio_cdev_open(NULL, slot, &vmm_fd) >= 0 && iommufd_open(&vmm_iommufd) >= 0, "a VMM opens the cdev");
        CHECK(vfio_device_bind_iommufd(vmm_fd, vmm_iommufd, &devid) == -EINVAL,
              "and cannot bind it while it is held (EINVAL)");
        close(vmm_fd);

        REQUIRE(engine_release_guest(e, t, slots, NULL, &err) >= 0, "release to a guest (%s)", err.message ?: "");
        CHECK(driver_is(slot, "vfio-pci"), "still on vfio-pci for the VMM");
        CHECK(engine_find(e, slot)->state == DEVICE_STATE_RELEASED, "state released");

        REQUIRE(vfio_cdev_open(NULL, slot, &vmm_fd) >= 0, "the VMM opens the cdev again");
        CHECK(vfio_device_bind_iommufd(vmm_fd, vmm_iommufd, &devid) >= 0, "and binds it now");
        CHECK(quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err) == -EBUSY && err.kind == ENGINE_ERROR_BUSY,
              "taking it back while the VMM has it fails: %s", err.message ?: "");
        close(vmm_fd);
        close(vmm_iommufd);

        CHECK(quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err) >= 0,
              "after the VMM closed it, quarantine takes it back (%s)", err.message ?: "");
        CHECK(engine_find(e, slot)->state == DEVICE_STATE_QUARANTINED, "state quarantined");
        CHECK(engine_release_host(e, t, slots, NULL, &err) >= 0, "release to the host");
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_release_host(const char *slot, const char *driver) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        char *slots[] = { (char *) slot, NULL };

        printf("release to the host restores the original driver: %s (%s)\n", slot, driver);
        REQUIRE(driver_is(slot, driver), "%s starts on %s", slot, driver);
        REQUIRE(quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err) >= 0, "quarantine takes it from %s (%s)",
                driver, err.message ?: "");
        CHECK(driver_is(slot, "vfio-pci"), "on vfio-pci while quarantined");
        CHECK(streq_ptr(engine_find(e, slot)->host_driver, driver), "remembered host driver %s", driver);
        topology_free(t);
        t = topo();
        REQUIRE(engine_release_host(e, t, slots, NULL, &err) >= 0, "release to the host (%s)", err.message ?: "");
        CHECK(driver_is(slot, driver), "%s is bound to %s again", slot, driver);
        _cleanup_free_ char *override = NULL, *path = NULL;
        assert(asprintf(&path, "/sys/bus/pci/devices/%s/driver_override", slot) > 0);
        CHECK(read_one_line_file(path, &override) >= 0 && streq(override, "(null)"), "driver_override is cleared (%s)",
              strna(override));
        CHECK(!engine_find(e, slot), "no longer held");
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_group(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        char **taken = NULL;
        char *edu_only[] = { (char *) "0000:02:01.0", NULL };
        char *both[] = { (char *) "0000:02:01.0", (char *) "0000:02:02.0", NULL };
        QuarantineRequest req = { .slots = edu_only, .mode = QUARANTINE_MODE_BLOCKED };

        printf("group: the bridge's group is taken whole, or refused naming the member that blocks it\n");
        CHECK(driver_is("0000:02:02.0", "virtio-pci"), "02:02.0 (virtio-rng) is in use by virtio-pci");
        CHECK(engine_quarantine(e, t, &req, NULL, &err) == -EBUSY && err.kind == ENGINE_ERROR_GROUP_NOT_VIABLE &&
                      streq_ptr(err.device, "0000:02:02.0"),
              "quarantine of 02:01.0 alone is refused, naming 02:02.0: %s", err.message ?: "");
        CHECK(driver_is("0000:02:02.0", "virtio-pci") && driver_is("0000:02:01.0", NULL), "and nothing was touched");

        req.slots = both;
        REQUIRE(engine_quarantine(e, t, &req, &taken, &err) >= 0, "quarantine of both takes the group (%s)",
                err.message ?: "");
        CHECK(strv_length(taken) == 2, "two devices taken");
        CHECK(engine_find(e, "0000:02:01.0") && engine_find(e, "0000:02:02.0"), "both held");
        CHECK(driver_is("0000:01:00.0", NULL), "the PCIe-to-PCI bridge itself stays as it was");
        strv_free(taken);

        /* Held: a DMA from behind the PCIe-to-PCI bridge faults (logged with the bridge's alias). */
        Faults f;
        dma("0000:02:01.0", false, 0x1000, 64, &f);
        CHECK(f.reads >= 1, "a DMA read of the edu behind the bridge faulted (%u)", f.reads);

        /* release of one member releases the group */
        char *one[] = { (char *) "0000:02:01.0", NULL };
        REQUIRE(engine_release_host(e, t, one, &taken, &err) >= 0, "release to the host (%s)", err.message ?: "");
        CHECK(strv_length(taken) == 2, "the whole group was released");
        CHECK(driver_is("0000:02:02.0", "virtio-pci"), "virtio-rng is back on virtio-pci");
        strv_free(taken);
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_unsafe_interrupts(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        const char *slot = "0000:00:02.0";
        char *slots[] = { (char *) slot, NULL };
        int r;

        printf("interrupts not isolated: quarantine fails with a clear message unless allow_unsafe_interrupts is set\n");
        r = quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err);
        CHECK(r == -EPERM && err.kind == ENGINE_ERROR_UNSAFE_INTERRUPTS, "quarantine refused: %s", err.message ?: "");
        CHECK(err.message && strstr(err.message, "not isolated") && strstr(err.message, "allow_unsafe_interrupts"),
              "the message names the cause and the override");
        CHECK(driver_is(slot, "vfio-pci"), "fail closed: left on vfio-pci (no host driver can grab it)");
        CHECK(!(command_register(slot) & 0x4), "fail closed: bus mastering is off");
        CHECK(!engine_find(e, slot), "not recorded as held");

        REQUIRE(write_string_file("/sys/module/iommufd/parameters/allow_unsafe_interrupts", "Y") >= 0,
                "allow unsafe interrupts");
        topology_free(t);
        t = topo();
        r = quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err);
        CHECK(r >= 0, "with allow_unsafe_interrupts=Y the device can be quarantined (%s)", err.message ?: "");
        (void) write_string_file("/sys/module/iommufd/parameters/allow_unsafe_interrupts", "N");
        if (r >= 0)
                CHECK(engine_release_host(e, t, slots, NULL, &err) >= 0, "release to the host (%s)", err.message ?: "");
        else {
                (void) pci_sysfs_set_driver_override(NULL, slot, NULL);
                (void) pci_sysfs_unbind(NULL, slot, "vfio-pci");
        }
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_passthrough(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        const char *slot = "0000:00:02.0";
        char *slots[] = { (char *) slot, NULL };
        _cleanup_free_ char *type = NULL;
        uint8_t *page;
        uint64_t pa;
        Faults f;
        int group = topology_find_device(t, &(PciAddress) { 0, 0, 2, 0 })->iommu_group;

        printf("passthrough (iommu=pt): an unowned edu reaches RAM; quarantine stops it and turns the group to DMA\n");
        page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
        REQUIRE(page != MAP_FAILED, "a locked page");
        memset(page, 0x11, 4096);
        pa = edu_phys_addr(page);
        REQUIRE(pa != 0, "its physical address 0x%" PRIx64, pa);
        REQUIRE(pci_sysfs_group_type(NULL, group, &type) >= 0 && streq(type, "identity"), "group %d starts identity",
                group);

        /* The hazard: the unowned device writes into our page. */
        dma(slot, false, pa, 64, &f); /* load the buffer from our own page (0x11) */
        memset(page, 0x22, 4096);
        dma(slot, true, pa + 2048, 64, &f); /* and write it back 2 KiB later */
        CHECK(page[2048] == 0x11, "unowned, the device wrote into host RAM by DMA (byte now 0x%02x): the hazard",
              page[2048]);

        memset(page, 0x22, 4096);
        REQUIRE(quarantine(e, t, slot, QUARANTINE_MODE_BLOCKED, 0, &err) >= 0, "quarantine (%s)", err.message ?: "");
        free(type);
        type = NULL;
        CHECK(pci_sysfs_group_type(NULL, group, &type) >= 0 && streq(type, "DMA"), "group %d switched to DMA (%s)",
              group, strna(type));
        CHECK(engine_find(e, slot)->group_type_changed, "and the engine remembers to put it back");
        dma(slot, true, pa + 2048, 64, &f);
        CHECK(page[2048] == 0x22 && f.writes >= 1, "quarantined, the same write faulted and the page is unchanged");

        REQUIRE(engine_release_host(e, t, slots, NULL, &err) >= 0, "release to the host (%s)", err.message ?: "");
        free(type);
        type = NULL;
        CHECK(pci_sysfs_group_type(NULL, group, &type) >= 0 && streq(type, "identity"), "group %d is identity again",
              group);
        munmap(page, 4096);
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_no_iommu(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};

        printf("no IOMMU: quarantine is refused, saying why\n");
        CHECK(quarantine(e, t, "0000:00:02.0", QUARANTINE_MODE_BLOCKED, 0, &err) < 0 &&
                      err.kind == ENGINE_ERROR_NOT_ISOLATABLE && strstr(err.message, "no active IOMMU"),
              "%s", err.message ?: "");
        CHECK(driver_is("0000:00:02.0", NULL), "nothing was touched");
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

static void check_errors(void) {
        Topology *t = topo();
        Engine *e = new_engine();
        EngineError err = {};
        char *none[] = { (char *) "0000:00:09.0", NULL }, *bridge[] = { (char *) "0000:00:00.0", NULL },
             *not_held[] = { (char *) "0000:00:02.0", NULL };
        QuarantineRequest req = { .slots = none, .mode = QUARANTINE_MODE_BLOCKED };

        printf("errors name the cause\n");
        CHECK(engine_quarantine(e, t, &req, NULL, &err) == -ENODEV && err.kind == ENGINE_ERROR_NO_DEVICE,
              "no such device: %s", err.message ?: "");
        req.slots = bridge;
        CHECK(engine_quarantine(e, t, &req, NULL, &err) < 0 && err.kind == ENGINE_ERROR_NOT_ISOLATABLE,
              "host bridge: %s", err.message ?: "");
        CHECK(engine_release_guest(e, t, not_held, NULL, &err) < 0 && err.kind == ENGINE_ERROR_NOT_HELD,
              "release of a device not held: %s", err.message ?: "");
        engine_error_done(&err);
        engine_free(e);
        topology_free(t);
}

int main(int argc, char *argv[]) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (int i = 1; i < argc; i++) {
                const char *c = argv[i];
                if (streq(c, "blocked"))
                        check_blocked();
                else if (streq(c, "scratch"))
                        check_scratch();
                else if (streq(c, "mode-switch"))
                        check_mode_switch();
                else if (streq(c, "release-guest"))
                        check_release_guest();
                else if (streq(c, "release-host-rng"))
                        check_release_host("0000:00:05.0", "virtio-pci");
                else if (streq(c, "release-host-e1000e"))
                        check_release_host("0000:00:04.0", "e1000e");
                else if (streq(c, "group"))
                        check_group();
                else if (streq(c, "unsafe-interrupts"))
                        check_unsafe_interrupts();
                else if (streq(c, "passthrough"))
                        check_passthrough();
                else if (streq(c, "no-iommu"))
                        check_no_iommu();
                else if (streq(c, "errors"))
                        check_errors();
                else {
                        fprintf(stderr, "unknown check '%s'\n", c);
                        return 2;
                }
        }
        printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
        return failures ? 1 : 0;
}
