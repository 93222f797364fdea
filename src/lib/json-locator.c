/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-locator.h"

typedef struct Entry {
        char *pointer;
        JsonPosition key;
        JsonPosition value;
} Entry;

struct JsonLocator {
        Entry *entries;
        size_t n_entries, allocated;
        Entry *duplicates;
        size_t n_duplicates, allocated_duplicates;
        bool stopped; /* the scan did not get through the document */
        JsonPosition stopped_at;
};

typedef struct Scanner {
        const char *text;
        size_t size;
        size_t pos;
        unsigned line, column;
        JsonLocator *l;
        unsigned depth;
} Scanner;

#define MAX_DEPTH 512

JsonPosition json_position_from_offset(const char *text, size_t size, size_t offset) {
        JsonPosition p = { 1, 1 };
        for (size_t i = 0; i < offset && i < size; i++) {
                if (text[i] == '\n') {
                        p.line++;
                        p.column = 1;
                } else
                        p.column++;
        }
        return p;
}

char *json_pointer_append(const char *base, const char *token) {
        size_t n = strlen(base) + 2;
        char *r, *p;

        for (const char *c = token; *c; c++)
                n += (*c == '~' || *c == '/') ? 2 : 1;
        r = p = malloc(n);
        if (!r)
                return NULL;
        p = stpcpy(p, base);
        *p++ = '/';
        for (const char *c = token; *c; c++) {
                if (*c == '~') {
                        *p++ = '~';
                        *p++ = '0';
                } else if (*c == '/') {
                        *p++ = '~';
                        *p++ = '1';
                } else
                        *p++ = *c;
        }
        *p = '\0';
        return r;
}

char *json_pointer_append_index(const char *base, size_t index) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%zu", index);
        return json_pointer_append(base, buf);
}

static JsonPosition here(const Scanner *s) {
        assert(s);

        return (JsonPosition) { s->line, s->column };
}

static void advance(Scanner *s) {
        assert(s);

        if (s->pos >= s->size)
                return;
        if (s->text[s->pos] == '\n') {
                s->line++;
                s->column = 1;
        } else
                s->column++;
        s->pos++;
}

static void skip_ws(Scanner *s) {
        assert(s);

        while (s->pos < s->size && strchr(" \t\r\n", s->text[s->pos]) && s->text[s->pos] != '\0')
                advance(s);
}

static char peek(const Scanner *s) {
        assert(s);

        return s->pos < s->size ? s->text[s->pos] : '\0';
}

static int add_entry(Entry **v, size_t *n, size_t *allocated, const char *pointer, JsonPosition key,
                     JsonPosition value) {
        char *copy;

        assert(v);
        assert(n);
        assert(allocated);

        if (!GREEDY_REALLOC(*v, *allocated, *n + 1))
                return -ENOMEM;
        copy = strdup(pointer);
        if (!copy)
                return -ENOMEM;
        (*v)[(*n)++] = (Entry) { .pointer = copy, .key = key, .value = value };
        return 0;
}

/* Reads the four hex digits of a \u escape: the scanner is on the 'u' and stays on the last digit. */
static int scan_hex4(Scanner *s, uint32_t *ret) {
        uint32_t v = 0;

        assert(ret);

        for (unsigned i = 0; i < 4; i++) {
                char c;
                advance(s);
                c = peek(s);
                if (!isxdigit((unsigned char) c))
                        return -EINVAL;
                v = v * 16 + (uint32_t) (isdigit((unsigned char) c) ? c - '0' : tolower((unsigned char) c) - 'a' + 10);
        }
        *ret = v;
        return 0;
}

