/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "findings.h"
#include "isolatectl.h"
#include "log.h"
#include "strv.h"

static void print_host(const Topology *t, bool faults_read) {
        const HostInfo *h = &t->host;
        size_t shown = 0;

        printf("Host:       Linux %s\n", strna(h->kernel_release));
        printf("IOMMU:      ");
        FOREACH_ARRAY(u, t->iommus, t->n_iommus)
                printf("%s%s (%s)", shown++ ? ", " : "", u->name, iommu_kind_to_string(u->kind));
        printf("%s\n", shown ? "" : topology_has_iommu(t) ? "groups present, no units listed" : "none");
        printf("Interrupt remapping: %s%s%s%s\n",
               h->interrupt_remapping == TRISTATE_YES  ? "enabled"
               : h->interrupt_remapping == TRISTATE_NO ? "disabled"
                                                       : "unknown",
               h->interrupt_evidence ? " (" : "", strempty(h->interrupt_evidence), h->interrupt_evidence ? ")" : "");
        printf("Devices:    %zu PCI functions in %zu IOMMU groups\n", t->n_devices, t->n_groups);
        if (!faults_read)
                printf("Kernel log: not readable, DMA faults were not checked (run as root)\n");
        printf("\n");
}

static void print_finding(const Finding *f) {
        _cleanup_free_ char *devices = f->devices ? strv_join(f->devices, ", ") : NULL;

        printf("%-8s  %s\n", severity_to_string(f->severity), f->id);
        printf("  %s\n", f->summary);
        printf("  Devices: %s\n", devices ?: "(whole host)");
        printf("  Why:     %s\n", f->detail);
        printf("  Fix:     %s\n\n", f->fix);
}

int verb_audit(int argc, char **argv, void *userdata) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_free_ PciAddress *devices = NULL;
        _cleanup_(findings_done) Findings f = {};
        _cleanup_(fault_counts_done) FaultCounts faults = {};
        size_t n = (size_t) argc - 1;
        bool faults_read;
        Severity worst;
        int r;

        r = parse_device_args(argv + 1, n, &devices);
        if (r < 0)
                return r;
        r = load_topology(&t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (!topology_find_device(t, &devices[i])) {
                        char buf[PCI_ADDRESS_MAX];
                        return log_error_errno(ENODEV, "No PCI device %s%s%s.", pci_address_format(&devices[i], buf),
                                               arg_root ? " in " : "", strempty(arg_root));
                }

        r = fault_counts_from_kmsg(t->root, &faults);
        faults_read = r >= 0;
        if (r < 0 && r != -ENOENT && r != -EACCES && r != -EPERM)
                log_debug_errno(r, "Failed to read the kernel log, ignoring: %m");

        r = findings_collect(t, faults_read ? &faults : NULL, &f);
        if (r < 0)
                return log_error_errno(r, "Failed to audit the topology: %m");
        if (n > 0)
                findings_filter(&f, devices, n);
        worst = findings_max_severity(&f);

        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o;
                r = audit_to_json(t, &f, n > 0 ? devices : NULL, n, &o);
                if (r < 0)
                        return log_oom();
                json_object_object_add(json_object_object_get(o, "host"), "kernel_log_read",
                                       json_object_new_boolean(faults_read));
                output_json(o);
        } else {
                size_t count[_SEVERITY_MAX] = {};

                if (arg_legend)
                        print_host(t, faults_read);
                FOREACH_ARRAY(x, f.items, f.n) {
                        print_finding(x);
                        count[x->severity]++;
                }
                if (arg_legend) {
                        if (f.n == 0)
                                printf("No findings.\n");
                        else {
                                printf("%zu finding%s:", f.n, f.n == 1 ? "" : "s");
                                bool first = true;
                                for (int s = _SEVERITY_MAX - 1; s >= 0; s--)
                                        if (count[s]) {
                                                printf("%s %zu %s", first ? "" : ",", count[s], severity_to_string(s));
                                                first = false;
                                        }
                                printf(".\n");
                        }
                }
        }

        return worst >= SEVERITY_HIGH ? EXIT_FINDINGS : 0;
}
