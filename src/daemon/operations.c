/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit-log.h"
#include "bus-device.h"
#include "bus-manager.h"
#include "device.h"
#include "fdstore.h"
#include "hashmap.h"
#include "isolate-bus.h"
#include "log.h"
#include "manager.h"
#include "operations.h"
#include "request.h"
#include "state.h"
#include "strv.h"
#include "time-util.h"
#include "user-util.h"

/* ---- bookkeeping shared by the operations ------------------------------------------------- */

/* A device that has just been bound (taken, or taken back): its fd into the store, its record says so,
 * and its device request channel is watched. */
static void device_taken(Manager *m, const HeldDevice *h) {
        Device *d = device_get(m, h->slot);

        if (!d) {
                log_oom();
                return;
        }
        if (d->fd_stored)
                return;
        fdstore_add_device(m, h);
        d->since = h->since;
        d->released_on_request = false;
        d->failed = false;
        d->last_error = mfree(d->last_error);
        request_watch(m, h->slot);
}

void operation_sync_held(Manager *m) {
        fdstore_add_engine(m);
        FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices)
                if (h->state == DEVICE_STATE_QUARANTINED && h->fd >= 0)
                        device_taken(m, h);
}

/* The interrupt verdict of a device: what the topology read from /proc/interrupts, or, when that could
 * not tell, the kernel's own word from a bind of its group (note_isolated_msi()), which a reload of the
 * topology forgets. */
static InterruptSafety device_interrupts(Manager *m, const PciDevice *pd) {
        const Device *d;

        if (pd->interrupts != INTERRUPTS_UNKNOWN)
                return pd->interrupts;
        d = device_find(m, pd->slot);
        if (d && pd->iommu_group >= 0 && d->msi_isolated_group == pd->iommu_group)
                return INTERRUPTS_SAFE;
        return INTERRUPTS_UNKNOWN;
}

/* iommufd binds a device only if its group's MSIs are isolated, unless allow_unsafe_interrupts is set:
 * a bind while it is N settles the verdict of the group's devices that /proc/interrupts left unknown.
 * Only iommufd's bind says so: the legacy backend's VFIO_GROUP_SET_CONTAINER checks nothing of the
 * kind (type1 checks its own parameter only when a domain is set up, and blocked mode sets none). */
static void note_isolated_msi(Manager *m, const char *slot) {
        _cleanup_strv_free_ char **news = NULL;
        const PciDevice *b;
        bool unknown = false;
        PciAddress a;
        int r;

        if (m->engine->kind != ENGINE_KIND_IOMMUFD)
                return;
        if (pci_address_parse(slot, &a) < 0 || !(b = topology_find_device(m->topology, &a)) || b->iommu_group < 0)
                return;
        /* Only where /proc/interrupts left a verdict unknown (then the parameter is read); the devices
         * whose verdict this settles for the first time get a record and a line in the journal. */
        FOREACH_ARRAY(pd, m->topology->devices, m->topology->n_devices) {
                if (pd->iommu_group != b->iommu_group || pd->interrupts != INTERRUPTS_UNKNOWN)
                        continue;
                unknown = true;
                if (device_interrupts(m, pd) == INTERRUPTS_UNKNOWN && strv_extend(&news, pd->slot) < 0)
                        return (void) log_oom();
        }
        if (!unknown)
                return;
        r = topology_note_isolated_msi(m->topology, &a);
        if (r < 0)
                return (void) log_debug_errno(r, "Failed to note the MSI isolation of %s's group, ignoring: %m", slot);
        if (r == 0)
                return; /* allow_unsafe_interrupts is not N: the bind proves nothing */
        STRV_FOREACH(s, news) {
                Device *d = device_get(m, *s);
                if (!d)
                        return (void) log_oom();
                d->msi_isolated_group = b->iommu_group;
                log_info("%s: interrupts isolated, no longer unknown: iommufd bound %s (IOMMU group %i) with "
                         "iommufd.allow_unsafe_interrupts=N, which it refuses when the group's MSIs are not.",
                         *s, slot, b->iommu_group);
        }
}

