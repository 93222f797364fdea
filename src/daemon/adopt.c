/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "adopt.h"
#include "device.h"
#include "fdstore.h"
#include "fileio.h"
#include "log.h"
#include "manager.h"
#include "operations.h"
#include "state.h"
#include "strv.h"

/* The fds systemd passed back, by name; each is handed out once. */
typedef struct FdTable {
        char **names;
        int *fds;
        bool *used;
        size_t n;
} FdTable;

static void fd_table_done(FdTable *t) {
        free(t->fds);
        free(t->used);
        t->names = strv_free(t->names);
}

static int fd_lookup(void *ud, const char *name) {
        FdTable *t = ud;
        for (size_t i = 0; i < t->n; i++)
                if (!t->used[i] && streq(t->names[i], name)) {
                        t->used[i] = true;
                        return t->fds[i];
                }
        return -EBADF;
}

static int fd_table_from_systemd(FdTable *ret) {
        _cleanup_strv_free_ char **names = NULL;
        FdTable t = {};
        int n;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                log_warning_errno(n, "Failed to read the file descriptors systemd passed, ignoring: %m");
        if (n > 0) {
                t.fds = calloc((size_t) n, sizeof(int));
                t.used = calloc((size_t) n, sizeof(bool));
                if (!t.fds || !t.used) {
                        fd_table_done(&t);
                        return -ENOMEM;
                }
                for (int i = 0; i < n; i++)
                        t.fds[i] = SD_LISTEN_FDS_START + i;
                t.n = (size_t) n;
                t.names = TAKE_PTR(names);
                log_info("Got %i file descriptor(s) back from systemd's store.", n);
        }
        *ret = t;
        return 0;
}

/* What the previous engine record says of a device it held: its mode and whether it changed the
 * group's type. */
