/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "device.h"
#include "fdstore.h"
#include "log.h"
#include "manager.h"
#include "strv.h"

int fdstore_add(Manager *m, const char *name, int fd) {
        _cleanup_free_ char *msg = NULL;
        int r;

        assert(m);
        assert(name);

        if (fd < 0)
                return -EBADF;
        if (asprintf(&msg, "FDSTORE=1\nFDNAME=%s", name) < 0)
                return log_oom();
        r = sd_pid_notify_with_fds(0, false, msg, &fd, 1);
        if (r < 0)
                /* Quarantine holds while isolated runs, but not across a crash: say so loudly. */
                return log_error_errno(r,
                                       "Failed to put '%s' into systemd's file descriptor store: a crash of "
                                       "isolated would let the device go: %m",
                                       name);
        if (r == 0 && !m->config.user_bus)
                log_warning("Not running under systemd (no $NOTIFY_SOCKET): '%s' is not in a file descriptor store, "
                            "so a crash of isolated lets the device go.",
                            name);
        return r;
}

void fdstore_remove(Manager *m, const char *name) {
        _cleanup_free_ char *msg = NULL;

        assert(name);

        if (asprintf(&msg, "FDSTOREREMOVE=1\nFDNAME=%s", name) < 0)
                return (void) log_oom();
        (void) sd_notify(0, msg);
}

void fdstore_add_engine(Manager *m) {
        Engine *e = m->engine;

        if (!m->fdstore_iommufd && e->iommufd >= 0) {
                (void) fdstore_add(m, ENGINE_FDNAME_IOMMUFD, e->iommufd);
                m->fdstore_iommufd = true;
        }
        if (!m->fdstore_scratch && e->scratch.memfd >= 0) {
                (void) fdstore_add(m, ENGINE_FDNAME_SCRATCH, e->scratch.memfd);
                m->fdstore_scratch = true;
        }
}

void fdstore_add_device(Manager *m, const HeldDevice *h) {
        Device *d = device_get(m, h->slot);
        char name[32];

        if (!d) {
                log_oom();
                return;
        }
        if (d->fd_stored || h->fd < 0)
                return;
        engine_fdname_for_slot(h->slot, name);
        d->fd_stored = fdstore_add(m, name, h->fd) >= 0;
        if (h->container_fd >= 0) {
                /* legacy: the group file holds the quarantine; its container is what changes its mode */
                engine_fdname_container_for_slot(h->slot, name);
                (void) fdstore_add(m, name, h->container_fd);
        }
}

void fdstore_remove_device(Manager *m, const char *slot) {
        char name[32];

        engine_fdname_for_slot(slot, name);
        fdstore_remove(m, name);
        engine_fdname_container_for_slot(slot, name);
        fdstore_remove(m, name);
}

void fdstore_drop_devices(Manager *m, char **slots) {
        bool any = false;
        int r;

        STRV_FOREACH(s, slots) {
                Device *d = device_find(m, *s);
                if (!d || !d->fd_stored)
                        continue;
                fdstore_remove_device(m, d->slot);
                d->fd_stored = false;
                any = true;
        }
        if (!any)
                return;
        /* BARRIER=1: returns once systemd has processed every earlier notification. */
        r = sd_notify_barrier(0, 5 * 1000000);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r,
                                  "systemd did not confirm that it closed the stored file descriptors, ignoring: %m");
}
