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

static char *format_time(uint64_t usec, char buf[static 64]) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        if (usec == 0) {
                snprintf(buf, 64, "-");
                return buf;
        }
        strftime(buf, 64, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
        return buf;
}

static char *format_iso_time(uint64_t usec, char buf[static 64]) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;
        char s[32];

        strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
        snprintf(buf, 64, "%s.%06lluZ", s, (unsigned long long) (usec % 1000000));
        return buf;
}

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

int verb_status(int argc, char **argv, void *userdata) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_strv_free_ char **want = NULL, **seen = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_(json_object_putp) json_object *array = NULL;
        static const char *const headers[] = { "SLOT", "STATE", "MODE", "SINCE", "DMA FAULTS", "HOST DRIVER", "RULE", NULL };
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

        if (arg_json != JSON_FORMAT_OFF)
                array = json_object_new_array();
        else
                t = table_new(7, headers);
        if (!array && !t)
                return log_oom();

        while ((r = bus_read_device_record(reply, &d)) > 0) {
                bool held = streq(d.state, "quarantined") || streq(d.state, "released") || streq(d.state, "failed");
                char since[64], faults[64];

                if (want ? !strv_contains(want, d.slot) : !(held || !isempty(d.last_error)))
                        continue;
                if (strv_extend(&seen, d.slot) < 0)
                        return log_oom();
                if (array) {
                        json_object *o = json_object_new_object(), *f = json_object_new_object();
                        json_object_object_add(o, "slot", json_object_new_string(d.slot));
                        json_object_object_add(o, "state", json_object_new_string(d.state));
                        json_object_object_add(o, "mode", isempty(d.mode) ? NULL : json_object_new_string(d.mode));
                        json_object_object_add(o, "iommu_group", d.group >= 0 ? json_object_new_int(d.group) : NULL);
                        json_object_object_add(o, "host_driver", isempty(d.host_driver) ? NULL : json_object_new_string(d.host_driver));
                        json_object_object_add(o, "since", d.since ? json_object_new_string(format_iso_time(d.since, since)) : NULL);
                        json_object_object_add(o, "since_usec", json_object_new_uint64(d.since));
                        json_object_object_add(f, "read", json_object_new_int64(d.faults_read));
                        json_object_object_add(f, "write", json_object_new_int64(d.faults_write));
                        json_object_object_add(f, "other", json_object_new_int64(d.faults_other));
                        json_object_object_add(f, "total", json_object_new_int64((int64_t) d.faults_read + d.faults_write + d.faults_other));
                        json_object_object_add(f, "last", d.last_fault ? json_object_new_string(format_iso_time(d.last_fault, since)) : NULL);
                        json_object_object_add(o, "dma_faults", f);
                        json_object_object_add(o, "passthrough", json_object_new_string(d.passthrough));
                        json_object_object_add(o, "rule", isempty(d.rule) ? NULL : json_object_new_string(d.rule));
                        json_object_object_add(o, "last_error", isempty(d.last_error) ? NULL : json_object_new_string(d.last_error));
                        {
                                _cleanup_strv_free_ char **ids = NULL;
                                json_object *a = json_object_new_array();
                                if (!a || (!isempty(d.degraded) && strv_split(d.degraded, ",", &ids) < 0))
                                        return log_oom();
                                STRV_FOREACH(i, ids)
                                        json_object_array_add(a, json_object_new_string(*i));
                                json_object_object_add(o, "degraded", a);
                        }
                        json_object_array_add(array, o);
                } else {
                        snprintf(faults, sizeof(faults), "%u (%ur %uw%s)", d.faults_read + d.faults_write + d.faults_other,
                                 d.faults_read, d.faults_write, d.faults_other ? " +other" : "");
                        const char *cells[] = { d.slot, d.state, isempty(d.mode) ? NULL : d.mode, format_time(d.since, since),
                                                faults, isempty(d.host_driver) ? NULL : d.host_driver, isempty(d.rule) ? NULL : d.rule };
                        if (table_add_row(t, cells) < 0)
                                return log_oom();
                        if (!isempty(d.last_error))
                                errors++;
                }
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the daemon's reply: %m");

        STRV_FOREACH(w, want)
                if (!strv_contains(seen, *w))
                        return log_error_errno(ENODEV, "No PCI device %s.", *w);

        if (array) {
                output_json(TAKE_PTR(array));
                return 0;
        }
        if (table_rows(t) == 0) {
                if (arg_legend)
                        printf("isolated holds no devices.\n");
                return 0;
        }
        table_print(t, stdout);
        if (errors > 0) {
                /* failures are never quiet: show them under the table */
                r = sd_bus_message_rewind(reply, true);
                if (r >= 0 && sd_bus_message_enter_container(reply, 'a', ISOLATE_DEVICE_RECORD) >= 0)
                        while (bus_read_device_record(reply, &d) > 0)
                                if (!isempty(d.last_error) && (!want || strv_contains(want, d.slot)))
                                        printf("\n%s: %s", d.slot, d.last_error);
                printf("\n");
        }
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
        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o = json_object_new_object(), *a = json_object_new_array();
                STRV_FOREACH(s, taken)
                        json_object_array_add(a, json_object_new_string(*s));
                json_object_object_add(o, "quarantined", a);
                output_json(o);
        } else {
                _cleanup_free_ char *list = strv_join(taken, " ");
                printf("Quarantined: %s\n", strna(list));
        }
        return 0;
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
        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o = json_object_new_object(), *a = json_object_new_array();
                STRV_FOREACH(s, released)
                        json_object_array_add(a, json_object_new_string(*s));
                json_object_object_add(o, "released", a);
                json_object_object_add(o, "to", json_object_new_string(arg_to));
                output_json(o);
        } else {
                _cleanup_free_ char *list = strv_join(released, " ");
                printf("Released to the %s: %s\n", arg_to, strna(list));
        }
        return 0;
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

