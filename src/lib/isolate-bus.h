/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "quarantine.h"

/* The D-Bus contract shared by isolated and isolatectl (dbus/org.isolate1.*.xml, org.isolate1(5)). */

#define ISOLATE_BUS_NAME "org.isolate1"
#define ISOLATE_BUS_PATH "/org/isolate1"
#define ISOLATE_BUS_DEVICE_PREFIX "/org/isolate1/device"
#define ISOLATE_BUS_MANAGER_INTERFACE "org.isolate1.Manager"
#define ISOLATE_BUS_DEVICE_INTERFACE "org.isolate1.Device"
#define ISOLATE_POLKIT_ACTION_MANAGE "org.isolate1.manage"

/* At most this many device addresses in one Quarantine() or Release() call; more is InvalidArgs, refused
 * before authorization and before any work per address. A machine has far fewer PCI functions: even
 * large servers with SR-IOV virtual functions enabled list some hundreds to a couple of thousand, and
 * the CLI never sends more than the user named. The cap bounds what an unauthorized caller can make
 * isolated do (4096 constant-time parses) and what a call waiting for polkit pins (< 100 KiB). */
#define ISOLATE_DEVICES_PER_CALL_MAX 4096U

#define ISOLATE_ERROR_NO_SUCH_DEVICE "org.isolate1.Error.NoSuchDevice"
#define ISOLATE_ERROR_NOT_ALLOWED "org.isolate1.Error.NotAllowed"
#define ISOLATE_ERROR_UNSAFE_INTERRUPTS "org.isolate1.Error.UnsafeInterrupts"
#define ISOLATE_ERROR_GROUP_NOT_VIABLE "org.isolate1.Error.GroupNotViable"
#define ISOLATE_ERROR_DEVICE_BUSY "org.isolate1.Error.DeviceBusy"
#define ISOLATE_ERROR_NOT_ISOLATABLE "org.isolate1.Error.NotIsolatable"
#define ISOLATE_ERROR_NOT_QUARANTINED "org.isolate1.Error.NotQuarantined"
#define ISOLATE_ERROR_UNSUPPORTED "org.isolate1.Error.Unsupported"
#define ISOLATE_ERROR_POLICY_INVALID "org.isolate1.Error.PolicyInvalid"
#define ISOLATE_ERROR_FAILED "org.isolate1.Error.Failed"

/* The errno each error name maps to (registered with sd_bus_error_add_map() by both programs, so that
 * errors round-trip). */
extern const sd_bus_error_map isolate_bus_error_map[];

/* The D-Bus error name for an engine failure. */
const char *isolate_bus_error_for_engine(EngineErrorKind kind);

/* /org/isolate1/device/0000_03_00_0 for 0000:03:00.0 (':' and '.' become '_'), and back. */
int isolate_bus_device_path(const char *slot, char **ret);
int isolate_bus_device_slot(const char *path, char **ret);

/* The signature of one device record in ListDevices()/GetDevice():
 * slot, state, mode, IOMMU group, host driver, since (µs, realtime), DMA faults (read, write, other),
 * last fault (µs, realtime; 0: none), passthrough verdict, deciding rule ("" if none), last error (or,
 * for a held device whose protection is incomplete, why), protections that could not be set up
 * (comma-separated: group-type, bus-master, scratch-cover; "" if none). */
#define ISOLATE_DEVICE_RECORD "(sssistuuutssss)"
