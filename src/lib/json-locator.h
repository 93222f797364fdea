/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* json-c parses JSON but keeps no source positions. The locator scans the same text once more
 * (after json-c accepted it) and records, for every member and element, its JSON Pointer path
 * ("/rules/0/match/vendor") and the line and column of its key and of its value, so that
 * validation errors can say FILE:LINE:COLUMN. It also finds duplicate object keys, which json-c
 * silently collapses. It is not a parser: it trusts json-c's verdict on the syntax, except where
 * json-c is lenient even in strict mode (it takes 'single-quoted' object keys), which
 * json_locator_stopped() reports. */

typedef struct JsonPosition {
        unsigned line;   /* 1-based */
        unsigned column; /* 1-based, in bytes */
} JsonPosition;

typedef struct JsonLocator JsonLocator;

int json_locator_new(const char *text, size_t size, JsonLocator **ret);
JsonLocator *json_locator_free(JsonLocator *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(JsonLocator *, json_locator_free);

/* Position of the value at pointer; for object members, of_key selects the key's position.
 * Falls back to the nearest located ancestor; the root is 1:1. */
JsonPosition json_locator_find(const JsonLocator *l, const char *pointer, bool of_key);

/* Whether the scan stopped before the end of the value, on text that is not JSON; *ret_pos is where. */
bool json_locator_stopped(const JsonLocator *l, JsonPosition *ret_pos);

/* Duplicate keys: iterate with index 0.. until false. */
bool json_locator_duplicate(const JsonLocator *l, size_t i, const char **ret_pointer, JsonPosition *ret_pos);

/* Line and column of a byte offset (json-c's tokener reports offsets). */
JsonPosition json_position_from_offset(const char *text, size_t size, size_t offset);

/* Appends one reference token to a JSON Pointer, escaping '~' and '/'. */
char *json_pointer_append(const char *base, const char *token);
char *json_pointer_append_index(const char *base, size_t index);
