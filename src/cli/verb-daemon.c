/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs that go through isolated: status, quarantine, release, reload, monitor. */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "bus-client.h"
#include "cli.h"
#include "isolate-bus.h"
#include "isolatectl.h"
#include "log.h"
#include "strv.h"
#include "time-util.h"

static int canonical_devices(int argc, char **argv, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ PciAddress *a = NULL;
        int r;

        r = parse_device_args(argv + 1, (size_t) argc - 1, &a);
        if (r < 0)
                return r;
        for (int i = 0; i < argc - 1; i++) {
                char buf[PCI_ADDRESS_MAX];
                if (strv_extend(&l, pci_address_format(&a[i], buf)) < 0)
                        return log_oom();
        }
        *ret = TAKE_PTR(l);
        return 0;
}

enum {
        COLUMN_SLOT,
        COLUMN_STATE,
        COLUMN_MODE,
        COLUMN_GROUP,
        COLUMN_HOST_DRIVER,
        COLUMN_SINCE,
        COLUMN_SINCE_USEC,
        COLUMN_FAULTS_READ,
        COLUMN_FAULTS_WRITE,
        COLUMN_FAULTS_OTHER,
        COLUMN_FAULTS_TOTAL,
        COLUMN_FAULTS_LAST,
        COLUMN_FAULTS, /* text: the counts in one word */
        COLUMN_PASSTHROUGH,
        COLUMN_RULE,
        COLUMN_LAST_ERROR,
        COLUMN_DEGRADED,
};

static Table *status_table_new(void) {
        _cleanup_(table_freep) Table *t = NULL;

        t = table_new("SLOT", "STATE", "MODE", "IOMMU GROUP", "HOST DRIVER", "SINCE", "SINCE USEC", "READ", "WRITE",
                      "OTHER", "TOTAL", "LAST FAULT", "DMA FAULTS", "PASSTHROUGH", "RULE", "LAST ERROR", "DEGRADED");
        if (!t)
                return NULL;
        if (table_set_json_name(t, COLUMN_FAULTS_READ, "dma_faults/read") < 0 ||
            table_set_json_name(t, COLUMN_FAULTS_WRITE, "dma_faults/write") < 0 ||
            table_set_json_name(t, COLUMN_FAULTS_OTHER, "dma_faults/other") < 0 ||
            table_set_json_name(t, COLUMN_FAULTS_TOTAL, "dma_faults/total") < 0 ||
            table_set_json_name(t, COLUMN_FAULTS_LAST, "dma_faults/last") < 0 ||
            table_set_json_name(t, COLUMN_FAULTS, NULL) < 0 ||
            table_set_display(t, (size_t) COLUMN_SLOT, (size_t) COLUMN_STATE, (size_t) COLUMN_MODE,
                              (size_t) COLUMN_SINCE, (size_t) COLUMN_FAULTS, (size_t) COLUMN_HOST_DRIVER,
                              (size_t) COLUMN_RULE) < 0)
                return NULL;
        return TAKE_PTR(t);
}

static int status_add_row(Table *t, const DeviceRecord *d) {
        _cleanup_strv_free_ char **degraded = NULL;
        char faults[64];
        int r;

        assert(t);
        assert(d);

        if (!isempty(d->degraded) && strv_split(d->degraded, ",", &degraded) < 0)
                return -ENOMEM;
        snprintf(faults, sizeof(faults), "%u (%ur %uw%s)", d->faults_read + d->faults_write + d->faults_other,
                 d->faults_read, d->faults_write, d->faults_other ? " +other" : "");

        r = table_add_many(t, TABLE_STRING, d->slot, TABLE_STRING, d->state, TABLE_STRING, empty_to_null(d->mode));
        if (r >= 0)
                r = d->group >= 0 ? table_add_many(t, TABLE_INT, (int) d->group) : table_add_many(t, TABLE_EMPTY);
        if (r >= 0)
                r = table_add_many(t, TABLE_STRING, empty_to_null(d->host_driver), TABLE_TIMESTAMP, d->since,
                                   TABLE_UINT64, d->since, TABLE_UINT, (unsigned) d->faults_read, TABLE_UINT,
                                   (unsigned) d->faults_write, TABLE_UINT, (unsigned) d->faults_other, TABLE_UINT64,
                                   (uint64_t) d->faults_read + d->faults_write + d->faults_other, TABLE_TIMESTAMP,
                                   d->last_fault, TABLE_STRING, faults, TABLE_STRING, d->passthrough, TABLE_STRING,
                                   empty_to_null(d->rule), TABLE_STRING, empty_to_null(d->last_error), TABLE_STRV,
                                   degraded);
        return r;
}