static void emit(json_object *o, const char *human) {
        if (arg_json != JSON_FORMAT_OFF) {
                /* JSON lines: always one object per line */
                fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
                fputc('\n', stdout);
        } else
                puts(human);
        fflush(stdout);
        json_object_put(o);
}

static int on_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *slot, *state, *mode, *reason;
        char when[64], human[512];
        uint64_t now;
        json_object *o;

        if (sd_bus_message_read(m, "ssss", &slot, &state, &mode, &reason) < 0)
                return 0;
        now = now_realtime_usec();
        o = json_object_new_object();
        json_object_object_add(o, "event", json_object_new_string("state"));
        json_object_object_add(o, "time", json_object_new_string(format_iso_time(now, when)));
        json_object_object_add(o, "device", json_object_new_string(slot));
        json_object_object_add(o, "state", json_object_new_string(state));
        json_object_object_add(o, "mode", isempty(mode) ? NULL : json_object_new_string(mode));
        json_object_object_add(o, "reason", json_object_new_string(reason));
        snprintf(human, sizeof(human), "%s  %s  %s%s%s%s  (%s)", format_time(now, when), slot, state,
                 isempty(mode) ? "" : " (", mode, isempty(mode) ? "" : ")", reason);
        emit(o, human);
        return 0;
}

static int on_dma_fault(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *slot, *access, *reason;
        uint64_t iova, when;
        int quarantined;
        char t[64], human[512];
        json_object *o;

        if (sd_bus_message_read(m, "sststb", &slot, &access, &iova, &reason, &when, &quarantined) < 0)
                return 0;
        o = json_object_new_object();
        json_object_object_add(o, "event", json_object_new_string("dma-fault"));
        json_object_object_add(o, "time", json_object_new_string(format_iso_time(when, t)));
        json_object_object_add(o, "device", json_object_new_string(slot));
        json_object_object_add(o, "access", json_object_new_string(access));
        json_object_object_add(o, "iova", json_object_new_uint64(iova));
        json_object_object_add(o, "reason", json_object_new_string(reason));
        json_object_object_add(o, "quarantined", json_object_new_boolean(quarantined));
        snprintf(human, sizeof(human), "%s  %s  DMA fault: %s at IOVA 0x%llx (%s)%s", format_time(when, t), slot, access,
                 (unsigned long long) iova, reason, quarantined ? " [in quarantine]" : "");
        emit(o, human);
        return 0;
}

static int on_policy_reloaded(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_free_ char *list = NULL;
        char when[64], human[512];
        json_object *o, *a;
        uint64_t now;

        (void) sd_bus_message_read_strv(m, &files);
        now = now_realtime_usec();
        o = json_object_new_object();
        a = json_object_new_array();
        STRV_FOREACH(f, files)
                json_object_array_add(a, json_object_new_string(*f));
        json_object_object_add(o, "event", json_object_new_string("policy-reloaded"));
        json_object_object_add(o, "time", json_object_new_string(format_iso_time(now, when)));
        json_object_object_add(o, "files", a);
        list = strv_join(files, ", ");
        snprintf(human, sizeof(human), "%s  policy reloaded (%s)", format_time(now, when), files ? list : "built-in defaults");
        emit(o, human);
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
                char when[64];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "event", json_object_new_string("monitoring"));
                json_object_object_add(o, "time", json_object_new_string(format_iso_time(now_realtime_usec(), when)));
                emit(o, NULL);
        } else if (arg_legend) {
                printf("Monitoring isolated (state changes and DMA faults); press Ctrl-C to stop.\n");
                fflush(stdout);
        }
        r = sd_event_loop(event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
