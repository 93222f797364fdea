/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-client.h"
#include "cli.h"
#include "isolate-bus.h"
#include "log.h"

int bus_connect(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        (void) sd_bus_error_add_map(isolate_bus_error_map);
        /* sd_bus_open_system() honours $DBUS_SYSTEM_BUS_ADDRESS (tests point it at a private bus). */
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        (void) sd_bus_set_allow_interactive_authorization(bus, arg_ask_password);
        *ret = bus;
        return 0;
}

bool bus_error_is_not_running(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                      SD_BUS_ERROR_NO_REPLY, "org.freedesktop.systemd1.NoSuchUnit",
                                      "org.freedesktop.DBus.Error.Spawn.ChildExited",
                                      "org.freedesktop.DBus.Error.Spawn.ServiceNotFound");
}

int bus_log_error(const sd_bus_error *e, int r, const char *what) {
        if (bus_error_is_not_running(e))
                return log_error_errno(ENXIO,
                                       "isolated is not running, so %s is not possible. Start it with "
                                       "'systemctl start isolated' (see 'journalctl -u isolated' if it fails).",
                                       what);
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_ACCESS_DENIED, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                return log_error_errno(EACCES, "%s%s", e->message ?: "Access denied.",
                                       " Run as root, or ask for the polkit action org.isolate1.manage.");
        if (sd_bus_error_is_set(e))
                return log_error_errno(sd_bus_error_get_errno(e) ?: EIO, "%s", e->message ?: e->name);
        return log_error_errno(r, "Failed to %s: %m", what);
}

int bus_call_method(sd_bus *bus, const char *method, sd_bus_error *error, sd_bus_message **reply, const char *types,
                    ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, ISOLATE_BUS_NAME, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                           method);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        /* Mutations may wait for an interactive polkit prompt. */
        return sd_bus_call(bus, m, arg_ask_password ? UINT64_MAX : 0, error, reply);
}

int bus_call_strv_method(sd_bus *bus, const char *method, char **devices, const char *arg, sd_bus_error *error,
                         char ***ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, ISOLATE_BUS_NAME, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                           method);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, devices);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sb", arg, arg_ask_password);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, arg_ask_password ? UINT64_MAX : 0, error, &reply);
        if (r < 0)
                return r;
        return sd_bus_message_read_strv(reply, ret);
}

int bus_read_device_record(sd_bus_message *m, DeviceRecord *ret) {
        int r = sd_bus_message_read(m, ISOLATE_DEVICE_RECORD, &ret->slot, &ret->state, &ret->mode, &ret->group,
                                    &ret->host_driver, &ret->since, &ret->faults_read, &ret->faults_write,
                                    &ret->faults_other, &ret->last_fault, &ret->passthrough, &ret->rule,
                                    &ret->last_error, &ret->degraded);
        return r;
}

int bus_list_devices(sd_bus *bus, bool auto_start, uint64_t timeout_usec, sd_bus_message **ret_reply,
                     sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, ISOLATE_BUS_NAME, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                           "ListDevices");
        if (r < 0)
                return r;
        (void) sd_bus_message_set_auto_start(m, auto_start);
        r = sd_bus_call(bus, m, timeout_usec, error, ret_reply);
        if (r < 0)
                return r;
        return sd_bus_message_enter_container(*ret_reply, 'a', ISOLATE_DEVICE_RECORD);
}
