/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The quarantine engine's logic and error paths, without hardware, on the real-kernel snapshots in
 * tests/fixtures/sysfs.
 *
 * The engine does every side effect through QuarantineOps, so these tests hand it a fake: a plain
 * in-memory model of the machine rather than cmocka's check_expected()/will_return(). Per PCI function
 * it knows the bound driver, driver_override, the bus-master bit, and whether the VFIO cdev is open,
 * bound to an iommufd and attached to which IOAS (none: the kernel's blocking domain, which is blocked
 * mode); per IOMMU group the default domain type and name; it hands out
 * the fds and object ids. It enforces the kernel rules the engine relies on (driver_override decides
 * what probes and binds, a group's type changes only while all its members are unbound, unbinding
 * vfio-pci from a device whose cdev is open would hang, a group with a member on a DMA-API driver
 * cannot be bound to iommufd), has knobs to inject failures, and logs every side effect as one line
 * ("override 0000:00:02.0 vfio-pci"). The tests assert on the end state and on the log (what happened,
 * in which order). A scripted mock would have pinned the exact call sequence of dozens of calls per
 * quarantine; what matters is what the engine achieved and in which order, which the fake checks.
 *
 * The legacy backend (VFIO's group node and container, fake_ops_legacy) has its model too: per group
 * whether its node is open (once at a time; dups share the open file) and which container it is set to
 * (owned: blocked), per container whether it has its type1 domain, and the scratch mappings in it. The
 * last close of a group node gives the group back (out of its container, which then loses its type1
 * domain and its mappings).
 *
 * The fds the fake hands out are real (/dev/null, a character device, as engine_adopt() checks), and
 * every test ends (teardown) by checking that none of them is still open. */

#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <linux/vfio.h>

#include "fileio.h"
#include "quarantine.h"
#include "strv.h"
#include "test-util.h"

/* A NULL-terminated vector of literals (systemd's STRV_MAKE) */
#define SLOTS(...) ((char **) ((const char *[]) { __VA_ARGS__, NULL }))
#define M16 (UINT64_C(16) << 20)
#define M64 (UINT64_C(64) << 20)
#define MAX48 ((UINT64_C(1) << 48) - 1)

/* ---- the fake machine ------------------------------------------------------------------------ */

typedef struct FakeSlot {
        char slot[PCI_ADDRESS_MAX];
        char *driver;   /* NULL: unbound */
        char *override; /* driver_override; NULL: none */
        int group;      /* -1: none (yet) */
        int late_group; /* the group it gets when vfio-pci binds (virtio-iommu probes late); -1: none */
        bool bus_master;
        bool bound; /* its cdev is bound to an iommufd */
        uint32_t dev_id;
        uint32_t pt; /* attached IOAS; 0: none (bound: the kernel's blocking domain) */
        unsigned attaches, replaces, detaches, resets;
        bool reset_works; /* VFIO_DEVICE_FLAGS_RESET */
        bool vmm_open;    /* some VMM has the cdev open and bound (vfio-pci has it enabled) */
        bool enabled;     /* sysfs "enable" > 0 for another reason */

        /* failure knobs */
        int cdev_open_error;
        int bind_error;
        bool probe_refuses;       /* vfio-pci does not bind on drivers_probe */
        int unbind_error;         /* unbinding any driver from it fails */
        int override_clear_error; /* clearing its driver_override fails */
        int override_set_error;   /* setting its driver_override (to a driver) fails */
        int config_write_error;   /* writes through the VFIO config region fail */
        bool bus_master_sticky;   /* ... or "succeed" and the bit stays set (read back) */
        bool ats_on;              /* its ATS Enable bit reads set (a kernel without a blocking domain) */
} FakeSlot;

typedef struct FakeGroup {
        int id;
        char *type;
        const char *name; /* sysfs iommu_groups/N/name; NULL: no such file */

        /* legacy VFIO: its node /dev/vfio/N (one open file at a time, shared by dups) */
        uint32_t container;      /* the container it is set to: the group is owned (blocking domain, or the
                             * container's type1 domain); 0: none (its default domain) */
        unsigned opens;          /* successful opens of the node */
        int open_error;          /* opening the node fails (-EBUSY: someone has it, -ENOENT: no node) */
        bool not_viable;         /* VFIO_GROUP_GET_STATUS says not viable (whatever the drivers) */
        int set_container_error; /* VFIO_GROUP_SET_CONTAINER fails */
} FakeGroup;

/* What a fake fd is (FakeFd.slot): a device cdev (the index into slots), or one of these. */
#define FAKE_FD_IOMMUFD (-1)
#define FAKE_FD_GROUP (-2)     /* obj: the group id */
#define FAKE_FD_CONTAINER (-3) /* obj: the container id */

typedef struct FakeFd {
        int fd;
        int slot; /* index into slots, or FAKE_FD_* */
        int obj;
        bool open;
} FakeFd;

/* legacy VFIO: a container (/dev/vfio/vfio) and the scratch mappings made in it */
typedef struct FakeContainer {
        uint32_t id;
        bool type1; /* VFIO_SET_IOMMU done: its groups are on its type1 paging domain */
} FakeContainer;

typedef struct FakeMap {
        uint32_t container;
        uint64_t iova, length;
} FakeMap;

typedef struct FakeExtend {
        uint64_t from, cover, alignment;
        size_t misaligned; /* steps not aligned to the IOAS's IOVA alignment */
        IovaRange *allowed;
        size_t n_allowed;
        unsigned attached; /* devices attached to the scratch IOAS when it was called */
} FakeExtend;

typedef struct Fake {
        FakeSlot slots[32];
        size_t n_slots;
        FakeGroup groups[16];
        size_t n_groups;
        FakeFd fds[128];
        size_t n_fds;
        FakeContainer containers[16];
        size_t n_containers;
        FakeMap *maps; /* legacy: live type1 mappings */
        size_t n_maps, n_maps_allocated;
        unsigned maps_made; /* successful container_map calls, ever */
        uint32_t ioas[16];
        size_t n_ioas;
        uint32_t next_id;
        IovaRange iova_ranges[4];
        size_t n_iova_ranges;
        uint64_t iova_alignment; /* out_iova_alignment of IOMMU_IOAS_IOVA_RANGES */
        FakeExtend extends[8];
        size_t n_extends;
        uint8_t *scratch_mem;
        bool no_huge; /* no free huge page: scratch_alloc falls back to a 4 KiB page */
        uint64_t now;
        char **log;

        /* failure knobs */
        int iommufd_open_error;
        int set_group_type_error;
        int attach_error;
        int scratch_extend_error;
        int host_bind_error;   /* binding a driver other than vfio-pci fails */
        bool host_bind_silent; /* ... or "succeeds" without binding */
        int override_clear_error;
        int detach_error;
        int disable_bus_master_error; /* sysfs config writes refused (-EPERM: kernel lockdown) */
        int group_name_error;
        int container_open_error;
        int set_iommu_error;     /* VFIO_SET_IOMMU (-EPERM: type1 refuses unsafe interrupts) */
        int map_error;           /* VFIO_IOMMU_MAP_DMA fails with this ... */
        unsigned map_fail_after; /* ... once this many maps succeeded */
} Fake;

static void fake_log(Fake *f, const char *fmt, ...) _printf_(2, 3);
static void fake_log(Fake *f, const char *fmt, ...) {
        char *line = NULL;
        va_list ap;

        va_start(ap, fmt);
        assert_true(vasprintf(&line, fmt, ap) >= 0);
        va_end(ap);
        assert_int_equal(strv_consume(&f->log, line), 0);
}

static FakeSlot *fake_slot(Fake *f, const char *slot) {
        PciAddress a;
        char canon[PCI_ADDRESS_MAX];

        if (pci_address_parse(slot, &a) < 0)
                return NULL;
        pci_address_format(&a, canon);
        FOREACH_ARRAY(s, f->slots, f->n_slots)
                if (streq(s->slot, canon))
                        return s;
        return NULL;
}

static FakeGroup *fake_group(Fake *f, int id) {
        FOREACH_ARRAY(g, f->groups, f->n_groups)
                if (g->id == id)
                        return g;
        return NULL;
}

static FakeFd *fake_fd(Fake *f, int fd) {
        FOREACH_ARRAY(x, f->fds, f->n_fds)
                if (x->fd == fd && x->open)
                        return x;
        return NULL;
}

static int fake_register_fd_obj(Fake *f, int fd, int slot, int obj) {
        assert_true(fd >= 0);
        assert_true(f->n_fds < ELEMENTSOF(f->fds));
        f->fds[f->n_fds++] = (FakeFd) { .fd = fd, .slot = slot, .obj = obj, .open = true };
        return fd;
}

static int fake_register_fd(Fake *f, int fd, int slot) {
        return fake_register_fd_obj(f, fd, slot, 0);
}

static int fake_new_fd(Fake *f, int slot) {
        return fake_register_fd(f, open("/dev/null", O_RDWR | O_CLOEXEC), slot);
}

/* Another fd for the same open file, as the fd store gives back. */
static int fake_dup_fd(Fake *f, int fd) {
        FakeFd *x = fake_fd(f, fd);
        assert_non_null(x);
        return fake_register_fd_obj(f, fcntl(fd, F_DUPFD_CLOEXEC, 3), x->slot, x->obj);
}

static int fake_slot_fd(Fake *f, const FakeSlot *s) {
        FOREACH_ARRAY(x, f->fds, f->n_fds)
                if (x->open && x->slot == (int) (s - f->slots))
                        return x->fd;
        return -EBADF;
}

/* The open fds of a legacy group node (all share its one open file). */
static size_t fake_group_fds(Fake *f, int group) {
        size_t n = 0;
        FOREACH_ARRAY(x, f->fds, f->n_fds)
                if (x->open && x->slot == FAKE_FD_GROUP && x->obj == group)
                        n++;
        return n;
}

static FakeContainer *fake_container(Fake *f, uint32_t id) {
        FOREACH_ARRAY(c, f->containers, f->n_containers)
                if (c->id == id)
                        return c;
        return NULL;
}

/* The live type1 mappings of a container. */
static size_t fake_maps(Fake *f, uint32_t container) {
        size_t n = 0;
        FOREACH_ARRAY(m, f->maps, f->n_maps)
                if (m->container == container)
                        n++;
        return n;
}

static int fake_iommufd(Fake *f) {
        FOREACH_ARRAY(x, f->fds, f->n_fds)
                if (x->open && x->slot == FAKE_FD_IOMMUFD)
                        return x->fd;
        return -EBADF;
}

static size_t fake_open_fds(Fake *f) {
        size_t n = 0;
        FOREACH_ARRAY(x, f->fds, f->n_fds)
                if (x->open)
                        n++;
        return n;
}

static bool fake_ioas_exists(Fake *f, uint32_t id) {
        FOREACH_ARRAY(i, f->ioas, f->n_ioas)
                if (*i == id)
                        return true;
        return false;
}

static bool driver_is_dma_managed(const char *d) {
        return !d || streq(d, "vfio-pci") || streq(d, "pcieport") || streq(d, "pci-stub");
}

static void fake_init(Fake *f, const Topology *t) {
        *f = (Fake) { .now = 1, .next_id = 1 };
        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                FakeSlot *s = &f->slots[f->n_slots++];
                assert_true(f->n_slots <= ELEMENTSOF(f->slots));
                *s = (FakeSlot) { .group = d->iommu_group, .late_group = -1 };
                snprintf(s->slot, sizeof(s->slot), "%s", d->slot);
                if (d->driver)
                        assert_non_null(s->driver = strdup(d->driver));
        }
        FOREACH_ARRAY(g, t->groups, t->n_groups) {
                FakeGroup *x = &f->groups[f->n_groups++];
                assert_true(f->n_groups <= ELEMENTSOF(f->groups));
                x->id = g->id;
                assert_non_null(x->type = strdup(g->type ?: "DMA"));
        }
        f->iova_ranges[0] = (IovaRange) { 0, MAX48 };
        f->n_iova_ranges = 1;
        f->iova_alignment = UINT64_C(4096);
}

static void fake_done(Fake *f) {
        FOREACH_ARRAY(s, f->slots, f->n_slots) {
                free(s->driver);
                free(s->override);
        }
        FOREACH_ARRAY(g, f->groups, f->n_groups)
                free(g->type);
        FOREACH_ARRAY(x, f->extends, f->n_extends)
                free(x->allowed);
        FOREACH_ARRAY(x, f->fds, f->n_fds)
                if (x->open)
                        close(x->fd);
        free(f->scratch_mem);
        free(f->maps);
        strv_free(f->log);
}

/* ---- the fake's QuarantineOps ---- */

