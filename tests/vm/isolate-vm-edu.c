/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives QEMU's edu device from a guest test: isolate-vm-edu SLOT id|read IOVA LEN|write IOVA LEN.
 * "read" makes the device read memory at IOVA (DMA into the device), "write" makes it write there.
 * Both report completion even when the IOMMU blocked the access: tests check the kernel log. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edu.h"

int main(int argc, char *argv[]) {
        Edu e;
        int r;

        if (argc < 3) {
                fprintf(stderr, "usage: %s SLOT id|read IOVA LEN|write IOVA LEN\n", argv[0]);
                return 2;
        }
        r = edu_open(argv[1], &e);
        if (r < 0) {
                fprintf(stderr, "edu %s: %s\n", argv[1], strerror(-r));
                return 1;
        }
        if (strcmp(argv[2], "id") == 0)
                printf("0x%08" PRIx32 "\n", edu_id(&e));
        else if ((strcmp(argv[2], "read") == 0 || strcmp(argv[2], "write") == 0) && argc == 5) {
                uint64_t iova = strtoull(argv[3], NULL, 0);
                uint32_t len = (uint32_t) strtoul(argv[4], NULL, 0);
                r = argv[2][0] == 'r' ? edu_dma_from_memory(&e, iova, 0, len) : edu_dma_to_memory(&e, iova, 0, len);
                if (r < 0) {
                        fprintf(stderr, "edu %s: DMA %s at 0x%" PRIx64 ": %s\n", argv[1], argv[2], iova, strerror(-r));
                        return 1;
                }
        } else {
                fprintf(stderr, "usage: %s SLOT id|read IOVA LEN|write IOVA LEN\n", argv[0]);
                return 2;
        }
        edu_close(&e);
        return 0;
}
