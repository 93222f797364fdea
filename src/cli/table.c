/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json-util.h"
#include "strv.h"
#include "table.h"
#include "time-util.h"

typedef struct TableCell {
        TableDataType type;
        union {
                char *string;
                int64_t i;
                uint64_t u;
                bool b;
                char **strv;
                json_object *json;
                Table *table;
        };
} TableCell;

typedef struct TableColumn {
        char *header;
        char *json_name; /* NULL: not in JSON */
} TableColumn;

struct Table {
        TableColumn *columns;
        size_t n_columns;

        TableCell *cells; /* row after row */
        size_t n_cells, n_allocated;

        size_t *display; /* the text form's columns; NULL: all of them, in order */
        size_t n_display;

        bool header;
        char *empty_string;
};

static bool strv_is_empty(char *const *l) {
        return !l || !l[0];
}

static char *json_name_from_header(const char *h) {
        char *s = strdup(h);

        if (!s)
                return NULL;
        for (char *p = s; *p; p++)
                *p = *p == ' ' || *p == '-' ? '_' : (char) tolower((unsigned char) *p);
        return s;
}

Table *table_new_internal(const char *first_header, ...) {
        _cleanup_(table_freep) Table *t = NULL;
        size_t n = 0;
        va_list ap;

        assert(first_header);

        va_start(ap, first_header);
        for (const char *h = first_header; h; h = va_arg(ap, const char *))
                n++;
        va_end(ap);

        t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        t->header = true;
        t->empty_string = strdup("-");
        t->columns = calloc(n, sizeof(TableColumn));
        if (!t->empty_string || !t->columns)
                return NULL;

        va_start(ap, first_header);
        for (const char *h = first_header; h; h = va_arg(ap, const char *)) {
                TableColumn *c = &t->columns[t->n_columns++];
                c->header = strdup(h);
                c->json_name = json_name_from_header(h);
                if (!c->header || !c->json_name) {
                        va_end(ap);
                        return NULL;
                }
        }
        va_end(ap);
        return TAKE_PTR(t);
}

static void cell_done(TableCell *c) {
        switch (c->type) {
        case TABLE_STRING: free(c->string); break;
        case TABLE_STRV: strv_free(c->strv); break;
        case TABLE_JSON: json_object_put(c->json); break;
        case TABLE_TABLE: table_free(c->table); break;
        default: break;
        }
        *c = (TableCell) {};
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        FOREACH_ARRAY(c, t->columns, t->n_columns) {
                free(c->header);
                free(c->json_name);
        }
        free(t->columns);
        FOREACH_ARRAY(c, t->cells, t->n_cells)
                cell_done(c);
        free(t->cells);
        free(t->display);
        free(t->empty_string);
        return mfree(t);
}

size_t table_get_columns(const Table *t) {
        assert(t);
        return t->n_columns;
}

size_t table_get_rows(const Table *t) {
        assert(t);
        return t->n_cells / t->n_columns;
}

int table_set_json_name(Table *t, size_t column, const char *name) {
        char *s = NULL;

        assert(t);
        assert(column < t->n_columns);

        if (name) {
                s = strdup(name);
                if (!s)
                        return -ENOMEM;
        }
        free(t->columns[column].json_name);
        t->columns[column].json_name = s;
        return 0;
}

int table_set_display_internal(Table *t, size_t first, ...) {
        _cleanup_free_ size_t *d = NULL;
        size_t n = 0, allocated = 0;
        va_list ap;

        assert(t);

        va_start(ap, first);
        for (size_t c = first; c != SIZE_MAX; c = va_arg(ap, size_t)) {
                assert(c < t->n_columns);
                if (!GREEDY_REALLOC(d, allocated, n + 1)) {
                        va_end(ap);
                        return -ENOMEM;
                }
                d[n++] = c;
        }
        va_end(ap);

        free_and_replace(t->display, d);
        t->n_display = n;
        return 0;
}

void table_set_header(Table *t, bool b) {
        assert(t);
        t->header = b;
}

