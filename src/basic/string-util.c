/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "string-util.h"

size_t string_distance(const char *a, const char *b) {
        size_t n = strlen(a), m = strlen(b);
        /* Three rows: the one before the previous is needed for transpositions. */
        _cleanup_free_ size_t *buf = calloc(3 * (m + 1), sizeof(size_t));
        size_t *prev2, *prev, *row;

        if (!buf)
                return SIZE_MAX;
        prev2 = buf;
        prev = buf + (m + 1);
        row = buf + 2 * (m + 1);
        for (size_t j = 0; j <= m; j++)
                prev[j] = j;
        for (size_t i = 1; i <= n; i++) {
                row[0] = i;
                for (size_t j = 1; j <= m; j++) {
                        int ca = tolower((unsigned char) a[i - 1]), cb = tolower((unsigned char) b[j - 1]);
                        size_t cost = ca == cb ? 0 : 1;
                        row[j] = MIN(MIN(prev[j] + 1, row[j - 1] + 1), prev[j - 1] + cost);
                        /* Two swapped neighbours ("lsit" for "list") are one typo, not two. */
                        if (i > 1 && j > 1 && ca == tolower((unsigned char) b[j - 2]) &&
                            tolower((unsigned char) a[i - 2]) == cb)
                                row[j] = MIN(row[j], prev2[j - 2] + 1);
                }
                size_t *t = prev2;
                prev2 = prev;
                prev = row;
                row = t;
        }
        return prev[m];
}

const char *string_closest(const char *s, const char *const *candidates) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        for (size_t i = 0; candidates[i]; i++) {
                size_t d = string_distance(s, candidates[i]);
                if (d < best_d) {
                        best_d = d;
                        best = candidates[i];
                }
        }
        /* Plausible typo: at most a third of the longer word wrong, and at most 3 edits. */
        if (best && best_d <= 3 && best_d * 3 <= MAX(strlen(s), strlen(best)))
                return best;
        return NULL;
}

int string_table_lookup(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

bool string_is_hex(const char *s, size_t min, size_t max) {
        size_t n = strlen(s);
        if (n < min || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

char *string_escape_nonprint(const char *s, size_t n, char *buf, size_t size) {
        static const char hex[] = "0123456789abcdef";
        size_t j = 0;

        if (size == 0)
                return buf;
        for (size_t i = 0; i < n && s[i] != '\0'; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c >= 0x20 && c < 0x7f && c != '\\') {
                        if (j + 1 >= size)
                                break;
                        buf[j++] = (char) c;
                } else {
                        if (j + 4 >= size)
                                break;
                        buf[j++] = '\\';
                        buf[j++] = 'x';
                        buf[j++] = hex[c >> 4];
                        buf[j++] = hex[c & 0xf];
                }
        }
        buf[j] = '\0';
        return buf;
}
