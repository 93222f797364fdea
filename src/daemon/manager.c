/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "config.h"
#include "fileio.h"
#include "isolate-bus.h"
#include "log.h"
#include "manager.h"
#include "polkit.h"
#include "strv.h"
#include "time-util.h"
#include "vfio.h"

/* ---- device table ----------------------------------------------------------------------- */

static void device_done(Device *d) {
        free(d->host_driver);
        free(d->last_error);
        sd_event_source_disable_unref(d->req_source);
        safe_close(d->req_fd);
}

Device *manager_find_device(Manager *m, const char *slot) {
        PciAddress a;
        char canon[PCI_ADDRESS_MAX];

        if (pci_address_parse(slot, &a) < 0)
                return NULL;
        pci_address_format(&a, canon);
        FOREACH_ARRAY(d, m->devices, m->n_devices)
                if (streq(d->slot, canon))
                        return d;
        return NULL;
}

Device *manager_get_device(Manager *m, const char *slot) {
        Device *d = manager_find_device(m, slot), *n;
        PciAddress a;

        if (d)
                return d;
        if (pci_address_parse(slot, &a) < 0)
                return NULL;
        /* The table only grows, so pointers stay valid if we allocate in chunks: keep it simple and
         * re-point the event sources' userdata after growing. */
        n = reallocarray(m->devices, m->n_devices + 1, sizeof(Device));
        if (!n)
                return NULL;
        if (n != m->devices)
                for (size_t i = 0; i < m->n_devices; i++)
                        if (n[i].req_source)
                                sd_event_source_set_userdata(n[i].req_source, &n[i]);
        m->devices = n;
        d = &m->devices[m->n_devices++];
        *d = (Device) { .req_fd = -EBADF, .manager = m };
        pci_address_format(&a, d->slot);
        return d;
}

DeviceState manager_device_state(Manager *m, const char *slot) {
        HeldDevice *h = engine_find(m->engine, slot);
        PciAddress a;
        const PciDevice *pd;
        PolicyVerdict v;

        if (h)
                return h->state;
        if (pci_address_parse(slot, &a) < 0 || !(pd = topology_find_device(m->topology, &a)))
                return _DEVICE_STATE_INVALID;
        Device *d = manager_find_device(m, slot);
        if (d && d->failed)
                return DEVICE_STATE_FAILED;
        if (!pci_device_is_endpoint(pd))
                return DEVICE_STATE_UNMANAGED;
        if (manager_verdict(m, slot, &v) >= 0 && !v.quarantine_on_unbind && !v.rule)
                return DEVICE_STATE_UNMANAGED;
        return DEVICE_STATE_HOST;
}

int manager_verdict(Manager *m, const char *slot, PolicyVerdict *ret) {
        PciAddress a;
        const PciDevice *pd;
        Device *d;
        PolicyDevice dev;

        if (pci_address_parse(slot, &a) < 0)
                return -EINVAL;
        pd = topology_find_device(m->topology, &a);
        if (!pd)
                return -ENODEV;
        d = manager_find_device(m, slot);
        /* Rules that match on the driver mean the host driver, also once the device is on vfio-pci. */
        dev = (PolicyDevice) {
                .device = pd,
                .driver = d && d->host_driver ? d->host_driver
                          : pd->driver && !streq(pd->driver, "vfio-pci") ? pd->driver : NULL,
        };
        policy_evaluate(m->policy, &dev, ret);
        return 0;
}

/* Records a failure about a device of this machine (a caller may name any address: no record is made
 * for one that does not exist, so that a request full of made-up addresses costs nothing later). */
static bool device_exists(Manager *m, const char *slot) {
        PciAddress a;
        return pci_address_parse(slot, &a) >= 0 && topology_find_device(m->topology, &a);
}

static void device_set_error(Manager *m, const char *slot, const char *message) {
        Device *d = device_exists(m, slot) ? manager_get_device(m, slot) : NULL;
        if (!d)
                return;
        free(d->last_error);
        d->last_error = message ? strdup(message) : NULL;
}

/* ---- audit trail ------------------------------------------------------------------------ */

void manager_log_decision(Manager *m, const char *action, const char *slot, const char *result, const char *rule,
                          uid_t caller_uid, const char *message) {
        char uid[32] = "";
        int prio = streq(result, "success") ? LOG_INFO : LOG_WARNING;

        if (caller_uid != (uid_t) -1)
                snprintf(uid, sizeof(uid), "%u", (unsigned) caller_uid);
        /* USBGuard-style audit records: journal fields, independent of the debug log. */
        if (log_get_target() != LOG_TARGET_JOURNAL ||
            sd_journal_send("MESSAGE=%s", message, "PRIORITY=%i", prio,
                            "MESSAGE_ID=5d0a5f2e7c1e4a1b9a3c0f0e8d7b6a52", "ISOLATE_ACTION=%s", action,
                            "ISOLATE_DEVICE=%s", strempty(slot), "ISOLATE_RESULT=%s", result, "ISOLATE_RULE=%s",
                            strempty(rule), "ISOLATE_CALLER_UID=%s", uid, NULL) < 0)
                log_full(prio, "%s [action=%s device=%s result=%s rule=%s uid=%s]", message, action, strempty(slot),
                         result, strempty(rule), uid);
}

/* ---- fd store and state --------------------------------------------------------------- */

static void register_request_eventfd(Manager *m, const char *slot);

int manager_fdstore_add(Manager *m, const char *name, int fd) {
        _cleanup_free_ char *msg = NULL;
        int r;

        if (fd < 0)
                return -EBADF;
        if (asprintf(&msg, "FDSTORE=1\nFDNAME=%s", name) < 0)
                return log_oom();
        r = sd_pid_notify_with_fds(0, false, msg, &fd, 1);
        if (r < 0)
                /* Quarantine holds while isolated runs, but not across a crash: say so loudly. */
                return log_error_errno(r, "Failed to put '%s' into systemd's file descriptor store: a crash of "
                                          "isolated would let the device go: %m", name);
        if (r == 0 && !m->config.user_bus)
                log_warning("Not running under systemd (no $NOTIFY_SOCKET): '%s' is not in a file descriptor store, "
                            "so a crash of isolated lets the device go.", name);
        return r;
}

