/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "iommufd.h"

/* Thin wrappers for the VFIO device cdev (Linux ≥ 6.6: /dev/vfio/devices/vfioN). Same rules as
 * iommufd.h: -errno, outputs only on success, no logging. sysfs paths are below root ("" for the live
 * system). The sysfs driver binding that gets a PCI function onto vfio-pci is in pci-driver.h. */

/* Opens the function's VFIO cdev the way QEMU does (iommufd_cdev_getfd): the first vfio* entry of
 * .../vfio-dev, its "dev" numbers, then /dev/vfio/devices/vfioN with an fstat check that it is that
 * character device. -ENOENT: no cdev (not on a VFIO driver, or CONFIG_VFIO_DEVICE_CDEV off);
 * -ESTALE: the node does not match. */
int vfio_cdev_open(const char *root, const char *slot, int *ret_fd);

int vfio_device_bind_iommufd(int device_fd, int iommufd, uint32_t *ret_dev_id);
/* Attaches to an IOAS or HWPT; attaching while attached replaces the page table with no gap. */
int vfio_device_attach_pt(int device_fd, uint32_t pt_id, uint32_t *ret_pt_id);
int vfio_device_detach_pt(int device_fd);
int vfio_device_get_info(int device_fd, uint32_t *ret_flags, uint32_t *ret_num_regions, uint32_t *ret_num_irqs);
/* VFIO_DEVICE_RESET: -EINVAL when the device has no reset (reset_works false). */
int vfio_device_reset(int device_fd);
/* Registers (efd ≥ 0) or removes (efd < 0) the device-request eventfd (VFIO_PCI_REQ_IRQ_INDEX): the
 * kernel signals it when someone wants to unbind vfio-pci from the device. */
int vfio_device_set_req_eventfd(int device_fd, int efd);
/* Reads/writes config space through the device's config region. */
int vfio_device_config_read(int device_fd, uint32_t offset, void *buf, size_t size);
int vfio_device_config_write(int device_fd, uint32_t offset, const void *buf, size_t size);

/* The legacy VFIO interface, for kernels without iommufd (every kernel since 3.6): a group node
 * /dev/vfio/N and a container /dev/vfio/vfio. VFIO_GROUP_SET_CONTAINER claims the group's DMA ownership,
 * which puts it on the kernel's blocking domain (an empty paging domain where the IOMMU driver has no
 * blocking domain); VFIO_SET_IOMMU (type1v2) then attaches it to a paging domain of the container, into
 * which VFIO_IOMMU_MAP_DMA maps. Closing the last file of the group lets go of all of it. */

/* Opens /dev/vfio/N. -ENOENT: no such node (vfio not loaded, or no device of the group on a VFIO
 * driver); -EBUSY: someone else (a VMM) has it open. */
int vfio_group_open(int group, int *ret_fd);
/* VFIO_GROUP_GET_STATUS: whether every device of the group is on a VFIO driver or driverless. */
int vfio_group_viable(int group_fd, bool *ret);
/* Opens /dev/vfio/vfio and checks the API version and the type1v2 extension (-EOPNOTSUPP without). */
int vfio_container_open(int *ret_fd);
int vfio_group_set_container(int group_fd, int container_fd);
/* VFIO_SET_IOMMU with VFIO_TYPE1v2_IOMMU: attaches the container's groups to a paging domain. EPERM: the
 * interrupts are not isolated and vfio_iommu_type1.allow_unsafe_interrupts is off. */
int vfio_container_set_iommu(int container_fd);
/* VFIO_IOMMU_GET_INFO: the usable IOVA ranges (reserved regions already left out; one range [0,
 * 2^64-1] on kernels before 5.4, which do not say) and the smallest IOMMU page size. */
int vfio_type1_iova_ranges(int container_fd, IovaRange **ret, size_t *ret_n, uint64_t *ret_min_page);
int vfio_type1_map(int container_fd, const void *va, uint64_t length, uint64_t iova, bool writable);
int vfio_type1_unmap(int container_fd, uint64_t iova, uint64_t length);
/* Unmaps everything (VFIO_DMA_UNMAP_FLAG_ALL, Linux ≥ 5.13). */
int vfio_type1_unmap_all(int container_fd);
