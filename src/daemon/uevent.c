/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include <libudev.h>

#include "fileio.h"
#include "log.h"
#include "audit-log.h"
#include "bus-manager.h"
#include "device.h"
#include "fdstore.h"
#include "manager.h"
#include "operations.h"
#include "request.h"
#include "state.h"
#include "strv.h"
#include "time-util.h"
#include "uevent.h"
#include "user-util.h"

/* PCI bind/unbind/add/remove events, straight from the kernel's netlink socket (the "kernel" source):
 * udevd's own events trail the kernel's by tens to hundreds of milliseconds, and the window between
 * an unbind and the quarantine is what isolate exists to shrink. */

void uevent_handle(Manager *m, const char *action, const char *slot, const char *driver) {
        PciAddress a;
        Device *d;
        HeldDevice *h;
        PolicyVerdict v;
        char canon[PCI_ADDRESS_MAX];
        char *one[] = { canon, NULL };

        if (!action || !slot || pci_address_parse_full(slot, &a) < 0)
                return;
        pci_address_format(&a, canon);

        if (streq(action, "add") || streq(action, "remove")) {
                h = engine_find(m->engine, canon);
                if (streq(action, "remove") && h) {
                        fdstore_remove_device(m, canon);
                        engine_forget(m->engine, canon);
                        if ((d = device_find(m, canon))) {
                                d->fd_stored = false;
                                request_unwatch(d);
                        }
                        log_notice("%s was removed from the system while isolated held it.", canon);
                        (void) state_save(m);
                }
                (void) manager_reload_topology(m);
                bus_manager_emit_device_changed(m, canon, action);
                return;
        }

        d = device_get(m, canon);
        if (!d)
                return (void) log_oom();
        h = engine_find(m->engine, canon);

        if (streq(action, "bind")) {
                if (driver && !streq(driver, "vfio-pci")) {
                        if (device_set_host_driver(d, driver) < 0)
                                log_oom();
                        d->released_on_request = false;
                        d->expect_unbind = false;
                        d->failed = false;
                        d->last_error = mfree(d->last_error);
                        d->since = now_realtime_usec();
                        bus_manager_emit_device_changed(m, canon, "bound");
                        return;
                }
                if (!driver || h)
                        return; /* ours */
                /* Someone else bound vfio-pci: unless the device may pass through, take it before a VMM
                 * can open it. */
                if (manager_verdict(m, canon, &v) >= 0 && v.passthrough != PASSTHROUGH_ALLOW) {
                        log_notice("%s was bound to vfio-pci, and the policy does not allow it to pass through: "
                                   "taking it into quarantine.",
                                   canon);
                        (void) operation_quarantine(m, one, _QUARANTINE_MODE_INVALID,
                                                    "bound to vfio-pci, passthrough denied", UID_INVALID, NULL, NULL);
                }
                return;
        }

        if (!streq(action, "unbind"))
                return;

        if (d->expect_unbind) {
                d->expect_unbind = false;
                return;
        }
        if (h && h->state == DEVICE_STATE_QUARANTINED)
                return; /* the host driver's unbind that our own quarantine caused */
        if (h && h->state == DEVICE_STATE_RELEASED) {
                /* A VMM's device went off vfio-pci (libvirt's managed reattach): it is ours no more. */
                engine_forget(m->engine, canon);
        }
        if (manager_verdict(m, canon, &v) < 0)
                return;
        if (!v.quarantine_on_unbind) {
                log_debug("%s unbound; the policy does not capture it.", canon);
                bus_manager_emit_device_changed(m, canon, "unbound");
                return;
        }
        (void) operation_quarantine(m, one, _QUARANTINE_MODE_INVALID, "unbound from its driver", UID_INVALID, NULL,
                                    NULL);
}

/* The socket overflowed (ENOBUFS): events were lost, and with them maybe an unbind. Look at sysfs
 * instead: what is between owners now is taken. */
static void rescan(Manager *m) {
        log_warning("Kernel uevents were lost (the receive buffer overflowed): rescanning the PCI devices.");
        if (manager_reload_topology(m) < 0)
                return;
        (void) operation_coldplug(m, "rescan after lost uevents");
        (void) state_save(m);
}

static int on_uevent(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;

        for (;;) {
                errno = 0;
                struct udev_device *dev = udev_monitor_receive_device(m->monitor);
                if (!dev) {
                        if (errno == ENOBUFS)
                                rescan(m);
                        break;
                }
                const char *action = udev_device_get_action(dev);
                m->event_usec = now_monotonic_usec();
                /* Only a bind names a driver; asking for it on other events costs libudev a readlink. */
                uevent_handle(m, action, udev_device_get_sysname(dev),
                              streq_ptr(action, "bind") ? udev_device_get_driver(dev) : NULL);
                m->event_usec = 0;
                udev_device_unref(dev);
        }
        return 0;
}

int uevent_start(Manager *m) {
        int r;

        if (m->config.root) {
                log_debug("Reading a snapshot (--root): no udev events.");
                return 0;
        }
        m->udev = udev_new();
        if (!m->udev)
                return log_error_errno(errno ?: ENOMEM, "Failed to create the udev context: %m");
        m->monitor = udev_monitor_new_from_netlink(m->udev, "kernel");
        if (!m->monitor)
                return log_error_errno(errno ?: ENOMEM, "Failed to open the kernel's uevent socket: %m");
        r = udev_monitor_filter_add_match_subsystem_devtype(m->monitor, "pci", NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to filter uevents: %m");
        /* Without CAP_NET_ADMIN (the unit does not grant it) the kernel caps this at net.core.rmem_max;
         * what does not fit is a lost event, which on_uevent() turns into a rescan. */
        r = udev_monitor_set_receive_buffer_size(m->monitor, 8 * 1024 * 1024);
        if (r < 0)
                log_debug_errno(r, "Could not grow the uevent receive buffer to 8 MiB (overflows cause a rescan): %m");
        r = udev_monitor_enable_receiving(m->monitor);
        if (r < 0)
                return log_error_errno(r, "Failed to receive uevents: %m");
        r = sd_event_add_io(m->event, &m->monitor_source, udev_monitor_get_fd(m->monitor), EPOLLIN, on_uevent, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch uevents: %m");
        /* Before D-Bus and the kernel log: an unbind must be handled first. */
        (void) sd_event_source_set_priority(m->monitor_source, SD_EVENT_PRIORITY_IMPORTANT);
        return 0;
}

void uevent_stop(Manager *m) {
        m->monitor_source = sd_event_source_disable_unref(m->monitor_source);
        m->monitor = udev_monitor_unref(m->monitor);
        m->udev = udev_unref(m->udev);
}
