/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "quarantine.h"

typedef struct Manager Manager;

/* systemd's file descriptor store (FDSTORE=1): the iommufd, the scratch memfd and every held device's
 * VFIO file go there as soon as they exist, so that a crash of isolated at any instant keeps the
 * devices held; the next instance gets them back (adopt.c). Names: ENGINE_FDNAME_* and
 * engine_fdname_for_slot(). */

/* > 0 stored; 0 not under systemd (said once per fd, loudly); < 0 failed (logged). */
int fdstore_add(Manager *m, const char *name, int fd);
void fdstore_remove(Manager *m, const char *name);
/* The engine's own fds (iommufd, scratch memfd), once each. */
void fdstore_add_engine(Manager *m);
/* A held device's fd, unless its record says it is there already. */
void fdstore_add_device(Manager *m, const HeldDevice *h);
/* Takes the devices' fds out of the store and waits until systemd has closed its copies: a copy there
 * keeps the VFIO file open, so the device would stay bound (a VMM could not bind it, an unbind of
 * vfio-pci would hang) although isolated released it. */
void fdstore_drop_devices(Manager *m, char **slots);
/* Takes a device's names out of the store (its file, and its container's on the legacy backend). */
void fdstore_remove_device(Manager *m, const char *slot);
