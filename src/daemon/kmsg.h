/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "dma-fault.h"

typedef struct Manager Manager;

/* DMA faults: the IOMMU drivers report unrecoverable faults only in the kernel log, so isolated follows
 * /dev/kmsg (ROOT/dev/kmsg with --root: a FIFO in tests), attributes each fault to devices and counts
 * it. The kernel rate-limits these messages: the counts are a lower bound. */
int kmsg_start(Manager *m);
void kmsg_stop(Manager *m);
/* Counts one fault (now: realtime µs), signals it and schedules the state save. */
void kmsg_handle_fault(Manager *m, const DmaFault *fault, uint64_t now);
