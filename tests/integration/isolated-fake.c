/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's test backend (isolated-fake, only with --root): the engine's side effects act on a copy
 * of a snapshot instead of the kernel. Driver links, driver_override and group types are files and
 * symlinks in that tree, the VFIO cdevs and iommufd are /dev/null, and failures can be injected with
 * ISOLATE_FAKE_BIND_ERROR=SLOT=ERRNO[,SLOT=ERRNO...] (errno as a number). It lets the D-Bus
 * behaviour, the policy decisions and the persistence be tested anywhere; the real side effects are
 * tested on a real kernel in the VM tier. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "isolated.h"
#include "pci-address.h"
#include "pci-driver.h"
#include "quarantine.h"
#include "strv.h"
#include "time-util.h"

typedef struct Fake {
        char *root;
        uint32_t next_id;
        struct {
                int fd;
                char slot[PCI_ADDRESS_MAX];
                bool bound;
        } fds[256];
        uint8_t scratch[4096];
} Fake;

static void *fake_ops_new(const char *root) {
        Fake *f = calloc(1, sizeof(Fake));
        if (!f)
                return NULL;
        f->root = strdup(strempty(root));
        f->next_id = 1;
        for (size_t i = 0; i < ELEMENTSOF(f->fds); i++)
                f->fds[i].fd = -1;
        return f;
}

static void fake_ops_free(void *data) {
        Fake *f = data;
        if (!f)
                return;
        free(f->root);
        free(f);
}

static char *path_of(Fake *f, const char *fmt, const char *a) {
        char *rel, *p;
        if (asprintf(&rel, fmt, a) < 0)
                return NULL;
        if (asprintf(&p, "%s%s", f->root, rel) < 0)
                p = NULL;
        free(rel);
        return p;
}

static int f_driver(void *ud, const char *slot, char **ret) {
        Fake *f = ud;
        return pci_sysfs_driver(f->root, slot, ret);
}

static int f_set_driver_override(void *ud, const char *slot, const char *driver) {
        Fake *f = ud;
        _cleanup_free_ char *p = path_of(f, "/sys/bus/pci/devices/%s/driver_override", slot);
        _cleanup_close_ int fd = -EBADF;
        const char *v = isempty(driver) ? "(null)\n" : driver;

        if (!p)
                return -ENOMEM;
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return negative_errno();
        return write(fd, v, strlen(v)) == (ssize_t) strlen(v) ? 0 : -EIO;
}

static int f_unbind(void *ud, const char *slot, const char *driver) {
        Fake *f = ud;
        _cleanup_free_ char *cur = NULL, *link = path_of(f, "/sys/bus/pci/devices/%s/driver", slot);
        int r;

        if (!link)
                return -ENOMEM;
        r = pci_sysfs_driver(f->root, slot, &cur);
        if (r < 0)
                return r;
        if (!cur || !streq(cur, driver))
                return -ENODEV; /* the kernel: "No such device" when it is not bound to that driver */
        return unlink(link) < 0 ? negative_errno() : 0;
}

static int f_bind(void *ud, const char *slot, const char *driver) {
        Fake *f = ud;
        _cleanup_free_ char *link = path_of(f, "/sys/bus/pci/devices/%s/driver", slot), *dir = NULL, *cur = NULL;

        if (!link)
                return -ENOMEM;
        if (pci_sysfs_driver(f->root, slot, &cur) > 0)
                return -EBUSY;
        dir = path_of(f, "/sys/bus/pci/drivers/%s", driver);
        if (!dir || mkdir_p(dir, 0755) < 0)
                return -EIO;
        return symlink(dir, link) < 0 ? negative_errno() : 0;
}

static int f_drivers_probe(void *ud, const char *slot) {
        Fake *f = ud;
        _cleanup_free_ char *p = path_of(f, "/sys/bus/pci/devices/%s/driver_override", slot), *v = NULL;

        if (!p)
                return -ENOMEM;
        if (read_one_line_file(p, &v) < 0 || isempty(v) || streq(v, "(null)"))
                return -ENODEV; /* no driver for it in this fake world */
        return f_bind(ud, slot, v);
}