/* The engine's callback right after each device is bound: its fd goes to systemd's store at once, so
 * that a crash at any later instant of the operation keeps it; and the bind is evidence of MSI
 * isolation. */
static void on_bound(void *userdata, const char *slot, int fd) {
        Manager *m = userdata;
        HeldDevice *h = engine_find(m->engine, slot);

        fdstore_add_engine(m);
        if (h && h->fd == fd)
                device_taken(m, h);
        note_isolated_msi(m, slot);
}

static int bus_error_from_engine(sd_bus_error *error, const EngineError *err) {
        return sd_bus_error_set(error, isolate_bus_error_for_engine(err->kind),
                                err->message ?: "The operation failed.");
}

/* The devices an engine error says were touched and not held: "failed", loudly. */
static void mark_failed(Manager *m, const EngineError *err) {
        STRV_FOREACH(s, err->failed) {
                Device *d;
                if (engine_find(m->engine, *s))
                        continue;
                d = device_get(m, *s);
                if (!d)
                        continue;
                d->failed = true;
                device_set_error(d, strna(err->message));
                audit_log("fail-closed", *s, "failure", NULL, UID_INVALID, strna(err->message));
        }
        STRV_FOREACH(n, err->notes)
                log_warning("%s", *n);
}

/* A held device whose protection is incomplete says so in the journal, once per operation. */
static void log_degraded(const HeldDevice *h, uid_t caller_uid) {
        _cleanup_free_ char *why = NULL, *msg = NULL;

        if (!h || h->degraded == 0)
                return;
        why = degradation_explain(h);
        if (asprintf(&msg,
                     "%s is quarantined, but not fully protected: %s. Release to a guest is refused unless its "
                     "rule sets accept_degraded.",
                     h->slot, strna(why)) < 0)
                return (void) log_oom();
        audit_log("degraded", h->slot, "degraded", NULL, caller_uid, msg);
}

/* ---- quarantine ----------------------------------------------------------------------------- */

/* What the engine needs to know from the policy and the records: the cover, the host drivers to
 * restore, the devices whose rule accepts ATS. */
static int quarantine_request(Manager *m, char **slots, QuarantineMode *mode, uint64_t *ret_cover, char ***ret_hints,
                              char ***ret_ats) {
        _cleanup_strv_free_ char **hints = NULL, **ats = NULL;
        PolicyVerdict v = {};
        uint64_t cover = 0;
        Device *d;

        /* Mode and cover: the caller's, else what the policy says for the first device. */
        STRV_FOREACH(s, slots) {
                PolicyVerdict sv;
                if (manager_verdict(m, *s, &sv) < 0)
                        continue;
                if (s == slots)
                        v = sv;
                cover = MAX(cover, sv.scratch_cover);
        }
        if (*mode < 0)
                *mode = slots && slots[0] && manager_verdict(m, slots[0], &v) >= 0 ? v.mode : m->policy->mode;
        HASHMAP_FOREACH(d, m->devices)
                if (d->host_driver && (strv_extend(&hints, d->slot) < 0 || strv_extend(&hints, d->host_driver) < 0))
                        return -ENOMEM;
        /* ATS is accepted per device, by its rule; the group mates the engine adds are judged the same way. */
        FOREACH_ARRAY(pd, m->topology->devices, m->topology->n_devices) {
                PolicyVerdict sv;
                if (pd->has_ats && manager_verdict(m, pd->slot, &sv) >= 0 && sv.ats_accept &&
                    strv_extend(&ats, pd->slot) < 0)
                        return -ENOMEM;
        }
        *ret_cover = cover;
        *ret_hints = TAKE_PTR(hints);
        *ret_ats = TAKE_PTR(ats);
        return 0;
}