/* The legend's last line: which kernel interface holds the devices, and why (legacy VFIO guarantees
 * less: see the audit). */
static void print_backend(sd_bus *bus) {
        _cleanup_free_ char *backend = NULL, *reason = NULL;

        if (sd_bus_get_property_string(bus, ISOLATE_BUS_NAME, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                       "Backend", NULL, &backend) >= 0 &&
            sd_bus_get_property_string(bus, ISOLATE_BUS_NAME, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                       "BackendReason", NULL, &reason) >= 0)
                printf("\nBackend: %s (%s)\n", backend, reason);
}

int verb_status(int argc, char **argv, void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_strv_free_ char **want = NULL, **seen = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        DeviceRecord d;
        size_t errors = 0;
        int r;

        r = canonical_devices(argc, argv, &want);
        if (r < 0)
                return r;
        r = bus_connect(&bus);
        if (r < 0)
                return r;
        r = bus_list_devices(bus, true, 0, &reply, &error);
        if (r < 0)
                return bus_log_error(&error, r, "show the status");

        t = status_table_new();
        if (!t)
                return log_oom();

        while ((r = bus_read_device_record(reply, &d)) > 0) {
                bool held = streq(d.state, "quarantined") || streq(d.state, "released") || streq(d.state, "failed");

                if (want ? !strv_contains(want, d.slot) : !(held || !isempty(d.last_error)))
                        continue;
                if (strv_extend(&seen, d.slot) < 0 || status_add_row(t, &d) < 0)
                        return log_oom();
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the daemon's reply: %m");

        STRV_FOREACH(w, want)
                if (!strv_contains(seen, *w))
                        return log_error_errno(ENODEV, "No PCI device %s.", *w);

        if (arg_json != JSON_FORMAT_OFF)
                return output_table(t);
        if (table_get_rows(t) == 0) {
                if (arg_legend) {
                        printf("isolated holds no devices.\n");
                        print_backend(bus);
                }
                return 0;
        }
        r = output_table(t);
        if (r < 0)
                return r;
        /* failures are never quiet: show them under the table */
        for (size_t i = 0; i < table_get_rows(t); i++) {
                const char *e = table_get_string(t, i, COLUMN_LAST_ERROR);
                if (e) {
                        printf("\n%s: %s", table_get_string(t, i, COLUMN_SLOT), e);
                        errors++;
                }
        }
        if (errors > 0)
                printf("\n");
        if (arg_legend && !want)
                print_backend(bus);
        return 0;
}

/* The answer of Quarantine and Release: one row, the devices that moved (and where to). JSON prints it
 * as an object; the text form is a line with the devices joined by blanks. */
static int output_devices(const char *header, char **devices, const char *to) {
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_free_ char *list = NULL;
        int r;

        assert(header);

        t = to ? table_new(header, "TO") : table_new(header);
        if (!t)
                return log_oom();
        r = table_add_cell(t, TABLE_STRV, devices);
        if (r >= 0 && to)
                r = table_add_cell(t, TABLE_STRING, to);
        if (r < 0)
                return log_oom();

        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o;
                if (table_row_to_json(t, 0, &o) < 0)
                        return log_oom();
                output_json(o);
                return 0;
        }
        list = strv_join(table_get_strv(t, 0, 0), " ");
        if (!list)
                return log_oom();
        if (to)
                printf("Released to the %s: %s\n", table_get_string(t, 0, 1), list);
        else
                printf("Quarantined: %s\n", list);
        return 0;
}

