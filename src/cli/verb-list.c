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

enum {
        COLUMN_DEVICE, /* JSON-only: the device's own fields, as audit and isolated's GetAudit have them */
        COLUMN_SLOT,
        COLUMN_ID,
        COLUMN_CLASS,
        COLUMN_DRIVER,
        COLUMN_GROUP,
        COLUMN_VENDOR_NAME,
        COLUMN_DEVICE_NAME,
        COLUMN_STATE,
        COLUMN_VERDICT,
        COLUMN_DESCRIPTION,
        COLUMN_PASSTHROUGH,
        COLUMN_RULE,
        COLUMN_MODE,
        COLUMN_QUARANTINE_ON_UNBIND,
};

static Table *list_table_new(void) {
        _cleanup_(table_freep) Table *t = NULL;

        t = table_new("DEVICE", "SLOT", "ID", "CLASS", "DRIVER", "GROUP", "VENDOR NAME", "DEVICE NAME", "STATE",
                      "VERDICT", "DESCRIPTION", "PASSTHROUGH", "RULE", "MODE", "QUARANTINE ON UNBIND");
        if (!t)
                return NULL;
        /* The text columns SLOT..GROUP, VERDICT and DESCRIPTION are words made of the device's fields,
         * which JSON has in the device object; JSON's verdict is an object. */
        if (table_set_json_name(t, COLUMN_DEVICE, TABLE_JSON_INLINE) < 0 ||
            table_set_json_name(t, COLUMN_SLOT, NULL) < 0 || table_set_json_name(t, COLUMN_ID, NULL) < 0 ||
            table_set_json_name(t, COLUMN_CLASS, NULL) < 0 || table_set_json_name(t, COLUMN_DRIVER, NULL) < 0 ||
            table_set_json_name(t, COLUMN_GROUP, NULL) < 0 || table_set_json_name(t, COLUMN_VERDICT, NULL) < 0 ||
            table_set_json_name(t, COLUMN_DESCRIPTION, NULL) < 0 ||
            table_set_json_name(t, COLUMN_PASSTHROUGH, "verdict/passthrough") < 0 ||
            table_set_json_name(t, COLUMN_RULE, "verdict/rule") < 0 ||
            table_set_json_name(t, COLUMN_MODE, "verdict/mode") < 0 ||
            table_set_json_name(t, COLUMN_QUARANTINE_ON_UNBIND, "verdict/quarantine_on_unbind") < 0 ||
            table_set_display(t, (size_t) COLUMN_SLOT, (size_t) COLUMN_ID, (size_t) COLUMN_CLASS,
                              (size_t) COLUMN_DRIVER, (size_t) COLUMN_GROUP, (size_t) COLUMN_STATE,
                              (size_t) COLUMN_VERDICT, (size_t) COLUMN_DESCRIPTION) < 0)
                return NULL;
        return TAKE_PTR(t);
}

int verb_list(int argc, char **argv, void *userdata) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_(table_freep) Table *table = NULL;
        _cleanup_strv_free_ char **states = NULL;
        bool from_daemon;
        size_t n;
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

        table = list_table_new();
        if (!table)
                return log_oom();

        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                PolicyDevice pd = { .device = d, .driver = d->driver };
                _cleanup_(json_object_putp) json_object *dev = NULL;
                _cleanup_free_ char *id = NULL, *cls = NULL, *verdict = NULL, *desc = NULL;
                PolicyVerdict v;
                char vendor_name[128], device_name[256];
                const char *state;

                if (arg_have_selector &&
                    !pci_selector_match(&arg_selector, &d->address, d->vendor, d->device, d->class))
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

                verdict = verdict_text(&v);
                if (device_to_json(t, d, &dev) < 0 || !verdict ||
                    asprintf(&id, "%04x:%04x", d->vendor, d->device) < 0 || asprintf(&cls, "%06x", d->class) < 0 ||
                    asprintf(&desc, "%s%s%s", vendor_name, vendor_name[0] && device_name[0] ? " " : "", device_name) <
                            0)
                        return log_oom();

                r = table_add_many(table, TABLE_JSON, dev, TABLE_STRING, d->slot, TABLE_STRING, id, TABLE_STRING, cls,
                                   TABLE_STRING, d->driver);
                if (r >= 0)
                        r = d->iommu_group >= 0 ? table_add_cell(table, TABLE_INT, &d->iommu_group)
                                                : table_add_cell(table, TABLE_EMPTY, NULL);
                if (r >= 0)
                        r = table_add_many(table, TABLE_STRING, empty_to_null(vendor_name), TABLE_STRING,
                                           empty_to_null(device_name), TABLE_STRING, state, TABLE_STRING, verdict,
                                           TABLE_STRING, empty_to_null(desc), TABLE_STRING,
                                           passthrough_to_string(v.passthrough), TABLE_STRING,
                                           v.rule ? v.rule->id : NULL, TABLE_STRING, quarantine_mode_to_string(v.mode),
                                           TABLE_BOOLEAN, v.quarantine_on_unbind);
                if (r < 0)
                        return log_oom();
        }

        r = output_table(table);
        if (r < 0)
                return r;
        n = table_get_rows(table);
        if (arg_json == JSON_FORMAT_OFF && arg_legend)
                printf("\n%zu device%s listed; %s.\n", n, n == 1 ? "" : "s",
                       from_daemon ? "states from isolated"
                       : arg_root  ? "states follow from the drivers in the snapshot"
                                   : "isolated is not running: states follow from the drivers");
        return 0;
}
