/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* NULL-terminated string vectors, as in systemd's strv.h. NULL is a valid empty vector. */

char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

size_t strv_length(char *const *l);
bool strv_contains(char *const *l, const char *s);
/* Appends a copy of s. */
int strv_extend(char ***l, const char *s);
/* Appends s itself (ownership moves in, also on failure: then s is freed). */
int strv_consume(char ***l, char *s);
void strv_sort(char **l);
/* Splits on any of the separator characters, dropping empty words. */
int strv_split(const char *s, const char *separators, char ***ret);
/* Joins with sep; an empty vector gives "". */
char *strv_join(char *const *l, const char *sep);
char **strv_copy(char *const *l);

/* A NULL-terminated vector literal: STRV_MAKE("a", "b"). */
#define STRV_MAKE(...) ((char **) ((const char *[]) { __VA_ARGS__, NULL }))
