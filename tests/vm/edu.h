/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* QEMU's edu device (1234:11e8), driven from user space through sysfs: BAR0 via resource0 (mmap)
 * and the command register via the config file. This works while another process holds the
 * device's VFIO cdev; the DMA still goes through the device's IOMMU domain. Test-only code. */

#define EDU_BUFFER 0x40000u
#define EDU_BUFFER_SIZE 4096u
#define EDU_MAX_TRANSFER 2048u /* QEMU 7.2 aborts on a full 4 KiB transfer */

typedef struct Edu {
        char slot[32];
        volatile uint8_t *bar;
        size_t bar_size;
} Edu;

int edu_open(const char *slot, Edu *ret);
void edu_close(Edu *e);
uint32_t edu_id(Edu *e);
/* Sets memory decoding and bus mastering in the command register (vfio-pci clears bus mastering). */
int edu_enable_bus_master(const char *slot);
/* Device reads len bytes of memory at iova into its buffer at EDU_BUFFER + offset. */
int edu_dma_from_memory(Edu *e, uint64_t iova, uint32_t offset, uint32_t len);
/* Device writes len bytes from its buffer (EDU_BUFFER + offset) to memory at iova. */
int edu_dma_to_memory(Edu *e, uint64_t iova, uint32_t offset, uint32_t len);
/* The physical address of a page of this process (root reads PFNs from /proc/self/pagemap), for DMA
 * that bypasses translation (identity domains); 0 if unknown. */
uint64_t edu_phys_addr(void *p);
