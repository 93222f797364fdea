/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "fileio.h"
#include "json-util.h"
#include "parse-util.h"
#include "pci-driver.h"
#include "quarantine.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "vfio.h"

static const char *const quarantine_mode_table[_QUARANTINE_MODE_MAX] = {
        [QUARANTINE_MODE_BLOCKED] = "blocked",
        [QUARANTINE_MODE_SCRATCH_PAGE] = "scratch-page",
};

const char *quarantine_mode_to_string(QuarantineMode m) {
        return m >= 0 && m < _QUARANTINE_MODE_MAX ? quarantine_mode_table[m] : NULL;
}

QuarantineMode quarantine_mode_from_string(const char *s) {
        return (QuarantineMode) string_table_lookup(quarantine_mode_table, _QUARANTINE_MODE_MAX, s);
}

static const char *const engine_kind_table[_ENGINE_KIND_MAX] = {
        [ENGINE_KIND_IOMMUFD] = "iommufd",
        [ENGINE_KIND_LEGACY] = "legacy",
};

const char *engine_kind_to_string(EngineKind k) {
        return k >= 0 && k < _ENGINE_KIND_MAX ? engine_kind_table[k] : NULL;
}

EngineKind engine_kind_from_string(const char *s) {
        return (EngineKind) string_table_lookup(engine_kind_table, _ENGINE_KIND_MAX, s);
}

static bool path_exists(const char *dir, const char *rel) {
        _cleanup_free_ char *p = NULL;
        return asprintf(&p, "%s%s", strempty(dir), rel) >= 0 && access(p, F_OK) >= 0;
}

int engine_kind_detect(const char *dev, const char *root, EngineKind *ret, char **ret_reason) {
        _cleanup_free_ char *devdir = strdup(dev ?: "/dev");
        bool iommu, cdev, container;
        char *reason;
        int r;

        assert(ret);
        assert(ret_reason);

        if (!devdir)
                return -ENOMEM;
        iommu = path_exists(devdir, "/iommu");
        /* vfio registers the "vfio-dev" class only when built with CONFIG_VFIO_DEVICE_CDEV */
        cdev = path_exists(isempty(root) || streq(root, "/") ? "" : root, "/sys/class/vfio-dev");
        container = path_exists(devdir, "/vfio/vfio");

        if (iommu && cdev) {
                *ret = ENGINE_KIND_IOMMUFD;
                r = asprintf(&reason, "%s/iommu and the VFIO device cdev exist", devdir);
        } else if (container) {
                *ret = ENGINE_KIND_LEGACY;
                r = asprintf(&reason,
                             "%s: this kernel has no %s (%s), so devices are held through VFIO's legacy group and "
                             "container interface",
                             iommu ? "the VFIO device cdev class is missing" : "/dev/iommu is missing",
                             iommu ? "VFIO device cdev" : "iommufd",
                             iommu ? "CONFIG_VFIO_DEVICE_CDEV" : "CONFIG_IOMMUFD, or the iommufd module is not loaded");
        } else {
                *ret = ENGINE_KIND_IOMMUFD;
                r = asprintf(&reason, "neither iommufd nor %s/vfio/vfio exists (is vfio-pci loaded?)", devdir);
        }
        if (r < 0)
                return -ENOMEM;
        *ret_reason = reason;
        return 0;
}

static const char *const device_state_table[_DEVICE_STATE_MAX] = {
        [DEVICE_STATE_HOST] = "host",         [DEVICE_STATE_QUARANTINED] = "quarantined",
        [DEVICE_STATE_RELEASED] = "released", [DEVICE_STATE_UNMANAGED] = "unmanaged",
        [DEVICE_STATE_FAILED] = "failed",
};

const char *device_state_to_string(DeviceState s) {
        return s >= 0 && s < _DEVICE_STATE_MAX ? device_state_table[s] : NULL;
}

DeviceState device_state_from_string(const char *s) {
        return (DeviceState) string_table_lookup(device_state_table, _DEVICE_STATE_MAX, s);
}

void engine_error_done(EngineError *e) {
        free(e->device);
        free(e->message);
        strv_free(e->failed);
        strv_free(e->notes);
        *e = (EngineError) {};
}

