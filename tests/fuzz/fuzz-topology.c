/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for a sysfs snapshot as `isolatectl audit --root` reads it: topology_load() (libpci
 * on the snapshot's sysfs, IOMMU groups and units, /proc/cmdline, /proc/interrupts), the kernel log
 * (fault_counts_from_kmsg()), findings_collect() and the audit JSON.
 *
 * The snapshot tests/fixtures/sysfs/default is copied once into a temporary root. Each input is split
 * at the separator line "\n--8<--\n" into up to five parts, which replace (in this order):
 *   proc/interrupts
 *   proc/cmdline
 *   sys/kernel/iommu_groups/3/reserved_regions           (group of 0000:00:04.0)
 *   dev/kmsg                                             (kmsg records, one per line)
 *   sys/devices/pci0000:00/0000:00:04.0/config           (binary, e1000e's 4 KiB config space)
 * A missing part leaves the snapshot's own file. The last part takes the rest of the input, so the
 * binary config space may hold anything. */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "findings.h"
#include "topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define check(expr)                                                                                                    \
        do {                                                                                                           \
                if (!(expr)) {                                                                                         \
                        fprintf(stderr, "invariant violated: %s (%s:%d)\n", #expr, __FILE__, __LINE__);                \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)

#define SEPARATOR "\n--8<--\n"

static const char *const parts[] = {
        "proc/interrupts",
        "proc/cmdline",
        "sys/kernel/iommu_groups/3/reserved_regions",
        "dev/kmsg",
        "sys/devices/pci0000:00/0000:00:04.0/config",
};
#define N_PARTS (sizeof(parts) / sizeof(parts[0]))

static char root[64];
static char *original[N_PARTS];
static size_t original_size[N_PARTS];

static char *part_path(size_t i) {
        char *p;
        if (asprintf(&p, "%s/%s", root, parts[i]) < 0)
                abort();
        return p;
}

static void write_part(size_t i, const void *data, size_t size) {
        char *p = part_path(i);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t) size) || close(fd) < 0) {
                perror(p);
                abort();
        }
        free(p);
}

static void read_part(size_t i) {
        char *p = part_path(i);
        FILE *f = fopen(p, "re");
        long n;

        if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                perror(p);
                abort();
        }
        original[i] = malloc((size_t) n + 1);
        if (!original[i] || fread(original[i], 1, (size_t) n, f) != (size_t) n)
                abort();
        original_size[i] = (size_t) n;
        fclose(f);
        free(p);
}

static void cleanup(void) {
        char *cmd;
        if (asprintf(&cmd, "rm -rf '%s'", root) >= 0 && system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", root);
        free(cmd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char *cmd;

        /* tmpfs if there is one: five files are rewritten per input */
        snprintf(root, sizeof(root), "%s/fuzz-topology-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(root)) {
                perror("mkdtemp");
                abort();
        }
        /* the snapshot's symlinks (bus/pci/devices, iommu_group, driver) are relative: cp -a keeps them */
        if (asprintf(&cmd, "cp -a '%s/sysfs/default/.' '%s/'", FIXTURES_DIR, root) < 0 || system(cmd) != 0) {
                fprintf(stderr, "could not copy the snapshot into %s\n", root);
                abort();
        }
        free(cmd);
        atexit(cleanup);
        for (size_t i = 0; i < N_PARTS; i++)
                read_part(i);
        return 0;
}

static const uint8_t *find_separator(const uint8_t *p, size_t size) {
        return memmem(p, size, SEPARATOR, strlen(SEPARATOR));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Topology *t = NULL;
        FaultCounts faults = {};
        Findings findings = {};
        json_object *o = NULL;
        char *message = NULL;
        size_t i = 0;
        int r;

        if (size > 64 * 1024)
                return 0;

        for (; i < N_PARTS; i++) {
                const uint8_t *sep = i + 1 < N_PARTS ? find_separator(data, size) : NULL;
                size_t n = sep ? (size_t) (sep - data) : size;

                write_part(i, data, n);
                if (!sep) {
                        i++;
                        break;
                }
                data = sep + strlen(SEPARATOR);
                size -= n + strlen(SEPARATOR);
        }
        for (; i < N_PARTS; i++)
                write_part(i, original[i], original_size[i]);

        r = topology_load(root, &t, &message);
        if (r < 0) {
                /* the snapshot's directories are all there: only a config space may fail, through libpci */
                free(message);
                return 0;
        }
        check(t->n_devices > 0);
        for (size_t k = 0; k < t->n_devices; k++) {
                const PciDevice *d = &t->devices[k];
                check(d->interrupts >= 0 && d->interrupts < _INTERRUPTS_MAX);
                check(topology_find_device(t, &d->address) == d);
                if (k > 0)
                        check(pci_address_compare(&t->devices[k - 1].address, &d->address) < 0);
        }

        r = fault_counts_from_kmsg(t->root, &faults);
        r = findings_collect(t, r >= 0 ? &faults : NULL, &findings);
        check(r >= 0 || r == -ENOMEM);
        if (r >= 0) {
                (void) findings_max_severity(&findings);
                if (audit_to_json(t, &findings, NULL, 0, &o) >= 0) {
                        check(json_object_to_json_string(o));
                        json_object_put(o);
                }
        }

        findings_done(&findings);
        fault_counts_done(&faults);
        topology_free(t);
        return 0;
}
