/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>

#include "macro.h"
#include "path-util.h"

char *root_path(const char *root, const char *path) {
        char *p;
        if (asprintf(&p, "%s%s", strempty(root), path) < 0)
                return NULL;
        return p;
}
