/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The honest floor of a capture on unbind (see floor.h): raw syscalls and ioctls, no libisolate. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <libudev.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "bench.h"
#include "floor.h"

const char *const floor_step_name[_FLOOR_STEP_MAX] = {
        [FLOOR_UNBIND] = "unbind write returned",
        [FLOOR_EVENT] = "unbind uevent received",
        [FLOOR_OVERRIDE] = "driver_override=vfio-pci",
        [FLOOR_PROBE] = "drivers_probe (vfio-pci bound)",
        [FLOOR_OPEN] = "open /dev/vfio/devices/vfioN",
        [FLOOR_BIND] = "VFIO_DEVICE_BIND_IOMMUFD (blocked)",
        [FLOOR_ATTACH] = "VFIO_DEVICE_ATTACH_IOMMUFD_PT (attached)",
};

#define MAX_HELD 256

struct Floor {
        struct udev *udev;
        struct udev_monitor *mon;
        int iommufd;
        uint32_t ioas;
        bool attach;
        struct {
                char slot[32];
                int fd;
        } held[MAX_HELD];
};

int bench_write_file(const char *path, const char *s) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t k;
        if (fd < 0)
                return -errno;
        k = write(fd, s, strlen(s));
        if (k < 0)
                k = -errno;
        close(fd);
        return k < 0 ? (int) k : k == (ssize_t) strlen(s) ? 0 : -EIO;
}

static void drain(Floor *f) {
        struct udev_device *d;
        while ((d = udev_monitor_receive_device(f->mon)))
                udev_device_unref(d);
}

int floor_new(bool attach, Floor **ret) {
        Floor *f = calloc(1, sizeof(Floor));
        if (!f)
                return -ENOMEM;
        f->attach = attach;
        for (size_t i = 0; i < MAX_HELD; i++)
                f->held[i].fd = -1;
        f->udev = udev_new();
        f->mon = f->udev ? udev_monitor_new_from_netlink(f->udev, "kernel") : NULL;
        if (!f->mon || udev_monitor_filter_add_match_subsystem_devtype(f->mon, "pci", NULL) < 0 ||
            udev_monitor_enable_receiving(f->mon) < 0) {
                fprintf(stderr, "floor: cannot listen to the kernel's uevents\n");
                floor_free(f);
                return -EIO;
        }
        (void) udev_monitor_set_receive_buffer_size(f->mon, 4 * 1024 * 1024);
        f->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
        if (f->iommufd < 0) {
                int r = -errno;
                fprintf(stderr, "floor: /dev/iommu: %s\n", strerror(errno));
                floor_free(f);
                return r;
        }
        if (attach) {
                struct iommu_ioas_alloc a = { .size = sizeof(a) };
                if (ioctl(f->iommufd, IOMMU_IOAS_ALLOC, &a) < 0) {
                        int r = -errno;
                        fprintf(stderr, "floor: IOMMU_IOAS_ALLOC: %s\n", strerror(errno));
                        floor_free(f);
                        return r;
                }
                f->ioas = a.out_ioas_id;
        }
        *ret = f;
        return 0;
}

void floor_free(Floor *f) {
        if (!f)
                return;
        for (size_t i = 0; i < MAX_HELD; i++)
                if (f->held[i].fd >= 0)
                        close(f->held[i].fd);
        if (f->iommufd >= 0)
                close(f->iommufd);
        udev_monitor_unref(f->mon);
        udev_unref(f->udev);
        free(f);
}

static int *held_fd(Floor *f, const char *slot, bool add) {
        for (size_t i = 0; i < MAX_HELD; i++)
                if (f->held[i].fd >= 0 && strcmp(f->held[i].slot, slot) == 0)
                        return &f->held[i].fd;
        if (add)
                for (size_t i = 0; i < MAX_HELD; i++)
                        if (f->held[i].fd < 0) {
                                snprintf(f->held[i].slot, sizeof(f->held[i].slot), "%s", slot);
                                return &f->held[i].fd;
                        }
        return NULL;
}