static int fake_driver(void *ud, const char *slot, char **ret) {
        FakeSlot *s = fake_slot(ud, slot);
        char *d = NULL;

        if (!s)
                return -ENODEV;
        if (s->driver && !(d = strdup(s->driver)))
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int fake_set_driver_override(void *ud, const char *slot, const char *driver) {
        Fake *f = ud;
        FakeSlot *s = fake_slot(f, slot);

        fake_log(f, "override %s %s", slot, driver ?: "(null)");
        if (!s)
                return -ENODEV;
        if (!driver && f->override_clear_error)
                return f->override_clear_error;
        if (!driver && s->override_clear_error)
                return s->override_clear_error;
        if (driver && s->override_set_error)
                return s->override_set_error;
        free(s->override);
        s->override = NULL;
        if (driver)
                assert_non_null(s->override = strdup(driver));
        return 0;
}

static int fake_unbind(void *ud, const char *slot, const char *driver) {
        Fake *f = ud;
        FakeSlot *s = fake_slot(f, slot);

        fake_log(f, "unbind %s %s", slot, driver);
        if (!s || !s->driver || !streq(s->driver, driver))
                return -ENODEV;
        if (s->unbind_error)
                return s->unbind_error;
        if (streq(driver, "vfio-pci") && (fake_slot_fd(f, s) >= 0 || s->vmm_open))
                fail_msg("unbinding %s from vfio-pci while its cdev is open would hang", slot);
        if (streq(driver, "vfio-pci") && s->group >= 0 && fake_group_fds(f, s->group) > 0)
                fail_msg("unbinding %s from vfio-pci while its group node is open", slot);
        free(s->driver);
        s->driver = NULL;
        return 0;
}

static int fake_bind(void *ud, const char *slot, const char *driver) {
        Fake *f = ud;
        FakeSlot *s = fake_slot(f, slot);

        fake_log(f, "bind %s %s", slot, driver);
        if (!s)
                return -ENODEV;
        if (s->driver)
                return -EBUSY;
        if (s->override && !streq(s->override, driver))
                return -ENODEV; /* driver_override decides what matches */
        if (!streq(driver, "vfio-pci")) {
                if (f->host_bind_error)
                        return f->host_bind_error;
                if (f->host_bind_silent)
                        return 0;
        }
        assert_non_null(s->driver = strdup(driver));
        return 0;
}

static int fake_drivers_probe(void *ud, const char *slot) {
        Fake *f = ud;
        FakeSlot *s = fake_slot(f, slot);

        fake_log(f, "probe %s", slot);
        if (!s)
                return -ENODEV;
        if (s->driver)
                return 0;
        if (!s->override || (streq(s->override, "vfio-pci") && s->probe_refuses))
                return -ENODEV;
        assert_non_null(s->driver = strdup(s->override));
        if (streq(s->driver, "vfio-pci") && s->group < 0)
                s->group = s->late_group;
        return 0;
}

static int fake_group_type(void *ud, int group, char **ret) {
        FakeGroup *g = fake_group(ud, group);

        if (!g)
                return -ENOENT;
        assert_non_null(*ret = strdup(g->type));
        return 0;
}

static int fake_set_group_type(void *ud, int group, const char *type) {
        Fake *f = ud;
        FakeGroup *g = fake_group(f, group);

        fake_log(f, "set_group_type %d %s", group, type);
        if (!g)
                return -ENOENT;
        if (f->set_group_type_error)
                return f->set_group_type_error;
        FOREACH_ARRAY(s, f->slots, f->n_slots)
                if (s->group == group && s->driver)
                        return -EBUSY; /* the kernel changes it only while no member is bound */
        free(g->type);
        assert_non_null(g->type = strdup(type));
        return 0;
}

static int fake_iommu_group(void *ud, const char *slot, int *ret) {
        FakeSlot *s = fake_slot(ud, slot);

        if (!s || s->group < 0)
                return -ENOENT;
        *ret = s->group;
        return 0;
}

static int fake_disable_bus_master(void *ud, const char *slot) {
        Fake *f = ud;
        FakeSlot *s = fake_slot(f, slot);

        fake_log(f, "disable_bus_master %s", slot);
        if (!s)
                return -ENODEV;
        if (f->disable_bus_master_error)
                return f->disable_bus_master_error;
        s->bus_master = false;
        return 0;
}

static int fake_enabled(void *ud, const char *slot, bool *ret) {
        FakeSlot *s = fake_slot(ud, slot);

        if (!s)
                return -ENODEV;
        *ret = s->vmm_open || s->enabled;
        return 0;
}

static int fake_group_name(void *ud, int group, char **ret) {
        Fake *f = ud;
        FakeGroup *g = fake_group(f, group);

        if (f->group_name_error)
                return f->group_name_error;
        *ret = NULL;
        if (g && g->name)
                assert_non_null(*ret = strdup(g->name));
        return 0;
}

static int fake_iommufd_open(void *ud, int *ret_fd) {
        Fake *f = ud;

        fake_log(f, "iommufd_open");
        if (f->iommufd_open_error)
                return f->iommufd_open_error;
        *ret_fd = fake_new_fd(f, FAKE_FD_IOMMUFD);
        return 0;
}

static int fake_ioas_alloc(void *ud, int iommufd, uint32_t *ret) {
        Fake *f = ud;
        FakeFd *x = fake_fd(f, iommufd);

        if (!x || x->slot != FAKE_FD_IOMMUFD)
                return -EBADF;
        assert_true(f->n_ioas < ELEMENTSOF(f->ioas));
        f->ioas[f->n_ioas++] = *ret = f->next_id++;
        fake_log(f, "ioas_alloc %" PRIu32, *ret);
        return 0;
}

static int fake_ioas_iova_ranges(void *ud, int iommufd, uint32_t ioas, IovaRange **ret, size_t *ret_n,
                                 uint64_t *ret_alignment) {
        Fake *f = ud;
        IovaRange *v;

        if (!fake_ioas_exists(f, ioas))
                return -ENOENT;
        assert_non_null(v = calloc(f->n_iova_ranges, sizeof(IovaRange)));
        memcpy(v, f->iova_ranges, f->n_iova_ranges * sizeof(IovaRange));
        *ret = v;
        *ret_n = f->n_iova_ranges;
        if (ret_alignment)
                *ret_alignment = f->iova_alignment;
        return 0;
}

/* A placeholder memfd, nothing to map. */
static int fake_scratch_adopt(void *ud, Scratch *s, int memfd, bool huge) {
        s->memfd = memfd;
        s->huge = huge;
        return 0;
}

static void fake_scratch_release(void *ud, Scratch *s) {
        s->memfd = safe_close(s->memfd);
        s->va = NULL;
}

static int fake_scratch_alloc(void *ud, Scratch *s) {
        Fake *f = ud;

        fake_log(f, "scratch_alloc");
        assert_null(f->scratch_mem);
        assert_non_null(f->scratch_mem = malloc(SCRATCH_HUGE_SIZE));
        memset(f->scratch_mem, 0xaa, SCRATCH_HUGE_SIZE); /* not zeroed: the engine must zero it */
        s->va = f->scratch_mem;
        /* the fake machine is a 4 KiB-page host, whatever the one running the tests is */
        s->size = f->no_huge ? SCRATCH_SMALL_SIZE : SCRATCH_HUGE_SIZE;
        s->huge = !f->no_huge;
        return 0;
}

static int fake_scratch_extend(void *ud, Scratch *s, int iommufd, uint64_t cover, const IovaRange *allowed, size_t n) {
        _cleanup_free_ ScratchStep *steps = NULL;
        Fake *f = ud;
        FakeExtend *x;
        uint64_t source = s->source;
        size_t n_steps = 0;
        int r;

        fake_log(f, "scratch_extend %" PRIu64, cover);
        assert_true(f->n_extends < ELEMENTSOF(f->extends));
        x = &f->extends[f->n_extends++];
        *x = (FakeExtend) { .from = s->covered, .cover = cover, .alignment = s->alignment, .n_allowed = n };
        assert_non_null(x->allowed = calloc(n ?: 1, sizeof(IovaRange)));
        memcpy(x->allowed, allowed, n * sizeof(IovaRange));
        FOREACH_ARRAY(sl, f->slots, f->n_slots)
                if (s->ioas != 0 && sl->pt == s->ioas)
                        x->attached++;

        if (f->scratch_extend_error)
                return f->scratch_extend_error;
        /* as scratch_extend(): the fallback page (a base page) covers at most SCRATCH_SMALL_MAX_COVER */
        if (!s->huge && cover > SCRATCH_SMALL_MAX_COVER)
                cover = SCRATCH_SMALL_MAX_COVER;
        if (cover <= s->covered)
                return 0;
        r = scratch_plan_aligned(s->covered, cover, allowed, n, s->size, s->alignment, &source, &steps, &n_steps);
        if (r < 0)
                return r;
        /* the kernel refuses an IOVA or length not aligned to the IOMMU's page (what the IOAS reported) */
        FOREACH_ARRAY(st, steps, n_steps)
                if (st->dst % f->iova_alignment || st->length % f->iova_alignment ||
                    (st->kind == SCRATCH_STEP_COPY && st->src % f->iova_alignment))
                        x->misaligned++;
        if (x->misaligned > 0)
                return -EINVAL;
        s->source = source;
        s->covered = cover;
        s->ioctls += n_steps;
        return 0;
}

static int fake_cdev_open(void *ud, const char *slot, int *ret_fd) {
        Fake *f = ud;
        FakeSlot *s = fake_slot(f, slot);

        fake_log(f, "cdev_open %s", slot);
        if (!s)
                return -ENODEV;
        if (s->cdev_open_error)
                return s->cdev_open_error;
        if (!s->driver || !streq(s->driver, "vfio-pci"))
                return -ENOENT; /* no vfio-dev/ directory */
        *ret_fd = fake_new_fd(f, (int) (s - f->slots));
        return 0;
}

static FakeSlot *fake_device(Fake *f, int fd) {
        FakeFd *x = fake_fd(f, fd);
        return x && x->slot >= 0 ? &f->slots[x->slot] : NULL;
}

static int fake_bind_iommufd(void *ud, int device_fd, int iommufd, uint32_t *ret) {
        Fake *f = ud;
        FakeSlot *s = fake_device(f, device_fd);
        FakeFd *i = fake_fd(f, iommufd);

        if (!s || !i || i->slot != FAKE_FD_IOMMUFD)
                return -EBADF;
        fake_log(f, "bind_iommufd %s", s->slot);
        if (s->bind_error)
                return s->bind_error;
        if (s->vmm_open || s->bound)
                return -EINVAL;
        if (s->group >= 0 && fake_group(f, s->group) && fake_group(f, s->group)->container != 0)
                return -EBUSY; /* owned through the legacy group node */
        FOREACH_ARRAY(m, f->slots, f->n_slots)
                if (s->group >= 0 && m->group == s->group && !driver_is_dma_managed(m->driver))
                        return -EPERM; /* the group is not viable */
        s->bound = true;
        *ret = s->dev_id = f->next_id++;
        return 0;
}

static int fake_attach(void *ud, int device_fd, uint32_t pt) {
        Fake *f = ud;
        FakeSlot *s = fake_device(f, device_fd);

        if (!s)
                return -EBADF;
        fake_log(f, "attach %s %" PRIu32, s->slot, pt);
        if (f->attach_error)
                return f->attach_error;
        if (!s->bound)
                return -EINVAL;
        if (!fake_ioas_exists(f, pt))
                return -ENOENT;
        /* the devices of a group share one domain: all attached ones to the same page table */
        FOREACH_ARRAY(m, f->slots, f->n_slots)
                if (m != s && s->group >= 0 && m->group == s->group && m->pt != 0 && m->pt != pt)
                        return -EINVAL;
        if (s->pt != 0)
                s->replaces++;
        s->attaches++;
        s->pt = pt;
        return 0;
}

static int fake_detach(void *ud, int device_fd) {
        Fake *f = ud;
        FakeSlot *s = fake_device(f, device_fd);

        if (!s)
                return -EBADF;
        fake_log(f, "detach %s", s->slot);
        if (f->detach_error)
                return f->detach_error;
        if (!s->bound)
                return -EINVAL; /* an unbound cdev grants no ioctl but BIND */
        if (s->pt == 0)
                return 0; /* on the blocking domain already: a no-op */
        s->pt = 0;
        s->detaches++;
        return 0;
}

static int fake_get_info(void *ud, int device_fd, uint32_t *ret_flags) {
        FakeSlot *s = fake_device(ud, device_fd);

        if (!s)
                return -EBADF;
        *ret_flags = VFIO_DEVICE_FLAGS_PCI | (s->reset_works ? VFIO_DEVICE_FLAGS_RESET : 0);
        return 0;
}

static int fake_reset(void *ud, int device_fd) {
        Fake *f = ud;
        FakeSlot *s = fake_device(f, device_fd);

        if (!s)
                return -EBADF;
        fake_log(f, "reset %s", s->slot);
        s->resets++;
        return 0;
}

static int fake_config_read(void *ud, int device_fd, uint32_t offset, void *buf, size_t size) {
        FakeSlot *s = fake_device(ud, device_fd);
        uint16_t cmd;

        if (!s)
                return -EBADF;
        if (offset != 4 || size != 2)
                return -EINVAL;
        cmd = (uint16_t) (0x2 | (s->bus_master ? 0x4 : 0));
        memcpy(buf, &cmd, 2);
        return 0;
}

static int fake_config_write(void *ud, int device_fd, uint32_t offset, const void *buf, size_t size) {
        Fake *f = ud;
        FakeSlot *s = fake_device(f, device_fd);
        uint16_t cmd;

        if (!s)
                return -EBADF;
        if (offset != 4 || size != 2)
                return -EINVAL;
        fake_log(f, "config_write %s", s->slot);
        if (s->config_write_error)
                return s->config_write_error;
        memcpy(&cmd, buf, 2);
        if (!s->bus_master_sticky)
                s->bus_master = cmd & 0x4;
        return 0;
}

/* ---- the fake's legacy VFIO: group nodes, containers, type1 ---- */

static FakeGroup *fake_group_of_fd(Fake *f, int fd) {
        FakeFd *x = fake_fd(f, fd);
        return x && x->slot == FAKE_FD_GROUP ? fake_group(f, x->obj) : NULL;
}

static FakeContainer *fake_container_of_fd(Fake *f, int fd) {
        FakeFd *x = fake_fd(f, fd);
        return x && x->slot == FAKE_FD_CONTAINER ? fake_container(f, (uint32_t) x->obj) : NULL;
}

static bool fake_group_is_viable(Fake *f, const FakeGroup *g) {
        if (g->not_viable)
                return false;
        FOREACH_ARRAY(m, f->slots, f->n_slots)
                if (m->group == g->id && !driver_is_dma_managed(m->driver))
                        return false;
        return true;
}

static void fake_unmap_container(Fake *f, uint32_t container) {
        size_t k = 0;
        FOREACH_ARRAY(m, f->maps, f->n_maps)
                if (m->container != container)
                        f->maps[k++] = *m;
        f->n_maps = k;
}

static int fake_group_open(void *ud, int group, int *ret_fd) {
        Fake *f = ud;
        FakeGroup *g = fake_group(f, group);

        fake_log(f, "group_open %d", group);
        if (!g)
                return -ENOENT;
        if (g->open_error)
                return g->open_error;
        if (fake_group_fds(f, group) > 0)
                return -EBUSY; /* the node is opened once at a time */
        FOREACH_ARRAY(m, f->slots, f->n_slots)
                if (m->group == group && (m->bound || m->vmm_open))
                        return -EBUSY; /* owned through a cdev */
        g->opens++;
        *ret_fd = fake_register_fd_obj(f, open("/dev/null", O_RDWR | O_CLOEXEC), FAKE_FD_GROUP, group);
        return 0;
}

static int fake_group_viable(void *ud, int group_fd, bool *ret) {
        Fake *f = ud;
        FakeGroup *g = fake_group_of_fd(f, group_fd);

        if (!g)
                return -EBADF;
        *ret = fake_group_is_viable(f, g);
        return 0;
}

static int fake_container_open(void *ud, int *ret_fd) {
        Fake *f = ud;
        FakeContainer *c;

        fake_log(f, "container_open");
        if (f->container_open_error)
                return f->container_open_error;
        assert_true(f->n_containers < ELEMENTSOF(f->containers));
        c = &f->containers[f->n_containers++];
        *c = (FakeContainer) { .id = f->next_id++ };
        *ret_fd = fake_register_fd_obj(f, open("/dev/null", O_RDWR | O_CLOEXEC), FAKE_FD_CONTAINER, (int) c->id);
        return 0;
}

static int fake_group_set_container(void *ud, int group_fd, int container_fd) {
        Fake *f = ud;
        FakeGroup *g = fake_group_of_fd(f, group_fd);
        FakeContainer *c = fake_container_of_fd(f, container_fd);

        if (!g || !c)
                return -EBADF;
        fake_log(f, "set_container %d", g->id);
        if (g->set_container_error)
                return g->set_container_error;
        if (g->container != 0)
                return -EINVAL; /* set already */
        if (!fake_group_is_viable(f, g))
                return -EPERM;
        g->container = c->id; /* owned: the blocking domain until the container gets its type1 domain */
        return 0;
}

static int fake_container_set_iommu(void *ud, int container_fd) {
        Fake *f = ud;
        FakeContainer *c = fake_container_of_fd(f, container_fd);
        int group = -1;

        if (!c)
                return -EBADF;
        FOREACH_ARRAY(g, f->groups, f->n_groups)
                if (g->container == c->id)
                        group = g->id;
        fake_log(f, "set_iommu %d", group);
        if (f->set_iommu_error)
                return f->set_iommu_error;
        if (group < 0)
                return -EINVAL; /* no group in it */
        if (c->type1)
                return -EBUSY; /* has its IOMMU already */
        c->type1 = true;
        return 0;
}

static int fake_container_iova_ranges(void *ud, int container_fd, IovaRange **ret, size_t *ret_n,
                                      uint64_t *ret_min_page) {
        Fake *f = ud;
        FakeContainer *c = fake_container_of_fd(f, container_fd);
        IovaRange *v;

        if (!c)
                return -EBADF;
        if (!c->type1)
                return -EINVAL; /* VFIO_IOMMU_GET_INFO needs the IOMMU set */
        assert_non_null(v = calloc(f->n_iova_ranges, sizeof(IovaRange)));
        memcpy(v, f->iova_ranges, f->n_iova_ranges * sizeof(IovaRange));
        *ret = v;
        *ret_n = f->n_iova_ranges;
        *ret_min_page = f->iova_alignment;
        return 0;
}

/* One MAP_DMA of the scratch page (read-only: the kernel op passes no write flag, see the report on
 * QuarantineOps.container_map). Only the scratch page is ever mapped, one page per call, aligned, and
 * never over a live mapping (the kernel refuses that with EEXIST). */
static int fake_container_map(void *ud, int container_fd, const void *va, uint64_t length, uint64_t iova,
                              bool writable) {
        Fake *f = ud;
        FakeContainer *c = fake_container_of_fd(f, container_fd);
        uint64_t page = f->no_huge ? SCRATCH_SMALL_SIZE : SCRATCH_HUGE_SIZE;

        if (!c)
                return -EBADF;
        if (!c->type1)
                return -EINVAL;
        if (f->map_error && f->maps_made >= f->map_fail_after)
                return f->map_error;
        if (!f->scratch_mem || va != f->scratch_mem)
                fail_msg("container_map of %p, which is not the scratch page", va);
        if (writable)
                fail_msg("container_map of the scratch page writable at 0x%" PRIx64 ": a device could write it", iova);
        if (length != page || iova % page != 0 || iova % f->iova_alignment != 0)
                fail_msg("container_map of %" PRIu64 " bytes at 0x%" PRIx64 ": not one aligned scratch page", length,
                         iova);
        FOREACH_ARRAY(m, f->maps, f->n_maps)
                if (m->container == c->id && iova < m->iova + m->length && m->iova < iova + length)
                        return -EEXIST;
        if (!GREEDY_REALLOC(f->maps, f->n_maps_allocated, f->n_maps + 1))
                return -ENOMEM;
        f->maps[f->n_maps++] = (FakeMap) { .container = c->id, .iova = iova, .length = length };
        f->maps_made++;
        return 0;
}

static int fake_container_unmap_all(void *ud, int container_fd) {
        Fake *f = ud;
        FakeContainer *c = fake_container_of_fd(f, container_fd);

        if (!c)
                return -EBADF;
        fake_log(f, "unmap_all");
        fake_unmap_container(f, c->id);
        return 0;
}

static int fake_dup(void *ud, int fd, int *ret_fd) {
        Fake *f = ud;
        FakeFd *x = fake_fd(f, fd);

        if (!x)
                return -EBADF;
        fake_log(f, "dup %s",
                 x->slot == FAKE_FD_GROUP       ? "group"
                 : x->slot == FAKE_FD_CONTAINER ? "container"
                                                : "other");
        *ret_fd = fake_dup_fd(f, fd);
        return 0;
}

/* The last fd of a group node closed: the kernel takes the group out of its container (to its default
 * domain), and the container, once without groups, loses its type1 domain and its mappings. */
static void fake_group_last_close(Fake *f, FakeGroup *g) {
        uint32_t cid = g->container;
        FakeContainer *c = fake_container(f, cid);

        g->container = 0;
        if (!c)
                return;
        FOREACH_ARRAY(o, f->groups, f->n_groups)
                if (o->container == cid)
                        return;
        c->type1 = false;
        fake_unmap_container(f, cid);
}

static void fake_close(void *ud, int fd) {
        Fake *f = ud;
        FakeFd *x = fake_fd(f, fd);

        if (!x)
                fail_msg("close of fd %d, which the fake did not hand out or which is closed already", fd);
        x->open = false;
        assert_int_equal(close(fd), 0);
        if (x->slot == FAKE_FD_GROUP) {
                FakeGroup *g = fake_group(f, x->obj);
                fake_log(f, "close group %d", x->obj);
                assert_non_null(g);
                if (fake_group_fds(f, x->obj) == 0)
                        fake_group_last_close(f, g);
                return;
        }
        if (x->slot == FAKE_FD_CONTAINER) {
                fake_log(f, "close container");
                return;
        }
        if (x->slot < 0) {
                fake_log(f, "close iommufd");
                return;
        }
        FakeSlot *s = &f->slots[x->slot];
        fake_log(f, "close %s", s->slot);
        if (fake_slot_fd(f, s) < 0) {
                /* the last fd of the cdev: the kernel unbinds it from the iommufd (and detaches it) */
                s->bound = false;
                s->pt = 0;
        }
}

static uint64_t fake_now(void *ud) {
        Fake *f = ud;
        return f->now;
}

static int fake_ats_enabled(void *ud, const char *slot, unsigned offset, bool *ret) {
        Fake *f = ud;
        FakeSlot *s = fake_slot(f, slot);

        assert_non_null(s);
        assert_true(offset >= 0x100); /* an extended capability */
        fake_log(f, "ats_enabled %s", s->slot);
        *ret = s->ats_on;
        return 0;
}

/* The fake kernel's operations that both backends use. */
#define FAKE_OPS_COMMON                                                                                                \
        .driver = fake_driver, .set_driver_override = fake_set_driver_override, .unbind = fake_unbind,                 \
        .bind = fake_bind, .drivers_probe = fake_drivers_probe, .group_type = fake_group_type,                         \
        .set_group_type = fake_set_group_type, .iommu_group = fake_iommu_group,                                        \
        .disable_bus_master = fake_disable_bus_master, .enabled = fake_enabled, .group_name = fake_group_name,         \
        .iommufd_open = fake_iommufd_open, .ioas_alloc = fake_ioas_alloc, .ioas_iova_ranges = fake_ioas_iova_ranges,   \
        .scratch_extend = fake_scratch_extend, .scratch_alloc = fake_scratch_alloc,                                    \
        .scratch_adopt = fake_scratch_adopt, .scratch_release = fake_scratch_release, .cdev_open = fake_cdev_open,     \
        .bind_iommufd = fake_bind_iommufd, .attach = fake_attach, .detach = fake_detach, .get_info = fake_get_info,    \
        .reset = fake_reset, .config_read = fake_config_read, .config_write = fake_config_write, .close = fake_close,  \
        .ats_enabled = fake_ats_enabled, .now = fake_now

static const QuarantineOps fake_ops = { FAKE_OPS_COMMON };

/* fake_ops and the legacy backend's */
static const QuarantineOps fake_ops_legacy = {
        FAKE_OPS_COMMON,
        .group_open = fake_group_open,
        .group_viable = fake_group_viable,
        .container_open = fake_container_open,
        .group_set_container = fake_group_set_container,
        .container_set_iommu = fake_container_set_iommu,
        .container_iova_ranges = fake_container_iova_ranges,
        .container_map = fake_container_map,
        .container_unmap_all = fake_container_unmap_all,
        .dup = fake_dup,
};

/* ---- the log ---- */

static size_t log_len(const Fake *f) {
        return strv_length(f->log);
}

/* Index of the first line equal to the formatted one at or after `from`, or -1. */
static ssize_t log_find(const Fake *f, size_t from, const char *fmt, ...) _printf_(3, 4);
static ssize_t log_find(const Fake *f, size_t from, const char *fmt, ...) {
        _cleanup_free_ char *want = NULL;
        va_list ap;

        va_start(ap, fmt);
        assert_true(vasprintf(&want, fmt, ap) >= 0);
        va_end(ap);
        for (size_t i = from; i < log_len(f); i++)
                if (streq(f->log[i], want))
                        return (ssize_t) i;
        return -1;
}

static size_t log_count(const Fake *f, size_t from, const char *prefix) {
        size_t n = 0;
        for (size_t i = from; i < log_len(f); i++)
                if (strneq(f->log[i], prefix, strlen(prefix)))
                        n++;
        return n;
}

static void log_dump(const Fake *f) {
        STRV_FOREACH(l, f->log)
                fprintf(stderr, "  fake: %s\n", *l);
}

/* The lines appear in this order (others may come between), from index `from` on. */
static void assert_log_order(const Fake *f, size_t from, char **lines) {
        size_t at = from;
        STRV_FOREACH(l, lines) {
                ssize_t i = log_find(f, at, "%s", *l);
                if (i < 0) {
                        log_dump(f);
                        fail_msg("'%s' not logged after line %zu", *l, at);
                }
                at = (size_t) i + 1;
        }
}

/* Side effects on the device model (sysfs writes), as opposed to reads and fd operations. */
static size_t sysfs_writes(const Fake *f, size_t from) {
        return log_count(f, from, "override ") + log_count(f, from, "unbind ") + log_count(f, from, "bind ") +
               log_count(f, from, "probe ") + log_count(f, from, "set_group_type ") +
               log_count(f, from, "disable_bus_master ");
}

/* ---- fixture ------------------------------------------------------------------------------------ */

typedef struct Fixture {
        Fake fake;
        Topology *t;
        Engine *e;
        Engine *adopted;
        EngineError err;
        char *copy; /* a changed snapshot copy to remove */
} Fixture;

static int fixture_setup(void **state, const char *root, char *copy) {
        Fixture *x = calloc(1, sizeof(Fixture));
        char *msg = NULL;
        int r;

        assert_non_null(x);
        x->copy = copy;
        r = topology_load(root, &x->t, &msg);
        if (r < 0)
                fail_msg("topology_load(%s): %s %s", root, strerror(-r), strna(msg));
        fake_init(&x->fake, x->t);
        assert_int_equal(engine_new(root, &fake_ops, &x->fake, &x->e), 0);
        *state = x;
        return 0;
}

static int setup_default(void **state) {
        return fixture_setup(state, snapshot("default"), NULL);
}
static int setup_default_vfio(void **state) {
        return fixture_setup(state, snapshot("default-vfio"), NULL);
}
static int setup_bridge(void **state) {
        return fixture_setup(state, snapshot("bridge"), NULL);
}
static int setup_passthrough(void **state) {
        return fixture_setup(state, snapshot("passthrough"), NULL);
}
static int setup_virtio(void **state) {
        return fixture_setup(state, snapshot("virtio"), NULL);
}
static int setup_noiommu(void **state) {
        return fixture_setup(state, snapshot("noiommu"), NULL);
}
static int setup_nointremap(void **state) {
        return fixture_setup(state, snapshot("nointremap"), NULL);
}
static int setup_nointremap_unsafe(void **state) {
        return fixture_setup(state, snapshot("nointremap-unsafe"), NULL);
}
/* The default snapshot with the ICH9 group's direct-relaxable range made a strict direct one. */
static int setup_default_direct(void **state) {
        char *copy = snapshot_copy("default");
        snapshot_write(copy, "/sys/kernel/iommu_groups/5/reserved_regions",
                       "0x0000000000000000 0x0000000000ffffff direct\n"
                       "0x00000000fee00000 0x00000000feefffff msi\n");
        return fixture_setup(state, copy, copy);
}

/* A legacy engine (VFIO group and container) on the fake. */
static void legacy_engine_new(const char *root, Fake *f, Engine **ret) {
        assert_int_equal(engine_new(root, &fake_ops_legacy, f, ret), 0);
        assert_int_equal(engine_set_kind(*ret, ENGINE_KIND_LEGACY), 0);
        assert_int_equal((*ret)->kind, ENGINE_KIND_LEGACY);
}

static int setup_legacy(void **state, const char *name) {
        Fixture *x;

        (void) fixture_setup(state, snapshot(name), NULL);
        x = *state;
        x->e = engine_free(x->e);
        legacy_engine_new(snapshot(name), &x->fake, &x->e);
        return 0;
}
static int setup_default_legacy(void **state) {
        return setup_legacy(state, "default");
}
static int setup_bridge_legacy(void **state) {
        return setup_legacy(state, "bridge");
}

static int teardown(void **state) {
        Fixture *x = *state;
        size_t open_fds;

        engine_error_done(&x->err);
        x->e = engine_free(x->e);
        x->adopted = engine_free(x->adopted);
        open_fds = fake_open_fds(&x->fake);
        fake_done(&x->fake);
        topology_free(x->t);
        if (x->copy)
                snapshot_remove(x->copy);
        free(x);
        if (open_fds > 0) {
                fprintf(stderr, "%zu fds the fake handed out are still open after engine_free()\n", open_fds);
                return -1;
        }
        return 0;
}

/* ---- helpers ---- */

static int quarantine_full(Fixture *x, char **slots, QuarantineMode mode, uint64_t cover, char **hints, bool reset,
                           char ***ret_taken) {
        QuarantineRequest req = {
                .slots = slots,
                .mode = mode,
                .cover = cover,
                .driver_hints = hints,
                .reset = reset,
        };
        return engine_quarantine(x->e, x->t, &req, ret_taken, &x->err);
}

static int quarantine(Fixture *x, char **slots, QuarantineMode mode, uint64_t cover) {
        return quarantine_full(x, slots, mode, cover, NULL, false, NULL);
}

static int set_mode(Fixture *x, char **slots, QuarantineMode mode, uint64_t cover) {
        QuarantineRequest req = { .slots = slots, .mode = mode, .cover = cover };
        return engine_set_mode(x->e, x->t, &req, &x->err);
}

/* The topology's PCI function (to change what the snapshot says, e.g. give it an ATS capability). */
static PciDevice *pci_of(Fixture *x, const char *slot) {
        PciAddress a;
        const PciDevice *d;

        assert_int_equal(pci_address_parse(slot, &a), 0);
        d = topology_find_device(x->t, &a);
        assert_non_null(d);
        return (PciDevice *) d;
}

#define assert_ok(x, expr)                                                                                             \
        do {                                                                                                           \
                int _r = (expr);                                                                                       \
                if (_r < 0) {                                                                                          \
                        log_dump(&(x)->fake);                                                                          \
                        fail_msg("%s: %s (%s)", #expr, strerror(-_r), strna((x)->err.message));                        \
                }                                                                                                      \
        } while (0)

static void assert_error(Fixture *x, int r, int error, EngineErrorKind kind, const char *device, const char *needle) {
        if (r != error || x->err.kind != kind || x->err.error != error) {
                log_dump(&x->fake);
                fail_msg("got %d kind %d error %d (%s), want %d kind %d", r, x->err.kind, x->err.error,
                         strna(x->err.message), error, kind);
        }
        if (device)
                assert_string_equal(strna(x->err.device), device);
        assert_non_null(x->err.message);
        if (needle && !strstr(x->err.message, needle))
                fail_msg("message '%s' does not mention '%s'", x->err.message, needle);
}

static void assert_error_cleared(const EngineError *err) {
        assert_int_equal(err->kind, 0);
        assert_int_equal(err->error, 0);
        assert_null(err->device);
        assert_null(err->message);
        assert_null(err->failed);
}

static HeldDevice *held(Fixture *x, const char *slot) {
        HeldDevice *h = engine_find(x->e, slot);
        if (!h)
                fail_msg("%s is not held", slot);
        return h;
}

static FakeSlot *slot_of(Fixture *x, const char *slot) {
        FakeSlot *s = fake_slot(&x->fake, slot);
        assert_non_null(s);
        return s;
}

/* A device the engine holds: its fd is the open cdev, bound to the iommufd. blocked: attached to nothing,
 * and neither is any member of its group (the group shares one domain: only then is it on the kernel's
 * blocking domain, where ATS is off and every DMA faults). scratch-page: attached to the scratch IOAS. */
static void assert_held_in(Fixture *x, const char *slot, QuarantineMode mode) {
        HeldDevice *h = held(x, slot);
        FakeSlot *s = slot_of(x, slot);

        assert_int_equal(h->state, DEVICE_STATE_QUARANTINED);
        assert_int_equal(h->mode, mode);
        assert_true(h->fd >= 0);
        assert_int_equal(h->fd, fake_slot_fd(&x->fake, s));
        assert_true(s->bound);
        assert_int_equal(h->dev_id, s->dev_id);
        assert_int_equal(h->pt_id, s->pt);
        if (mode == QUARANTINE_MODE_BLOCKED) {
                assert_int_equal(h->pt_id, 0);
                FOREACH_ARRAY(m, x->fake.slots, x->fake.n_slots)
                        if (s->group >= 0 && m->group == s->group && m->pt != 0)
                                fail_msg("%s is blocked, but its group mate %s is attached to %" PRIu32 ": the group "
                                         "is on that domain",
                                         s->slot, m->slot, m->pt);
                assert_int_equal(h->cover, 0);
        } else {
                assert_true(h->pt_id != 0);
                assert_int_equal(h->pt_id, x->e->scratch.ioas);
                assert_true(h->cover > 0);
                assert_true(h->cover <= h->cover_wanted);
        }
        assert_string_equal(strna(s->driver), "vfio-pci");
        assert_string_equal(strna(s->override), "vfio-pci");
}

/* ... with every protection in place: bus mastering off, nothing degraded. */
static void assert_quarantined(Fixture *x, const char *slot, QuarantineMode mode) {
        HeldDevice *h = held(x, slot);

        assert_held_in(x, slot, mode);
        assert_false(slot_of(x, slot)->bus_master);
        assert_int_equal(h->bus_master_error, 0);
        assert_int_equal(h->degraded & ~(unsigned) DEGRADED_GROUP_TYPE, 0); /* the passthrough tests check that bit */
}

/* Fail closed: a device that did not get into quarantine is not recorded as held, has no open fd, and
 * bus mastering is off (cleared through sysfs). */
static void assert_failed_closed(Fixture *x, const char *slot) {
        FakeSlot *s = slot_of(x, slot);

        if (!strv_contains(x->err.failed, s->slot)) {
                log_dump(&x->fake);
                fail_msg("%s is not listed in err->failed", s->slot);
        }
        assert_null(engine_find(x->e, slot));
        assert_int_equal(fake_slot_fd(&x->fake, s), -EBADF);
        assert_false(s->bound);
        if (log_find(&x->fake, 0, "disable_bus_master %s", s->slot) < 0) {
                log_dump(&x->fake);
                fail_msg("bus mastering of %s was not disabled", s->slot);
        }
        assert_false(s->bus_master);
}

/* legacy: a device the engine holds through its group node. fd is a file of the node of its group, and
 * container_fd one of the container the group is set to (the group is owned: on the blocking domain, or
 * on the container's type1 domain). No cdev, no iommufd. blocked: nothing mapped, and if the group is on
 * the type1 domain, that is said (DEGRADED_PAGING_DOMAIN). scratch-page: the type1 domain with the
 * scratch page mapped within the cover. */
static void assert_held_legacy(Fixture *x, const char *slot, QuarantineMode mode) {
        HeldDevice *h = held(x, slot);
        FakeSlot *s = slot_of(x, slot);
        FakeGroup *g = fake_group(&x->fake, s->group);
        FakeFd *gf, *cf;
        FakeContainer *c;

        assert_non_null(g);
        assert_int_equal(h->state, DEVICE_STATE_QUARANTINED);
        assert_int_equal(h->mode, mode);
        assert_int_equal(h->group, s->group);
        assert_non_null(gf = fake_fd(&x->fake, h->fd));
        assert_int_equal(gf->slot, FAKE_FD_GROUP);
        assert_int_equal(gf->obj, s->group);
        assert_non_null(cf = fake_fd(&x->fake, h->container_fd));
        assert_int_equal(cf->slot, FAKE_FD_CONTAINER);
        assert_true(g->container != 0);
        assert_int_equal(cf->obj, g->container);
        assert_non_null(c = fake_container(&x->fake, g->container));
        assert_int_equal(h->type1, c->type1);
        assert_false(s->bound);
        assert_int_equal(fake_slot_fd(&x->fake, s), -EBADF);
        assert_int_equal(h->dev_id, 0);
        assert_int_equal(h->pt_id, 0);
        if (mode == QUARANTINE_MODE_BLOCKED) {
                assert_int_equal(h->cover, 0);
                assert_int_equal(fake_maps(&x->fake, c->id), 0);
                assert_int_equal(!!(h->degraded & DEGRADED_PAGING_DOMAIN), c->type1);
                if (c->type1)
                        assert_int_equal(h->detach_error, -EOPNOTSUPP);
        } else {
                assert_true(c->type1);
                assert_true(h->cover > 0);
                assert_true(h->cover <= h->cover_wanted);
                assert_true(fake_maps(&x->fake, c->id) > 0);
                FOREACH_ARRAY(m, x->fake.maps, x->fake.n_maps)
                        if (m->container == c->id)
                                assert_true(m->iova + m->length <= h->cover);
                assert_false(h->degraded & DEGRADED_PAGING_DOMAIN);
        }
        assert_string_equal(strna(s->driver), "vfio-pci");
        assert_string_equal(strna(s->override), "vfio-pci");
}

/* legacy fail closed: not held, listed, bus mastering cleared through sysfs, the group not owned. */
static void assert_failed_closed_legacy(Fixture *x, const char *slot) {
        FakeSlot *s = slot_of(x, slot);

        if (!strv_contains(x->err.failed, s->slot)) {
                log_dump(&x->fake);
                fail_msg("%s is not listed in err->failed", s->slot);
        }
        assert_null(engine_find(x->e, slot));
        assert_int_equal(fake_group_fds(&x->fake, s->group), 0);
        assert_int_equal(fake_group(&x->fake, s->group)->container, 0);
        if (log_find(&x->fake, 0, "disable_bus_master %s", s->slot) < 0) {
                log_dump(&x->fake);
                fail_msg("bus mastering of %s was not disabled", s->slot);
        }
        assert_false(s->bus_master);
}

/* ---- quarantine: the paths that succeed ---------------------------------------------------------- */

static void test_quarantine_unbound_blocked(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **taken = NULL;

        x->fake.now = 1234567;
        assert_ok(x, quarantine_full(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0, NULL, false, &taken));
        assert_error_cleared(&x->err);
        assert_int_equal(strv_length(taken), 1);
        assert_string_equal(taken[0], "0000:00:02.0");

        assert_log_order(&x->fake, 0,
                         SLOTS("iommufd_open", "override 0000:00:02.0 vfio-pci", "probe 0000:00:02.0",
                               "cdev_open 0000:00:02.0", "bind_iommufd 0000:00:02.0"));
        /* blocked is the kernel's blocking domain: bound, attached to nothing (no IOAS at all) */
        assert_int_equal(log_count(&x->fake, 0, "attach "), 0);
        assert_int_equal(log_count(&x->fake, 0, "ioas_alloc "), 0);
        assert_int_equal(log_count(&x->fake, 0, "unbind "), 0);
        assert_int_equal(log_count(&x->fake, 0, "disable_bus_master "), 0);
        assert_int_equal(log_count(&x->fake, 0, "config_write "), 0);   /* bus mastering was off already */
        assert_int_equal(log_count(&x->fake, 0, "set_group_type "), 0); /* DMA already */
        assert_int_equal(log_count(&x->fake, 0, "scratch_"), 0);

        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        HeldDevice *h = held(x, "0000:00:02.0");
        assert_string_equal(h->slot, "0000:00:02.0");
        assert_int_equal(h->group, 1);
        assert_null(h->host_driver);
        assert_false(h->group_type_changed);
        assert_int_equal(h->since, 1234567);
        assert_int_equal(x->e->n_devices, 1);
        assert_int_equal(x->e->iommufd, fake_iommufd(&x->fake));
}

/* Issue 8, item 1: blocked never attaches (an attach to any paging domain, even an empty IOAS, turns
 * ATS on); the old engine attached every blocked device to a shared empty IOAS. */
static void test_quarantine_blocked_not_attached(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, quarantine(x, SLOTS("00:1f.2"), QUARANTINE_MODE_BLOCKED, 0)); /* a group of three */
        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        STRV_FOREACH(slot, SLOTS("00:02.0", "00:1f.0", "00:1f.2", "00:1f.3", "00:04.0")) {
                assert_quarantined(x, *slot, QUARANTINE_MODE_BLOCKED);
                assert_int_equal(slot_of(x, *slot)->attaches, 0);
        }
        assert_int_equal(log_count(&x->fake, 0, "attach "), 0);
        assert_int_equal(log_count(&x->fake, 0, "ioas_alloc "), 0);
        assert_int_equal(log_count(&x->fake, 0, "scratch_"), 0);
        assert_int_equal(log_count(&x->fake, 0, "iommufd_open"), 1);
        assert_int_equal(x->fake.n_ioas, 0);
        assert_true(held(x, "00:02.0")->dev_id != held(x, "00:04.0")->dev_id);
}

static void test_quarantine_clears_bus_master(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->bus_master = true;
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        /* cleared through the open cdev, after binding (not through sysfs) */
        assert_log_order(&x->fake, 0, SLOTS("bind_iommufd 0000:00:02.0", "config_write 0000:00:02.0"));
        assert_int_equal(log_count(&x->fake, 0, "disable_bus_master "), 0);
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
}

static void test_quarantine_host_driver(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("0000:00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_log_order(&x->fake, 0,
                         SLOTS("unbind 0000:00:04.0 e1000e", "override 0000:00:04.0 vfio-pci", "probe 0000:00:04.0",
                               "cdev_open 0000:00:04.0", "bind_iommufd 0000:00:04.0"));
        assert_quarantined(x, "00:04.0", QUARANTINE_MODE_BLOCKED);
        assert_string_equal(strna(held(x, "00:04.0")->host_driver), "e1000e");
}

static void test_quarantine_driver_hint(void **state) {
        Fixture *x = *state;

        /* udev's "unbind" carries no driver: the daemon remembers it and passes it as a hint */
        assert_ok(x, quarantine_full(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0,
                                     SLOTS("0000:00:03.0", "other", "0000:00:02.0", "edu-host"), false, NULL));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        assert_string_equal(strna(held(x, "00:02.0")->host_driver), "edu-host");
        assert_int_equal(log_count(&x->fake, 0, "unbind "), 0);
}

static void test_quarantine_driver_hint_vfio_pci(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine_full(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0, SLOTS("0000:00:02.0", "vfio-pci"),
                                     false, NULL));
        assert_null(held(x, "00:02.0")->host_driver);
}

