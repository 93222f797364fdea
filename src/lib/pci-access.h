/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <pci/pci.h>

#include "macro.h"

/* libpci's error() callback is noreturn and its default calls exit(1) (pciutils lib/pci.h, lib/init.c).
 * Every libpci entry point that can reach it is run through pci_guarded(), which turns a fatal
 * libpci error into -EIO plus the message instead of ending the process. Warnings are collected as
 * debug-only text, never printed. */

/* Allocates and initialises a libpci context on the Linux sysfs back-end rooted at sysfs_bus_pci
 * (normally "/sys/bus/pci"). */
int pci_access_open(const char *sysfs_bus_pci, struct pci_access **ret, char **reterr_message);
void pci_access_close(struct pci_access *acc);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(struct pci_access *, pci_access_close, NULL);

/* Runs fn under the guard. Returns fn's result, or -EIO when libpci raised a fatal error; then
 * *reterr_message (if given) holds libpci's message. Not reentrant across threads. */
int pci_guarded(int (*fn)(struct pci_access *acc, void *userdata), struct pci_access *acc, void *userdata,
                char **reterr_message);

/* Names from the PCI ID database (pci.ids / udev hwdb), through libpci. Returns buf, "" if unknown. */
typedef enum PciNameKind {
        PCI_NAME_VENDOR,
        PCI_NAME_DEVICE,
        PCI_NAME_CLASS,
} PciNameKind;

const char *pci_name_lookup(PciNameKind kind, uint16_t vendor, uint16_t device, uint32_t class24, char *buf,
                            size_t size);