void manager_fdstore_remove(Manager *m, const char *name) {
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, "FDSTOREREMOVE=1\nFDNAME=%s", name) < 0)
                return;
        (void) sd_notify(0, msg);
}

/* Takes the devices' fds out of systemd's store and waits until systemd has closed its copies: a copy
 * there keeps the VFIO file open, so the device would stay bound (a VMM could not bind it, an unbind
 * of vfio-pci would hang) although isolated released it. */
static void fdstore_drop(Manager *m, char **slots) {
        bool any = false;
        int r;

        STRV_FOREACH(s, slots) {
                Device *d = manager_find_device(m, *s);
                char name[32];
                if (!d || !d->fd_stored)
                        continue;
                engine_fdname_for_slot(d->slot, name);
                manager_fdstore_remove(m, name);
                d->fd_stored = false;
                any = true;
        }
        if (!any)
                return;
        /* BARRIER=1: returns once systemd has processed every earlier notification. */
        r = sd_notify_barrier(0, 5 * 1000000);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "systemd did not confirm that it closed the stored file descriptors, ignoring: %m");
}

static void fdstore_engine(Manager *m) {
        Engine *e = m->engine;

        if (!m->fdstore_iommufd && e->iommufd >= 0) {
                manager_fdstore_add(m, ENGINE_FDNAME_IOMMUFD, e->iommufd);
                m->fdstore_iommufd = true;
        }
        if (!m->fdstore_scratch && e->scratch.memfd >= 0) {
                manager_fdstore_add(m, ENGINE_FDNAME_SCRATCH, e->scratch.memfd);
                m->fdstore_scratch = true;
        }
}

/* Puts every quarantined device's fd (and the engine's) into the store that is not there yet. */
/* A device that has just been bound (taken, or taken back): its fd into the store, its record says
 * so, and its device request channel is registered. */
static void device_taken(Manager *m, const HeldDevice *h) {
        Device *d = manager_get_device(m, h->slot);
        char name[32];

        if (!d || d->fd_stored)
                return;
        engine_fdname_for_slot(h->slot, name);
        d->fd_stored = manager_fdstore_add(m, name, h->fd) >= 0;
        d->since = h->since;
        d->released_on_request = false;
        d->failed = false;
        d->last_error = mfree(d->last_error);
        register_request_eventfd(m, h->slot);
}

static void fdstore_sync(Manager *m) {
        fdstore_engine(m);
        FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices)
                if (h->state == DEVICE_STATE_QUARANTINED && h->fd >= 0)
                        device_taken(m, h);
}

static char *state_path(Manager *m) {
        char *p;
        if (asprintf(&p, "%s/state.json", m->config.state_dir) < 0)
                return NULL;
        return p;
}

int manager_save_state(Manager *m) {
        _cleanup_free_ char *path = state_path(m);
        json_object *o = json_object_new_object(), *engine = NULL, *devs = json_object_new_array();
        const char *text;
        int r;

        if (!path || !o || !devs) {
                json_object_put(o);
                json_object_put(devs);
                return log_oom();
        }
        r = engine_to_json(m->engine, &engine);
        if (r < 0) {
                json_object_put(o);
                json_object_put(devs);
                return log_oom();
        }
        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(o, "engine", engine);
        FOREACH_ARRAY(d, m->devices, m->n_devices) {
                json_object *j;
                if (!d->host_driver && d->faults_read + d->faults_write + d->faults_other == 0)
                        continue;
                j = json_object_new_object();
                json_object_object_add(j, "slot", json_object_new_string(d->slot));
                json_object_object_add(j, "host_driver", d->host_driver ? json_object_new_string(d->host_driver) : NULL);
                json_object_object_add(j, "faults_read", json_object_new_int64(d->faults_read));
                json_object_object_add(j, "faults_write", json_object_new_int64(d->faults_write));
                json_object_object_add(j, "faults_other", json_object_new_int64(d->faults_other));
                json_object_object_add(j, "last_fault", json_object_new_uint64(d->last_fault));
                json_object_array_add(devs, j);
        }
        json_object_object_add(o, "devices", devs);

        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        (void) mkdir_p(m->config.state_dir, 0755);
        r = write_file_atomic(path, text, strlen(text), 0644);
        json_object_put(o);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        return 0;
}

/* Fault counts change with every DMA fault the kernel reports, hundreds a second when a device
 * misbehaves: rewriting state.json for each would be pointless I/O. They are saved at most once a
 * second instead; a crash loses at most the last second of counts, which is acceptable for counters
 * that are a lower bound anyway (the kernel rate-limits the reports). */
static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) manager_save_state(userdata);
        return 0;
}

void manager_schedule_save_state(Manager *m) {
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
                (void) manager_save_state(m);
        }
}

void manager_flush_state(Manager *m) {
        int enabled = SD_EVENT_OFF;

        if (!m->save_source || sd_event_source_get_enabled(m->save_source, &enabled) < 0 || enabled == SD_EVENT_OFF)
                return;
        (void) sd_event_source_set_enabled(m->save_source, SD_EVENT_OFF);
        (void) manager_save_state(m);
}

typedef struct FdTable {
        char **names;
        int *fds;
        size_t n;
        bool *used;
} FdTable;

static int fd_lookup(void *ud, const char *name) {
        FdTable *t = ud;
        for (size_t i = 0; i < t->n; i++)
                if (!t->used[i] && streq(t->names[i], name)) {
                        t->used[i] = true;
                        return t->fds[i];
                }
        return -EBADF;
}