int degradation_to_strv(unsigned degraded, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        if (((degraded & DEGRADED_GROUP_TYPE) && strv_extend(&l, "group-type") < 0) ||
            ((degraded & DEGRADED_BUS_MASTER) && strv_extend(&l, "bus-master") < 0) ||
            ((degraded & DEGRADED_SCRATCH_COVER) && strv_extend(&l, "scratch-cover") < 0) ||
            ((degraded & DEGRADED_PAGING_DOMAIN) && strv_extend(&l, "paging-domain") < 0) ||
            ((degraded & DEGRADED_ATS) && strv_extend(&l, "ats") < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

char *degradation_explain(const HeldDevice *h) {
        _cleanup_strv_free_ char **l = NULL;
        char *s;

        if (h->degraded & DEGRADED_GROUP_TYPE) {
                if (asprintf(&s,
                             "IOMMU group %d stays on its identity (passthrough) default domain: switching it to "
                             "DMA failed (%s), so the device reaches all of memory whenever nobody holds it",
                             h->group, strerror(-h->group_type_error)) < 0 ||
                    strv_consume(&l, s) < 0)
                        return NULL;
        }
        if (h->degraded & DEGRADED_BUS_MASTER) {
                if (asprintf(&s, "bus mastering could not be turned off (%s%s)", strerror(-h->bus_master_error),
                             h->bus_master_error == -EPERM ? ": kernel lockdown?" : "") < 0 ||
                    strv_consume(&l, s) < 0)
                        return NULL;
        }
        if (h->degraded & DEGRADED_SCRATCH_COVER) {
                if (asprintf(&s,
                             "the scratch page covers only the first %" PRIu64 " MiB of the %" PRIu64
                             " MiB asked for (no free huge page: the fallback base page is capped); DMA above "
                             "that faults",
                             h->cover >> 20, h->cover_wanted >> 20) < 0 ||
                    strv_consume(&l, s) < 0)
                        return NULL;
        }
        if ((h->degraded & DEGRADED_PAGING_DOMAIN) && h->detach_error == -EOPNOTSUPP) {
                if (asprintf(&s, "%s",
                             "it stays on its group's empty type1 paging domain instead of the blocking domain: the "
                             "legacy VFIO interface cannot take a group from its type1 container back to the "
                             "blocking domain without a moment on its default domain. DMA faults, but an ATS device "
                             "may still use translations it cached") < 0 ||
                    strv_consume(&l, s) < 0)
                        return NULL;
        } else if (h->degraded & DEGRADED_PAGING_DOMAIN) {
                if (asprintf(&s,
                             "it stays attached to an empty paging domain instead of the blocking domain "
                             "(detaching it failed: %s): DMA faults, but an ATS device may still use "
                             "translations it cached",
                             strerror(-h->detach_error)) < 0 ||
                    strv_consume(&l, s) < 0)
                        return NULL;
        }
        if (h->degraded & DEGRADED_ATS) {
                if (asprintf(
                            &s, "%s",
                            "ATS is still enabled on it although it is blocked: the kernel put its group on an "
                            "empty paging domain, not a blocking one (an IOMMU driver without a blocking domain, "
                            "as VT-d and AMD-Vi on Linux 6.1), so it may still send requests with translations it cached") <
                            0 ||
                    strv_consume(&l, s) < 0)
                        return NULL;
        }
        return strv_join(l, "; ");
}

static int engine_fail(EngineError *err, EngineErrorKind kind, int error, const char *device, const char *fmt, ...)
        _printf_(5, 6);
static int engine_fail(EngineError *err, EngineErrorKind kind, int error, const char *device, const char *fmt, ...) {
        va_list ap;

        if (error > 0)
                error = -error;
        if (error == 0)
                error = -EIO;
        if (err) {
                engine_error_done(err);
                err->kind = kind;
                err->error = error;
                err->device = device ? strdup(device) : NULL;
                va_start(ap, fmt);
                if (vasprintf(&err->message, fmt, ap) < 0)
                        err->message = NULL;
                va_end(ap);
        }
        return error;
}

/* ---- the kernel implementation of the side effects ------------------------------------ */

static int k_driver(void *ud, const char *slot, char **ret) {
        return pci_sysfs_driver(ud, slot, ret);
}
static int k_set_driver_override(void *ud, const char *slot, const char *driver) {
        return pci_sysfs_set_driver_override(ud, slot, driver);
}
static int k_unbind(void *ud, const char *slot, const char *driver) {
        return pci_sysfs_unbind(ud, slot, driver);
}
static int k_bind(void *ud, const char *slot, const char *driver) {
        return pci_sysfs_bind(ud, slot, driver);
}
static int k_drivers_probe(void *ud, const char *slot) {
        return pci_sysfs_drivers_probe(ud, slot);
}
static int k_group_type(void *ud, int group, char **ret) {
        return pci_sysfs_group_type(ud, group, ret);
}
static int k_set_group_type(void *ud, int group, const char *type) {
        return pci_sysfs_set_group_type(ud, group, type);
}

static int k_iommu_group(void *ud, const char *slot, int *ret) {
        _cleanup_free_ char *link = NULL;
        char target[PATH_MAX];
        ssize_t n;

        assert(ret);

        if (asprintf(&link, "%s/sys/bus/pci/devices/%s/iommu_group", strempty(ud), slot) < 0)
                return -ENOMEM;
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return negative_errno();
        target[n] = '\0';
        const char *base = strrchr(target, '/');
        *ret = atoi(base ? base + 1 : target);
        return 0;
}

static int k_disable_bus_master(void *ud, const char *slot) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint16_t cmd;
        ssize_t n;

        if (asprintf(&path, "%s/sys/bus/pci/devices/%s/config", strempty(ud), slot) < 0)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        n = pread(fd, &cmd, sizeof(cmd), 4);
        if (n < 0)
                return negative_errno();
        if (n != sizeof(cmd))
                return -EIO;
        if (!(cmd & 0x4))
                return 0;
        cmd &= (uint16_t) ~0x4;
        /* Under kernel lockdown (Secure Boot) this write fails with EPERM. */
        n = pwrite(fd, &cmd, sizeof(cmd), 4);
        if (n < 0)
                return negative_errno();
        if (n != sizeof(cmd))
                return -EIO;
        /* Read back: the write is the protection, so check that it took. */
        n = pread(fd, &cmd, sizeof(cmd), 4);
        if (n < 0)
                return negative_errno();
        if (n != sizeof(cmd) || (cmd & 0x4))
                return -EIO;
        return 0;
}

static int k_enabled(void *ud, const char *slot, bool *ret) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        int r;

        assert(ret);

        if (asprintf(&path, "%s/sys/bus/pci/devices/%s/enable", strempty(ud), slot) < 0)
                return -ENOMEM;
        r = read_one_line_file(path, &line);
        if (r < 0)
                return r;
        *ret = !streq(line, "0");
        return 0;
}

static int k_group_name(void *ud, int group, char **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        assert(ret);

        if (asprintf(&path, "%s/sys/kernel/iommu_groups/%d/name", strempty(ud), group) < 0)
                return -ENOMEM;
        r = read_one_line_file(path, ret);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        return r;
}

static int k_iommufd_open(void *ud, int *ret_fd) {
        return iommufd_open(ret_fd);
}
static int k_ioas_alloc(void *ud, int fd, uint32_t *ret) {
        return iommufd_ioas_alloc(fd, ret);
}
static int k_ioas_iova_ranges(void *ud, int fd, uint32_t ioas, IovaRange **ret, size_t *ret_n,
                              uint64_t *ret_alignment) {
        return iommufd_ioas_iova_ranges(fd, ioas, ret, ret_n, ret_alignment);
}
static int k_hwpt_alloc(void *ud, int fd, uint32_t dev_id, uint32_t ioas, uint32_t *ret) {
        return iommufd_hwpt_alloc(fd, dev_id, ioas, ret);
}
static int k_scratch_extend(void *ud, Scratch *s, int fd, uint64_t cover, const IovaRange *allowed, size_t n) {
        return scratch_extend(s, fd, cover, allowed, n);
}
static int k_scratch_alloc(void *ud, Scratch *s) {
        return scratch_alloc(s, false);
}
static int k_scratch_adopt(void *ud, Scratch *s, int memfd, bool huge) {
        return scratch_adopt(s, memfd, huge);
}
static void k_scratch_release(void *ud, Scratch *s) {
        scratch_release(s);
}
static int k_cdev_open(void *ud, const char *slot, int *ret_fd) {
        return vfio_cdev_open(ud, slot, ret_fd);
}
static int k_bind_iommufd(void *ud, int dfd, int ifd, uint32_t *ret) {
        return vfio_device_bind_iommufd(dfd, ifd, ret);
}
static int k_attach(void *ud, int dfd, uint32_t pt) {
        return vfio_device_attach_pt(dfd, pt, NULL);
}
static int k_detach(void *ud, int dfd) {
        return vfio_device_detach_pt(dfd);
}
static int k_get_info(void *ud, int dfd, uint32_t *ret_flags) {
        return vfio_device_get_info(dfd, ret_flags, NULL, NULL);
}
static int k_reset(void *ud, int dfd) {
        return vfio_device_reset(dfd);
}
static int k_set_req_eventfd(void *ud, int dfd, int efd) {
        return vfio_device_set_req_eventfd(dfd, efd);
}
static int k_config_read(void *ud, int dfd, uint32_t off, void *buf, size_t n) {
        return vfio_device_config_read(dfd, off, buf, n);
}
static int k_config_write(void *ud, int dfd, uint32_t off, const void *buf, size_t n) {
        return vfio_device_config_write(dfd, off, buf, n);
}
static void k_close(void *ud, int fd) {
        safe_close(fd);
}
static uint64_t k_now(void *ud) {
        return now_realtime_usec();
}
static int k_group_open(void *ud, int group, int *ret_fd) {
        return vfio_group_open(group, ret_fd);
}
static int k_group_viable(void *ud, int gfd, bool *ret) {
        return vfio_group_viable(gfd, ret);
}
static int k_container_open(void *ud, int *ret_fd) {
        return vfio_container_open(ret_fd);
}
static int k_group_set_container(void *ud, int gfd, int cfd) {
        return vfio_group_set_container(gfd, cfd);
}
static int k_container_set_iommu(void *ud, int cfd) {
        return vfio_container_set_iommu(cfd);
}
static int k_container_iova_ranges(void *ud, int cfd, IovaRange **ret, size_t *ret_n, uint64_t *ret_min_page) {
        return vfio_type1_iova_ranges(cfd, ret, ret_n, ret_min_page);
}
static int k_container_map(void *ud, int cfd, const void *va, uint64_t length, uint64_t iova, bool writable) {
        return vfio_type1_map(cfd, va, length, iova, writable);
}
static int k_container_unmap_all(void *ud, int cfd) {
        return vfio_type1_unmap_all(cfd);
}
static int k_ats_enabled(void *ud, const char *slot, unsigned offset, bool *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint16_t ctrl;
        ssize_t n;

        assert(ret);

        if (asprintf(&path, "%s/sys/bus/pci/devices/%s/config", strempty(ud), slot) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        n = pread(fd, &ctrl, sizeof(ctrl), (off_t) offset + 6); /* PCI_ATS_CTRL */
        if (n < 0)
                return negative_errno();
        if (n != sizeof(ctrl))
                return -ENODATA; /* extended config space not readable */
        *ret = ctrl & 0x8000;
        return 0;
}
static int k_dup(void *ud, int fd, int *ret_fd) {
        int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (n < 0)
                return negative_errno();
        *ret_fd = n;
        return 0;
}

const QuarantineOps quarantine_ops_kernel = {
        .driver = k_driver,
        .set_driver_override = k_set_driver_override,
        .unbind = k_unbind,
        .bind = k_bind,
        .drivers_probe = k_drivers_probe,
        .group_type = k_group_type,
        .set_group_type = k_set_group_type,
        .iommu_group = k_iommu_group,
        .disable_bus_master = k_disable_bus_master,
        .enabled = k_enabled,
        .group_name = k_group_name,
        .iommufd_open = k_iommufd_open,
        .ioas_alloc = k_ioas_alloc,
        .ioas_iova_ranges = k_ioas_iova_ranges,
        .hwpt_alloc = k_hwpt_alloc,
        .scratch_extend = k_scratch_extend,
        .scratch_alloc = k_scratch_alloc,
        .scratch_adopt = k_scratch_adopt,
        .scratch_release = k_scratch_release,
        .cdev_open = k_cdev_open,
        .bind_iommufd = k_bind_iommufd,
        .attach = k_attach,
        .detach = k_detach,
        .get_info = k_get_info,
        .reset = k_reset,
        .set_req_eventfd = k_set_req_eventfd,
        .config_read = k_config_read,
        .config_write = k_config_write,
        .close = k_close,
        .now = k_now,
        .group_open = k_group_open,
        .group_viable = k_group_viable,
        .container_open = k_container_open,
        .group_set_container = k_group_set_container,
        .container_set_iommu = k_container_set_iommu,
        .container_iova_ranges = k_container_iova_ranges,
        .container_map = k_container_map,
        .container_unmap_all = k_container_unmap_all,
        .dup = k_dup,
        .ats_enabled = k_ats_enabled,
};

/* ---- engine ----------------------------------------------------------------------------- */

int engine_set_request_eventfd(Engine *e, const char *slot, int efd) {
        HeldDevice *h;

        assert(e);
        assert(slot);

        h = engine_find(e, slot);
        if (!h || h->fd < 0)
                return -ENODEV;
        /* legacy: the engine holds the group, not a device file, which is what the channel is on */
        if (!e->ops->set_req_eventfd || e->kind == ENGINE_KIND_LEGACY)
                return -EOPNOTSUPP;
        return e->ops->set_req_eventfd(e->ops_data, h->fd, efd);
}

int engine_new(const char *root, const QuarantineOps *ops, void *ops_data, Engine **ret) {
        Engine *e = calloc(1, sizeof(Engine));

        if (!e)
                return -ENOMEM;
        e->root = strdup(isempty(root) || streq(root, "/") ? "" : root);
        if (!e->root) {
                free(e);
                return -ENOMEM;
        }
        e->ops = ops ?: &quarantine_ops_kernel;
        e->ops_data = ops ? ops_data : e->root;
        e->iommufd = -EBADF;
        e->scratch = (Scratch) SCRATCH_INIT;
        *ret = e;
        return 0;
}

/* Closes what holds the device (the last file of a group lets the group go). */
int engine_set_kind(Engine *e, EngineKind kind) {
        assert(e);

        if (kind < 0 || kind >= _ENGINE_KIND_MAX)
                return -EINVAL;
        if (kind == ENGINE_KIND_LEGACY && !e->ops->group_open)
                return -EOPNOTSUPP;
        if (kind != e->kind && e->n_devices > 0)
                return -EBUSY;
        e->kind = kind;
        return 0;
}

static void held_close(Engine *e, HeldDevice *h) {
        assert(e);
        assert(h);

        if (h->fd >= 0)
                e->ops->close(e->ops_data, h->fd);
        if (h->container_fd >= 0)
                e->ops->close(e->ops_data, h->container_fd);
        if (e->kind == ENGINE_KIND_LEGACY && h->type1)
                h->cover = 0; /* the container and its mappings went with the group's last file */
        h->fd = h->container_fd = -EBADF;
        h->pt_id = 0;
        h->type1 = false;
}

static void held_done(Engine *e, HeldDevice *h) {
        assert(e);
        assert(h);

        held_close(e, h);
        free(h->host_driver);
        h->host_driver = NULL;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;
        FOREACH_ARRAY(h, e->devices, e->n_devices)
                held_done(e, h);
        free(e->devices);
        e->ops->scratch_release(e->ops_data, &e->scratch);
        if (e->iommufd >= 0)
                e->ops->close(e->ops_data, e->iommufd);
        free(e->root);
        return mfree(e);
}

HeldDevice *engine_find(const Engine *e, const char *slot) {
        PciAddress a;
        char canon[PCI_ADDRESS_MAX];

        if (pci_address_parse(slot, &a) < 0)
                return NULL;
        pci_address_format(&a, canon);
        FOREACH_ARRAY(h, e->devices, e->n_devices)
                if (streq(h->slot, canon))
                        return h;
        return NULL;
}

static HeldDevice *engine_add(Engine *e, const char *slot) {
        HeldDevice *n;

        assert(e);
        assert(slot);

        if (!GREEDY_REALLOC(e->devices, e->n_devices_allocated, e->n_devices + 1))
                return NULL;
        n = &e->devices[e->n_devices++];
        *n = (HeldDevice) { .fd = -EBADF, .container_fd = -EBADF, .group = -1, .mode = QUARANTINE_MODE_BLOCKED };
        snprintf(n->slot, sizeof(n->slot), "%s", slot);
        return n;
}

void engine_forget(Engine *e, const char *slot) {
        HeldDevice *h = engine_find(e, slot);
        size_t i;

        if (!h)
                return;
        i = (size_t) (h - e->devices);
        held_done(e, h);
        memmove(e->devices + i, e->devices + i + 1, (e->n_devices - i - 1) * sizeof(HeldDevice));
        e->n_devices--;
}

/* ---- planning: the members of the requested devices' groups ----------------------------- */

typedef struct Member {
        char slot[PCI_ADDRESS_MAX];
        const PciDevice *device;
        int group;
        bool requested;
        char *host_driver; /* what it was bound to before (to restore) */
        bool group_type_changed;
        int group_type_error; /* the failed switch of its identity group to DMA */
        bool touched;         /* taken from its driver, or driverless or on vfio-pci: ours to fail closed */
        bool taken;           /* bound to iommufd by this call */
} Member;

typedef struct Plan {
        Member *members;
        size_t n, n_allocated;
        int *groups;
        size_t n_groups, n_groups_allocated;
} Plan;

static void plan_done(Plan *p) {
        assert(p);

        FOREACH_ARRAY(m, p->members, p->n)
                free(m->host_driver);
        free(p->members);
        free(p->groups);
        *p = (Plan) {};
}

static Member *plan_find(Plan *p, const char *slot) {
        assert(p);

        FOREACH_ARRAY(m, p->members, p->n)
                if (streq(m->slot, slot))
                        return m;
        return NULL;
}

static int plan_add_member(Plan *p, const PciDevice *d, int group, bool requested) {
        Member *m = plan_find(p, d->slot);

        assert(p);
        assert(d);

        if (m) {
                m->requested = m->requested || requested;
                return 0;
        }
        if (!GREEDY_REALLOC(p->members, p->n_allocated, p->n + 1))
                return -ENOMEM;
        m = &p->members[p->n++];
        *m = (Member) { .device = d, .group = group, .requested = requested };
        snprintf(m->slot, sizeof(m->slot), "%s", d->slot);
        return 0;
}

static bool iommu_probes_late(const Topology *t) {
        return topology_count_iommus(t, IOMMU_KIND_VIRTIO) > 0 || topology_count_iommus(t, IOMMU_KIND_ARM_SMMU) > 0;
}

static bool driver_is_dma_managed(const char *driver) {
        /* Drivers that set driver_managed_dma: they do not claim the group's DMA API ownership, so
         * iommufd can own the group while they stay bound (pcieport for bridges; vfio-pci; pci-stub). */
        return driver && (streq(driver, "pcieport") || streq(driver, "vfio-pci") || streq(driver, "pci-stub"));
}

/* Builds the plan: every endpoint of every group a requested device is in. Refuses a group in which
 * a device that was not asked for is bound to a host driver (taking it would pull it from the host). */
static int plan_build(Engine *e, const Topology *t, char **slots, Plan *p, EngineError *err) {
        int r;

        assert(e);
        assert(p);

        if (strv_length(slots) == 0)
                return engine_fail(err, ENGINE_ERROR_NO_DEVICE, -EINVAL, NULL, "No device given.");

        STRV_FOREACH(s, slots) {
                PciAddress a;
                const PciDevice *d;

                if (pci_address_parse(*s, &a) < 0)
                        return engine_fail(err, ENGINE_ERROR_NO_DEVICE, -EINVAL, *s, "Invalid PCI address '%s'.", *s);
                d = topology_find_device(t, &a);
                if (!d) {
                        char buf[PCI_ADDRESS_MAX];
                        return engine_fail(err, ENGINE_ERROR_NO_DEVICE, -ENODEV, pci_address_format(&a, buf),
                                           "No PCI device %s.", buf);
                }
                if (!topology_has_iommu(t))
                        return engine_fail(
                                err, ENGINE_ERROR_NOT_ISOLATABLE, -ENODEV, d->slot,
                                "Cannot quarantine %s: this machine has no active IOMMU (see 'isolatectl audit').",
                                d->slot);
                if (d->is_iommu)
                        return engine_fail(err, ENGINE_ERROR_NOT_ISOLATABLE, -EINVAL, d->slot,
                                           "%s is an IOMMU itself; it cannot be quarantined.", d->slot);
                if (!pci_device_is_endpoint(d))
                        return engine_fail(err, ENGINE_ERROR_NOT_ISOLATABLE, -EINVAL, d->slot,
                                           "%s is a %s; quarantine the devices below it instead.", d->slot,
                                           pci_device_is_host_bridge(d) ? "host bridge" : "PCI bridge");
                if (d->iommu_group < 0 && !(iommu_probes_late(t) && (!d->driver || engine_find(e, d->slot))))
                        return engine_fail(err, ENGINE_ERROR_NOT_ISOLATABLE, -ENODEV, d->slot,
                                           "%s is in no IOMMU group: no IOMMU translates its DMA, so it cannot be "
                                           "quarantined (see 'isolatectl audit').",
                                           d->slot);
                r = plan_add_member(p, d, d->iommu_group, true);
                if (r < 0)
                        return r;
        }

        /* Group mates */
        for (size_t i = 0; i < p->n; i++) {
                int gid = p->members[i].group;
                const IommuGroup *g;
                bool seen = false;

                if (gid < 0)
                        continue;
                for (size_t k = 0; k < p->n_groups; k++)
                        if (p->groups[k] == gid)
                                seen = true;
                if (seen)
                        continue;
                if (!GREEDY_REALLOC(p->groups, p->n_groups_allocated, p->n_groups + 1))
                        return -ENOMEM;
                p->groups[p->n_groups++] = gid;

                g = topology_find_group(t, gid);
                if (!g)
                        continue;
                STRV_FOREACH(name, g->devices) {
                        PciAddress a;
                        const PciDevice *d;
                        const char *requester = p->members[i].slot;

                        if (pci_address_parse_full(*name, &a) < 0 || !(d = topology_find_device(t, &a)))
                                return engine_fail(err, ENGINE_ERROR_GROUP_NOT_VIABLE, -EBUSY, *name,
                                                   "IOMMU group %d of %s also holds '%s', which is not a PCI function "
                                                   "isolate can take; the group cannot be quarantined.",
                                                   gid, requester, *name);
                        _cleanup_free_ char *driver = NULL;

                        if (plan_find(p, d->slot))
                                continue;
                        /* The topology's driver may be stale (it is a snapshot): ask now. */
                        r = e->ops->driver(e->ops_data, d->slot, &driver);
                        if (r < 0 && r != -ENODEV)
                                return engine_fail(err, ENGINE_ERROR_SYSTEM, r, d->slot,
                                                   "Failed to read the driver of %s: %s.", d->slot, strerror(-r));
                        if (!pci_device_is_endpoint(d)) {
                                if (driver && !driver_is_dma_managed(driver))
                                        return engine_fail(err, ENGINE_ERROR_GROUP_NOT_VIABLE, -EBUSY, d->slot,
                                                           "IOMMU group %d of %s also holds the bridge %s, bound to "
                                                           "'%s', which uses the kernel's DMA API; the group cannot "
                                                           "be owned by iommufd while it is bound.",
                                                           gid, requester, d->slot, driver);
                                continue; /* bridges stay where they are (pcieport is DMA-managed) */
                        }
                        if (driver && !streq(driver, "vfio-pci") && !engine_find(e, d->slot))
                                return engine_fail(err, ENGINE_ERROR_GROUP_NOT_VIABLE, -EBUSY, d->slot,
                                                   "%s shares IOMMU group %d with %s and is in use by the host "
                                                   "driver '%s'; an IOMMU group moves as a whole. Name %s too to "
                                                   "take it from the host, or unbind its driver first.",
                                                   d->slot, gid, requester, driver, d->slot);
                        r = plan_add_member(p, d, gid, false);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ---- steps ------------------------------------------------------------------------------ */

static int ensure_iommufd(Engine *e, EngineError *err) {
        int r;

        assert(e);

        if (e->iommufd >= 0)
                return 0;
        r = e->ops->iommufd_open(e->ops_data, &e->iommufd);
        if (r == -ENOENT)
                return engine_fail(err, ENGINE_ERROR_UNSUPPORTED, r, NULL,
                                   "/dev/iommu does not exist: the kernel is built without iommufd "
                                   "(CONFIG_IOMMUFD, Linux 6.6 or newer), or the iommufd module is not loaded "
                                   "(modules-load.d/isolate.conf loads it at boot). isolated --backend=legacy holds "
                                   "devices through VFIO's group interface instead.");
        if (r < 0)
                return engine_fail(err, ENGINE_ERROR_SYSTEM, r, NULL, "Failed to open /dev/iommu: %s.", strerror(-r));
        return 0;
}

/* The reserved ranges of every group (MSI windows, firmware direct maps): no scratch goes there, so
 * that any device can later attach to the shared scratch IOAS. Direct-relaxable ranges are not
 * enforced by iommufd and stay usable. */
static int subtract_reserved(const Topology *t, IovaRange **ranges, size_t *n) {
        assert(t);

        FOREACH_ARRAY(g, t->groups, t->n_groups)
                FOREACH_ARRAY(rr, g->regions, g->n_regions) {
                        int r;
                        if (rr->type == RESERVED_DIRECT_RELAXABLE)
                                continue;
                        r = iova_ranges_subtract(ranges, n, rr->start, rr->end);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* Attaches a bound device to an IOAS through the engine's persistent HWPT for it, creating the HWPT
 * with this device if there is none yet. A device the HWPT does not fit (another IOMMU instance) or a
 * kernel without HWPT_ALLOC gets the IOAS itself (an automatic domain): the HWPT is an optimisation,
 * so its allocation failing is not an error; the attach's result is. */
static int attach_via_hwpt(Engine *e, HeldDevice *h, uint32_t ioas, uint32_t *hwpt, uint32_t *ret_pt) {
        int r;

        assert(e);
        assert(h);
        assert(hwpt);
        assert(ret_pt);

        if (*hwpt == 0 && e->ops->hwpt_alloc && e->ops->hwpt_alloc(e->ops_data, e->iommufd, h->dev_id, ioas, hwpt) < 0)
                *hwpt = 0;
        if (*hwpt != 0) {
                r = e->ops->attach(e->ops_data, h->fd, *hwpt);
                if (r >= 0) {
                        *ret_pt = *hwpt;
                        return 0;
                }
        }
        r = e->ops->attach(e->ops_data, h->fd, ioas);
        if (r >= 0)
                *ret_pt = ioas;
        return r;
}

static const PciDevice *find_pci(const Topology *t, const char *slot) {
        PciAddress a;
        return pci_address_parse(slot, &a) >= 0 ? topology_find_device(t, &a) : NULL;
}

/* scratch-page attaches a paging domain, and attaching one turns ATS on (intel's attach path enables
 * the PCI capabilities, AMD's likewise, SMMUv3 sets EATS). */
static int check_ats(const Topology *t, const char *slot, const QuarantineRequest *req, EngineError *err) {
        const PciDevice *d = find_pci(t, slot);

        assert(req);

        if (!d || !d->has_ats || strv_contains(req->ats_accept, slot))
                return 0;
        return engine_fail(err, ENGINE_ERROR_NOT_ALLOWED, -EPERM, slot,
                           "%s has an ATS capability: scratch-page mode needs a paging domain, attaching one turns ATS "
                           "on, and the device could then send pre-translated DMA that the IOMMU does not check. It "
                           "stays blocked (the kernel's blocking domain, ATS off). A policy rule with \"ats\": "
                           "\"accept\" for it allows scratch-page.",
                           slot);
}

/* Attaches a device to the scratch IOAS, creating and filling it as needed. The first device is
 * attached to the still-empty IOAS before anything is mapped, so its reserved regions narrow the
 * IOVA ranges before the plan is made. */
static int attach_scratch(Engine *e, const Topology *t, HeldDevice *h, uint64_t cover, uint32_t *ret_pt,
                          EngineError *err) {
        const char *slot = h->slot;
        _cleanup_free_ IovaRange *ranges = NULL;
        uint64_t alignment = 0;
        size_t n = 0;
        int r;

        assert(h);

        if (!e->scratch.va && e->scratch.memfd < 0) {
                r = e->ops->scratch_alloc(e->ops_data, &e->scratch);
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, slot,
                                           "Failed to allocate the scratch page: %s.", strerror(-r));
        }
        if (e->scratch.ioas == 0) {
                r = e->ops->ioas_alloc(e->ops_data, e->iommufd, &e->scratch.ioas);
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, slot,
                                           "Failed to allocate the scratch IOAS: %s.", strerror(-r));
        }
        r = attach_via_hwpt(e, h, e->scratch.ioas, &e->scratch_hwpt, ret_pt);
        if (r < 0)
                return engine_fail(
                        err, ENGINE_ERROR_SYSTEM, r, slot, "Failed to attach %s to the scratch-page IOAS: %s%s.", slot,
                        strerror(-r),
                        r == -EADDRINUSE || r == -EINVAL
                                ? " (its reserved IOVA regions overlap the scratch mappings, or a group member is attached elsewhere)"
                                : "");

        if (cover > e->scratch.covered) {
                r = e->ops->ioas_iova_ranges(e->ops_data, e->iommufd, e->scratch.ioas, &ranges, &n, &alignment);
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, slot, "Failed to read the IOVA ranges: %s.",
                                           strerror(-r));
                if (alignment > e->scratch.size)
                        return engine_fail(err, ENGINE_ERROR_UNSUPPORTED, -EINVAL, slot,
                                           "The IOMMU of %s needs IOVAs aligned to %" PRIu64 " KiB, more than the "
                                           "scratch page's %" PRIu64 " KiB: reserve huge pages for the scratch page.",
                                           slot, alignment >> 10, e->scratch.size >> 10);
                e->scratch.alignment = alignment;
                r = subtract_reserved(t, &ranges, &n);
                if (r < 0)
                        return r;
                r = e->ops->scratch_extend(e->ops_data, &e->scratch, e->iommufd, cover, ranges, n);
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, slot,
                                           "Failed to map the scratch page over the %" PRIu64 " MiB cover: %s.",
                                           cover >> 20, strerror(-r));
        }
        scratch_zero(&e->scratch);
        return 0;
}

/* The held members of h's group that share its group file (h included). */
#define FOREACH_GROUP_MATE(m, e, h)                                                                                    \
        FOREACH_ARRAY(m, (e)->devices, (e)->n_devices)                                                                 \
                if ((m) == (h) || ((m)->group >= 0 && (m)->group == (h)->group && (m)->fd >= 0))

/* Blocked must leave ATS off (the kernel's blocking domain disables it). Where the kernel substitutes an
 * empty paging domain (an IOMMU driver without a blocking domain), ATS stays on: say so, from what the
 * device's own ATS control register says. An unreadable register says nothing. */
static void note_ats(Engine *e, const Topology *t, HeldDevice *h) {
        const PciDevice *d;
        bool on = false;

        assert(e);
        assert(h);

        if (h->mode != QUARANTINE_MODE_BLOCKED) {
                h->degraded &= ~DEGRADED_ATS; /* scratch-page turns ATS on by design (its rule accepts it) */
                return;
        }
        d = find_pci(t, h->slot);
        if (!e->ops->ats_enabled || !d || !d->has_ats || d->ats_offset == 0 ||
            e->ops->ats_enabled(e->ops_data, h->slot, d->ats_offset, &on) < 0)
                return;
        SET_FLAG(h->degraded, DEGRADED_ATS, on);
}

static int legacy_attach_scratch(Engine *e, const Topology *t, HeldDevice *h, uint64_t cover, EngineError *err);
static int legacy_detach(Engine *e, HeldDevice *h, EngineError *err);
static int take_member_legacy(Engine *e, const Topology *t, Member *m, const QuarantineRequest *req, EngineError *err);

/* Puts a held device into a mode. blocked: detached (the kernel's blocking domain); scratch-page:
 * attached to the scratch IOAS. Records what is true even when it fails half-way. */
static int attach_mode(Engine *e, const Topology *t, HeldDevice *h, const QuarantineRequest *req, EngineError *err) {
        QuarantineMode mode = req->mode;
        uint64_t cover = req->cover ?: QUARANTINE_DEFAULT_SCRATCH_COVER,
                 max = req->max_cover ?: QUARANTINE_MAX_SCRATCH_COVER;
        uint32_t pt = 0;
        int r;

        assert(e);
        assert(h);
        assert(req);

        if (mode == QUARANTINE_MODE_SCRATCH_PAGE) {
                if (cover > max) {
                        char a[32], b[32];
                        return engine_fail(err, ENGINE_ERROR_NOT_ALLOWED, -E2BIG, h->slot,
                                           "A scratch cover of %s for %s is more than the maximum of %s "
                                           "(defaults.max_scratch_cover in the policy).",
                                           format_size(cover, a), h->slot, format_size(max, b));
                }
                r = check_ats(t, h->slot, req, err);
                if (r < 0)
                        return r;
                if (e->kind == ENGINE_KIND_LEGACY) {
                        r = legacy_attach_scratch(e, t, h, cover, err);
                        if (r < 0 && h->type1 && h->cover == 0) {
                                /* blocked still, but on the container's empty type1 domain now */
                                FOREACH_GROUP_MATE(m, e, h) {
                                        m->degraded |= DEGRADED_PAGING_DOMAIN;
                                        m->detach_error = -EOPNOTSUPP;
                                }
                                return r;
                        }
                        if (r < 0 && !(h->type1 && h->cover > 0))
                                return r; /* still blocked */
                        h->mode = mode;
                        h->cover_wanted = cover;
                        h->degraded &= ~(DEGRADED_PAGING_DOMAIN | DEGRADED_ATS);
                        SET_FLAG(h->degraded, DEGRADED_SCRATCH_COVER, h->cover < cover);
                        return r;
                }
                r = attach_scratch(e, t, h, cover, &pt, err);
                if (r < 0) {
                        if (pt != 0) {
                                /* Attached, but the cover could not be completed: record what is true
                                 * (the scratch IOAS, as far as it is mapped), so that a later switch acts. */
                                h->pt_id = pt;
                                h->mode = mode;
                                h->cover = e->scratch.covered;
                                h->cover_wanted = cover;
                                h->degraded |= DEGRADED_SCRATCH_COVER;
                        }
                        return r;
                }
                h->cover = MIN(cover, e->scratch.covered);
                h->cover_wanted = cover;
                SET_FLAG(h->degraded, DEGRADED_SCRATCH_COVER, h->cover < cover);
        } else {
                /* The kernel's blocking domain: not attached at all. A device attached to a paging domain
                 * (scratch-page) goes back by a detach, which the kernel does without a gap. */
                if (e->kind == ENGINE_KIND_LEGACY) {
                        r = legacy_detach(e, h, err);
                        if (r < 0)
                                return r;
                } else if (h->pt_id != 0) {
                        r = e->ops->detach(e->ops_data, h->fd);
                        if (r < 0)
                                return engine_fail(err, ENGINE_ERROR_SYSTEM, r, h->slot,
                                                   "Failed to detach %s from the scratch-page IOAS: %s; it stays in "
                                                   "scratch-page mode.",
                                                   h->slot, strerror(-r));
                }
                h->cover = h->cover_wanted = 0;
                h->degraded &= ~DEGRADED_SCRATCH_COVER;
        }
        h->pt_id = pt;
        h->mode = mode;
        note_ats(e, t, h);
        return 0;
}

/* Explains a failed VFIO_DEVICE_BIND_IOMMUFD. */
static int bind_failure(Engine *e, const Topology *t, const char *slot, int r, EngineError *err) {
        const PciDevice *d = find_pci(t, slot);

        assert(e);
        assert(t);

        if (r == -EPERM) {
                if (t->host.iommufd_allow_unsafe_interrupts != TRISTATE_YES && (!d || d->interrupts != INTERRUPTS_SAFE))
                        return engine_fail(err, ENGINE_ERROR_UNSAFE_INTERRUPTS, r, slot,
                                           "iommufd refused %s (EPERM): its interrupts are not isolated (no interrupt "
                                           "remapping or MSI isolation), and iommufd.allow_unsafe_interrupts is off. "
                                           "Enable interrupt remapping (see 'isolatectl audit'), or set "
                                           "/sys/module/iommufd/parameters/allow_unsafe_interrupts to Y and accept "
                                           "that the device can forge interrupts.",
                                           slot);
                return engine_fail(
                        err, ENGINE_ERROR_GROUP_NOT_VIABLE, r, slot,
                        "iommufd refused %s (EPERM): another owner holds its IOMMU group (a driver using the "
                        "kernel DMA API on a group member, or another process's iommufd).",
                        slot);
        }
        if (r == -EINVAL) {
                /* EINVAL means "already open through another VFIO file" (then vfio-pci has the device
                 * enabled), or that the IOMMU cannot block it: firmware wants a 1:1 mapping (RMRR/IVMD),
                 * or it lacks cache coherency. Then nobody owns it. */
                bool enabled = false;
                int q = e->ops->enabled(e->ops_data, slot, &enabled);
                if (q >= 0 && enabled)
                        return engine_fail(err, ENGINE_ERROR_BUSY, -EBUSY, slot,
                                           "iommufd refused %s (EINVAL): the device is open through another VFIO "
                                           "file (a VMM?).",
                                           slot);
                return engine_fail(err, ENGINE_ERROR_NOT_ISOLATABLE, r, slot,
                                   "iommufd refused %s (EINVAL) and nobody else has it open: its IOMMU cannot block it "
                                   "(the firmware requires a 1:1 mapping for it (RMRR/IVMD), or the IOMMU lacks cache "
                                   "coherency for it). It cannot be quarantined.",
                                   slot);
        }
        if (r == -EBUSY)
                return engine_fail(err, ENGINE_ERROR_BUSY, r, slot,
                                   "%s is in use through its legacy VFIO group node /dev/vfio/N (a VMM?).", slot);
        if (r == -ENODEV)
                return engine_fail(err, ENGINE_ERROR_NOT_ISOLATABLE, r, slot, "%s has no IOMMU group.", slot);
        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, slot, "Failed to bind %s to iommufd: %s.", slot, strerror(-r));
}

static int make_vfio(Engine *e, Member *m, EngineError *err) {
        _cleanup_free_ char *driver = NULL;
        int r;

        assert(e);
        assert(m);

        r = e->ops->set_driver_override(e->ops_data, m->slot, "vfio-pci");
        if (r < 0)
                return engine_fail(err, ENGINE_ERROR_SYSTEM, r, m->slot, "Failed to set driver_override of %s: %s.",
                                   m->slot, strerror(-r));
        r = e->ops->driver(e->ops_data, m->slot, &driver);
        if (r < 0)
                return engine_fail(err, r == -ENODEV ? ENGINE_ERROR_NO_DEVICE : ENGINE_ERROR_SYSTEM, r, m->slot,
                                   "Failed to read the driver of %s: %s.", m->slot, strerror(-r));
        if (driver && streq(driver, "vfio-pci"))
                return 0;
        /* drivers_probe fails (ENODEV/EINVAL...) when no driver takes the device: what counts is what
         * bound, which is checked right after. */
        (void) e->ops->drivers_probe(e->ops_data, m->slot);
        driver = mfree(driver);
        r = e->ops->driver(e->ops_data, m->slot, &driver);
        if (r < 0 || !driver || !streq(driver, "vfio-pci"))
                return engine_fail(err, ENGINE_ERROR_UNSUPPORTED, r < 0 ? r : -ENXIO, m->slot,
                                   "vfio-pci did not bind to %s (now %s%s%s): is vfio-pci available (CONFIG_VFIO_PCI, "
                                   "the vfio-pci module: modules-load.d/isolate.conf loads it), and is the device not "
                                   "on its deny list?",
                                   m->slot, driver ? "bound to '" : "unbound", strempty(driver), driver ? "'" : "");
        return 0;
}

static const char *hint_for(char **hints, const char *slot) {
        for (size_t i = 0; hints && hints[i] && hints[i + 1]; i += 2)
                if (streq(hints[i], slot))
                        return hints[i + 1];
        return NULL;
}

/* Bus mastering must be off in quarantine. vfio-pci clears it when the device is opened, but a clear
 * that did not happen is a protection missing: check through the device's VFIO config region (which
 * works under kernel lockdown, unlike sysfs), and record the result. */
static int ensure_bus_master_off(Engine *e, HeldDevice *h) {
        uint16_t cmd;
        int r;

        assert(e);
        assert(h);

        r = e->ops->config_read(e->ops_data, h->fd, 4, &cmd, sizeof(cmd));
        if (r >= 0 && (cmd & 0x4)) {
                cmd &= (uint16_t) ~0x4;
                r = e->ops->config_write(e->ops_data, h->fd, 4, &cmd, sizeof(cmd));
                if (r >= 0)
                        r = e->ops->config_read(e->ops_data, h->fd, 4, &cmd, sizeof(cmd));
                if (r >= 0 && (cmd & 0x4))
                        r = -EIO;
        }
        h->bus_master_error = MIN(r, 0);
        SET_FLAG(h->degraded, DEGRADED_BUS_MASTER, r < 0);
        return r;
}

/* A device the operation touched and could not hold: clear its bus mastering through sysfs (there is
 * no VFIO file of it to go through), list it in err->failed, and say in the message when even that
 * failed (kernel lockdown refuses sysfs config writes). */
static void fail_closed(Engine *e, const char *slot, EngineError *err) {
        int r;

        assert(e);

        if (err && strv_contains(err->failed, slot))
                return;
        r = e->ops->disable_bus_master(e->ops_data, slot);
        if (!err)
                return;
        (void) strv_extend(&err->failed, slot);
        if (r < 0) {
                char *m = NULL;
                if (asprintf(&m,
                             "%s%sBus mastering of %s could not be turned off either (%s%s): it can still do DMA "
                             "through its IOMMU group's default domain.",
                             strempty(err->message), err->message ? " " : "", slot, strerror(-r),
                             r == -EPERM ? ", kernel lockdown?" : "") >= 0) {
                        free(err->message);
                        err->message = m;
                }
        }
}

/* Whether a group is one of VFIO's no-IOMMU groups: binding "succeeds" there with no translation. */
static int check_noiommu(Engine *e, const Member *m, EngineError *err) {
        _cleanup_free_ char *name = NULL;
        int r;

        assert(e);
        assert(m);

        if (m->group < 0)
                return 0;
        r = e->ops->group_name(e->ops_data, m->group, &name);
        if (r < 0)
                return engine_fail(err, ENGINE_ERROR_SYSTEM, r, m->slot,
                                   "Failed to read the name of IOMMU group %d: %s.", m->group, strerror(-r));
        if (name && streq(name, "vfio-noiommu"))
                return engine_fail(err, ENGINE_ERROR_NOT_ISOLATABLE, -ENODEV, m->slot,
                                   "%s is in a VFIO no-IOMMU group (vfio.enable_unsafe_noiommu_mode): nothing "
                                   "translates its DMA, so binding it isolates nothing (see 'isolatectl audit').",
                                   m->slot);
        return 0;
}

/* A member's file now holds it on the blocking domain (bound to the iommufd, or its group claimed in a
 * container): blocked mode, with what the plan knows of it, and nothing said of an earlier hold (released
 * since) that is not true of this one. The file goes to the caller (on_bound) at once. */
static int held_enter(Engine *e, HeldDevice *h, Member *m, const QuarantineRequest *req, bool added) {
        assert(e);
        assert(h);
        assert(m);
        assert(req);

        h->group = m->group;
        h->mode = QUARANTINE_MODE_BLOCKED;
        h->pt_id = 0;
        h->cover = h->cover_wanted = 0;
        h->degraded &= ~(unsigned) (DEGRADED_PAGING_DOMAIN | DEGRADED_SCRATCH_COVER);
        h->detach_error = 0;
        h->state = DEVICE_STATE_QUARANTINED;
        h->since = e->ops->now(e->ops_data);
        if (added) {
                h->host_driver = m->host_driver ? strdup(m->host_driver) : NULL;
                if (m->host_driver && !h->host_driver)
                        return -ENOMEM;
        }
        if (m->group_type_changed)
                h->group_type_changed = true;
        h->group_type_error = m->group_type_error;
        SET_FLAG(h->degraded, DEGRADED_GROUP_TYPE, m->group_type_error < 0);
        m->taken = true;
        if (req->on_bound)
                req->on_bound(req->userdata, h->slot, h->fd);
        return 0;
}

/* Takes one member that is on vfio-pci: open, bind, hand the fd to the caller, attach. */
static int take_member(Engine *e, const Topology *t, Member *m, const QuarantineRequest *req, EngineError *err) {
        HeldDevice *h = engine_find(e, m->slot);
        bool added = false;
        uint32_t flags = 0;
        int fd = -EBADF, r;

        assert(e);
        assert(m);
        assert(req);

        if (e->kind == ENGINE_KIND_LEGACY)
                return take_member_legacy(e, t, m, req, err);
        r = check_noiommu(e, m, err);
        if (r < 0)
                return r;
        r = e->ops->cdev_open(e->ops_data, m->slot, &fd);
        if (r == -ENOENT)
                return engine_fail(err, ENGINE_ERROR_UNSUPPORTED, r, m->slot,
                                   "%s has no VFIO device cdev (/sys/bus/pci/devices/%s/vfio-dev): the kernel lacks "
                                   "CONFIG_VFIO_DEVICE_CDEV (Linux 6.6 or newer). isolated --backend=legacy holds "
                                   "devices through VFIO's group interface instead.",
                                   m->slot, m->slot);
        if (r < 0)
                return engine_fail(err, ENGINE_ERROR_SYSTEM, r, m->slot, "Failed to open the VFIO cdev of %s: %s.",
                                   m->slot, strerror(-r));

        if (!h) {
                h = engine_add(e, m->slot);
                if (!h) {
                        e->ops->close(e->ops_data, fd);
                        return -ENOMEM;
                }
                added = true;
        }
        h->fd = fd;
        r = e->ops->bind_iommufd(e->ops_data, fd, e->iommufd, &h->dev_id);
        if (r < 0) {
                r = bind_failure(e, t, m->slot, r, err);
                if (r == -EBUSY)
                        m->touched = false; /* someone else's (a VMM running a guest): not ours to stop */
                e->ops->close(e->ops_data, fd);
                h->fd = -EBADF;
                if (added)
                        engine_forget(e, m->slot);
                return r;
        }
        /* Bound: the group is on the kernel's blocking domain now, which is blocked mode. */
        r = held_enter(e, h, m, req, added);
        if (r < 0)
                return r;

        if (e->ops->get_info(e->ops_data, h->fd, &flags) >= 0)
                h->reset_works = flags & VFIO_DEVICE_FLAGS_RESET;
        if (req->reset && h->reset_works)
                (void) e->ops->reset(e->ops_data, h->fd); /* best effort: the quarantine does not depend on it */
        (void) ensure_bus_master_off(e, h);               /* recorded in h->degraded */

        note_ats(e, t, h);
        /* If the attach fails, the device stays held on the blocking domain, and the error says why. */
        if (req->mode != QUARANTINE_MODE_BLOCKED)
                return attach_mode(e, t, h, req, err);
        return 0;
}

/* ---- the legacy backend: VFIO's group and container ------------------------------------- */

/* Covers [from, cover) of a group's type1 container with the scratch page, one MAP_DMA of the page per
 * granule (type1 has no copy: the same page is mapped at every IOVA, pinned and accounted once per
 * mapping). Returns how far the cover reaches in *ret_reached, also on failure. */
static int legacy_map_scratch(Engine *e, int cfd, uint64_t from, uint64_t cover, const IovaRange *allowed, size_t n,
                              uint64_t *ret_reached) {
        uint64_t granule = e->scratch.size;
        int r;

        assert(e);
        assert(ret_reached);

        *ret_reached = from;
        for (size_t i = 0; i < n; i++) {
                uint64_t lo = MAX(allowed[i].start, from), hi;

                if (allowed[i].last < from || lo >= cover)
                        continue;
                hi = MIN(allowed[i].last, cover - 1);
                lo = (lo + granule - 1) & ~(granule - 1);
                for (uint64_t iova = lo; iova >= lo && iova + granule - 1 <= hi; iova += granule) {
                        /* read-only: a device's write faults, and the page stays zero */
                        r = e->ops->container_map(e->ops_data, cfd, e->scratch.va, granule, iova, false);
                        e->scratch.ioctls++;
                        if (e->scratch.keepalive && e->scratch.ioctls % 64 == 0)
                                e->scratch.keepalive(e->scratch.keepalive_userdata);
                        if (r < 0)
                                return r;
                        *ret_reached = iova + granule;
                }
        }
        *ret_reached = cover;
        return 0;
}

static int legacy_attach_scratch(Engine *e, const Topology *t, HeldDevice *h, uint64_t cover, EngineError *err) {
        _cleanup_free_ IovaRange *ranges = NULL;
        uint64_t min_page = 0, reached = h->cover;
        size_t n = 0;
        int r;

        assert(e);
        assert(h);

        if (h->container_fd < 0)
                return engine_fail(err, ENGINE_ERROR_SYSTEM, -EBADF, h->slot,
                                   "The VFIO container of %s was not kept (taken back without it): it cannot change "
                                   "to scratch-page mode; release it and quarantine it again.",
                                   h->slot);
        if (!e->scratch.va) {
                r = e->ops->scratch_alloc(e->ops_data, &e->scratch);
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, h->slot,
                                           "Failed to allocate the scratch page: %s.", strerror(-r));
        }
        if (!h->type1) {
                /* The group leaves the blocking domain for the container's (empty) paging domain. */
                r = e->ops->container_set_iommu(e->ops_data, h->container_fd);
                if (r == -EPERM)
                        return engine_fail(err, ENGINE_ERROR_UNSAFE_INTERRUPTS, r, h->slot,
                                           "VFIO type1 refused a paging domain for %s (EPERM): its interrupts are "
                                           "not isolated and vfio_iommu_type1.allow_unsafe_interrupts is off. It "
                                           "stays blocked.",
                                           h->slot);
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, h->slot,
                                           "Failed to give the VFIO container of %s a type1 IOMMU: %s. It stays "
                                           "blocked.",
                                           h->slot, strerror(-r));
                FOREACH_GROUP_MATE(m, e, h) {
                        m->type1 = true;
                        m->cover = 0;
                }
        }
        if (!e->scratch.huge)
                cover = MIN(cover, SCRATCH_SMALL_MAX_COVER);
        if (cover > h->cover) {
                r = e->ops->container_iova_ranges(e->ops_data, h->container_fd, &ranges, &n, &min_page);
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, h->slot,
                                           "Failed to read the IOVA ranges of the VFIO container of %s: %s.", h->slot,
                                           strerror(-r));
                if (min_page > e->scratch.size)
                        return engine_fail(err, ENGINE_ERROR_UNSUPPORTED, -EINVAL, h->slot,
                                           "The IOMMU of %s maps pages of at least %" PRIu64 " KiB, more than the "
                                           "scratch page's %" PRIu64 " KiB: reserve huge pages for the scratch page.",
                                           h->slot, min_page >> 10, e->scratch.size >> 10);
                r = subtract_reserved(t, &ranges, &n);
                if (r < 0)
                        return r;
                r = legacy_map_scratch(e, h->container_fd, h->cover, cover, ranges, n, &reached);
                FOREACH_GROUP_MATE(m, e, h)
                m->cover = reached;
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, h->slot,
                                           "Failed to map the scratch page over the %" PRIu64 " MiB cover of %s "
                                           "(reached %" PRIu64 " MiB): %s%s.",
                                           cover >> 20, h->slot, reached >> 20, strerror(-r),
                                           r == -ENOSPC ? " (vfio_iommu_type1.dma_entry_limit)" : "");
        }
        scratch_zero(&e->scratch);
        return 0;
}

