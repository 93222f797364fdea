/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isolatectl libvirt-hook OBJECT OPERATION SUB-OPERATION EXTRA: libvirt's qemu hook
 * (/etc/libvirt/hooks/qemu.d/isolate), with the domain XML on standard input.
 *
 *   prepare begin   release every host PCI device of the domain to the guest, all or none: a device the
 *                   policy does not allow makes the hook fail, and libvirt then refuses to start the
 *                   domain;
 *   release end,
 *   stopped end     take them back into quarantine;
 *   anything else   nothing.
 *
 * It never calls back into libvirt (that would deadlock: libvirt waits for the hook). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-client.h"
#include "cli.h"
#include "fileio.h"
#include "isolatectl.h"
#include "libvirt-xml.h"
#include "log.h"
#include "strv.h"

typedef enum HookAction {
        HOOK_NOTHING,
        HOOK_RELEASE,
        HOOK_QUARANTINE,
} HookAction;

static HookAction hook_action(const char *op, const char *sub) {
        if (streq(op, "prepare") && streq(sub, "begin"))
                return HOOK_RELEASE;
        if ((streq(op, "release") || streq(op, "stopped")) && streq(sub, "end"))
                return HOOK_QUARANTINE;
        return HOOK_NOTHING;
}

int verb_libvirt_hook(int argc, char **argv, void *userdata) {
        _cleanup_(libvirt_hostdevs_done) LibvirtHostdevs hd = {};
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_strv_free_ char **devices = NULL, **done = NULL;
        _cleanup_free_ char *xml = NULL, *msg = NULL;
        const char *object = argv[1], *op = argv[2], *sub = argv[3];
        HookAction action = hook_action(op, sub);
        size_t size;
        int r;

        /* libvirt collects the hook's standard error into its log: say who is talking. */
        log_set_prefix("isolate");

        if (action == HOOK_NOTHING && !arg_dry_run)
                return 0;

        r = read_full_fd(STDIN_FILENO, 64 * 1024 * 1024, &xml, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read the domain XML of '%s' from standard input: %m", object);
        r = libvirt_hostdevs_parse(xml, size, &hd, &msg);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Cannot read the domain XML of '%s': %s", object, strna(msg));

        for (size_t i = 0; i < hd.n; i++) {
                char buf[PCI_ADDRESS_MAX];
                if (strv_extend(&devices, pci_address_format(&hd.addresses[i], buf)) < 0)
                        return log_oom();
        }

        if (arg_dry_run) {
                if (arg_json != JSON_FORMAT_OFF) {
                        json_object *a = json_object_new_array();
                        STRV_FOREACH(d, devices)
                                json_object_array_add(a, json_object_new_string(*d));
                        output_json(a);
                } else
                        STRV_FOREACH(d, devices)
                                puts(*d);
                return 0;
        }
        if (!devices)
                return 0; /* no host PCI devices: nothing to do */

        /* Hooks run as root; no prompts. */
        arg_ask_password = false;
        r = bus_connect(&bus);
        if (r < 0)
                return r;

        if (action == HOOK_RELEASE) {
                /* isolated checks every device before it releases any: all or none. */
                r = bus_call_strv_method(bus, "Release", devices, "guest", &error, &done);
                if (r < 0) {
                        _cleanup_free_ char *list = strv_join(devices, " ");
                        bus_log_error(&error, r, "release the devices to the guest");
                        return log_error_errno(r < 0 ? r : -EPERM,
                                               "Refusing to start domain '%s': its host PCI devices (%s) are not all "
                                               "allowed to pass through; none was released.",
                                               object, strna(list));
                }
                return 0;
        }

        /* release end / stopped end: back into quarantine (a failed start also ends here). */
        r = bus_call_strv_method(bus, "Quarantine", devices, "", &error, &done);
        if (r < 0) {
                bus_log_error(&error, r, "quarantine the devices again");
                return log_error_errno(r,
                                       "The host PCI devices of domain '%s' could not all be taken back into "
                                       "quarantine; see 'isolatectl status'.",
                                       object);
        }
        return 0;
}