/* A field of a device in the previous instance's engine state ("" if unknown). */
static const char *state_device_field(json_object *engine, const char *slot, const char *field) {
        json_object *devs, *v;

        if (!engine || !json_object_object_get_ex(engine, "devices", &devs) || !json_object_is_type(devs, json_type_array))
                return "";
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                json_object *j = json_object_array_get_idx(devs, i);
                if (json_object_object_get_ex(j, "slot", &v) && streq_ptr(json_object_get_string(v), slot) &&
                    json_object_object_get_ex(j, field, &v))
                        return strempty(json_object_get_string(v));
        }
        return "";
}

/* Takes back what a previous instance held: the fds systemd kept for us and state.json. A device whose
 * fd is gone (a clean stop empties the store unless FileDescriptorStorePreserve=yes keeps it, systemd
 * ≥ 254) fell back to its default domain (DMA after we switched it): it is captured again at once.
 * *ret_lost gets those as (slot, mode, group type changed "true"/"false") triples. */
static int manager_adopt(Manager *m, char ***ret_lost) {
        _cleanup_free_ char *path = state_path(m), *text = NULL;
        _cleanup_strv_free_ char **names = NULL, **lost = NULL;
        json_object *state = NULL, *engine = NULL, *devs = NULL;
        FdTable table = {};
        int n, r;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                log_warning_errno(n, "Failed to read the file descriptors systemd passed, ignoring: %m");
        if (n > 0) {
                table.names = names;
                table.n = (size_t) n;
                table.fds = calloc((size_t) n, sizeof(int));
                table.used = calloc((size_t) n, sizeof(bool));
                if (!table.fds || !table.used) {
                        free(table.fds);
                        free(table.used);
                        return log_oom();
                }
                for (int i = 0; i < n; i++)
                        table.fds[i] = SD_LISTEN_FDS_START + i;
                log_info("Got %i file descriptor(s) back from systemd's store.", n);
        }

        if (path && read_full_file(path, 0, &text, NULL) >= 0) {
                state = json_tokener_parse(text);
                if (!state)
                        log_warning("%s is not valid JSON, ignoring it.", path);
        }
        if (state && json_object_object_get_ex(state, "engine", &engine) &&
            json_object_object_get_ex(state, "devices", &devs) && json_object_is_type(devs, json_type_array))
                for (size_t i = 0; i < json_object_array_length(devs); i++) {
                        json_object *j = json_object_array_get_idx(devs, i), *v;
                        Device *d;
                        if (!json_object_object_get_ex(j, "slot", &v) || !(d = manager_get_device(m, json_object_get_string(v))))
                                continue;
                        /* A host driver bound right now (read with the topology) is newer than the saved one. */
                        if (!d->host_driver && json_object_object_get_ex(j, "host_driver", &v) &&
                            json_object_is_type(v, json_type_string))
                                d->host_driver = strdup(json_object_get_string(v));
                        if (json_object_object_get_ex(j, "faults_read", &v))
                                d->faults_read = (unsigned) json_object_get_int64(v);
                        if (json_object_object_get_ex(j, "faults_write", &v))
                                d->faults_write = (unsigned) json_object_get_int64(v);
                        if (json_object_object_get_ex(j, "faults_other", &v))
                                d->faults_other = (unsigned) json_object_get_int64(v);
                        if (json_object_object_get_ex(j, "last_fault", &v))
                                d->last_fault = json_object_get_uint64(v);
                }

        r = engine_adopt(m->engine, engine, fd_lookup, &table, &lost);
        if (r < 0) {
                json_object_put(state);
                free(table.fds);
                free(table.used);
                return log_error_errno(r, "Failed to take back the previous state: %m");
        }
        STRV_FOREACH(s, lost)
                if (strv_extend(ret_lost, *s) < 0 || strv_extend(ret_lost, state_device_field(engine, *s, "mode")) < 0 ||
                    strv_extend(ret_lost, state_device_field(engine, *s, "group_type_changed")) < 0) {
                        json_object_put(state);
                        free(table.fds);
                        free(table.used);
                        return log_oom();
                }
        /* Reconcile the store with what state.json said: a device fd that no state describes (state.json
         * stale, corrupt or missing, or a crash between the store and the save) is adopted by its name,
         * in blocked mode. Whatever cannot be adopted leaves the store (else systemd would hold it, and
         * with it the device, for ever) and is closed. */
        _cleanup_strv_free_ char **remove = NULL;
        for (size_t i = 0; i < table.n; i++) {
                char slot[PCI_ADDRESS_MAX];
                const PciDevice *pd;
                PciAddress a;
                if (table.used[i])
                        continue;
                if (engine_slot_from_fdname(table.names[i], slot) >= 0 && pci_address_parse(slot, &a) >= 0 &&
                    (pd = topology_find_device(m->topology, &a))) {
                        r = engine_adopt_orphan(m->engine, slot, pd->iommu_group, table.fds[i]);
                        if (r >= 0) {
                                table.used[i] = true;
                                log_warning("Took back %s from the file descriptor store although the saved state did "
                                            "not describe it (held in blocked mode).", slot);
                                continue;
                        }
                        log_warning_errno(r, "Cannot take back the stored file descriptor '%s', dropping it: %m",
                                          table.names[i]);
                } else
                        log_warning("Dropping '%s' from the file descriptor store: no device of this machine.",
                                    table.names[i]);
                if (!strv_contains(remove, table.names[i]) && strv_extend(&remove, table.names[i]) < 0) {
                        json_object_put(state);
                        free(table.fds);
                        free(table.used);
                        return log_oom();
                }
                safe_close(table.fds[i]);
        }
        STRV_FOREACH(name, remove)
                manager_fdstore_remove(m, *name);
        m->fdstore_iommufd = m->engine->iommufd >= 0 && !strv_contains(remove, ENGINE_FDNAME_IOMMUFD);
        m->fdstore_scratch = m->engine->scratch.memfd >= 0 && !strv_contains(remove, ENGINE_FDNAME_SCRATCH);
        FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices) {
                Device *d = manager_get_device(m, h->slot);
                if (d) {
                        char name[32];
                        engine_fdname_for_slot(h->slot, name);
                        d->since = h->since;
                        /* (a name dropped above because a duplicate could not be adopted is stored again) */
                        d->fd_stored = h->state == DEVICE_STATE_QUARANTINED && !strv_contains(remove, name);
                        if (!d->host_driver && h->host_driver)
                                d->host_driver = strdup(h->host_driver);
                }
                log_info("Took back %s (%s, %s) from the previous instance.", h->slot, device_state_to_string(h->state),
                         quarantine_mode_to_string(h->mode));
        }
        fdstore_sync(m); /* what a removal above took out of the store (a duplicate's name) goes back in */
        json_object_put(state);
        free(table.fds);
        free(table.used);
        return 0;
}