static void test_quarantine_already_vfio(void **state) {
        Fixture *x = *state;

        /* default-vfio: 00:03.0 is bound to vfio-pci already (not by us) */
        assert_string_equal(strna(slot_of(x, "00:03.0")->driver), "vfio-pci");
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_int_equal(log_count(&x->fake, 0, "unbind "), 0);
        assert_int_equal(log_count(&x->fake, 0, "probe "), 0);
        assert_true(log_find(&x->fake, 0, "override 0000:00:03.0 vfio-pci") >= 0);
        assert_quarantined(x, "00:03.0", QUARANTINE_MODE_BLOCKED);
        assert_null(held(x, "00:03.0")->host_driver);
}

static void test_quarantine_reset(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->reset_works = true;
        assert_ok(x, quarantine_full(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0, NULL, true, NULL));
        assert_true(held(x, "00:02.0")->reset_works);
        assert_int_equal(slot_of(x, "00:02.0")->resets, 1);
        assert_log_order(&x->fake, 0, SLOTS("bind_iommufd 0000:00:02.0", "reset 0000:00:02.0"));
}

static void test_quarantine_reset_unsupported(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine_full(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0, NULL, true, NULL));
        assert_false(held(x, "00:02.0")->reset_works);
        assert_int_equal(slot_of(x, "00:02.0")->resets, 0);
}

static void test_quarantine_requarantine_released(void **state) {
        Fixture *x = *state;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err));
        mark = log_len(&x->fake);
        x->fake.now = 77;
        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_log_order(&x->fake, mark, SLOTS("cdev_open 0000:00:04.0", "bind_iommufd 0000:00:04.0"));
        assert_int_equal(sysfs_writes(&x->fake, mark) - log_count(&x->fake, mark, "override "), 0);
        assert_quarantined(x, "00:04.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:04.0")->since, 77);
        /* still remembers the driver it had before the first quarantine */
        assert_string_equal(strna(held(x, "00:04.0")->host_driver), "e1000e");
        assert_int_equal(x->e->n_devices, 1);
}

/* ---- scratch-page mode ---- */

static bool scratch_zeroed(const Fake *f) {
        for (size_t i = 0; i < SCRATCH_HUGE_SIZE; i++)
                if (f->scratch_mem[i] != 0)
                        return false;
        return true;
}

static void test_scratch_default_cover(void **state) {
        Fixture *x = *state;
        FakeExtend *ex;
        char attach[64], extend[64];

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, 0));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:02.0")->cover, QUARANTINE_DEFAULT_SCRATCH_COVER);
        assert_int_equal(held(x, "00:02.0")->cover_wanted, QUARANTINE_DEFAULT_SCRATCH_COVER);
        assert_int_equal(held(x, "00:02.0")->degraded, 0);
        assert_int_equal(log_count(&x->fake, 0, "ioas_alloc "), 1); /* only the scratch IOAS */

        /* The device is attached to the still-empty IOAS before anything is mapped. */
        snprintf(attach, sizeof(attach), "attach 0000:00:02.0 %" PRIu32, x->e->scratch.ioas);
        snprintf(extend, sizeof(extend), "scratch_extend %" PRIu64, QUARANTINE_DEFAULT_SCRATCH_COVER);
        assert_log_order(&x->fake, 0, SLOTS("bind_iommufd 0000:00:02.0", "scratch_alloc", attach, extend));
        assert_int_equal(x->fake.n_extends, 1);
        ex = &x->fake.extends[0];
        assert_int_equal(ex->attached, 1);
        assert_int_equal(ex->from, 0);
        assert_int_equal(ex->cover, QUARANTINE_DEFAULT_SCRATCH_COVER);

        /* The IOVA ranges minus the MSI window, but not minus the direct-relaxable [0, 16M) of group 5. */
        assert_int_equal(ex->n_allowed, 2);
        assert_int_equal(ex->allowed[0].start, 0);
        assert_int_equal(ex->allowed[0].last, UINT64_C(0xfedfffff));
        assert_int_equal(ex->allowed[1].start, UINT64_C(0xfef00000));
        assert_int_equal(ex->allowed[1].last, MAX48);

        assert_int_equal(x->e->scratch.covered, QUARANTINE_DEFAULT_SCRATCH_COVER);
        assert_true(scratch_zeroed(&x->fake));
}

static void test_scratch_direct_region_subtracted(void **state) {
        Fixture *x = *state;
        FakeExtend *ex;

        /* a strict direct range is enforced by iommufd: no scratch there */
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        assert_int_equal(x->fake.n_extends, 1);
        ex = &x->fake.extends[0];
        assert_int_equal(ex->n_allowed, 2);
        assert_int_equal(ex->allowed[0].start, UINT64_C(0x1000000));
        assert_int_equal(ex->allowed[0].last, UINT64_C(0xfedfffff));
        assert_int_equal(ex->allowed[1].start, UINT64_C(0xfef00000));
}

static void test_scratch_larger_cover_extends(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        memset(x->fake.scratch_mem, 0x55, SCRATCH_HUGE_SIZE);
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_quarantined(x, "00:03.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:02.0")->pt_id, held(x, "00:03.0")->pt_id);
        assert_int_equal(held(x, "00:03.0")->cover, M64);

        assert_int_equal(log_count(&x->fake, 0, "scratch_alloc"), 1);
        assert_int_equal(log_count(&x->fake, 0, "ioas_alloc "), 1);
        assert_int_equal(x->fake.n_extends, 2);
        assert_int_equal(x->fake.extends[1].from, M16);
        assert_int_equal(x->fake.extends[1].cover, M64);
        assert_int_equal(x->fake.extends[1].attached, 2);
        assert_int_equal(x->e->scratch.covered, M64);
        assert_true(scratch_zeroed(&x->fake)); /* zeroed again on entry */
}

static void test_scratch_smaller_cover_no_extend(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        memset(x->fake.scratch_mem, 0x55, SCRATCH_HUGE_SIZE);
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_int_equal(x->fake.n_extends, 1);
        assert_quarantined(x, "00:03.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:03.0")->cover, M16);
        assert_true(scratch_zeroed(&x->fake));
}

/* ---- mode switches ---- */

static void test_set_mode_replaces(void **state) {
        Fixture *x = *state;
        FakeSlot *s = slot_of(x, "00:02.0");
        int fd;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        fd = held(x, "00:02.0")->fd;
        mark = log_len(&x->fake);

        /* blocked → scratch-page: from the blocking domain straight onto the scratch IOAS */
        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:02.0")->fd, fd);
        assert_int_equal(s->attaches, 1);
        assert_int_equal(held(x, "00:02.0")->cover, M16);

        /* scratch-page → blocked: a detach, back to the blocking domain */
        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        assert_int_equal(held(x, "00:02.0")->fd, fd);
        assert_int_equal(s->detaches, 1);
        assert_int_equal(s->attaches, 1);

        /* never outside quarantine: no close, no reopen, no rebind, no sysfs write */
        assert_int_equal(log_count(&x->fake, mark, "close "), 0);
        assert_int_equal(log_count(&x->fake, mark, "cdev_open "), 0);
        assert_int_equal(log_count(&x->fake, mark, "bind_iommufd "), 0);
        assert_int_equal(sysfs_writes(&x->fake, mark), 0);
}

static void test_requarantine_other_mode_replaces(void **state) {
        Fixture *x = *state;
        int fd;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        fd = held(x, "00:04.0")->fd;
        mark = log_len(&x->fake);
        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_quarantined(x, "00:04.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:04.0")->fd, fd);
        assert_int_equal(slot_of(x, "00:04.0")->attaches, 1);
        assert_int_equal(log_count(&x->fake, mark, "bind_iommufd "), 0);
        assert_int_equal(log_count(&x->fake, mark, "close "), 0);
        assert_int_equal(sysfs_writes(&x->fake, mark), 0);
        assert_string_equal(strna(held(x, "00:04.0")->host_driver), "e1000e");
}

static void test_set_mode_same_is_noop(void **state) {
        Fixture *x = *state;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        mark = log_len(&x->fake);

        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, set_mode(x, SLOTS("00:03.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16)); /* a smaller cover */
        assert_int_equal(log_len(&x->fake), mark);
        assert_int_equal(held(x, "00:03.0")->cover, M64);
}

static void test_set_mode_not_held(void **state) {
        Fixture *x = *state;

        assert_error(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, 0), -ENOENT, ENGINE_ERROR_NOT_HELD,
                     "00:02.0", "not in quarantine");
}

static void test_set_mode_released(void **state) {
        Fixture *x = *state;

        /* a device released to a guest is not ours to switch */
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err));
        assert_error(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, 0), -ENOENT, ENGINE_ERROR_NOT_HELD,
                     NULL, "not in quarantine");
}

/* ---- IOMMU groups (bridge snapshot: group 6 = 01:00.0 PCIe-to-PCI bridge, 02:01.0 edu, 02:02.0 virtio-rng) */

static void test_group_partial_not_viable(void **state) {
        Fixture *x = *state;

        assert_error(x, quarantine(x, SLOTS("02:01.0"), QUARANTINE_MODE_BLOCKED, 0), -EBUSY,
                     ENGINE_ERROR_GROUP_NOT_VIABLE, "0000:02:02.0", "0000:02:02.0");
        assert_non_null(strstr(x->err.message, "virtio-pci"));
        /* nothing touched */
        assert_int_equal(log_len(&x->fake), 0);
        assert_int_equal(x->e->n_devices, 0);
        assert_int_equal(x->e->iommufd, -EBADF);
}

static void test_group_both_taken(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **taken = NULL;

        assert_ok(x, quarantine_full(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0, NULL, false, &taken));
        assert_int_equal(strv_length(taken), 2);
        assert_true(strv_contains(taken, "0000:02:01.0"));
        assert_true(strv_contains(taken, "0000:02:02.0"));
        assert_quarantined(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
        assert_int_equal(held(x, "02:01.0")->group, 6);
        assert_string_equal(strna(held(x, "02:02.0")->host_driver), "virtio-pci");
        /* the bridge stays where it is */
        assert_null(engine_find(x->e, "01:00.0"));
        assert_int_equal(log_count(&x->fake, 0, "override 0000:01:00.0"), 0);
        assert_int_equal(log_count(&x->fake, 0, "unbind 0000:01:00.0"), 0);
        assert_null(slot_of(x, "01:00.0")->override);
}

static void test_group_unbound_mate_taken(void **state) {
        Fixture *x = *state;
        FakeSlot *mate = slot_of(x, "02:02.0");
        _cleanup_strv_free_ char **taken = NULL;

        /* The snapshot says 02:02.0 is on virtio-pci, but it was unbound since: the engine asks now. */
        mate->driver = mfree(mate->driver);
        assert_ok(x, quarantine_full(x, SLOTS("02:01.0"), QUARANTINE_MODE_BLOCKED, 0, NULL, false, &taken));
        assert_int_equal(strv_length(taken), 2);
        assert_quarantined(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
        assert_null(held(x, "02:02.0")->host_driver);
}

static void test_group_bridge_bound_not_viable(void **state) {
        Fixture *x = *state;
        FakeSlot *bridge = slot_of(x, "01:00.0");

        assert_non_null(bridge->driver = strdup("some-bridge-driver"));
        assert_error(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EBUSY,
                     ENGINE_ERROR_GROUP_NOT_VIABLE, "0000:01:00.0", "some-bridge-driver");
        assert_int_equal(log_len(&x->fake), 0);
}

static void test_group_bridge_pcieport_viable(void **state) {
        Fixture *x = *state;

        assert_non_null(slot_of(x, "01:00.0")->driver = strdup("pcieport"));
        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_string_equal(slot_of(x, "01:00.0")->driver, "pcieport");
        assert_null(engine_find(x->e, "01:00.0"));
}

static void test_group_release_host_one_releases_group(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("02:01.0"), &released, &x->err));
        assert_int_equal(strv_length(released), 2);
        assert_int_equal(x->e->n_devices, 0);
        assert_string_equal(strna(slot_of(x, "02:02.0")->driver), "virtio-pci");
        assert_null(slot_of(x, "02:01.0")->driver);
        assert_null(slot_of(x, "01:00.0")->driver);
}