static int quarantine_failed(Manager *m, char **slots, const char *reason, uid_t caller_uid, EngineError *err,
                             sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        const char *who = err->device ?: (slots ? slots[0] : NULL);
        int r;

        if (asprintf(&msg, "Quarantine of %s failed (%s): %s", strna(who), strna(reason), strna(err->message)) < 0)
                msg = NULL;
        /* Fail closed, and say so loudly: what did not get into quarantine is "failed". */
        STRV_FOREACH(s, slots)
                if (!engine_find(m->engine, *s))
                        device_set_error_by_slot(m, *s, err->message);
        mark_failed(m, err);
        (void) state_save(m);
        audit_log("quarantine", who, "failure", NULL, caller_uid, strna(msg));
        log_error("%s", strna(msg));
        STRV_FOREACH(s, slots)
                if (device_exists(m, *s))
                        bus_manager_emit_device_changed(m, *s, "quarantine-failed");
        STRV_FOREACH(s, err->failed)
                if (!strv_contains(slots, *s))
                        bus_manager_emit_device_changed(m, *s, "quarantine-failed");
        r = bus_error_from_engine(error, err);
        engine_error_done(err);
        return r;
}

int operation_quarantine(Manager *m, char **slots, QuarantineMode mode, const char *reason, uid_t caller_uid,
                         char ***ret_taken, sd_bus_error *error) {
        _cleanup_strv_free_ char **hints = NULL, **taken = NULL, **ats = NULL;
        EngineError err = {};
        uint64_t cover = 0, attached;
        int r;

        assert(m);

        r = quarantine_request(m, slots, &mode, &cover, &hints, &ats);
        if (r < 0)
                return log_oom();
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
        attached = now_monotonic_usec();

        /* Whatever got held (also on a partial failure) is kept: fds into the store first (on_bound put
         * the devices' there already; this adds the engine's), then clients hear of it, then the state
         * file and the logs. */
        operation_sync_held(m);
        if (r < 0)
                return quarantine_failed(m, slots, reason, caller_uid, &err, error);
        STRV_FOREACH(s, taken)
                bus_manager_emit_device_changed(m, *s, reason);
        (void) state_save(m);
        STRV_FOREACH(n, err.notes)
                log_warning("%s", *n);
        engine_error_done(&err);

        const EngineTimings *et = &m->engine->last;
        log_debug("Quarantine of %s: plan %" PRIu64 " µs, host unbind %" PRIu64 " µs, group type %" PRIu64
                  " µs, vfio-pci bind %" PRIu64 " µs, open+bind+attach %" PRIu64 " µs, total %" PRIu64 " µs.",
                  strna(slots ? slots[0] : NULL), et->plan, et->host_unbind, et->group_type, et->vfio_bind, et->take,
                  et->total);
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
                             h ? quarantine_mode_to_string(h->mode) : "?", strna(reason), et->total,
                             strempty(latency)) >= 0)
                        audit_log("quarantine", *s, "success", sv.rule ? sv.rule->id : NULL, caller_uid, msg);
                log_degraded(h, caller_uid);
        }
        if (ret_taken)
                *ret_taken = TAKE_PTR(taken);
        return 0;
}

/* ---- release ---------------------------------------------------------------------------------- */

/* Release to a guest is allowed for a device the policy allows, whose interrupts are isolated or
 * whose rule accepts unsafe interrupts, and whose protection was complete (or whose rule accepts that
 * it was not). All devices are checked before any is released. */
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
                rd = policy_release_to_guest(&v, device_interrupts(m, pd));
                why = release_decision_explain(rd, &v, pd->slot, device_interrupts(m, pd));
                if (!why)
                        return log_oom();
                if (rd != RELEASE_ALLOWED) {
                        audit_log("release-guest", pd->slot, "refused", v.rule ? v.rule->id : NULL, caller_uid, why);
                        return sd_bus_error_set(error,
                                                rd == RELEASE_DENIED_UNSAFE_INTERRUPTS ? ISOLATE_ERROR_UNSAFE_INTERRUPTS
                                                                                       : ISOLATE_ERROR_NOT_ALLOWED,
                                                why);
                }
                HeldDevice *h = engine_find(m->engine, pd->slot);
                if (h && h->degraded != 0 && !v.accept_degraded) {
                        _cleanup_free_ char *what = degradation_explain(h), *msg = NULL;
                        if (asprintf(&msg,
                                     "%s may not be passed through: %s. A rule with \"accept_degraded\": true for "
                                     "it accepts that.",
                                     pd->slot, strna(what)) < 0)
                                return log_oom();
                        audit_log("release-guest", pd->slot, "refused", v.rule ? v.rule->id : NULL, caller_uid, msg);
                        return sd_bus_error_set(error, ISOLATE_ERROR_NOT_ALLOWED, msg);
                }
        }
        return 0;
}

