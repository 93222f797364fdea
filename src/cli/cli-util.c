/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "pci-access.h"
#include "strv.h"

int usage_error(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nSee 'isolatectl --help'.\n");
        return ERR_USAGE;
}

int parse_device_args(char **args, size_t n, PciAddress **ret) {
        _cleanup_free_ PciAddress *a = calloc(n ?: 1, sizeof(PciAddress));

        if (!a)
                return log_oom();
        for (size_t i = 0; i < n; i++)
                if (pci_address_parse(args[i], &a[i]) < 0)
                        return usage_error("Invalid device address '%s': expected a PCI address such as "
                                           "0000:03:00.0 or 03:00.0 (hex; slot at most 1f, function 0-7).",
                                           args[i]);
        *ret = TAKE_PTR(a);
        return 0;
}

int load_topology(Topology **ret) {
        _cleanup_free_ char *msg = NULL;
        int r;

        r = topology_load(arg_root, ret, &msg);
        if (r == -ENOTDIR && arg_root)
                return log_error_errno(r,
                                       "'%s' is not a snapshot of a machine: %s (expected a copy of /sys and "
                                       "/proc such as 'isolatectl capture' writes).",
                                       arg_root, strna(msg));
        if (r == -ENOTDIR)
                return log_error_errno(r, "Cannot read the PCI devices: %s. Is sysfs mounted on /sys?", strna(msg));
        if (r == -EIO)
                return log_error_errno(r, "Failed to read the PCI devices%s%s%s: %s", arg_root ? " below '" : "",
                                       strempty(arg_root), arg_root ? "'" : "", strna(msg));
        if (r < 0)
                return log_error_errno(r, "Failed to read the PCI topology%s%s%s: %m", arg_root ? " below '" : "",
                                       strempty(arg_root), arg_root ? "'" : "");
        return 0;
}

void print_policy_errors(const PolicyErrors *e) {
        FOREACH_ARRAY(x, e->errors, e->n_errors) {
                if (x->line > 0)
                        fprintf(stderr, "%s:%u:%u: %s\n", x->file, x->line, x->column, x->message);
                else
                        fprintf(stderr, "%s: %s\n", x->file, x->message);
        }
}

int load_policy(Policy **ret) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        const char *dir = getenv("ISOLATE_POLICY_DIR") ?: ISOLATE_POLICY_DIR;
        int r;

        if (arg_policy)
                r = strv_extend(&files, arg_policy);
        else
                r = policy_installed_files(dir, &files);
        if (r < 0)
                return log_oom();

        r = policy_load_files(files, ret, &errors);
        if (r == -EINVAL) {
                print_policy_errors(&errors);
                return log_error_errno(r, "The policy is invalid; fix the errors above (see isolate-policy.json(5)).");
        }
        if (r < 0)
                return log_error_errno(r, "Failed to load the policy: %m");
        return 0;
}

const char *pci_vendor_name(uint16_t vendor, char *buf, size_t size) {
        return pci_name_lookup(PCI_NAME_VENDOR, vendor, 0, 0, buf, size);
}

const char *pci_device_name(uint16_t vendor, uint16_t device, char *buf, size_t size) {
        return pci_name_lookup(PCI_NAME_DEVICE, vendor, device, 0, buf, size);
}

const char *pci_class_name(uint32_t class24, char *buf, size_t size) {
        return pci_name_lookup(PCI_NAME_CLASS, 0, 0, class24, buf, size);
}
