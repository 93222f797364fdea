/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <pci/pci.h>

/* A PCI function address. Always formatted with its domain: 0000:03:00.0 (lspci -D). */
typedef struct PciAddress {
        uint32_t domain;
        uint8_t bus;
        uint8_t slot;
        uint8_t func;
} PciAddress;

/* "dddddddd:bb:ss.f" + NUL */
#define PCI_ADDRESS_MAX 18

/* Parses "0000:03:00.0" or "03:00.0" (domain 0). Hex, case-insensitive; slot ≤ 0x1f, func ≤ 7.
 * Returns -EINVAL on anything else. */
int pci_address_parse(const char *s, PciAddress *ret);
/* Parses the name of a sysfs PCI device directory or bus symlink (always with domain). */
int pci_address_parse_full(const char *s, PciAddress *ret);
char *pci_address_format(const PciAddress *a, char buf[static PCI_ADDRESS_MAX]);
int pci_address_compare(const PciAddress *a, const PciAddress *b);
bool pci_address_equal(const PciAddress *a, const PciAddress *b);

/* Returns a canonical "0000:03:00.0" string for "03:00.0"-style input, or NULL (errno EINVAL/ENOMEM). */
int pci_address_canonicalize(const char *s, char **ret);

/* An lspci-style selector: -s [[[domain]:][bus]:][slot][.[func]] and -d [vendor]:[device][:class[:prog-if]].
 * The grammar is libpci's (pci_filter_parse_slot/pci_filter_parse_id); matching is done here on our
 * own device records. */
typedef struct PciSelector {
        struct pci_filter filter;
} PciSelector;

void pci_selector_init(PciSelector *s);
/* Returns -EINVAL and a static explanation in *ret_error. */
int pci_selector_parse_slot(PciSelector *s, const char *text, const char **ret_error);
int pci_selector_parse_id(PciSelector *s, const char *text, const char **ret_error);
bool pci_selector_match_address(const PciSelector *s, const PciAddress *a);
/* class24: base class, subclass, prog-if. */
bool pci_selector_match(const PciSelector *s, const PciAddress *a, uint16_t vendor, uint16_t device, uint32_t class24);
