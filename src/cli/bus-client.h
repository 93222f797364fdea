/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

/* isolatectl's side of org.isolate1 (see dbus/ and org.isolate1(5)). */

int bus_connect(sd_bus **ret);
/* The daemon is not there (not running, activation failed). */
bool bus_error_is_not_running(const sd_bus_error *e);
/* Logs one clear message for a failed call and returns -errno. what: "quarantine devices" etc. */
int bus_log_error(const sd_bus_error *e, int r, const char *what);

int bus_call_method(sd_bus *bus, const char *method, sd_bus_error *error, sd_bus_message **reply, const char *types,
                    ...);
/* Quarantine(as, s, b) / Release(as, s, b) → as */
int bus_call_strv_method(sd_bus *bus, const char *method, char **devices, const char *arg, sd_bus_error *error,
                         char ***ret);

typedef struct DeviceRecord {
        const char *slot, *state, *mode;
        int32_t group;
        const char *host_driver;
        uint64_t since;
        uint32_t faults_read, faults_write, faults_other;
        uint64_t last_fault;
        const char *passthrough, *rule, *last_error, *degraded;
} DeviceRecord;

int bus_read_device_record(sd_bus_message *m, DeviceRecord *ret);
/* Calls ListDevices and enters the array; read records until bus_read_device_record() returns 0.
 * auto_start false: fail rather than start isolated. timeout_usec 0: sd-bus's default (25 s). */
int bus_list_devices(sd_bus *bus, bool auto_start, uint64_t timeout_usec, sd_bus_message **ret_reply,
                     sd_bus_error *error);
