/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The sysfs side of getting a PCI function onto a driver (vfio-pci, or back to its host driver):
 * driver_override, bind/unbind, drivers_probe, the bound driver's name, and the IOMMU group's default
 * domain type that has to be switched while no driver is bound. Same rules as the rest of the library:
 * -errno, outputs only on success, no logging. sysfs paths are below root (NULL or "" for the live
 * system). The VFIO ioctls are in vfio.h. */

/* The bound driver's name (1), or NULL when unbound (0); -ENODEV when the function does not exist. */
int pci_sysfs_driver(const char *root, const char *slot, char **ret_driver);
/* driver_override: "vfio-pci", or NULL/"" to clear it. */
int pci_sysfs_set_driver_override(const char *root, const char *slot, const char *driver);
int pci_sysfs_unbind(const char *root, const char *slot, const char *driver);
/* Binds an explicit driver (drivers/NAME/bind). */
int pci_sysfs_bind(const char *root, const char *slot, const char *driver);
/* Lets the driver core pick the driver (drivers_probe); driver_override decides when set. */
int pci_sysfs_drivers_probe(const char *root, const char *slot);
/* The IOMMU group's default domain type (DMA, DMA-FQ, identity, ...), and changing it (only while no
 * driver is bound to any member; -EBUSY otherwise). */
int pci_sysfs_group_type(const char *root, int group, char **ret_type);
int pci_sysfs_set_group_type(const char *root, int group, const char *type);