/* ---- vfio's device-request eventfd -------------------------------------------------------- */

static int on_device_request(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Device *d = userdata;
        Manager *m = d->manager;
        char slot[PCI_ADDRESS_MAX];
        uint64_t v;

        (void) read(fd, &v, sizeof(v));
        snprintf(slot, sizeof(slot), "%s", d->slot);

        /* Someone is unbinding vfio-pci from a device we hold (an admin, libvirt's managed reattach,
         * rmmod). The kernel blocks them until we let go and asks again every 10 s: holding on would
         * hang them, so this device goes, loudly. Only this one: its group mates stay held (their fds
         * keep the group owned, so it stays on the blocking domain until they go too). */
        if (d->fd_stored) {
                char *one[] = { slot, NULL };
                fdstore_drop(m, one);
        }
        engine_forget(m->engine, slot); /* closes its fd */
        d->released_on_request = true;
        d->expect_unbind = true;
        d->since = now_realtime_usec();
        d->req_source = sd_event_source_disable_unref(d->req_source);
        d->req_fd = safe_close(d->req_fd);
        manager_log_decision(m, "release-on-request", slot, "success", NULL, (uid_t) -1,
                             "The kernel relayed a request to unbind vfio-pci from a quarantined device (an admin, "
                             "libvirt's managed reattach or rmmod); released it so the unbind does not hang. It is no "
                             "longer in quarantine; its IOMMU group mates stay held.");
        bus_emit_device_changed(m, slot, "unbind-request");
        (void) manager_save_state(m);
        return 0;
}

static void register_request_eventfd(Manager *m, const char *slot) {
        HeldDevice *h = engine_find(m->engine, slot);
        Device *d = manager_get_device(m, slot);
        int r;

        if (!h || !d || h->fd < 0 || m->config.fake_engine)
                return;
        if (d->req_fd < 0) {
                d->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (d->req_fd < 0)
                        return (void) log_warning_errno(errno, "Failed to create an eventfd for %s, ignoring: %m", slot);
        }
        r = vfio_device_set_req_eventfd(h->fd, d->req_fd);
        if (r < 0)
                return (void) log_warning_errno(r, "Failed to register vfio's device request channel for %s, ignoring: %m", slot);
        if (!d->req_source) {
                r = sd_event_add_io(m->event, &d->req_source, d->req_fd, EPOLLIN, on_device_request, d);
                if (r < 0)
                        log_warning_errno(r, "Failed to watch the device request channel of %s, ignoring: %m", slot);
        }
}

/* ---- operations ------------------------------------------------------------------------- */

static int bus_error_from_engine(sd_bus_error *error, const EngineError *err) {
        return sd_bus_error_set(error, isolate_bus_error_for_engine(err->kind), err->message ?: "The operation failed.");
}

int manager_reload_topology(Manager *m) {
        _cleanup_free_ char *msg = NULL;
        Topology *t = NULL;
        int r;

        r = topology_load(m->config.root, &t, &msg);
        if (r < 0)
                return log_error_errno(r, "Failed to read the PCI topology: %s", msg ?: strerror(-r));
        topology_free(m->topology);
        m->topology = t;
        /* Remember host drivers, for devices that unbind later (udev's unbind carries no driver). */
        FOREACH_ARRAY(pd, t->devices, t->n_devices)
                if (pd->driver && !streq(pd->driver, "vfio-pci") && pci_device_is_endpoint(pd)) {
                        Device *d = manager_get_device(m, pd->slot);
                        if (d && !streq_ptr(d->host_driver, pd->driver)) {
                                free(d->host_driver);
                                d->host_driver = strdup(pd->driver);
                        }
                }
        return 0;
}

/* The engine's callback right after each device is bound: its fd goes to systemd's store at once, so
 * that a crash at any later instant of the operation keeps it. */
static void on_bound(void *userdata, const char *slot, int fd) {
        Manager *m = userdata;
        HeldDevice *h = engine_find(m->engine, slot);

        fdstore_engine(m);
        if (h && h->fd == fd)
                device_taken(m, h);
}

/* The devices an engine error says were touched and not held: "failed", loudly. */
static void mark_failed(Manager *m, const EngineError *err) {
        STRV_FOREACH(s, err->failed) {
                Device *d;
                if (engine_find(m->engine, *s))
                        continue;
                d = manager_get_device(m, *s);
                if (!d)
                        continue;
                d->failed = true;
                free(d->last_error);
                d->last_error = strdup(strna(err->message));
                manager_log_decision(m, "fail-closed", *s, "failure", NULL, (uid_t) -1, strna(err->message));
        }
        STRV_FOREACH(n, err->notes)
                log_warning("%s", *n);
}

/* A held device whose protection is incomplete says so in the journal, once per operation. */
static void log_degraded(Manager *m, const HeldDevice *h, uid_t caller_uid) {
        _cleanup_free_ char *why = NULL, *msg = NULL;

        if (!h || h->degraded == 0)
                return;
        why = degradation_explain(h);
        if (asprintf(&msg, "%s is quarantined, but not fully protected: %s. Release to a guest is refused unless its "
                           "rule sets accept_degraded.",
                     h->slot, strna(why)) < 0)
                return (void) log_oom();
        manager_log_decision(m, "degraded", h->slot, "degraded", NULL, caller_uid, msg);
}

