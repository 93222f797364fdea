/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "device.h"
#include "quarantine.h"

typedef struct Manager Manager;

/* The operations behind the D-Bus methods and the kernel's events. Each one: engine → fd store →
 * signals → state file → audit record. caller_uid is for the audit trail (UID_INVALID for the daemon's
 * own decisions). On failure *error is set (it may be NULL) and a negative errno returned. */

/* mode < 0: the policy's mode for the first device. *ret_taken: the devices held (with group mates). */
int operation_quarantine(Manager *m, char **slots, QuarantineMode mode, const char *reason, uid_t caller_uid,
                         char ***ret_taken, sd_bus_error *error);
int operation_release(Manager *m, char **slots, bool to_guest, uid_t caller_uid, char ***ret_released,
                      sd_bus_error *error);
/* The kernel relayed a request to unbind vfio-pci from a held device: it goes, loudly (request.c). */
void operation_release_on_request(Manager *m, Device *d);
/* Parses the policy anew; an invalid one is refused (the old one stays) and the errors are returned. */
int operation_reload_policy(Manager *m, char ***ret_errors, uid_t caller_uid, sd_bus_error *error);
/* Takes managed devices that are between owners: driverless after having had a host driver, or on
 * vfio-pci with nobody holding them (at start, and after lost uevents); and denied ones on vfio-pci.
 * Returns how many were taken. */
size_t operation_coldplug(Manager *m, const char *reason);

/* Every held device's fd (and the engine's) into the store, its record updated, its request channel
 * watched: after an operation and after adoption. */
void operation_sync_held(Manager *m);
