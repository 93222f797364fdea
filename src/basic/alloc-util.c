/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdint.h>
#include <stdlib.h>

#include "macro.h"

void *greedy_realloc(void **array, size_t *allocated, size_t need, size_t size) {
        size_t n;
        void *p;

        assert(array);
        assert(allocated);
        assert(size > 0);

        if (*array && need <= *allocated)
                return *array;
        if (need > SIZE_MAX / 2 / size)
                return NULL;
        n = MAX(need * 2, (size_t) 8);
        p = reallocarray(*array, n, size);
        if (!p)
                return NULL;
        *array = p;
        *allocated = n;
        return p;
}