/* blocked, from scratch-page: a group cannot leave its type1 domain for the blocking domain without
 * passing through its default domain (VFIO_GROUP_UNSET_CONTAINER releases the DMA ownership), so the
 * mappings go and it stays on the empty paging domain, which is said (DEGRADED_PAGING_DOMAIN). */
static int legacy_detach(Engine *e, HeldDevice *h, EngineError *err) {
        int r;

        assert(e);
        assert(h);

        if (!h->type1)
                return 0;
        r = h->container_fd >= 0 ? e->ops->container_unmap_all(e->ops_data, h->container_fd) : -EBADF;
        if (r < 0)
                return engine_fail(err, ENGINE_ERROR_SYSTEM, r, h->slot,
                                   "Failed to unmap the scratch page from the VFIO container of %s: %s; it stays in "
                                   "scratch-page mode.",
                                   h->slot, strerror(-r));
        FOREACH_GROUP_MATE(m, e, h) {
                m->cover = m->cover_wanted = 0;
                m->degraded |= DEGRADED_PAGING_DOMAIN;
                m->detach_error = -EOPNOTSUPP;
        }
        return 0;
}

/* Explains a failed open of the group node or VFIO_GROUP_SET_CONTAINER. */
static int legacy_group_failure(const char *slot, int group, const char *step, int r, EngineError *err) {
        if (r == -EBUSY && streq(step, "open"))
                return engine_fail(err, ENGINE_ERROR_BUSY, r, slot,
                                   "/dev/vfio/%d (the IOMMU group of %s) is open elsewhere (a VMM?).", group, slot);
        if (r == -ENOENT)
                return engine_fail(err, ENGINE_ERROR_UNSUPPORTED, r, slot,
                                   "/dev/vfio/%d does not exist although %s is on vfio-pci: is /dev populated "
                                   "(udev), and is vfio's group interface built (CONFIG_VFIO_GROUP)?",
                                   group, slot);
        if (r == -EPERM || r == -EBUSY || r == -EINVAL)
                return engine_fail(err, ENGINE_ERROR_GROUP_NOT_VIABLE, r, slot,
                                   "VFIO refused IOMMU group %d of %s (%s: %s): a member of the group is bound to a "
                                   "host driver that uses the kernel's DMA API, or another owner holds the group.",
                                   group, slot, step, strerror(-r));
        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, slot, "Failed to %s /dev/vfio/%d for %s: %s.", step, group,
                           slot, strerror(-r));
}

