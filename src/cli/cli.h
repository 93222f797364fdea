/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "output.h"
#include "pci-address.h"
#include "policy.h"
#include "topology.h"

/* Exit statuses (isolatectl(1), docs/isolate.md). Verbs return -errno for failures (EXIT_FAILURE) or one of these. */
#define EXIT_USAGE 2
#define EXIT_FINDINGS 3

/* Global options, parsed once in isolatectl.c. */
extern const char *arg_root;
extern const char *arg_policy;
extern bool arg_ask_password;
extern QuarantineMode arg_mode;
extern const char *arg_to;
extern bool arg_dry_run;
extern PciSelector arg_selector;
extern bool arg_have_selector;

/* Prints a usage error (with a pointer to --help) and returns -EINVAL mapped to EXIT_USAGE. */
int usage_error(const char *fmt, ...) _printf_(1, 2);
/* Marker error for usage errors, distinct from operational EINVAL. */
#define ERR_USAGE (-ECANCELED - 10000)

/* Parses DEVICE arguments into canonical addresses; a bad address is a usage error. */
int parse_device_args(char **args, size_t n, PciAddress **ret);

/* Loads the topology below arg_root, with a clear message on failure. */
int load_topology(Topology **ret);

/* Loads the policy: --policy FILE, or the installed one. Invalid → error message(s) printed, -EINVAL. */
int load_policy(Policy **ret);
/* Prints policy errors as FILE:LINE:COLUMN: message. */
void print_policy_errors(const PolicyErrors *e);

/* PCI ID names from the pci.ids database (libpci); "" if unknown. */
const char *pci_vendor_name(uint16_t vendor, char *buf, size_t size);
const char *pci_device_name(uint16_t vendor, uint16_t device, char *buf, size_t size);
const char *pci_class_name(uint32_t class24, char *buf, size_t size);
