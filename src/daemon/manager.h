/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <libudev.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "dma-fault.h"
#include "policy.h"
#include "quarantine.h"
#include "topology.h"

/* isolated's state: the device table, the policy, the topology, the engine, and the event sources
 * (udev, the kernel log, D-Bus, signals). Everything runs on one sd-event loop. */

typedef struct Manager Manager;

typedef struct Device {
        char slot[PCI_ADDRESS_MAX];
        char *host_driver; /* the last host driver seen bound; udev "unbind" does not say which */
        uint64_t since; /* when it entered its current state (realtime µs; 0: unknown) */
        unsigned faults_read, faults_write, faults_other;
        uint64_t last_fault; /* realtime µs */
        char *last_error; /* the last failure about this device (a failed capture is reported here) */
        bool failed; /* isolated meant to hold it and could not (state "failed"; bus mastering off) */
        /* An operation of ours is unbinding vfio-pci from it (release to the host, a honoured request):
         * the next unbind event is that one, not a device between owners. Set by that operation only,
         * cleared when it fails before unbinding, consumed by the event. */
        bool expect_unbind;
        bool released_on_request; /* vfio-pci is being unbound by someone else: do not capture it again */
        bool fd_stored; /* its VFIO fd is in systemd's fd store */
        int req_fd; /* vfio's device-request eventfd */
        sd_event_source *req_source;
        Manager *manager;
} Device;

typedef struct ManagerConfig {
        const char *root; /* NULL: the live system */
        const char *policy_file; /* NULL: the installed policy (policy_dir) */
        const char *policy_dir;
        const char *state_dir;
        bool fake_engine; /* tests: side effects on the --root tree instead of the kernel */
        bool user_bus; /* tests: the session bus instead of the system bus */
} ManagerConfig;

struct Manager {
        ManagerConfig config;
        sd_event *event;
        sd_bus *bus;
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *monitor_source;
        int kmsg_fd;
        sd_event_source *kmsg_source;
        char kmsg_buf[8192];
        size_t kmsg_len;
        bool kmsg_suppressed;
        sd_event_source *save_source; /* a coalesced manager_save_state(), see manager_schedule_save_state() */

        Policy *policy;
        char *policy_error; /* why the installed policy was refused at start (defaults apply) */
        Topology *topology;
        Engine *engine;
        void *fake_ops_data;

        Device *devices;
        size_t n_devices;

        void *polkit_registry;
        bool fdstore_iommufd, fdstore_scratch;
        uint64_t event_usec; /* when the uevent being handled arrived (CLOCK_MONOTONIC), 0 outside one */
        uint64_t started;
};

int manager_new(const ManagerConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Loads policy and topology, re-adopts what a previous instance held, coldplugs, connects to the
 * bus and starts the event sources. */
int manager_startup(Manager *m);

Device *manager_find_device(Manager *m, const char *slot);
Device *manager_get_device(Manager *m, const char *slot); /* creates the record */
DeviceState manager_device_state(Manager *m, const char *slot);
int manager_reload_topology(Manager *m);
/* Takes managed devices that are between owners: driverless, or on vfio-pci with nobody holding them (at
 * start, and after lost uevents). Returns how many were taken. */
size_t manager_coldplug(Manager *m, const char *reason);

/* The operations behind the D-Bus methods and the events. caller_uid is for the audit trail
 * (UID_INVALID for the daemon's own decisions). On failure *error is set. */
int manager_quarantine(Manager *m, char **slots, QuarantineMode mode, const char *reason, uid_t caller_uid,
                       char ***ret_taken, sd_bus_error *error);
int manager_release(Manager *m, char **slots, bool to_guest, uid_t caller_uid, char ***ret_released,
                    sd_bus_error *error);
/* Parses the policy anew; an invalid one is refused (the old one stays) and the errors are returned. */
int manager_reload_policy(Manager *m, char ***ret_errors, uid_t caller_uid, sd_bus_error *error);

/* Persist the engine's state and the device table (state.json) and keep the fds in systemd's store. */
int manager_save_state(Manager *m);
/* Saves the state within a second, once for any number of calls in that second; for the frequent
 * fault counts. manager_flush_state() saves now if a save is pending (at exit). */
void manager_schedule_save_state(Manager *m);
void manager_flush_state(Manager *m);
int manager_fdstore_add(Manager *m, const char *name, int fd);
void manager_fdstore_remove(Manager *m, const char *name);

/* The policy verdict for a device (with the remembered host driver). */
int manager_verdict(Manager *m, const char *slot, PolicyVerdict *ret);

/* Events */
int manager_udev_start(Manager *m);
void manager_handle_uevent(Manager *m, const char *action, const char *slot, const char *driver);
int manager_kmsg_start(Manager *m);
void manager_handle_fault(Manager *m, const DmaFault *fault, uint64_t now);

/* D-Bus */
int manager_bus_setup(Manager *m);
void bus_emit_device_changed(Manager *m, const char *slot, const char *reason);
void bus_emit_dma_fault(Manager *m, const char *slot, const DmaFault *fault, uint64_t when);
void bus_emit_policy_reloaded(Manager *m);
void bus_emit_device_verdict_changed(Manager *m, const char *slot);
int bus_device_record(Manager *m, sd_bus_message *reply, const char *slot);

/* Structured audit trail in the journal (ISOLATE_* fields), one record per decision. */
void manager_log_decision(Manager *m, const char *action, const char *slot, const char *result, const char *rule,
                          uid_t caller_uid, const char *message);

/* The test backend (fake-ops.c): side effects on the --root tree. */
extern const QuarantineOps quarantine_ops_fake;
void *fake_ops_new(const char *root);
void fake_ops_free(void *data);

