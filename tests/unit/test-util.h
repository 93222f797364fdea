/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the unit tests: the real-kernel snapshots in tests/fixtures/sysfs, and copies of
 * them with one file changed. Include after <cmocka.h>. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline const char *fixtures_dir(void) {
        const char *d = getenv("ISOLATE_FIXTURES");
        if (!d) {
                fprintf(stderr, "ISOLATE_FIXTURES is not set (run through meson test)\n");
                exit(77);
        }
        return d;
}

/* Path of a snapshot (static buffer). */
static inline const char *snapshot(const char *name) {
        static char buf[4096];
        snprintf(buf, sizeof(buf), "%s/sysfs/%s", fixtures_dir(), name);
        return buf;
}

static inline int run_cmd(const char *fmt, const char *a, const char *b) {
        char cmd[8192];
        snprintf(cmd, sizeof(cmd), fmt, a, b);
        return system(cmd);
}

/* A private copy of a snapshot, to change files in. Free with snapshot_remove(). */
static inline char *snapshot_copy(const char *name) {
        char *dir = strdup("/tmp/isolate-test.XXXXXX");
        assert_non_null(dir);
        assert_non_null(mkdtemp(dir));
        assert_int_equal(run_cmd("cp -a '%s/.' '%s'", snapshot(name), dir), 0);
        return dir;
}

static inline void snapshot_remove(char *dir) {
        assert_int_equal(run_cmd("rm -rf '%s'%s", dir, ""), 0);
        free(dir);
}

/* Replaces (or creates) a file in a snapshot copy; a symlink in the way is replaced by the file. */
/* Removes a directory of a snapshot copy, with what is in it. */
static inline void snapshot_rmtree(const char *root, const char *rel) {
        assert_int_equal(run_cmd("rm -rf -- '%s%s'", root, rel), 0);
}

static inline void snapshot_write(const char *root, const char *rel, const char *content) {
        char path[4096];
        FILE *f;
        snprintf(path, sizeof(path), "%s%s", root, rel);
        (void) unlink(path);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(content, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static inline void snapshot_unlink(const char *root, const char *rel) {
        char path[4096];
        snprintf(path, sizeof(path), "%s%s", root, rel);
        assert_int_equal(unlink(path), 0);
}

/* Patches bytes of a device's config space in a snapshot copy. */
static inline void snapshot_patch_config(const char *root, const char *slot, unsigned offset, const void *data,
                                         size_t n) {
        char path[4096];
        FILE *f;
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/config", root, slot);
        f = fopen(path, "r+e");
        assert_non_null(f);
        assert_int_equal(fseek(f, (long) offset, SEEK_SET), 0);
        assert_int_equal(fwrite(data, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
}