/* Waits for the kernel's unbind uevent of slot (other devices' events are skipped). */
static int wait_unbind(Floor *f, const char *slot) {
        struct pollfd p = { .fd = udev_monitor_get_fd(f->mon), .events = POLLIN };
        for (;;) {
                struct udev_device *d = udev_monitor_receive_device(f->mon);
                if (d) {
                        const char *a = udev_device_get_action(d), *n = udev_device_get_sysname(d);
                        bool hit = a && n && strcmp(a, "unbind") == 0 && strcmp(n, slot) == 0;
                        udev_device_unref(d);
                        if (hit)
                                return 0;
                        continue;
                }
                int r = poll(&p, 1, 20000);
                if (r == 0)
                        return -ETIMEDOUT;
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

/* From the override on: what both takes share. */
static int take_rest(Floor *f, const char *slot, uint64_t t0, uint64_t t[_FLOOR_STEP_MAX], bool probe) {
        char path[PATH_MAX], node[PATH_MAX] = "";
        struct dirent *de;
        DIR *dir;
        int fd, r, *slotfd;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", slot);
        r = bench_write_file(path, "vfio-pci");
        if (r < 0)
                return fprintf(stderr, "floor: %s: %s\n", path, strerror(-r)), r;
        t[FLOOR_OVERRIDE] = bench_now_ns() - t0;
        if (probe) {
                r = bench_write_file("/sys/bus/pci/drivers_probe", slot);
                if (r < 0)
                        return fprintf(stderr, "floor: drivers_probe %s: %s\n", slot, strerror(-r)), r;
        }
        t[FLOOR_PROBE] = bench_now_ns() - t0;

        /* N from /sys/bus/pci/devices/SLOT/vfio-dev/vfioN */
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", slot);
        dir = opendir(path);
        if (!dir)
                return fprintf(stderr, "floor: %s: %s\n", path, strerror(errno)), -errno;
        while ((de = readdir(dir)))
                if (strncmp(de->d_name, "vfio", 4) == 0) {
                        snprintf(node, sizeof(node), "/dev/vfio/devices/%s", de->d_name);
                        break;
                }
        closedir(dir);
        if (!node[0])
                return fprintf(stderr, "floor: %s has no vfio-dev\n", slot), -ENOENT;
        fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return fprintf(stderr, "floor: %s: %s\n", node, strerror(errno)), -errno;
        t[FLOOR_OPEN] = bench_now_ns() - t0;

        struct vfio_device_bind_iommufd bind = { .argsz = 16, .iommufd = f->iommufd };
        if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
                r = -errno;
                close(fd);
                return fprintf(stderr, "floor: VFIO_DEVICE_BIND_IOMMUFD %s: %s\n", slot, strerror(-r)), r;
        }
        t[FLOOR_BIND] = bench_now_ns() - t0;
        if (f->attach) {
                struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = f->ioas };
                if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0) {
                        r = -errno;
                        close(fd);
                        return fprintf(stderr, "floor: VFIO_DEVICE_ATTACH_IOMMUFD_PT %s: %s\n", slot, strerror(-r)), r;
                }
        }
        t[FLOOR_ATTACH] = bench_now_ns() - t0;

        slotfd = held_fd(f, slot, true);
        if (!slotfd) {
                close(fd);
                return -ENOSPC;
        }
        *slotfd = fd;
        return 0;
}

int floor_take(Floor *f, const char *slot, const char *driver, uint64_t t[_FLOOR_STEP_MAX]) {
        char path[PATH_MAX];
        uint64_t t0;
        int r;

        drain(f);
        snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", driver);
        t0 = bench_now_ns();
        r = bench_write_file(path, slot);
        if (r < 0)
                return fprintf(stderr, "floor: unbind %s from %s: %s\n", slot, driver, strerror(-r)), r;
        t[FLOOR_UNBIND] = bench_now_ns() - t0;
        r = wait_unbind(f, slot);
        if (r < 0)
                return fprintf(stderr, "floor: no unbind uevent for %s: %s\n", slot, strerror(-r)), r;
        t[FLOOR_EVENT] = bench_now_ns() - t0;
        return take_rest(f, slot, t0, t, true);
}

int floor_take_driverless(Floor *f, const char *slot, uint64_t t[_FLOOR_STEP_MAX]) {
        char path[PATH_MAX], link[PATH_MAX];
        uint64_t t0 = bench_now_ns();
        ssize_t k;

        t[FLOOR_UNBIND] = t[FLOOR_EVENT] = 0;
        /* already on vfio-pci (bound by someone else): no probe, as isolated does */
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", slot);
        k = readlink(path, link, sizeof(link) - 1);
        link[k > 0 ? k : 0] = 0;
        return take_rest(f, slot, t0, t,
                         !(k > 0 && strcmp(strrchr(link, '/') ? strrchr(link, '/') + 1 : link, "vfio-pci") == 0));
}

int floor_give_back(Floor *f, const char *slot, const char *driver) {
        char path[PATH_MAX];
        int *fd = held_fd(f, slot, false), r;

        if (fd) {
                close(*fd);
                *fd = -1;
        }
        if (driver) {
                r = bench_write_file("/sys/bus/pci/drivers/vfio-pci/unbind", slot);
                if (r < 0)
                        return fprintf(stderr, "floor: unbind %s from vfio-pci: %s\n", slot, strerror(-r)), r;
                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", slot);
                r = bench_write_file(path, driver);
                if (r >= 0)
                        r = bench_write_file("/sys/bus/pci/drivers_probe", slot);
                if (r < 0)
                        return fprintf(stderr, "floor: back to %s for %s: %s\n", driver, slot, strerror(-r)), r;
        }
        drain(f);
        return 0;
}