/* UTF-8 for a code point; a lone surrogate becomes U+FFFD, as json-c has it. */
static size_t utf8_encode(uint32_t c, char out[static 4]) {
        if (c >= 0xd800 && c <= 0xdfff)
                c = 0xfffd;
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xc0 | (c >> 6));
                out[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xe0 | (c >> 12));
                out[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                out[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (c >> 18));
        out[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        out[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

static int buf_append(char **buf, size_t *n, size_t *cap, const char *p, size_t k) {
        assert(buf);
        assert(n);
        assert(cap);

        if (!GREEDY_REALLOC(*buf, *cap, *n + k + 1))
                return -ENOMEM;
        memcpy(*buf + *n, p, k);
        *n += k;
        return 0;
}

/* Reads a string token and returns its content decoded as json-c decodes it, so that keys compare
 * and report the same. */
static int scan_string(Scanner *s, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t cap = 16, n = 0;
        int r;

        assert(s);

        if (peek(s) != '"')
                return -EINVAL;
        advance(s);
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        while (s->pos < s->size && peek(s) != '"') {
                char c = peek(s), u[8];
                size_t k = 1;

                u[0] = c;
                if (c == '\\') {
                        advance(s);
                        switch (peek(s)) {
                        case 'n': u[0] = '\n'; break;
                        case 't': u[0] = '\t'; break;
                        case 'r': u[0] = '\r'; break;
                        case 'b': u[0] = '\b'; break;
                        case 'f': u[0] = '\f'; break;
                        case 'u': {
                                uint32_t cp, low;
                                k = 0;
                                if (scan_hex4(s, &cp) < 0)
                                        return -EINVAL;
                                /* a surrogate pair is two escapes */
                                if (cp >= 0xd800 && cp < 0xdc00 && s->pos + 2 < s->size &&
                                    s->text[s->pos + 1] == '\\' && s->text[s->pos + 2] == 'u') {
                                        advance(s);
                                        advance(s);
                                        if (scan_hex4(s, &low) < 0)
                                                return -EINVAL;
                                        if (low >= 0xdc00 && low <= 0xdfff)
                                                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                                        else {
                                                k = utf8_encode(0xfffd, u);
                                                cp = low;
                                        }
                                }
                                k += utf8_encode(cp, u + k);
                                break;
                        }
                        default: u[0] = peek(s); break; /* " \\ / */
                        }
                }
                r = buf_append(&buf, &n, &cap, u, k);
                if (r < 0)
                        return r;
                advance(s);
        }
        if (peek(s) != '"')
                return -EINVAL;
        advance(s);
        buf[n] = '\0';
        if (ret)
                *ret = TAKE_PTR(buf);
        return 0;
}

static int scan_value(Scanner *s, const char *pointer);

static int scan_object(Scanner *s, const char *pointer) {
        char **keys = NULL;
        size_t n_keys = 0, n_keys_allocated = 0;
        int r = 0;

        assert(s);

        advance(s); /* { */
        skip_ws(s);
        if (peek(s) == '}') {
                advance(s);
                return 0;
        }
        for (;;) {
                _cleanup_free_ char *key = NULL;
                char *child;
                JsonPosition kp, vp;
                bool dup = false;

                skip_ws(s);
                kp = here(s);
                r = scan_string(s, &key);
                if (r < 0)
                        goto finish;
                skip_ws(s);
                if (peek(s) != ':') {
                        r = -EINVAL;
                        goto finish;
                }
                advance(s);
                skip_ws(s);
                vp = here(s);

                child = json_pointer_append(pointer, key);
                if (!child) {
                        r = -ENOMEM;
                        goto finish;
                }
                for (size_t i = 0; i < n_keys; i++)
                        if (streq(keys[i], key))
                                dup = true;
                if (dup) {
                        r = add_entry(&s->l->duplicates, &s->l->n_duplicates, &s->l->allocated_duplicates, child, kp,
                                      vp);
                        if (r < 0) {
                                free(child);
                                goto finish;
                        }
                } else {
                        if (!GREEDY_REALLOC(keys, n_keys_allocated, n_keys + 1)) {
                                free(child);
                                r = -ENOMEM;
                                goto finish;
                        }
                        keys[n_keys++] = TAKE_PTR(key);
                }
                /* json-c keeps the last of duplicate keys: the last one's position wins too. */
                r = add_entry(&s->l->entries, &s->l->n_entries, &s->l->allocated, child, kp, vp);
                if (r < 0) {
                        free(child);
                        goto finish;
                }
                r = scan_value(s, child);
                free(child);
                if (r < 0)
                        goto finish;
                skip_ws(s);
                if (peek(s) == ',') {
                        advance(s);
                        continue;
                }
                if (peek(s) == '}') {
                        advance(s);
                        break;
                }
                r = -EINVAL;
                goto finish;
        }
finish:
        for (size_t i = 0; i < n_keys; i++)
                free(keys[i]);
        free(keys);
        return r;
}

static int scan_array(Scanner *s, const char *pointer) {
        size_t index = 0;
        int r;

        assert(s);

        advance(s); /* [ */
        skip_ws(s);
        if (peek(s) == ']') {
                advance(s);
                return 0;
        }
        for (;;) {
                _cleanup_free_ char *child = NULL;
                JsonPosition vp;

                skip_ws(s);
                vp = here(s);
                child = json_pointer_append_index(pointer, index++);
                if (!child)
                        return -ENOMEM;
                r = add_entry(&s->l->entries, &s->l->n_entries, &s->l->allocated, child, vp, vp);
                if (r < 0)
                        return r;
                r = scan_value(s, child);
                if (r < 0)
                        return r;
                skip_ws(s);
                if (peek(s) == ',') {
                        advance(s);
                        continue;
                }
                if (peek(s) == ']') {
                        advance(s);
                        return 0;
                }
                return -EINVAL;
        }
}

static int scan_value(Scanner *s, const char *pointer) {
        int r;

        assert(s);

        skip_ws(s);
        if (++s->depth > MAX_DEPTH)
                return -ELOOP;
        switch (peek(s)) {
        case '{': r = scan_object(s, pointer); break;
        case '[': r = scan_array(s, pointer); break;
        case '"': r = scan_string(s, NULL); break;
        default:
                /* number, true, false, null */
                while (s->pos < s->size && !strchr(",]} \t\r\n", peek(s)))
                        advance(s);
                r = 0;
                break;
        }
        s->depth--;
        return r;
}

int json_locator_new(const char *text, size_t size, JsonLocator **ret) {
        JsonLocator *l;
        Scanner s;
        int r;

        l = calloc(1, sizeof(JsonLocator));
        if (!l)
                return -ENOMEM;
        s = (Scanner) { .text = text, .size = size, .line = 1, .column = 1, .l = l };
        /* skip a UTF-8 byte order mark */
        if (size >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                s.pos = 3;
        r = scan_value(&s, "");
        if (r == -ENOMEM) {
                json_locator_free(l);
                return r;
        }
        /* A scan error leaves a partial index, which is still useful for positions. The scanner
         * stopped where the text stopped being JSON. */
        if (r < 0) {
                l->stopped = true;
                l->stopped_at = here(&s);
        }
        *ret = l;
        return 0;
}

JsonLocator *json_locator_free(JsonLocator *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_entries; i++)
                free(l->entries[i].pointer);
        for (size_t i = 0; i < l->n_duplicates; i++)
                free(l->duplicates[i].pointer);
        free(l->entries);
        free(l->duplicates);
        return mfree(l);
}

JsonPosition json_locator_find(const JsonLocator *l, const char *pointer, bool of_key) {
        _cleanup_free_ char *p = strdup(pointer);

        while (p && *p) {
                /* Last one wins, like json-c with duplicate keys. */
                for (size_t i = l->n_entries; i > 0; i--)
                        if (streq(l->entries[i - 1].pointer, p))
                                return of_key ? l->entries[i - 1].key : l->entries[i - 1].value;
                char *slash = strrchr(p, '/');
                if (!slash)
                        break;
                *slash = '\0';
                of_key = false;
        }
        return (JsonPosition) { 1, 1 };
}

bool json_locator_stopped(const JsonLocator *l, JsonPosition *ret_pos) {
        if (!l->stopped)
                return false;
        *ret_pos = l->stopped_at;
        return true;
}

bool json_locator_duplicate(const JsonLocator *l, size_t i, const char **ret_pointer, JsonPosition *ret_pos) {
        if (i >= l->n_duplicates)
                return false;
        *ret_pointer = l->duplicates[i].pointer;
        *ret_pos = l->duplicates[i].key;
        return true;
}