int verb_quarantine(int argc, char **argv, void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_strv_free_ char **devices = NULL, **taken = NULL;
        int r;

        r = canonical_devices(argc, argv, &devices);
        if (r < 0)
                return r;
        r = bus_connect(&bus);
        if (r < 0)
                return r;
        r = bus_call_strv_method(bus, "Quarantine", devices, arg_mode >= 0 ? quarantine_mode_to_string(arg_mode) : "",
                                 &error, &taken);
        if (r < 0)
                return bus_log_error(&error, r, "quarantine devices");
        return output_devices("QUARANTINED", taken, NULL);
}

int verb_release(int argc, char **argv, void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_strv_free_ char **devices = NULL, **released = NULL;
        int r;

        if (!arg_to)
                return usage_error("'release' needs --to=guest or --to=host.");
        r = canonical_devices(argc, argv, &devices);
        if (r < 0)
                return r;
        r = bus_connect(&bus);
        if (r < 0)
                return r;
        r = bus_call_strv_method(bus, "Release", devices, arg_to, &error, &released);
        if (r < 0)
                return bus_log_error(&error, r, "release devices");
        return output_devices("RELEASED", released, arg_to);
}

int verb_reload(int argc, char **argv, void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bus_connect(&bus);
        if (r < 0)
                return r;
        r = bus_call_method(bus, "Reload", &error, &reply, "b", arg_ask_password);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, ISOLATE_ERROR_POLICY_INVALID)) {
                        fprintf(stderr, "%s\n", error.message);
                        return -EBADMSG;
                }
                return bus_log_error(&error, r, "reload the policy");
        }
        if (arg_legend && arg_json == JSON_FORMAT_OFF)
                printf("Policy reloaded.\n");
        return 0;
}

/* ---- monitor ---------------------------------------------------------------------------- */

/* Each event is a one-row table: with --json one object per line, else one line of text made of the
 * same cells. */
static void emit(Table *t, char *(*format)(const Table *t)) {
        if (arg_json != JSON_FORMAT_OFF) {
                _cleanup_(json_object_putp) json_object *o = NULL;
                if (table_row_to_json(t, 0, &o) < 0) {
                        log_oom();
                        return;
                }
                /* JSON lines: always one object per line */
                fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                      stdout);
                fputc('\n', stdout);
        } else {
                _cleanup_free_ char *human = format(t);
                if (!human) {
                        log_oom();
                        return;
                }
                puts(human);
        }
        fflush(stdout);
}

/* The columns every event starts with. */
enum {
        EVENT_COLUMN_EVENT,
        EVENT_COLUMN_TIME,
        EVENT_COLUMN_DEVICE,
};

static char *cell_text(const Table *t, size_t column) {
        return table_format_cell(t, 0, column);
}

static char *state_text(const Table *t) {
        _cleanup_free_ char *when = cell_text(t, EVENT_COLUMN_TIME);
        const char *mode = table_get_string(t, 0, 4);
        char *s;

        if (!when || asprintf(&s, "%s  %s  %s%s%s%s  (%s)", when, table_get_string(t, 0, EVENT_COLUMN_DEVICE),
                              table_get_string(t, 0, 3), mode ? " (" : "", strempty(mode), mode ? ")" : "",
                              table_get_string(t, 0, 5)) < 0)
                return NULL;
        return s;
}

static int on_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(table_freep) Table *t = NULL;
        const char *slot, *state, *mode, *reason;

        if (sd_bus_message_read(m, "ssss", &slot, &state, &mode, &reason) < 0)
                return 0;
        t = table_new("EVENT", "TIME", "DEVICE", "STATE", "MODE", "REASON");
        if (!t || table_add_many(t, TABLE_STRING, "state", TABLE_TIMESTAMP, now_realtime_usec(), TABLE_STRING, slot,
                                 TABLE_STRING, state, TABLE_STRING, empty_to_null(mode), TABLE_STRING, reason) < 0)
                return log_oom();
        emit(t, state_text);
        return 0;
}

