/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edu.h"

#define REG_ID 0x00
#define REG_DMA_SRC 0x80
#define REG_DMA_DST 0x88
#define REG_DMA_CNT 0x90
#define REG_DMA_CMD 0x98
#define CMD_START 0x1
#define CMD_TO_MEMORY 0x2

static void wr64(Edu *e, unsigned off, uint64_t v) {
        *(volatile uint64_t *) (e->bar + off) = v;
}

static uint64_t rd64(Edu *e, unsigned off) {
        return *(volatile uint64_t *) (e->bar + off);
}

int edu_enable_bus_master(const char *slot) {
        char path[256];
        uint16_t cmd;
        int fd;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", slot);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (pread(fd, &cmd, 2, 4) != 2) {
                close(fd);
                return -EIO;
        }
        cmd |= 0x6; /* memory space, bus master */
        if (pwrite(fd, &cmd, 2, 4) != 2) {
                close(fd);
                return -EIO;
        }
        close(fd);
        return 0;
}

int edu_open(const char *slot, Edu *ret) {
        char path[256];
        struct stat st;
        void *p;
        int fd, r;

        memset(ret, 0, sizeof(*ret));
        snprintf(ret->slot, sizeof(ret->slot), "%s", slot);
        r = edu_enable_bus_master(slot);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", slot);
        fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        p = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        r = -errno;
        close(fd);
        if (p == MAP_FAILED)
                return r;
        ret->bar = p;
        ret->bar_size = (size_t) st.st_size;
        return 0;
}

void edu_close(Edu *e) {
        if (e->bar)
                munmap((void *) e->bar, e->bar_size);
        e->bar = NULL;
}

uint32_t edu_id(Edu *e) {
        return *(volatile uint32_t *) (e->bar + REG_ID);
}

static int run(Edu *e, uint64_t src, uint64_t dst, uint32_t len, uint64_t cmd) {
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        int r;

        if (len == 0 || len > EDU_MAX_TRANSFER)
                return -EINVAL;
        /* Bus mastering may have been cleared again (vfio-pci does at bind and close). */
        r = edu_enable_bus_master(e->slot);
        if (r < 0)
                return r;
        wr64(e, REG_DMA_SRC, src);
        wr64(e, REG_DMA_DST, dst);
        wr64(e, REG_DMA_CNT, len);
        wr64(e, REG_DMA_CMD, cmd | CMD_START);
        /* The transfer runs from a timer 100 ms (virtual) later: poll. */
        for (int i = 0; i < 4000; i++) {
                if (!(rd64(e, REG_DMA_CMD) & CMD_START))
                        return 0;
                nanosleep(&ts, NULL);
        }
        return -ETIMEDOUT;
}

int edu_dma_from_memory(Edu *e, uint64_t iova, uint32_t offset, uint32_t len) {
        if (offset + len > EDU_BUFFER_SIZE)
                return -EINVAL;
        return run(e, iova, EDU_BUFFER + offset, len, 0);
}

int edu_dma_to_memory(Edu *e, uint64_t iova, uint32_t offset, uint32_t len) {
        if (offset + len > EDU_BUFFER_SIZE)
                return -EINVAL;
        return run(e, EDU_BUFFER + offset, iova, len, CMD_TO_MEMORY);
}

uint64_t edu_phys_addr(void *p) {
        uint64_t entry = 0;
        int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        if (pread(fd, &entry, sizeof(entry), (off_t) ((uintptr_t) p / 4096 * 8)) != sizeof(entry))
                entry = 0;
        close(fd);
        if (!(entry & (UINT64_C(1) << 63)))
                return 0;
        return (entry & ((UINT64_C(1) << 55) - 1)) * 4096;
}
