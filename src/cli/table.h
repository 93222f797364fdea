/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One output model for isolatectl's verbs, in the style of systemd's format-table.h (loginctl's
 * Table): a verb fills typed rows once, and the same table prints as aligned text or as JSON.
 *
 * Columns have a header (the text form) and a JSON name (the JSON form). By default a column's JSON
 * name is its header in lower case with ' ' and '-' turned into '_', and every column is shown in
 * both forms. table_set_json_name() renames a column in JSON, or (NULL) leaves it out of JSON;
 * table_set_display() picks and orders the columns of the text form (the others are JSON-only).
 * A JSON name "a/b" puts the cell in the object "a" under "b" (an object keyed "a" in the row, made
 * where the first such column is); the JSON name TABLE_JSON_INLINE with a TABLE_JSON object cell adds
 * the object's keys to the row itself.
 *
 * An empty cell (TABLE_EMPTY, a NULL string, NULL JSON, a timestamp of 0) prints as the table's empty
 * string ("-" by default) and is null in JSON. */

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "macro.h"

typedef enum TableDataType {
        TABLE_EMPTY,     /* no argument */
        TABLE_STRING,    /* const char *; NULL is empty */
        TABLE_INT,       /* int */
        TABLE_UINT,      /* unsigned */
        TABLE_UINT64,    /* uint64_t */
        TABLE_BOOLEAN,   /* bool (passed as int); text "yes"/"no" */
        TABLE_TIMESTAMP, /* uint64_t realtime µs; text: local "YYYY-MM-DD HH:MM:SS", JSON: UTC ISO 8601
                          * with µs, "YYYY-MM-DDTHH:MM:SS.uuuuuuZ"; 0 is empty */
        TABLE_STRV,      /* char **, copied; text: joined by ", "; JSON: an array of strings; no
                          * strings is empty in the text form, [] in JSON */
        TABLE_JSON,      /* json_object *, a reference is taken; NULL is empty; text: its JSON text */
        TABLE_TABLE,     /* Table *, owned by the cell from then on (also when adding fails); NULL is
                          * empty; JSON: its table_to_json() array; text: its number of rows */
        _TABLE_DATA_TYPE_MAX,
} TableDataType;

#define TABLE_JSON_INLINE "*"

/* For string cells that are empty when "" (NULL is empty already). */
static inline const char *empty_to_null(const char *s) {
        return isempty(s) ? NULL : s;
}

typedef struct Table Table;

/* table_new("SLOT", "STATE", ...): the column headers. NULL on OOM. */
Table *table_new_internal(const char *first_header, ...);
#define table_new(...) table_new_internal(__VA_ARGS__, NULL)
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);

size_t table_get_columns(const Table *t);
size_t table_get_rows(const Table *t);

/* NULL: the column is not part of the JSON form. */
int table_set_json_name(Table *t, size_t column, const char *name);
/* The text form's columns, in order, ending with SIZE_MAX: table_set_display(t, 0, 2, 1, SIZE_MAX). */
int table_set_display_internal(Table *t, size_t first, ...);
#define table_set_display(t, ...) table_set_display_internal((t), __VA_ARGS__, SIZE_MAX)
/* Whether the text form starts with the header line (default: yes). */
void table_set_header(Table *t, bool b);
/* What an empty cell prints in the text form (default "-"). */
int table_set_empty_string(Table *t, const char *s);

/* Appends one cell; rows fill left to right, a new row starts after the last column. data is the
 * string, strv, JSON object or table itself, and points to the value for the numbers, booleans and
 * timestamps (TABLE_INT: an int, TABLE_UINT: an unsigned, TABLE_UINT64 and TABLE_TIMESTAMP: a
 * uint64_t, TABLE_BOOLEAN: a bool). */
int table_add_cell(Table *t, TableDataType type, const void *data);
/* table_add_many(t, TABLE_STRING, "a", TABLE_INT, 5, TABLE_EMPTY, ...): type, value pairs (no
 * value for TABLE_EMPTY). */
int table_add_many_internal(Table *t, TableDataType first_type, ...);
#define table_add_many(t, ...) table_add_many_internal((t), __VA_ARGS__, _TABLE_DATA_TYPE_MAX)

/* Reading cells back, for text forms that are not a grid (a sentence, a block per row). A getter of
 * the wrong type or of an empty cell returns NULL, 0 or false. */
TableDataType table_get_type(const Table *t, size_t row, size_t column);
const char *table_get_string(const Table *t, size_t row, size_t column);
uint64_t table_get_uint64(const Table *t, size_t row, size_t column); /* also INT, UINT, TIMESTAMP */
bool table_get_boolean(const Table *t, size_t row, size_t column);
char **table_get_strv(const Table *t, size_t row, size_t column);
const Table *table_get_table(const Table *t, size_t row, size_t column);
/* The cell as the text form shows it (an empty cell: the table's empty string). NULL on OOM. */
char *table_format_cell(const Table *t, size_t row, size_t column);

/* The text form: aligned columns, separated by one blank, the last one not padded. */
int table_print(const Table *t, FILE *f);
/* The JSON form: an array of one object per row. */
int table_to_json(const Table *t, json_object **ret);
/* One row as a JSON object (for verbs whose JSON is one object). */
int table_row_to_json(const Table *t, size_t row, json_object **ret);
/* Prints table_to_json() with these json_object_to_json_string_ext() flags, and a newline. */
int table_print_json(const Table *t, FILE *f, int json_flags);

/* Time formats of TABLE_TIMESTAMP. */
char *format_timestamp_text(uint64_t usec, char buf[static 64]);
char *format_timestamp_iso(uint64_t usec, char buf[static 64]);
