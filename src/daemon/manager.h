/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "hashmap.h"
#include "policy.h"
#include "quarantine.h"
#include "topology.h"

/* isolated's state and its start: the policy, the topology, the engine, the device records and the
 * event sources (uevents, the kernel log, D-Bus, signals), all on one sd-event loop. The files of
 * src/daemon each own a part:
 *   device.c      the device records (a hash map keyed by the canonical PCI address)
 *   operations.c  quarantine, release, reload, capture: what the methods and events do
 *   adopt.c       taking back what a previous instance held (fd store + state.json)
 *   fdstore.c     systemd's file descriptor store
 *   state.c       state.json
 *   request.c     vfio's device request channel
 *   uevent.c      kernel uevents (bind, unbind, add, remove)
 *   kmsg.c        DMA faults from the kernel log
 *   audit-log.c   the journal's audit records
 *   bus-manager.c, bus-device.c, polkit.c   the D-Bus interfaces and their authorization
 *   isolated.c    the command line and the main loop */

typedef struct ManagerConfig {
        const char *root;        /* NULL: the live system */
        const char *policy_file; /* NULL: the installed policy (policy_dir) */
        const char *policy_dir;
        const char *state_dir;
        const char *backend; /* "iommufd" or "legacy"; NULL: what the kernel offers (engine_kind_detect()) */
        bool user_bus;       /* tests: the session bus instead of the system bus */
        /* The engine's side effects: NULL for the kernel (quarantine_ops_kernel); a test binary passes
         * its own. */
        const QuarantineOps *ops;
        void *ops_data;
} ManagerConfig;

typedef struct Manager {
        ManagerConfig config;
        sd_event *event;
        uint64_t started; /* realtime µs */

        Policy *policy;
        char *policy_error;   /* why the installed policy was refused at start (defaults apply) */
        char *backend_reason; /* why the engine holds devices through the interface it does */
        Topology *topology;
        Engine *engine;
        Hashmap *devices; /* canonical slot → Device (device.c) */

        /* uevent.c */
        struct udev *udev;
        struct udev_monitor *monitor;
        sd_event_source *monitor_source;
        uint64_t event_usec; /* when the uevent being handled arrived (CLOCK_MONOTONIC), 0 outside one */

        /* kmsg.c */
        int kmsg_fd;
        sd_event_source *kmsg_source;
        char kmsg_buf[8192];
        size_t kmsg_len;
        bool kmsg_suppressed; /* the kernel dropped fault reports: the counts are a lower bound */

        /* state.c: a coalesced state_save() */
        sd_event_source *save_source;

        /* fdstore.c: the engine's fds are in the store */
        bool fdstore_iommufd, fdstore_scratch;

        /* bus-manager.c, bus-device.c, polkit.c */
        sd_bus *bus;
        void *polkit_registry;
} Manager;

int manager_new(const ManagerConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Loads policy and topology, re-adopts what a previous instance held, coldplugs, connects to the bus
 * and starts the event sources. */
int manager_startup(Manager *m);

/* Reads the PCI topology anew and remembers the host drivers bound now. */
int manager_reload_topology(Manager *m);
/* Parses the installed policy (or --policy). */
int manager_load_policy(Manager *m, Policy **ret, PolicyErrors *errors);
/* "FILE:LINE:COLUMN: message" lines; NULL when out of memory. */
char **manager_format_policy_errors(const PolicyErrors *e);

/* The policy verdict for a device (with the remembered host driver). -ENODEV: no such device. */
int manager_verdict(Manager *m, const char *slot, PolicyVerdict *ret);
/* What isolatectl shows as the device's state; _DEVICE_STATE_INVALID for no such device. */
DeviceState manager_device_state(Manager *m, const char *slot);
