/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "pci-address.h"

typedef struct Manager Manager;

/* What isolated remembers about one PCI function, beyond what the engine holds and the topology says:
 * the host driver it had, its fault counts, its last failure, and the flags of operations in flight.
 * Allocated one by one and kept in the manager's hash map under the canonical slot, so a pointer stays
 * valid for the daemon's lifetime (event sources keep it as userdata). */
typedef struct Device {
        char slot[PCI_ADDRESS_MAX]; /* the key: canonical "0000:03:00.0" */
        Manager *manager;

        char *host_driver; /* the last host driver seen bound; udev "unbind" does not say which */
        uint64_t since;    /* when it entered its current state (realtime µs; 0: unknown) */
        unsigned faults_read, faults_write, faults_other;
        uint64_t last_fault; /* realtime µs */
        char *last_error;    /* the last failure about this device (a failed capture is reported here) */
        bool failed;         /* isolated meant to hold it and could not (state "failed"; bus mastering off) */
        /* An operation of ours is unbinding vfio-pci from it (release to the host, a honoured request):
         * the next unbind event is that one, not a device between owners. Set by that operation only,
         * cleared when it fails before unbinding, consumed by the event. */
        bool expect_unbind;
        bool released_on_request; /* vfio-pci is being unbound by someone else: do not capture it again */
        bool fd_stored;           /* its VFIO fd is in systemd's fd store */
        /* The IOMMU group (-1: none) a VFIO bind of which succeeded while iommufd.allow_unsafe_interrupts
         * was N: the kernel's word that the group's MSIs are isolated (topology_note_isolated_msi()).
         * Kept here because the topology is read again on hotplug and reload; it counts only while the
         * device is still in that group. Not saved: a restarted daemon has it again at the next bind. */
        int msi_isolated_group;

        int req_fd; /* vfio's device-request eventfd (request.c) */
        sd_event_source *req_source;
} Device;

/* The record of slot (any form pci_address_parse() accepts), or NULL if there is none. */
Device *device_find(Manager *m, const char *slot);
/* The record of slot, created if needed; NULL for an invalid address or when out of memory. It does not
 * check that the device exists: see device_exists(). */
Device *device_get(Manager *m, const char *slot);
/* Whether slot is a PCI function of this machine (the topology knows it). */
bool device_exists(Manager *m, const char *slot);
Device *device_free(Device *d);

int device_set_host_driver(Device *d, const char *driver);
/* Remembers message as the device's last failure (NULL clears it). */
void device_set_error(Device *d, const char *message);
/* For a device of this machine only: a caller may name any address, and a request full of made-up
 * addresses must leave no records behind. */
void device_set_error_by_slot(Manager *m, const char *slot, const char *message);
