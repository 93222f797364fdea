/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <inttypes.h>
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
        _cleanup_(table_freep) Table *t = NULL;
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
                        return log_error_errno(ENOTDIR,
                                               "'%s' is not a snapshot of a machine: %s is missing or not a "
                                               "directory (expected a copy of /sys and /proc such as "
                                               "'isolatectl capture' writes).",
                                               arg_root, devices);
        }

        r = capture_snapshot(arg_root, dir, "isolate " PACKAGE_VERSION, &report, &failed);
        if (r == -EEXIST && failed && streq(failed, dir)) /* not some file inside that exists already */
                return log_error_errno(r, "'%s' already exists; capture writes a new directory.", dir);
        if (r == -EXDEV) /* strerror() would say "Invalid cross-device link" */
                return log_error_errno(r,
                                       "Failed to capture a snapshot into '%s': '%s' lies outside '%s' (a link "
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

        /* One row: JSON prints it as an object, the text form is a sentence made of the same cells. */
        t = table_new("DIRECTORY", "DEVICES", "IOMMU GROUPS", "FILES", "BYTES", "FAULT RECORDS");
        if (!t || table_add_many(t, TABLE_STRING, dir, TABLE_UINT64, (uint64_t) report.devices, TABLE_UINT64,
                                 (uint64_t) report.groups, TABLE_UINT64, (uint64_t) report.files, TABLE_UINT64,
                                 (uint64_t) report.bytes, TABLE_UINT64, (uint64_t) report.fault_records) < 0)
                return log_oom();
        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o;
                if (table_row_to_json(t, 0, &o) < 0)
                        return log_oom();
                output_json(o);
        } else
                printf("Captured %" PRIu64 " PCI devices, %" PRIu64 " IOMMU groups and %" PRIu64 " DMA-fault log "
                       "records (%" PRIu64 " files, %" PRIu64 " bytes) into %s.\nRead it with: isolatectl --root %s "
                       "audit\n",
                       table_get_uint64(t, 0, 1), table_get_uint64(t, 0, 2), table_get_uint64(t, 0, 5),
                       table_get_uint64(t, 0, 3), table_get_uint64(t, 0, 4), table_get_string(t, 0, 0),
                       table_get_string(t, 0, 0));
        return 0;
}