int table_set_empty_string(Table *t, const char *s) {
        char *copy;

        assert(t);
        assert(s);

        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        free_and_replace(t->empty_string, copy);
        return 0;
}

int table_add_cell(Table *t, TableDataType type, const void *data) {
        TableCell c = { .type = type };

        assert(t);
        assert(type >= 0 && type < _TABLE_DATA_TYPE_MAX);

        switch (type) {
        case TABLE_EMPTY: break;
        case TABLE_STRING:
                if (!data)
                        c.type = TABLE_EMPTY;
                else if (!(c.string = strdup(data)))
                        return -ENOMEM;
                break;
        case TABLE_INT: c.i = *(const int *) data; break;
        case TABLE_UINT: c.u = *(const unsigned *) data; break;
        case TABLE_UINT64: c.u = *(const uint64_t *) data; break;
        case TABLE_TIMESTAMP:
                c.u = *(const uint64_t *) data;
                if (c.u == 0)
                        c.type = TABLE_EMPTY;
                break;
        case TABLE_BOOLEAN: c.b = *(const bool *) data; break;
        case TABLE_STRV:
                /* strv_copy(NULL) is NULL as well as OOM: an empty list is stored as NULL */
                if (!strv_is_empty((char *const *) data) && !(c.strv = strv_copy((char *const *) data)))
                        return -ENOMEM;
                break;
        case TABLE_JSON:
                if (!data)
                        c.type = TABLE_EMPTY;
                else
                        c.json = json_object_get((json_object *) data);
                break;
        case TABLE_TABLE:
                if (!data)
                        c.type = TABLE_EMPTY;
                else
                        c.table = (Table *) data;
                break;
        default: assert(false);
        }

        if (!GREEDY_REALLOC(t->cells, t->n_allocated, t->n_cells + 1)) {
                cell_done(&c);
                return -ENOMEM;
        }
        t->cells[t->n_cells++] = c;
        return 0;
}

int table_add_many_internal(Table *t, TableDataType first_type, ...) {
        va_list ap;
        int r = 0;

        assert(t);

        va_start(ap, first_type);
        for (TableDataType type = first_type; type != _TABLE_DATA_TYPE_MAX; type = va_arg(ap, TableDataType)) {
                const char *s;
                int i;
                unsigned u;
                uint64_t u64;
                bool b;
                char **l;
                json_object *j;
                const void *data = NULL;

                switch (type) {
                case TABLE_EMPTY: break;
                case TABLE_STRING: data = s = va_arg(ap, const char *); break;
                case TABLE_INT:
                        i = va_arg(ap, int);
                        data = &i;
                        break;
                case TABLE_UINT:
                        u = va_arg(ap, unsigned);
                        data = &u;
                        break;
                case TABLE_UINT64:
                case TABLE_TIMESTAMP:
                        u64 = va_arg(ap, uint64_t);
                        data = &u64;
                        break;
                case TABLE_BOOLEAN:
                        b = va_arg(ap, int);
                        data = &b;
                        break;
                case TABLE_STRV: data = l = va_arg(ap, char **); break;
                case TABLE_JSON: data = j = va_arg(ap, json_object *); break;
                case TABLE_TABLE: data = va_arg(ap, Table *); break;
                default: assert(false);
                }
                if (r < 0) {
                        /* after a failure: only take the tables that were handed over */
                        if (type == TABLE_TABLE)
                                table_free((Table *) data);
                        continue;
                }
                r = table_add_cell(t, type, data);
        }
        va_end(ap);
        return r;
}

static const TableCell *get_cell(const Table *t, size_t row, size_t column) {
        assert(t);
        assert(column < t->n_columns);
        assert(row * t->n_columns + column < t->n_cells);
        return &t->cells[row * t->n_columns + column];
}

TableDataType table_get_type(const Table *t, size_t row, size_t column) {
        return get_cell(t, row, column)->type;
}

const char *table_get_string(const Table *t, size_t row, size_t column) {
        const TableCell *c = get_cell(t, row, column);
        return c->type == TABLE_STRING ? c->string : NULL;
}