static void lost_device_from_engine(json_object *engine, const char *slot, LostDevice *ret) {
        json_object *devs, *v;

        *ret = (LostDevice) { .mode = QUARANTINE_MODE_BLOCKED };
        snprintf(ret->slot, sizeof(ret->slot), "%s", slot);
        if (!engine || !json_object_object_get_ex(engine, "devices", &devs) ||
            !json_object_is_type(devs, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                json_object *j = json_object_array_get_idx(devs, i);
                if (!json_object_object_get_ex(j, "slot", &v) || !streq_ptr(json_object_get_string(v), slot))
                        continue;
                if (json_object_object_get_ex(j, "mode", &v) &&
                    quarantine_mode_from_string(json_object_get_string(v)) >= 0)
                        ret->mode = quarantine_mode_from_string(json_object_get_string(v));
                if (json_object_object_get_ex(j, "group_type_changed", &v))
                        ret->group_type_changed = json_object_get_boolean(v);
                return;
        }
}

/* The daemon's device records from the state file. A host driver bound right now (read with the
 * topology) is newer than the saved one. */
static void restore_records(Manager *m, const StateFile *s) {
        FOREACH_ARRAY(sd, s->devices, s->n_devices) {
                Device *d = device_get(m, sd->slot);
                if (!d) {
                        log_oom();
                        return;
                }
                if (!d->host_driver && sd->host_driver && device_set_host_driver(d, sd->host_driver) < 0)
                        log_oom();
                d->faults_read = sd->faults_read;
                d->faults_write = sd->faults_write;
                d->faults_other = sd->faults_other;
                d->last_fault = sd->last_fault;
        }
}

/* Fds that no state describes: adopted by name (blocked), or dropped. Returns the names dropped. */
static int reconcile_store(Manager *m, FdTable *t, char ***ret_removed) {
        _cleanup_strv_free_ char **removed = NULL;
        int r;

        for (size_t i = 0; i < t->n; i++) {
                char slot[PCI_ADDRESS_MAX];
                const PciDevice *pd;
                PciAddress a;

                if (t->used[i])
                        continue;
                if (engine_slot_from_fdname(t->names[i], slot) >= 0 && pci_address_parse(slot, &a) >= 0 &&
                    (pd = topology_find_device(m->topology, &a))) {
                        r = engine_adopt_orphan(m->engine, slot, pd->iommu_group, t->fds[i]);
                        if (r >= 0) {
                                t->used[i] = true;
                                log_warning("Took back %s from the file descriptor store although the saved state did "
                                            "not describe it (held in blocked mode).",
                                            slot);
                                continue;
                        }
                        log_warning_errno(r, "Cannot take back the stored file descriptor '%s', dropping it: %m",
                                          t->names[i]);
                } else if (strneq(t->names[i], "vfioc-", 6))
                        /* a legacy container whose group file did not come back: it holds nothing alone */
                        log_warning("Dropping '%s' from the file descriptor store: the group file it belongs with "
                                    "was not taken back.",
                                    t->names[i]);
                else
                        log_warning("Dropping '%s' from the file descriptor store: no device of this machine.",
                                    t->names[i]);
                if (!strv_contains(removed, t->names[i]) && strv_extend(&removed, t->names[i]) < 0)
                        return -ENOMEM;
                safe_close(t->fds[i]);
                t->used[i] = true;
        }
        STRV_FOREACH(name, removed)
                fdstore_remove(m, *name);
        *ret_removed = TAKE_PTR(removed);
        return 0;
}

int adopt_previous(Manager *m, LostDevice **ret_lost, size_t *ret_n_lost) {
        _cleanup_(state_file_done) StateFile state = {};
        _cleanup_(fd_table_done) FdTable table = {};
        _cleanup_strv_free_ char **lost = NULL, **removed = NULL;
        _cleanup_free_ char *path = state_path(m);
        _cleanup_free_ LostDevice *lost_devices = NULL;
        size_t n_lost;
        int r;

        assert(m);
        assert(ret_lost);
        assert(ret_n_lost);

        if (!path)
                return log_oom();
        r = fd_table_from_systemd(&table);
        if (r < 0)
                return log_oom();

        r = state_file_read(path, &state);
        if (r == -ENOMEM)
                return log_oom();
        if (r == -EBADMSG)
                log_warning("%s is not valid JSON, ignoring it.", path);
        else if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to read %s, ignoring it: %m", path);
        restore_records(m, &state);

        r = engine_adopt(m->engine, state.engine, fd_lookup, &table, &lost);
        if (r < 0)
                return log_error_errno(r, "Failed to take back the previous state: %m");

        n_lost = strv_length(lost);
        lost_devices = calloc(MAX(n_lost, (size_t) 1), sizeof(LostDevice));
        if (!lost_devices)
                return log_oom();
        for (size_t i = 0; i < n_lost; i++)
                lost_device_from_engine(state.engine, lost[i], &lost_devices[i]);

        r = reconcile_store(m, &table, &removed);
        if (r < 0)
                return log_oom();
        m->fdstore_iommufd = m->engine->iommufd >= 0 && !strv_contains(removed, ENGINE_FDNAME_IOMMUFD);
        m->fdstore_scratch = m->engine->scratch.memfd >= 0 && !strv_contains(removed, ENGINE_FDNAME_SCRATCH);
        FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices) {
                Device *d = device_get(m, h->slot);
                char name[32];

                if (!d)
                        return log_oom();
                engine_fdname_for_slot(h->slot, name);
                d->since = h->since;
                /* (a name dropped above because a duplicate could not be adopted is stored again) */
                d->fd_stored = h->state == DEVICE_STATE_QUARANTINED && !strv_contains(removed, name);
                if (!d->host_driver && h->host_driver && device_set_host_driver(d, h->host_driver) < 0)
                        return log_oom();
                log_info("Took back %s (%s, %s) from the previous instance.", h->slot, device_state_to_string(h->state),
                         quarantine_mode_to_string(h->mode));
        }
        operation_sync_held(m); /* what a removal above took out of the store (a duplicate's name) goes back in */

        *ret_lost = TAKE_PTR(lost_devices);
        *ret_n_lost = n_lost;
        return 0;
}
