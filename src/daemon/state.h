/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include <json-c/json.h>

#include "macro.h"
#include "pci-address.h"

typedef struct Manager Manager;

/* state.json in the state directory: what a restarted isolated needs beyond the fds that systemd's
 * store gives back. Version 1:
 *   { "version": 1,
 *     "engine": { ... },                     the engine's own record (engine_to_json, engine_adopt)
 *     "devices": [ { "slot", "host_driver", "faults_read", "faults_write", "faults_other",
 *                    "last_fault" }, ... ] }  the daemon's device records worth keeping */

typedef struct StateDevice {
        char slot[PCI_ADDRESS_MAX];
        char *host_driver; /* NULL: none known */
        unsigned faults_read, faults_write, faults_other;
        uint64_t last_fault; /* realtime µs */
} StateDevice;

typedef struct StateFile {
        json_object *engine; /* NULL: none */
        StateDevice *devices;
        size_t n_devices, n_allocated;
} StateFile;

void state_file_done(StateFile *s);
/* Reads path. -ENOENT: there is none; -EBADMSG: not JSON, not an object, or another version. Device
 * records with an invalid slot are skipped; fields of the wrong type read as absent. */
int state_file_read(const char *path, StateFile *ret);
/* Writes path atomically (a temporary file renamed over it), devices sorted by slot. */
int state_file_write(const char *path, const StateFile *s);

/* The manager's state: the engine and every device record with a host driver or fault counts. */
int state_save(Manager *m);
/* Saves within a second, once for any number of calls in that second: for the frequent fault counts. */
void state_schedule_save(Manager *m);
/* Saves now if a save is pending (at exit). */
void state_flush(Manager *m);
char *state_path(Manager *m);
