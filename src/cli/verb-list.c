/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-client.h"
#include "cli.h"
#include "findings.h"
#include "isolate-bus.h"
#include "isolatectl.h"
#include "log.h"
#include "strv.h"

/* Without the daemon nothing is held in quarantine, so the state follows from the binding: a
 * device on vfio-pci is free for any VMM to open ("released"); bridges and devices the policy never
 * captures are "unmanaged". With the daemon running, its states are used instead. */
static const char *offline_state(const PciDevice *d, const PolicyVerdict *v) {
        if (!pci_device_is_endpoint(d))
                return "unmanaged";
        if (d->driver && streq(d->driver, "vfio-pci"))
                return "released";
        if (!v->quarantine_on_unbind && !v->rule)
                return "unmanaged";
        return "host";
}

/* The states isolated reports, as (slot, state, host driver) triples, when it runs on this host (never
 * below --root, never by starting it: list stays a read-only verb). Returns 1 when it answered. */
static int daemon_states(char ***ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_strv_free_ char **l = NULL;
        DeviceRecord rec;
        int r;

        *ret = NULL;
        if (arg_root || sd_bus_open_system(&bus) < 0)
                return 0;
        r = bus_list_devices(bus, false, 5 * 1000 * 1000, &reply, &error);
        while (r >= 0 && (r = bus_read_device_record(reply, &rec)) > 0)
                if (strv_extend(&l, rec.slot) < 0 || strv_extend(&l, rec.state) < 0 ||
                    strv_extend(&l, rec.host_driver) < 0)
                        return log_oom();
        if (r < 0) {
                /* No system bus at all (ENOENT, ECONNREFUSED) is not running either. */
                if (!bus_error_is_not_running(&error) && r != -ENOENT && r != -ECONNREFUSED)
                        log_warning("isolated did not say which devices it holds (%s); the states below follow "
                                    "from the drivers alone.",
                                    sd_bus_error_is_set(&error) ? error.message ?: error.name : strerror(-r));
                return 0;
        }
        *ret = TAKE_PTR(l);
        return 1;
}

static char **daemon_record(char **states, const char *slot) {
        for (char **s = states; s && s[0] && s[1] && s[2]; s += 3)
                if (streq(s[0], slot))
                        return s;
        return NULL;
}

static char *verdict_text(const PolicyVerdict *v) {
        char *s;
        if (asprintf(&s, "%s (%s)", passthrough_to_string(v->passthrough), v->rule ? v->rule->id : "no rule") < 0)
                return NULL;
        return s;
}

int verb_list(int argc, char **argv, void *userdata) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_(table_freep) Table *table = NULL;
        _cleanup_strv_free_ char **states = NULL;
        json_object *array = NULL;
        bool from_daemon;
        static const char *const headers[] = { "SLOT", "ID", "CLASS", "DRIVER", "GROUP", "STATE", "VERDICT", "DESCRIPTION", NULL };
        int r;

        r = load_topology(&t);
        if (r < 0)
                return r;
        r = load_policy(&p);
        if (r < 0)
                return r;
        r = daemon_states(&states);
        if (r < 0)
                return r;
        from_daemon = r > 0;

        if (arg_json != JSON_FORMAT_OFF)
                array = json_object_new_array();
        else
                table = table_new(8, headers);
        if (!array && !table)
                return log_oom();

        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                PolicyDevice pd = { .device = d, .driver = d->driver };
                PolicyVerdict v;
                char vendor_name[128], device_name[256];
                const char *state;

                if (arg_have_selector && !pci_selector_match(&arg_selector, &d->address, d->vendor, d->device, d->class))
                        continue;
                char **rec = daemon_record(states, d->slot);

                /* Rules that match on the driver mean the host driver, also once isolated moved the
                 * device to vfio-pci. */
                if (rec && !isempty(rec[2]))
                        pd.driver = rec[2];
                policy_evaluate(p, &pd, &v);
                state = rec && !isempty(rec[1]) ? rec[1] : offline_state(d, &v);
                pci_vendor_name(d->vendor, vendor_name, sizeof(vendor_name));
                pci_device_name(d->vendor, d->device, device_name, sizeof(device_name));

                if (array) {
                        json_object *o, *vo = json_object_new_object();
                        r = device_to_json(t, d, &o);
                        if (r < 0 || !vo) {
                                json_object_put(array);
                                json_object_put(vo);
                                return log_oom();
                        }
                        json_object_object_add(o, "vendor_name", vendor_name[0] ? json_object_new_string(vendor_name) : NULL);
                        json_object_object_add(o, "device_name", device_name[0] ? json_object_new_string(device_name) : NULL);
                        json_object_object_add(o, "state", json_object_new_string(state));
                        json_object_object_add(vo, "passthrough", json_object_new_string(passthrough_to_string(v.passthrough)));
                        json_object_object_add(vo, "rule", v.rule ? json_object_new_string(v.rule->id) : NULL);
                        json_object_object_add(vo, "mode", json_object_new_string(quarantine_mode_to_string(v.mode)));
                        json_object_object_add(vo, "quarantine_on_unbind", json_object_new_boolean(v.quarantine_on_unbind));
                        json_object_object_add(o, "verdict", vo);
                        json_object_array_add(array, o);
                } else {
                        _cleanup_free_ char *id = NULL, *cls = NULL, *group = NULL, *verdict = verdict_text(&v), *desc = NULL;
                        if (asprintf(&id, "%04x:%04x", d->vendor, d->device) < 0 ||
                            asprintf(&cls, "%06x", d->class) < 0 ||
                            (d->iommu_group >= 0 && asprintf(&group, "%d", d->iommu_group) < 0) || !verdict ||
                            asprintf(&desc, "%s%s%s", vendor_name, vendor_name[0] && device_name[0] ? " " : "", device_name) < 0)
                                return log_oom();
                        const char *cells[] = { d->slot, id, cls, d->driver, group, state, verdict, desc[0] ? desc : NULL };
                        if (table_add_row(table, cells) < 0)
                                return log_oom();
                }
        }

        if (array)
                output_json(array);
        else {
                table_print(table, stdout);
                if (arg_legend)
                        printf("\n%zu device%s listed; %s.\n", table_rows(table), table_rows(table) == 1 ? "" : "s",
                               from_daemon ? "states from isolated"
                               : arg_root  ? "states follow from the drivers in the snapshot"
                                           : "isolated is not running: states follow from the drivers");
        }
        return 0;
}