static void test_group_release_guest_one_releases_group(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("02:02.0"), &released, &x->err));
        assert_int_equal(strv_length(released), 2);
        assert_int_equal(held(x, "02:01.0")->state, DEVICE_STATE_RELEASED);
        assert_int_equal(held(x, "02:02.0")->state, DEVICE_STATE_RELEASED);
}

static void test_group_multifunction_taken_whole(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **taken = NULL;

        /* default group 5: the ICH9 functions 1f.0, 1f.2, 1f.3 (all unbound in the snapshot) */
        assert_ok(x, quarantine_full(x, SLOTS("00:1f.2"), QUARANTINE_MODE_BLOCKED, 0, NULL, false, &taken));
        assert_int_equal(strv_length(taken), 3);
        assert_quarantined(x, "00:1f.0", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "00:1f.2", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "00:1f.3", QUARANTINE_MODE_BLOCKED);
}

static void test_group_partial_failure_keeps_taken(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:1f.3")->bind_error = -EIO;
        slot_of(x, "00:1f.3")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:1f.2"), QUARANTINE_MODE_BLOCKED, 0), -EIO, ENGINE_ERROR_SYSTEM,
                     "0000:00:1f.3", "Failed to bind 0000:00:1f.3 to iommufd");
        /* what got into quarantine stays there */
        assert_quarantined(x, "00:1f.0", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "00:1f.2", QUARANTINE_MODE_BLOCKED);
        assert_failed_closed(x, "00:1f.3");
}

/* ---- quarantine: refusals and failures ------------------------------------------------------------ */

static void test_quarantine_no_device(void **state) {
        Fixture *x = *state;

        assert_error(x, quarantine(x, SLOTS("00:09.0"), QUARANTINE_MODE_BLOCKED, 0), -ENODEV, ENGINE_ERROR_NO_DEVICE,
                     "0000:00:09.0", "No PCI device 0000:00:09.0");
        assert_int_equal(log_len(&x->fake), 0);
}

static void test_quarantine_invalid_address(void **state) {
        Fixture *x = *state;

        assert_error(x, quarantine(x, SLOTS("not-a-slot"), QUARANTINE_MODE_BLOCKED, 0), -EINVAL, ENGINE_ERROR_NO_DEVICE,
                     "not-a-slot", "Invalid PCI address");
        assert_error(x, quarantine(x, SLOTS(NULL), QUARANTINE_MODE_BLOCKED, 0), -EINVAL, ENGINE_ERROR_NO_DEVICE, NULL,
                     "No device given");
        assert_int_equal(log_len(&x->fake), 0);
}

static void test_quarantine_host_bridge(void **state) {
        Fixture *x = *state;

        assert_error(x, quarantine(x, SLOTS("00:00.0"), QUARANTINE_MODE_BLOCKED, 0), -EINVAL,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:00:00.0", "host bridge");
        assert_int_equal(log_len(&x->fake), 0);
}

static void test_quarantine_pci_bridge(void **state) {
        Fixture *x = *state;

        assert_error(x, quarantine(x, SLOTS("01:00.0"), QUARANTINE_MODE_BLOCKED, 0), -EINVAL,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:01:00.0", "PCI bridge");
        assert_error(x, quarantine(x, SLOTS("00:06.0"), QUARANTINE_MODE_BLOCKED, 0), -EINVAL,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:00:06.0", "PCI bridge");
        assert_int_equal(log_len(&x->fake), 0);
}

static void test_quarantine_noiommu(void **state) {
        Fixture *x = *state;

        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -ENODEV,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:00:02.0", "no active IOMMU");
        assert_int_equal(log_len(&x->fake), 0);
}

static void test_quarantine_virtio_iommu_itself(void **state) {
        Fixture *x = *state;

        assert_error(x, quarantine(x, SLOTS("00:07.0"), QUARANTINE_MODE_BLOCKED, 0), -EINVAL,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:00:07.0", "IOMMU itself");
        assert_int_equal(log_len(&x->fake), 0);
}

static void test_quarantine_virtio_late_group(void **state) {
        Fixture *x = *state;
        FakeSlot *s = slot_of(x, "00:02.0");

        /* virtio-iommu probes late: an unbound device has no group until a driver binds */
        assert_int_equal(s->group, -1);
        s->late_group = 7;
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        assert_int_equal(held(x, "00:02.0")->group, 7);
}

static void test_quarantine_virtio_no_group_after_bind(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -ENODEV,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:00:02.0", "no IOMMU group");
        assert_int_equal(log_count(&x->fake, 0, "cdev_open "), 0);
        assert_failed_closed(x, "00:02.0");
}

static void test_bind_eperm_unsafe_interrupts(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->bind_error = -EPERM;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EPERM,
                     ENGINE_ERROR_UNSAFE_INTERRUPTS, "0000:00:02.0", "allow_unsafe_interrupts");
        assert_failed_closed(x, "00:02.0");
        assert_string_equal(strna(slot_of(x, "00:02.0")->driver), "vfio-pci");
}

static void test_bind_eperm_unsafe_allowed(void **state) {
        Fixture *x = *state;

        /* iommufd.allow_unsafe_interrupts=Y: interrupts are not why iommufd refused */
        assert_int_equal(x->t->host.iommufd_allow_unsafe_interrupts, TRISTATE_YES);
        slot_of(x, "00:02.0")->bind_error = -EPERM;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EPERM,
                     ENGINE_ERROR_GROUP_NOT_VIABLE, "0000:00:02.0", "another owner");
        assert_failed_closed(x, "00:02.0");
}

static void test_bind_eperm_interrupts_safe(void **state) {
        Fixture *x = *state;

        /* interrupt remapping is on (default snapshot): EPERM means someone else owns the group */
        slot_of(x, "00:02.0")->bind_error = -EPERM;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EPERM,
                     ENGINE_ERROR_GROUP_NOT_VIABLE, "0000:00:02.0", "another owner");
        assert_failed_closed(x, "00:02.0");
}

/* Someone else (a VMM) has the device: not held by us, fd closed, and its bus mastering left alone,
 * since clearing it would break the device under the running guest. */
static void assert_busy_left_alone(Fixture *x, const char *slot) {
        FakeSlot *s = slot_of(x, slot);

        assert_null(engine_find(x->e, slot));
        assert_int_equal(fake_slot_fd(&x->fake, s), -EBADF);
        assert_false(s->bound);
        assert_true(log_find(&x->fake, 0, "disable_bus_master %s", s->slot) < 0);
}

/* Issue 8, item 4: EINVAL from BIND while vfio-pci has the device enabled: someone else has it open
 * (a VMM): BUSY, and its bus mastering is left alone. */
static void test_bind_einval_enabled_busy(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->bind_error = -EINVAL;
        slot_of(x, "00:02.0")->enabled = true;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EBUSY, ENGINE_ERROR_BUSY,
                     "0000:00:02.0", "another VFIO file");
        assert_busy_left_alone(x, "00:02.0");
        assert_true(slot_of(x, "00:02.0")->bus_master);
        assert_false(strv_contains(x->err.failed, "0000:00:02.0"));
}

/* ... and while nobody has it enabled: the IOMMU cannot block it (RMRR, no coherency). The old engine
 * called that BUSY and left the device on vfio-pci with bus mastering on and nobody holding it. */
static void test_bind_einval_not_enabled_not_isolatable(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->bind_error = -EINVAL;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EINVAL,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:00:02.0", "cannot block it");
        assert_failed_closed(x, "00:02.0");
        assert_int_equal(strv_length(x->err.failed), 1);
}

static void test_bind_ebusy_busy(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->bind_error = -EBUSY;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EBUSY, ENGINE_ERROR_BUSY,
                     "0000:00:02.0", "legacy VFIO group");
        assert_busy_left_alone(x, "00:02.0");
}

static void test_bind_enodev_not_isolatable(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->bind_error = -ENODEV;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -ENODEV,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:00:02.0", "no IOMMU group");
        assert_failed_closed(x, "00:02.0");
}

static void test_bind_other_error(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:04.0")->bind_error = -ENOMEM;
        assert_error(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0), -ENOMEM, ENGINE_ERROR_SYSTEM,
                     "0000:00:04.0", "Failed to bind 0000:00:04.0 to iommufd");
        assert_failed_closed(x, "00:04.0");
}

static void test_cdev_open_enoent_unsupported(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->cdev_open_error = -ENOENT;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -ENOENT, ENGINE_ERROR_UNSUPPORTED,
                     "0000:00:02.0", "CONFIG_VFIO_DEVICE_CDEV");
        assert_failed_closed(x, "00:02.0");
}

static void test_cdev_open_other_error(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:02.0")->cdev_open_error = -EACCES;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EACCES, ENGINE_ERROR_SYSTEM,
                     "0000:00:02.0", "Failed to open the VFIO cdev");
        assert_failed_closed(x, "00:02.0");
}

static void test_iommufd_open_enoent_unsupported(void **state) {
        Fixture *x = *state;

        x->fake.iommufd_open_error = -ENOENT;
        assert_error(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0), -ENOENT, ENGINE_ERROR_UNSUPPORTED,
                     NULL, "CONFIG_IOMMUFD");
        /* checked before anything is taken from the host */
        assert_int_equal(sysfs_writes(&x->fake, 0), 0);
        assert_string_equal(strna(slot_of(x, "00:04.0")->driver), "e1000e");
        assert_int_equal(x->e->iommufd, -EBADF);
}

static void test_iommufd_open_other_error(void **state) {
        Fixture *x = *state;

        x->fake.iommufd_open_error = -EACCES;
        assert_error(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0), -EACCES, ENGINE_ERROR_SYSTEM, NULL,
                     "/dev/iommu");
        assert_int_equal(sysfs_writes(&x->fake, 0), 0);
}

static void test_vfio_pci_does_not_bind(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:04.0")->probe_refuses = true;
        slot_of(x, "00:04.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0), -ENXIO, ENGINE_ERROR_UNSUPPORTED,
                     "0000:00:04.0", "vfio-pci did not bind");
        assert_non_null(strstr(x->err.message, "now unbound"));
        assert_int_equal(log_count(&x->fake, 0, "cdev_open "), 0);
        assert_failed_closed(x, "00:04.0");
        /* it is off its host driver: never back onto it by itself */
        assert_null(slot_of(x, "00:04.0")->driver);
        assert_string_equal(strna(slot_of(x, "00:04.0")->override), "vfio-pci");
}

static void test_attach_fails_stays_bound(void **state) {
        Fixture *x = *state;
        HeldDevice *h;

        x->fake.attach_error = -ENOSPC;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -ENOSPC,
                     ENGINE_ERROR_SYSTEM, "0000:00:02.0", "Failed to attach 0000:00:02.0 to the scratch-page IOAS");
        /* Bound to iommufd but not attached: the kernel keeps the group on its blocking domain, so the
         * engine keeps the device (and its fd) in quarantine rather than let it go. */
        h = held(x, "00:02.0");
        assert_int_equal(h->state, DEVICE_STATE_QUARANTINED);
        assert_int_equal(h->mode, QUARANTINE_MODE_BLOCKED);
        assert_int_equal(h->pt_id, 0);
        assert_int_equal(h->fd, fake_slot_fd(&x->fake, slot_of(x, "00:02.0")));
        assert_true(slot_of(x, "00:02.0")->bound);
        assert_false(slot_of(x, "00:02.0")->bus_master);

        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        assert_false(strv_contains(x->err.failed, "0000:00:02.0"));

        /* and a retry attaches it */
        x->fake.attach_error = 0;
        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
}

static void test_scratch_extend_fails(void **state) {
        Fixture *x = *state;
        HeldDevice *h;

        x->fake.scratch_extend_error = -ENOMEM;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -ENOMEM,
                     ENGINE_ERROR_SYSTEM, "0000:00:02.0", "Failed to map the scratch page");
        /* Still held: bound to iommufd, fd open. */
        h = held(x, "00:02.0");
        assert_int_equal(h->state, DEVICE_STATE_QUARANTINED);
        assert_true(h->fd >= 0);
        assert_true(slot_of(x, "00:02.0")->bound);
        assert_int_equal(x->e->scratch.covered, 0);
        /* What is true is recorded: attached to the scratch IOAS, with the cover actually mapped (none);
         * so a later switch to blocked acts instead of being a no-op. */
        assert_int_equal(h->mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(h->pt_id, x->e->scratch.ioas);
        assert_int_equal(h->cover, 0);
        assert_int_equal(h->cover_wanted, M16);
        assert_true(h->degraded & DEGRADED_SCRATCH_COVER);
        assert_int_equal(slot_of(x, "00:02.0")->pt, x->e->scratch.ioas);
        x->fake.scratch_extend_error = 0;
        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_true(log_find(&x->fake, 0, "detach 0000:00:02.0") >= 0);
        assert_int_equal(slot_of(x, "00:02.0")->pt, 0);
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
}

/* ---- identity default domains (passthrough snapshot) ---------------------------------------------- */

static void test_identity_switched_to_dma(void **state) {
        Fixture *x = *state;

        /* passthrough: 00:05.0 virtio-rng on virtio-pci, group 3 identity */
        assert_ok(x, quarantine(x, SLOTS("00:05.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_log_order(&x->fake, 0,
                         SLOTS("unbind 0000:00:05.0 virtio-pci", "set_group_type 3 DMA",
                               "override 0000:00:05.0 vfio-pci", "probe 0000:00:05.0"));
        assert_string_equal(fake_group(&x->fake, 3)->type, "DMA");
        assert_true(held(x, "00:05.0")->group_type_changed);
        assert_quarantined(x, "00:05.0", QUARANTINE_MODE_BLOCKED);
}

static void test_identity_restored_on_release_host(void **state) {
        Fixture *x = *state;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:05.0"), QUARANTINE_MODE_BLOCKED, 0));
        mark = log_len(&x->fake);
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:05.0"), NULL, &x->err));
        assert_log_order(&x->fake, mark,
                         SLOTS("close 0000:00:05.0", "unbind 0000:00:05.0 vfio-pci", "set_group_type 3 identity",
                               "bind 0000:00:05.0 virtio-pci"));
        assert_string_equal(fake_group(&x->fake, 3)->type, "identity");
        assert_string_equal(strna(slot_of(x, "00:05.0")->driver), "virtio-pci");
}

static void test_identity_group_switched_once(void **state) {
        Fixture *x = *state;
        size_t mark;

        /* group 4: 1f.0, 1f.2, 1f.3 */
        assert_ok(x, quarantine(x, SLOTS("00:1f.2"), QUARANTINE_MODE_BLOCKED, 0));
        assert_int_equal(log_count(&x->fake, 0, "set_group_type "), 1);
        assert_true(held(x, "00:1f.0")->group_type_changed);
        assert_true(held(x, "00:1f.2")->group_type_changed);
        assert_true(held(x, "00:1f.3")->group_type_changed);
        assert_int_equal(held(x, "00:1f.3")->degraded, 0);
        mark = log_len(&x->fake);
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:1f.3"), NULL, &x->err));
        assert_int_equal(log_count(&x->fake, mark, "set_group_type "), 1);
        assert_true(log_find(&x->fake, mark, "set_group_type 4 identity") >= 0);
        assert_int_equal(x->e->n_devices, 0);
}

/* Issue 8, item 2: the switch of an identity default domain to DMA fails (EINVAL where the IOMMU
 * driver forces identity, EBUSY...): the quarantine itself holds (the device is bound, blocked), but
 * the protection for when nobody holds it is missing, and that is recorded on the device instead of
 * dropped (the old engine ignored it). */
static void test_identity_set_group_type_fails(void **state) {
        Fixture *x = *state;
        _cleanup_free_ char *why = NULL;
        _cleanup_strv_free_ char **names = NULL;
        HeldDevice *h;
        size_t mark;

        x->fake.set_group_type_error = -EBUSY;
        assert_ok(x, quarantine(x, SLOTS("00:05.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_error_cleared(&x->err);
        assert_quarantined(x, "00:05.0", QUARANTINE_MODE_BLOCKED);
        assert_string_equal(fake_group(&x->fake, 3)->type, "identity");
        h = held(x, "00:05.0");
        assert_false(h->group_type_changed);
        assert_int_equal(h->degraded, DEGRADED_GROUP_TYPE);
        assert_int_equal(h->group_type_error, -EBUSY);
        assert_int_equal(degradation_to_strv(h->degraded, &names), 0);
        assert_int_equal(strv_length(names), 1);
        assert_string_equal(names[0], "group-type");
        assert_non_null(why = degradation_explain(h));
        assert_non_null(strstr(why, "identity"));
        assert_non_null(strstr(why, strerror(EBUSY)));

        x->fake.set_group_type_error = 0;
        mark = log_len(&x->fake);
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:05.0"), NULL, &x->err));
        assert_int_equal(log_count(&x->fake, mark, "set_group_type "), 0);
}

/* ---- release to a guest ---------------------------------------------------------------------------- */

static void test_release_guest(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;
        HeldDevice *h;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        x->fake.now = 500;
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:04.0"), &released, &x->err));
        assert_error_cleared(&x->err);
        assert_int_equal(strv_length(released), 1);
        assert_string_equal(released[0], "0000:00:04.0");

        h = held(x, "00:04.0");
        assert_int_equal(h->state, DEVICE_STATE_RELEASED);
        assert_int_equal(h->fd, -EBADF);
        assert_int_equal(h->since, 500);
        assert_string_equal(strna(h->host_driver), "e1000e");
        assert_int_equal(fake_slot_fd(&x->fake, slot_of(x, "00:04.0")), -EBADF);
        assert_false(slot_of(x, "00:04.0")->bound);
        /* stays on vfio-pci for a VMM to open */
        assert_string_equal(strna(slot_of(x, "00:04.0")->driver), "vfio-pci");
        assert_string_equal(strna(slot_of(x, "00:04.0")->override), "vfio-pci");
}

static void test_release_guest_idempotent(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        x->fake.now = 500;
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err));
        mark = log_len(&x->fake);
        x->fake.now = 600;
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:02.0"), &released, &x->err));
        assert_int_equal(strv_length(released), 1);
        assert_int_equal(log_len(&x->fake), mark);
        assert_int_equal(held(x, "00:02.0")->state, DEVICE_STATE_RELEASED);
        assert_int_equal(held(x, "00:02.0")->since, 500);
}

static void test_release_guest_not_held(void **state) {
        Fixture *x = *state;

        assert_error(x, engine_release_guest(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err), -ENOENT,
                     ENGINE_ERROR_NOT_HELD, "00:02.0", "not in quarantine");
        assert_error(x, engine_release_guest(x->e, x->t, SLOTS(NULL), NULL, &x->err), -EINVAL, ENGINE_ERROR_NO_DEVICE,
                     NULL, "No device given");
        assert_int_equal(log_len(&x->fake), 0);
}

/* ---- release to the host ----------------------------------------------------------------------------- */

static void test_release_host(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        mark = log_len(&x->fake);
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), &released, &x->err));
        assert_error_cleared(&x->err);
        assert_int_equal(strv_length(released), 1);
        assert_string_equal(released[0], "0000:00:04.0");
        /* driver_override is cleared while the device is still held */
        assert_log_order(&x->fake, mark,
                         SLOTS("override 0000:00:04.0 (null)", "close 0000:00:04.0", "unbind 0000:00:04.0 vfio-pci",
                               "bind 0000:00:04.0 e1000e"));
        assert_int_equal(fake_slot_fd(&x->fake, slot_of(x, "00:04.0")), -EBADF);
        assert_null(slot_of(x, "00:04.0")->override);
        assert_string_equal(strna(slot_of(x, "00:04.0")->driver), "e1000e");
        assert_null(engine_find(x->e, "00:04.0"));
        assert_int_equal(x->e->n_devices, 0);
}

static void test_release_host_no_host_driver(void **state) {
        Fixture *x = *state;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        mark = log_len(&x->fake);
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err));
        assert_int_equal(log_count(&x->fake, mark, "bind "), 0);
        assert_null(slot_of(x, "00:02.0")->driver);
        assert_null(slot_of(x, "00:02.0")->override);
        assert_null(engine_find(x->e, "00:02.0"));
}

static void test_release_host_not_held(void **state) {
        Fixture *x = *state;

        assert_error(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err), -ENOENT,
                     ENGINE_ERROR_NOT_HELD, "00:04.0", "not in quarantine");
        assert_int_equal(log_len(&x->fake), 0);
}

/* Issue 8, item 6: the remembered driver does not bind again. The old engine forgot the device,
 * unbound and owned by nobody; now the group is taken back into quarantine, in the mode it had, with
 * the driver still remembered, and the message says so. */
static void test_release_host_driver_bind_fails(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        x->fake.host_bind_error = -ENODEV;
        mark = log_len(&x->fake);
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), &released, &x->err), -ENODEV,
                     ENGINE_ERROR_SYSTEM, "0000:00:04.0", "'e1000e' did not bind again");
        assert_non_null(strstr(x->err.message, "taken back into quarantine (blocked)"));
        assert_null(released);
        assert_null(x->err.failed);
        assert_log_order(&x->fake, mark,
                         SLOTS("close 0000:00:04.0", "unbind 0000:00:04.0 vfio-pci", "bind 0000:00:04.0 e1000e",
                               "override 0000:00:04.0 vfio-pci", "probe 0000:00:04.0", "bind_iommufd 0000:00:04.0"));
        assert_quarantined(x, "00:04.0", QUARANTINE_MODE_BLOCKED);
        assert_string_equal(strna(held(x, "00:04.0")->host_driver), "e1000e");
        assert_int_equal(x->e->n_devices, 1);

        /* and once the driver can bind, a release works */
        x->fake.host_bind_error = 0;
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err));
        assert_string_equal(strna(slot_of(x, "00:04.0")->driver), "e1000e");
        assert_int_equal(x->e->n_devices, 0);
}