int manager_quarantine(Manager *m, char **slots, QuarantineMode mode, const char *reason, uid_t caller_uid,
                       char ***ret_taken, sd_bus_error *error) {
        _cleanup_strv_free_ char **hints = NULL, **taken = NULL, **ats = NULL;
        EngineError err = {};
        PolicyVerdict v = {};
        uint64_t cover = 0;
        int r;

        /* Mode and cover: the caller's, else what the policy says for the first device. */
        STRV_FOREACH(s, slots) {
                PolicyVerdict sv;
                if (manager_verdict(m, *s, &sv) < 0)
                        continue;
                if (s == slots)
                        v = sv;
                cover = MAX(cover, sv.scratch_cover);
        }
        if (mode < 0)
                mode = slots && slots[0] && manager_verdict(m, slots[0], &v) >= 0 ? v.mode : m->policy->mode;
        FOREACH_ARRAY(d, m->devices, m->n_devices)
                if (d->host_driver && (strv_extend(&hints, d->slot) < 0 || strv_extend(&hints, d->host_driver) < 0))
                        return log_oom();
        /* ATS is accepted per device, by its rule; the group mates the engine adds are judged the same way. */
        FOREACH_ARRAY(pd, m->topology->devices, m->topology->n_devices) {
                PolicyVerdict sv;
                if (pd->has_ats && manager_verdict(m, pd->slot, &sv) >= 0 && sv.ats_accept && strv_extend(&ats, pd->slot) < 0)
                        return log_oom();
        }

        QuarantineRequest req = {
                .slots = slots,
                .mode = mode,
                .cover = cover,
                .max_cover = m->policy->max_scratch_cover,
                .driver_hints = hints,
                .reset = true,
                .ats_accept = ats,
                .on_bound = on_bound,
                .userdata = m,
        };
        r = engine_quarantine(m->engine, m->topology, &req, &taken, &err);
        uint64_t attached = now_monotonic_usec();

        /* Whatever got held (also on a partial failure) is kept: fds into the store first (on_bound put
         * the devices' there already; this adds the engine's), then clients hear of it, then the state
         * file and the logs. */
        fdstore_sync(m);
        if (r >= 0)
                STRV_FOREACH(s, taken)
                        bus_emit_device_changed(m, *s, reason);

        if (r < 0) {
                _cleanup_free_ char *msg = NULL;
                const char *who = err.device ?: (slots ? slots[0] : NULL);
                if (asprintf(&msg, "Quarantine of %s failed (%s): %s", strna(who), strna(reason), strna(err.message)) < 0)
                        msg = NULL;
                /* Fail closed, and say so loudly: what did not get into quarantine is "failed". */
                STRV_FOREACH(s, slots)
                        if (!engine_find(m->engine, *s))
                                device_set_error(m, *s, err.message);
                mark_failed(m, &err);
                (void) manager_save_state(m);
                manager_log_decision(m, "quarantine", who, "failure", NULL, caller_uid, strna(msg));
                log_error("%s", strna(msg));
                STRV_FOREACH(s, slots)
                        if (device_exists(m, *s))
                                bus_emit_device_changed(m, *s, "quarantine-failed");
                STRV_FOREACH(s, err.failed)
                        if (!strv_contains(slots, *s))
                                bus_emit_device_changed(m, *s, "quarantine-failed");
                r = bus_error_from_engine(error, &err);
                engine_error_done(&err);
                return r;
        }
        (void) manager_save_state(m);
        STRV_FOREACH(n, err.notes)
                log_warning("%s", *n);
        engine_error_done(&err);

        {
                const EngineTimings *et = &m->engine->last;
                log_debug("Quarantine of %s: plan %" PRIu64 " µs, host unbind %" PRIu64 " µs, group type %" PRIu64
                          " µs, vfio-pci bind %" PRIu64 " µs, open+bind+attach %" PRIu64 " µs, total %" PRIu64 " µs.",
                          slots[0], et->plan, et->host_unbind, et->group_type, et->vfio_bind, et->take, et->total);
        }
        STRV_FOREACH(s, taken) {
                HeldDevice *h = engine_find(m->engine, *s);
                _cleanup_free_ char *msg = NULL, *latency = NULL;
                PolicyVerdict sv = {};
                (void) manager_verdict(m, *s, &sv);
                /* The time from the unbind event to the attach: the window this daemon exists to shrink. */
                if (m->event_usec > 0 && attached >= m->event_usec &&
                    asprintf(&latency, ", attached %" PRIu64 " µs after the event", attached - m->event_usec) < 0)
                        latency = NULL;
                if (asprintf(&msg, "%s quarantined (%s mode, %s; %" PRIu64 " µs in the engine%s).", *s,
                             h ? quarantine_mode_to_string(h->mode) : "?", strna(reason), m->engine->last.total,
                             strempty(latency)) >= 0)
                        manager_log_decision(m, "quarantine", *s, "success", sv.rule ? sv.rule->id : NULL, caller_uid, msg);
                log_degraded(m, h, caller_uid);
        }
        if (ret_taken)
                *ret_taken = TAKE_PTR(taken);
        return 0;
}

/* Release to a guest is allowed for a device the policy allows, whose interrupts are isolated or
 * whose rule accepts unsafe interrupts. All devices are checked before any is released. */
