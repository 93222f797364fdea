/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

int read_full_fd(int fd, size_t max_size, char **ret_contents, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        if (max_size == 0)
                max_size = 4U * 1024U * 1024U;

        for (;;) {
                if (allocated - size < 4096) {
                        size_t n = allocated ? allocated * 2 : 4096;
                        char *p;

                        if (n > max_size + 1)
                                n = max_size + 1;
                        if (n <= size)
                                return -EFBIG;
                        p = realloc(buf, n + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = n;
                }

                ssize_t k = read(fd, buf + size, allocated - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max_size)
                        return -EFBIG;
        }

        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = '\0';
        if (ret_size)
                *ret_size = size;
        if (ret_contents)
                *ret_contents = TAKE_PTR(buf);
        return 0;
}

int read_full_file(const char *path, size_t max_size, char **ret_contents, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        return read_full_fd(fd, max_size, ret_contents, ret_size);
}

int read_one_line_file(const char *path, char **ret_line) {
        char *s;
        size_t n;
        int r;

        r = read_full_file(path, 64 * 1024, &s, &n);
        if (r < 0)
                return r;
        if (n > 0 && s[n - 1] == '\n')
                s[--n] = '\0';
        /* sysfs attributes are read into a page-sized buffer: keep only what the value needs */
        char *shrunk = realloc(s, n + 1);
        *ret_line = shrunk ?: s;
        return 0;
}

int write_string_file(const char *path, const char *s) {
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(s);
        ssize_t k;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        k = write(fd, s, n);
        if (k < 0)
                return negative_errno();
        if ((size_t) k != n)
                return -EIO;
        return 0;
}

int write_file_atomic(const char *path, const char *contents, size_t size, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();

        for (size_t done = 0; done < size;) {
                ssize_t k = write(fd, contents + done, size - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        goto fail;
                }
                done += (size_t) k;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = negative_errno();
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = negative_errno();
                goto fail;
        }
        return 0;

fail:
        (void) unlink(tmp);
        return r;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (char *s = p + 1;; s++) {
                bool end = *s == '\0';
                if (*s == '/' || end) {
                        char c = *s;
                        *s = '\0';
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return negative_errno();
                        *s = c;
                }
                if (end)
                        break;
        }
        return 0;
}
