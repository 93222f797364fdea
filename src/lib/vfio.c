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

/* ---- the legacy group/container interface ---------------------------------------------- */

int vfio_group_open(int group, int *ret_fd) {
        char node[32];
        int fd;

        assert(ret_fd);

        if (group < 0)
                return -EINVAL;
        snprintf(node, sizeof(node), "/dev/vfio/%d", group);
        fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

int vfio_group_viable(int group_fd, bool *ret) {
        struct vfio_group_status status = { .argsz = sizeof(status) };

        assert(ret);

        if (ioctl(group_fd, VFIO_GROUP_GET_STATUS, &status) < 0)
                return negative_errno();
        *ret = status.flags & VFIO_GROUP_FLAGS_VIABLE;
        return 0;
}

int vfio_container_open(int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        assert(ret_fd);

        fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        r = ioctl(fd, VFIO_GET_API_VERSION);
        if (r < 0)
                return negative_errno();
        if (r != VFIO_API_VERSION)
                return -EPROTO;
        r = ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU);
        if (r < 0)
                return negative_errno();
        if (r == 0)
                return -EOPNOTSUPP;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int vfio_group_set_container(int group_fd, int container_fd) {
        return RET_NERRNO(ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container_fd));
}

int vfio_container_set_iommu(int container_fd) {
        return RET_NERRNO(ioctl(container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
}

int vfio_type1_iova_ranges(int container_fd, IovaRange **ret, size_t *ret_n, uint64_t *ret_min_page) {
        struct vfio_iommu_type1_info probe = { .argsz = sizeof(probe) };
        _cleanup_free_ struct vfio_iommu_type1_info *info = NULL;
        _cleanup_free_ IovaRange *out = NULL;
        size_t n = 0;

        assert(ret);
        assert(ret_n);

        if (ioctl(container_fd, VFIO_IOMMU_GET_INFO, &probe) < 0)
                return negative_errno();
        if (probe.argsz < sizeof(probe) || probe.argsz > 1 << 20)
                return -EBADMSG;
        info = calloc(1, probe.argsz);
        if (!info)
                return -ENOMEM;
        info->argsz = probe.argsz;
        if (ioctl(container_fd, VFIO_IOMMU_GET_INFO, info) < 0)
                return negative_errno();

        if ((info->flags & VFIO_IOMMU_INFO_CAPS) && info->cap_offset >= sizeof(*info))
                for (uint32_t off = info->cap_offset; off != 0;) {
                        const struct vfio_info_cap_header *h;

                        if (off + sizeof(*h) > info->argsz)
                                return -EBADMSG;
                        h = (const struct vfio_info_cap_header *) ((const uint8_t *) info + off);
                        if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
                                const struct vfio_iommu_type1_info_cap_iova_range *c = (const void *) h;
                                if (off + sizeof(*c) > info->argsz ||
                                    off + sizeof(*c) + (size_t) c->nr_iovas * sizeof(c->iova_ranges[0]) > info->argsz)
                                        return -EBADMSG;
                                out = calloc(c->nr_iovas ?: 1, sizeof(IovaRange));
                                if (!out)
                                        return -ENOMEM;
                                for (uint32_t i = 0; i < c->nr_iovas; i++)
                                        out[i] = (IovaRange) { c->iova_ranges[i].start, c->iova_ranges[i].end };
                                n = c->nr_iovas;
                        }
                        if (h->next != 0 && h->next <= off)
                                return -EBADMSG;
                        off = h->next;
                }
        if (!out) {
                out = calloc(1, sizeof(IovaRange));
                if (!out)
                        return -ENOMEM;
                out[0] = (IovaRange) { 0, UINT64_MAX };
                n = 1;
        }
        if (ret_min_page)
                *ret_min_page = (info->flags & VFIO_IOMMU_INFO_PGSIZES) && info->iova_pgsizes != 0
                                        ? info->iova_pgsizes & -info->iova_pgsizes
                                        : 0;
        *ret = TAKE_PTR(out);
        *ret_n = n;
        return 0;
}

int vfio_type1_map(int container_fd, const void *va, uint64_t length, uint64_t iova, bool writable) {
        struct vfio_iommu_type1_dma_map map = {
                .argsz = sizeof(map),
                .flags = VFIO_DMA_MAP_FLAG_READ | (writable ? VFIO_DMA_MAP_FLAG_WRITE : 0),
                .vaddr = (uintptr_t) va,
                .iova = iova,
                .size = length,
        };
        return RET_NERRNO(ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &map));
}

int vfio_type1_unmap(int container_fd, uint64_t iova, uint64_t length) {
        struct vfio_iommu_type1_dma_unmap unmap = {
                .argsz = sizeof(unmap),
                .iova = iova,
                .size = length,
        };
        return RET_NERRNO(ioctl(container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap));
}

int vfio_type1_unmap_all(int container_fd) {
        struct vfio_iommu_type1_dma_unmap unmap = {
                .argsz = sizeof(unmap),
                .flags = VFIO_DMA_UNMAP_FLAG_ALL,
        };
        return RET_NERRNO(ioctl(container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap));
}
