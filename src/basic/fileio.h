/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <sys/types.h>

#include "macro.h"

int safe_close(int fd);
static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(FILE *, fclose, NULL);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(DIR *, closedir, NULL);
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Reads a whole file (at most max_size bytes; 0 means 4 MiB). The buffer is NUL-terminated.
 * Returns -EFBIG when the file is larger than max_size. */
int read_full_file(const char *path, size_t max_size, char **ret_contents, size_t *ret_size);
int read_full_fd(int fd, size_t max_size, char **ret_contents, size_t *ret_size);

/* Reads a file and strips one trailing newline (sysfs attributes). */
int read_one_line_file(const char *path, char **ret_line);

/* Writes a string to an existing file, such as a sysfs attribute (no O_CREAT, no truncation
 * semantics beyond what the file has). A short write is an error. */
int write_string_file(const char *path, const char *s);

/* Writes contents to path atomically: a temporary file in the same directory, fsync, rename. */
int write_file_atomic(const char *path, const char *contents, size_t size, mode_t mode);

/* Creates a directory and its parents (mode for created ones). Exists already: 0. */
int mkdir_p(const char *path, mode_t mode);
