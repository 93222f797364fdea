/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "string-util.h"
#include "verbs.h"

const Verb *verbs_find(const Verb verbs[], const char *name) {
        for (size_t i = 0; verbs[i].dispatch; i++)
                if (name ? streq(verbs[i].name, name) : (verbs[i].flags & VERB_DEFAULT))
                        return &verbs[i];
        return NULL;
}

int dispatch_verb(int argc, char **argv, const Verb verbs[], void *userdata) {
        const Verb *v = verbs_find(verbs, argc > 0 ? argv[0] : NULL);
        unsigned n;

        if (!v) {
                const char *names[64];
                size_t k = 0;

                if (argc == 0)
                        return usage_error("Missing verb.");
                for (size_t i = 0; verbs[i].dispatch && k + 1 < ELEMENTSOF(names); i++)
                        names[k++] = verbs[i].name;
                names[k] = NULL;
                const char *guess = string_closest(argv[0], names);
                if (guess)
                        return usage_error("Unknown command verb '%s', did you mean '%s'?", argv[0], guess);
                return usage_error("Unknown command verb '%s'.", argv[0]);
        }

        n = argc > 0 ? (unsigned) argc - 1 : 0;
        if (n < v->min_args)
                return usage_error("Too few arguments for '%s' (expected: %s %s).", v->name, v->name,
                                   strempty(v->synopsis));
        if (v->max_args != VERB_ANY && n > v->max_args)
                return usage_error("Too many arguments for '%s' (expected: %s %s).", v->name, v->name,
                                   strempty(v->synopsis));

        if (argc == 0) {
                char *fake[] = { (char *) v->name, NULL };
                return v->dispatch(1, fake, userdata);
        }
        return v->dispatch(argc, argv, userdata);
}

void verbs_print_help(const Verb verbs[], const char *prefix) {
        for (size_t i = 0; verbs[i].dispatch; i++) {
                char left[128];
                snprintf(left, sizeof(left), "%s%s%s%s", strempty(prefix), verbs[i].name, verbs[i].synopsis ? " " : "",
                         strempty(verbs[i].synopsis));
                /* A synopsis too long for the column gets its own line, as the options' do. */
                if (strlen(left) > 32)
                        printf("  %s\n  %-32s %s\n", left, "", verbs[i].help);
                else
                        printf("  %-32s %s\n", left, verbs[i].help);
        }
}
