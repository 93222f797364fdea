/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
