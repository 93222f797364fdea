/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isolatectl's Table: one typed model, printed as aligned text and as JSON. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json-util.h"
#include "strv.h"
#include "table.h"

/* The text form, as a string. */
static char *print_text(const Table *t) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        assert_int_equal(table_print(t, f), 0);
        assert_int_equal(fclose(f), 0);
        return buf;
}

/* The JSON form, plain, as a string. */
static char *print_json(const Table *t) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        assert_int_equal(table_print_json(t, f, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), 0);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void test_text_alignment(void **state) {
        _cleanup_(table_freep) Table *t = table_new("SLOT", "STATE", "IOMMU GROUP", "DRIVER");
        _cleanup_free_ char *text = NULL, *bare = NULL;

        assert_non_null(t);
        assert_int_equal(table_get_columns(t), 4);
        assert_int_equal(table_add_many(t, TABLE_STRING, "0000:00:02.0", TABLE_STRING, "quarantined", TABLE_INT, 7,
                                        TABLE_STRING, "vfio-pci"),
                         0);
        assert_int_equal(table_add_many(t, TABLE_STRING, "0000:00:1f.3", TABLE_STRING, "host", TABLE_INT, 12,
                                        TABLE_STRING, NULL),
                         0);
        assert_int_equal(table_get_rows(t), 2);

        /* each column as wide as its widest cell or header, one blank between, the last not padded */
        text = print_text(t);
        assert_string_equal(text, "SLOT         STATE       IOMMU GROUP DRIVER\n"
                                  "0000:00:02.0 quarantined 7           vfio-pci\n"
                                  "0000:00:1f.3 host        12          -\n");

        /* without the header its width does not count */
        table_set_header(t, false);
        bare = print_text(t);
        assert_string_equal(bare, "0000:00:02.0 quarantined 7  vfio-pci\n"
                                  "0000:00:1f.3 host        12 -\n");
}

static void test_empty_cells(void **state) {
        _cleanup_(table_freep) Table *t = table_new("NAME", "DRIVER", "SINCE", "ERROR");
        _cleanup_free_ char *text = NULL, *json = NULL, *dash = NULL;

        assert_non_null(t);
        /* a NULL string, TABLE_EMPTY, a timestamp of 0, NULL JSON: all empty */
        assert_int_equal(
                table_add_many(t, TABLE_STRING, "a", TABLE_STRING, NULL, TABLE_TIMESTAMP, (uint64_t) 0, TABLE_EMPTY),
                0);
        assert_int_equal(table_add_cell(t, TABLE_STRING, "b"), 0);
        assert_int_equal(table_add_cell(t, TABLE_EMPTY, NULL), 0);
        assert_int_equal(table_add_cell(t, TABLE_EMPTY, NULL), 0);
        assert_int_equal(table_add_cell(t, TABLE_JSON, NULL), 0);
        assert_int_equal(table_get_type(t, 0, 1), TABLE_EMPTY);
        assert_int_equal(table_get_type(t, 0, 2), TABLE_EMPTY);
        assert_null(table_get_string(t, 0, 1));

        text = print_text(t);
        assert_string_equal(text, "NAME DRIVER SINCE ERROR\n"
                                  "a    -      -     -\n"
                                  "b    -      -     -\n");
        json = print_json(t);
        assert_string_equal(json, "[{\"name\":\"a\",\"driver\":null,\"since\":null,\"error\":null},"
                                  "{\"name\":\"b\",\"driver\":null,\"since\":null,\"error\":null}]\n");

        assert_int_equal(table_set_empty_string(t, "n/a"), 0);
        dash = table_format_cell(t, 1, 3);
        assert_string_equal(dash, "n/a");
}