static void test_release_host_driver_does_not_stick(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        x->fake.host_bind_silent = true; /* bind "works", yet no driver is bound afterwards */
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err), -ENXIO, ENGINE_ERROR_SYSTEM,
                     "0000:00:04.0", "did not bind again");
        assert_non_null(strstr(x->err.message, "taken back into quarantine (scratch-page)"));
        assert_quarantined(x, "00:04.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:04.0")->cover_wanted, M16);
}

/* A device released to a guest is taken back first: then vfio-pci can be unbound without waiting for
 * a VMM to let go. */
static void test_release_host_retakes_released(void **state) {
        Fixture *x = *state;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err));
        mark = log_len(&x->fake);
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err));
        assert_log_order(&x->fake, mark,
                         SLOTS("cdev_open 0000:00:04.0", "bind_iommufd 0000:00:04.0", "override 0000:00:04.0 (null)",
                               "close 0000:00:04.0", "unbind 0000:00:04.0 vfio-pci", "bind 0000:00:04.0 e1000e"));
        assert_string_equal(strna(slot_of(x, "00:04.0")->driver), "e1000e");
        assert_null(engine_find(x->e, "00:04.0"));
}

static void test_release_host_released_in_use(void **state) {
        Fixture *x = *state;
        size_t mark;
        HeldDevice *h;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err));
        slot_of(x, "00:04.0")->vmm_open = true;
        mark = log_len(&x->fake);

        /* fails cleanly instead of hanging in the unbind (the fake fails the test on such an unbind) */
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err), -EBUSY, ENGINE_ERROR_BUSY,
                     "0000:00:04.0", "another VFIO file");
        assert_int_equal(log_count(&x->fake, mark, "unbind "), 0);
        assert_true(log_find(&x->fake, mark, "override 0000:00:04.0 (null)") < 0);
        h = held(x, "00:04.0");
        assert_int_equal(h->state, DEVICE_STATE_RELEASED);
        assert_int_equal(h->fd, -EBADF);
        assert_string_equal(strna(h->host_driver), "e1000e");
        assert_string_equal(strna(slot_of(x, "00:04.0")->driver), "vfio-pci");
        /* The device is in use by a VMM: clearing its bus mastering would break the guest's device. */
        assert_true(log_find(&x->fake, mark, "disable_bus_master 0000:00:04.0") < 0);
        assert_null(x->err.failed);
}

/* Issue 8, item 6: clearing driver_override fails. It is cleared while the devices are still held, so
 * they stay in quarantine: same fd, never closed, nothing unbound. The old engine closed the fds first
 * and left the devices on vfio-pci, owned by nobody. */
static void test_release_host_override_clear_fails(void **state) {
        Fixture *x = *state;
        int fd;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        fd = held(x, "00:04.0")->fd;
        x->fake.override_clear_error = -EIO;
        mark = log_len(&x->fake);
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err), -EIO, ENGINE_ERROR_SYSTEM,
                     "0000:00:04.0", "stays in quarantine");
        assert_int_equal(log_count(&x->fake, mark, "close "), 0);
        assert_int_equal(log_count(&x->fake, mark, "unbind "), 0);
        assert_quarantined(x, "00:04.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:04.0")->fd, fd);
        assert_null(x->err.failed);

        x->fake.override_clear_error = 0;
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err));
        assert_string_equal(strna(slot_of(x, "00:04.0")->driver), "e1000e");
}

/* ... in a group, the second member's clear fails: the first member's override is put back, so that
 * the whole group stays on vfio-pci, held. */
static void test_release_host_override_clear_fails_group(void **state) {
        Fixture *x = *state;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        slot_of(x, "02:02.0")->override_clear_error = -EIO;
        mark = log_len(&x->fake);
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("02:01.0"), NULL, &x->err), -EIO, ENGINE_ERROR_SYSTEM,
                     "0000:02:02.0", "stays in quarantine");
        assert_log_order(&x->fake, mark,
                         SLOTS("override 0000:02:01.0 (null)", "override 0000:02:02.0 (null)",
                               "override 0000:02:01.0 vfio-pci"));
        assert_int_equal(log_count(&x->fake, mark, "close "), 0);
        assert_quarantined(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
}

/* The clear of the second member fails and putting the first one's override back fails too: both stay
 * held, and the error says which device would be exposed should vfio-pci let go of it. */
static void test_release_host_override_restore_fails_noted(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        slot_of(x, "02:02.0")->override_clear_error = -EIO;
        slot_of(x, "02:01.0")->override_set_error = -EPERM;
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("02:01.0"), NULL, &x->err), -EIO, ENGINE_ERROR_SYSTEM,
                     "0000:02:02.0", "stays in quarantine");
        assert_int_equal(strv_length(x->err.notes), 1);
        assert_non_null(strstr(x->err.notes[0], "0000:02:01.0"));
        assert_non_null(strstr(x->err.notes[0], "could not be set back"));
        /* 02:01.0: still held and bound to vfio-pci, its override gone (what the note warns about) */
        assert_int_equal(held(x, "02:01.0")->state, DEVICE_STATE_QUARANTINED);
        assert_true(held(x, "02:01.0")->fd >= 0);
        assert_string_equal(strna(slot_of(x, "02:01.0")->driver), "vfio-pci");
        assert_null(slot_of(x, "02:01.0")->override);
        assert_quarantined(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
}

/* Bridge group, both released to a guest, the daemon forgets one (its new owner's business), then
 * releases the other to the host: the re-take pulls the forgotten mate back in (it is still on
 * vfio-pci), and the whole group goes back to the host. */
static void test_release_host_retakes_forgotten_mate(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("02:01.0"), NULL, &x->err));
        engine_forget(x->e, "0000:02:02.0");
        assert_int_equal(x->e->n_devices, 1);

        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("02:01.0"), &released, &x->err));
        assert_int_equal(strv_length(released), 2);
        assert_int_equal(x->e->n_devices, 0);
        assert_null(slot_of(x, "02:01.0")->driver);
        assert_null(slot_of(x, "02:02.0")->override);
}

/* ---- EngineError ----------------------------------------------------------------------------------- */

static void fail_once(Fixture *x) {
        assert_true(quarantine(x, SLOTS("00:09.0"), QUARANTINE_MODE_BLOCKED, 0) < 0);
        assert_non_null(x->err.message);
        assert_non_null(x->err.device);
}

static void test_error_reset_by_every_call(void **state) {
        Fixture *x = *state;

        fail_once(x);
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_error_cleared(&x->err);

        fail_once(x);
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_error_cleared(&x->err);

        fail_once(x);
        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_error_cleared(&x->err);

        fail_once(x);
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16)); /* a no-op */
        assert_error_cleared(&x->err);

        fail_once(x);
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err));
        assert_error_cleared(&x->err);

        fail_once(x);
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:03.0"), NULL, &x->err));
        assert_error_cleared(&x->err);

        /* a second failure replaces the first */
        fail_once(x);
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("00:05.0"), NULL, &x->err), -ENOENT,
                     ENGINE_ERROR_NOT_HELD, "00:05.0", "not in quarantine");
}

/* ---- persistence ------------------------------------------------------------------------------------ */

typedef struct FdStore {
        char *names[8];
        int fds[8];
        size_t n;
        char **asked;
} FdStore;

static void store_put(FdStore *s, const char *name, int fd) {
        assert_true(s->n < ELEMENTSOF(s->fds));
        assert_non_null(s->names[s->n] = strdup(name));
        s->fds[s->n++] = fd;
}

static void store_put_slot(FdStore *s, const char *slot, int fd) {
        char name[32];
        engine_fdname_for_slot(slot, name);
        store_put(s, name, fd);
}

static void store_done(FdStore *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->names[i]);
        strv_free(s->asked);
}

static int store_lookup(void *ud, const char *name) {
        FdStore *s = ud;

        assert_int_equal(strv_extend(&s->asked, name), 0);
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->names[i], name))
                        return s->fds[i];
        return -EBADF;
}

/* The engine's state as JSON text, or one member of it. */
static char *json_text(const Engine *e, const char *member) {
        json_object *j = NULL, *m = NULL;
        char *s;

        assert_int_equal(engine_to_json(e, &j), 0);
        if (member)
                assert_true(json_object_object_get_ex(j, member, &m));
        assert_non_null(s = strdup(json_object_to_json_string_ext(m ?: j, JSON_C_TO_STRING_PLAIN)));
        json_object_put(j);
        return s;
}

static json_object *json_state(const Engine *e) {
        _cleanup_free_ char *text = json_text(e, NULL);
        json_object *j = json_tokener_parse(text); /* through text, as the daemon stores it */
        assert_non_null(j);
        return j;
}

static void test_fdname(void **state) {
        char name[32];

        engine_fdname_for_slot("0000:03:00.0", name);
        assert_string_equal(name, "vfio-0000-03-00.0");
        assert_null(strchr(name, ':'));
}

static void test_persist_roundtrip(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **lost = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        FdStore store = {};
        json_object *j;

        x->fake.now = 100;
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        x->fake.now = 200;
        slot_of(x, "00:04.0")->reset_works = true;
        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        x->fake.now = 300;
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_BLOCKED, 0));
        x->fake.now = 400;
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:03.0"), NULL, &x->err));

        j = json_state(x->e);
        store_put(&store, ENGINE_FDNAME_IOMMUFD, fake_dup_fd(&x->fake, x->e->iommufd));
        store_put_slot(&store, "0000:00:02.0", fake_dup_fd(&x->fake, held(x, "00:02.0")->fd));
        store_put_slot(&store, "0000:00:04.0", fake_dup_fd(&x->fake, held(x, "00:04.0")->fd));

        assert_int_equal(engine_new(x->copy ?: snapshot("default"), &fake_ops, &x->fake, &x->adopted), 0);
        assert_int_equal(engine_adopt(x->adopted, j, store_lookup, &store, &lost), 0);
        json_object_put(j);
        assert_int_equal(strv_length(lost), 0);

        /* every device field round-trips */
        before = json_text(x->e, "devices");
        after = json_text(x->adopted, "devices");
        assert_string_equal(after, before);

        assert_int_equal(x->adopted->n_devices, 3);
        assert_int_equal(x->adopted->iommufd, store.fds[0]);
        assert_int_equal(x->adopted->scratch.ioas, x->e->scratch.ioas);
        assert_int_equal(x->adopted->scratch.covered, M64);
        assert_int_equal(x->adopted->scratch.source, x->e->scratch.source);
        FOREACH_ARRAY(h, x->e->devices, x->e->n_devices) {
                HeldDevice *a = engine_find(x->adopted, h->slot);
                assert_non_null(a);
                assert_int_equal(a->group, h->group);
                assert_int_equal(a->state, h->state);
                assert_int_equal(a->mode, h->mode);
                assert_int_equal(a->dev_id, h->dev_id);
                assert_int_equal(a->pt_id, h->pt_id);
                assert_string_equal(strna(a->host_driver), strna(h->host_driver));
                assert_int_equal(a->group_type_changed, h->group_type_changed);
                assert_int_equal(a->reset_works, h->reset_works);
                assert_int_equal(a->since, h->since);
                assert_int_equal(a->cover, h->cover);
                assert_int_equal(a->cover_wanted, h->cover_wanted);
                assert_int_equal(a->degraded, h->degraded);
        }
        /* adopting a blocked device does not touch it */
        assert_int_equal(log_count(&x->fake, 0, "detach "), 0);
        assert_int_equal(engine_find(x->adopted, "00:02.0")->fd, store.fds[1]);
        assert_int_equal(engine_find(x->adopted, "00:04.0")->fd, store.fds[2]);
        assert_int_equal(engine_find(x->adopted, "00:04.0")->since, 200);
        assert_string_equal(strna(engine_find(x->adopted, "00:04.0")->host_driver), "e1000e");
        assert_int_equal(engine_find(x->adopted, "00:03.0")->fd, -EBADF);
        assert_int_equal(engine_find(x->adopted, "00:03.0")->state, DEVICE_STATE_RELEASED);
        assert_int_equal(engine_find(x->adopted, "00:03.0")->since, 400);
        /* a released device needs no fd: not even asked for */
        assert_false(strv_contains(store.asked, "vfio-0000-00-03.0"));

        store_done(&store);
}

static void test_persist_lost_device(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **lost = NULL;
        FdStore store = {};
        json_object *j;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:03.0"), NULL, &x->err));

        /* the fd store kept the iommufd, but not 00:02.0's cdev */
        j = json_state(x->e);
        store_put(&store, ENGINE_FDNAME_IOMMUFD, fake_dup_fd(&x->fake, x->e->iommufd));
        assert_int_equal(engine_new(snapshot("default"), &fake_ops, &x->fake, &x->adopted), 0);
        assert_int_equal(engine_adopt(x->adopted, j, store_lookup, &store, &lost), 0);
        json_object_put(j);

        assert_int_equal(strv_length(lost), 1);
        assert_string_equal(lost[0], "0000:00:02.0");
        assert_null(engine_find(x->adopted, "00:02.0"));
        assert_non_null(engine_find(x->adopted, "00:03.0"));
        assert_int_equal(engine_find(x->adopted, "00:03.0")->state, DEVICE_STATE_RELEASED);
        assert_int_equal(x->adopted->n_devices, 1);
        assert_true(strv_contains(store.asked, "vfio-0000-00-02.0"));
        assert_false(strv_contains(store.asked, "vfio-0000-00-03.0"));
        store_done(&store);
}

static void test_persist_fd_not_char_device(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **lost = NULL;
        FdStore store = {};
        json_object *j;
        int p[2];

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        j = json_state(x->e);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        store_put(&store, ENGINE_FDNAME_IOMMUFD, fake_dup_fd(&x->fake, x->e->iommufd));
        store_put_slot(&store, "0000:00:02.0", p[0]); /* not a VFIO cdev */

        assert_int_equal(engine_new(snapshot("default"), &fake_ops, &x->fake, &x->adopted), 0);
        assert_int_equal(engine_adopt(x->adopted, j, store_lookup, &store, &lost), 0);
        json_object_put(j);
        assert_int_equal(strv_length(lost), 1);
        assert_null(engine_find(x->adopted, "00:02.0"));
        /* and the engine closed it */
        assert_int_equal(fcntl(p[0], F_GETFD), -1);
        assert_int_equal(close(p[1]), 0);
        store_done(&store);
}

static void test_persist_no_iommufd(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **lost = NULL;
        FdStore store = {};
        json_object *j;
        int fd;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:03.0"), NULL, &x->err));
        j = json_state(x->e);

        /* without the iommufd the ids mean nothing: quarantined devices are lost (their fds closed) */
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        store_put_slot(&store, "0000:00:02.0", fd);
        assert_int_equal(engine_new(snapshot("default"), &fake_ops, &x->fake, &x->adopted), 0);
        assert_int_equal(engine_adopt(x->adopted, j, store_lookup, &store, &lost), 0);
        json_object_put(j);
        assert_int_equal(strv_length(lost), 1);
        assert_string_equal(lost[0], "0000:00:02.0");
        assert_int_equal(fcntl(fd, F_GETFD), -1);
        assert_int_equal(x->adopted->iommufd, -EBADF);
        assert_int_equal(x->adopted->scratch.ioas, 0);
        assert_int_equal(x->adopted->n_devices, 1);
        assert_int_equal(engine_find(x->adopted, "00:03.0")->state, DEVICE_STATE_RELEASED);
        store_done(&store);
}

/* ---- issue 8: fail closed on real servers ---------------------------------------------------------- */

/* Item 1: scratch-page → blocked is a detach (the kernel goes back to the blocking domain without a
 * gap), never an attach to some other IOAS; and back to scratch-page is one attach. */
static void test_set_mode_scratch_to_blocked_detaches(void **state) {
        Fixture *x = *state;
        FakeSlot *s = slot_of(x, "00:02.0");
        HeldDevice *h;
        int fd;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        fd = held(x, "00:02.0")->fd;
        mark = log_len(&x->fake);

        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_error_cleared(&x->err);
        assert_true(log_find(&x->fake, mark, "detach 0000:00:02.0") >= 0);
        assert_int_equal(log_count(&x->fake, mark, "attach "), 0);
        assert_int_equal(log_count(&x->fake, mark, "close "), 0);
        assert_int_equal(s->detaches, 1);
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        h = held(x, "00:02.0");
        assert_int_equal(h->fd, fd);
        assert_int_equal(h->cover_wanted, 0);

        /* the same through engine_quarantine() of a held device */
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        mark = log_len(&x->fake);
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_int_equal(log_count(&x->fake, mark, "detach "), 1);
        assert_int_equal(log_count(&x->fake, mark, "attach "), 0);
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        assert_int_equal(held(x, "00:02.0")->fd, fd);
        assert_int_equal(sysfs_writes(&x->fake, mark), 0);
}

/* A group: both members detached, so that the group really is on the blocking domain (while one is
 * attached, the other is on that domain too). */
