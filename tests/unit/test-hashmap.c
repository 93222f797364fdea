/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "hashmap.h"

#define N 5000

static char keys[N][16];

static void test_put_get_remove(void **state) {
        _cleanup_(hashmap_freep) Hashmap *h = hashmap_new();
        bool *seen = calloc(N, sizeof(bool));
        void *v;

        assert_non_null(h);
        assert_non_null(seen);
        assert_null(hashmap_get(h, "0000:00:00.0"));
        for (size_t i = 0; i < N; i++) {
                snprintf(keys[i], sizeof(keys[i]), "0000:%02zx:%02zx.%zu", i / 256, (i / 8) % 32, i % 8);
                assert_int_equal(hashmap_put(h, keys[i], &keys[i]), 0);
        }
        assert_int_equal(hashmap_size(h), N);
        assert_int_equal(hashmap_put(h, keys[7], keys[8]), -EEXIST);
        for (size_t i = 0; i < N; i++)
                assert_ptr_equal(hashmap_get(h, keys[i]), &keys[i]);

        /* every other one out: the rest must stay reachable across the shifted probe runs */
        for (size_t i = 0; i < N; i += 2)
                assert_ptr_equal(hashmap_remove(h, keys[i]), &keys[i]);
        assert_null(hashmap_remove(h, keys[0]));
        assert_int_equal(hashmap_size(h), N / 2);
        for (size_t i = 0; i < N; i++) {
                if (i % 2 == 0)
                        assert_null(hashmap_get(h, keys[i]));
                else
                        assert_ptr_equal(hashmap_get(h, keys[i]), &keys[i]);
        }

        /* iteration sees each remaining entry exactly once */
        HASHMAP_FOREACH(v, h) {
                size_t i = (size_t) ((char(*)[16]) v - keys);
                assert_true(i < N && i % 2 == 1);
                assert_false(seen[i]);
                seen[i] = true;
        }
        for (size_t i = 1; i < N; i += 2)
                assert_true(seen[i]);

        /* put back after removal */
        assert_int_equal(hashmap_put(h, keys[0], &keys[0]), 0);
        assert_ptr_equal(hashmap_get(h, keys[0]), &keys[0]);
        free(seen);
}

static void test_empty(void **state) {
        _cleanup_(hashmap_freep) Hashmap *h = hashmap_new();
        size_t i = 0;
        void *v;

        assert_int_equal(hashmap_size(h), 0);
        assert_int_equal(hashmap_size(NULL), 0);
        assert_null(hashmap_get(NULL, "x"));
        assert_null(hashmap_remove(h, "x"));
        assert_false(hashmap_iterate(h, &i, &v));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_put_get_remove),
                cmocka_unit_test(test_empty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