/* Takes a member that is on vfio-pci through its group: the first member of a group opens /dev/vfio/N and
 * puts it into a new container, which claims the group's DMA ownership (blocked); the others get their
 * own copies of those files. There is no device file: bus mastering is cleared through sysfs. */
static int take_member_legacy(Engine *e, const Topology *t, Member *m, const QuarantineRequest *req, EngineError *err) {
        HeldDevice *h = engine_find(e, m->slot), *mate = NULL;
        int gfd = -EBADF, cfd = -EBADF, r;
        bool added = false, viable = false;

        assert(e);
        assert(m);
        assert(req);

        r = check_noiommu(e, m, err);
        if (r < 0)
                return r;
        if (m->group < 0)
                return engine_fail(err, ENGINE_ERROR_NOT_ISOLATABLE, -ENODEV, m->slot, "%s has no IOMMU group.",
                                   m->slot);
        FOREACH_ARRAY(x, e->devices, e->n_devices)
                if (x->group == m->group && x->fd >= 0 && x->state == DEVICE_STATE_QUARANTINED) {
                        mate = x;
                        break;
                }
        if (mate) {
                r = e->ops->dup(e->ops_data, mate->fd, &gfd);
                if (r >= 0 && mate->container_fd >= 0 && (r = e->ops->dup(e->ops_data, mate->container_fd, &cfd)) < 0)
                        e->ops->close(e->ops_data, gfd);
                if (r < 0)
                        return engine_fail(err, ENGINE_ERROR_SYSTEM, r, m->slot,
                                           "Failed to duplicate the files of IOMMU group %d: %s.", m->group,
                                           strerror(-r));
        } else {
                r = e->ops->group_open(e->ops_data, m->group, &gfd);
                if (r < 0) {
                        r = legacy_group_failure(m->slot, m->group, "open", r, err);
                        if (r == -EBUSY)
                                m->touched = false; /* someone else's (a VMM running a guest): not ours to stop */
                        return r;
                }
                r = e->ops->group_viable(e->ops_data, gfd, &viable);
                if (r >= 0 && !viable)
                        r = -EBUSY;
                if (r >= 0)
                        r = e->ops->container_open(e->ops_data, &cfd);
                if (r < 0) {
                        e->ops->close(e->ops_data, gfd);
                        if (r == -EBUSY)
                                return legacy_group_failure(m->slot, m->group, "check the viability of", r, err);
                        return engine_fail(
                                err, r == -ENOENT || r == -EOPNOTSUPP ? ENGINE_ERROR_UNSUPPORTED : ENGINE_ERROR_SYSTEM,
                                r, m->slot, "Failed to open a VFIO type1v2 container (/dev/vfio/vfio): %s.",
                                strerror(-r));
                }
                /* Claims the group's DMA ownership: the kernel puts it on its blocking domain. */
                r = e->ops->group_set_container(e->ops_data, gfd, cfd);
                if (r < 0) {
                        e->ops->close(e->ops_data, cfd);
                        e->ops->close(e->ops_data, gfd);
                        return legacy_group_failure(m->slot, m->group, "set the container of", r, err);
                }
        }

        if (!h) {
                h = engine_add(e, m->slot);
                if (!h) {
                        e->ops->close(e->ops_data, gfd);
                        e->ops->close(e->ops_data, cfd);
                        return -ENOMEM;
                }
                added = true;
        }
        h->fd = gfd;
        h->container_fd = cfd;
        h->dev_id = 0;
        h->reset_works = false;
        r = held_enter(e, h, m, req, added);
        if (r < 0)
                return r;
        /* a mate's group may be on the container's type1 domain already: what is true of the group is true of it */
        h->type1 = mate ? mate->type1 : false;
        h->cover = mate ? mate->cover : 0;

        /* No VFIO device file here: vfio-pci has not enabled the device, and whatever bus mastering the
         * previous owner left on is cleared through sysfs (which kernel lockdown refuses: recorded). */
        r = e->ops->disable_bus_master(e->ops_data, h->slot);
        h->bus_master_error = MIN(r, 0);
        SET_FLAG(h->degraded, DEGRADED_BUS_MASTER, r < 0);

        if (mate && mate->type1 && req->mode == QUARANTINE_MODE_BLOCKED) {
                h->degraded |= mate->degraded & DEGRADED_PAGING_DOMAIN;
                h->detach_error = mate->detach_error;
        }
        note_ats(e, t, h);
        if (req->mode != QUARANTINE_MODE_BLOCKED || (mate && mate->mode != QUARANTINE_MODE_BLOCKED))
                return attach_mode(e, t, h, req, err);
        return 0;
}

