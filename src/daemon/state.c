/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "fileio.h"
#include "hashmap.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "state.h"
#include "time-util.h"

#define STATE_VERSION 1

void state_file_done(StateFile *s) {
        assert(s);
        json_object_put(s->engine);
        FOREACH_ARRAY(d, s->devices, s->n_devices)
                free(d->host_driver);
        free(s->devices);
        *s = (StateFile) {};
}

static uint64_t json_uint(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !(json_object_is_type(v, json_type_int)))
                return 0;
        return json_object_get_uint64(v);
}

int state_file_read(const char *path, StateFile *ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *text = NULL;
        StateFile s = {};
        json_object *v, *devs;
        int r;

        assert(path);
        assert(ret);

        r = read_full_file(path, 0, &text, NULL);
        if (r < 0)
                return r;
        o = json_tokener_parse(text);
        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (!json_object_object_get_ex(o, "version", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) != STATE_VERSION)
                return -EBADMSG;
        if (json_object_object_get_ex(o, "engine", &v) && json_object_is_type(v, json_type_object))
                s.engine = json_object_get(v);
        if (json_object_object_get_ex(o, "devices", &devs) && json_object_is_type(devs, json_type_array))
                for (size_t i = 0; i < json_object_array_length(devs); i++) {
                        json_object *j = json_object_array_get_idx(devs, i);
                        StateDevice *d;
                        PciAddress a;

                        if (!json_object_is_type(j, json_type_object) || !json_object_object_get_ex(j, "slot", &v) ||
                            !json_object_is_type(v, json_type_string) ||
                            pci_address_parse_full(json_object_get_string(v), &a) < 0)
                                continue;
                        if (!GREEDY_REALLOC(s.devices, s.n_allocated, s.n_devices + 1)) {
                                state_file_done(&s);
                                return -ENOMEM;
                        }
                        d = &s.devices[s.n_devices++];
                        *d = (StateDevice) {
                                .faults_read = (unsigned) json_uint(j, "faults_read"),
                                .faults_write = (unsigned) json_uint(j, "faults_write"),
                                .faults_other = (unsigned) json_uint(j, "faults_other"),
                                .last_fault = json_uint(j, "last_fault"),
                        };
                        pci_address_format(&a, d->slot);
                        if (json_object_object_get_ex(j, "host_driver", &v) &&
                            json_object_is_type(v, json_type_string) &&
                            !(d->host_driver = strdup(json_object_get_string(v)))) {
                                state_file_done(&s);
                                return -ENOMEM;
                        }
                }
        *ret = s;
        return 0;
}

static int state_device_compare(const void *x, const void *y) {
        const StateDevice *a = x, *b = y;
        return strcmp(a->slot, b->slot);
}

int state_file_write(const char *path, const StateFile *s) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        _cleanup_free_ StateDevice *sorted = NULL;
        json_object *devs = json_object_new_array();
        const char *text;
        int r;

        assert(path);
        assert(s);

        if (!o || !devs) {
                json_object_put(devs);
                return -ENOMEM;
        }
        json_object_object_add(o, "version", json_object_new_int(STATE_VERSION));
        json_object_object_add(o, "engine", s->engine ? json_object_get(s->engine) : NULL);
        json_object_object_add(o, "devices", devs);
        if (s->n_devices > 0) {
                sorted = calloc(s->n_devices, sizeof(StateDevice));
                if (!sorted)
                        return -ENOMEM;
                memcpy(sorted, s->devices, s->n_devices * sizeof(StateDevice));
                qsort(sorted, s->n_devices, sizeof(StateDevice), state_device_compare);
        }
        for (size_t i = 0; i < s->n_devices; i++) {
                const StateDevice *d = &sorted[i];
                json_object *j = json_object_new_object();
                if (!j)
                        return -ENOMEM;
                json_object_array_add(devs, j);
                json_object_object_add(j, "slot", json_object_new_string(d->slot));
                json_object_object_add(j, "host_driver",
                                       d->host_driver ? json_object_new_string(d->host_driver) : NULL);
                json_object_object_add(j, "faults_read", json_object_new_int64(d->faults_read));
                json_object_object_add(j, "faults_write", json_object_new_int64(d->faults_write));
                json_object_object_add(j, "faults_other", json_object_new_int64(d->faults_other));
                json_object_object_add(j, "last_fault", json_object_new_uint64(d->last_fault));
        }
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        r = write_file_atomic(path, text, strlen(text), 0644);
        return r;
}

char *state_path(Manager *m) {
        char *p;
        if (asprintf(&p, "%s/state.json", m->config.state_dir) < 0)
                return NULL;
        return p;
}

int state_save(Manager *m) {
        _cleanup_free_ char *path = state_path(m);
        _cleanup_free_ StateDevice *records = NULL;
        StateFile s = {};
        Device *d;
        size_t n = 0;
        int r;

        assert(m);

        if (!path)
                return log_oom();
        records = calloc(MAX(hashmap_size(m->devices), (size_t) 1), sizeof(StateDevice));
        if (!records)
                return log_oom();
        HASHMAP_FOREACH(d, m->devices) {
                if (!d->host_driver && d->faults_read + d->faults_write + d->faults_other == 0)
                        continue;
                records[n] = (StateDevice) {
                        .host_driver = d->host_driver, /* borrowed */
                        .faults_read = d->faults_read,
                        .faults_write = d->faults_write,
                        .faults_other = d->faults_other,
                        .last_fault = d->last_fault,
                };
                memcpy(records[n].slot, d->slot, sizeof(d->slot));
                n++;
        }
        r = engine_to_json(m->engine, &s.engine);
        if (r < 0)
                return log_oom();
        s.devices = records;
        s.n_devices = n;
        (void) mkdir_p(m->config.state_dir, 0755);
        r = state_file_write(path, &s);
        json_object_put(s.engine);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        return 0;
}

/* Fault counts change with every DMA fault the kernel reports, hundreds a second when a device
 * misbehaves: rewriting state.json for each would be pointless I/O. They are saved at most once a
 * second instead; a crash loses at most the last second of counts, which is acceptable for counters
 * that are a lower bound anyway (the kernel rate-limits the reports). */
static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) state_save(userdata);
        return 0;
}

void state_schedule_save(Manager *m) {
        int enabled = SD_EVENT_OFF, r;

        if (m->save_source) {
                if (sd_event_source_get_enabled(m->save_source, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                        return; /* already pending */
                r = sd_event_source_set_time_relative(m->save_source, USEC_PER_SEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->save_source, SD_EVENT_ONESHOT);
        } else
                r = sd_event_add_time_relative(m->event, &m->save_source, CLOCK_MONOTONIC, USEC_PER_SEC, 0,
                                               on_save_timer, m);
        if (r < 0) {
                log_debug_errno(r, "Failed to arm the state save timer, saving now: %m");
                (void) state_save(m);
        }
}

void state_flush(Manager *m) {
        int enabled = SD_EVENT_OFF;

        if (!m->save_source || sd_event_source_get_enabled(m->save_source, &enabled) < 0 || enabled == SD_EVENT_OFF)
                return;
        (void) sd_event_source_set_enabled(m->save_source, SD_EVENT_OFF);
        (void) state_save(m);
}
