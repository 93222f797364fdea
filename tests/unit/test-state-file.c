/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isolated's state.json: typed records written and read back, and every way a file can be bad. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "state.h"

static char *tmp_path(void) {
        char *p = strdup("/tmp/isolate-state.XXXXXX");
        int fd;
        assert_non_null(p);
        fd = mkstemp(p);
        assert_true(fd >= 0);
        close(fd);
        return p;
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_roundtrip(void **state) {
        _cleanup_free_ char *path = tmp_path();
        StateDevice devs[] = {
                { .slot = "0000:03:00.0",
                  .host_driver = (char *) "e1000e",
                  .faults_read = 3,
                  .faults_write = 4,
                  .faults_other = 5,
                  .last_fault = 1700000000000000 },
                { .slot = "0000:00:02.0", .faults_write = 1 },
        };
        StateFile out = { .engine = json_object_new_object(), .devices = devs, .n_devices = 2 }, in = {};

        json_object_object_add(out.engine, "iommufd_ioas", json_object_new_int(7));
        assert_int_equal(state_file_write(path, &out), 0);
        json_object_put(out.engine);

        assert_int_equal(state_file_read(path, &in), 0);
        assert_non_null(in.engine);
        assert_int_equal(json_object_get_int(json_object_object_get(in.engine, "iommufd_ioas")), 7);
        assert_int_equal(in.n_devices, 2);
        /* sorted by slot */
        assert_string_equal(in.devices[0].slot, "0000:00:02.0");
        assert_null(in.devices[0].host_driver);
        assert_int_equal(in.devices[0].faults_write, 1);
        assert_string_equal(in.devices[1].slot, "0000:03:00.0");
        assert_string_equal(in.devices[1].host_driver, "e1000e");
        assert_int_equal(in.devices[1].faults_read, 3);
        assert_int_equal(in.devices[1].faults_write, 4);
        assert_int_equal(in.devices[1].faults_other, 5);
        assert_true(in.devices[1].last_fault == 1700000000000000);
        state_file_done(&in);
        unlink(path);
}

static void test_bad_files(void **state) {
        _cleanup_free_ char *path = tmp_path();
        static const char *const bad[] = {
                "",
                "{",
                "not json",
                "[1, 2]",
                "{\"devices\": []}",                     /* no version */
                "{\"version\": 2, \"devices\": []}",     /* a future version */
                "{\"version\": \"1\", \"devices\": []}", /* version of the wrong type */
        };
        StateFile s = {};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                write_text(path, bad[i]);
                assert_int_equal(state_file_read(path, &s), -EBADMSG);
        }
        unlink(path);
        assert_int_equal(state_file_read(path, &s), -ENOENT);
}

/* Records that cannot be used are skipped, fields of the wrong type read as absent: a hand-edited or
 * half-understood file costs those records, not the start. */
static void test_bad_records(void **state) {
        _cleanup_free_ char *path = tmp_path();
        StateFile s = {};

        write_text(path,
                   "{\"version\": 1, \"engine\": 5, \"devices\": ["
                   "{\"slot\": \"0000:zz:00.0\"},"
                   "{\"slot\": 17},"
                   "\"0000:01:00.0\","
                   "{\"host_driver\": \"nvme\"},"
                   "{\"slot\": \"0000:01:00.0\", \"host_driver\": 3, \"faults_read\": \"many\", \"faults_write\": 2}"
                   "]}");
        assert_int_equal(state_file_read(path, &s), 0);
        assert_null(s.engine); /* not an object */
        assert_int_equal(s.n_devices, 1);
        assert_string_equal(s.devices[0].slot, "0000:01:00.0");
        assert_null(s.devices[0].host_driver);
        assert_int_equal(s.devices[0].faults_read, 0);
        assert_int_equal(s.devices[0].faults_write, 2);
        state_file_done(&s);
        unlink(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_bad_files),
                cmocka_unit_test(test_bad_records),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
