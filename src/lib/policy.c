/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fileio.h"
#include "json-locator.h"
#include "json-util.h"
#include "policy.h"
#include "parse-util.h"
#include "string-util.h"
#include "strv.h"

/* ---- enum tables ------------------------------------------------------------------------ */

static const char *const unbind_policy_table[_UNBIND_POLICY_MAX] = {
        [UNBIND_POLICY_ALL] = "all",
        [UNBIND_POLICY_MATCHED] = "matched",
        [UNBIND_POLICY_NONE] = "none",
};

static const char *const passthrough_table[_PASSTHROUGH_MAX] = {
        [PASSTHROUGH_DENY] = "deny",
        [PASSTHROUGH_ALLOW] = "allow",
};

static const char *const match_key_table[_MATCH_KEY_MAX + 1] = {
        [MATCH_SLOT] = "slot",
        [MATCH_VENDOR] = "vendor",
        [MATCH_DEVICE] = "device",
        [MATCH_SUBSYSTEM_VENDOR] = "subsystem_vendor",
        [MATCH_SUBSYSTEM_DEVICE] = "subsystem_device",
        [MATCH_CLASS] = "class",
        [MATCH_DRIVER] = "driver",
        [MATCH_SERIAL] = "serial",
        [MATCH_PARENT] = "parent",
};

#define DEFINE_STRING_TABLE(name, type, table, max)                                                                    \
        const char *name##_to_string(type v) {                                                                         \
                return v >= 0 && v < (max) ? table[v] : NULL;                                                          \
        }                                                                                                              \
        type name##_from_string(const char *s) {                                                                       \
                return (type) string_table_lookup(table, (max), s);                                                    \
        }

DEFINE_STRING_TABLE(unbind_policy, UnbindPolicy, unbind_policy_table, _UNBIND_POLICY_MAX)
DEFINE_STRING_TABLE(passthrough, Passthrough, passthrough_table, _PASSTHROUGH_MAX)
DEFINE_STRING_TABLE(match_key, MatchKey, match_key_table, _MATCH_KEY_MAX)

/* ---- model ------------------------------------------------------------------------------ */

void policy_errors_done(PolicyErrors *e) {
        FOREACH_ARRAY(x, e->errors, e->n_errors) {
                free(x->file);
                free(x->message);
        }
        free(e->errors);
        *e = (PolicyErrors) {};
}

static void rule_done(Rule *r) {
        assert(r);

        free(r->id);
        free(r->file);
        free(r->comment);
        for (size_t k = 0; k < _MATCH_KEY_MAX; k++) {
                FOREACH_ARRAY(v, r->match[k].values, r->match[k].n_values)
                        free(v->text);
                free(r->match[k].values);
        }
}

Policy *policy_new_default(void) {
        Policy *p = calloc(1, sizeof(Policy));
        if (!p)
                return NULL;
        p->mode = QUARANTINE_MODE_BLOCKED;
        p->quarantine_on_unbind = UNBIND_POLICY_ALL;
        p->scratch_cover = POLICY_DEFAULT_SCRATCH_COVER;
        p->max_scratch_cover = POLICY_DEFAULT_MAX_SCRATCH_COVER;
        return p;
}

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        FOREACH_ARRAY(r, p->rules, p->n_rules)
                rule_done(r);
        free(p->rules);
        free(p->mode_file);
        free(p->quarantine_on_unbind_file);
        free(p->scratch_cover_file);
        strv_free(p->files);
        return mfree(p);
}

/* ---- validation ------------------------------------------------------------------------- */

typedef struct ParseContext {
        const char *file;
        JsonLocator *locator;
        PolicyErrors *errors;
        int n_errors;
        bool oom;
} ParseContext;

static void errors_addv(PolicyErrors *errors, const char *file, JsonPosition pos, const char *fmt, va_list ap)
        _printf_(4, 0);
static void errors_addv(PolicyErrors *errors, const char *file, JsonPosition pos, const char *fmt, va_list ap) {
        char *msg = NULL;

        assert(errors);

        if (vasprintf(&msg, fmt, ap) < 0)
                return;
        if (!GREEDY_REALLOC(errors->errors, errors->n_allocated, errors->n_errors + 1)) {
                free(msg);
                return;
        }
        errors->errors[errors->n_errors++] = (PolicyError) {
                .file = strdup(file),
                .line = pos.line,
                .column = pos.column,
                .message = msg,
        };
}

static void errors_add(PolicyErrors *errors, const char *file, JsonPosition pos, const char *fmt, ...) _printf_(4, 5);
static void errors_add(PolicyErrors *errors, const char *file, JsonPosition pos, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        errors_addv(errors, file, pos, fmt, ap);
        va_end(ap);
}

static void perr(ParseContext *c, const char *pointer, bool of_key, const char *fmt, ...) _printf_(4, 5);
static void perr(ParseContext *c, const char *pointer, bool of_key, const char *fmt, ...) {
        va_list ap;
        JsonPosition pos = c->locator ? json_locator_find(c->locator, pointer, of_key) : (JsonPosition) { 1, 1 };

        assert(c);

        va_start(ap, fmt);
        errors_addv(c->errors, c->file, pos, fmt, ap);
        va_end(ap);
        c->n_errors++;
}