/* After a failure: every member this call touched (took from its driver, bound to vfio-pci) that is
 * not held now gets bus mastering cleared and is listed as failed. */
static void fail_closed_plan(Engine *e, Plan *p, EngineError *err) {
        assert(p);

        FOREACH_ARRAY(m, p->members, p->n) {
                HeldDevice *h = engine_find(e, m->slot);
                if (!m->touched || (h && h->state == DEVICE_STATE_QUARANTINED))
                        continue;
                fail_closed(e, m->slot, err);
        }
}

static int quarantine_plan(Engine *e, const Topology *t, const QuarantineRequest *req, Plan *p, char ***ret_taken,
                           EngineError *err) {
        _cleanup_strv_free_ char **taken = NULL;
        uint64_t t0 = now_monotonic_usec(), t1;
        int r;

        assert(e);
        assert(req);
        assert(p);

        if (e->kind == ENGINE_KIND_IOMMUFD) {
                r = ensure_iommufd(e, err);
                if (r < 0)
                        return r;
        }
        t1 = now_monotonic_usec();
        e->last.plan = t1 - t0;

        /* 1. Take the members from their host drivers, remembering them. */
        FOREACH_ARRAY(m, p->members, p->n) {
                _cleanup_free_ char *driver = NULL;
                HeldDevice *h = engine_find(e, m->slot);

                if (h && h->state == DEVICE_STATE_QUARANTINED)
                        continue;
                r = e->ops->driver(e->ops_data, m->slot, &driver);
                if (r < 0)
                        return engine_fail(err, r == -ENODEV ? ENGINE_ERROR_NO_DEVICE : ENGINE_ERROR_SYSTEM, r, m->slot,
                                           "Failed to read the driver of %s: %s.", m->slot, strerror(-r));
                if (driver && !streq(driver, "vfio-pci")) {
                        m->host_driver = strdup(driver);
                        if (!m->host_driver)
                                return -ENOMEM;
                        r = e->ops->unbind(e->ops_data, m->slot, driver);
                        if (r < 0)
                                return engine_fail(err, ENGINE_ERROR_SYSTEM, r, m->slot,
                                                   "Failed to unbind %s from its driver '%s': %s.", m->slot, driver,
                                                   strerror(-r));
                        m->touched = true;
                } else if (!driver) {
                        const char *hint = hint_for(req->driver_hints, m->slot);
                        m->touched = true; /* no driver: nothing stops its DMA but what we do now */
                        if (hint && !streq(hint, "vfio-pci") && !(m->host_driver = strdup(hint)))
                                return -ENOMEM;
                } else {
                        /* Already on vfio-pci: the host driver is the one we hold for it, else the one the
                         * caller remembers (bound to vfio-pci by someone else, or held by an instance that
                         * crashed and lost its fds). */
                        const char *known = h && h->host_driver ? h->host_driver : hint_for(req->driver_hints, m->slot);
                        m->touched = true;
                        if (known && !streq(known, "vfio-pci") && !(m->host_driver = strdup(known)))
                                return -ENOMEM;
                }
        }

        e->last.host_unbind = now_monotonic_usec() - t1;
        t1 = now_monotonic_usec();

        /* 2. While no driver is bound, turn an identity default domain into a translated one, so that
         *    the devices have no mappings even at a moment nobody holds them (a stopped daemon). A
         *    failure (a member still bound, EPERM while the group is owned, EINVAL where the IOMMU
         *    driver forces identity) is recorded on the devices: the quarantine itself still holds
         *    while isolated has them, but the protection with nobody holding them is missing. */
        FOREACH_ARRAY(gid, p->groups, p->n_groups) {
                _cleanup_free_ char *type = NULL;

                if (e->ops->group_type(e->ops_data, *gid, &type) < 0 || !streq(type, "identity"))
                        continue;
                r = e->ops->set_group_type(e->ops_data, *gid, "DMA");
                FOREACH_ARRAY(m, p->members, p->n)
                        if (m->group == *gid) {
                                if (r >= 0)
                                        m->group_type_changed = true;
                                else
                                        m->group_type_error = r;
                        }
        }

        e->last.group_type = now_monotonic_usec() - t1;
        t1 = now_monotonic_usec();

        /* 3. vfio-pci, with driver_override so that no host driver grabs it again. */
        FOREACH_ARRAY(m, p->members, p->n) {
                HeldDevice *h = engine_find(e, m->slot);
                if (h && h->state == DEVICE_STATE_QUARANTINED)
                        continue;
                r = make_vfio(e, m, err);
                if (r < 0)
                        return r;
                if (m->group < 0 && e->ops->iommu_group(e->ops_data, m->slot, &m->group) < 0)
                        return engine_fail(err, ENGINE_ERROR_NOT_ISOLATABLE, -ENODEV, m->slot,
                                           "%s got no IOMMU group when vfio-pci bound: no IOMMU translates its DMA.",
                                           m->slot);
        }

        e->last.vfio_bind = now_monotonic_usec() - t1;
        t1 = now_monotonic_usec();

        /* 4. Open, bind to iommufd (the group is blocked from here on), attach in the mode. A group
         *    moves as a whole (its members share one domain): when a member's ATS rules scratch-page
         *    out, every member is taken blocked, and the refusal is the error. */
        QuarantineRequest eff = *req;
        int first_error = 0;
        if (req->mode == QUARANTINE_MODE_SCRATCH_PAGE)
                FOREACH_ARRAY(m, p->members, p->n) {
                        first_error = check_ats(t, m->slot, req, err);
                        if (first_error < 0) {
                                eff.mode = QUARANTINE_MODE_BLOCKED;
                                break;
                        }
                }
        FOREACH_ARRAY(m, p->members, p->n) {
                HeldDevice *h = engine_find(e, m->slot);
                if (h && h->state == DEVICE_STATE_QUARANTINED) {
                        if (h->mode != eff.mode ||
                            (eff.mode == QUARANTINE_MODE_SCRATCH_PAGE &&
                             (eff.cover ?: QUARANTINE_DEFAULT_SCRATCH_COVER) > h->cover_wanted)) {
                                r = attach_mode(e, t, h, &eff, first_error ? NULL : err);
                                if (r < 0 && !first_error)
                                        first_error = r;
                        }
                } else {
                        r = take_member(e, t, m, &eff, first_error ? NULL : err);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0 && !first_error)
                                first_error = r;
                }
                if (strv_extend(&taken, m->slot) < 0)
                        return -ENOMEM;
        }
        e->last.take = now_monotonic_usec() - t1;
        e->last.total = now_monotonic_usec() - t0;
        if (first_error < 0)
                return first_error;
        if (ret_taken)
                *ret_taken = TAKE_PTR(taken);
        return 0;
}