static int check_release_to_guest(Manager *m, char **slots, uid_t caller_uid, sd_bus_error *error) {
        STRV_FOREACH(s, slots) {
                _cleanup_free_ char *why = NULL;
                const PciDevice *pd;
                PciAddress a;
                PolicyVerdict v;
                ReleaseDecision rd;

                if (pci_address_parse(*s, &a) < 0 || !(pd = topology_find_device(m->topology, &a)))
                        return sd_bus_error_setf(error, ISOLATE_ERROR_NO_SUCH_DEVICE, "No PCI device %s.", *s);
                (void) manager_verdict(m, *s, &v);
                rd = policy_release_to_guest(&v, pd->interrupts);
                why = release_decision_explain(rd, &v, pd->slot, pd->interrupts);
                if (!why)
                        return log_oom();
                if (rd != RELEASE_ALLOWED) {
                        manager_log_decision(m, "release-guest", pd->slot, "refused", v.rule ? v.rule->id : NULL, caller_uid, why);
                        return sd_bus_error_set(error,
                                                rd == RELEASE_DENIED_UNSAFE_INTERRUPTS ? ISOLATE_ERROR_UNSAFE_INTERRUPTS
                                                                                       : ISOLATE_ERROR_NOT_ALLOWED,
                                                why);
                }
                /* A protection that could not be set up blocks the release, unless the rule accepts it. */
                HeldDevice *h = engine_find(m->engine, pd->slot);
                if (h && h->degraded != 0 && !v.accept_degraded) {
                        _cleanup_free_ char *what = degradation_explain(h), *msg = NULL;
                        if (asprintf(&msg, "%s may not be passed through: %s. A rule with \"accept_degraded\": true for "
                                           "it accepts that.",
                                     pd->slot, strna(what)) < 0)
                                return log_oom();
                        manager_log_decision(m, "release-guest", pd->slot, "refused", v.rule ? v.rule->id : NULL, caller_uid, msg);
                        return sd_bus_error_set(error, ISOLATE_ERROR_NOT_ALLOWED, msg);
                }
        }
        return 0;
}

int manager_release(Manager *m, char **slots, bool to_guest, uid_t caller_uid, char ***ret_released, sd_bus_error *error) {
        _cleanup_strv_free_ char **held = NULL, **released = NULL, **check = NULL;
        EngineError err = {};
        int r;

        /* The whole group moves: check its held members too. */
        STRV_FOREACH(s, slots) {
                HeldDevice *h = engine_find(m->engine, *s);
                PciAddress a;
                if (pci_address_parse(*s, &a) < 0 || !topology_find_device(m->topology, &a))
                        return sd_bus_error_setf(error, ISOLATE_ERROR_NO_SUCH_DEVICE, "No PCI device %s.", *s);
                if (strv_extend(&check, *s) < 0)
                        return log_oom();
                if (!h) {
                        if (!to_guest)
                                return sd_bus_error_setf(error, ISOLATE_ERROR_NOT_QUARANTINED,
                                                         "%s is not in quarantine; nothing to release to the host.", *s);
                        continue; /* not held: only the policy decides whether a guest may have it */
                }
                if (strv_extend(&held, h->slot) < 0)
                        return log_oom();
                FOREACH_ARRAY(g, m->engine->devices, m->engine->n_devices)
                        if (g->group >= 0 && g->group == h->group && !strv_contains(check, g->slot) &&
                            strv_extend(&check, g->slot) < 0)
                                return log_oom();
        }

        if (to_guest) {
                r = check_release_to_guest(m, check, caller_uid, error);
                if (r < 0)
                        return r;
        }
        if (!held) {
                /* Allowed and not held: nothing to hand over. */
                STRV_FOREACH(s, check) {
                        _cleanup_free_ char *msg = NULL;
                        if (asprintf(&msg, "%s may go to a guest (it was not in quarantine: nothing to hand over).", *s) >= 0)
                                manager_log_decision(m, "release-guest", *s, "success", NULL, caller_uid, msg);
                }
                if (ret_released)
                        *ret_released = TAKE_PTR(check);
                return 0;
        }

        fdstore_drop(m, check);
        if (to_guest)
                r = engine_release_guest(m->engine, m->topology, held, &released, &err);
        else {
                /* Our own unbind of vfio-pci must not be taken for a device between owners. */
                FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices) {
                        Device *d = manager_get_device(m, h->slot);
                        if (d && strv_contains(check, h->slot))
                                d->expect_unbind = true;
                }
                r = engine_release_host(m->engine, m->topology, held, &released, &err);
                /* Where it failed, the expectation goes, except for a device that did leave vfio-pci
                 * and is not held (its unbind event is still to come). A device still (or again) held
                 * needs none (its own events are recognised as ours), and one still on vfio-pci was
                 * never unbound: its next unbind is a real one. */
                if (r < 0)
                        STRV_FOREACH(s, check) {
                                Device *d = manager_find_device(m, *s);
                                _cleanup_free_ char *drv = NULL;
                                if (!d || !d->expect_unbind)
                                        continue;
                                if (engine_find(m->engine, *s) ||
                                    m->engine->ops->driver(m->engine->ops_data, *s, &drv) < 0 || streq_ptr(drv, "vfio-pci"))
                                        d->expect_unbind = false;
                        }
        }

        STRV_FOREACH(s, released) {
                Device *d = manager_get_device(m, *s);
                if (d) {
                        d->since = now_realtime_usec();
                        d->failed = false;
                        d->last_error = mfree(d->last_error);
                        d->req_source = sd_event_source_disable_unref(d->req_source);
                        d->req_fd = safe_close(d->req_fd);
                }
                {
                        _cleanup_free_ char *msg = NULL;
                        if (asprintf(&msg, to_guest ? "%s released to a guest: it stays on vfio-pci for the VMM to open."
                                                    : "%s released to the host: its driver is bound again.",
                                     *s) >= 0)
                                manager_log_decision(m, to_guest ? "release-guest" : "release-host", *s, "success", NULL,
                                                     caller_uid, msg);
                }
                bus_emit_device_changed(m, *s, to_guest ? "released-to-guest" : "released-to-host");
        }
        fdstore_sync(m); /* what a failed release left held, or took back, goes back into the store */
        if (r < 0)
                mark_failed(m, &err);
        (void) manager_save_state(m);

        if (r < 0) {
                manager_log_decision(m, to_guest ? "release-guest" : "release-host", err.device, "failure", NULL, caller_uid,
                                     strna(err.message));
                STRV_FOREACH(s, check)
                        bus_emit_device_changed(m, *s, "release-failed");
                r = bus_error_from_engine(error, &err);
                engine_error_done(&err);
                return r;
        }
        STRV_FOREACH(n, err.notes)
                log_warning("%s", *n);
        engine_error_done(&err);
        if (ret_released)
                *ret_released = TAKE_PTR(released);
        return 0;
}

