/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libudev.h>
#include <systemd/sd-daemon.h>

#include "adopt.h"
#include "bus-manager.h"
#include "device.h"
#include "fileio.h"
#include "kmsg.h"
#include "log.h"
#include "manager.h"
#include "operations.h"
#include "polkit.h"
#include "request.h"
#include "state.h"
#include "strv.h"
#include "time-util.h"
#include "uevent.h"
#include "user-util.h"

int manager_verdict(Manager *m, const char *slot, PolicyVerdict *ret) {
        const PciDevice *pd;
        PolicyDevice dev;
        PciAddress a;
        Device *d;

        assert(m);
        assert(ret);

        if (!slot || pci_address_parse(slot, &a) < 0)
                return -EINVAL;
        pd = topology_find_device(m->topology, &a);
        if (!pd)
                return -ENODEV;
        d = device_find(m, slot);
        /* Rules that match on the driver mean the host driver, also once the device is on vfio-pci. */
        dev = (PolicyDevice) {
                .device = pd,
                .driver = d && d->host_driver                            ? d->host_driver
                          : pd->driver && !streq(pd->driver, "vfio-pci") ? pd->driver
                                                                         : NULL,
        };
        policy_evaluate(m->policy, &dev, ret);
        return 0;
}

DeviceState manager_device_state(Manager *m, const char *slot) {
        HeldDevice *h = engine_find(m->engine, slot);
        const PciDevice *pd;
        PolicyVerdict v;
        PciAddress a;
        Device *d;

        if (h)
                return h->state;
        if (pci_address_parse(slot, &a) < 0 || !(pd = topology_find_device(m->topology, &a)))
                return _DEVICE_STATE_INVALID;
        d = device_find(m, slot);
        if (d && d->failed)
                return DEVICE_STATE_FAILED;
        if (!pci_device_is_endpoint(pd))
                return DEVICE_STATE_UNMANAGED;
        if (manager_verdict(m, slot, &v) >= 0 && !v.quarantine_on_unbind && !v.rule)
                return DEVICE_STATE_UNMANAGED;
        return DEVICE_STATE_HOST;
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
                        Device *d = device_get(m, pd->slot);
                        if (!d || device_set_host_driver(d, pd->driver) < 0)
                                return log_oom();
                }
        return 0;
}

int manager_load_policy(Manager *m, Policy **ret, PolicyErrors *errors) {
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

char **manager_format_policy_errors(const PolicyErrors *e) {
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

/* ---- startup ----------------------------------------------------------------------------- */

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        (void) sd_notify(0, "RELOADING=1");
        (void) operation_reload_policy(m, NULL, UID_INVALID, NULL);
        (void) sd_notify(0, "READY=1");
        return 0;
}

/* Building a large scratch cover can take longer than WatchdogSec= on a slow (emulated) IOMMU. */
static void watchdog_keepalive(void *userdata) {
        (void) sd_notify(false, "WATCHDOG=1");
}

static int startup_policy(Manager *m) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        int r;

        r = manager_load_policy(m, &m->policy, &errors);
        if (r == -ENOMEM)
                return log_oom();
        if (r >= 0)
                return 0;

        _cleanup_strv_free_ char **lines = manager_format_policy_errors(&errors);
        _cleanup_free_ char *joined = strv_join(lines, "\n");
        /* Fail closed: with a broken policy, nothing may pass through, everything is captured. */
        m->policy = policy_new_default();
        if (!m->policy)
                return log_oom();
        m->policy_error = strdup(strna(joined));
        if (!m->policy_error)
                return log_oom();
        log_error("The installed policy is invalid; using the built-in defaults (blocked, capture every "
                  "unbinding device, deny all passthrough) until it is fixed and reloaded:\n%s",
                  strna(joined));
        return 0;
}

/* Devices whose fds were lost are outside quarantine right now: taken back first, in the mode they had,
 * remembering that their group was identity before the previous instance changed it. */
static void take_back_lost(Manager *m, const LostDevice *lost, size_t n) {
        FOREACH_ARRAY(l, lost, n) {
                char slot[PCI_ADDRESS_MAX];
                char *one[] = { slot, NULL };
                HeldDevice *h;

                snprintf(slot, sizeof(slot), "%s", l->slot);
                log_warning(
                        "%s was held by the previous instance but its file descriptor did not survive (a clean "
                        "stop empties systemd's store unless FileDescriptorStorePreserve= keeps it): taking it back.",
                        slot);
                if (operation_quarantine(m, one, l->mode, "re-adopted after restart", UID_INVALID, NULL, NULL) >= 0 &&
                    l->group_type_changed && (h = engine_find(m->engine, slot)))
                        h->group_type_changed = true;
        }
}

