/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "cli.h"
#include "config.h"
#include "isolatectl.h"
#include "log.h"
#include "strv.h"

int verb_capture(int argc, char **argv, void *userdata) {
        _cleanup_(capture_report_done) CaptureReport report = {};
        _cleanup_free_ char *failed = NULL;
        const char *dir = argv[1];
        int r;

        /* A --root that is no snapshot is the source's fault, not DIR's: say so as the other verbs do,
         * rather than "Failed to capture a snapshot into 'DIR': No such file or directory". */
        if (arg_root) {
                _cleanup_free_ char *devices = NULL;
                struct stat st;

                if (asprintf(&devices, "%s/sys/bus/pci/devices", arg_root) < 0)
                        return log_oom();
                if (stat(devices, &st) < 0 || !S_ISDIR(st.st_mode))
                        return log_error_errno(ENOTDIR, "'%s' is not a snapshot of a machine: %s is missing or not a "
                                                        "directory (expected a copy of /sys and /proc such as "
                                                        "'isolatectl capture' writes).",
                                               arg_root, devices);
        }

        r = capture_snapshot(arg_root, dir, "isolate " PACKAGE_VERSION, &report, &failed);
        if (r == -EEXIST && failed && streq(failed, dir)) /* not some file inside that exists already */
                return log_error_errno(r, "'%s' already exists; capture writes a new directory.", dir);
        if (r == -EXDEV) /* strerror() would say "Invalid cross-device link" */
                return log_error_errno(r, "Failed to capture a snapshot into '%s': '%s' lies outside '%s' (a link "
                                          "that leads out of the tree being captured).",
                                       dir, strna(failed), arg_root ?: "/");
        if (r < 0)
                return log_error_errno(r, "Failed to capture a snapshot into '%s'%s%s%s: %m", dir,
                                       failed ? " (at '" : "", strempty(failed), failed ? "')" : "");

        STRV_FOREACH(w, report.warnings)
                log_warning("Warning: %s", *w);
        if (geteuid() != 0)
                log_warning("Not running as root: config space beyond the first 64 bytes and the kernel log are "
                            "not readable, so the snapshot lacks capabilities (ACS, ATS) and DMA faults.");
        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "directory", json_object_new_string(dir));
                json_object_object_add(o, "devices", json_object_new_int((int) report.devices));
                json_object_object_add(o, "iommu_groups", json_object_new_int((int) report.groups));
                json_object_object_add(o, "files", json_object_new_int((int) report.files));
                json_object_object_add(o, "bytes", json_object_new_int64((int64_t) report.bytes));
                json_object_object_add(o, "fault_records", json_object_new_int((int) report.fault_records));
                output_json(o);
        } else
                printf("Captured %zu PCI devices, %zu IOMMU groups and %zu DMA-fault log records (%zu files, %zu bytes) "
                       "into %s.\nRead it with: isolatectl --root %s audit\n",
                       report.devices, report.groups, report.fault_records, report.files, report.bytes, dir, dir);
        return 0;
}
