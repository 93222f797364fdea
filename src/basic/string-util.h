/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Edit distance (optimal string alignment: Levenshtein plus transpositions of neighbours), for
 * "did you mean" suggestions. */
size_t string_distance(const char *a, const char *b);

/* The candidate closest to s, if it is close enough to be a plausible typo; else NULL.
 * candidates is NULL-terminated. */
const char *string_closest(const char *s, const char *const *candidates);

/* Looks up s in a table of n strings (NULL entries skipped); returns the index or -EINVAL. */
int string_table_lookup(const char *const *table, size_t n, const char *s);

/* Hex digits only, 1..max characters. */
bool string_is_hex(const char *s, size_t min, size_t max);

/* Copies n bytes of s into buf (size bytes, NUL-terminated), writing each control character, DEL,
 * byte ≥ 0x80 and backslash as "\xNN", so that text taken from an untrusted source (the kernel log)
 * cannot inject newlines or terminal escape sequences into log lines, D-Bus strings or JSON, and
 * the result is plain ASCII. Stops at a NUL byte. Truncates at a whole character or escape, never
 * in the middle of one. Returns buf. */
char *string_escape_nonprint(const char *s, size_t n, char *buf, size_t size);
