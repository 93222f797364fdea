/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>

/* A verb table in the style of systemd's verbs.c: argument counts are checked before dispatch,
 * unknown verbs get a "did you mean" suggestion, and the usage text is generated from the table. */

#define VERB_ANY UINT_MAX

typedef enum VerbFlags {
        VERB_DEFAULT = 1 << 0,  /* run when no verb is given */
        VERB_RAW_ARGS = 1 << 1, /* options after the verb are not parsed (libvirt-hook) */
        VERB_ONLINE = 1 << 2,   /* talks to isolated */
} VerbFlags;

/* Options a verb accepts besides the global ones. */
typedef enum VerbOptions {
        OPT_MODE = 1 << 0,
        OPT_TO = 1 << 1,
        OPT_SELECTOR = 1 << 2,
        OPT_DRY_RUN = 1 << 3,
        OPT_FILE = 1 << 4, /* the verb itself reads --policy files */
} VerbOptions;

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args; /* positional arguments after the verb */
        VerbFlags flags;
        int (*dispatch)(int argc, char **argv, void *userdata);
        const char *synopsis; /* arguments, for --help */
        const char *help;
        VerbOptions options;
} Verb;

const Verb *verbs_find(const Verb verbs[], const char *name);
/* Runs the verb named argv[0] (or the default verb when argc == 0). */
int dispatch_verb(int argc, char **argv, const Verb verbs[], void *userdata);
/* Prints "  name synopsis    help" lines, prefixed by prefix (for sub-verbs). */
void verbs_print_help(const Verb verbs[], const char *prefix);
