/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "json-util.h"
#include "macro.h"
#include "table.h"

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

/* The json_object_to_json_string_ext() flags of a format. */
int json_format_flags(JsonFormat format);

/* Prints a JSON value (and a newline) on stdout in the chosen format. Consumes o. */
void output_json(json_object *o);

/* Prints the table on stdout: JSON as --json asks, or text with a header unless --no-legend. */
int output_table(Table *t);
