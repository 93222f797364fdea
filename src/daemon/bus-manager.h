/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "dma-fault.h"

typedef struct Manager Manager;

/* org.isolate1.Manager at /org/isolate1: methods read → validate → authorize → act → emit → reply. */

/* Connects to the bus, registers both interfaces (bus-device.c for the devices) and takes the name. */
int bus_manager_setup(Manager *m);

/* DeviceStateChanged, and the PropertiesChanged that go with it. */
void bus_manager_emit_device_changed(Manager *m, const char *slot, const char *reason);
/* DmaFault, and the device's changed fault counts. */
void bus_manager_emit_dma_fault(Manager *m, const char *slot, const DmaFault *fault, uint64_t when);
/* PolicyReloaded, and the manager's changed policy properties. */
void bus_manager_emit_policy_reloaded(Manager *m);