static const char *json_type_desc(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null: return "null";
        case json_type_boolean: return "a boolean";
        case json_type_double:
        case json_type_int: return "a number";
        case json_type_object: return "an object";
        case json_type_array: return "an array";
        case json_type_string: return "a string";
        }
        return "a value";
}

/* Reports an unknown key, with a suggestion. */
static void unknown_key(ParseContext *c, const char *pointer, const char *key, const char *where,
                        const char *const *known) {
        const char *guess = string_closest(key, known);
        _cleanup_free_ char *list = strv_join((char **) known, ", ");

        if (guess)
                perr(c, pointer, true, "unknown key '%s' in %s; did you mean '%s'?", key, where, guess);
        else
                perr(c, pointer, true, "unknown key '%s' in %s (expected one of: %s)", key, where, strempty(list));
}

static const char *get_string(ParseContext *c, json_object *o, const char *pointer, const char *what) {
        if (!json_object_is_type(o, json_type_string)) {
                perr(c, pointer, false, "%s must be a string, not %s", what, json_type_desc(o));
                return NULL;
        }
        return json_object_get_string(o);
}

static int get_bool(ParseContext *c, json_object *o, const char *pointer, const char *what) {
        if (!json_object_is_type(o, json_type_boolean)) {
                perr(c, pointer, false, "%s must be true or false, not %s", what, json_type_desc(o));
                return -EINVAL;
        }
        return json_object_get_boolean(o);
}

static int parse_mode_value(ParseContext *c, json_object *o, const char *pointer, QuarantineMode *ret) {
        const char *s = get_string(c, o, pointer, "'mode'");
        QuarantineMode m;

        assert(ret);

        if (!s)
                return -EINVAL;
        m = quarantine_mode_from_string(s);
        if (m < 0) {
                perr(c, pointer, false, "invalid mode '%s' (expected 'blocked' or 'scratch-page')", s);
                return -EINVAL;
        }
        *ret = m;
        return 0;
}