static int f_group_type(void *ud, int group, char **ret) {
        Fake *f = ud;
        return pci_sysfs_group_type(f->root, group, ret);
}

static int f_set_group_type(void *ud, int group, const char *type) {
        Fake *f = ud;
        _cleanup_free_ char *devs = NULL, *p = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        char g[16];

        snprintf(g, sizeof(g), "%d", group);
        devs = path_of(f, "/sys/kernel/iommu_groups/%s/devices", g);
        if (!devs)
                return -ENOMEM;
        /* the kernel refuses while any member is bound to a driver */
        d = opendir(devs);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *drv = NULL;
                if (de->d_name[0] != '.' && pci_sysfs_driver(f->root, de->d_name, &drv) > 0)
                        return -EBUSY;
        }
        p = path_of(f, "/sys/kernel/iommu_groups/%s/type", g);
        if (!p)
                return -ENOMEM;
        _cleanup_close_ int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return write(fd, type, strlen(type)) == (ssize_t) strlen(type) ? 0 : -EIO;
}

static int f_iommu_group(void *ud, const char *slot, int *ret) {
        Fake *f = ud;
        return quarantine_ops_kernel.iommu_group(f->root, slot, ret);
}

static int f_disable_bus_master(void *ud, const char *slot) {
        Fake *f = ud;
        return quarantine_ops_kernel.disable_bus_master(f->root, slot);
}

static int f_enabled(void *ud, const char *slot, bool *ret) {
        Fake *f = ud;
        int r = quarantine_ops_kernel.enabled(f->root, slot, ret);
        if (r == -ENOENT) {
                *ret = false;
                return 0;
        }
        return r;
}

static int f_group_name(void *ud, int group, char **ret) {
        Fake *f = ud;
        return quarantine_ops_kernel.group_name(f->root, group, ret);
}

static int open_null(int *ret) {
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

static int f_iommufd_open(void *ud, int *ret) {
        return open_null(ret);
}

static int f_ioas_alloc(void *ud, int fd, uint32_t *ret) {
        Fake *f = ud;
        *ret = f->next_id++;
        return 0;
}

static int f_ioas_iova_ranges(void *ud, int fd, uint32_t ioas, IovaRange **ret, size_t *ret_n,
                              uint64_t *ret_alignment) {
        IovaRange *r = calloc(1, sizeof(IovaRange));
        if (!r)
                return -ENOMEM;
        *r = (IovaRange) { 0, (UINT64_C(1) << 48) - 1 };
        *ret = r;
        *ret_n = 1;
        if (ret_alignment)
                *ret_alignment = 4096;
        return 0;
}

/* A placeholder memfd, nothing to map. */
static int f_scratch_adopt(void *ud, Scratch *s, int memfd, bool huge) {
        s->memfd = memfd;
        s->huge = huge;
        return 0;
}

static void f_scratch_release(void *ud, Scratch *s) {
        s->memfd = safe_close(s->memfd);
        s->va = NULL;
}

static int f_scratch_alloc(void *ud, Scratch *s) {
        Fake *f = ud;
        int r = open_null(&s->memfd);
        if (r < 0)
                return r;
        s->va = f->scratch;
        s->size = sizeof(f->scratch);
        /* ISOLATE_FAKE_NO_HUGEPAGES=1: as on a host with no free huge page (the cover is capped). */
        s->huge = !getenv("ISOLATE_FAKE_NO_HUGEPAGES");
        return 0;
}

static int f_scratch_extend(void *ud, Scratch *s, int fd, uint64_t cover, const IovaRange *allowed, size_t n) {
        if (!s->huge)
                cover = MIN(cover, SCRATCH_SMALL_MAX_COVER);
        s->covered = MAX(s->covered, cover);
        s->ioctls++;
        return 0;
}

static int injected_bind_error(const char *slot) {
        const char *spec = getenv("ISOLATE_FAKE_BIND_ERROR");
        _cleanup_strv_free_ char **items = NULL;

        if (!spec || strv_split(spec, ",", &items) < 0)
                return 0;
        STRV_FOREACH(i, items) {
                const char *eq = strrchr(*i, '=');
                if (eq && strneq(*i, slot, (size_t) (eq - *i)) && strlen(slot) == (size_t) (eq - *i))
                        return -atoi(eq + 1);
        }
        return 0;
}

static int f_cdev_open(void *ud, const char *slot, int *ret) {
        Fake *f = ud;
        _cleanup_free_ char *drv = NULL;
        int r;

        if (pci_sysfs_driver(f->root, slot, &drv) <= 0 || !streq(drv, "vfio-pci"))
                return -ENOENT;
        r = open_null(ret);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(f->fds); i++)
                if (f->fds[i].fd < 0) {
                        f->fds[i].fd = *ret;
                        snprintf(f->fds[i].slot, sizeof(f->fds[i].slot), "%s", slot);
                        f->fds[i].bound = false;
                        return 0;
                }
        close(*ret);
        return -EMFILE;
}

