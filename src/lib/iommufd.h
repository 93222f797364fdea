/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Thin wrappers, one per iommufd ioctl (Linux ≥ 6.2; HW_INFO ≥ 6.6). Each builds the uAPI struct with
 * a designated initializer starting with .size, returns 0 or -errno, and writes outputs only on
 * success. No policy, no logging: the shape of the kernel selftests' and QEMU's wrappers. */

typedef struct IovaRange {
        uint64_t start;
        uint64_t last; /* inclusive */
} IovaRange;

/* Opens /dev/iommu (O_RDWR|O_CLOEXEC). */
int iommufd_open(int *ret_fd);
int iommufd_ioas_alloc(int fd, uint32_t *ret_ioas_id);
/* Destroys any iommufd object (IOAS, HWPT). */
int iommufd_destroy(int fd, uint32_t id);
/* Maps user memory at a fixed IOVA. flags: IOMMU_IOAS_MAP_READABLE / _WRITEABLE (FIXED_IOVA is added). */
int iommufd_ioas_map_fixed(int fd, uint32_t ioas_id, void *va, uint64_t length, uint64_t iova, uint32_t flags);
/* Copies an existing mapping (its pinned pages) to a fixed IOVA, within or across IOASes. */
int iommufd_ioas_copy(int fd, uint32_t dst_ioas_id, uint32_t src_ioas_id, uint64_t length, uint64_t dst_iova,
                      uint64_t src_iova, uint32_t flags);
/* Unmaps [iova, iova + length); length 0 and iova 0 unmap everything. ret_unmapped may be NULL.
 * -ENOENT: nothing mapped there. */
int iommufd_ioas_unmap(int fd, uint32_t ioas_id, uint64_t iova, uint64_t length, uint64_t *ret_unmapped);
/* The IOVA ranges the IOAS may use now (they narrow as devices attach). *ret is malloc'd. */
int iommufd_ioas_iova_ranges(int fd, uint32_t ioas_id, IovaRange **ret, size_t *ret_n, uint64_t *ret_alignment);
/* IOMMU_GET_HW_INFO for a bound device: the data type (IOMMU_HW_INFO_TYPE_*) and up to size bytes. */
int iommufd_get_hw_info(int fd, uint32_t dev_id, uint32_t *ret_type, void *data, uint32_t size);
/* Allocates a kernel-managed paging HWPT for a bound device on an IOAS (Linux ≥ 6.6). Unlike the
 * automatic domain of an attach to the IOAS, it lives until destroyed, also with no device attached,
 * so moving devices between page tables does not rebuild them. */
int iommufd_hwpt_alloc(int fd, uint32_t dev_id, uint32_t ioas_id, uint32_t *ret_hwpt_id);