int engine_quarantine(Engine *e, const Topology *t, const QuarantineRequest *req, char ***ret_taken, EngineError *err) {
        _cleanup_(plan_done) Plan p = {};
        EngineError local = {};
        int r;

        e->last = (EngineTimings) {};

        if (err)
                engine_error_done(err);
        else
                err = &local; /* fail_closed() lists what it touched there */

        r = plan_build(e, t, req->slots, &p, err);
        if (r < 0)
                goto finish;

        /* Devices already held in quarantine only change mode. */
        bool all_held = true;
        FOREACH_ARRAY(m, p.members, p.n) {
                HeldDevice *h = engine_find(e, m->slot);
                if (!h || h->state != DEVICE_STATE_QUARANTINED)
                        all_held = false;
        }
        if (all_held) {
                _cleanup_strv_free_ char **slots = NULL;
                FOREACH_ARRAY(m, p.members, p.n)
                        if (strv_extend(&slots, m->slot) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
                QuarantineRequest sub = *req;
                sub.slots = slots;
                r = engine_set_mode(e, t, &sub, err);
                if (r >= 0 && ret_taken)
                        *ret_taken = TAKE_PTR(slots);
                goto finish;
        }

        r = quarantine_plan(e, t, req, &p, ret_taken, err);
        if (r < 0) {
                /* Fail closed, for every member touched, whichever step failed (ENOMEM too). */
                if (r == -ENOMEM && !err->message)
                        (void) engine_fail(err, ENGINE_ERROR_SYSTEM, r, NULL, "Out of memory.");
                fail_closed_plan(e, &p, err);
        }
finish:
        engine_error_done(&local);
        return r;
}

/* The held members of the groups of the given slots; every slot must be held in one of the states. */
static int held_groups(Engine *e, char **slots, bool allow_released, HeldDevice ***ret, EngineError *err) {
        _cleanup_free_ HeldDevice **list = NULL;
        size_t n = 0, allocated = 0;

        assert(e);
        assert(ret);

        if (strv_length(slots) == 0)
                return engine_fail(err, ENGINE_ERROR_NO_DEVICE, -EINVAL, NULL, "No device given.");
        STRV_FOREACH(s, slots) {
                HeldDevice *h = engine_find(e, *s);
                if (!h ||
                    (h->state != DEVICE_STATE_QUARANTINED && !(allow_released && h->state == DEVICE_STATE_RELEASED)))
                        return engine_fail(err, ENGINE_ERROR_NOT_HELD, -ENOENT, *s, "%s is not in quarantine.", *s);
                FOREACH_ARRAY(g, e->devices, e->n_devices) {
                        bool dup = false;
                        if (!(g == h || (g->group >= 0 && g->group == h->group)))
                                continue;
                        for (size_t k = 0; k < n; k++)
                                if (list[k] == g)
                                        dup = true;
                        if (dup)
                                continue;
                        if (!GREEDY_REALLOC(list, allocated, n + 2))
                                return -ENOMEM;
                        list[n++] = g;
                        list[n] = NULL;
                }
        }
        *ret = TAKE_PTR(list);
        return (int) n;
}

int engine_set_mode(Engine *e, const Topology *t, const QuarantineRequest *req, EngineError *err) {
        _cleanup_free_ HeldDevice **list = NULL;
        uint64_t cover = req->mode == QUARANTINE_MODE_SCRATCH_PAGE ? req->cover ?: QUARANTINE_DEFAULT_SCRATCH_COVER : 0;
        int n, r;

        if (err)
                engine_error_done(err);

        n = held_groups(e, req->slots, false, &list, err);
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++)
                if (list[i]->state != DEVICE_STATE_QUARANTINED)
                        return engine_fail(err, ENGINE_ERROR_NOT_HELD, -ENOENT, list[i]->slot,
                                           "%s shares an IOMMU group with %s but is not in quarantine.", list[i]->slot,
                                           req->slots[0]);
        /* A group moves as a whole: check ATS for every member before any is switched. */
        if (req->mode == QUARANTINE_MODE_SCRATCH_PAGE)
                for (int i = 0; i < n; i++) {
                        r = check_ats(t, list[i]->slot, req, err);
                        if (r < 0)
                                return r;
                }
        for (int i = 0; i < n; i++) {
                if (list[i]->mode == req->mode &&
                    (req->mode != QUARANTINE_MODE_SCRATCH_PAGE || cover <= list[i]->cover_wanted))
                        continue;
                /* Attach while attached replaces the page table, and a detach goes to the blocking
                 * domain: no moment outside quarantine. */
                r = attach_mode(e, t, list[i], req, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int engine_release_guest(Engine *e, const Topology *t, char **slots, char ***ret_released, EngineError *err) {
        _cleanup_free_ HeldDevice **list = NULL;
        _cleanup_strv_free_ char **released = NULL;
        int n;

        if (err)
                engine_error_done(err);

        n = held_groups(e, slots, true, &list, err);
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++) {
                HeldDevice *h = list[i];
                if (h->state == DEVICE_STATE_QUARANTINED) {
                        /* The close path quiesces the device (bus mastering off, reset) and leaves the group
                         * on its default domain (translated, with no mappings) until the VMM binds it. */
                        held_close(e, h);
                        h->state = DEVICE_STATE_RELEASED;
                        h->since = e->ops->now(e->ops_data);
                }
                if (strv_extend(&released, h->slot) < 0)
                        return -ENOMEM;
        }
        if (ret_released)
                *ret_released = TAKE_PTR(released);
        return 0;
}

/* A release to the host failed after the fds were closed: take the devices back, in the mode the first
 * had, with the host drivers they had. What cannot be taken back is failed (bus mastering off). */
static int release_host_retake(Engine *e, const Topology *t, char **slots, QuarantineMode mode, uint64_t cover,
                               char **hints, int error, EngineError *err) {
        _cleanup_free_ char *why = strdup(err && err->message ? err->message : strerror(-error));
        EngineError again = {};
        char *m = NULL;
        int r;

        QuarantineRequest req = { .slots = slots, .mode = mode, .cover = cover, .driver_hints = hints };
        r = engine_quarantine(e, t, &req, NULL, &again);
        if (!err) {
                engine_error_done(&again);
                return error;
        }
        if (r >= 0)
                (void) asprintf(&m, "%s It was taken back into quarantine (%s).", strna(why),
                                quarantine_mode_to_string(mode));
        else {
                (void) asprintf(&m, "%s Taking it back into quarantine failed too: %s", strna(why),
                                strna(again.message));
                STRV_FOREACH(s, again.failed) {
                        HeldDevice *h = engine_find(e, *s);
                        /* Not held, not a guest's: it is failed, not released. */
                        if (h && h->state != DEVICE_STATE_QUARANTINED)
                                engine_forget(e, *s);
                        if (!strv_contains(err->failed, *s))
                                (void) strv_extend(&err->failed, *s);
                }
        }
        if (m) {
                free(err->message);
                err->message = m;
        }
        engine_error_done(&again);
        return error;
}

int engine_release_host(Engine *e, const Topology *t, char **slots, char ***ret_released, EngineError *err) {
        _cleanup_free_ HeldDevice **list = NULL;
        _cleanup_strv_free_ char **released = NULL, **groups_done = NULL, **retake = NULL, **all = NULL, **hints = NULL;
        QuarantineMode mode = QUARANTINE_MODE_BLOCKED;
        uint64_t cover = 0;
        int n, r;

        if (err)
                engine_error_done(err);

        n = held_groups(e, slots, true, &list, err);
        if (n < 0)
                return n;

        /* A device released to a guest may be open in a VMM: unbinding vfio-pci then would block until
         * the VMM lets go. Take it back first; that fails cleanly when it is in use. Taking it back can
         * add group members the engine had forgotten, which moves e->devices: list them again after. */
        for (int i = 0; i < n; i++)
                if (list[i]->state == DEVICE_STATE_RELEASED && strv_extend(&retake, list[i]->slot) < 0)
                        return -ENOMEM;
        STRV_FOREACH(s, retake) {
                HeldDevice *h = engine_find(e, *s);
                if (!h || h->state != DEVICE_STATE_RELEASED)
                        continue; /* taken back with its group already */
                char *one[] = { *s, NULL };
                QuarantineRequest req = { .slots = one, .mode = QUARANTINE_MODE_BLOCKED };
                r = engine_quarantine(e, t, &req, NULL, err);
                if (r < 0)
                        return r;
        }
        if (retake) {
                list = mfree(list);
                n = held_groups(e, slots, true, &list, err);
                if (n < 0)
                        return n;
        }

        /* What a retake needs, should a step after the close fail. */
        mode = list[0]->mode;
        for (int i = 0; i < n; i++) {
                cover = MAX(cover, list[i]->cover_wanted);
                if (strv_extend(&all, list[i]->slot) < 0 ||
                    (list[i]->host_driver &&
                     (strv_extend(&hints, list[i]->slot) < 0 || strv_extend(&hints, list[i]->host_driver) < 0)))
                        return -ENOMEM;
        }

        /* 1. Never back onto vfio-pci by itself: clear driver_override while the devices are still held,
         *    so that a failure here leaves them in quarantine. */
        for (int i = 0; i < n; i++) {
                r = e->ops->set_driver_override(e->ops_data, list[i]->slot, NULL);
                if (r < 0) {
                        _cleanup_strv_free_ char **unrestored = NULL;
                        int q;

                        /* Put back what was cleared already. The devices stay held either way; one whose
                         * override could not be put back is said to be exposed should vfio-pci let go. */
                        for (int k = 0; k < i; k++) {
                                q = e->ops->set_driver_override(e->ops_data, list[k]->slot, "vfio-pci");
                                if (q < 0 && strv_extend(&unrestored, list[k]->slot) < 0)
                                        return -ENOMEM;
                        }
                        r = engine_fail(err, ENGINE_ERROR_SYSTEM, r, list[i]->slot,
                                        "Failed to clear driver_override of %s: %s. It stays in quarantine.",
                                        list[i]->slot, strerror(-r));
                        STRV_FOREACH(u, unrestored) {
                                char *note = NULL;
                                if (!err)
                                        break;
                                if (asprintf(&note,
                                             "%s stays in quarantine, but its driver_override could not be set back "
                                             "to vfio-pci: should vfio-pci let go of it, a host driver could bind.",
                                             *u) < 0 ||
                                    strv_consume(&err->notes, note) < 0)
                                        return -ENOMEM;
                        }
                        return r;
                }
        }

        /* 2. Close: the VFIO close path resets the function and stops its DMA. From here on a failure
         *    takes them back into quarantine. */
        for (int i = 0; i < n; i++) {
                held_close(e, list[i]);
                list[i]->state = DEVICE_STATE_RELEASED;
                list[i]->since = e->ops->now(e->ops_data);
        }

        /* 3. Off vfio-pci. */
        for (int i = 0; i < n; i++) {
                HeldDevice *h = list[i];
                _cleanup_free_ char *driver = NULL;

                r = e->ops->driver(e->ops_data, h->slot, &driver);
                if (r >= 0 && driver && streq(driver, "vfio-pci"))
                        r = e->ops->unbind(e->ops_data, h->slot, "vfio-pci");
                if (r < 0) {
                        (void) engine_fail(err, ENGINE_ERROR_SYSTEM, r, h->slot,
                                           "Failed to unbind %s from vfio-pci: %s.", h->slot, strerror(-r));
                        return release_host_retake(e, t, all, mode, cover, hints, r, err);
                }
        }
        /* 4. Restore identity default domains we turned into DMA (all members are unbound now). The
         *    translated domain is the safer one, so a failure is reported, not undone. */
        for (int i = 0; i < n; i++) {
                char gbuf[16];
                if (!list[i]->group_type_changed || list[i]->group < 0)
                        continue;
                snprintf(gbuf, sizeof(gbuf), "%d", list[i]->group);
                if (strv_contains(groups_done, gbuf))
                        continue;
                r = e->ops->set_group_type(e->ops_data, list[i]->group, "identity");
                if (r < 0 && err) {
                        char *note = NULL;
                        if (asprintf(&note,
                                     "IOMMU group %d stays on a translated (DMA) default domain: restoring "
                                     "identity failed: %s.",
                                     list[i]->group, strerror(-r)) >= 0)
                                (void) strv_consume(&err->notes, note);
                }
                if (strv_extend(&groups_done, gbuf) < 0)
                        return -ENOMEM;
        }
        /* 5. The driver each device had before, verified. */
        int first_error = 0;
        for (int i = 0; i < n; i++) {
                HeldDevice *h = list[i];
                _cleanup_free_ char *driver = NULL;

                if (h->host_driver) {
                        /* Through driver_override, so that drivers without an ID table (pci-stub, vfio
                         * variants) bind too; cleared again right after: it only matters at probe time. */
                        r = e->ops->set_driver_override(e->ops_data, h->slot, h->host_driver);
                        if (r >= 0)
                                r = e->ops->bind(e->ops_data, h->slot, h->host_driver);
                        int q = e->ops->set_driver_override(e->ops_data, h->slot, NULL);
                        if (r >= 0)
                                r = e->ops->driver(e->ops_data, h->slot, &driver);
                        if (r >= 0 && q < 0)
                                r = q; /* a stale override would steer the next probe */
                        if ((r < 0 || !driver || !streq(driver, h->host_driver)) && first_error == 0)
                                first_error = engine_fail(err, ENGINE_ERROR_SYSTEM, r < 0 ? r : -ENXIO, h->slot,
                                                          "%s's driver '%s' did not bind again%s%s.", h->slot,
                                                          h->host_driver, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
                }
                if (strv_extend(&released, h->slot) < 0)
                        return -ENOMEM;
        }
        if (first_error < 0)
                /* Back into quarantine, the whole group (it moves as a whole): vfio-pci again. */
                return release_host_retake(e, t, all, mode, cover, hints, first_error, err);

        for (int i = n; i > 0; i--)
                engine_forget(e, list[i - 1]->slot);
        if (ret_released)
                *ret_released = TAKE_PTR(released);
        return 0;
}

/* ---- persistence ----------------------------------------------------------------------- */

static void fdname(const char *prefix, const char *slot, char buf[static 32]) {
        snprintf(buf, 32, "%s%s", prefix, slot);
        for (char *c = buf; *c; c++)
                if (*c == ':')
                        *c = '-';
}

void engine_fdname_for_slot(const char *slot, char buf[static 32]) {
        fdname("vfio-", slot, buf);
}

void engine_fdname_container_for_slot(const char *slot, char buf[static 32]) {
        fdname("vfioc-", slot, buf);
}

static bool fd_is_char_device(int fd) {
        struct stat st;
        return fd >= 0 && fstat(fd, &st) >= 0 && S_ISCHR(st.st_mode);
}

int engine_slot_from_fdname(const char *name, char ret[static PCI_ADDRESS_MAX]) {
        char buf[PCI_ADDRESS_MAX];
        PciAddress a;

        if (strncmp(name, "vfio-", 5) != 0 || strlen(name + 5) >= sizeof(buf))
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%s", name + 5);
        /* "0000-03-00.0": the first two dashes were colons */
        for (int i = 0, k = 0; buf[i] && k < 2; i++)
                if (buf[i] == '-') {
                        buf[i] = ':';
                        k++;
                }
        if (pci_address_parse_full(buf, &a) < 0)
                return -EINVAL;
        pci_address_format(&a, ret);
        return 0;
}

int engine_adopt_orphan(Engine *e, const char *slot, int group, int fd) {
        HeldDevice *h;
        int r;

        if (!fd_is_char_device(fd))
                return -EBADF;
        if (engine_find(e, slot))
                return -EEXIST;
        /* Attached to the scratch IOAS or not, nobody knows: the blocking domain is certain. A device fd
         * that is not bound fails here (EINVAL): then it holds nothing. legacy: a group file whose container
         * was not kept cannot be detached from a type1 domain; it still holds the group (DMA faults, but
         * whether the scratch page is still mapped is unknown): said as a paging domain. */
        if (e->kind == ENGINE_KIND_LEGACY)
                r = 0;
        else
                r = e->ops->detach(e->ops_data, fd);
        if (r < 0)
                return r;
        h = engine_add(e, slot);
        if (!h)
                return -ENOMEM;
        h->fd = fd;
        h->group = group;
        h->state = DEVICE_STATE_QUARANTINED;
        h->mode = QUARANTINE_MODE_BLOCKED;
        h->since = e->ops->now(e->ops_data);
        if (e->kind == ENGINE_KIND_LEGACY) {
                h->degraded |= DEGRADED_PAGING_DOMAIN;
                h->detach_error = -EOPNOTSUPP;
        }
        return 0;
}

int engine_to_json(const Engine *e, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *devs = json_object_new_array(),
                                                *s = json_object_new_object();

        if (!o || !devs || !s)
                return -ENOMEM;
        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(o, "kind", json_object_new_string(engine_kind_to_string(e->kind)));
        json_object_object_add(o, "scratch_hwpt", json_object_new_int64(e->scratch_hwpt));
        json_object_object_add(s, "ioas", json_object_new_int64(e->scratch.ioas));
        json_object_object_add(s, "source", json_object_new_uint64(e->scratch.source));
        json_object_object_add(s, "covered", json_object_new_uint64(e->scratch.covered));
        json_object_object_add(s, "huge", json_object_new_boolean(e->scratch.huge));
        json_object_object_add(s, "backing", json_object_new_boolean(e->scratch.memfd >= 0));
        json_object_object_add(o, "scratch", TAKE_PTR(s));
        FOREACH_ARRAY(h, e->devices, e->n_devices) {
                json_object *d = json_object_new_object();
                json_object_object_add(d, "slot", json_object_new_string(h->slot));
                json_object_object_add(d, "group", json_object_new_int(h->group));
                json_object_object_add(d, "state", json_object_new_string(device_state_to_string(h->state)));
                json_object_object_add(d, "mode", json_object_new_string(quarantine_mode_to_string(h->mode)));
                json_object_object_add(d, "dev_id", json_object_new_int64(h->dev_id));
                json_object_object_add(d, "pt_id", json_object_new_int64(h->pt_id));
                if (e->kind == ENGINE_KIND_LEGACY)
                        json_object_object_add(d, "type1", json_object_new_boolean(h->type1));
                json_object_object_add(d, "host_driver",
                                       h->host_driver ? json_object_new_string(h->host_driver) : NULL);
                json_object_object_add(d, "group_type_changed", json_object_new_boolean(h->group_type_changed));
                json_object_object_add(d, "reset_works", json_object_new_boolean(h->reset_works));
                json_object_object_add(d, "since", json_object_new_uint64(h->since));
                json_object_object_add(d, "cover", json_object_new_uint64(h->cover));
                json_object_object_add(d, "cover_wanted", json_object_new_uint64(h->cover_wanted));
                json_object_object_add(d, "degraded", json_object_new_int(h->degraded));
                json_object_object_add(d, "group_type_error", json_object_new_int(h->group_type_error));
                json_object_object_add(d, "bus_master_error", json_object_new_int(h->bus_master_error));
                json_object_object_add(d, "detach_error", json_object_new_int(h->detach_error));
                json_object_array_add(devs, d);
        }
        json_object_object_add(o, "devices", TAKE_PTR(devs));
        *ret = TAKE_PTR(o);
        return 0;
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                       ? json_object_get_string(v)
                       : NULL;
}

static uint64_t juint(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static int jint(json_object *o, const char *key, int fallback) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ? json_object_get_int(v)
                                                                                              : fallback;
}

static bool jbool(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

int engine_adopt(Engine *e, json_object *state, int (*fd_lookup)(void *ud, const char *name), void *ud,
                 char ***ret_lost) {
        _cleanup_strv_free_ char **lost = NULL;
        json_object *devs = NULL, *s = NULL;
        int fd;

        /* What held the devices is what takes them back (a --backend= that changed since is for the devices
         * taken from now on, and only once nothing is held). */
        if (state && jstr(state, "kind") && engine_kind_from_string(jstr(state, "kind")) >= 0 &&
            json_object_object_get_ex(state, "devices", &devs) && json_object_array_length(devs) > 0)
                (void) engine_set_kind(e, engine_kind_from_string(jstr(state, "kind"))); /* not with ops lacking it */
        devs = NULL;
        fd = fd_lookup(ud, ENGINE_FDNAME_IOMMUFD);
        if (fd >= 0)
                e->iommufd = fd;
        if (state && e->iommufd >= 0) {
                e->scratch_hwpt = (uint32_t) juint(state, "scratch_hwpt");
                if (json_object_object_get_ex(state, "scratch", &s) && juint(s, "ioas") != 0) {
                        int memfd = fd_lookup(ud, ENGINE_FDNAME_SCRATCH);
                        e->scratch.ioas = (uint32_t) juint(s, "ioas");
                        e->scratch.source = juint(s, "source");
                        e->scratch.covered = juint(s, "covered");
                        if (memfd >= 0 && e->ops->scratch_adopt(e->ops_data, &e->scratch, memfd, jbool(s, "huge")) < 0)
                                safe_close(memfd);
                }
        }

        if (state && json_object_object_get_ex(state, "devices", &devs) && json_object_is_type(devs, json_type_array))
                for (size_t i = 0; i < json_object_array_length(devs); i++) {
                        json_object *d = json_object_array_get_idx(devs, i);
                        const char *slot = jstr(d, "slot"), *st = jstr(d, "state"), *mode = jstr(d, "mode"), *drv;
                        char name[32];
                        HeldDevice *h;
                        PciAddress a;

                        if (!slot || pci_address_parse_full(slot, &a) < 0 || !st)
                                continue;
                        DeviceState state_v = device_state_from_string(st);
                        if (state_v == DEVICE_STATE_QUARANTINED) {
                                engine_fdname_for_slot(slot, name);
                                fd = fd_lookup(ud, name);
                                if ((e->kind == ENGINE_KIND_IOMMUFD && e->iommufd < 0) || !fd_is_char_device(fd)) {
                                        /* Its fd is gone (a clean stop empties the store unless
                                         * systemd ≥ 254 preserves it): the device fell back to its
                                         * default domain. */
                                        if (fd >= 0)
                                                safe_close(fd);
                                        if (strv_extend(&lost, slot) < 0)
                                                return -ENOMEM;
                                        continue;
                                }
                        } else if (state_v == DEVICE_STATE_RELEASED)
                                fd = -EBADF;
                        else
                                continue;

                        h = engine_add(e, slot);
                        if (!h)
                                return -ENOMEM;
                        h->fd = fd;
                        if (e->kind == ENGINE_KIND_LEGACY && fd >= 0) {
                                int cfd;
                                engine_fdname_container_for_slot(slot, name);
                                cfd = fd_lookup(ud, name);
                                h->container_fd = fd_is_char_device(cfd) ? cfd : safe_close(cfd);
                                h->type1 = jbool(d, "type1");
                        }
                        h->state = state_v;
                        h->group = jint(d, "group", -1);
                        h->mode = mode && quarantine_mode_from_string(mode) >= 0 ? quarantine_mode_from_string(mode)
                                                                                 : QUARANTINE_MODE_BLOCKED;
                        h->dev_id = (uint32_t) juint(d, "dev_id");
                        h->pt_id = (uint32_t) juint(d, "pt_id");
                        drv = jstr(d, "host_driver");
                        h->host_driver = drv ? strdup(drv) : NULL;
                        h->group_type_changed = jbool(d, "group_type_changed");
                        h->reset_works = jbool(d, "reset_works");
                        h->since = juint(d, "since");
                        h->cover = juint(d, "cover");
                        h->cover_wanted = juint(d, "cover_wanted") ?: h->cover;
                        h->degraded = (unsigned) jint(d, "degraded", 0);
                        h->group_type_error = jint(d, "group_type_error", 0);
                        h->bus_master_error = jint(d, "bus_master_error", 0);
                        h->detach_error = jint(d, "detach_error", 0);
                        if (e->kind == ENGINE_KIND_IOMMUFD && h->fd >= 0 && h->mode == QUARANTINE_MODE_BLOCKED &&
                            h->pt_id != 0) {
                                /* Held by a version that attached blocked devices to an empty IOAS (a
                                 * paging domain, ATS on): to the blocking domain now. */
                                int q = e->ops->detach(e->ops_data, h->fd);
                                if (q >= 0)
                                        h->pt_id = 0;
                                else {
                                        h->degraded |= DEGRADED_PAGING_DOMAIN;
                                        h->detach_error = q;
                                }
                        }
                }
        if (ret_lost)
                *ret_lost = TAKE_PTR(lost);
        return 0;
}
