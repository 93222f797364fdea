/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the kernel-log fault parsers. The first byte picks what the rest is:
 *   '0' (byte % 3 == 0)  kernel log message text: dma_fault_parse_message(), the suppression and
 *                        ratelimit tests, and, split at the first newline, dma_fault_merge_detail()
 *                        with the first line as the SMMUv3 event and the second as its detail line;
 *   '1' (byte % 3 == 1)  one /dev/kmsg record: kmsg_record_parse(), dma_fault_parse_kmsg_record();
 *   '2' (byte % 3 == 2)  a kmsg snapshot (records one per line) read by kmsg_read_faults() from a
 *                        temporary file: the cross-record state (SMMUv3 detail lines, ratelimit
 *                        notices after a fault).
 *
 * Invariants (abort() when violated): a parsed fault has a valid vendor and access, an in-range
 * requester (domain 0 when it has none), and a NUL-terminated, printable-ASCII reason text. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dma-fault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(expr)                                                                                                    \
        do {                                                                                                           \
                if (!(expr)) {                                                                                         \
                        fprintf(stderr, "invariant violated: %s (%s:%d)\n", #expr, __FILE__, __LINE__);                \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)

static char snapshot_path[64];
static int snapshot_fd = -1;

static void check_fault(const DmaFault *f) {
        size_t n;

        check(f->vendor >= 0 && f->vendor < _DMA_FAULT_VENDOR_MAX);
        check(f->access >= 0 && f->access < _DMA_ACCESS_MAX);
        check(dma_fault_vendor_from_string(dma_fault_vendor_to_string(f->vendor)) == f->vendor);
        check(dma_access_from_string(dma_access_to_string(f->access)) == f->access);
        check(f->requester.slot <= 0x1f);
        check(f->requester.func <= 7);
        check(f->has_domain || f->requester.domain == 0);
        n = strnlen(f->reason_text, sizeof(f->reason_text));
        check(n < sizeof(f->reason_text));
        for (size_t i = 0; i < n; i++)
                check(f->reason_text[i] >= 0x20 && f->reason_text[i] < 0x7f);
}

static void fuzz_message(const char *text) {
        const char *nl = strchr(text, '\n');
        DmaFault f;
        int r;

        r = dma_fault_parse_message(text, &f);
        check(r == 0 || r == 1 || r == -EBADMSG);
        if (r == 1)
                check_fault(&f);
        (void) dma_fault_message_is_suppression(text);
        (void) dma_fault_message_is_ratelimit_notice(text);

        if (nl) {
                char *event = strndup(text, (size_t) (nl - text));
                if (!event)
                        return;
                if (dma_fault_parse_message(event, &f) == 1) {
                        DmaFault merged = f;
                        r = dma_fault_merge_detail(&merged, event, nl + 1);
                        check(r == 0 || r == 1);
                        if (r == 0)
                                check(merged.access == f.access);
                        else
                                check(f.vendor == DMA_FAULT_SMMUV3);
                        check_fault(&merged);
                }
                free(event);
        }
}

static void fuzz_record(const char *text, size_t size) {
        KmsgRecord rec = { .priority = -2 };
        DmaFault f;
        int r;

        r = kmsg_record_parse(text, size, &rec);
        check(r == 0 || r == -EINVAL || r == -ENOMEM);
        if (r == 0) {
                check(rec.message);
                check(rec.priority >= 0);
                kmsg_record_done(&rec);
        } else
                check(rec.priority == -2 && !rec.message);

        r = dma_fault_parse_kmsg_record(text, size, &f);
        check(r == KMSG_RECORD_OTHER || r == KMSG_RECORD_FAULT || r == KMSG_RECORD_SUPPRESSION || r == -EINVAL ||
              r == -ENOMEM);
        if (r == KMSG_RECORD_FAULT)
                check_fault(&f);
}

static int on_fault(const DmaFault *fault, const KmsgRecord *rec, void *userdata) {
        size_t *n = userdata;

        check(rec && rec->message);
        check(kmsg_record_is_kernel(rec));
        if (fault) {
                check_fault(fault);
                (*n)++;
        }
        return 0;
}

static void fuzz_snapshot(const uint8_t *data, size_t size) {
        size_t n = 0;
        int r;

        if (snapshot_fd < 0)
                return;
        if ((size > 0 && pwrite(snapshot_fd, data, size, 0) != (ssize_t) size) ||
            ftruncate(snapshot_fd, (off_t) size) < 0)
                abort();
        r = kmsg_read_faults(snapshot_path, on_fault, &n);
        check(r < 0 || (size_t) r == n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* a memfd, read back through /proc/self/fd: cheap, and nothing is left behind */
        snapshot_fd = memfd_create("fuzz-dma-fault", MFD_CLOEXEC);
        if (snapshot_fd < 0) {
                perror("memfd_create");
                abort();
        }
        snprintf(snapshot_path, sizeof(snapshot_path), "/proc/self/fd/%d", snapshot_fd);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text;
        int mode;

        if (size < 1 || size > 64 * 1024)
                return 0;
        mode = data[0] % 3;
        data++, size--;

        if (mode == 2) {
                fuzz_snapshot(data, size);
                return 0;
        }

        if (mode == 1) {
                /* an exact-size copy, no NUL: ASan catches a read past size */
                text = malloc(size ?: 1);
                if (!text)
                        return 0;
                memcpy(text, data, size);
                fuzz_record(text, size);
        } else {
                text = malloc(size + 1);
                if (!text)
                        return 0;
                memcpy(text, data, size);
                text[size] = '\0';
                fuzz_message(text);
        }
        free(text);
        return 0;
}
