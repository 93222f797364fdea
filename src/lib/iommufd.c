/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "iommufd.h"
#include "macro.h"

int iommufd_open(int *ret_fd) {
        int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

int iommufd_ioas_alloc(int fd, uint32_t *ret_ioas_id) {
        struct iommu_ioas_alloc cmd = {
                .size = sizeof(cmd),
        };

        if (ioctl(fd, IOMMU_IOAS_ALLOC, &cmd) < 0)
                return negative_errno();
        *ret_ioas_id = cmd.out_ioas_id;
        return 0;
}

int iommufd_destroy(int fd, uint32_t id) {
        struct iommu_destroy cmd = {
                .size = sizeof(cmd),
                .id = id,
        };

        /* EBUSY: the object is still in use (an IOAS with attached devices). */
        return RET_NERRNO(ioctl(fd, IOMMU_DESTROY, &cmd));
}

int iommufd_ioas_map_fixed(int fd, uint32_t ioas_id, void *va, uint64_t length, uint64_t iova, uint32_t flags) {
        struct iommu_ioas_map cmd = {
                .size = sizeof(cmd),
                .flags = flags | IOMMU_IOAS_MAP_FIXED_IOVA,
                .ioas_id = ioas_id,
                .user_va = (uintptr_t) va,
                .length = length,
                .iova = iova,
        };

        /* EEXIST: something is mapped in the range already (fixed IOVAs never replace). */
        return RET_NERRNO(ioctl(fd, IOMMU_IOAS_MAP, &cmd));
}

int iommufd_ioas_copy(int fd, uint32_t dst_ioas_id, uint32_t src_ioas_id, uint64_t length, uint64_t dst_iova,
                      uint64_t src_iova, uint32_t flags) {
        struct iommu_ioas_copy cmd = {
                .size = sizeof(cmd),
                .flags = flags | IOMMU_IOAS_MAP_FIXED_IOVA,
                .dst_ioas_id = dst_ioas_id,
                .src_ioas_id = src_ioas_id,
                .length = length,
                .dst_iova = dst_iova,
                .src_iova = src_iova,
        };

        /* ENOENT: the source range is not (contiguously) mapped. */
        return RET_NERRNO(ioctl(fd, IOMMU_IOAS_COPY, &cmd));
}

int iommufd_ioas_unmap(int fd, uint32_t ioas_id, uint64_t iova, uint64_t length, uint64_t *ret_unmapped) {
        struct iommu_ioas_unmap cmd = {
                .size = sizeof(cmd),
                .ioas_id = ioas_id,
                .iova = iova,
                .length = length == 0 && iova == 0 ? UINT64_MAX : length,
        };

        /* ENOENT: no mapping starts in the range (QEMU treats it as "already unmapped"). */
        if (ioctl(fd, IOMMU_IOAS_UNMAP, &cmd) < 0)
                return negative_errno();
        if (ret_unmapped)
                *ret_unmapped = cmd.length;
        return 0;
}

int iommufd_ioas_iova_ranges(int fd, uint32_t ioas_id, IovaRange **ret, size_t *ret_n, uint64_t *ret_alignment) {
        _cleanup_free_ struct iommu_iova_range *ranges = NULL;
        uint32_t n = 4;

        for (;;) {
                struct iommu_ioas_iova_ranges cmd;

                free(ranges);
                ranges = calloc(n, sizeof(*ranges));
                if (!ranges)
                        return -ENOMEM;
                cmd = (struct iommu_ioas_iova_ranges) {
                        .size = sizeof(cmd),
                        .ioas_id = ioas_id,
                        .num_iovas = n,
                        .allowed_iovas = (uintptr_t) ranges,
                };
                if (ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd) < 0) {
                        /* EMSGSIZE: the array was too small; num_iovas says how many there are. */
                        if (errno == EMSGSIZE && cmd.num_iovas > n) {
                                n = cmd.num_iovas;
                                continue;
                        }
                        return negative_errno();
                }
                IovaRange *out = calloc(cmd.num_iovas ?: 1, sizeof(IovaRange));
                if (!out)
                        return -ENOMEM;
                for (uint32_t i = 0; i < cmd.num_iovas; i++)
                        out[i] = (IovaRange) { .start = ranges[i].start, .last = ranges[i].last };
                *ret = out;
                *ret_n = cmd.num_iovas;
                if (ret_alignment)
                        *ret_alignment = cmd.out_iova_alignment;
                return 0;
        }
}

int iommufd_get_hw_info(int fd, uint32_t dev_id, uint32_t *ret_type, void *data, uint32_t size) {
        struct iommu_hw_info cmd = {
                .size = sizeof(cmd),
                .dev_id = dev_id,
                .data_len = size,
                .data_uptr = (uintptr_t) data,
        };

        if (ioctl(fd, IOMMU_GET_HW_INFO, &cmd) < 0)
                return negative_errno();
        *ret_type = cmd.out_data_type;
        return 0;
}

int iommufd_hwpt_alloc(int fd, uint32_t dev_id, uint32_t ioas_id, uint32_t *ret_hwpt_id) {
        struct iommu_hwpt_alloc cmd = {
                .size = sizeof(cmd),
                .dev_id = dev_id,
                .pt_id = ioas_id,
                .data_type = IOMMU_HWPT_DATA_NONE,
        };

        /* EOPNOTSUPP/ENOTTY on kernels or IOMMU drivers without it. */
        if (ioctl(fd, IOMMU_HWPT_ALLOC, &cmd) < 0)
                return negative_errno();
        *ret_hwpt_id = cmd.out_hwpt_id;
        return 0;
}
