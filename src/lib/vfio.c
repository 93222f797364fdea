/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "fileio.h"
#include "macro.h"
#include "vfio.h"

static char *pathf(const char *fmt, ...) _printf_(1, 2);
static char *pathf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : p;
}

int vfio_cdev_open(const char *root, const char *slot, int *ret_fd) {
        _cleanup_free_ char *dir = pathf("%s/sys/bus/pci/devices/%s/vfio-dev", strempty(root), slot);
        _cleanup_free_ char *name = NULL, *devnum = NULL, *devfile = NULL, *node = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        unsigned maj, min;
        struct stat st;
        int r;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? -ENOENT : negative_errno();
        while ((de = readdir(d)))
                if (strneq(de->d_name, "vfio", 4)) {
                        name = strdup(de->d_name);
                        if (!name)
                                return -ENOMEM;
                        break;
                }
        if (!name)
                return -ENOENT;

        if (asprintf(&devfile, "%s/%s/dev", dir, name) < 0)
                return -ENOMEM;
        r = read_one_line_file(devfile, &devnum);
        if (r < 0)
                return r;
        if (sscanf(devnum, "%u:%u", &maj, &min) != 2)
                return -EBADMSG;

        if (asprintf(&node, "/dev/vfio/devices/%s", name) < 0)
                return -ENOMEM;
        fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(maj, min))
                return -ESTALE;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int vfio_device_bind_iommufd(int device_fd, int iommufd, uint32_t *ret_dev_id) {
        /* argsz 16 and flags 0 work on every kernel since 6.6 (newer ones add a token pointer). */
        struct vfio_device_bind_iommufd cmd = {
                .argsz = 16,
                .flags = 0,
                .iommufd = iommufd,
        };

        /* EPERM: the group's MSIs are not isolated (and iommufd's allow_unsafe_interrupts is off), or
         * another owner (a DMA-API driver on a group member, another iommufd) holds the group.
         * EINVAL: already opened through another fd, or firmware requires a 1:1 mapping (RMRR).
         * EBUSY: the legacy group node /dev/vfio/N is open. ENODEV: no IOMMU group. */
        if (ioctl(device_fd, VFIO_DEVICE_BIND_IOMMUFD, &cmd) < 0)
                return negative_errno();
        *ret_dev_id = cmd.out_devid;
        return 0;
}

int vfio_device_attach_pt(int device_fd, uint32_t pt_id, uint32_t *ret_pt_id) {
        struct vfio_device_attach_iommufd_pt cmd = {
                .argsz = sizeof(cmd),
                .pt_id = pt_id,
        };

        /* EINVAL: another device of the group is attached to a different page table. */
        if (ioctl(device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd) < 0)
                return negative_errno();
        if (ret_pt_id)
                *ret_pt_id = cmd.pt_id;
        return 0;
}

int vfio_device_detach_pt(int device_fd) {
        struct vfio_device_detach_iommufd_pt cmd = {
                .argsz = sizeof(cmd),
        };

        return RET_NERRNO(ioctl(device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd));
}

int vfio_device_get_info(int device_fd, uint32_t *ret_flags, uint32_t *ret_num_regions, uint32_t *ret_num_irqs) {
        struct vfio_device_info cmd = {
                .argsz = sizeof(cmd),
        };

        if (ioctl(device_fd, VFIO_DEVICE_GET_INFO, &cmd) < 0)
                return negative_errno();
        if (ret_flags)
                *ret_flags = cmd.flags;
        if (ret_num_regions)
                *ret_num_regions = cmd.num_regions;
        if (ret_num_irqs)
                *ret_num_irqs = cmd.num_irqs;
        return 0;
}

int vfio_device_reset(int device_fd) {
        return RET_NERRNO(ioctl(device_fd, VFIO_DEVICE_RESET));
}

int vfio_device_set_req_eventfd(int device_fd, int efd) {
        char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)] = {};
        struct vfio_irq_set *cmd = (struct vfio_irq_set *) buf;
        int32_t fd = efd;

        *cmd = (struct vfio_irq_set) {
                .argsz = sizeof(buf),
                .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
                .index = VFIO_PCI_REQ_IRQ_INDEX,
                .start = 0,
                .count = 1,
        };
        /* fd -1 de-assigns the trigger */
        memcpy(cmd->data, &fd, sizeof(fd));
        return RET_NERRNO(ioctl(device_fd, VFIO_DEVICE_SET_IRQS, cmd));
}

static int config_region(int device_fd, uint64_t *ret_offset, uint64_t *ret_size) {
        struct vfio_region_info cmd = {
                .argsz = sizeof(cmd),
                .index = VFIO_PCI_CONFIG_REGION_INDEX,
        };

        assert(ret_offset);
        assert(ret_size);

        if (ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, &cmd) < 0)
                return negative_errno();
        *ret_offset = cmd.offset;
        *ret_size = cmd.size;
        return 0;
}

/* One access to the config space region; buf is read into or written from. */
static int config_access(int device_fd, uint32_t offset, void *buf, size_t size, bool is_write) {
        uint64_t base, len;
        ssize_t n;
        int r;

        r = config_region(device_fd, &base, &len);
        if (r < 0)
                return r;
        if (offset + size > len)
                return -ERANGE;
        n = is_write ? pwrite(device_fd, buf, size, (off_t) (base + offset))
                     : pread(device_fd, buf, size, (off_t) (base + offset));
        if (n < 0)
                return negative_errno();
        return (size_t) n == size ? 0 : -EIO;
}

int vfio_device_config_read(int device_fd, uint32_t offset, void *buf, size_t size) {
        return config_access(device_fd, offset, buf, size, false);
}

int vfio_device_config_write(int device_fd, uint32_t offset, const void *buf, size_t size) {
        return config_access(device_fd, offset, (void *) buf, size, true);
}