static void test_strv_cells(void **state) {
        _cleanup_(table_freep) Table *t = table_new("ID", "DEVICES");
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *text = NULL, *json = NULL;

        assert_non_null(t);
        assert_int_equal(strv_extend(&l, "0000:00:02.0"), 0);
        assert_int_equal(strv_extend(&l, "0000:00:02.1"), 0);
        assert_int_equal(table_add_many(t, TABLE_STRING, "shared-group", TABLE_STRV, l), 0);
        assert_int_equal(table_add_many(t, TABLE_STRING, "none", TABLE_STRV, NULL), 0);
        /* copied: the caller's list may go */
        l = strv_free(l);
        assert_string_equal(table_get_strv(t, 0, 1)[1], "0000:00:02.1");
        assert_null(table_get_strv(t, 1, 1));

        text = print_text(t);
        assert_string_equal(text, "ID           DEVICES\n"
                                  "shared-group 0000:00:02.0, 0000:00:02.1\n"
                                  "none         -\n");
        /* JSON: an array, [] when there are none */
        json = print_json(t);
        assert_string_equal(json, "[{\"id\":\"shared-group\",\"devices\":[\"0000:00:02.0\",\"0000:00:02.1\"]},"
                                  "{\"id\":\"none\",\"devices\":[]}]\n");
}

static void test_timestamps(void **state) {
        _cleanup_(table_freep) Table *t = table_new("SINCE", "SINCE USEC");
        _cleanup_free_ char *text = NULL, *json = NULL;
        uint64_t when = UINT64_C(1700000000123456); /* 2023-11-14 22:13:20.123456 UTC */
        char buf[64];

        setenv("TZ", "UTC", 1);
        tzset();

        assert_non_null(t);
        assert_int_equal(table_add_many(t, TABLE_TIMESTAMP, when, TABLE_UINT64, when), 0);
        assert_int_equal(table_get_uint64(t, 0, 0), when);

        /* text: the local time to the second; JSON: UTC ISO 8601 with µs, and the number as it is */
        text = print_text(t);
        assert_string_equal(text, "SINCE               SINCE USEC\n"
                                  "2023-11-14 22:13:20 1700000000123456\n");
        json = print_json(t);
        assert_string_equal(json, "[{\"since\":\"2023-11-14T22:13:20.123456Z\",\"since_usec\":1700000000123456}]\n");
        assert_string_equal(format_timestamp_iso(when, buf), "2023-11-14T22:13:20.123456Z");

        setenv("TZ", "Europe/Berlin", 1);
        tzset();
        assert_string_equal(format_timestamp_text(when, buf), "2023-11-14 23:13:20");
        setenv("TZ", "UTC", 1);
        tzset();
}

static void test_json_shapes(void **state) {
        _cleanup_(table_freep) Table *t =
                table_new("DEVICE", "SLOT", "STATE", "FAULTS", "READ", "WRITE", "HELD", "EXTRA");
        _cleanup_(json_object_putp) json_object *dev = json_object_new_object(), *extra = json_object_new_int(-5),
                                                *row = NULL, *all = NULL;
        _cleanup_free_ char *text = NULL, *json = NULL;

        assert_non_null(t);
        assert_non_null(dev);
        json_object_object_add(dev, "vendor", json_object_new_string("8086"));
        json_object_object_add(dev, "class", json_object_new_string("030000"));

        /* DEVICE: its keys go into the row; SLOT: text only; FAULTS: text only; READ and WRITE in an
         * object "dma_faults"; EXTRA: a JSON value as it is */
        assert_int_equal(table_set_json_name(t, 0, TABLE_JSON_INLINE), 0);
        assert_int_equal(table_set_json_name(t, 1, NULL), 0);
        assert_int_equal(table_set_json_name(t, 3, NULL), 0);
        assert_int_equal(table_set_json_name(t, 4, "dma_faults/read"), 0);
        assert_int_equal(table_set_json_name(t, 5, "dma_faults/write"), 0);
        assert_int_equal(table_set_json_name(t, 6, "quarantined"), 0);
        assert_int_equal(table_set_display(t, (size_t) 1, (size_t) 2, (size_t) 3, (size_t) 6), 0);

        assert_int_equal(table_add_many(t, TABLE_JSON, dev, TABLE_STRING, "0000:00:02.0", TABLE_STRING, "released",
                                        TABLE_STRING, "3 (1r 2w)", TABLE_UINT, 1u, TABLE_UINT, 2u, TABLE_BOOLEAN, true,
                                        TABLE_JSON, extra),
                         0);
        /* a reference was taken: the table keeps dev alive */
        json_object_put(TAKE_PTR(dev));

        text = print_text(t);
        assert_string_equal(text, "SLOT         STATE    FAULTS    HELD\n"
                                  "0000:00:02.0 released 3 (1r 2w) yes\n");

        json = print_json(t);
        assert_string_equal(json, "[{\"vendor\":\"8086\",\"class\":\"030000\",\"state\":\"released\","
                                  "\"dma_faults\":{\"read\":1,\"write\":2},\"quarantined\":true,\"extra\":-5}]\n");

        assert_int_equal(table_row_to_json(t, 0, &row), 0);
        assert_true(json_object_is_type(row, json_type_object));
        assert_int_equal(json_object_object_length(row), 6);
        assert_int_equal(table_to_json(t, &all), 0);
        assert_true(json_object_is_type(all, json_type_array));
        assert_int_equal(json_object_array_length(all), 1);
}

