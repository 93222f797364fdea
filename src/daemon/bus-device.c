/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stddef.h>
#include <stdlib.h>

#include "bus-device.h"
#include "device.h"
#include "isolate-bus.h"
#include "log.h"
#include "manager.h"
#include "strv.h"

/* What a device's record says about failures: its last error, else (held, protection incomplete) why;
 * and the degradation ids, comma-separated. */
static int device_problems(Manager *m, const char *slot, char **ret_error, char **ret_degraded) {
        HeldDevice *h = engine_find(m->engine, slot);
        Device *d = device_find(m, slot);
        _cleanup_strv_free_ char **ids = NULL;
        _cleanup_free_ char *error = NULL, *degraded = NULL;

        if (h && h->degraded != 0 && (degradation_to_strv(h->degraded, &ids) < 0 || !(degraded = strv_join(ids, ","))))
                return -ENOMEM;
        if (d && d->last_error)
                error = strdup(d->last_error);
        else if (h && h->degraded != 0)
                error = degradation_explain(h);
        else
                error = strdup("");
        if (!error)
                return -ENOMEM;
        *ret_error = TAKE_PTR(error);
        *ret_degraded = degraded ? TAKE_PTR(degraded) : strdup("");
        return *ret_degraded ? 0 : -ENOMEM;
}

const char *bus_device_mode(Manager *m, const char *slot) {
        HeldDevice *h = engine_find(m->engine, slot);
        return h && h->state == DEVICE_STATE_QUARANTINED ? quarantine_mode_to_string(h->mode) : "";
}

int bus_device_append_record(Manager *m, sd_bus_message *reply, const char *slot) {
        _cleanup_free_ char *error = NULL, *degraded = NULL;
        const PciDevice *pd;
        PolicyVerdict v = {};
        PciAddress a;
        Device *d;
        int r;

        assert(m);
        assert(reply);

        if (!slot || pci_address_parse(slot, &a) < 0 || !(pd = topology_find_device(m->topology, &a)))
                return -ENODEV;
        d = device_find(m, pd->slot);
        (void) manager_verdict(m, pd->slot, &v);
        r = device_problems(m, pd->slot, &error, &degraded);
        if (r < 0)
                return r;
        return sd_bus_message_append(
                reply, ISOLATE_DEVICE_RECORD, pd->slot,
                strempty(device_state_to_string(manager_device_state(m, pd->slot))), bus_device_mode(m, pd->slot),
                pd->iommu_group, d && d->host_driver ? d->host_driver : "", d ? d->since : 0, d ? d->faults_read : 0,
                d ? d->faults_write : 0, d ? d->faults_other : 0, d ? d->last_fault : 0,
                passthrough_to_string(v.passthrough), v.rule ? v.rule->id : "", error, degraded);
}

/* ---- the objects ----------------------------------------------------------------------------- */

static int device_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                              sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *slot = NULL;
        Device *d;

        if (isolate_bus_device_slot(path, &slot) < 0 || !device_exists(m, slot))
                return 0;
        d = device_get(m, slot);
        if (!d)
                return -ENOMEM;
        *found = d;
        return 1;
}

static int device_object_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_strv_free_ char **l = NULL;

        FOREACH_ARRAY(pd, m->topology->devices, m->topology->n_devices) {
                char *p;
                if (isolate_bus_device_path(pd->slot, &p) < 0 || strv_consume(&l, p) < 0)
                        return -ENOMEM;
        }
        *nodes = TAKE_PTR(l);
        return 1;
}

static int property_get_slot(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", d->slot);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s",
                                     strempty(device_state_to_string(manager_device_state(d->manager, d->slot))));
}

static int property_get_mode(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        return sd_bus_message_append(reply, "s", bus_device_mode(d->manager, d->slot));
}

static int property_get_group(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        PciAddress a;
        const PciDevice *pd =
                pci_address_parse(d->slot, &a) >= 0 ? topology_find_device(d->manager->topology, &a) : NULL;
        return sd_bus_message_append(reply, "i", pd ? pd->iommu_group : -1);
}

static int property_get_verdict(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        PolicyVerdict v = {};

        (void) manager_verdict(d->manager, d->slot, &v);
        if (streq(property, "Passthrough"))
                return sd_bus_message_append(reply, "s", passthrough_to_string(v.passthrough));
        return sd_bus_message_append(reply, "s", v.rule ? v.rule->id : "");
}

static int property_get_last_error(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        _cleanup_free_ char *e = NULL, *degraded = NULL;
        int r = device_problems(d->manager, d->slot, &e, &degraded);
        if (r < 0)
                return r;
        return sd_bus_message_append(reply, "s", e);
}

static int property_get_degraded(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        HeldDevice *h = engine_find(d->manager->engine, d->slot);
        _cleanup_strv_free_ char **ids = NULL;
        if (h && degradation_to_strv(h->degraded, &ids) < 0)
                return -ENOMEM;
        return sd_bus_message_append_strv(reply, ids);
}

/* Plain fields of the record are read by sd-bus itself (offsetof; NULL strings read as ""). */
static const sd_bus_vtable device_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Slot", "s", property_get_slot, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Mode", "s", property_get_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IommuGroup", "i", property_get_group, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("HostDriver", "s", NULL, offsetof(Device, host_driver), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Since", "t", NULL, offsetof(Device, since), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DmaFaultsRead", "u", NULL, offsetof(Device, faults_read), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DmaFaultsWrite", "u", NULL, offsetof(Device, faults_write),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DmaFaultsOther", "u", NULL, offsetof(Device, faults_other),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastFault", "t", NULL, offsetof(Device, last_fault), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Passthrough", "s", property_get_verdict, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Rule", "s", property_get_verdict, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastError", "s", property_get_last_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Degraded", "as", property_get_degraded, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

int bus_device_setup(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, NULL, ISOLATE_BUS_DEVICE_PREFIX, ISOLATE_BUS_DEVICE_INTERFACE,
                                       device_vtable, device_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the device objects: %m");
        r = sd_bus_add_node_enumerator(m->bus, NULL, ISOLATE_BUS_DEVICE_PREFIX, device_object_enumerate, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the device enumerator: %m");
        return 0;
}

/* ---- PropertiesChanged ------------------------------------------------------------------------ */

static void emit_changed(Manager *m, const char *slot, char **names) {
        _cleanup_free_ char *path = NULL;

        if (m->bus && isolate_bus_device_path(slot, &path) >= 0)
                (void) sd_bus_emit_properties_changed_strv(m->bus, path, ISOLATE_BUS_DEVICE_INTERFACE, names);
}

void bus_device_emit_state_changed(Manager *m, const char *slot) {
        emit_changed(m, slot, STRV_MAKE("State", "Mode", "Since", "HostDriver", "LastError", "Degraded"));
}

void bus_device_emit_faults_changed(Manager *m, const char *slot) {
        emit_changed(m, slot, STRV_MAKE("DmaFaultsRead", "DmaFaultsWrite", "DmaFaultsOther", "LastFault"));
}

void bus_device_emit_verdict_changed(Manager *m, const char *slot) {
        emit_changed(m, slot, STRV_MAKE("Passthrough", "Rule"));
}