/* The devices to check and the held ones to release: the whole group moves. */
static int release_plan(Manager *m, char **slots, bool to_guest, char ***ret_check, char ***ret_held,
                        sd_bus_error *error) {
        _cleanup_strv_free_ char **held = NULL, **check = NULL;

        STRV_FOREACH(s, slots) {
                HeldDevice *h = engine_find(m->engine, *s);
                if (!device_exists(m, *s))
                        return sd_bus_error_setf(error, ISOLATE_ERROR_NO_SUCH_DEVICE, "No PCI device %s.", *s);
                if (strv_extend(&check, *s) < 0)
                        return log_oom();
                if (!h) {
                        if (!to_guest)
                                return sd_bus_error_setf(error, ISOLATE_ERROR_NOT_QUARANTINED,
                                                         "%s is not in quarantine; nothing to release to the host.",
                                                         *s);
                        continue; /* not held: only the policy decides whether a guest may have it */
                }
                if (strv_extend(&held, h->slot) < 0)
                        return log_oom();
                FOREACH_ARRAY(g, m->engine->devices, m->engine->n_devices)
                        if (g->group >= 0 && g->group == h->group && !strv_contains(check, g->slot) &&
                            strv_extend(&check, g->slot) < 0)
                                return log_oom();
        }
        *ret_check = TAKE_PTR(check);
        *ret_held = TAKE_PTR(held);
        return 0;
}

static int release_host(Manager *m, char **check, char **held, char ***released, EngineError *err) {
        int r;

        /* Our own unbind of vfio-pci must not be taken for a device between owners. */
        FOREACH_ARRAY(h, m->engine->devices, m->engine->n_devices) {
                Device *d = device_get(m, h->slot);
                if (d && strv_contains(check, h->slot))
                        d->expect_unbind = true;
        }
        r = engine_release_host(m->engine, m->topology, held, released, err);
        /* Where it failed, the expectation goes, except for a device that did leave vfio-pci and is not
         * held (its unbind event is still to come). A device still (or again) held needs none (its own
         * events are recognised as ours), and one still on vfio-pci was never unbound: its next unbind
         * is a real one. */
        if (r < 0)
                STRV_FOREACH(s, check) {
                        Device *d = device_find(m, *s);
                        _cleanup_free_ char *drv = NULL;
                        if (!d || !d->expect_unbind)
                                continue;
                        if (engine_find(m->engine, *s) || m->engine->ops->driver(m->engine->ops_data, *s, &drv) < 0 ||
                            streq_ptr(drv, "vfio-pci"))
                                d->expect_unbind = false;
                }
        return r;
}

