/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "json-util.h"
#include "macro.h"

typedef enum JsonFormat {
        JSON_FORMAT_OFF,
        JSON_FORMAT_PRETTY,
        JSON_FORMAT_SHORT,
} JsonFormat;

extern JsonFormat arg_json;
extern bool arg_legend;

/* --json[=pretty|short|off]: pretty on a terminal, short otherwise when no value is given. */
int json_format_from_string(const char *s, JsonFormat *ret);
JsonFormat json_format_default(void);

/* Prints a JSON value (and a newline) on stdout in the chosen format. Consumes o. */
void output_json(json_object *o);

/* A human table: headers, rows of string cells (NULL shows as "-"), aligned columns; the header
 * line is printed unless --no-legend. */
typedef struct Table Table;

Table *table_new(size_t n_columns, const char *const *headers);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
/* Adds a row of n_columns cells (copied). */
int table_add_row(Table *t, const char *const *cells);
size_t table_rows(const Table *t);
void table_print(const Table *t, FILE *f);
