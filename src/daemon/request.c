/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "manager.h"
#include "operations.h"
#include "request.h"

static int on_device_request(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Device *d = userdata;
        uint64_t v;

        (void) read(fd, &v, sizeof(v));
        operation_release_on_request(d->manager, d);
        return 0;
}

void request_watch(Manager *m, const char *slot) {
        Device *d = device_get(m, slot);
        int r;

        if (!d || !engine_find(m->engine, slot))
                return;
        if (d->req_fd < 0) {
                d->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (d->req_fd < 0)
                        return (void) log_warning_errno(errno, "Failed to create an eventfd for %s, ignoring: %m",
                                                        slot);
        }
        r = engine_set_request_eventfd(m->engine, d->slot, d->req_fd);
        if (r == -EOPNOTSUPP) {
                /* legacy: there is no device file to ask on; an unbind of vfio-pci does not wait for the group's */
                request_unwatch(d);
                return;
        }
        if (r < 0)
                return (void) log_warning_errno(
                        r, "Failed to register vfio's device request channel for %s, ignoring: %m", slot);
        if (!d->req_source) {
                r = sd_event_add_io(m->event, &d->req_source, d->req_fd, EPOLLIN, on_device_request, d);
                if (r < 0)
                        log_warning_errno(r, "Failed to watch the device request channel of %s, ignoring: %m", slot);
        }
}

void request_unwatch(Device *d) {
        d->req_source = sd_event_source_disable_unref(d->req_source);
        d->req_fd = safe_close(d->req_fd);
}