static int load_policy(Manager *m, Policy **ret, PolicyErrors *errors) {
        _cleanup_strv_free_ char **files = NULL;
        int r;

        if (m->config.policy_file)
                r = strv_extend(&files, m->config.policy_file);
        else
                r = policy_installed_files(m->config.policy_dir, &files);
        if (r < 0)
                return r;
        return policy_load_files(files, ret, errors);
}

static char **format_errors(const PolicyErrors *e) {
        char **l = NULL;
        FOREACH_ARRAY(x, e->errors, e->n_errors) {
                char *s;
                if ((x->line > 0 ? asprintf(&s, "%s:%u:%u: %s", x->file, x->line, x->column, x->message)
                                 : asprintf(&s, "%s: %s", x->file, x->message)) < 0 ||
                    strv_consume(&l, s) < 0)
                        return strv_free(l);
        }
        return l;
}

/* Devices on vfio-pci that nobody holds and the policy does not allow are taken at once, so that no
 * VMM can open them. */
static int device_depth_cmp(const void *a, const void *b) {
        const PciDevice *x = *(const PciDevice * const *) a, *y = *(const PciDevice * const *) b;
        size_t dx = strv_length(x->parents), dy = strv_length(y->parents);
        if (dx != dy)
                return dx < dy ? -1 : 1;
        return pci_address_compare(&x->address, &y->address);
}

/* Devices between owners are taken, in topological order (parents before the devices below them):
 * - on vfio-pci, not held by us, and the policy does not allow it to pass through (so that no VMM can
 *   open it);
 * - with between_owners (at start, after lost uevents): a managed device that had a host driver and now
 *   has none, or is on vfio-pci with nobody having it open (a crash between the steps of a quarantine
 *   leaves exactly these). A device that never had a driver is not between owners. */
static size_t capture(Manager *m, const char *reason, bool between_owners) {
        size_t taken = 0;
        _cleanup_free_ const PciDevice **order = calloc(m->topology->n_devices ?: 1, sizeof(PciDevice *));

        if (!order)
                return log_oom(), 0;
        for (size_t i = 0; i < m->topology->n_devices; i++)
                order[i] = &m->topology->devices[i];
        qsort(order, m->topology->n_devices, sizeof(PciDevice *), device_depth_cmp);

        for (size_t i = 0; i < m->topology->n_devices; i++) {
                const PciDevice *pd = order[i];
                _cleanup_free_ char *driver = NULL;
                PolicyVerdict v;
                char slot[PCI_ADDRESS_MAX];
                char *one[] = { slot, NULL };
                const char *why = NULL;
                Device *d;

                if (!pci_device_is_endpoint(pd) || engine_find(m->engine, pd->slot))
                        continue;
                if (m->engine->ops->driver(m->engine->ops_data, pd->slot, &driver) < 0)
                        continue;
                if (manager_verdict(m, pd->slot, &v) < 0)
                        continue;
                d = manager_find_device(m, pd->slot);
                bool vfio = driver && streq(driver, "vfio-pci");
                if (vfio && v.passthrough != PASSTHROUGH_ALLOW)
                        why = "is on vfio-pci but the policy does not allow it to pass through";
                else if (between_owners && v.quarantine_on_unbind && d && d->host_driver && !d->released_on_request) {
                        bool open = false;
                        if (!driver)
                                why = "had a host driver and has none now";
                        else if (vfio && m->engine->ops->enabled(m->engine->ops_data, pd->slot, &open) >= 0 && !open)
                                why = "is on vfio-pci with nobody holding it";
                }
                if (!why)
                        continue;
                log_notice("%s %s: taking it into quarantine.", pd->slot, why);
                _cleanup_strv_free_ char **got = NULL;
                snprintf(slot, sizeof(slot), "%s", pd->slot);
                if (manager_quarantine(m, one, -1, reason, (uid_t) -1, &got, NULL) >= 0)
                        taken += strv_length(got); /* with their group mates */
        }
        return taken;
}

size_t manager_coldplug(Manager *m, const char *reason) {
        uint64_t t0 = now_realtime_usec();
        size_t n = capture(m, reason, true);
        if (n > 0)
                log_info("%s: took %zu device(s) between owners into quarantine in %.1f ms.", reason, n,
                         (now_realtime_usec() - t0) / 1000.0);
        return n;
}