uint64_t table_get_uint64(const Table *t, size_t row, size_t column) {
        const TableCell *c = get_cell(t, row, column);

        switch (c->type) {
        case TABLE_INT: return (uint64_t) c->i;
        case TABLE_UINT:
        case TABLE_UINT64:
        case TABLE_TIMESTAMP: return c->u;
        default: return 0;
        }
}

bool table_get_boolean(const Table *t, size_t row, size_t column) {
        const TableCell *c = get_cell(t, row, column);
        return c->type == TABLE_BOOLEAN && c->b;
}

char **table_get_strv(const Table *t, size_t row, size_t column) {
        const TableCell *c = get_cell(t, row, column);
        return c->type == TABLE_STRV ? c->strv : NULL;
}

const Table *table_get_table(const Table *t, size_t row, size_t column) {
        const TableCell *c = get_cell(t, row, column);
        return c->type == TABLE_TABLE ? c->table : NULL;
}

char *format_timestamp_text(uint64_t usec, char buf[static 64]) {
        time_t s = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        strftime(buf, 64, "%Y-%m-%d %H:%M:%S", localtime_r(&s, &tm));
        return buf;
}

char *format_timestamp_iso(uint64_t usec, char buf[static 64]) {
        time_t s = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        char b[32];

        strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", gmtime_r(&s, &tm));
        snprintf(buf, 64, "%s.%06lluZ", b, (unsigned long long) (usec % USEC_PER_SEC));
        return buf;
}

