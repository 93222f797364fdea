/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for isolated's state.json reader (state_file_read(), json-c underneath), and its
 * writer on whatever was read.
 *
 * Invariants (abort() when violated): a file that reads has only records with valid slots; what is
 * read writes, and the written file reads back to the same device records (as a multiset: the writer
 * sorts them) and the same presence of an engine record. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci-address.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define check(expr)                                                                                                    \
        do {                                                                                                           \
                if (!(expr)) {                                                                                         \
                        fprintf(stderr, "invariant violated: %s (%s:%d)\n", #expr, __FILE__, __LINE__);                \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)

static char dir[64];
static char in_path[sizeof(dir) + 16], out_path[sizeof(dir) + 16];

static void cleanup(void) {
        (void) unlink(in_path);
        (void) unlink(out_path);
        (void) rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* tmpfs if there is one: the writer fsync()s, which on a disk costs more than all the rest */
        snprintf(dir, sizeof(dir), "%s/fuzz-state-file-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                abort();
        }
        snprintf(in_path, sizeof(in_path), "%s/in.json", dir);
        snprintf(out_path, sizeof(out_path), "%s/state.json", dir);
        atexit(cleanup);
        return 0;
}

static int device_cmp(const void *x, const void *y) {
        const StateDevice *a = x, *b = y;
        int c = strcmp(a->slot, b->slot);

        if (c != 0)
                return c;
        if (!a->host_driver != !b->host_driver)
                return a->host_driver ? 1 : -1;
        if (a->host_driver && (c = strcmp(a->host_driver, b->host_driver)) != 0)
                return c;
        if (a->faults_read != b->faults_read)
                return a->faults_read < b->faults_read ? -1 : 1;
        if (a->faults_write != b->faults_write)
                return a->faults_write < b->faults_write ? -1 : 1;
        if (a->faults_other != b->faults_other)
                return a->faults_other < b->faults_other ? -1 : 1;
        if (a->last_fault != b->last_fault)
                return a->last_fault < b->last_fault ? -1 : 1;
        return 0;
}

static int write_input(const uint8_t *data, size_t size) {
        FILE *f = fopen(in_path, "we");

        if (!f)
                return -errno;
        if (fwrite(data, 1, size, f) != size) {
                fclose(f);
                return -EIO;
        }
        return fclose(f) == 0 ? 0 : -errno;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        StateFile s = {}, t = {};
        int r;

        if (size > 256 * 1024)
                return 0;
        if (write_input(data, size) < 0)
                abort();

        r = state_file_read(in_path, &s);
        if (r < 0) {
                check(r == -EBADMSG || r == -ENOMEM);
                return 0;
        }
        check(s.n_devices <= s.n_allocated);
        for (size_t i = 0; i < s.n_devices; i++) {
                PciAddress a;
                check(pci_address_parse_full(s.devices[i].slot, &a) >= 0);
        }

        r = state_file_write(out_path, &s);
        check(r >= 0);
        r = state_file_read(out_path, &t);
        check(r >= 0);
        check(!s.engine == !t.engine);
        check(s.n_devices == t.n_devices);
        if (s.n_devices > 0) {
                qsort(s.devices, s.n_devices, sizeof(StateDevice), device_cmp);
                qsort(t.devices, t.n_devices, sizeof(StateDevice), device_cmp);
                for (size_t i = 0; i < s.n_devices; i++)
                        check(device_cmp(&s.devices[i], &t.devices[i]) == 0);
        }

        state_file_done(&t);
        state_file_done(&s);
        return 0;
}
