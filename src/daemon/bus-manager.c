/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "findings.h"
#include "isolate-bus.h"
#include "log.h"
#include "bus-device.h"
#include "bus-manager.h"
#include "device.h"
#include "hashmap.h"
#include "json-util.h"
#include "manager.h"
#include "operations.h"
#include "polkit.h"
#include "strv.h"
#include "user-util.h"

/* org.isolate1.Manager at /org/isolate1. Handlers: read → validate → authorize → act → emit → reply. */

/* The device list of Quarantine() and Release(), read before authorization. That is all the work a
 * caller without any right can make isolated do per element, so it is bounded and linear: the count
 * is capped (ISOLATE_DEVICES_PER_CALL_MAX) before an element beyond the cap is looked at, and each
 * address is parsed in constant time, not copied (the strings stay in the message). Invalid
 * addresses are refused here, so that a method call waiting for polkit pins at most the cap's worth
 * of short strings. */
static int read_addresses(sd_bus_message *m, PciAddress **ret, size_t *ret_n, sd_bus_error *error) {
        _cleanup_free_ PciAddress *a = NULL;
        size_t n = 0, n_allocated = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        for (;;) {
                const char *s;

                r = sd_bus_message_read_basic(m, 's', &s);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n >= ISOLATE_DEVICES_PER_CALL_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Too many devices: at most %u per call.",
                                                 ISOLATE_DEVICES_PER_CALL_MAX);
                if (!GREEDY_REALLOC(a, n_allocated, n + 1))
                        return -ENOMEM;
                if (pci_address_parse(s, &a[n]) < 0)
                        return sd_bus_error_setf(
                                error, SD_BUS_ERROR_INVALID_ARGS,
                                "Invalid device address '%.32s%s': expected a PCI address such as 0000:03:00.0.", s,
                                strlen(s) > 32 ? "..." : "");
                n++;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if (n == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "No device given.");
        *ret = TAKE_PTR(a);
        *ret_n = n;
        return 0;
}

typedef struct IndexedAddress {
        PciAddress address;
        size_t index;
} IndexedAddress;

static int indexed_address_compare(const void *x, const void *y) {
        const IndexedAddress *a = x, *b = y;
        int c = pci_address_compare(&a->address, &b->address);
        if (c != 0)
                return c;
        return a->index < b->index ? -1 : a->index > b->index;
}

/* The canonical slots, each once, in the order of their first mention: sorted by (address, position)
 * to find the first of each run of equal addresses, O(n log n). After authorization. */
static int addresses_to_slots(const PciAddress *a, size_t n, char ***ret) {
        _cleanup_free_ IndexedAddress *sorted = NULL;
        _cleanup_free_ bool *first = NULL;
        _cleanup_strv_free_ char **slots = NULL;
        size_t n_slots = 0;

        sorted = calloc(n, sizeof(IndexedAddress));
        first = calloc(n, sizeof(bool));
        slots = calloc(n + 1, sizeof(char *));
        if (!sorted || !first || !slots)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                sorted[i] = (IndexedAddress) { .address = a[i], .index = i };
        qsort(sorted, n, sizeof(IndexedAddress), indexed_address_compare);
        for (size_t i = 0; i < n; i++)
                if (i == 0 || !pci_address_equal(&sorted[i - 1].address, &sorted[i].address))
                        first[sorted[i].index] = true;
        for (size_t i = 0; i < n; i++) {
                char buf[PCI_ADDRESS_MAX];
                if (!first[i])
                        continue;
                slots[n_slots] = strdup(pci_address_format(&a[i], buf));
                if (!slots[n_slots])
                        return -ENOMEM;
                n_slots++;
        }
        *ret = TAKE_PTR(slots);
        return 0;
}

static uid_t caller_uid(sd_bus_message *m) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid = UID_INVALID;
        if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds) >= 0)
                (void) sd_bus_creds_get_euid(creds, &uid);
        return uid;
}

