/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isolate-vm-hazard SLOT: can this edu write into host RAM right now? It fills a locked page of ours,
 * lets the device read its first bytes (IOVA = the page's physical address, as an identity domain
 * would translate it) and write them 2 KiB further on. Exit 0: the page is unchanged (the device
 * cannot reach RAM); exit 1: the device wrote into RAM (the hazard); 2: the test could not run. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "edu.h"

int main(int argc, char *argv[]) {
        uint8_t *page;
        uint64_t pa;
        Edu e;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s SLOT\n", argv[0]);
                return 2;
        }
        page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
        if (page == MAP_FAILED)
                return 2;
        memset(page, 0x11, 2048);
        memset(page + 2048, 0x22, 2048);
        pa = edu_phys_addr(page);
        if (!pa) {
                fprintf(stderr, "cannot read the physical address (pagemap)\n");
                return 2;
        }
        r = edu_open(argv[1], &e);
        if (r < 0) {
                fprintf(stderr, "edu %s: %s\n", argv[1], strerror(-r));
                return 2;
        }
        r = edu_dma_from_memory(&e, pa, 0, 64);
        if (r >= 0)
                r = edu_dma_to_memory(&e, pa + 2048, 0, 64);
        edu_close(&e);
        if (r < 0) {
                fprintf(stderr, "edu DMA: %s\n", strerror(-r));
                return 2;
        }
        if (page[2048] != 0x22) {
                printf("%s wrote into RAM at 0x%" PRIx64 " (byte now 0x%02x)\n", argv[1], pa + 2048, page[2048]);
                return 1;
        }
        printf("%s could not reach RAM at 0x%" PRIx64 "\n", argv[1], pa + 2048);
        return 0;
}