static void test_set_mode_group_to_blocked_detaches_all(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_quarantined(x, "02:01.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_quarantined(x, "02:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_ok(x, set_mode(x, SLOTS("02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_quarantined(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
        assert_int_equal(log_count(&x->fake, 0, "detach "), 2);
}

static void test_set_mode_detach_fails(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        x->fake.detach_error = -EIO;
        assert_error(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EIO, ENGINE_ERROR_SYSTEM,
                     "0000:00:02.0", "stays in scratch-page mode");
        /* what is true is recorded: still on the scratch IOAS */
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:02.0")->cover, M16);
}

/* Item 1: a device with an ATS capability (bridge snapshot: the virtio-rng 03:00.0 below the root port)
 * gets no paging domain unless its ATS is accepted: it is taken, and stays on the blocking domain. */
static void test_ats_scratch_refused(void **state) {
        Fixture *x = *state;
        size_t mark;

        assert_true(pci_of(x, "03:00.0")->has_ats); /* read from the snapshot's config space */
        assert_error(x, quarantine(x, SLOTS("03:00.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -EPERM,
                     ENGINE_ERROR_NOT_ALLOWED, "0000:03:00.0", "ATS");
        assert_quarantined(x, "03:00.0", QUARANTINE_MODE_BLOCKED);
        assert_null(x->err.failed);
        assert_int_equal(log_count(&x->fake, 0, "attach "), 0);
        assert_int_equal(log_count(&x->fake, 0, "scratch_"), 0);
        assert_string_equal(strna(held(x, "03:00.0")->host_driver), "virtio-pci");

        /* nor by a mode switch */
        mark = log_len(&x->fake);
        assert_error(x, set_mode(x, SLOTS("03:00.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -EPERM,
                     ENGINE_ERROR_NOT_ALLOWED, "0000:03:00.0", "\"ats\": \"accept\"");
        assert_int_equal(log_len(&x->fake), mark);
        assert_quarantined(x, "03:00.0", QUARANTINE_MODE_BLOCKED);
}

static void test_ats_scratch_accepted(void **state) {
        Fixture *x = *state;
        QuarantineRequest req = {
                .slots = SLOTS("03:00.0"),
                .mode = QUARANTINE_MODE_SCRATCH_PAGE,
                .cover = M16,
                .ats_accept = SLOTS("0000:03:00.0"),
        };

        assert_ok(x, engine_quarantine(x->e, x->t, &req, NULL, &x->err));
        assert_error_cleared(&x->err);
        assert_quarantined(x, "03:00.0", QUARANTINE_MODE_SCRATCH_PAGE);

        /* and a switch with ATS accepted works too */
        assert_ok(x, set_mode(x, SLOTS("03:00.0"), QUARANTINE_MODE_BLOCKED, 0));
        req.cover = M64;
        assert_ok(x, engine_set_mode(x->e, x->t, &req, &x->err));
        assert_quarantined(x, "03:00.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "03:00.0")->cover, M64);
}

/* Blocked where the kernel's "blocking" domain is an empty paging domain (VT-d on Linux 6.1): the device
 * keeps ATS on, which is said (from its ATS control register), and unsaid once it is off again. */
static void test_ats_still_enabled_in_blocked(void **state) {
        Fixture *x = *state;
        _cleanup_free_ char *why = NULL, **what = NULL;
        QuarantineRequest req = {
                .slots = SLOTS("03:00.0"),
                .mode = QUARANTINE_MODE_SCRATCH_PAGE,
                .cover = M16,
                .ats_accept = SLOTS("0000:03:00.0"),
        };

        fake_slot(&x->fake, "0000:03:00.0")->ats_on = true;
        assert_ok(x, quarantine(x, SLOTS("03:00.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_true(log_find(&x->fake, 0, "ats_enabled 0000:03:00.0") >= 0);
        assert_int_equal(held(x, "03:00.0")->degraded, DEGRADED_ATS);
        assert_non_null(why = degradation_explain(held(x, "03:00.0")));
        assert_non_null(strstr(why, "ATS is still enabled"));
        assert_int_equal(degradation_to_strv(DEGRADED_ATS, &what), 0);
        assert_string_equal(what[0], "ats");
        strv_free(what);
        what = NULL;

        /* scratch-page (ATS accepted) has ATS on by design: not a degradation */
        assert_ok(x, engine_set_mode(x->e, x->t, &req, &x->err));
        assert_int_equal(held(x, "03:00.0")->degraded, 0);
        /* back in blocked, where the register now reads off */
        fake_slot(&x->fake, "0000:03:00.0")->ats_on = false;
        assert_ok(x, set_mode(x, SLOTS("03:00.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_int_equal(held(x, "03:00.0")->degraded, 0);
}

/* A group moves as a whole: one member with ATS, not accepted, keeps the whole group blocked, for a
 * switch of held devices and for a fresh quarantine alike. */
static void test_ats_group_set_mode_refused_whole(void **state) {
        Fixture *x = *state;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        pci_of(x, "02:02.0")->has_ats = true;
        mark = log_len(&x->fake);
        assert_error(x, set_mode(x, SLOTS("02:01.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -EPERM,
                     ENGINE_ERROR_NOT_ALLOWED, "0000:02:02.0", "ATS");
        assert_int_equal(log_count(&x->fake, mark, "attach "), 0);
        assert_quarantined(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
}

static void test_ats_group_quarantine_refused_whole(void **state) {
        Fixture *x = *state;

        pci_of(x, "02:02.0")->has_ats = true;
        assert_error(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -EPERM,
                     ENGINE_ERROR_NOT_ALLOWED, "0000:02:02.0", "ATS");
        assert_int_equal(log_count(&x->fake, 0, "attach "), 0);
        assert_quarantined(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_quarantined(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
        assert_null(x->err.failed);
}

/* Item 3: the VFIO config write that clears bus mastering fails: recorded on the held device (which
 * stays held: the quarantine is the IOMMU's), not ignored. */
static void test_bus_master_vfio_clear_fails(void **state) {
        Fixture *x = *state;
        _cleanup_free_ char *why = NULL;
        HeldDevice *h;

        slot_of(x, "00:02.0")->bus_master = true;
        slot_of(x, "00:02.0")->config_write_error = -EIO;
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_error_cleared(&x->err);
        assert_held_in(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        h = held(x, "00:02.0");
        assert_int_equal(h->degraded, DEGRADED_BUS_MASTER);
        assert_int_equal(h->bus_master_error, -EIO);
        assert_true(slot_of(x, "00:02.0")->bus_master);
        assert_true(log_find(&x->fake, 0, "config_write 0000:00:02.0") >= 0);
        assert_non_null(why = degradation_explain(h));
        assert_non_null(strstr(why, "bus mastering could not be turned off"));
        /* held: no sysfs fallback, not failed */
        assert_int_equal(log_count(&x->fake, 0, "disable_bus_master "), 0);
}

/* ... the write "succeeds" and the bit stays set: the read-back catches it. */
static void test_bus_master_vfio_clear_read_back(void **state) {
        Fixture *x = *state;
        HeldDevice *h;

        slot_of(x, "00:04.0")->bus_master = true;
        slot_of(x, "00:04.0")->bus_master_sticky = true;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_ok(x, quarantine(x, SLOTS("00:04.0", "00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        h = held(x, "00:04.0");
        assert_int_equal(h->degraded, DEGRADED_BUS_MASTER);
        assert_int_equal(h->bus_master_error, -EIO);
        assert_held_in(x, "00:04.0", QUARANTINE_MODE_BLOCKED);
        /* the other one is fine */
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
}

/* Item 3: on a failure path the sysfs clear is refused (kernel lockdown: EPERM): the message says so,
 * and the device is listed as failed. */
static void test_lockdown_fail_closed_reported(void **state) {
        Fixture *x = *state;

        slot_of(x, "00:04.0")->probe_refuses = true;
        slot_of(x, "00:04.0")->bus_master = true;
        x->fake.disable_bus_master_error = -EPERM;
        assert_error(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0), -ENXIO, ENGINE_ERROR_UNSUPPORTED,
                     "0000:00:04.0", "vfio-pci did not bind");
        assert_non_null(strstr(x->err.message, "Bus mastering of 0000:00:04.0 could not be turned off either"));
        assert_non_null(strstr(x->err.message, "kernel lockdown"));
        assert_int_equal(strv_length(x->err.failed), 1);
        assert_string_equal(x->err.failed[0], "0000:00:04.0");
        assert_true(log_find(&x->fake, 0, "disable_bus_master 0000:00:04.0") >= 0);
        assert_true(slot_of(x, "00:04.0")->bus_master); /* it could not be cleared */
        assert_null(engine_find(x->e, "00:04.0"));
}

/* Item 5: step 1 fails on the second member of a group (unbinding its driver fails) after the first was
 * taken from its driver: the first is failed closed (driverless now, bus mastering off, listed); the
 * second is still on its driver, untouched. The old engine returned with the first left driverless and
 * bus mastering on. */
static void test_partial_failure_step1_fails_closed(void **state) {
        Fixture *x = *state;
        FakeSlot *first = slot_of(x, "02:02.0"), *second = slot_of(x, "02:01.0");

        assert_non_null(second->driver = strdup("edu-host"));
        second->unbind_error = -EIO;
        second->bus_master = true;
        first->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("02:02.0", "02:01.0"), QUARANTINE_MODE_BLOCKED, 0), -EIO,
                     ENGINE_ERROR_SYSTEM, "0000:02:01.0", "Failed to unbind 0000:02:01.0");
        assert_log_order(&x->fake, 0,
                         SLOTS("unbind 0000:02:02.0 virtio-pci", "unbind 0000:02:01.0 edu-host",
                               "disable_bus_master 0000:02:02.0"));
        assert_failed_closed(x, "02:02.0");
        assert_null(first->driver);
        assert_int_equal(strv_length(x->err.failed), 1);
        /* the member still on its driver is left to it */
        assert_string_equal(strna(second->driver), "edu-host");
        assert_true(log_find(&x->fake, 0, "disable_bus_master 0000:02:01.0") < 0);
        assert_true(second->bus_master);
        assert_int_equal(x->e->n_devices, 0);
}

/* Item 5: step 3 (vfio-pci) fails for the second member: the first, already on vfio-pci but not bound
 * to iommufd, is failed closed too. */
static void test_partial_failure_step3_fails_closed(void **state) {
        Fixture *x = *state;

        slot_of(x, "02:02.0")->probe_refuses = true;
        slot_of(x, "02:01.0")->bus_master = true;
        slot_of(x, "02:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0), -ENXIO,
                     ENGINE_ERROR_UNSUPPORTED, "0000:02:02.0", "vfio-pci did not bind");
        assert_string_equal(strna(slot_of(x, "02:01.0")->driver), "vfio-pci");
        assert_failed_closed(x, "02:01.0");
        assert_failed_closed(x, "02:02.0");
        assert_int_equal(strv_length(x->err.failed), 2);
        assert_int_equal(log_count(&x->fake, 0, "cdev_open "), 0);
}

/* Item 6: unbinding vfio-pci fails after the close: the device is taken back into quarantine, in the
 * mode (and cover) it had. */
static void test_release_host_unbind_vfio_fails_retaken(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        slot_of(x, "00:04.0")->unbind_error = -EBUSY;
        mark = log_len(&x->fake);
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), &released, &x->err), -EBUSY,
                     ENGINE_ERROR_SYSTEM, "0000:00:04.0", "Failed to unbind 0000:00:04.0 from vfio-pci");
        assert_non_null(strstr(x->err.message, "taken back into quarantine (scratch-page)"));
        assert_null(released);
        assert_null(x->err.failed);
        assert_log_order(&x->fake, mark,
                         SLOTS("close 0000:00:04.0", "unbind 0000:00:04.0 vfio-pci", "override 0000:00:04.0 vfio-pci",
                               "cdev_open 0000:00:04.0", "bind_iommufd 0000:00:04.0"));
        assert_quarantined(x, "00:04.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:04.0")->cover_wanted, M64);
        assert_string_equal(strna(held(x, "00:04.0")->host_driver), "e1000e");
}

/* ... and when even taking it back fails, it is listed as failed, bus mastering off. */
static void test_release_host_retake_fails_listed(void **state) {
        Fixture *x = *state;
        FakeSlot *s = slot_of(x, "00:04.0");
        HeldDevice *h;

        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        s->unbind_error = -EBUSY;
        s->cdev_open_error = -EIO;
        s->bus_master = true;
        assert_error(x, engine_release_host(x->e, x->t, SLOTS("00:04.0"), NULL, &x->err), -EBUSY, ENGINE_ERROR_SYSTEM,
                     "0000:00:04.0", "Taking it back into quarantine failed too");
        assert_true(strv_contains(x->err.failed, "0000:00:04.0"));
        assert_true(log_find(&x->fake, 0, "disable_bus_master 0000:00:04.0") >= 0);
        assert_false(s->bus_master);
        assert_int_equal(fake_slot_fd(&x->fake, s), -EBADF);
        h = engine_find(x->e, "00:04.0");
        assert_true(!h || h->state != DEVICE_STATE_QUARANTINED);
}

/* Item 2: restoring the identity default domain on release fails: the release succeeds (the DMA domain
 * is the safer one), and the failure is a note, not lost. */
static void test_release_host_identity_restore_fails_noted(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("00:05.0"), QUARANTINE_MODE_BLOCKED, 0));
        x->fake.set_group_type_error = -EINVAL;
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:05.0"), NULL, &x->err));
        assert_error_cleared(&x->err);
        assert_int_equal(strv_length(x->err.notes), 1);
        assert_non_null(strstr(x->err.notes[0], "IOMMU group 3"));
        assert_string_equal(fake_group(&x->fake, 3)->type, "DMA");
        assert_string_equal(strna(slot_of(x, "00:05.0")->driver), "virtio-pci");
        assert_null(engine_find(x->e, "00:05.0"));
}

/* Item 7: a cover above the maximum is refused (E2BIG); the device stays held, blocked. */
static void test_scratch_cover_too_large(void **state) {
        Fixture *x = *state;
        QuarantineRequest req = {
                .slots = SLOTS("00:02.0"),
                .mode = QUARANTINE_MODE_SCRATCH_PAGE,
                .cover = M64,
                .max_cover = M16,
        };

        assert_error(x, engine_quarantine(x->e, x->t, &req, NULL, &x->err), -E2BIG, ENGINE_ERROR_NOT_ALLOWED,
                     "0000:00:02.0", "maximum");
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        assert_int_equal(log_count(&x->fake, 0, "scratch_"), 0);
        assert_int_equal(log_count(&x->fake, 0, "attach "), 0);

        /* max_cover 0: QUARANTINE_MAX_SCRATCH_COVER */
        req.max_cover = 0;
        req.cover = QUARANTINE_MAX_SCRATCH_COVER + M16;
        assert_error(x, engine_set_mode(x->e, x->t, &req, &x->err), -E2BIG, ENGINE_ERROR_NOT_ALLOWED, "0000:00:02.0",
                     "maximum");
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);

        /* exactly the maximum is fine */
        req.cover = M16;
        req.max_cover = M16;
        assert_ok(x, engine_set_mode(x->e, x->t, &req, &x->err));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
}

/* Item 7: no free huge page: the fallback base page covers at most SCRATCH_SMALL_MAX_COVER; the cover
 * that is mapped is recorded apart from the one asked for, and the cut as a degradation. */
static void test_scratch_no_huge_cover_cut(void **state) {
        Fixture *x = *state;
        _cleanup_free_ char *why = NULL;
        HeldDevice *h;

        x->fake.no_huge = true;
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, UINT64_C(1) << 30));
        assert_error_cleared(&x->err);
        assert_false(x->e->scratch.huge);
        h = held(x, "00:02.0");
        assert_held_in(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(h->cover, SCRATCH_SMALL_MAX_COVER);
        assert_int_equal(h->cover_wanted, UINT64_C(1) << 30);
        assert_true(h->cover < h->cover_wanted);
        assert_int_equal(h->degraded, DEGRADED_SCRATCH_COVER);
        assert_non_null(why = degradation_explain(h));
        assert_non_null(strstr(why, "first 16 MiB of the 1024 MiB"));

        /* a cover the small page can do is not degraded */
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_quarantined(x, "00:03.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "00:03.0")->cover, M16);

        /* back to blocked: nothing is cut any more */
        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        assert_int_equal(held(x, "00:02.0")->degraded, 0);
}

/* Item 7: the IOAS needs 64 KiB-aligned IOVAs (arm64 with 64 KiB IOMMU pages) and the usable range
 * starts at a 4 KiB-aligned address: the plan uses the alignment the IOAS reported (the fake refuses a
 * misaligned step, as the kernel does). */
static void test_scratch_iova_alignment_64k(void **state) {
        Fixture *x = *state;
        const uint64_t K64 = UINT64_C(64) << 10;

        x->fake.iova_alignment = K64;
        x->fake.iova_ranges[0] = (IovaRange) { UINT64_C(0x3000), MAX48 };
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(x->fake.n_extends, 1);
        assert_int_equal(x->fake.extends[0].alignment, K64);
        assert_int_equal(x->fake.extends[0].misaligned, 0);
        assert_int_equal(x->e->scratch.alignment, K64);
        assert_int_equal(x->e->scratch.covered, M64);
}

/* ... with only the 4 KiB fallback page, a 64 KiB alignment cannot be met: refused, said why. */
static void test_scratch_iova_alignment_above_page(void **state) {
        Fixture *x = *state;

        x->fake.no_huge = true;
        x->fake.iova_alignment = UINT64_C(64) << 10;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -EINVAL,
                     ENGINE_ERROR_UNSUPPORTED, "0000:00:02.0", "huge pages");
        assert_int_equal(x->fake.n_extends, 0);
        assert_int_equal(held(x, "00:02.0")->state, DEVICE_STATE_QUARANTINED);
        assert_true(slot_of(x, "00:02.0")->bound);
}

/* Item 8: a VFIO no-IOMMU group binds with no translation at all: refused before the cdev is opened,
 * and the device (put on vfio-pci by this call) is failed closed. */
static void test_noiommu_group_refused(void **state) {
        Fixture *x = *state;

        fake_group(&x->fake, 1)->name = "vfio-noiommu";
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -ENODEV,
                     ENGINE_ERROR_NOT_ISOLATABLE, "0000:00:02.0", "no-IOMMU");
        assert_int_equal(log_count(&x->fake, 0, "cdev_open "), 0);
        assert_failed_closed(x, "00:02.0");

        /* another group's name is no reason to refuse */
        fake_group(&x->fake, 3)->name = "some-name";
        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_quarantined(x, "00:04.0", QUARANTINE_MODE_BLOCKED);
}

/* on_bound: called once per bound device with its fd, right after the bind (before any attach), so
 * that the daemon can store the fd at once; not for a device whose bind failed. */
typedef struct BoundCalls {
        Fixture *x;
        char **slots;
        int fds[8];
        size_t n;
} BoundCalls;

static void record_bound(void *userdata, const char *slot, int fd) {
        BoundCalls *b = userdata;
        FakeSlot *s = fake_slot(&b->x->fake, slot);

        assert_non_null(s);
        assert_true(s->bound); /* bound already */
        assert_int_equal(fake_slot_fd(&b->x->fake, s), fd);
        fake_log(&b->x->fake, "on_bound %s", slot);
        assert_true(b->n < ELEMENTSOF(b->fds));
        b->fds[b->n++] = fd;
        assert_int_equal(strv_extend(&b->slots, slot), 0);
}

static void test_on_bound_called_per_device(void **state) {
        Fixture *x = *state;
        BoundCalls b = { .x = x };
        QuarantineRequest req = {
                .slots = SLOTS("00:1f.2", "00:02.0"),
                .mode = QUARANTINE_MODE_SCRATCH_PAGE,
                .cover = M16,
                .on_bound = record_bound,
                .userdata = &b,
        };
        char attach[64];

        slot_of(x, "00:02.0")->bind_error = -EIO;
        assert_error(x, engine_quarantine(x->e, x->t, &req, NULL, &x->err), -EIO, ENGINE_ERROR_SYSTEM, "0000:00:02.0",
                     "Failed to bind");
        assert_int_equal(b.n, 3);
        STRV_FOREACH(slot, SLOTS("0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3")) {
                ssize_t i;
                size_t k;

                assert_int_equal(log_count(&x->fake, 0, "on_bound "), 3);
                for (k = 0; k < b.n && !streq(b.slots[k], *slot); k++)
                        ;
                assert_true(k < b.n);
                assert_int_equal(b.fds[k], held(x, *slot)->fd);
                snprintf(attach, sizeof(attach), "attach %s %" PRIu32, *slot, x->e->scratch.ioas);
                i = log_find(&x->fake, 0, "bind_iommufd %s", *slot);
                assert_true(i >= 0);
                assert_int_equal(log_find(&x->fake, 0, "on_bound %s", *slot), i + 1); /* right after */
                assert_true(log_find(&x->fake, 0, "%s", attach) > i + 1);
                assert_quarantined(x, *slot, QUARANTINE_MODE_SCRATCH_PAGE);
        }
        assert_false(strv_contains(b.slots, "0000:00:02.0"));
        strv_free(b.slots);
}

/* Persistence keeps what is degraded and the cover asked for (a restarted daemon still reports it). */
static void test_persist_degraded_roundtrip(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **lost = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        FdStore store = {};
        json_object *j;

        x->fake.no_huge = true;
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, UINT64_C(1) << 30));
        slot_of(x, "00:04.0")->bus_master = true;
        slot_of(x, "00:04.0")->config_write_error = -EPERM;
        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_int_equal(held(x, "00:02.0")->degraded, DEGRADED_SCRATCH_COVER);
        assert_int_equal(held(x, "00:04.0")->degraded, DEGRADED_BUS_MASTER);

        j = json_state(x->e);
        store_put(&store, ENGINE_FDNAME_IOMMUFD, fake_dup_fd(&x->fake, x->e->iommufd));
        store_put_slot(&store, "0000:00:02.0", fake_dup_fd(&x->fake, held(x, "00:02.0")->fd));
        store_put_slot(&store, "0000:00:04.0", fake_dup_fd(&x->fake, held(x, "00:04.0")->fd));
        assert_int_equal(engine_new(snapshot("default"), &fake_ops, &x->fake, &x->adopted), 0);
        assert_int_equal(engine_adopt(x->adopted, j, store_lookup, &store, &lost), 0);
        json_object_put(j);
        assert_int_equal(strv_length(lost), 0);

        before = json_text(x->e, "devices");
        after = json_text(x->adopted, "devices");
        assert_string_equal(after, before);

        HeldDevice *a = engine_find(x->adopted, "00:02.0"), *b = engine_find(x->adopted, "00:04.0");
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(a->degraded, DEGRADED_SCRATCH_COVER);
        assert_int_equal(a->cover, SCRATCH_SMALL_MAX_COVER);
        assert_int_equal(a->cover_wanted, UINT64_C(1) << 30);
        assert_int_equal(b->degraded, DEGRADED_BUS_MASTER);
        assert_int_equal(b->bus_master_error, -EPERM);
        assert_int_equal(b->cover_wanted, 0);
        store_done(&store);
}

/* State from the engine before issue 8, which attached blocked devices to an empty IOAS (a paging
 * domain, ATS on): adopting it detaches them, to the blocking domain. */
static void test_persist_adopt_old_blocked_detaches(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **lost = NULL;
        FdStore store = {};
        json_object *j, *devs, *d;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        j = json_state(x->e);
        assert_true(json_object_object_get_ex(j, "devices", &devs));
        d = json_object_array_get_idx(devs, 0);
        json_object_object_add(d, "mode", json_object_new_string("blocked")); /* pt_id stays the IOAS */
        store_put(&store, ENGINE_FDNAME_IOMMUFD, fake_dup_fd(&x->fake, x->e->iommufd));
        store_put_slot(&store, "0000:00:02.0", fake_dup_fd(&x->fake, held(x, "00:02.0")->fd));
        assert_int_equal(engine_new(snapshot("default"), &fake_ops, &x->fake, &x->adopted), 0);
        assert_int_equal(engine_adopt(x->adopted, j, store_lookup, &store, &lost), 0);
        json_object_put(j);

        assert_true(log_find(&x->fake, 0, "detach 0000:00:02.0") >= 0);
        assert_int_equal(engine_find(x->adopted, "00:02.0")->pt_id, 0);
        assert_int_equal(slot_of(x, "00:02.0")->pt, 0);
        store_done(&store);
}

/* ... and when that detach fails, the device is held but says it is not on the blocking domain. */
static void test_persist_adopt_old_blocked_detach_fails_degraded(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **lost = NULL, **ids = NULL;
        _cleanup_free_ char *why = NULL;
        FdStore store = {};
        json_object *j, *devs, *d;
        HeldDevice *h;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        j = json_state(x->e);
        assert_true(json_object_object_get_ex(j, "devices", &devs));
        d = json_object_array_get_idx(devs, 0);
        json_object_object_add(d, "mode", json_object_new_string("blocked"));
        store_put(&store, ENGINE_FDNAME_IOMMUFD, fake_dup_fd(&x->fake, x->e->iommufd));
        store_put_slot(&store, "0000:00:02.0", fake_dup_fd(&x->fake, held(x, "00:02.0")->fd));
        x->fake.detach_error = -EBUSY;
        assert_int_equal(engine_new(snapshot("default"), &fake_ops, &x->fake, &x->adopted), 0);
        assert_int_equal(engine_adopt(x->adopted, j, store_lookup, &store, &lost), 0);
        json_object_put(j);

        h = engine_find(x->adopted, "00:02.0");
        assert_non_null(h);
        assert_int_equal(h->state, DEVICE_STATE_QUARANTINED);
        assert_true(h->degraded & DEGRADED_PAGING_DOMAIN);
        assert_int_equal(degradation_to_strv(h->degraded, &ids), 0);
        assert_true(strv_contains(ids, "paging-domain"));
        assert_non_null(why = degradation_explain(h));
        assert_non_null(strstr(why, "empty paging domain"));
        store_done(&store);
}

/* A stored VFIO fd no state describes (state.json lost): held blocked, detached in case it was attached. */
static void test_adopt_orphan(void **state) {
        Fixture *x = *state;
        char name[32], slot[PCI_ADDRESS_MAX];
        int fd, other;

        engine_fdname_for_slot("0000:00:02.0", name);
        assert_int_equal(engine_slot_from_fdname(name, slot), 0);
        assert_string_equal(slot, "0000:00:02.0");
        assert_int_equal(engine_slot_from_fdname("iommufd", slot), -EINVAL);
        assert_int_equal(engine_slot_from_fdname("vfio-nonsense", slot), -EINVAL);

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        fd = fake_dup_fd(&x->fake, held(x, "00:02.0")->fd);
        assert_int_equal(engine_new(snapshot("default"), &fake_ops, &x->fake, &x->adopted), 0);
        assert_int_equal(engine_adopt_orphan(x->adopted, "0000:00:02.0", 1, fd), 0);
        assert_true(log_find(&x->fake, 0, "detach 0000:00:02.0") >= 0);
        assert_int_equal(slot_of(x, "00:02.0")->pt, 0);
        HeldDevice *h = engine_find(x->adopted, "00:02.0");
        assert_non_null(h);
        assert_int_equal(h->state, DEVICE_STATE_QUARANTINED);
        assert_int_equal(h->mode, QUARANTINE_MODE_BLOCKED);
        assert_int_equal(h->pt_id, 0);
        assert_int_equal(h->fd, fd);
        assert_int_equal(engine_adopt_orphan(x->adopted, "0000:00:02.0", 1, fd), -EEXIST);

        /* a cdev fd that is not bound holds nothing: refused, left to the caller */
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:03.0"), NULL, &x->err));
        assert_int_equal(fake_cdev_open(&x->fake, "0000:00:03.0", &other), 0);
        assert_true(engine_adopt_orphan(x->adopted, "0000:00:03.0", 2, other) < 0);
        assert_null(engine_find(x->adopted, "00:03.0"));
        fake_close(&x->fake, other);
}

/* ---- the legacy backend: VFIO's group node and container (ENGINE_KIND_LEGACY) ---------------------- */

/* on_bound with a legacy engine: the fd is the group node's (owned by then), one call per member. */
typedef struct LegacyBound {
        Fixture *x;
        char **slots;
        int fds[8];
        size_t n;
} LegacyBound;

static void record_bound_legacy(void *userdata, const char *slot, int fd) {
        LegacyBound *b = userdata;
        FakeSlot *s = fake_slot(&b->x->fake, slot);
        FakeFd *f = fake_fd(&b->x->fake, fd);

        assert_non_null(s);
        assert_non_null(f);
        assert_int_equal(f->slot, FAKE_FD_GROUP);
        assert_int_equal(f->obj, s->group);
        assert_true(fake_group(&b->x->fake, s->group)->container != 0);
        fake_log(&b->x->fake, "on_bound %s", slot);
        assert_true(b->n < ELEMENTSOF(b->fds));
        b->fds[b->n++] = fd;
        assert_int_equal(strv_extend(&b->slots, slot), 0);
}

static FakeContainer *container_of_group(Fixture *x, int group) {
        FakeContainer *c = fake_container(&x->fake, fake_group(&x->fake, group)->container);
        assert_non_null(c);
        return c;
}

/* The group node is free again: a VMM could open it now. */
static void assert_group_free(Fixture *x, int group) {
        int fd = -EBADF;

        assert_int_equal(fake_group_fds(&x->fake, group), 0);
        assert_int_equal(fake_group(&x->fake, group)->container, 0);
        assert_int_equal(fake_group_open(&x->fake, group, &fd), 0);
        fake_close(&x->fake, fd);
}

/* A group of two endpoints (bridge group 6: 02:01.0 edu, unbound; 02:02.0 on virtio-pci) taken blocked:
 * one open of the node, one container, one SET_CONTAINER (which is what blocks the group), no type1 domain
 * and nothing of iommufd; every member its own copies of the two files. */
static void test_legacy_group_blocked(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **taken = NULL;
        LegacyBound b = { .x = x };
        QuarantineRequest req = {
                .slots = SLOTS("02:01.0", "02:02.0"),
                .mode = QUARANTINE_MODE_BLOCKED,
                .on_bound = record_bound_legacy,
                .userdata = &b,
        };
        HeldDevice *h1, *h2;

        slot_of(x, "02:01.0")->bus_master = true;
        slot_of(x, "02:02.0")->bus_master = true;
        assert_ok(x, engine_quarantine(x->e, x->t, &req, &taken, &x->err));
        assert_error_cleared(&x->err);
        assert_int_equal(strv_length(taken), 2);
        assert_held_legacy(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_held_legacy(x, "02:02.0", QUARANTINE_MODE_BLOCKED);

        assert_int_equal(log_count(&x->fake, 0, "group_open "), 1);
        assert_int_equal(fake_group(&x->fake, 6)->opens, 1);
        assert_int_equal(log_count(&x->fake, 0, "container_open"), 1);
        assert_int_equal(x->fake.n_containers, 1);
        assert_int_equal(log_count(&x->fake, 0, "set_container "), 1);
        assert_int_equal(log_count(&x->fake, 0, "set_iommu "), 0);
        assert_false(container_of_group(x, 6)->type1);
        assert_int_equal(log_count(&x->fake, 0, "iommufd_open"), 0);
        assert_int_equal(log_count(&x->fake, 0, "cdev_open "), 0);
        assert_int_equal(log_count(&x->fake, 0, "bind_iommufd "), 0);
        assert_int_equal(log_count(&x->fake, 0, "scratch_"), 0);
        assert_int_equal(x->e->iommufd, -EBADF);

        /* its own files each (stored and closed one by one): copies of the group's two */
        h1 = held(x, "02:01.0");
        h2 = held(x, "02:02.0");
        assert_true(h1->fd != h2->fd);
        assert_true(h1->container_fd != h2->container_fd);
        assert_true(h1->fd != h2->container_fd && h2->fd != h1->container_fd);
        assert_int_equal(log_count(&x->fake, 0, "dup group"), 1);
        assert_int_equal(log_count(&x->fake, 0, "dup container"), 1);
        assert_int_equal(fake_group_fds(&x->fake, 6), 2);
        assert_int_equal(fake_open_fds(&x->fake), 4);
        assert_null(h1->host_driver);
        assert_string_equal(strna(h2->host_driver), "virtio-pci");

        /* no device file: bus mastering is cleared through sysfs, once the group is owned */
        assert_int_equal(b.n, 2);
        STRV_FOREACH(slot, SLOTS("0000:02:01.0", "0000:02:02.0")) {
                HeldDevice *h = held(x, *slot);
                ssize_t owned = log_find(&x->fake, 0, "set_container 6"),
                        bound = log_find(&x->fake, 0, "on_bound %s", *slot),
                        cleared = log_find(&x->fake, 0, "disable_bus_master %s", *slot);
                size_t k;

                assert_true(owned >= 0);
                assert_true(bound > owned);
                assert_true(cleared > bound);
                for (k = 0; k < b.n && !streq(b.slots[k], *slot); k++)
                        ;
                assert_true(k < b.n);
                assert_int_equal(b.fds[k], h->fd);
                assert_false(slot_of(x, *slot)->bus_master);
                assert_int_equal(h->bus_master_error, 0);
                assert_int_equal(h->degraded, 0);
                assert_false(h->type1);
                assert_false(h->reset_works);
        }
        assert_null(engine_find(x->e, "01:00.0")); /* the bridge stays where it is */
        /* the request channel is on a device file, which legacy does not have */
        assert_int_equal(engine_set_request_eventfd(x->e, "02:01.0", 0), -EOPNOTSUPP);
        strv_free(b.slots);
}

/* Kernel lockdown refuses the sysfs config write: held anyway, and said. */
static void test_legacy_bus_master_lockdown(void **state) {
        Fixture *x = *state;

        x->fake.disable_bus_master_error = -EPERM;
        slot_of(x, "02:01.0")->bus_master = true;
        slot_of(x, "02:02.0")->bus_master = true;
        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_error_cleared(&x->err);
        STRV_FOREACH(slot, SLOTS("02:01.0", "02:02.0")) {
                _cleanup_free_ char *why = NULL;
                HeldDevice *h = held(x, *slot);

                assert_held_legacy(x, *slot, QUARANTINE_MODE_BLOCKED);
                assert_int_equal(h->degraded, DEGRADED_BUS_MASTER);
                assert_int_equal(h->bus_master_error, -EPERM);
                assert_true(slot_of(x, *slot)->bus_master);
                assert_non_null(why = degradation_explain(h));
                assert_non_null(strstr(why, "kernel lockdown"));
        }
}

/* The group node is open elsewhere (a VMM): busy, and not ours to stop (not failed, bus mastering
 * untouched). */
static void test_legacy_group_open_busy(void **state) {
        Fixture *x = *state;

        fake_group(&x->fake, 1)->open_error = -EBUSY;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EBUSY, ENGINE_ERROR_BUSY,
                     "0000:00:02.0", "/dev/vfio/1");
        assert_false(strv_contains(x->err.failed, "0000:00:02.0"));
        assert_null(engine_find(x->e, "00:02.0"));
        assert_int_equal(log_count(&x->fake, 0, "disable_bus_master "), 0);
        assert_true(slot_of(x, "00:02.0")->bus_master);
        assert_int_equal(log_count(&x->fake, 0, "container_open"), 0);
        assert_int_equal(fake_open_fds(&x->fake), 0);
}

/* No group node (no udev, no CONFIG_VFIO_GROUP): unsupported, and the device failed closed. */
static void test_legacy_group_open_enoent(void **state) {
        Fixture *x = *state;

        fake_group(&x->fake, 1)->open_error = -ENOENT;
        slot_of(x, "00:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0), -ENOENT, ENGINE_ERROR_UNSUPPORTED,
                     "0000:00:02.0", "CONFIG_VFIO_GROUP");
        assert_failed_closed_legacy(x, "00:02.0");
        assert_int_equal(fake_open_fds(&x->fake), 0);
}

/* VFIO_GROUP_SET_CONTAINER refused: not viable; every member touched failed closed, no file left open. */
static void test_legacy_set_container_eperm(void **state) {
        Fixture *x = *state;

        fake_group(&x->fake, 6)->set_container_error = -EPERM;
        slot_of(x, "02:01.0")->bus_master = true;
        slot_of(x, "02:02.0")->bus_master = true;
        assert_error(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EPERM,
                     ENGINE_ERROR_GROUP_NOT_VIABLE, "0000:02:01.0", "set the container of");
        assert_failed_closed_legacy(x, "02:01.0");
        assert_failed_closed_legacy(x, "02:02.0");
        assert_int_equal(x->e->n_devices, 0);
        assert_int_equal(fake_open_fds(&x->fake), 0);
        assert_int_equal(log_count(&x->fake, 0, "container_open"), log_count(&x->fake, 0, "close container"));
        assert_int_equal(log_count(&x->fake, 0, "group_open "), log_count(&x->fake, 0, "close group "));
}

/* VFIO_GROUP_GET_STATUS: not viable. Refused before a container is even opened. */
static void test_legacy_group_not_viable(void **state) {
        Fixture *x = *state;

        fake_group(&x->fake, 6)->not_viable = true;
        assert_error(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_BLOCKED, 0), -EBUSY,
                     ENGINE_ERROR_GROUP_NOT_VIABLE, "0000:02:01.0", "viability");
        assert_int_equal(log_count(&x->fake, 0, "container_open"), 0);
        assert_int_equal(log_count(&x->fake, 0, "set_container "), 0);
        assert_failed_closed_legacy(x, "02:01.0");
        assert_failed_closed_legacy(x, "02:02.0");
        assert_int_equal(fake_open_fds(&x->fake), 0);
}

/* scratch-page: the group's container gets its type1 domain once, and the scratch page is mapped read-only
 * once per 2 MiB of the cover. blocked again: the mappings go, the group stays on the empty type1 domain
 * (it cannot leave it without a gap), which is said; scratch-page again maps it again. */
static void test_legacy_scratch_page(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **bits = NULL;
        _cleanup_free_ char *why = NULL;
        FakeContainer *c;
        uint32_t cid;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        assert_error_cleared(&x->err);
        assert_held_legacy(x, "02:01.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_held_legacy(x, "02:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(log_count(&x->fake, 0, "set_iommu "), 1);
        assert_log_order(&x->fake, 0, SLOTS("set_container 6", "set_iommu 6"));
        assert_int_equal(log_count(&x->fake, 0, "scratch_alloc"), 1);
        c = container_of_group(x, 6);
        cid = c->id;
        assert_true(c->type1);
        assert_int_equal(fake_maps(&x->fake, cid), M64 / SCRATCH_HUGE_SIZE);
        assert_int_equal(x->fake.maps_made, M64 / SCRATCH_HUGE_SIZE);
        STRV_FOREACH(slot, SLOTS("02:01.0", "02:02.0")) {
                HeldDevice *h = held(x, *slot);
                assert_true(h->type1);
                assert_int_equal(h->cover, M64);
                assert_int_equal(h->cover_wanted, M64);
                assert_int_equal(h->degraded, 0);
        }
        assert_int_equal(log_count(&x->fake, 0, "iommufd_open"), 0);
        assert_int_equal(log_count(&x->fake, 0, "cdev_open "), 0);

        mark = log_len(&x->fake);
        assert_ok(x, set_mode(x, SLOTS("02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_error_cleared(&x->err);
        assert_true(log_count(&x->fake, mark, "unmap_all") >= 1);
        assert_int_equal(fake_maps(&x->fake, cid), 0);
        assert_held_legacy(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_held_legacy(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
        /* never off the type1 domain: no gap */
        assert_true(c->type1);
        assert_int_equal(fake_group(&x->fake, 6)->container, cid);
        assert_int_equal(log_count(&x->fake, mark, "close "), 0);
        assert_int_equal(log_count(&x->fake, mark, "set_container "), 0);
        STRV_FOREACH(slot, SLOTS("02:01.0", "02:02.0")) {
                HeldDevice *h = held(x, *slot);
                assert_true(h->type1);
                assert_int_equal(h->degraded, DEGRADED_PAGING_DOMAIN);
                assert_int_equal(h->detach_error, -EOPNOTSUPP);
                assert_int_equal(h->cover, 0);
                assert_int_equal(h->cover_wanted, 0);
        }
        assert_non_null(why = degradation_explain(held(x, "02:01.0")));
        assert_non_null(strstr(why, "type1"));
        assert_int_equal(degradation_to_strv(held(x, "02:01.0")->degraded, &bits), 0);
        assert_true(strv_contains(bits, "paging-domain"));

        mark = log_len(&x->fake);
        assert_ok(x, set_mode(x, SLOTS("02:01.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64));
        assert_error_cleared(&x->err);
        assert_int_equal(log_count(&x->fake, mark, "set_iommu "), 0);
        assert_int_equal(fake_maps(&x->fake, cid), M64 / SCRATCH_HUGE_SIZE);
        assert_held_legacy(x, "02:01.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_held_legacy(x, "02:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "02:01.0")->degraded, 0);
        assert_int_equal(held(x, "02:02.0")->degraded, 0);
        assert_int_equal(held(x, "02:02.0")->cover, M64);
}

/* type1 refuses a paging domain (unsafe interrupts): said, and the group stays blocked. */
static void test_legacy_set_iommu_eperm(void **state) {
        Fixture *x = *state;

        x->fake.set_iommu_error = -EPERM;
        assert_error(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -EPERM,
                     ENGINE_ERROR_UNSAFE_INTERRUPTS, "0000:02:01.0", "allow_unsafe_interrupts");
        assert_null(x->err.failed);
        STRV_FOREACH(slot, SLOTS("02:01.0", "02:02.0")) {
                assert_held_legacy(x, *slot, QUARANTINE_MODE_BLOCKED);
                assert_false(held(x, *slot)->type1);
                assert_int_equal(held(x, *slot)->degraded, 0);
        }
        assert_false(container_of_group(x, 6)->type1);
        assert_int_equal(x->fake.n_maps, 0);

        assert_error(x, set_mode(x, SLOTS("02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -EPERM,
                     ENGINE_ERROR_UNSAFE_INTERRUPTS, "0000:02:01.0", "stays blocked");
        assert_held_legacy(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_held_legacy(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
}

/* A map fails part way (type1's dma_entry_limit): scratch-page with the cover that was reached, said;
 * a larger cover later goes on from there without mapping anything twice. */
static void test_legacy_map_fails(void **state) {
        Fixture *x = *state;
        _cleanup_free_ char *why = NULL;
        HeldDevice *h;
        uint32_t cid;

        x->fake.map_error = -ENOSPC;
        x->fake.map_fail_after = 3;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64), -ENOSPC,
                     ENGINE_ERROR_SYSTEM, "0000:00:02.0", "dma_entry_limit");
        assert_null(x->err.failed);
        h = held(x, "00:02.0");
        assert_held_legacy(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        cid = container_of_group(x, 1)->id;
        assert_int_equal(fake_maps(&x->fake, cid), 3);
        assert_int_equal(h->cover, 3 * SCRATCH_HUGE_SIZE);
        assert_int_equal(h->cover_wanted, M64);
        assert_int_equal(h->degraded, DEGRADED_SCRATCH_COVER);
        assert_non_null(why = degradation_explain(h));
        assert_non_null(strstr(why, "first 6 MiB of the 64 MiB"));

        x->fake.map_error = 0;
        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, 2 * M64));
        assert_held_legacy(x, "00:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(fake_maps(&x->fake, cid), 2 * M64 / SCRATCH_HUGE_SIZE);
        assert_int_equal(x->fake.maps_made, 2 * M64 / SCRATCH_HUGE_SIZE);
        assert_int_equal(h->cover, 2 * M64);
        assert_int_equal(h->degraded, 0);
}

/* A member taken while its group is held already (its files were lost, say): it gets copies of the
 * group's files, and what is true of the group is true of it: on the empty type1 domain in blocked
 * mode, or mapped in scratch-page mode. */
static void test_legacy_mate_taken_later(void **state) {
        Fixture *x = *state;
        uint32_t cid;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_ok(x, set_mode(x, SLOTS("02:01.0"), QUARANTINE_MODE_BLOCKED, 0));
        cid = container_of_group(x, 6)->id;
        engine_forget(x->e, "02:02.0");
        assert_int_equal(fake_group(&x->fake, 6)->container, cid); /* the mate's files still hold it */

        mark = log_len(&x->fake);
        assert_ok(x, quarantine(x, SLOTS("02:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_int_equal(log_count(&x->fake, mark, "group_open "), 0);
        assert_int_equal(log_count(&x->fake, mark, "dup group"), 1);
        assert_int_equal(log_count(&x->fake, mark, "dup container"), 1);
        assert_held_legacy(x, "02:01.0", QUARANTINE_MODE_BLOCKED);
        assert_held_legacy(x, "02:02.0", QUARANTINE_MODE_BLOCKED);
        assert_true(held(x, "02:02.0")->type1);
        assert_int_equal(held(x, "02:02.0")->degraded, DEGRADED_PAGING_DOMAIN);

        /* the same, in scratch-page mode: nothing mapped twice, no second type1 domain */
        assert_ok(x, set_mode(x, SLOTS("02:01.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        engine_forget(x->e, "02:02.0");
        mark = log_len(&x->fake);
        assert_ok(x, quarantine(x, SLOTS("02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_int_equal(log_count(&x->fake, mark, "set_iommu "), 0);
        assert_int_equal(fake_maps(&x->fake, cid), M16 / SCRATCH_HUGE_SIZE);
        assert_held_legacy(x, "02:01.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_held_legacy(x, "02:02.0", QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(held(x, "02:02.0")->cover, M16);
        assert_int_equal(held(x, "02:02.0")->degraded, 0);
}

/* Release to a guest closes every file of the group: the group is free (its node can be opened, its
 * type1 domain and mappings are gone); the devices stay on vfio-pci. */
static void test_legacy_release_guest(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;
        FakeContainer *c;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        c = container_of_group(x, 6);
        assert_true(fake_maps(&x->fake, c->id) > 0);
        mark = log_len(&x->fake);
        x->fake.now = 500;
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("02:01.0"), &released, &x->err));
        assert_error_cleared(&x->err);
        assert_int_equal(strv_length(released), 2);
        STRV_FOREACH(slot, SLOTS("02:01.0", "02:02.0")) {
                HeldDevice *h = held(x, *slot);
                assert_int_equal(h->state, DEVICE_STATE_RELEASED);
                assert_int_equal(h->fd, -EBADF);
                assert_int_equal(h->container_fd, -EBADF);
                assert_false(h->type1);
                assert_int_equal(h->cover, 0);
                assert_int_equal(h->since, 500);
                assert_string_equal(strna(slot_of(x, *slot)->driver), "vfio-pci");
                assert_string_equal(strna(slot_of(x, *slot)->override), "vfio-pci");
        }
        assert_int_equal(log_count(&x->fake, mark, "close group 6"), 2);
        assert_int_equal(log_count(&x->fake, mark, "close container"), 2);
        assert_int_equal(fake_open_fds(&x->fake), 0);
        assert_false(c->type1);
        assert_int_equal(fake_maps(&x->fake, c->id), 0);
        assert_group_free(x, 6);
}

/* Release to the host: the files are closed before vfio-pci is unbound (the fake fails otherwise), and
 * the host driver is bound again. */
static void test_legacy_release_host(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **released = NULL;
        uint32_t cid;
        size_t mark;

        assert_ok(x, quarantine(x, SLOTS("02:01.0", "02:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        cid = container_of_group(x, 6)->id;
        mark = log_len(&x->fake);
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("02:02.0"), &released, &x->err));
        assert_error_cleared(&x->err);
        assert_int_equal(strv_length(released), 2);
        assert_log_order(&x->fake, mark,
                         SLOTS("override 0000:02:01.0 (null)", "override 0000:02:02.0 (null)", "close group 6",
                               "close group 6", "unbind 0000:02:01.0 vfio-pci", "unbind 0000:02:02.0 vfio-pci",
                               "bind 0000:02:02.0 virtio-pci"));
        assert_int_equal(log_count(&x->fake, mark, "close container"), 2);
        assert_int_equal(x->e->n_devices, 0);
        assert_int_equal(fake_open_fds(&x->fake), 0);
        assert_int_equal(fake_maps(&x->fake, cid), 0);
        assert_string_equal(strna(slot_of(x, "02:02.0")->driver), "virtio-pci");
        assert_null(slot_of(x, "02:01.0")->driver);
        assert_null(slot_of(x, "02:01.0")->override);
        assert_null(slot_of(x, "02:02.0")->override);
        assert_group_free(x, 6);
}

static void store_put_container(FdStore *s, const char *slot, int fd) {
        char name[32];
        engine_fdname_container_for_slot(slot, name);
        store_put(s, name, fd);
}

/* Each quarantined device's two files, as the daemon stores them. */
static void store_put_legacy(Fixture *x, FdStore *s) {
        FOREACH_ARRAY(h, x->e->devices, x->e->n_devices) {
                if (h->state != DEVICE_STATE_QUARANTINED)
                        continue;
                store_put_slot(s, h->slot, fake_dup_fd(&x->fake, h->fd));
                store_put_container(s, h->slot, fake_dup_fd(&x->fake, h->container_fd));
        }
}

static int store_fd(const FdStore *s, const char *name) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->names[i], name))
                        return s->fds[i];
        fail_msg("%s is not in the store", name);
        return -EBADF;
}

/* The state says it is legacy, and per device whether its group is on the type1 domain; adopting it
 * gives every device back its group file and its container, and touches nothing. */
static void test_legacy_persist_roundtrip(void **state) {
        Fixture *x = *state;
        _cleanup_strv_free_ char **lost = NULL, **lost2 = NULL;
        _cleanup_free_ char *text = NULL, *before = NULL, *after = NULL;
        FdStore store = {}, store2 = {};
        QuarantineRequest req = { .slots = SLOTS("00:04.0"), .mode = QUARANTINE_MODE_BLOCKED };
        json_object *j, *devs, *empty;
        Engine *other = NULL;
        size_t mark;
        char name[32];

        x->fake.now = 100;
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        x->fake.now = 200;
        assert_ok(x, quarantine(x, SLOTS("00:04.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        x->fake.now = 300;
        assert_ok(x, quarantine(x, SLOTS("00:05.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_ok(x, set_mode(x, SLOTS("00:05.0"), QUARANTINE_MODE_BLOCKED, 0)); /* on the empty type1 domain */
        assert_ok(x, quarantine(x, SLOTS("00:03.0"), QUARANTINE_MODE_BLOCKED, 0));
        x->fake.now = 400;
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:03.0"), NULL, &x->err));

        text = json_text(x->e, "kind");
        assert_string_equal(text, "\"legacy\"");
        j = json_state(x->e);
        assert_true(json_object_object_get_ex(j, "devices", &devs));
        assert_int_equal(json_object_array_length(devs), 4);
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                json_object *d = json_object_array_get_idx(devs, i), *slot, *type1;
                assert_true(json_object_object_get_ex(d, "slot", &slot));
                assert_true(json_object_object_get_ex(d, "type1", &type1));
                assert_true(json_object_is_type(type1, json_type_boolean));
                assert_int_equal(json_object_get_boolean(type1), held(x, json_object_get_string(slot))->type1);
        }
        assert_false(held(x, "00:02.0")->type1);
        assert_true(held(x, "00:04.0")->type1);
        assert_true(held(x, "00:05.0")->type1);

        store_put_legacy(x, &store);
        assert_int_equal(store.n, 6);
        legacy_engine_new(snapshot("default"), &x->fake, &x->adopted);
        mark = log_len(&x->fake);
        assert_int_equal(engine_adopt(x->adopted, j, store_lookup, &store, &lost), 0);
        assert_int_equal(strv_length(lost), 0);
        assert_int_equal(log_len(&x->fake), mark); /* adopting touches nothing */
        before = json_text(x->e, "devices");
        after = json_text(x->adopted, "devices");
        assert_string_equal(after, before);
        assert_int_equal(x->adopted->n_devices, 4);
        assert_int_equal(x->adopted->iommufd, -EBADF);
        FOREACH_ARRAY(h, x->e->devices, x->e->n_devices) {
                HeldDevice *a = engine_find(x->adopted, h->slot);
                assert_non_null(a);
                assert_int_equal(a->state, h->state);
                assert_int_equal(a->mode, h->mode);
                assert_int_equal(a->type1, h->type1);
                assert_int_equal(a->cover, h->cover);
                assert_int_equal(a->degraded, h->degraded);
                assert_int_equal(a->detach_error, h->detach_error);
                if (h->state != DEVICE_STATE_QUARANTINED) {
                        assert_int_equal(a->fd, -EBADF);
                        assert_int_equal(a->container_fd, -EBADF);
                        continue;
                }
                engine_fdname_for_slot(h->slot, name);
                assert_int_equal(a->fd, store_fd(&store, name));
                engine_fdname_container_for_slot(h->slot, name);
                assert_int_equal(a->container_fd, store_fd(&store, name));
        }
        assert_int_equal(engine_find(x->adopted, "00:04.0")->mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(engine_find(x->adopted, "00:05.0")->degraded, DEGRADED_PAGING_DOMAIN);
        assert_true(strv_contains(store.asked, "vfioc-0000-00-04.0"));
        assert_false(strv_contains(store.asked, "vfio-0000-00-03.0"));
        assert_false(strv_contains(store.asked, "vfioc-0000-00-03.0"));

        /* the adopted container is the group's: blocked unmaps the scratch page through it */
        mark = log_len(&x->fake);
        assert_int_equal(engine_set_mode(x->adopted, x->t, &req, &x->err), 0);
        assert_int_equal(log_count(&x->fake, mark, "unmap_all"), 1);
        assert_int_equal(fake_maps(&x->fake, container_of_group(x, 3)->id), 0);
        assert_int_equal(engine_find(x->adopted, "00:04.0")->degraded, DEGRADED_PAGING_DOMAIN);

        /* an engine set up for iommufd (the --backend= changed) takes back what legacy held, as legacy */
        store_put_legacy(x, &store2);
        assert_int_equal(engine_new(snapshot("default"), &fake_ops_legacy, &x->fake, &other), 0);
        assert_int_equal(other->kind, ENGINE_KIND_IOMMUFD);
        mark = log_len(&x->fake);
        assert_int_equal(engine_adopt(other, j, store_lookup, &store2, &lost2), 0);
        assert_int_equal(strv_length(lost2), 0);
        assert_int_equal(other->kind, ENGINE_KIND_LEGACY);
        assert_int_equal(log_len(&x->fake), mark);
        assert_int_equal(other->n_devices, 4);
        assert_int_equal(engine_find(other, "00:04.0")->fd, store_fd(&store2, "vfio-0000-00-04.0"));
        assert_int_equal(engine_find(other, "00:04.0")->container_fd, store_fd(&store2, "vfioc-0000-00-04.0"));
        assert_true(engine_find(other, "00:04.0")->type1);
        other = engine_free(other);

        /* ... but with nothing held, the engine's own kind stays */
        assert_int_equal(engine_new(snapshot("default"), &fake_ops_legacy, &x->fake, &other), 0);
        assert_int_equal(engine_set_kind(other, ENGINE_KIND_LEGACY), 0);
        assert_int_equal(engine_to_json(other, &empty), 0);
        other = engine_free(other);
        assert_int_equal(engine_new(snapshot("default"), &fake_ops_legacy, &x->fake, &other), 0);
        assert_int_equal(engine_adopt(other, empty, store_lookup, &store2, NULL), 0);
        assert_int_equal(other->kind, ENGINE_KIND_IOMMUFD);
        other = engine_free(other);
        json_object_put(empty);

        json_object_put(j);
        store_done(&store);
        store_done(&store2);
}

/* An iommufd engine's state has no "type1". */
static void test_legacy_json_iommufd_no_type1(void **state) {
        Fixture *x = *state;
        _cleanup_free_ char *kind = NULL, *devs = NULL;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        kind = json_text(x->e, "kind");
        assert_string_equal(kind, "\"iommufd\"");
        devs = json_text(x->e, "devices");
        assert_null(strstr(devs, "type1"));
}

/* The kind changes only with ops that can do it, and only while nothing is held. */
static void test_legacy_set_kind(void **state) {
        Fixture *x = *state;

        assert_int_equal(engine_set_kind(x->e, ENGINE_KIND_LEGACY), -EOPNOTSUPP); /* fake_ops: no group_open */
        assert_int_equal(x->e->kind, ENGINE_KIND_IOMMUFD);
        assert_int_equal(engine_set_kind(x->e, _ENGINE_KIND_MAX), -EINVAL);
        assert_int_equal(engine_set_kind(x->e, _ENGINE_KIND_INVALID), -EINVAL);
        assert_int_equal(engine_set_kind(x->e, ENGINE_KIND_IOMMUFD), 0);

        x->e = engine_free(x->e);
        legacy_engine_new(snapshot("default"), &x->fake, &x->e);
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_int_equal(engine_set_kind(x->e, ENGINE_KIND_IOMMUFD), -EBUSY);
        assert_int_equal(x->e->kind, ENGINE_KIND_LEGACY);
        assert_int_equal(engine_set_kind(x->e, ENGINE_KIND_LEGACY), 0); /* no change */
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err));
        assert_int_equal(engine_set_kind(x->e, ENGINE_KIND_IOMMUFD), -EBUSY); /* released, still known */
        assert_ok(x, engine_release_host(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err));
        assert_int_equal(x->e->n_devices, 0);
        assert_int_equal(engine_set_kind(x->e, ENGINE_KIND_IOMMUFD), 0);
        assert_int_equal(x->e->kind, ENGINE_KIND_IOMMUFD);

        for (EngineKind k = 0; k < _ENGINE_KIND_MAX; k++)
                assert_int_equal(engine_kind_from_string(engine_kind_to_string(k)), k);
        assert_string_equal(engine_kind_to_string(ENGINE_KIND_LEGACY), "legacy");
        assert_int_equal(engine_kind_from_string("vfio"), _ENGINE_KIND_INVALID);
}

/* A group file no state describes: held blocked, without its container; whether the group is on a type1
 * domain nobody knows, which is said. Nothing is called on it. */
static void test_legacy_adopt_orphan(void **state) {
        Fixture *x = *state;
        _cleanup_free_ char *why = NULL;
        HeldDevice *h;
        int fd;

        fd = fake_register_fd_obj(&x->fake, open("/dev/null", O_RDWR | O_CLOEXEC), FAKE_FD_GROUP, 1);
        assert_int_equal(engine_adopt_orphan(x->e, "0000:00:02.0", 1, fd), 0);
        assert_int_equal(log_len(&x->fake), 0);
        h = held(x, "00:02.0");
        assert_int_equal(h->fd, fd);
        assert_int_equal(h->container_fd, -EBADF);
        assert_int_equal(h->state, DEVICE_STATE_QUARANTINED);
        assert_int_equal(h->mode, QUARANTINE_MODE_BLOCKED);
        assert_int_equal(h->degraded, DEGRADED_PAGING_DOMAIN);
        assert_int_equal(h->detach_error, -EOPNOTSUPP);
        assert_non_null(why = degradation_explain(h));
        assert_non_null(strstr(why, "type1"));
        /* without its container it cannot get a scratch page */
        assert_error(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16), -EBADF, ENGINE_ERROR_SYSTEM,
                     "0000:00:02.0", "container");
        assert_int_equal(h->mode, QUARANTINE_MODE_BLOCKED);
}

/* The container got its type1 domain but not one page is mapped (the first map, or reading the IOVA
 * ranges, failed): the group is on an empty paging domain while the device is said to be blocked. */
static void test_legacy_first_map_fails_paging_said(void **state) {
        Fixture *x = *state;
        HeldDevice *h;

        x->fake.map_error = -ENOSPC;
        x->fake.map_fail_after = 0;
        assert_error(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M64), -ENOSPC,
                     ENGINE_ERROR_SYSTEM, "0000:00:02.0", "dma_entry_limit");
        h = held(x, "00:02.0");
        assert_true(container_of_group(x, 1)->type1);
        assert_true(h->type1);
        assert_int_equal(h->mode, QUARANTINE_MODE_BLOCKED);
        assert_held_legacy(x, "00:02.0", QUARANTINE_MODE_BLOCKED); /* DEGRADED_PAGING_DOMAIN, -EOPNOTSUPP */
}

/* A fresh hold after a release is blocked and maps nothing: the cut cover of the earlier hold (and the
 * cover it asked for) is not true of it. Returns the device held again, blocked. */
static HeldDevice *requarantine_after_cut_cover(Fixture *x) {
        HeldDevice *h;

        x->fake.no_huge = true;
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, UINT64_C(1) << 30));
        assert_int_equal(held(x, "00:02.0")->degraded, DEGRADED_SCRATCH_COVER);
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err));
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        h = held(x, "00:02.0");
        assert_int_equal(h->degraded, 0);
        assert_int_equal(h->cover_wanted, 0);
        return h;
}

static void test_legacy_requarantine_clears_scratch_cover(void **state) {
        Fixture *x = *state;

        (void) requarantine_after_cut_cover(x);
        assert_held_legacy(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
}

/* The same on iommufd. */
static void test_requarantine_clears_scratch_cover(void **state) {
        Fixture *x = *state;

        (void) requarantine_after_cut_cover(x);
        assert_quarantined(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
}

/* Taken again after a release, the group is on the blocking domain: what was said about the type1 domain
 * of the previous hold is no longer true. */
static void test_legacy_requarantine_clears_paging(void **state) {
        Fixture *x = *state;

        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_SCRATCH_PAGE, M16));
        assert_ok(x, set_mode(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_int_equal(held(x, "00:02.0")->degraded, DEGRADED_PAGING_DOMAIN);
        assert_ok(x, engine_release_guest(x->e, x->t, SLOTS("00:02.0"), NULL, &x->err));
        assert_ok(x, quarantine(x, SLOTS("00:02.0"), QUARANTINE_MODE_BLOCKED, 0));
        assert_false(container_of_group(x, 1)->type1);
        assert_held_legacy(x, "00:02.0", QUARANTINE_MODE_BLOCKED);
        assert_int_equal(held(x, "00:02.0")->degraded, 0);
}

static void make_file(const char *dir, const char *rel) {
        _cleanup_free_ char *p = NULL;
        int fd;

        assert_true(asprintf(&p, "%s%s", dir, rel) >= 0);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(close(fd), 0);
}

static void make_dir(const char *dir, const char *rel) {
        _cleanup_free_ char *p = NULL;

        assert_true(asprintf(&p, "%s%s", dir, rel) >= 0);
        assert_int_equal(mkdir(p, 0755), 0);
}

static void assert_detect(const char *dev, const char *root, EngineKind want, const char *reason) {
        _cleanup_free_ char *why = NULL;
        EngineKind k = _ENGINE_KIND_INVALID;

        assert_int_equal(engine_kind_detect(dev, root, &k, &why), 0);
        assert_int_equal(k, want);
        assert_string_equal(why, reason);
}

/* Which interface this kernel has, from /dev and sysfs (temporary directories standing in for both). */
static void test_engine_kind_detect(void **state) {
        char tmp[] = "/tmp/isolate-kind.XXXXXX";
        _cleanup_free_ char *dev = NULL, *root = NULL, *reason = NULL;

        assert_non_null(mkdtemp(tmp));
        assert_true(asprintf(&dev, "%s/dev", tmp) >= 0);
        assert_true(asprintf(&root, "%s/root", tmp) >= 0);
        make_dir(dev, "");
        make_dir(dev, "/vfio");
        make_dir(root, "");
        make_dir(root, "/sys");
        make_dir(root, "/sys/class");

        /* neither */
        assert_true(asprintf(&reason, "neither iommufd nor %s/vfio/vfio exists (is vfio-pci loaded?)", dev) >= 0);
        assert_detect(dev, root, ENGINE_KIND_IOMMUFD, reason);

        /* only VFIO's container: legacy */
        make_file(dev, "/vfio/vfio");
        assert_detect(dev, root, ENGINE_KIND_LEGACY,
                      "/dev/iommu is missing: this kernel has no iommufd (CONFIG_IOMMUFD, or the iommufd module is not "
                      "loaded), so devices are held through VFIO's legacy group and container interface");

        /* /dev/iommu, but no VFIO device cdev class: legacy */
        make_file(dev, "/iommu");
        assert_detect(dev, root, ENGINE_KIND_LEGACY,
                      "the VFIO device cdev class is missing: this kernel has no VFIO device cdev "
                      "(CONFIG_VFIO_DEVICE_CDEV), so devices are held through VFIO's legacy group and container "
                      "interface");

        /* both: iommufd */
        make_dir(root, "/sys/class/vfio-dev");
        reason = mfree(reason);
        assert_true(asprintf(&reason, "%s/iommu and the VFIO device cdev exist", dev) >= 0);
        assert_detect(dev, root, ENGINE_KIND_IOMMUFD, reason);

        assert_int_equal(run_cmd("rm -rf -- '%s'%s", tmp, ""), 0);
}

static void test_device_state_strings(void **state) {
        for (DeviceState s = 0; s < _DEVICE_STATE_MAX; s++)
                assert_int_equal(device_state_from_string(device_state_to_string(s)), s);
        assert_int_equal(device_state_from_string("nope"), _DEVICE_STATE_INVALID);
        assert_null(device_state_to_string(_DEVICE_STATE_MAX));
}

#define T(name, setup) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_quarantine_unbound_blocked, setup_default),
                T(test_quarantine_blocked_not_attached, setup_default),
                T(test_quarantine_clears_bus_master, setup_default),
                T(test_quarantine_host_driver, setup_default),
                T(test_quarantine_driver_hint, setup_default),
                T(test_quarantine_driver_hint_vfio_pci, setup_default),
                T(test_quarantine_already_vfio, setup_default_vfio),
                T(test_quarantine_reset, setup_default),
                T(test_quarantine_reset_unsupported, setup_default),
                T(test_quarantine_requarantine_released, setup_default),

                T(test_scratch_default_cover, setup_default),
                T(test_scratch_direct_region_subtracted, setup_default_direct),
                T(test_scratch_larger_cover_extends, setup_default),
                T(test_scratch_smaller_cover_no_extend, setup_default),

                T(test_set_mode_replaces, setup_default),
                T(test_requarantine_other_mode_replaces, setup_default),
                T(test_set_mode_same_is_noop, setup_default),
                T(test_set_mode_not_held, setup_default),
                T(test_set_mode_released, setup_default),

                T(test_group_partial_not_viable, setup_bridge),
                T(test_group_both_taken, setup_bridge),
                T(test_group_unbound_mate_taken, setup_bridge),
                T(test_group_bridge_bound_not_viable, setup_bridge),
                T(test_group_bridge_pcieport_viable, setup_bridge),
                T(test_group_release_host_one_releases_group, setup_bridge),
                T(test_group_release_guest_one_releases_group, setup_bridge),
                T(test_group_multifunction_taken_whole, setup_default),
                T(test_group_partial_failure_keeps_taken, setup_default),

                T(test_quarantine_no_device, setup_default),
                T(test_quarantine_invalid_address, setup_default),
                T(test_quarantine_host_bridge, setup_default),
                T(test_quarantine_pci_bridge, setup_bridge),
                T(test_quarantine_noiommu, setup_noiommu),
                T(test_quarantine_virtio_iommu_itself, setup_virtio),
                T(test_quarantine_virtio_late_group, setup_virtio),
                T(test_quarantine_virtio_no_group_after_bind, setup_virtio),
                T(test_bind_eperm_unsafe_interrupts, setup_nointremap),
                T(test_bind_eperm_unsafe_allowed, setup_nointremap_unsafe),
                T(test_bind_eperm_interrupts_safe, setup_default),
                T(test_bind_einval_enabled_busy, setup_default),
                T(test_bind_einval_not_enabled_not_isolatable, setup_default),
                T(test_bind_ebusy_busy, setup_default),
                T(test_bind_enodev_not_isolatable, setup_default),
                T(test_bind_other_error, setup_default),
                T(test_cdev_open_enoent_unsupported, setup_default),
                T(test_cdev_open_other_error, setup_default),
                T(test_iommufd_open_enoent_unsupported, setup_default),
                T(test_iommufd_open_other_error, setup_default),
                T(test_vfio_pci_does_not_bind, setup_default),
                T(test_attach_fails_stays_bound, setup_default),
                T(test_scratch_extend_fails, setup_default),

                T(test_identity_switched_to_dma, setup_passthrough),
                T(test_identity_restored_on_release_host, setup_passthrough),
                T(test_identity_group_switched_once, setup_passthrough),
                T(test_identity_set_group_type_fails, setup_passthrough),

                T(test_release_guest, setup_default),
                T(test_release_guest_idempotent, setup_default),
                T(test_release_guest_not_held, setup_default),
                T(test_release_host, setup_default),
                T(test_release_host_no_host_driver, setup_default),
                T(test_release_host_not_held, setup_default),
                T(test_release_host_driver_bind_fails, setup_default),
                T(test_release_host_driver_does_not_stick, setup_default),
                T(test_release_host_retakes_released, setup_default),
                T(test_release_host_released_in_use, setup_default),
                T(test_release_host_override_clear_fails, setup_default),
                T(test_release_host_override_clear_fails_group, setup_bridge),
                T(test_release_host_override_restore_fails_noted, setup_bridge),
                T(test_release_host_retakes_forgotten_mate, setup_bridge),

                T(test_error_reset_by_every_call, setup_default),

                cmocka_unit_test(test_fdname),
                T(test_persist_roundtrip, setup_default),
                T(test_persist_lost_device, setup_default),
                T(test_persist_fd_not_char_device, setup_default),
                T(test_persist_no_iommufd, setup_default),

                T(test_set_mode_scratch_to_blocked_detaches, setup_default),
                T(test_set_mode_group_to_blocked_detaches_all, setup_bridge),
                T(test_set_mode_detach_fails, setup_default),
                T(test_ats_scratch_refused, setup_bridge),
                T(test_ats_scratch_accepted, setup_bridge),
                T(test_ats_still_enabled_in_blocked, setup_bridge),
                T(test_ats_group_set_mode_refused_whole, setup_bridge),
                T(test_ats_group_quarantine_refused_whole, setup_bridge),
                T(test_bus_master_vfio_clear_fails, setup_default),
                T(test_bus_master_vfio_clear_read_back, setup_default),
                T(test_lockdown_fail_closed_reported, setup_default),
                T(test_partial_failure_step1_fails_closed, setup_bridge),
                T(test_partial_failure_step3_fails_closed, setup_bridge),
                T(test_release_host_unbind_vfio_fails_retaken, setup_default),
                T(test_release_host_retake_fails_listed, setup_default),
                T(test_release_host_identity_restore_fails_noted, setup_passthrough),
                T(test_scratch_cover_too_large, setup_default),
                T(test_scratch_no_huge_cover_cut, setup_default),
                T(test_scratch_iova_alignment_64k, setup_default),
                T(test_scratch_iova_alignment_above_page, setup_default),
                T(test_noiommu_group_refused, setup_default),
                T(test_on_bound_called_per_device, setup_default),
                T(test_persist_degraded_roundtrip, setup_default),
                T(test_persist_adopt_old_blocked_detaches, setup_default),
                T(test_persist_adopt_old_blocked_detach_fails_degraded, setup_default),
                T(test_adopt_orphan, setup_default),

                T(test_legacy_group_blocked, setup_bridge_legacy),
                T(test_legacy_bus_master_lockdown, setup_bridge_legacy),
                T(test_legacy_group_open_busy, setup_default_legacy),
                T(test_legacy_group_open_enoent, setup_default_legacy),
                T(test_legacy_set_container_eperm, setup_bridge_legacy),
                T(test_legacy_group_not_viable, setup_bridge_legacy),
                T(test_legacy_scratch_page, setup_bridge_legacy),
                T(test_legacy_set_iommu_eperm, setup_bridge_legacy),
                T(test_legacy_map_fails, setup_default_legacy),
                T(test_legacy_mate_taken_later, setup_bridge_legacy),
                T(test_legacy_release_guest, setup_bridge_legacy),
                T(test_legacy_release_host, setup_bridge_legacy),
                T(test_legacy_persist_roundtrip, setup_default_legacy),
                T(test_legacy_json_iommufd_no_type1, setup_default),
                T(test_legacy_set_kind, setup_default),
                T(test_legacy_adopt_orphan, setup_default_legacy),
                cmocka_unit_test(test_engine_kind_detect),
                T(test_legacy_first_map_fails_paging_said, setup_default_legacy),
                T(test_legacy_requarantine_clears_paging, setup_default_legacy),
                T(test_legacy_requarantine_clears_scratch_cover, setup_default_legacy),
                T(test_requarantine_clears_scratch_cover, setup_default),

                cmocka_unit_test(test_device_state_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
