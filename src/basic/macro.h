/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Cleanup and error helpers in the style of systemd's src/fundamental/macro-fundamental.h. */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(x) __attribute__((__cleanup__(x)))
#define _unused_ __attribute__((__unused__))
#define _pure_ __attribute__((__pure__))
#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define _noreturn_ __attribute__((__noreturn__))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#define _warn_unused_result_ __attribute__((__warn_unused_result__))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define SET_FLAG(v, flag, b) ((v) = (b) ? ((v) | (flag)) : ((v) & ~(flag)))

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

static inline bool isempty(const char *s) {
        return !s || s[0] == '\0';
}

/* Take ownership of a pointer or fd: the variable is reset so that its cleanup handler does nothing. */
#define TAKE_PTR(p)                                                                                                    \
        ({                                                                                                             \
                __typeof__(p) _ptr_ = (p);                                                                             \
                (p) = NULL;                                                                                            \
                _ptr_;                                                                                                 \
        })

#define TAKE_FD(fd)                                                                                                    \
        ({                                                                                                             \
                int _fd_ = (fd);                                                                                       \
                (fd) = -EBADF;                                                                                         \
                _fd_;                                                                                                  \
        })

/* Destructors that accept NULL. The _FULL variant is for destructors whose return type is not a
 * pointer (json_object_put() returns int, pci_cleanup() returns void). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                                        \
        static inline void func##p(type *p) {                                                                          \
                if (*p)                                                                                                \
                        *p = func(*p);                                                                                 \
        }

#define DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(type, func, empty)                                                            \
        static inline void func##p(type *p) {                                                                          \
                if (*p != (empty)) {                                                                                   \
                        func(*p);                                                                                      \
                        *p = (empty);                                                                                  \
                }                                                                                                      \
        }

/* Both NULL, or equal strings. */
static inline bool streq_ptr(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

#define free_and_replace(a, b)                                                                                         \
        ({                                                                                                             \
                free(a);                                                                                               \
                (a) = (b);                                                                                             \
                (b) = NULL;                                                                                            \
                0;                                                                                                     \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Turn a libc "-1 and errno" return into a negative errno. Never lets a bare -1 escape. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

#define RET_NERRNO(expr)                                                                                               \
        ({                                                                                                             \
                __typeof__(expr) _r_ = (expr);                                                                         \
                _r_ < 0 ? negative_errno() : (int) _r_;                                                                \
        })

/* Iterate over a plain C array. */
#define FOREACH_ARRAY(i, array, num) for (__typeof__(array[0]) *i = (array); i && i < (array) + (num); i++)

/* Iterate over a NULL-terminated string vector. */
#define STRV_FOREACH(s, l) for (__typeof__(*(l)) *s = (l); s && *s; s++)

/* Assertions that survive NDEBUG: programming errors only, never input errors. */
#define assert_return(expr, r)                                                                                         \
        do {                                                                                                           \
                if (_unlikely_(!(expr)))                                                                               \
                        return (r);                                                                                    \
        } while (false)

#define ERRNO_IS_NOT_FOUND(r) ((r) == -ENOENT || (r) == -ENOTDIR)

/* Grows *array (of *allocated elements) to hold at least need elements, doubling, so that appending
 * n elements one by one costs O(n). Returns the array, or NULL (the old array intact) when out of
 * memory or when the size overflows. */
void *greedy_realloc(void **array, size_t *allocated, size_t need, size_t size);
#define GREEDY_REALLOC(array, allocated, need)                                                                         \
        greedy_realloc((void **) &(array), &(allocated), (need), sizeof((array)[0]))
