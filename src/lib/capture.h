/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "macro.h"

/* A snapshot of what isolate reads, for `--root` and bug reports: the PCI devices' identity and
 * config space, driver and group links, IOMMU groups and units, the relevant module parameters,
 * /proc/cmdline, /proc/interrupts, the kernel release, and the DMA-fault records of the kernel log
 * (nothing else of it). Symlinks are kept as the kernel has them (relative), so the copy resolves
 * the same way. */

typedef struct CaptureReport {
        size_t devices;
        size_t groups;
        size_t files;
        size_t bytes;
        size_t fault_records;
        char **warnings; /* what could not be read, e.g. config space beyond 64 bytes without root */
} CaptureReport;

/* Writes the snapshot of src_root ("" or "/" for the live system) to dir, which must not exist.
 * Nothing is left behind on failure; *reterr_path names the file that failed. */
int capture_snapshot(const char *src_root, const char *dir, const char *tool_version, CaptureReport *report,
                     char **reterr_path);
void capture_report_done(CaptureReport *r);
