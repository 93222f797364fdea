/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "pci-address.h"
#include "quarantine.h"

typedef struct Manager Manager;

/* A device the previous instance held whose fd did not survive: it fell back to its default domain and
 * must be taken back at once, in the mode it had. */
typedef struct LostDevice {
        char slot[PCI_ADDRESS_MAX];
        QuarantineMode mode;
        bool group_type_changed; /* the previous instance switched its group from identity */
} LostDevice;

/* Takes back what a previous instance held: the fds systemd's store passed (LISTEN_FDNAMES) and
 * state.json. The store is reconciled with the state: a device fd that no state describes (state.json
 * stale, corrupt or missing, or a crash between the store and the save) is adopted by its name in
 * blocked mode; what cannot be adopted is removed from the store (else systemd would hold the device
 * for ever) and closed. */
int adopt_previous(Manager *m, LostDevice **ret_lost, size_t *ret_n_lost);