static int reply_strv(sd_bus_message *m, char **l) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(reply, l);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_quarantine(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_strv_free_ char **slots = NULL, **taken = NULL;
        _cleanup_free_ PciAddress *addresses = NULL;
        size_t n_addresses;
        const char *mode_s;
        QuarantineMode mode = _QUARANTINE_MODE_INVALID;
        int interactive, r;

        r = read_addresses(msg, &addresses, &n_addresses, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "sb", &mode_s, &interactive);
        if (r < 0)
                return r;
        if (!isempty(mode_s)) {
                mode = quarantine_mode_from_string(mode_s);
                if (mode < 0)
                        return sd_bus_error_setf(
                                error, SD_BUS_ERROR_INVALID_ARGS,
                                "Invalid mode '%s': expected blocked, scratch-page or \"\" for the policy's.", mode_s);
        }
        r = bus_verify_polkit(msg, ISOLATE_POLKIT_ACTION_MANAGE, interactive, &m->polkit_registry, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1;

        r = addresses_to_slots(addresses, n_addresses, &slots);
        if (r < 0)
                return r;
        r = operation_quarantine(m, slots, mode, "requested over D-Bus", caller_uid(msg), &taken, error);
        if (r < 0)
                return r;
        return reply_strv(msg, taken);
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_strv_free_ char **slots = NULL, **released = NULL;
        _cleanup_free_ PciAddress *addresses = NULL;
        size_t n_addresses;
        const char *to;
        int interactive, r;

        r = read_addresses(msg, &addresses, &n_addresses, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "sb", &to, &interactive);
        if (r < 0)
                return r;
        if (!streq(to, "guest") && !streq(to, "host"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid target '%s': expected guest or host.", to);
        r = bus_verify_polkit(msg, ISOLATE_POLKIT_ACTION_MANAGE, interactive, &m->polkit_registry, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1;

        r = addresses_to_slots(addresses, n_addresses, &slots);
        if (r < 0)
                return r;
        r = operation_release(m, slots, streq(to, "guest"), caller_uid(msg), &released, error);
        if (r < 0)
                return r;
        return reply_strv(msg, released);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int interactive, r;

        r = sd_bus_message_read(msg, "b", &interactive);
        if (r < 0)
                return r;
        r = bus_verify_polkit(msg, ISOLATE_POLKIT_ACTION_MANAGE, interactive, &m->polkit_registry, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1;
        r = operation_reload_policy(m, NULL, caller_uid(msg), error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', ISOLATE_DEVICE_RECORD);
        if (r < 0)
                return r;
        FOREACH_ARRAY(pd, m->topology->devices, m->topology->n_devices) {
                r = bus_device_append_record(m, reply, pd->slot);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *slot = NULL, *path = NULL;
        const char *s;
        PciAddress a;
        int r;

        r = sd_bus_message_read(msg, "s", &s);
        if (r < 0)
                return r;
        if (pci_address_canonicalize(s, &slot) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid device address '%s': expected a PCI address such as 0000:03:00.0.",
                                         s);
        if (pci_address_parse(slot, &a) < 0 || !topology_find_device(m->topology, &a))
                return sd_bus_error_setf(error, ISOLATE_ERROR_NO_SUCH_DEVICE, "No PCI device %s.", slot);
        r = isolate_bus_device_path(slot, &path);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = bus_device_append_record(m, reply, slot);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "o", path);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_audit(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(findings_done) Findings f = {};
        _cleanup_(fault_counts_done) FaultCounts faults = {};
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        /* The daemon's own fault counts are what it attributed; the audit adds them as findings. */
        Device *d;
        HASHMAP_FOREACH(d, m->devices) {
                FaultCount *c;
                PciAddress a;
                if (d->faults_read + d->faults_write + d->faults_other == 0 || pci_address_parse(d->slot, &a) < 0)
                        continue;
                c = fault_counts_get(&faults, &a, true);
                if (!c)
                        return -ENOMEM;
                c->reads = d->faults_read;
                c->writes = d->faults_write;
                c->other = d->faults_other;
        }
        faults.suppressed = m->kmsg_suppressed;
        r = findings_collect(m->topology, &faults, &f);
        if (r < 0)
                return r;
        r = audit_to_json(m->topology, &f, NULL, 0, &o);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static int method_get_policy(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        r = policy_to_json(m->policy, &o);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_default_mode(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", quarantine_mode_to_string(m->policy->mode));
}

static int property_get_unbind(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", unbind_policy_to_string(m->policy->quarantine_on_unbind));
}

static int property_get_policy_files(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append_strv(reply, m->policy->files);
}

static int property_get_policy_error(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", strempty(m->policy_error));
}

static int property_get_backend(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", engine_kind_to_string(m->engine->kind));
}

static int property_get_backend_reason(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "s", strempty(m->backend_reason));
}

static int property_get_held(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        uint32_t n = 0;
        FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices)
                if (h->state == DEVICE_STATE_QUARANTINED)
                        n++;
        return sd_bus_message_append(reply, "u", n);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DefaultMode", "s", property_get_default_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("QuarantineOnUnbind", "s", property_get_unbind, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PolicyFiles", "as", property_get_policy_files, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PolicyError", "s", property_get_policy_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Backend", "s", property_get_backend, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("BackendReason", "s", property_get_backend_reason, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("QuarantinedDevices", "u", property_get_held, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Quarantine", SD_BUS_ARGS("as", devices, "s", mode, "b", interactive),
                                SD_BUS_RESULT("as", taken), method_quarantine, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_ARGS("as", devices, "s", to, "b", interactive),
                                SD_BUS_RESULT("as", released), method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS, SD_BUS_RESULT("a" ISOLATE_DEVICE_RECORD, devices),
                                method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetDevice", SD_BUS_ARGS("s", device),
                                SD_BUS_RESULT(ISOLATE_DEVICE_RECORD, record, "o", object), method_get_device,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Audit", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_audit,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPolicy", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json), method_get_policy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_ARGS("b", interactive), SD_BUS_NO_RESULT, method_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("DeviceStateChanged", SD_BUS_ARGS("s", device, "s", state, "s", mode, "s", reason), 0),
        SD_BUS_SIGNAL_WITH_ARGS(
                "DmaFault",
                SD_BUS_ARGS("s", device, "s", access, "t", iova, "s", reason, "t", timestamp, "b", quarantined), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PolicyReloaded", SD_BUS_ARGS("as", files), 0),
        SD_BUS_VTABLE_END,
};

/* ---- signals ------------------------------------------------------------------------------ */

void bus_manager_emit_device_changed(Manager *m, const char *slot, const char *reason) {
        DeviceState st;

        if (!m->bus)
                return;
        st = manager_device_state(m, slot);
        (void) sd_bus_emit_signal(m->bus, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE, "DeviceStateChanged", "ssss",
                                  slot, strempty(device_state_to_string(st)), bus_device_mode(m, slot),
                                  strempty(reason));
        bus_device_emit_state_changed(m, slot);
        (void) sd_bus_emit_properties_changed(m->bus, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                              "QuarantinedDevices", NULL);
}

void bus_manager_emit_dma_fault(Manager *m, const char *slot, const DmaFault *f, uint64_t when) {
        HeldDevice *h;

        if (!m->bus)
                return;
        h = engine_find(m->engine, slot);
        (void) sd_bus_emit_signal(m->bus, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE, "DmaFault", "sststb", slot,
                                  f->interrupt ? "interrupt" : dma_access_to_string(f->access),
                                  (uint64_t) (f->has_iova ? f->iova : 0), f->reason_text, when,
                                  h && h->state == DEVICE_STATE_QUARANTINED);
        bus_device_emit_faults_changed(m, slot);
}

void bus_manager_emit_policy_reloaded(Manager *m) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;

        if (!m->bus)
                return;
        if (sd_bus_message_new_signal(m->bus, &sig, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                      "PolicyReloaded") >= 0 &&
            sd_bus_message_append_strv(sig, m->policy->files) >= 0)
                (void) sd_bus_send(m->bus, sig, NULL);
        (void) sd_bus_emit_properties_changed(m->bus, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE, "DefaultMode",
                                              "QuarantineOnUnbind", "PolicyFiles", "PolicyError", NULL);
}

/* ---- setup ---------------------------------------------------------------------------------- */

int bus_manager_setup(Manager *m) {
        int r;

        r = m->config.user_bus ? sd_bus_open_user(&m->bus) : sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus: %m",
                                       m->config.user_bus ? "session" : "system");
        (void) sd_bus_error_add_map(isolate_bus_error_map);

        r = sd_bus_add_object_vtable(m->bus, NULL, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the manager object: %m");
        r = bus_device_setup(m);
        if (r < 0)
                return r;
        r = sd_bus_request_name(m->bus, ISOLATE_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire the bus name %s (is another isolated running?): %m",
                                       ISOLATE_BUS_NAME);
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        return 0;
}
