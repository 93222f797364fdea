/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "macro.h"
#include "parse-util.h"

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                unsigned shift;
        } units[] = {
                { "", 0 },     { "B", 0 },  { "K", 10 },   { "KiB", 10 }, { "M", 20 },
                { "MiB", 20 }, { "G", 30 }, { "GiB", 30 }, { "T", 40 },   { "TiB", 40 },
        };
        uint64_t v = 0;
        const char *p = s;

        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        while (isdigit((unsigned char) *p)) {
                uint64_t digit = (uint64_t) (*p - '0');
                if (v > (UINT64_MAX - digit) / 10)
                        return -ERANGE;
                v = v * 10 + digit;
                p++;
        }
        FOREACH_ARRAY(u, units, ELEMENTSOF(units))
                if (streq(p, u->suffix)) {
                        if (u->shift && v > (UINT64_MAX >> u->shift))
                                return -ERANGE;
                        *ret = v << u->shift;
                        return 0;
                }
        return -EINVAL;
}

char *format_size(uint64_t size, char buf[static 32]) {
        static const char suffixes[] = { 'T', 'G', 'M', 'K' };
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                unsigned shift = 40 - 10 * (unsigned) i;
                if (size >= (UINT64_C(1) << shift) && size % (UINT64_C(1) << shift) == 0) {
                        snprintf(buf, 32, "%" PRIu64 "%c", size >> shift, suffixes[i]);
                        return buf;
                }
        }
        snprintf(buf, 32, "%" PRIu64, size);
        return buf;
}