char *table_format_cell(const Table *t, size_t row, size_t column) {
        const TableCell *c = get_cell(t, row, column);
        char buf[64];
        char *s = NULL;

        switch (c->type) {
        case TABLE_EMPTY: return strdup(t->empty_string);
        case TABLE_STRING: return strdup(c->string);
        case TABLE_INT: return asprintf(&s, "%" PRIi64, c->i) < 0 ? NULL : s;
        case TABLE_UINT:
        case TABLE_UINT64: return asprintf(&s, "%" PRIu64, c->u) < 0 ? NULL : s;
        case TABLE_BOOLEAN: return strdup(c->b ? "yes" : "no");
        case TABLE_TIMESTAMP: return strdup(format_timestamp_text(c->u, buf));
        case TABLE_STRV: return c->strv ? strv_join(c->strv, ", ") : strdup(t->empty_string);
        case TABLE_JSON:
                return strdup(json_object_to_json_string_ext(c->json,
                                                             JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        case TABLE_TABLE: return asprintf(&s, "%zu", table_get_rows(c->table)) < 0 ? NULL : s;
        default: assert(false); return NULL;
        }
}

static size_t display_column(const Table *t, size_t i) {
        return t->display ? t->display[i] : i;
}

int table_print(const Table *t, FILE *f) {
        size_t n_rows, n_display;
        _cleanup_free_ size_t *width = NULL;
        char **text; /* n_rows × n_display, row after row */
        int r = 0;

        assert(t);
        assert(f);

        n_rows = table_get_rows(t);
        n_display = t->display ? t->n_display : t->n_columns;
        if (n_display == 0)
                return 0;

        width = calloc(n_display, sizeof(size_t));
        text = calloc(n_rows * n_display + 1, sizeof(char *));
        if (!width || !text) {
                free(text);
                return -ENOMEM;
        }

        for (size_t i = 0; i < n_rows; i++)
                for (size_t j = 0; j < n_display; j++) {
                        char *s = table_format_cell(t, i, display_column(t, j));
                        if (!s) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        text[i * n_display + j] = s;
                        width[j] = MAX(width[j], strlen(s));
                }
        if (t->header)
                for (size_t j = 0; j < n_display; j++)
                        width[j] = MAX(width[j], strlen(t->columns[display_column(t, j)].header));

        for (size_t i = t->header ? 0 : 1; i <= n_rows; i++)
                for (size_t j = 0; j < n_display; j++) {
                        /* line 0 is the header */
                        const char *s =
                                i == 0 ? t->columns[display_column(t, j)].header : text[(i - 1) * n_display + j];
                        if (j + 1 < n_display)
                                fprintf(f, "%-*s ", (int) width[j], s);
                        else
                                fprintf(f, "%s\n", s);
                }

finish:
        for (size_t k = 0; k < n_rows * n_display; k++)
                free(text[k]);
        free(text);
        return r;
}

static json_object *strv_to_json_array(char *const *l) {
        json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        STRV_FOREACH(s, l) {
                json_object *j = json_object_new_string(*s);
                if (!j || json_object_array_add(a, j) < 0) {
                        json_object_put(j);
                        json_object_put(a);
                        return NULL;
                }
        }
        return a;
}

/* The JSON value of a cell: *ret NULL for null. */
static int cell_to_json(const TableCell *c, json_object **ret) {
        char buf[64];
        json_object *j = NULL;

        switch (c->type) {
        case TABLE_EMPTY: *ret = NULL; return 0;
        case TABLE_STRING: j = json_object_new_string(c->string); break;
        case TABLE_INT: j = json_object_new_int64(c->i); break;
        case TABLE_UINT:
        case TABLE_UINT64: j = json_object_new_uint64(c->u); break;
        case TABLE_BOOLEAN: j = json_object_new_boolean(c->b); break;
        case TABLE_TIMESTAMP: j = json_object_new_string(format_timestamp_iso(c->u, buf)); break;
        case TABLE_STRV: j = strv_to_json_array(c->strv); break;
        case TABLE_JSON: j = json_object_get(c->json); break;
        case TABLE_TABLE: {
                int r = table_to_json(c->table, &j);
                if (r < 0)
                        return r;
                break;
        }
        default: assert(false);
        }
        if (!j)
                return -ENOMEM;
        *ret = j;
        return 0;
}

static int object_add(json_object *o, const char *key, json_object *v) {
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int table_row_to_json(const Table *t, size_t row, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        assert(t);
        assert(row < table_get_rows(t));
        assert(ret);

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;

        for (size_t j = 0; j < t->n_columns; j++) {
                const char *name = t->columns[j].json_name, *slash;
                const TableCell *c = get_cell(t, row, j);
                json_object *v;

                if (!name)
                        continue;

                if (streq(name, TABLE_JSON_INLINE)) {
                        if (c->type != TABLE_JSON || !json_object_is_type(c->json, json_type_object))
                                continue;
                        json_object_object_foreach(c->json, key, val) {
                                r = object_add(o, key, json_object_get(val));
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }

                r = cell_to_json(c, &v);
                if (r < 0)
                        return r;

                slash = strchr(name, '/');
                if (slash) {
                        _cleanup_free_ char *outer = strndup(name, (size_t) (slash - name));
                        json_object *sub;

                        if (!outer) {
                                json_object_put(v);
                                return -ENOMEM;
                        }
                        if (!json_object_object_get_ex(o, outer, &sub) || !json_object_is_type(sub, json_type_object)) {
                                sub = json_object_new_object();
                                if (!sub) {
                                        json_object_put(v);
                                        return -ENOMEM;
                                }
                                r = object_add(o, outer, sub);
                                if (r < 0) {
                                        json_object_put(v);
                                        return r;
                                }
                        }
                        r = object_add(sub, slash + 1, v);
                } else
                        r = object_add(o, name, v);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(o);
        return 0;
}

int table_to_json(const Table *t, json_object **ret) {
        _cleanup_(json_object_putp) json_object *a = NULL;
        int r;

        assert(t);
        assert(ret);

        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < table_get_rows(t); i++) {
                json_object *o;

                r = table_row_to_json(t, i, &o);
                if (r < 0)
                        return r;
                if (json_object_array_add(a, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int table_print_json(const Table *t, FILE *f, int json_flags) {
        _cleanup_(json_object_putp) json_object *a = NULL;
        int r;

        assert(t);
        assert(f);

        r = table_to_json(t, &a);
        if (r < 0)
                return r;
        fputs(json_object_to_json_string_ext(a, json_flags), f);
        fputc('\n', f);
        return 0;
}