static char *fault_text(const Table *t) {
        _cleanup_free_ char *when = cell_text(t, EVENT_COLUMN_TIME);
        char *s;

        if (!when || asprintf(&s, "%s  %s  DMA fault: %s at IOVA 0x%llx (%s)%s", when,
                              table_get_string(t, 0, EVENT_COLUMN_DEVICE), table_get_string(t, 0, 3),
                              (unsigned long long) table_get_uint64(t, 0, 4), table_get_string(t, 0, 5),
                              table_get_boolean(t, 0, 6) ? " [in quarantine]" : "") < 0)
                return NULL;
        return s;
}

static int on_dma_fault(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(table_freep) Table *t = NULL;
        const char *slot, *access, *reason;
        uint64_t iova, when;
        int quarantined;

        if (sd_bus_message_read(m, "sststb", &slot, &access, &iova, &reason, &when, &quarantined) < 0)
                return 0;
        t = table_new("EVENT", "TIME", "DEVICE", "ACCESS", "IOVA", "REASON", "QUARANTINED");
        if (!t || table_add_many(t, TABLE_STRING, "dma-fault", TABLE_TIMESTAMP, when, TABLE_STRING, slot, TABLE_STRING,
                                 access, TABLE_UINT64, iova, TABLE_STRING, reason, TABLE_BOOLEAN, quarantined) < 0)
                return log_oom();
        emit(t, fault_text);
        return 0;
}

static char *policy_text(const Table *t) {
        _cleanup_free_ char *when = cell_text(t, EVENT_COLUMN_TIME);
        _cleanup_free_ char *list = NULL;
        char **files = table_get_strv(t, 0, 2);
        char *s;

        if (files && !(list = strv_join(files, ", ")))
                return NULL;
        if (!when || asprintf(&s, "%s  policy reloaded (%s)", when, files ? list : "built-in defaults") < 0)
                return NULL;
        return s;
}

static int on_policy_reloaded(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_strv_free_ char **files = NULL;

        (void) sd_bus_message_read_strv(m, &files);
        t = table_new("EVENT", "TIME", "FILES");
        if (!t || table_add_many(t, TABLE_STRING, "policy-reloaded", TABLE_TIMESTAMP, now_realtime_usec(), TABLE_STRV,
                                 files) < 0)
                return log_oom();
        emit(t, policy_text);
        return 0;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *name, *old, *new;
        if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 || !streq(name, ISOLATE_BUS_NAME))
                return 0;
        if (arg_json == JSON_FORMAT_OFF)
                printf("-- isolated %s --\n", isempty(new) ? "stopped" : "started");
        fflush(stdout);
        return 0;
}

int verb_monitor(int argc, char **argv, void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        sigset_t mask;
        int r;

        r = bus_connect(&bus);
        if (r < 0)
                return r;
        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        (void) sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);

        r = sd_bus_match_signal(bus, NULL, ISOLATE_BUS_NAME, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                "DeviceStateChanged", on_state_changed, NULL);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, ISOLATE_BUS_NAME, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                        "DmaFault", on_dma_fault, NULL);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, ISOLATE_BUS_NAME, ISOLATE_BUS_PATH, ISOLATE_BUS_MANAGER_INTERFACE,
                                        "PolicyReloaded", on_policy_reloaded, NULL);
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL,
                                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                     "arg0='" ISOLATE_BUS_NAME "'",
                                     on_owner_changed, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to isolated's signals: %m");
        r = sd_bus_attach_event(bus, event, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus: %m");

        /* The matches are in place (AddMatch is synchronous): say so, so that a script knows from when
         * on it sees every event. */
        if (arg_json != JSON_FORMAT_OFF) {
                _cleanup_(table_freep) Table *t = table_new("EVENT", "TIME");
                if (!t || table_add_many(t, TABLE_STRING, "monitoring", TABLE_TIMESTAMP, now_realtime_usec()) < 0)
                        return log_oom();
                emit(t, NULL);
        } else if (arg_legend) {
                printf("Monitoring isolated (state changes and DMA faults); press Ctrl-C to stop.\n");
                fflush(stdout);
        }
        r = sd_event_loop(event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