static int parse_cover_value(ParseContext *c, json_object *o, const char *pointer, const char *key, uint64_t *ret) {
        _cleanup_free_ char *what = NULL;
        const char *s;
        uint64_t v;

        assert(c);
        assert(ret);

        if (asprintf(&what, "'%s'", key) < 0) {
                c->oom = true;
                return -ENOMEM;
        }
        s = get_string(c, o, pointer, what);
        if (!s)
                return -EINVAL;
        if (parse_size(s, &v) < 0) {
                perr(c, pointer, false, "invalid size '%s' for '%s' (expected a size such as \"4G\" or \"512M\")", s,
                     key);
                return -EINVAL;
        }
        /* Every 2 MiB of cover is one leaf entry in each scratch page table: 1T is already 8 MiB of page
         * tables per HWPT, 256T would be 2 GiB. */
        if (v < POLICY_MIN_SCRATCH_COVER || v > POLICY_MAX_SCRATCH_COVER || v % POLICY_MIN_SCRATCH_COVER != 0) {
                perr(c, pointer, false,
                     "'%s' %s must be a multiple of 2M between 2M and 1T (each 2M of cover costs an IOMMU page-table "
                     "entry per scratch page table)",
                     key, s);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int parse_match_value(ParseContext *c, MatchKey k, const char *s, const char *pointer, MatchValue *v) {
        const char *why = NULL;

        assert(c);

        switch (k) {
        case MATCH_SLOT:
        case MATCH_PARENT:
                pci_selector_init(&v->slot);
                if (isempty(s) || pci_selector_parse_slot(&v->slot, s, &why) < 0) {
                        perr(c, pointer, false,
                             "invalid %s '%s': %s (expected a PCI address such as \"0000:03:00.0\", or a partial one such as \"03:\" or \"00:1f.*\")",
                             match_key_to_string(k), s, why ?: "empty");
                        return -EINVAL;
                }
                break;
        case MATCH_VENDOR:
        case MATCH_DEVICE:
        case MATCH_SUBSYSTEM_VENDOR:
        case MATCH_SUBSYSTEM_DEVICE:
                if (!string_is_hex(s, 4, 4)) {
                        perr(c, pointer, false, "invalid %s '%s' (expected 4 hex digits, such as \"8086\")",
                             match_key_to_string(k), s);
                        return -EINVAL;
                }
                v->number = (uint32_t) strtoul(s, NULL, 16);
                break;
        case MATCH_CLASS: {
                size_t n = strlen(s);
                if ((n != 2 && n != 4 && n != 6) || !string_is_hex(s, 2, 6)) {
                        perr(c, pointer, false,
                             "invalid class '%s' (expected 2, 4 or 6 hex digits: base class, subclass, programming interface, such as \"02\" or \"0200\")",
                             s);
                        return -EINVAL;
                }
                v->number = (uint32_t) strtoul(s, NULL, 16);
                v->class_digits = (unsigned) n;
                break;
        }
        case MATCH_DRIVER:
                if (isempty(s) ||
                    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != strlen(s)) {
                        perr(c, pointer, false, "invalid driver name '%s'", s);
                        return -EINVAL;
                }
                break;
        case MATCH_SERIAL: {
                char hex[17];
                size_t n = 0;
                bool ok = true;
                /* lspci prints the DSN as 00-1b-21-ff-ff-8a-1c-04; accept that, ':' separators or 16 plain digits */
                for (const char *p = s; *p && ok; p++) {
                        if (*p == '-' || *p == ':')
                                continue;
                        if (!isxdigit((unsigned char) *p) || n >= 16)
                                ok = false;
                        else
                                hex[n++] = *p;
                }
                if (!ok || n != 16) {
                        perr(c, pointer, false,
                             "invalid serial '%s' (expected the device serial number as lspci prints it, such as \"00-1b-21-ff-ff-8a-1c-04\")",
                             s);
                        return -EINVAL;
                }
                hex[n] = '\0';
                v->serial = strtoull(hex, NULL, 16);
                break;
        }
        default: return -EINVAL;
        }
        v->text = strdup(s);
        if (!v->text) {
                c->oom = true;
                return -ENOMEM;
        }
        return 0;
}

static void parse_match(ParseContext *c, json_object *o, const char *pointer, Rule *rule) {
        assert(c);
        assert(rule);

        if (!json_object_is_type(o, json_type_object)) {
                perr(c, pointer, false, "'match' must be an object, not %s", json_type_desc(o));
                return;
        }
        json_object_object_foreach(o, key, val) {
                _cleanup_free_ char *kp = json_pointer_append(pointer, key);
                MatchKey k = match_key_from_string(key);
                MatchCondition *mc;
                size_t n;

                if (!kp) {
                        c->oom = true;
                        return;
                }
                if (k < 0) {
                        _cleanup_free_ char *where = NULL;
                        if (asprintf(&where, "rule '%s' match", rule->id ?: "?") < 0)
                                where = NULL;
                        unknown_key(c, kp, key, where ?: "match", match_key_table);
                        continue;
                }
                mc = &rule->match[k];
                mc->present = true;
                if (json_object_is_type(val, json_type_array)) {
                        n = json_object_array_length(val);
                        if (n == 0) {
                                perr(c, kp, false, "'%s' is an empty list, which can match nothing", key);
                                continue;
                        }
                } else
                        n = 1;
                mc->values = calloc(n, sizeof(MatchValue));
                if (!mc->values) {
                        c->oom = true;
                        return;
                }
                for (size_t i = 0; i < n; i++) {
                        json_object *item =
                                json_object_is_type(val, json_type_array) ? json_object_array_get_idx(val, i) : val;
                        _cleanup_free_ char *ip = json_object_is_type(val, json_type_array)
                                                          ? json_pointer_append_index(kp, i)
                                                          : strdup(kp);
                        const char *s;
                        _cleanup_free_ char *what = NULL;

                        if (!ip) {
                                c->oom = true;
                                return;
                        }
                        if (asprintf(&what, "'%s'", key) < 0) {
                                c->oom = true;
                                return;
                        }
                        s = get_string(c, item, ip, what);
                        if (!s)
                                continue;
                        if (parse_match_value(c, k, s, ip, &mc->values[mc->n_values]) >= 0)
                                mc->n_values++;
                }
        }
}

static bool valid_rule_id(const char *s) {
        if (isempty(s) || !isalnum((unsigned char) s[0]))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:@") == strlen(s);
}

static const char *const rule_keys[] = {
        "id",
        "match",
        "passthrough",
        "mode",
        "quarantine_on_unbind",
        "allow_unsafe_interrupts",
        "accept_degraded",
        "ats",
        "scratch_cover",
        "comment",
        NULL,
};

static void parse_rule(ParseContext *c, Policy *p, json_object *o, const char *pointer, size_t index, Rule *rule) {
        json_object *id = NULL;
        JsonPosition pos = c->locator ? json_locator_find(c->locator, pointer, false) : (JsonPosition) { 1, 1 };

        assert(c);
        assert(p);

        rule->file = strdup(c->file);
        rule->line = pos.line;
        rule->column = pos.column;
        rule->passthrough = PASSTHROUGH_DENY;
        rule->mode = _QUARANTINE_MODE_INVALID;
        rule->quarantine_on_unbind = TRISTATE_UNKNOWN;
        if (!rule->file) {
                c->oom = true;
                return;
        }

        if (!json_object_is_type(o, json_type_object)) {
                perr(c, pointer, false, "rule %zu must be an object, not %s", index + 1, json_type_desc(o));
                return;
        }

        /* The id first, so that later messages can name the rule. */
        if (json_object_object_get_ex(o, "id", &id)) {
                _cleanup_free_ char *ip = json_pointer_append(pointer, "id");
                const char *s = ip ? get_string(c, id, ip, "'id'") : NULL;
                if (s && !valid_rule_id(s))
                        perr(c, ip, false,
                             "invalid rule id '%s' (letters, digits and _-.:@, starting with a letter or digit)", s);
                else if (s) {
                        for (size_t i = 0; i < p->n_rules; i++)
                                if (p->rules[i].id && streq(p->rules[i].id, s)) {
                                        perr(c, ip, false, "duplicate rule id '%s' (first defined at %s:%u:%u)", s,
                                             p->rules[i].file, p->rules[i].line, p->rules[i].column);
                                        break;
                                }
                        rule->id = strdup(s);
                }
        } else
                perr(c, pointer, false, "rule %zu has no 'id'", index + 1);

        if (!json_object_object_get_ex(o, "match", NULL))
                perr(c, pointer, false, "rule '%s' has no 'match' (use \"match\": {} to match every device)",
                     rule->id ?: "?");

        json_object_object_foreach(o, key, val) {
                _cleanup_free_ char *kp = json_pointer_append(pointer, key);
                if (!kp) {
                        c->oom = true;
                        return;
                }
                if (streq(key, "id"))
                        continue;
                else if (streq(key, "match"))
                        parse_match(c, val, kp, rule);
                else if (streq(key, "passthrough")) {
                        const char *s = get_string(c, val, kp, "'passthrough'");
                        if (s) {
                                Passthrough pt = passthrough_from_string(s);
                                if (pt < 0)
                                        perr(c, kp, false, "invalid passthrough '%s' (expected 'allow' or 'deny')", s);
                                else
                                        rule->passthrough = pt;
                        }
                } else if (streq(key, "mode"))
                        (void) parse_mode_value(c, val, kp, &rule->mode);
                else if (streq(key, "quarantine_on_unbind")) {
                        int b = get_bool(c, val, kp, "'quarantine_on_unbind'");
                        if (b >= 0)
                                rule->quarantine_on_unbind = b ? TRISTATE_YES : TRISTATE_NO;
                } else if (streq(key, "allow_unsafe_interrupts")) {
                        int b = get_bool(c, val, kp, "'allow_unsafe_interrupts'");
                        if (b >= 0)
                                rule->allow_unsafe_interrupts = b;
                } else if (streq(key, "accept_degraded")) {
                        int b = get_bool(c, val, kp, "'accept_degraded'");
                        if (b >= 0)
                                rule->accept_degraded = b;
                } else if (streq(key, "ats")) {
                        const char *s = get_string(c, val, kp, "'ats'");
                        if (s && streq(s, "accept"))
                                rule->ats_accept = true;
                        else if (s && streq(s, "refuse"))
                                rule->ats_accept = false;
                        else if (s)
                                perr(c, kp, false, "invalid ats '%s' (expected 'accept' or 'refuse')", s);
                } else if (streq(key, "scratch_cover"))
                        (void) parse_cover_value(c, val, kp, "scratch_cover", &rule->scratch_cover);
                else if (streq(key, "comment")) {
                        const char *s = get_string(c, val, kp, "'comment'");
                        if (s && !(rule->comment = strdup(s)))
                                c->oom = true;
                } else {
                        _cleanup_free_ char *where = NULL;
                        if (asprintf(&where, "rule '%s'", rule->id ?: "?") < 0)
                                where = NULL;
                        unknown_key(c, kp, key, where ?: "rule", rule_keys);
                }
        }
}

static const char *const top_keys[] = { "version", "defaults", "rules", "comment", "$schema", NULL };
static const char *const defaults_keys[] = { "mode",          "quarantine_on_unbind",
                                             "scratch_cover", "max_scratch_cover",
                                             "comment",       NULL };

typedef struct Defaults {
        bool has_mode, has_unbind, has_cover, has_max_cover;
        QuarantineMode mode;
        UnbindPolicy unbind;
        uint64_t cover, max_cover;
} Defaults;

static void parse_defaults(ParseContext *c, json_object *o, Defaults *d) {
        assert(c);
        assert(d);

        if (!json_object_is_type(o, json_type_object)) {
                perr(c, "/defaults", false, "'defaults' must be an object, not %s", json_type_desc(o));
                return;
        }
        json_object_object_foreach(o, key, val) {
                _cleanup_free_ char *kp = json_pointer_append("/defaults", key);
                if (!kp) {
                        c->oom = true;
                        return;
                }
                if (streq(key, "mode"))
                        d->has_mode = parse_mode_value(c, val, kp, &d->mode) >= 0;
                else if (streq(key, "quarantine_on_unbind")) {
                        const char *s = get_string(c, val, kp, "'quarantine_on_unbind'");
                        if (s) {
                                d->unbind = unbind_policy_from_string(s);
                                if (d->unbind < 0)
                                        perr(c, kp, false,
                                             "invalid quarantine_on_unbind '%s' (expected 'all', 'matched' or 'none')",
                                             s);
                                else
                                        d->has_unbind = true;
                        }
                } else if (streq(key, "scratch_cover"))
                        d->has_cover = parse_cover_value(c, val, kp, "scratch_cover", &d->cover) >= 0;
                else if (streq(key, "max_scratch_cover"))
                        d->has_max_cover = parse_cover_value(c, val, kp, "max_scratch_cover", &d->max_cover) >= 0;
                else if (streq(key, "comment"))
                        (void) get_string(c, val, kp, "'comment'");
                else
                        unknown_key(c, kp, key, "defaults", defaults_keys);
        }
}

int policy_parse_text(Policy *p, const char *file, const char *text, size_t size, PolicyErrors *errors) {
        _cleanup_(json_locator_freep) JsonLocator *locator = NULL;
        json_tokener *tok;
        _cleanup_(json_object_putp) json_object *root = NULL;
        json_object *v;
        ParseContext c = { .file = file, .errors = errors };
        enum json_tokener_error jerr;
        Defaults d = {};
        size_t end;
        size_t n_new = 0;
        int r;

        /* A UTF-8 byte order mark is allowed (RFC 8259 §8.1) and takes no columns; json-c would
         * call it invalid UTF-8. */
        if (size >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
                text += 3;
                size -= 3;
        }

        if (memchr(text, '\0', size)) {
                size_t at = (size_t) ((const char *) memchr(text, '\0', size) - text);
                errors_add(errors, file, json_position_from_offset(text, size, at),
                           "file contains a NUL byte; is this a JSON file?");
                return -EINVAL;
        }

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        root = json_tokener_parse_ex(tok, text, (int) size);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        /* A JSON null parses to NULL with success; that is not an object, as reported below. */
        if (jerr != json_tokener_success) {
                bool eof = jerr == json_tokener_continue || size == 0;
                /* json-c stops at the character it could not take (end); only a multi-byte
                 * character cut short by the end of the file leaves end past the last byte. */
                errors_add(errors, file, json_position_from_offset(text, size, eof ? size : MIN(end, size - 1)), "%s",
                           eof ? "unexpected end of file (unterminated object, array or string?)"
                               : json_tokener_error_desc(jerr));
                return -EINVAL;
        }
        for (size_t i = end; i < size; i++)
                if (!strchr(" \t\r\n", text[i])) {
                        errors_add(errors, file, json_position_from_offset(text, size, i),
                                   "unexpected text after the end of the JSON document");
                        return -EINVAL;
                }

        r = json_locator_new(text, size, &locator);
        if (r < 0) {
                return r;
        }
        c.locator = locator;

        /* json-c takes 'single-quoted' keys even in strict mode; the locator does not. */
        {
                JsonPosition spos;
                if (json_locator_stopped(locator, &spos)) {
                        errors_add(errors, file, spos, "unexpected character");
                        return -EINVAL;
                }
        }

        {
                const char *dp;
                JsonPosition dpos;
                for (size_t i = 0; json_locator_duplicate(locator, i, &dp, &dpos); i++)
                        perr(&c, dp, true, "duplicate key '%s'", strrchr(dp, '/') ? strrchr(dp, '/') + 1 : dp);
        }

        if (!json_object_is_type(root, json_type_object)) {
                perr(&c, "", false, "the policy must be a JSON object, not %s", json_type_desc(root));
                goto finish;
        }

        json_object_object_foreach(root, key, val) {
                if (!streq(key, "version") && !streq(key, "defaults") && !streq(key, "rules") &&
                    !streq(key, "comment") && !streq(key, "$schema")) {
                        _cleanup_free_ char *kp = json_pointer_append("", key);
                        unknown_key(&c, kp ?: "", key, "the policy", top_keys);
                }
        }

        if (!json_object_object_get_ex(root, "version", &v))
                perr(&c, "", false, "missing \"version\": 1");
        else if (!json_object_is_type(v, json_type_int))
                perr(&c, "/version", false, "'version' must be the number 1, not %s", json_type_desc(v));
        else if (json_object_get_int64(v) != 1)
                perr(&c, "/version", false, "unsupported policy version %" PRId64 " (this isolate reads version 1)",
                     json_object_get_int64(v));

        if (json_object_object_get_ex(root, "comment", &v))
                (void) get_string(&c, v, "/comment", "'comment'");
        if (json_object_object_get_ex(root, "$schema", &v))
                (void) get_string(&c, v, "/$schema", "'$schema'");

        if (json_object_object_get_ex(root, "defaults", &v))
                parse_defaults(&c, v, &d);

        if (json_object_object_get_ex(root, "rules", &v)) {
                if (!json_object_is_type(v, json_type_array))
                        perr(&c, "/rules", false, "'rules' must be an array, not %s", json_type_desc(v));
                else {
                        size_t n = json_object_array_length(v);
                        /* Parse into p's array so that duplicate ids are checked across files and
                         * within this one; roll back on error. */
                        if (!GREEDY_REALLOC(p->rules, p->n_rules_allocated, p->n_rules + n + 1)) {
                                c.oom = true;
                                goto finish;
                        }
                        for (size_t i = 0; i < n; i++) {
                                _cleanup_free_ char *rp = json_pointer_append_index("/rules", i);
                                Rule *rule = &p->rules[p->n_rules];
                                *rule = (Rule) {};
                                if (!rp) {
                                        c.oom = true;
                                        break;
                                }
                                parse_rule(&c, p, json_object_array_get_idx(v, i), rp, i, rule);
                                p->n_rules++;
                                n_new++;
                        }
                }
        }

finish:
        if (c.oom)
                return -ENOMEM;
        if (c.n_errors > 0) {
                /* roll back this file's rules */
                for (size_t i = 0; i < n_new; i++)
                        rule_done(&p->rules[--p->n_rules]);
                return -EINVAL;
        }

        if (d.has_mode) {
                p->mode = d.mode;
                free(p->mode_file);
                p->mode_file = strdup(file);
        }
        if (d.has_unbind) {
                p->quarantine_on_unbind = d.unbind;
                free(p->quarantine_on_unbind_file);
                p->quarantine_on_unbind_file = strdup(file);
        }
        if (d.has_cover) {
                p->scratch_cover = d.cover;
                free(p->scratch_cover_file);
                p->scratch_cover_file = strdup(file);
        }
        if (d.has_max_cover)
                p->max_scratch_cover = d.max_cover;
        return strv_extend(&p->files, file);
}

int policy_load_files(char *const *files, Policy **ret, PolicyErrors *errors) {
        _cleanup_(policy_freep) Policy *p = policy_new_default();
        bool failed = false;
        int r;

        if (!p)
                return -ENOMEM;

        for (size_t i = 0; files && files[i]; i++) {
                _cleanup_free_ char *text = NULL;
                size_t size;

                r = read_full_file(files[i], 16 * 1024 * 1024, &text, &size);
                if (r < 0) {
                        errors_add(errors, files[i], (JsonPosition) {}, "cannot read policy file: %s", strerror(-r));
                        failed = true;
                        continue;
                }
                r = policy_parse_text(p, files[i], text, size, errors);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        failed = true;
        }
        /* defaults.max_scratch_cover may come from another file than the covers it limits. */
        if (!failed && p->scratch_cover > p->max_scratch_cover) {
                char a[32], b[32];
                errors_add(errors, p->scratch_cover_file ?: (p->files ? p->files[0] : "policy"), (JsonPosition) {},
                           "defaults.scratch_cover %s is larger than defaults.max_scratch_cover %s",
                           format_size(p->scratch_cover, a), format_size(p->max_scratch_cover, b));
                failed = true;
        }
        FOREACH_ARRAY(rule, p->rules, p->n_rules)
                if (!failed && rule->scratch_cover > p->max_scratch_cover) {
                        char a[32], b[32];
                        errors_add(errors, rule->file, (JsonPosition) { .line = rule->line, .column = rule->column },
                                   "rule '%s': scratch_cover %s is larger than defaults.max_scratch_cover %s", rule->id,
                                   format_size(rule->scratch_cover, a), format_size(p->max_scratch_cover, b));
                        failed = true;
                }
        if (failed)
                return -EINVAL;
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_installed_files(const char *dir, char ***ret) {
        _cleanup_strv_free_ char **files = NULL, **dropins = NULL;
        _cleanup_free_ char *main_file = NULL, *d = NULL;
        _cleanup_closedir_ DIR *dh = NULL;
        struct dirent *de;

        if (asprintf(&main_file, "%s/policy.json", dir) < 0 || asprintf(&d, "%s/policy.d", dir) < 0)
                return -ENOMEM;
        if (access(main_file, F_OK) >= 0 && strv_extend(&files, main_file) < 0)
                return -ENOMEM;

        dh = opendir(d);
        while (dh && (de = readdir(dh))) {
                size_t n = strlen(de->d_name);
                char *path;
                if (de->d_name[0] == '.' || n < 6 || !streq(de->d_name + n - 5, ".json"))
                        continue;
                if (asprintf(&path, "%s/%s", d, de->d_name) < 0 || strv_consume(&dropins, path) < 0)
                        return -ENOMEM;
        }
        strv_sort(dropins);
        STRV_FOREACH(f, dropins)
                if (strv_extend(&files, *f) < 0)
                        return -ENOMEM;
        if (!files) {
                files = calloc(1, sizeof(char *));
                if (!files)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(files);
        return 0;
}

/* ---- evaluation ------------------------------------------------------------------------- */

static char *format_serial(uint64_t dsn) {
        char *s;
        if (asprintf(&s, "%02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x", (unsigned) (dsn >> 56) & 0xff,
                     (unsigned) (dsn >> 48) & 0xff, (unsigned) (dsn >> 40) & 0xff, (unsigned) (dsn >> 32) & 0xff,
                     (unsigned) (dsn >> 24) & 0xff, (unsigned) (dsn >> 16) & 0xff, (unsigned) (dsn >> 8) & 0xff,
                     (unsigned) dsn & 0xff) < 0)
                return NULL;
        return s;
}

static bool value_matches(MatchKey k, const MatchValue *v, const PolicyDevice *pd) {
        const PciDevice *d = pd->device;

        assert(v);
        assert(pd);

        switch (k) {
        case MATCH_SLOT: return pci_selector_match_address(&v->slot, &d->address);
        case MATCH_PARENT:
                STRV_FOREACH(p, d->parents) {
                        PciAddress a;
                        if (pci_address_parse_full(*p, &a) >= 0 && pci_selector_match_address(&v->slot, &a))
                                return true;
                }
                return false;
        case MATCH_VENDOR: return d->vendor == v->number;
        case MATCH_DEVICE: return d->device == v->number;
        case MATCH_SUBSYSTEM_VENDOR: return d->subsystem_vendor == v->number;
        case MATCH_SUBSYSTEM_DEVICE: return d->subsystem_device == v->number;
        case MATCH_CLASS: return (d->class >> (24 - 4 * v->class_digits)) == v->number;
        case MATCH_DRIVER: return pd->driver && streq(pd->driver, v->text);
        case MATCH_SERIAL: return d->has_dsn && d->dsn == v->serial;
        default: return false;
        }
}

static char *actual_value(MatchKey k, const PolicyDevice *pd) {
        const PciDevice *d = pd->device;
        char *s = NULL;

        assert(pd);

        switch (k) {
        case MATCH_SLOT: return strdup(d->slot);
        case MATCH_PARENT: return d->parents ? strv_join(d->parents, " ") : strdup("(none)");
        case MATCH_VENDOR: (void) asprintf(&s, "%04x", d->vendor); return s;
        case MATCH_DEVICE: (void) asprintf(&s, "%04x", d->device); return s;
        case MATCH_SUBSYSTEM_VENDOR: (void) asprintf(&s, "%04x", d->subsystem_vendor); return s;
        case MATCH_SUBSYSTEM_DEVICE: (void) asprintf(&s, "%04x", d->subsystem_device); return s;
        case MATCH_CLASS: (void) asprintf(&s, "%06x", d->class); return s;
        case MATCH_DRIVER: return strdup(pd->driver ?: "(none)");
        case MATCH_SERIAL: return d->has_dsn ? format_serial(d->dsn) : strdup("(none)");
        default: return NULL;
        }
}

bool rule_key_matches(const Rule *r, MatchKey k, const PolicyDevice *d, char **ret_actual) {
        const MatchCondition *mc = &r->match[k];
        bool m = false;

        if (ret_actual)
                *ret_actual = actual_value(k, d);
        if (!mc->present)
                return true;
        FOREACH_ARRAY(v, mc->values, mc->n_values)
                if (value_matches(k, v, d)) {
                        m = true;
                        break;
                }
        return m;
}

bool rule_matches(const Rule *r, const PolicyDevice *d) {
        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++)
                if (r->match[k].present && !rule_key_matches(r, k, d, NULL))
                        return false;
        return true;
}

void policy_evaluate(const Policy *p, const PolicyDevice *d, PolicyVerdict *ret) {
        const Rule *match = NULL;

        FOREACH_ARRAY(r, p->rules, p->n_rules)
                if (rule_matches(r, d)) {
                        match = r;
                        break;
                }

        *ret = (PolicyVerdict) {
                .rule = match,
                .passthrough = match ? match->passthrough : PASSTHROUGH_DENY,
                .mode = match && match->mode >= 0 ? match->mode : p->mode,
                .allow_unsafe_interrupts = match && match->allow_unsafe_interrupts,
                .scratch_cover = match && match->scratch_cover > 0 ? match->scratch_cover : p->scratch_cover,
                .max_scratch_cover = p->max_scratch_cover,
                .ats_accept = match && match->ats_accept,
                .accept_degraded = match && match->accept_degraded,
        };
        if (match && match->quarantine_on_unbind != TRISTATE_UNKNOWN)
                ret->quarantine_on_unbind = match->quarantine_on_unbind == TRISTATE_YES;
        else
                ret->quarantine_on_unbind = p->quarantine_on_unbind == UNBIND_POLICY_ALL ||
                                            (p->quarantine_on_unbind == UNBIND_POLICY_MATCHED && match);
}

/* ---- JSON ------------------------------------------------------------------------------- */

static json_object *json_string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

int rule_to_json(const Rule *r, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *m = json_object_new_object();
        char buf[32];

        if (!o || !m)
                return -ENOMEM;
        json_object_object_add(o, "id", json_string_or_null(r->id));
        json_object_object_add(o, "file", json_string_or_null(r->file));
        json_object_object_add(o, "line", json_object_new_int((int) r->line));
        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                const MatchCondition *mc = &r->match[k];
                if (!mc->present)
                        continue;
                if (mc->n_values == 1)
                        json_object_object_add(m, match_key_to_string(k), json_object_new_string(mc->values[0].text));
                else {
                        json_object *a = json_object_new_array();
                        FOREACH_ARRAY(v, mc->values, mc->n_values)
                                json_object_array_add(a, json_object_new_string(v->text));
                        json_object_object_add(m, match_key_to_string(k), a);
                }
        }
        json_object_object_add(o, "match", TAKE_PTR(m));
        json_object_object_add(o, "passthrough", json_object_new_string(passthrough_to_string(r->passthrough)));
        json_object_object_add(o, "mode",
                               r->mode >= 0 ? json_object_new_string(quarantine_mode_to_string(r->mode)) : NULL);
        json_object_object_add(o, "quarantine_on_unbind",
                               r->quarantine_on_unbind == TRISTATE_UNKNOWN
                                       ? NULL
                                       : json_object_new_boolean(r->quarantine_on_unbind == TRISTATE_YES));
        json_object_object_add(o, "allow_unsafe_interrupts", json_object_new_boolean(r->allow_unsafe_interrupts));
        json_object_object_add(o, "accept_degraded", json_object_new_boolean(r->accept_degraded));
        json_object_object_add(o, "ats", json_object_new_string(r->ats_accept ? "accept" : "refuse"));
        json_object_object_add(o, "scratch_cover",
                               r->scratch_cover ? json_object_new_string(format_size(r->scratch_cover, buf)) : NULL);
        json_object_object_add(o, "comment", json_string_or_null(r->comment));
        *ret = TAKE_PTR(o);
        return 0;
}

int policy_to_json(const Policy *p, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *d = json_object_new_object(),
                                                *files = json_object_new_array(), *rules = json_object_new_array();
        char buf[32];
        int r;

        if (!o || !d || !files || !rules)
                return -ENOMEM;
        json_object_object_add(o, "version", json_object_new_int(1));
        STRV_FOREACH(f, p->files)
                json_object_array_add(files, json_object_new_string(*f));
        json_object_object_add(o, "files", TAKE_PTR(files));

        json_object_object_add(d, "mode", json_object_new_string(quarantine_mode_to_string(p->mode)));
        json_object_object_add(d, "mode_file", json_string_or_null(p->mode_file));
        json_object_object_add(d, "quarantine_on_unbind",
                               json_object_new_string(unbind_policy_to_string(p->quarantine_on_unbind)));
        json_object_object_add(d, "quarantine_on_unbind_file", json_string_or_null(p->quarantine_on_unbind_file));
        json_object_object_add(d, "scratch_cover", json_object_new_string(format_size(p->scratch_cover, buf)));
        json_object_object_add(d, "scratch_cover_file", json_string_or_null(p->scratch_cover_file));
        json_object_object_add(d, "max_scratch_cover", json_object_new_string(format_size(p->max_scratch_cover, buf)));
        json_object_object_add(o, "defaults", TAKE_PTR(d));

        FOREACH_ARRAY(rule, p->rules, p->n_rules) {
                json_object *j;
                r = rule_to_json(rule, &j);
                if (r < 0)
                        return r;
                json_object_array_add(rules, j);
        }
        json_object_object_add(o, "rules", TAKE_PTR(rules));
        *ret = TAKE_PTR(o);
        return 0;
}

ReleaseDecision policy_release_to_guest(const PolicyVerdict *v, InterruptSafety interrupts) {
        if (v->passthrough != PASSTHROUGH_ALLOW)
                return RELEASE_DENIED_BY_POLICY;
        if (interrupts != INTERRUPTS_SAFE && !v->allow_unsafe_interrupts)
                return RELEASE_DENIED_UNSAFE_INTERRUPTS;
        return RELEASE_ALLOWED;
}

char *release_decision_explain(ReleaseDecision d, const PolicyVerdict *v, const char *slot,
                               InterruptSafety interrupts) {
        char *s = NULL;
        int r = -1;

        switch (d) {
        case RELEASE_ALLOWED:
                r = asprintf(&s, "%s may be passed through: rule '%s' (%s:%u) allows it%s.", slot, v->rule->id,
                             v->rule->file, v->rule->line,
                             interrupts == INTERRUPTS_SAFE
                                     ? " and its interrupts are isolated"
                                     : " and accepts unsafe interrupts (allow_unsafe_interrupts)");
                break;
        case RELEASE_DENIED_BY_POLICY:
                if (v->rule)
                        r = asprintf(&s, "%s may not be passed through: rule '%s' (%s:%u) denies it.", slot,
                                     v->rule->id, v->rule->file, v->rule->line);
                else
                        r = asprintf(&s,
                                     "%s may not be passed through: no policy rule matches it, and unmatched "
                                     "devices are denied.",
                                     slot);
                break;
        case RELEASE_DENIED_UNSAFE_INTERRUPTS:
                r = asprintf(&s,
                             "%s may not be passed through: rule '%s' (%s:%u) allows it, but its interrupts "
                             "are %s (no interrupt remapping or MSI isolation; see 'isolatectl audit'), and the "
                             "rule does not set allow_unsafe_interrupts.",
                             slot, v->rule->id, v->rule->file, v->rule->line,
                             interrupts == INTERRUPTS_UNSAFE ? "not isolated" : "of unknown safety");
                break;
        default: break;
        }
        return r < 0 ? NULL : s;
}