static int f_bind_iommufd(void *ud, int dfd, int ifd, uint32_t *ret) {
        Fake *f = ud;
        const char *slot = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(f->fds); i++)
                if (f->fds[i].fd == dfd)
                        slot = f->fds[i].slot;
        if (!slot)
                return -EBADF;
        r = injected_bind_error(slot);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(f->fds); i++)
                if (f->fds[i].fd >= 0 && f->fds[i].fd != dfd && f->fds[i].bound && streq(f->fds[i].slot, slot))
                        return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(f->fds); i++)
                if (f->fds[i].fd == dfd)
                        f->fds[i].bound = true;
        *ret = f->next_id++;
        return 0;
}

static int f_ok_attach(void *ud, int dfd, uint32_t pt) {
        return 0;
}

static int f_ok_detach(void *ud, int dfd) {
        return 0;
}

static int f_get_info(void *ud, int dfd, uint32_t *ret_flags) {
        *ret_flags = 0;
        return 0;
}

/* Nothing ever asks to unbind vfio-pci here: the channel is accepted and stays silent. */
static int f_set_req_eventfd(void *ud, int dfd, int efd) {
        return 0;
}
static int f_reset(void *ud, int dfd) {
        return 0;
}

static int f_config_read(void *ud, int dfd, uint32_t off, void *buf, size_t n) {
        memset(buf, 0, n);
        return 0;
}

static int f_config_write(void *ud, int dfd, uint32_t off, const void *buf, size_t n) {
        return 0;
}

static void f_close(void *ud, int fd) {
        Fake *f = ud;
        for (size_t i = 0; i < ELEMENTSOF(f->fds); i++)
                if (f->fds[i].fd == fd)
                        f->fds[i].fd = -1;
        safe_close(fd);
}

static uint64_t f_now(void *ud) {
        return now_realtime_usec();
}

static const QuarantineOps quarantine_ops_fake = {
        .driver = f_driver,
        .set_driver_override = f_set_driver_override,
        .unbind = f_unbind,
        .bind = f_bind,
        .drivers_probe = f_drivers_probe,
        .group_type = f_group_type,
        .set_group_type = f_set_group_type,
        .iommu_group = f_iommu_group,
        .disable_bus_master = f_disable_bus_master,
        .enabled = f_enabled,
        .group_name = f_group_name,
        .iommufd_open = f_iommufd_open,
        .ioas_alloc = f_ioas_alloc,
        .ioas_iova_ranges = f_ioas_iova_ranges,
        .scratch_extend = f_scratch_extend,
        .scratch_alloc = f_scratch_alloc,
        .scratch_adopt = f_scratch_adopt,
        .scratch_release = f_scratch_release,
        .cdev_open = f_cdev_open,
        .bind_iommufd = f_bind_iommufd,
        .attach = f_ok_attach,
        .detach = f_ok_detach,
        .get_info = f_get_info,
        .reset = f_reset,
        .set_req_eventfd = f_set_req_eventfd,
        .config_read = f_config_read,
        .config_write = f_config_write,
        .close = f_close,
        .now = f_now,
};

/* isolated with these operations: the same command line as isolated, --root required. */
int main(int argc, char *argv[]) {
        static const EngineBackend fake = {
                .ops = &quarantine_ops_fake,
                .new = fake_ops_new,
                .free = fake_ops_free,
        };
        return isolated_main(argc, argv, &fake);
}
