/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "quarantine.h"

/* Where the engine's side effects go. isolated runs with NULL: the kernel. A test binary passes its own
 * operations, made for the --root tree (new() gets that root; it is required then). */
typedef struct EngineBackend {
        const QuarantineOps *ops;
        void *(*new)(const char *root);
        void (*free)(void *data);
} EngineBackend;

/* The daemon: parses the command line, runs the manager's loop, returns the exit status. */
int isolated_main(int argc, char *argv[], const EngineBackend *backend);
