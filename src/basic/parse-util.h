/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Parses a size such as "4G", "512M", "64GiB" or a byte count. */
int parse_size(const char *s, uint64_t *ret);
/* Formats a size with the largest binary suffix that divides it exactly. */
char *format_size(uint64_t size, char buf[static 32]);