/* The kernel interface for the engine: the one --backend= names, else the one this kernel offers. */
static int pick_backend(Manager *m) {
        _cleanup_free_ char *reason = NULL;
        EngineKind kind = ENGINE_KIND_IOMMUFD;
        int r;

        assert(m);

        if (m->config.backend) {
                kind = engine_kind_from_string(m->config.backend);
                if (kind < 0)
                        return log_error_errno(EINVAL, "Unknown backend '%s' (iommufd or legacy).", m->config.backend);
                reason = strdup("--backend= names it");
        } else if (m->config.ops)
                reason = strdup("this test build's engine is iommufd-shaped");
        else {
                r = engine_kind_detect(NULL, m->config.root, &kind, &reason);
                if (r < 0)
                        return log_oom();
        }
        if (!reason)
                return log_oom();
        r = engine_set_kind(m->engine, kind);
        if (r < 0)
                return log_error_errno(r, "Cannot hold devices through %s: %m", engine_kind_to_string(kind));
        m->backend_reason = TAKE_PTR(reason);
        return 0;
}

int manager_startup(Manager *m) {
        _cleanup_free_ LostDevice *lost = NULL;
        size_t n_lost = 0;
        EngineKind kind;
        int r;

        assert(m);

        m->started = now_realtime_usec();

        r = startup_policy(m);
        if (r < 0)
                return r;
        r = manager_reload_topology(m);
        if (r < 0)
                return r;

        r = engine_new(m->config.root, m->config.ops, m->config.ops_data, &m->engine);
        if (r < 0)
                return log_oom();
        m->engine->scratch.keepalive = watchdog_keepalive;
        r = pick_backend(m);
        if (r < 0)
                return r;

        /* Watch uevents before anything is looked at: an unbind during the start is then queued, not lost. */
        r = uevent_start(m);
        if (r < 0)
                return r;

        kind = m->engine->kind;
        r = adopt_previous(m, &lost, &n_lost);
        if (r < 0)
                return r;
        if (m->engine->kind != kind) {
                log_notice("The previous instance held devices through %s: this one does too, although it would have "
                           "picked %s (%s).",
                           engine_kind_to_string(m->engine->kind), engine_kind_to_string(kind), m->backend_reason);
                free(m->backend_reason);
                m->backend_reason = strdup("the previous instance held its devices through it");
                if (!m->backend_reason)
                        return log_oom();
        }
        log_info("Holding devices through %s: %s.", m->engine->kind == ENGINE_KIND_LEGACY ? "legacy VFIO" : "iommufd",
                 m->backend_reason);
        FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices)
                if (h->state == DEVICE_STATE_QUARANTINED)
                        request_watch(m, h->slot);
        take_back_lost(m, lost, n_lost);

        /* Coldplug: devices between owners (a crash mid-operation leaves them) and denied ones on vfio-pci. */
        (void) operation_coldplug(m, "coldplug");
        (void) state_save(m);

        r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGHUP: %m");

        r = kmsg_start(m);
        if (r < 0)
                log_warning_errno(r, "Cannot follow the kernel log, DMA faults will not be counted: %m");

        return bus_manager_setup(m);
}

int manager_new(const ManagerConfig *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
        int r;

        assert(config);
        assert(ret);

        if (!m)
                return log_oom();
        m->config = *config;
        m->kmsg_fd = -EBADF;
        m->devices = hashmap_new();
        if (!m->devices)
                return log_oom();
        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        (void) sd_event_set_watchdog(m->event, true);
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        Device *d;

        if (!m)
                return NULL;
        HASHMAP_FOREACH(d, m->devices)
                device_free(d);
        hashmap_free(m->devices);
        uevent_stop(m);
        kmsg_stop(m);
        sd_event_source_disable_unref(m->save_source);
        /* Pending polkit checks hold their method calls and a reference to the bus. */
        bus_polkit_registry_free(&m->polkit_registry);
        sd_bus_flush_close_unref(m->bus);
        /* The engine's fds are in systemd's store (or this is a test); closing ours is fine. */
        engine_free(m->engine);
        topology_free(m->topology);
        policy_free(m->policy);
        free(m->policy_error);
        free(m->backend_reason);
        sd_event_unref(m->event);
        return mfree(m);
}