static void test_no_rows(void **state) {
        _cleanup_(table_freep) Table *t = table_new("RULE", "MATCH");
        _cleanup_free_ char *text = NULL, *json = NULL;

        assert_non_null(t);
        text = print_text(t);
        assert_string_equal(text, "RULE MATCH\n");
        json = print_json(t);
        assert_string_equal(json, "[]\n");
}

static void test_numbers(void **state) {
        _cleanup_(table_freep) Table *t = table_new("INT", "UINT", "UINT64", "BOOL");
        _cleanup_free_ char *text = NULL, *json = NULL;

        assert_non_null(t);
        assert_int_equal(table_add_many(t, TABLE_INT, -3, TABLE_UINT, 4000000000u, TABLE_UINT64, UINT64_MAX,
                                        TABLE_BOOLEAN, false),
                         0);
        text = print_text(t);
        assert_string_equal(text, "INT UINT       UINT64               BOOL\n"
                                  "-3  4000000000 18446744073709551615 no\n");
        json = print_json(t);
        assert_string_equal(json,
                            "[{\"int\":-3,\"uint\":4000000000,\"uint64\":18446744073709551615,\"bool\":false}]\n");
}

static void test_nested_table(void **state) {
        _cleanup_(table_freep) Table *t = table_new("ID", "KEYS");
        Table *keys = table_new("KEY", "MATCHED");
        _cleanup_free_ char *json = NULL, *count = NULL;

        assert_non_null(t);
        assert_non_null(keys);
        assert_int_equal(table_add_many(keys, TABLE_STRING, "vendor", TABLE_BOOLEAN, true), 0);
        assert_int_equal(table_add_many(keys, TABLE_STRING, "slot", TABLE_BOOLEAN, false), 0);
        /* the cell owns the table from now on */
        assert_int_equal(table_add_many(t, TABLE_STRING, "gpu", TABLE_TABLE, keys), 0);
        assert_int_equal(table_add_many(t, TABLE_STRING, "none", TABLE_TABLE, NULL), 0);

        assert_ptr_equal(table_get_table(t, 0, 1), keys);
        assert_null(table_get_table(t, 1, 1));
        count = table_format_cell(t, 0, 1);
        assert_string_equal(count, "2");

        json = print_json(t);
        assert_string_equal(json, "[{\"id\":\"gpu\",\"keys\":[{\"key\":\"vendor\",\"matched\":true},"
                                  "{\"key\":\"slot\",\"matched\":false}]},{\"id\":\"none\",\"keys\":null}]\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_text_alignment), cmocka_unit_test(test_empty_cells),
                cmocka_unit_test(test_strv_cells),     cmocka_unit_test(test_timestamps),
                cmocka_unit_test(test_json_shapes),    cmocka_unit_test(test_no_rows),
                cmocka_unit_test(test_numbers),        cmocka_unit_test(test_nested_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