int manager_reload_policy(Manager *m, char ***ret_errors, uid_t caller_uid, sd_bus_error *error) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_free_ PolicyVerdict *before = NULL;
        Policy *p = NULL, *old;
        int r;

        r = load_policy(m, &p, &errors);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                _cleanup_strv_free_ char **lines = format_errors(&errors);
                _cleanup_free_ char *joined = strv_join(lines, "\n");
                log_error("Refused the new policy, keeping the previous one:\n%s", strna(joined));
                manager_log_decision(m, "reload", NULL, "refused", NULL, caller_uid,
                                     "Refused an invalid policy; the previous policy stays in force.");
                if (ret_errors)
                        *ret_errors = TAKE_PTR(lines);
                return sd_bus_error_setf(error, ISOLATE_ERROR_POLICY_INVALID,
                                         "The policy is invalid; the previous policy stays in force:\n%s", strna(joined));
        }
        /* The verdicts as clients saw them (Passthrough, Rule), to announce the ones that change. Their
         * rules point into the old policy, which lives until they are compared. NULL (no memory): every
         * device is announced. */
        before = calloc(MAX(m->topology->n_devices, (size_t) 1), sizeof(PolicyVerdict));
        for (size_t i = 0; before && i < m->topology->n_devices; i++)
                (void) manager_verdict(m, m->topology->devices[i].slot, &before[i]);
        old = m->policy;
        m->policy = p;
        free(m->policy_error);
        m->policy_error = NULL;
        log_info("Policy reloaded: %zu rule(s) from %zu file(s).", p->n_rules, strv_length(p->files));
        manager_log_decision(m, "reload", NULL, "success", NULL, caller_uid, "Policy reloaded.");
        bus_emit_policy_reloaded(m);
        for (size_t i = 0; i < m->topology->n_devices; i++) {
                const char *slot = m->topology->devices[i].slot;
                PolicyVerdict now = {};
                (void) manager_verdict(m, slot, &now);
                if (before && before[i].passthrough == now.passthrough &&
                    streq_ptr(before[i].rule ? before[i].rule->id : NULL, now.rule ? now.rule->id : NULL))
                        continue;
                bus_emit_device_verdict_changed(m, slot);
        }
        policy_free(old);
        capture(m, "policy reload", false);
        return 0;
}

/* ---- startup ----------------------------------------------------------------------------- */

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        (void) sd_notify(0, "RELOADING=1");
        (void) manager_reload_policy(m, NULL, (uid_t) -1, NULL);
        (void) sd_notify(0, "READY=1");
        return 0;
}

/* Building a large scratch cover can take longer than WatchdogSec= on a slow (emulated) IOMMU. */
static void watchdog_keepalive(void *userdata) {
        (void) sd_notify(false, "WATCHDOG=1");
}

int manager_startup(Manager *m) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_strv_free_ char **lost = NULL;
        int r;

        m->started = now_realtime_usec();

        r = load_policy(m, &m->policy, &errors);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                _cleanup_strv_free_ char **lines = format_errors(&errors);
                _cleanup_free_ char *joined = strv_join(lines, "\n");
                /* Fail closed: with a broken policy, nothing may pass through, everything is captured. */
                m->policy = policy_new_default();
                if (!m->policy)
                        return log_oom();
                m->policy_error = strdup(strna(joined));
                log_error("The installed policy is invalid; using the built-in defaults (blocked, capture every "
                          "unbinding device, deny all passthrough) until it is fixed and reloaded:\n%s", strna(joined));
        }

        r = manager_reload_topology(m);
        if (r < 0)
                return r;

        r = engine_new(m->config.root, m->config.fake_engine ? &quarantine_ops_fake : NULL,
                       m->config.fake_engine ? m->fake_ops_data : NULL, &m->engine);
        if (r < 0)
                return log_oom();
        m->engine->scratch.keepalive = watchdog_keepalive;

        /* Watch uevents before anything is looked at: an unbind during the start is then queued, not lost. */
        r = manager_udev_start(m);
        if (r < 0)
                return r;

        r = manager_adopt(m, &lost);
        if (r < 0)
                return r;
        FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices)
                if (h->state == DEVICE_STATE_QUARANTINED)
                        register_request_eventfd(m, h->slot);

        /* Devices whose fds were lost are outside quarantine right now: take them back first, in the mode
         * they had, remembering that their group was identity before the previous instance changed it. */
        for (char **s = lost; s && s[0] && s[1] && s[2]; s += 3) {
                char *one[] = { s[0], NULL };
                HeldDevice *h;
                log_warning("%s was held by the previous instance but its file descriptor did not survive (a clean "
                            "stop empties systemd's store unless FileDescriptorStorePreserve= keeps it): taking it back.", s[0]);
                if (manager_quarantine(m, one, quarantine_mode_from_string(s[1]), "re-adopted after restart", (uid_t) -1,
                                       NULL, NULL) >= 0 &&
                    streq(s[2], "true") && (h = engine_find(m->engine, s[0])))
                        h->group_type_changed = true;
        }

        /* Coldplug: devices between owners (a crash mid-operation leaves them) and denied ones on vfio-pci. */
        (void) manager_coldplug(m, "coldplug");
        (void) manager_save_state(m);

        r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGHUP: %m");

        r = manager_kmsg_start(m);
        if (r < 0)
                log_warning_errno(r, "Cannot follow the kernel log, DMA faults will not be counted: %m");

        r = manager_bus_setup(m);
        if (r < 0)
                return r;
        return 0;
}

int manager_new(const ManagerConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        int r;

        if (!m)
                return log_oom();
        m->config = *config;
        m->kmsg_fd = -EBADF;
        if (config->fake_engine) {
                m->fake_ops_data = fake_ops_new(config->root);
                if (!m->fake_ops_data)
                        return log_oom();
        }
        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        (void) sd_event_set_watchdog(m->event, true);
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        FOREACH_ARRAY(d, m->devices, m->n_devices)
                device_done(d);
        free(m->devices);
        sd_event_source_disable_unref(m->monitor_source);
        udev_monitor_unref(m->monitor);
        udev_unref(m->udev);
        sd_event_source_disable_unref(m->kmsg_source);
        sd_event_source_disable_unref(m->save_source);
        safe_close(m->kmsg_fd);
        /* Pending polkit checks hold their method calls and a reference to the bus. */
        bus_polkit_registry_free(&m->polkit_registry);
        sd_bus_flush_close_unref(m->bus);
        /* The engine's fds are in systemd's store (or this is a test); closing ours is fine. */
        engine_free(m->engine);
        if (m->fake_ops_data)
                fake_ops_free(m->fake_ops_data);
        topology_free(m->topology);
        policy_free(m->policy);
        free(m->policy_error);
        sd_event_unref(m->event);
        return mfree(m);
}