int operation_release(Manager *m, char **slots, bool to_guest, uid_t caller_uid, char ***ret_released,
                      sd_bus_error *error) {
        _cleanup_strv_free_ char **held = NULL, **released = NULL, **check = NULL;
        const char *action = to_guest ? "release-guest" : "release-host";
        EngineError err = {};
        int r;

        assert(m);

        r = release_plan(m, slots, to_guest, &check, &held, error);
        if (r < 0)
                return r;
        if (to_guest) {
                r = check_release_to_guest(m, check, caller_uid, error);
                if (r < 0)
                        return r;
        }
        if (!held) {
                /* Allowed and not held: nothing to hand over. */
                STRV_FOREACH(s, check) {
                        _cleanup_free_ char *msg = NULL;
                        if (asprintf(&msg, "%s may go to a guest (it was not in quarantine: nothing to hand over).",
                                     *s) >= 0)
                                audit_log(action, *s, "success", NULL, caller_uid, msg);
                }
                if (ret_released)
                        *ret_released = TAKE_PTR(check);
                return 0;
        }

        fdstore_drop_devices(m, check);
        if (to_guest)
                r = engine_release_guest(m->engine, m->topology, held, &released, &err);
        else
                r = release_host(m, check, held, &released, &err);

        STRV_FOREACH(s, released) {
                Device *d = device_get(m, *s);
                _cleanup_free_ char *msg = NULL;
                if (d) {
                        d->since = now_realtime_usec();
                        d->failed = false;
                        d->last_error = mfree(d->last_error);
                        request_unwatch(d);
                }
                if (asprintf(&msg,
                             to_guest ? "%s released to a guest: it stays on vfio-pci for the VMM to open."
                                      : "%s released to the host: its driver is bound again.",
                             *s) >= 0)
                        audit_log(action, *s, "success", NULL, caller_uid, msg);
                bus_manager_emit_device_changed(m, *s, to_guest ? "released-to-guest" : "released-to-host");
        }
        operation_sync_held(m); /* what a failed release left held, or took back, goes back into the store */
        if (r < 0)
                mark_failed(m, &err);
        (void) state_save(m);

        if (r < 0) {
                audit_log(action, err.device, "failure", NULL, caller_uid, strna(err.message));
                STRV_FOREACH(s, check)
                        bus_manager_emit_device_changed(m, *s, "release-failed");
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

void operation_release_on_request(Manager *m, Device *d) {
        char slot[PCI_ADDRESS_MAX];

        assert(m);
        assert(d);

        snprintf(slot, sizeof(slot), "%s", d->slot);
        /* Someone is unbinding vfio-pci from a device we hold (an admin, libvirt's managed reattach,
         * rmmod). The kernel blocks them until we let go and asks again every 10 s: holding on would
         * hang them, so this device goes, loudly. Only this one: its group mates stay held (their fds
         * keep the group owned, so it stays on the blocking domain until they go too). */
        if (d->fd_stored) {
                char *one[] = { slot, NULL };
                fdstore_drop_devices(m, one);
        }
        engine_forget(m->engine, slot); /* closes its fd */
        d->released_on_request = true;
        d->expect_unbind = true;
        d->since = now_realtime_usec();
        request_unwatch(d);
        audit_log("release-on-request", slot, "success", NULL, UID_INVALID,
                  "The kernel relayed a request to unbind vfio-pci from a quarantined device (an admin, libvirt's "
                  "managed reattach or rmmod); released it so the unbind does not hang. It is no longer in "
                  "quarantine; its IOMMU group mates stay held.");
        bus_manager_emit_device_changed(m, slot, "unbind-request");
        (void) state_save(m);
}

/* ---- capture ------------------------------------------------------------------------------- */

static int device_depth_cmp(const void *a, const void *b) {
        const PciDevice *x = *(const PciDevice *const *) a, *y = *(const PciDevice *const *) b;
        size_t dx = strv_length(x->parents), dy = strv_length(y->parents);
        if (dx != dy)
                return dx < dy ? -1 : 1;
        return pci_address_compare(&x->address, &y->address);
}

/* Why a device is to be taken now, or NULL:
 * - on vfio-pci, not held by us, and the policy does not allow it to pass through (so that no VMM can
 *   open it);
 * - with between_owners (at start, after lost uevents): a managed device that had a host driver and now
 *   has none, or is on vfio-pci with nobody having it open (a crash between the steps of a quarantine
 *   leaves exactly these). A device that never had a driver is not between owners. */
static const char *capture_reason(Manager *m, const PciDevice *pd, bool between_owners) {
        _cleanup_free_ char *driver = NULL;
        PolicyVerdict v;
        Device *d;
        bool vfio, open = false;

        if (!pci_device_is_endpoint(pd) || engine_find(m->engine, pd->slot))
                return NULL;
        if (m->engine->ops->driver(m->engine->ops_data, pd->slot, &driver) < 0)
                return NULL;
        if (manager_verdict(m, pd->slot, &v) < 0)
                return NULL;
        d = device_find(m, pd->slot);
        vfio = driver && streq(driver, "vfio-pci");
        if (vfio && v.passthrough != PASSTHROUGH_ALLOW)
                return "is on vfio-pci but the policy does not allow it to pass through";
        if (!between_owners || !v.quarantine_on_unbind || !d || !d->host_driver || d->released_on_request)
                return NULL;
        if (!driver)
                return "had a host driver and has none now";
        if (vfio && m->engine->ops->enabled(m->engine->ops_data, pd->slot, &open) >= 0 && !open)
                return "is on vfio-pci with nobody holding it";
        return NULL;
}

/* Devices to be taken are taken in topological order (parents before the devices below them). */
static size_t capture(Manager *m, const char *reason, bool between_owners) {
        _cleanup_free_ const PciDevice **order = calloc(m->topology->n_devices ?: 1, sizeof(PciDevice *));
        size_t taken = 0;

        if (!order)
                return log_oom(), 0;
        for (size_t i = 0; i < m->topology->n_devices; i++)
                order[i] = &m->topology->devices[i];
        qsort(order, m->topology->n_devices, sizeof(PciDevice *), device_depth_cmp);

        for (size_t i = 0; i < m->topology->n_devices; i++) {
                _cleanup_strv_free_ char **got = NULL;
                char slot[PCI_ADDRESS_MAX];
                char *one[] = { slot, NULL };
                const char *why = capture_reason(m, order[i], between_owners);

                if (!why)
                        continue;
                log_notice("%s %s: taking it into quarantine.", order[i]->slot, why);
                snprintf(slot, sizeof(slot), "%s", order[i]->slot);
                if (operation_quarantine(m, one, _QUARANTINE_MODE_INVALID, reason, UID_INVALID, &got, NULL) >= 0)
                        taken += strv_length(got); /* with their group mates */
        }
        return taken;
}

size_t operation_coldplug(Manager *m, const char *reason) {
        uint64_t t0 = now_realtime_usec();
        size_t n = capture(m, reason, true);
        if (n > 0)
                log_info("%s: took %zu device(s) between owners into quarantine in %.1f ms.", reason, n,
                         (now_realtime_usec() - t0) / 1000.0);
        return n;
}

/* ---- policy reload ------------------------------------------------------------------------- */

int operation_reload_policy(Manager *m, char ***ret_errors, uid_t caller_uid, sd_bus_error *error) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_free_ PolicyVerdict *before = NULL;
        Policy *p = NULL, *old;
        int r;

        assert(m);

        r = manager_load_policy(m, &p, &errors);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                _cleanup_strv_free_ char **lines = manager_format_policy_errors(&errors);
                _cleanup_free_ char *joined = strv_join(lines, "\n");
                log_error("Refused the new policy, keeping the previous one:\n%s", strna(joined));
                audit_log("reload", NULL, "refused", NULL, caller_uid,
                          "Refused an invalid policy; the previous policy stays in force.");
                if (ret_errors)
                        *ret_errors = TAKE_PTR(lines);
                return sd_bus_error_setf(error, ISOLATE_ERROR_POLICY_INVALID,
                                         "The policy is invalid; the previous policy stays in force:\n%s",
                                         strna(joined));
        }
        /* The verdicts as clients saw them (Passthrough, Rule), to announce the ones that change. Their
         * rules point into the old policy, which lives until they are compared. NULL (no memory): every
         * device is announced. */
        before = calloc(MAX(m->topology->n_devices, (size_t) 1), sizeof(PolicyVerdict));
        for (size_t i = 0; before && i < m->topology->n_devices; i++)
                (void) manager_verdict(m, m->topology->devices[i].slot, &before[i]);
        old = m->policy;
        m->policy = p;
        m->policy_error = mfree(m->policy_error);
        log_info("Policy reloaded: %zu rule(s) from %zu file(s).", p->n_rules, strv_length(p->files));
        audit_log("reload", NULL, "success", NULL, caller_uid, "Policy reloaded.");
        bus_manager_emit_policy_reloaded(m);
        for (size_t i = 0; i < m->topology->n_devices; i++) {
                const char *slot = m->topology->devices[i].slot;
                PolicyVerdict now = {};
                (void) manager_verdict(m, slot, &now);
                if (before && before[i].passthrough == now.passthrough &&
                    streq_ptr(before[i].rule ? before[i].rule->id : NULL, now.rule ? now.rule->id : NULL))
                        continue;
                bus_device_emit_verdict_changed(m, slot);
        }
        policy_free(old);
        capture(m, "policy reload", false);
        return 0;
}
