/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "strv.h"

JsonFormat arg_json = JSON_FORMAT_OFF;
bool arg_legend = true;

int json_format_from_string(const char *s, JsonFormat *ret) {
        if (!s)
                *ret = json_format_default();
        else if (streq(s, "pretty"))
                *ret = JSON_FORMAT_PRETTY;
        else if (streq(s, "short"))
                *ret = JSON_FORMAT_SHORT;
        else if (streq(s, "off"))
                *ret = JSON_FORMAT_OFF;
        else
                return -EINVAL;
        return 0;
}

JsonFormat json_format_default(void) {
        return isatty(STDOUT_FILENO) ? JSON_FORMAT_PRETTY : JSON_FORMAT_SHORT;
}

void output_json(json_object *o) {
        int flags = arg_json == JSON_FORMAT_PRETTY ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                                   : JSON_C_TO_STRING_PLAIN;
        flags |= JSON_C_TO_STRING_NOSLASHESCAPE;
        fputs(json_object_to_json_string_ext(o, flags), stdout);
        fputc('\n', stdout);
        fflush(stdout);
        json_object_put(o);
}

struct Table {
        size_t n_columns;
        char **headers;
        char ***rows;
        size_t n_rows;
};

Table *table_new(size_t n_columns, const char *const *headers) {
        Table *t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        t->n_columns = n_columns;
        t->headers = strv_copy((char **) headers);
        if (!t->headers)
                return mfree(t);
        return t;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        strv_free(t->headers);
        for (size_t i = 0; i < t->n_rows; i++) {
                for (size_t j = 0; j < t->n_columns; j++)
                        free(t->rows[i][j]);
                free(t->rows[i]);
        }
        free(t->rows);
        return mfree(t);
}

int table_add_row(Table *t, const char *const *cells) {
        char ***rows = reallocarray(t->rows, t->n_rows + 1, sizeof(char **));
        char **row;

        if (!rows)
                return -ENOMEM;
        t->rows = rows;
        row = calloc(t->n_columns, sizeof(char *));
        if (!row)
                return -ENOMEM;
        for (size_t j = 0; j < t->n_columns; j++) {
                row[j] = strdup(cells[j] ?: "-");
                if (!row[j]) {
                        for (size_t k = 0; k < j; k++)
                                free(row[k]);
                        free(row);
                        return -ENOMEM;
                }
        }
        t->rows[t->n_rows++] = row;
        return 0;
}

size_t table_rows(const Table *t) {
        return t->n_rows;
}

static void print_row(FILE *f, size_t n, const size_t *width, const char *const *cells) {
        for (size_t j = 0; j < n; j++) {
                if (j + 1 < n)
                        fprintf(f, "%-*s ", (int) width[j], cells[j]);
                else
                        fprintf(f, "%s\n", cells[j]);
        }
}

void table_print(const Table *t, FILE *f) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return;
        for (size_t j = 0; j < t->n_columns; j++) {
                if (arg_legend)
                        width[j] = strlen(t->headers[j]);
                for (size_t i = 0; i < t->n_rows; i++)
                        width[j] = MAX(width[j], strlen(t->rows[i][j]));
        }
        if (arg_legend)
                print_row(f, t->n_columns, width, (const char *const *) t->headers);
        for (size_t i = 0; i < t->n_rows; i++)
                print_row(f, t->n_columns, width, (const char *const *) t->rows[i]);
}
