/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fileio.h"
#include "json-locator.h"
#include "macro.h"
#include "parse-util.h"
#include "policy.h"
#include "strv.h"

/* The policy parser, evaluation and JSON output. The corpora in tests/fixtures/policy/{good,bad}
 * are read at run time: every good/NAME.json must load without an error, and every bad/NAME.json
 * must produce exactly the errors listed in bad/NAME.errors, one per line as
 * "LINE:COLUMN: substring of the message" (blank lines and lines starting with '#' are ignored). */

/* ---- helpers ---------------------------------------------------------------------------- */

static const char *fixtures_dir(void) {
        return getenv("ISOLATE_FIXTURES");
}

static char *fixture_path(const char *rel) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", fixtures_dir(), rel) >= 0);
        return p;
}

static void print_errors(const PolicyErrors *errors) {
        FOREACH_ARRAY(e, errors->errors, errors->n_errors)
                print_message("    got %s:%u:%u: %s\n", e->file, e->line, e->column, e->message);
}

/* Parses text as one file, named "test.json", into a fresh policy that must be valid. */
static Policy *parse_ok(const char *text) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        Policy *p = policy_new_default();
        int r;

        assert_non_null(p);
        r = policy_parse_text(p, "test.json", text, strlen(text), &errors);
        if (r < 0 || errors.n_errors > 0) {
                print_errors(&errors);
                policy_free(p);
                fail_msg("valid policy refused (r=%d):\n%s", r, text);
        }
        return p;
}

typedef struct ExpectedError {
        unsigned line, column;
        const char *substring;
} ExpectedError;

static int parse_expected(const char *spec, ExpectedError *ret) {
        unsigned line, column;
        int n = 0;

        if (sscanf(spec, "%u:%u: %n", &line, &column, &n) != 2 || n == 0)
                return -EINVAL;
        *ret = (ExpectedError) { .line = line, .column = column, .substring = spec + n };
        return 0;
}

/* Whether errors holds exactly the expected ones: the same number, and each expected error has its
 * own actual error at that line and column whose message contains the substring (in any order). When
 * file is given, every error must name it. Prints what does not match. */
static bool errors_match(const PolicyErrors *errors, const ExpectedError *expected, size_t n_expected,
                         const char *file) {
        _cleanup_free_ bool *used = calloc(errors->n_errors + 1, sizeof(bool));
        bool ok = errors->n_errors == n_expected;

        assert_non_null(used);
        if (!ok)
                print_message("    expected %zu errors, got %zu\n", n_expected, errors->n_errors);
        FOREACH_ARRAY(x, expected, n_expected) {
                bool found = false;
                for (size_t i = 0; i < errors->n_errors && !found; i++) {
                        const PolicyError *e = &errors->errors[i];
                        if (!used[i] && e->line == x->line && e->column == x->column &&
                            strstr(e->message, x->substring))
                                used[i] = found = true;
                }
                if (!found) {
                        print_message("    missing %u:%u: %s\n", x->line, x->column, x->substring);
                        ok = false;
                }
        }
        for (size_t i = 0; i < errors->n_errors; i++) {
                const PolicyError *e = &errors->errors[i];
                if (!used[i]) {
                        print_message("    unexpected %u:%u: %s\n", e->line, e->column, e->message);
                        ok = false;
                }
                if (file && !streq_ptr(e->file, file)) {
                        print_message("    error names file '%s', expected '%s'\n", strna(e->file), file);
                        ok = false;
                }
        }
        return ok;
}

/* Parses text (file "test.json") and checks the errors against a NULL-terminated list of
 * "LINE:COLUMN: substring"; the policy must not change. */
static void assert_parse_errors(const char *text, const char *const *specs) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = policy_new_default();
        ExpectedError expected[64];
        size_t n = 0;

        assert_non_null(p);
        for (; specs[n]; n++) {
                assert_true(n < ELEMENTSOF(expected));
                assert_int_equal(parse_expected(specs[n], &expected[n]), 0);
        }
        assert_int_equal(policy_parse_text(p, "test.json", text, strlen(text), &errors), -EINVAL);
        if (!errors_match(&errors, expected, n, "test.json"))
                fail_msg("errors differ for:\n%s", text);
        assert_int_equal(p->n_rules, 0);
        assert_null(p->files);
}

static char **list_json_files(const char *dir) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        char **files = NULL;
        struct dirent *de;

        if (!d)
                fail_msg("cannot open %s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                char *path;
                if (de->d_name[0] == '.' || n <= 5 || !streq(de->d_name + n - 5, ".json"))
                        continue;
                assert_true(asprintf(&path, "%s/%s", dir, de->d_name) >= 0);
                assert_int_equal(strv_consume(&files, path), 0);
        }
        strv_sort(files);
        return files;
}

static char *make_temp_dir(void) {
        char *dir = strdup("/tmp/isolate-test-policy.XXXXXX");
        assert_non_null(dir);
        assert_non_null(mkdtemp(dir));
        return dir;
}

static void remove_tree(char *dir) {
        char *cmd;
        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) >= 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(dir);
}

static char *write_file(const char *dir, const char *name, const char *content) {
        char *path;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) >= 0);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(content, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        return path;
}

/* A synthetic device: an Intel e1000e NIC at 0000:03:00.0 below two bridges, with a serial number. */
static char parent_root_port[] = "0000:00:1c.0", parent_host_bridge[] = "0000:00:01.0";
static char *two_parents[] = { parent_root_port, parent_host_bridge, NULL };
static char driver_e1000e[] = "e1000e", driver_vfio[] = "vfio-pci";

static PciDevice nic(void) {
        PciDevice d = {
                .vendor = 0x8086,
                .device = 0x10d3,
                .subsystem_vendor = 0x8086,
                .subsystem_device = 0xa01f,
                .class = 0x020000,
                .driver = driver_e1000e,
                .iommu_group = 12,
                .parents = two_parents,
                .pcie_type = PCIE_TYPE_NONE,
                .has_dsn = true,
                .dsn = UINT64_C(0x001b21ffff8a1c04),
                .interrupts = INTERRUPTS_SAFE,
        };
        assert_int_equal(pci_address_parse_full("0000:03:00.0", &d.address), 0);
        pci_address_format(&d.address, d.slot);
        return d;
}

static void set_slot(PciDevice *d, const char *slot) {
        assert_int_equal(pci_address_parse_full(slot, &d->address), 0);
        pci_address_format(&d->address, d->slot);
}

/* Whether a policy with one rule matching on key=value (JSON text for the value) matches d. */
static bool key_matches(const char *key, const char *value_json, const PciDevice *d, const char *driver) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_free_ char *text = NULL;
        PolicyDevice pd = { .device = d, .driver = driver };
        PolicyVerdict v;
        bool m;

        assert_true(asprintf(&text,
                             "{ \"version\": 1, \"rules\": [ { \"id\": \"r\", \"match\": { \"%s\": %s }, "
                             "\"passthrough\": \"allow\" } ] }",
                             key, value_json) >= 0);
        p = parse_ok(text);
        assert_int_equal(p->n_rules, 1);
        m = rule_matches(&p->rules[0], &pd);
        /* rule_key_matches agrees with rule_matches for a one-key rule, and evaluation with both */
        assert_int_equal(rule_key_matches(&p->rules[0], match_key_from_string(key), &pd, NULL), m);
        policy_evaluate(p, &pd, &v);
        assert_ptr_equal(v.rule, m ? &p->rules[0] : NULL);
        assert_int_equal(v.passthrough, m ? PASSTHROUGH_ALLOW : PASSTHROUGH_DENY);
        return m;
}

static bool nic_matches(const char *key, const char *value_json) {
        PciDevice d = nic();
        return key_matches(key, value_json, &d, d.driver);
}

static const char *evaluate_rule_id(const Policy *p, const PciDevice *d) {
        PolicyDevice pd = { .device = d, .driver = d->driver };
        PolicyVerdict v;
        policy_evaluate(p, &pd, &v);
        return v.rule ? v.rule->id : NULL;
}

/* ---- enum tables ------------------------------------------------------------------------ */

static void test_enum_tables(void **state) {
        assert_string_equal(quarantine_mode_to_string(QUARANTINE_MODE_BLOCKED), "blocked");
        assert_string_equal(quarantine_mode_to_string(QUARANTINE_MODE_SCRATCH_PAGE), "scratch-page");
        assert_null(quarantine_mode_to_string(_QUARANTINE_MODE_MAX));
        assert_null(quarantine_mode_to_string(_QUARANTINE_MODE_INVALID));
        assert_int_equal(quarantine_mode_from_string("scratch-page"), QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(quarantine_mode_from_string("blocked"), QUARANTINE_MODE_BLOCKED);
        assert_int_equal(quarantine_mode_from_string("Blocked"), -EINVAL);
        assert_int_equal(quarantine_mode_from_string(""), -EINVAL);
        assert_int_equal(quarantine_mode_from_string(NULL), -EINVAL);

        assert_string_equal(unbind_policy_to_string(UNBIND_POLICY_ALL), "all");
        assert_string_equal(unbind_policy_to_string(UNBIND_POLICY_MATCHED), "matched");
        assert_string_equal(unbind_policy_to_string(UNBIND_POLICY_NONE), "none");
        assert_null(unbind_policy_to_string(_UNBIND_POLICY_MAX));
        assert_int_equal(unbind_policy_from_string("none"), UNBIND_POLICY_NONE);
        assert_int_equal(unbind_policy_from_string("some"), -EINVAL);

        assert_string_equal(passthrough_to_string(PASSTHROUGH_DENY), "deny");
        assert_string_equal(passthrough_to_string(PASSTHROUGH_ALLOW), "allow");
        assert_null(passthrough_to_string(_PASSTHROUGH_INVALID));
        assert_int_equal(passthrough_from_string("allow"), PASSTHROUGH_ALLOW);
        assert_int_equal(passthrough_from_string("yes"), -EINVAL);

        static const char *const keys[_MATCH_KEY_MAX] = {
                "slot",  "vendor", "device", "subsystem_vendor", "subsystem_device",
                "class", "driver", "serial", "parent",
        };
        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                assert_string_equal(match_key_to_string(k), keys[k]);
                assert_int_equal(match_key_from_string(keys[k]), k);
        }
        assert_null(match_key_to_string(_MATCH_KEY_MAX));
        assert_int_equal(match_key_from_string("iommu_group"), -EINVAL);
}

static void test_default_policy(void **state) {
        _cleanup_(policy_freep) Policy *p = policy_new_default();

        assert_non_null(p);
        assert_int_equal(p->mode, QUARANTINE_MODE_BLOCKED);
        assert_int_equal(p->quarantine_on_unbind, UNBIND_POLICY_ALL);
        assert_int_equal(p->scratch_cover, UINT64_C(4) << 30);
        assert_int_equal(p->scratch_cover, POLICY_DEFAULT_SCRATCH_COVER);
        assert_null(p->mode_file);
        assert_null(p->quarantine_on_unbind_file);
        assert_null(p->scratch_cover_file);
        assert_int_equal(p->n_rules, 0);
        assert_null(p->files);
        assert_null(policy_free(NULL));
}

/* ---- corpora ---------------------------------------------------------------------------- */

static void test_good_corpus(void **state) {
        _cleanup_free_ char *dir = fixture_path("policy/good");
        _cleanup_strv_free_ char **files = list_json_files(dir);

        /* the corpus must not silently disappear */
        assert_true(strv_length(files) >= 15);

        STRV_FOREACH(f, files) {
                _cleanup_(policy_errors_done) PolicyErrors errors = {};
                _cleanup_(policy_freep) Policy *p = NULL;
                char *one[] = { *f, NULL };
                json_object *j = NULL;
                int r;

                r = policy_load_files(one, &p, &errors);
                if (r != 0 || errors.n_errors > 0) {
                        print_errors(&errors);
                        fail_msg("%s: refused (r=%d)", *f, r);
                }
                assert_non_null(p);
                assert_int_equal(strv_length(p->files), 1);
                assert_string_equal(p->files[0], *f);
                FOREACH_ARRAY(rule, p->rules, p->n_rules) {
                        assert_non_null(rule->id);
                        assert_string_equal(rule->file, *f);
                        assert_true(rule->line >= 1);
                        assert_true(rule->column >= 1);
                }
                assert_int_equal(policy_to_json(p, &j), 0);
                assert_non_null(j);
                json_object_put(j);
        }
}

/* Every good file loaded twice: each of its rules is now a duplicate, reported in the second copy
 * at the same place and naming the first. */
static void test_good_corpus_twice(void **state) {
        _cleanup_free_ char *dir = fixture_path("policy/good");
        _cleanup_strv_free_ char **files = list_json_files(dir);

        STRV_FOREACH(f, files) {
                _cleanup_(policy_errors_done) PolicyErrors errors = {};
                _cleanup_(policy_freep) Policy *once = NULL, *twice = NULL;
                char *one[] = { *f, NULL }, *two[] = { *f, *f, NULL };
                int r;

                assert_int_equal(policy_load_files(one, &once, &errors), 0);
                r = policy_load_files(two, &twice, &errors);
                if (once->n_rules == 0) {
                        /* no rules, no ids: the same file twice is fine */
                        assert_int_equal(r, 0);
                        assert_non_null(twice);
                        assert_int_equal(errors.n_errors, 0);
                        continue;
                }
                assert_int_equal(r, -EINVAL);
                assert_null(twice);
                assert_int_equal(errors.n_errors, once->n_rules);
                for (size_t i = 0; i < once->n_rules; i++) {
                        const Rule *rule = &once->rules[i];
                        _cleanup_free_ char *msg = NULL;
                        assert_true(asprintf(&msg, "duplicate rule id '%s' (first defined at %s:%u:%u)", rule->id, *f,
                                             rule->line, rule->column) >= 0);
                        assert_string_equal(errors.errors[i].file, *f);
                        assert_string_equal(errors.errors[i].message, msg);
                        assert_true(errors.errors[i].line >= rule->line);
                }
        }
}

/* Returns false, after saying why, when the errors differ from the .errors file. */
static bool check_bad_file(const char *path) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {}, again = {};
        _cleanup_(policy_freep) Policy *p = NULL, *pre = NULL;
        _cleanup_strv_free_ char **lines = NULL;
        _cleanup_free_ char *errors_path = NULL, *spec = NULL, *text = NULL;
        _cleanup_free_ ExpectedError *expected = NULL;
        Policy *sentinel = (Policy *) &errors;
        char *one[] = { (char *) path, NULL };
        size_t n = 0, size;
        int r;

        assert_true(asprintf(&errors_path, "%.*s.errors", (int) (strlen(path) - 5), path) >= 0);
        r = read_full_file(errors_path, 0, &spec, NULL);
        if (r < 0)
                fail_msg("%s has no %s: %s", path, errors_path, strerror(-r));
        assert_int_equal(strv_split(spec, "\n", &lines), 0);
        expected = calloc(strv_length(lines) + 1, sizeof(ExpectedError));
        assert_non_null(expected);
        STRV_FOREACH(l, lines) {
                if ((*l)[0] == '#')
                        continue;
                if (parse_expected(*l, &expected[n]) < 0)
                        fail_msg("%s: cannot parse '%s' (expected LINE:COLUMN: message)", errors_path, *l);
                n++;
        }
        if (n == 0)
                fail_msg("%s lists no errors", errors_path);

        p = sentinel;
        r = policy_load_files(one, &p, &errors);
        if (r != -EINVAL || p != sentinel || !errors_match(&errors, expected, n, path)) {
                print_errors(&errors);
                print_message("%s: r=%d, errors differ from %s\n", path, r, errors_path);
                if (p == sentinel)
                        p = NULL;
                return false;
        }
        p = NULL;

        /* The same text parsed into a policy that already has a rule and defaults: the same errors,
         * and nothing of this file sticks. */
        pre = parse_ok("{ \"version\": 1, \"defaults\": { \"mode\": \"scratch-page\", \"scratch_cover\": \"8G\" },"
                       "  \"rules\": [ { \"id\": \"corpus-sentinel-rule\", \"match\": {} } ] }");
        assert_int_equal(read_full_file(path, 0, &text, &size), 0);
        assert_int_equal(policy_parse_text(pre, path, text, size, &again), -EINVAL);
        if (!errors_match(&again, expected, n, path)) {
                print_message("%s: different errors when parsed after another file\n", path);
                return false;
        }
        assert_int_equal(pre->n_rules, 1);
        assert_string_equal(pre->rules[0].id, "corpus-sentinel-rule");
        assert_int_equal(pre->mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(pre->quarantine_on_unbind, UNBIND_POLICY_ALL);
        assert_int_equal(pre->scratch_cover, UINT64_C(8) << 30);
        assert_string_equal(pre->mode_file, "test.json");
        assert_null(pre->quarantine_on_unbind_file);
        assert_int_equal(strv_length(pre->files), 1);
        return true;
}

static void test_bad_corpus(void **state) {
        _cleanup_free_ char *dir = fixture_path("policy/bad");
        _cleanup_strv_free_ char **files = list_json_files(dir);
        size_t n_failed = 0;

        assert_true(strv_length(files) >= 40);
        STRV_FOREACH(f, files)
                if (!check_bad_file(*f))
                        n_failed++;
        if (n_failed > 0)
                fail_msg("%zu of %zu bad policies gave other errors than expected", n_failed, strv_length(files));
}

/* Every .errors file has its .json: a renamed case cannot be silently dropped. */
static void test_bad_corpus_complete(void **state) {
        _cleanup_free_ char *dir = fixture_path("policy/bad");
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                _cleanup_free_ char *json = NULL;
                if (len <= 7 || !streq(de->d_name + len - 7, ".errors"))
                        continue;
                assert_true(asprintf(&json, "%s/%.*s.json", dir, (int) (len - 7), de->d_name) >= 0);
                if (access(json, F_OK) < 0)
                        fail_msg("%s/%s has no .json", dir, de->d_name);
                n++;
        }
        assert_true(n >= 40);
}

/* ---- the full-featured good file, field by field ---------------------------------------- */

static void test_full_file(void **state) {
        _cleanup_free_ char *path = fixture_path("policy/good/full.json");
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        char *one[] = { path, NULL };
        const Rule *r;

        assert_int_equal(policy_load_files(one, &p, &errors), 0);
        assert_int_equal(errors.n_errors, 0);
        assert_int_equal(p->mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_string_equal(p->mode_file, path);
        assert_int_equal(p->quarantine_on_unbind, UNBIND_POLICY_MATCHED);
        assert_string_equal(p->quarantine_on_unbind_file, path);
        assert_int_equal(p->scratch_cover, UINT64_C(64) << 30);
        assert_string_equal(p->scratch_cover_file, path);
        assert_int_equal(p->n_rules, 2);

        r = &p->rules[0];
        assert_string_equal(r->id, "everything");
        assert_string_equal(r->file, path);
        assert_int_equal(r->line, 12);
        assert_int_equal(r->column, 5);
        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                assert_true(r->match[k].present);
                assert_int_equal(r->match[k].n_values, 1);
        }
        assert_string_equal(r->match[MATCH_SLOT].values[0].text, "0000:03:00.0");
        assert_int_equal(r->match[MATCH_VENDOR].values[0].number, 0x8086);
        assert_string_equal(r->match[MATCH_DEVICE].values[0].text, "10D3");
        assert_int_equal(r->match[MATCH_DEVICE].values[0].number, 0x10d3);
        assert_int_equal(r->match[MATCH_SUBSYSTEM_VENDOR].values[0].number, 0x8086);
        assert_int_equal(r->match[MATCH_SUBSYSTEM_DEVICE].values[0].number, 0xa01f);
        assert_int_equal(r->match[MATCH_CLASS].values[0].number, 0x020000);
        assert_int_equal(r->match[MATCH_CLASS].values[0].class_digits, 6);
        assert_string_equal(r->match[MATCH_DRIVER].values[0].text, "e1000e");
        assert_int_equal(r->match[MATCH_SERIAL].values[0].serial, UINT64_C(0x001b21ffff8a1c04));
        assert_string_equal(r->match[MATCH_PARENT].values[0].text, "0000:00:1c.0");
        assert_int_equal(r->passthrough, PASSTHROUGH_ALLOW);
        assert_int_equal(r->mode, QUARANTINE_MODE_BLOCKED);
        assert_int_equal(r->quarantine_on_unbind, TRISTATE_NO);
        assert_true(r->allow_unsafe_interrupts);
        assert_int_equal(r->scratch_cover, UINT64_C(2) << 20);
        assert_string_equal(r->comment, "one exact card");

        r = &p->rules[1];
        assert_string_equal(r->id, "nics");
        assert_int_equal(r->line, 32);
        assert_int_equal(r->column, 5);
        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++)
                assert_int_equal(r->match[k].present, k == MATCH_CLASS);
        assert_int_equal(r->match[MATCH_CLASS].values[0].number, 0x0200);
        assert_int_equal(r->match[MATCH_CLASS].values[0].class_digits, 4);
        assert_int_equal(r->passthrough, PASSTHROUGH_DENY);
        assert_int_equal(r->mode, _QUARANTINE_MODE_INVALID);
        assert_int_equal(r->quarantine_on_unbind, TRISTATE_YES);
        assert_false(r->allow_unsafe_interrupts);
        assert_int_equal(r->scratch_cover, 0);
        assert_null(r->comment);

        /* the synthetic NIC is exactly what the first rule describes */
        PciDevice d = nic();
        PolicyDevice pd = { .device = &d, .driver = d.driver };
        PolicyVerdict v;
        policy_evaluate(p, &pd, &v);
        assert_ptr_equal(v.rule, &p->rules[0]);
        assert_int_equal(v.passthrough, PASSTHROUGH_ALLOW);
        assert_int_equal(v.mode, QUARANTINE_MODE_BLOCKED);
        assert_false(v.quarantine_on_unbind);
        assert_true(v.allow_unsafe_interrupts);
        assert_int_equal(v.scratch_cover, UINT64_C(2) << 20);

        /* another NIC falls through to the second */
        d.device = 0x1533;
        policy_evaluate(p, &pd, &v);
        assert_ptr_equal(v.rule, &p->rules[1]);
        assert_int_equal(v.passthrough, PASSTHROUGH_DENY);
        assert_int_equal(v.mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_true(v.quarantine_on_unbind);
        assert_false(v.allow_unsafe_interrupts);
        assert_int_equal(v.scratch_cover, UINT64_C(64) << 30);
}

static void test_arrays_file(void **state) {
        _cleanup_free_ char *path = fixture_path("policy/good/arrays.json");
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        char *one[] = { path, NULL };
        static const size_t counts[_MATCH_KEY_MAX] = { 3, 2, 2, 2, 2, 3, 3, 2, 2 };

        assert_int_equal(policy_load_files(one, &p, &errors), 0);
        assert_int_equal(p->n_rules, 2);
        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                assert_true(p->rules[0].match[k].present);
                assert_int_equal(p->rules[0].match[k].n_values, counts[k]);
        }
        assert_string_equal(p->rules[0].match[MATCH_SLOT].values[2].text, "00:1f.*");
        assert_int_equal(p->rules[0].match[MATCH_CLASS].values[0].class_digits, 2);
        assert_int_equal(p->rules[0].match[MATCH_CLASS].values[1].class_digits, 4);
        assert_int_equal(p->rules[0].match[MATCH_CLASS].values[2].class_digits, 6);
        assert_int_equal(p->rules[0].match[MATCH_SERIAL].values[1].serial, UINT64_C(0x001b21ffff8a1c05));
        assert_string_equal(p->rules[0].match[MATCH_DRIVER].values[2].text, "vfio-pci");
        assert_int_equal(p->rules[1].match[MATCH_VENDOR].n_values, 1);
        assert_int_equal(p->rules[1].match[MATCH_VENDOR].values[0].number, 0x1af4);

        PciDevice d = nic();
        PolicyDevice pd = { .device = &d, .driver = d.driver };
        assert_true(rule_matches(&p->rules[0], &pd));
}

static void test_sizes_file(void **state) {
        _cleanup_free_ char *path = fixture_path("policy/good/sizes.json");
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        char *one[] = { path, NULL };
        static const uint64_t expected[] = {
                UINT64_C(2) << 20, UINT64_C(512) << 20, UINT64_C(64) << 30, UINT64_C(1) << 40, UINT64_C(4) << 20,
                UINT64_C(6) << 20, UINT64_C(2) << 20,   UINT64_C(4) << 20,  UINT64_C(3) << 30,
        };

        assert_int_equal(policy_load_files(one, &p, &errors), 0);
        assert_int_equal(p->scratch_cover, UINT64_C(1) << 40);
        assert_int_equal(p->max_scratch_cover, UINT64_C(1) << 40);
        assert_int_equal(p->n_rules, ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                assert_int_equal(p->rules[i].scratch_cover, expected[i]);
}

static void test_unicode_comments_file(void **state) {
        _cleanup_free_ char *path = fixture_path("policy/good/unicode-comments.json");
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        char *one[] = { path, NULL };

        assert_int_equal(policy_load_files(one, &p, &errors), 0);
        assert_int_equal(p->n_rules, 1);
        assert_string_equal(p->rules[0].comment, "carte graphique ✓ — Grafikkarte für die VM (ß, ü, ñ)");
}

/* ---- parsing details -------------------------------------------------------------------- */

static void test_parse_respects_size(void **state) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = policy_new_default();
        static const char text[] = "{ \"version\": 1 }GARBAGE\0AND A NUL";

        /* only the first size bytes are the file */
        assert_int_equal(policy_parse_text(p, "prefix.json", text, strlen("{ \"version\": 1 }"), &errors), 0);
        assert_int_equal(errors.n_errors, 0);
        assert_int_equal(policy_parse_text(p, "whole.json", text, sizeof(text) - 1, &errors), -EINVAL);
        assert_int_equal(errors.n_errors, 1);
        assert_int_equal(errors.errors[0].line, 1);
        assert_int_equal(errors.errors[0].column, 24);
        assert_non_null(strstr(errors.errors[0].message, "NUL byte"));
        assert_int_equal(strv_length(p->files), 1);
        assert_string_equal(p->files[0], "prefix.json");
}

static void test_parse_errors_accumulate(void **state) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = policy_new_default();
        static const char bad1[] = "{ \"version\": 2 }", bad2[] = "{ \"version\": 1, \"x\": 1 }";

        assert_int_equal(policy_parse_text(p, "one.json", bad1, strlen(bad1), &errors), -EINVAL);
        assert_int_equal(policy_parse_text(p, "two.json", bad2, strlen(bad2), &errors), -EINVAL);
        assert_int_equal(errors.n_errors, 2);
        assert_string_equal(errors.errors[0].file, "one.json");
        assert_string_equal(errors.errors[1].file, "two.json");
        assert_int_equal(errors.errors[1].column, 17);
        policy_errors_done(&errors);
        assert_null(errors.errors);
        assert_int_equal(errors.n_errors, 0);
        policy_errors_done(&errors);
}

static void test_parse_rule_fields(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{\n"
                "  \"version\": 1,\n"
                "  \"rules\": [\n"
                "    { \"id\": \"minimal\", \"match\": {} },\n"
                "      { \"id\": \"all\", \"match\": { \"driver\": \"vfio-pci\" }, \"passthrough\": \"allow\",\n"
                "        \"mode\": \"scratch-page\", \"quarantine_on_unbind\": true, \"allow_unsafe_interrupts\": true,\n"
                "        \"scratch_cover\": \"128G\", \"comment\": \"x\" }\n"
                "  ]\n"
                "}\n");
        const Rule *r = &p->rules[0];

        assert_int_equal(p->n_rules, 2);
        /* what a rule says when it says nothing */
        assert_string_equal(r->id, "minimal");
        assert_string_equal(r->file, "test.json");
        assert_int_equal(r->line, 4);
        assert_int_equal(r->column, 5);
        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++)
                assert_false(r->match[k].present);
        assert_int_equal(r->passthrough, PASSTHROUGH_DENY);
        assert_int_equal(r->mode, _QUARANTINE_MODE_INVALID);
        assert_int_equal(r->quarantine_on_unbind, TRISTATE_UNKNOWN);
        assert_false(r->allow_unsafe_interrupts);
        assert_int_equal(r->scratch_cover, 0);
        assert_null(r->comment);

        r = &p->rules[1];
        assert_int_equal(r->line, 5);
        assert_int_equal(r->column, 7);
        assert_int_equal(r->passthrough, PASSTHROUGH_ALLOW);
        assert_int_equal(r->mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(r->quarantine_on_unbind, TRISTATE_YES);
        assert_true(r->allow_unsafe_interrupts);
        assert_int_equal(r->scratch_cover, UINT64_C(128) << 30);
        assert_string_equal(r->comment, "x");

        /* no defaults in the file: the built-in ones, from nowhere */
        assert_int_equal(p->mode, QUARANTINE_MODE_BLOCKED);
        assert_null(p->mode_file);
        assert_int_equal(p->quarantine_on_unbind, UNBIND_POLICY_ALL);
        assert_null(p->quarantine_on_unbind_file);
        assert_int_equal(p->scratch_cover, POLICY_DEFAULT_SCRATCH_COVER);
        assert_null(p->scratch_cover_file);
        assert_int_equal(strv_length(p->files), 1);
        assert_string_equal(p->files[0], "test.json");
}

static void test_parse_match_values(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{ \"version\": 1, \"rules\": [ { \"id\": \"v\", \"match\": {"
                "  \"vendor\": \"ABCD\", \"device\": \"0001\", \"subsystem_vendor\": \"ffff\", \"subsystem_device\": \"0000\","
                "  \"class\": [\"0C\", \"0c03\", \"0C0330\"], \"serial\": [\"ff:ee:dd:cc:bb:aa:99:88\", \"0000000000000001\"],"
                "  \"slot\": \"00:1f.*\", \"parent\": \"0000:00:\", \"driver\": \"snd_hda_intel\" } } ] }");
        const Rule *r = &p->rules[0];

        assert_int_equal(r->match[MATCH_VENDOR].values[0].number, 0xabcd);
        assert_string_equal(r->match[MATCH_VENDOR].values[0].text, "ABCD");
        assert_int_equal(r->match[MATCH_DEVICE].values[0].number, 1);
        assert_int_equal(r->match[MATCH_SUBSYSTEM_VENDOR].values[0].number, 0xffff);
        assert_int_equal(r->match[MATCH_SUBSYSTEM_DEVICE].values[0].number, 0);
        assert_int_equal(r->match[MATCH_CLASS].n_values, 3);
        assert_int_equal(r->match[MATCH_CLASS].values[0].number, 0x0c);
        assert_int_equal(r->match[MATCH_CLASS].values[0].class_digits, 2);
        assert_int_equal(r->match[MATCH_CLASS].values[1].number, 0x0c03);
        assert_int_equal(r->match[MATCH_CLASS].values[1].class_digits, 4);
        assert_int_equal(r->match[MATCH_CLASS].values[2].number, 0x0c0330);
        assert_int_equal(r->match[MATCH_CLASS].values[2].class_digits, 6);
        assert_int_equal(r->match[MATCH_SERIAL].values[0].serial, UINT64_C(0xffeeddccbbaa9988));
        assert_string_equal(r->match[MATCH_SERIAL].values[0].text, "ff:ee:dd:cc:bb:aa:99:88");
        assert_int_equal(r->match[MATCH_SERIAL].values[1].serial, 1);
        assert_int_equal(r->match[MATCH_SLOT].values[0].slot.filter.bus, 0);
        assert_int_equal(r->match[MATCH_SLOT].values[0].slot.filter.slot, 0x1f);
        assert_int_equal(r->match[MATCH_SLOT].values[0].slot.filter.func, -1);
        assert_int_equal(r->match[MATCH_SLOT].values[0].slot.filter.domain, -1);
        assert_int_equal(r->match[MATCH_PARENT].values[0].slot.filter.domain, 0);
        assert_int_equal(r->match[MATCH_PARENT].values[0].slot.filter.bus, 0);
        assert_int_equal(r->match[MATCH_PARENT].values[0].slot.filter.slot, -1);
        assert_string_equal(r->match[MATCH_DRIVER].values[0].text, "snd_hda_intel");
}

static void test_parse_errors_inline(void **state) {
        /* the rule's id names it in later messages; without one, the index does */
        assert_parse_errors("{ \"version\": 1, \"rules\": [ { \"id\": \"x\", \"match\": {}, \"pass\": 1 } ] }",
                            (const char *[]) { "1:54: unknown key 'pass' in rule 'x'", NULL });
        assert_parse_errors("{\n\"version\": 1,\n\"rules\": [ {}, {} ]\n}",
                            (const char *[]) { "3:12: rule 1 has no 'id'", "3:12: rule '?' has no 'match'",
                                               "3:16: rule 2 has no 'id'", "3:16: rule '?' has no 'match'", NULL });
        /* a key with JSON escapes is found where it is written */
        assert_parse_errors("{ \"version\": 1,\n  \"r\\u00e8gles\": [] }",
                            (const char *[]) { "2:3: unknown key 'règles' in the policy (expected one of", NULL });
        assert_parse_errors("{ \"version\": 1,\n  \"a~b/c\": [] }",
                            (const char *[]) { "2:3: unknown key 'a~b/c' in the policy", NULL });
        /* json-c reads a top-level null as no object at all */
        assert_parse_errors("null\n", (const char *[]) { "1:1: the policy must be a JSON object, not null", NULL });
        assert_parse_errors("  \n 5 \n",
                            (const char *[]) { "1:1: the policy must be a JSON object, not a number", NULL });
        /* an incomplete multi-byte character at the very end */
        assert_parse_errors("{ \"version\": 1, \"comment\": \"\xc3", (const char *[]) { "1:29: invalid utf-8", NULL });
}

static void test_duplicate_id_message(void **state) {
        assert_parse_errors("{ \"version\": 1, \"rules\": [\n"
                            "  { \"id\": \"nic\", \"match\": {} },\n"
                            "  { \"id\": \"nic\", \"match\": {} } ] }",
                            (const char *[]) {
                                    "3:11: duplicate rule id 'nic' (first defined at test.json:2:3)",
                                    NULL,
                            });
}

/* A UTF-8 byte order mark is not an error, and does not count as columns. */
static void test_parse_bom(void **state) {
        _cleanup_(policy_freep) Policy *p =
                parse_ok("\xef\xbb\xbf{ \"version\": 1, \"rules\": [ { \"id\": \"a\", \"match\": {} } ] }");

        assert_int_equal(p->n_rules, 1);
        assert_int_equal(p->rules[0].line, 1);
        assert_int_equal(p->rules[0].column, 28);
        assert_parse_errors("\xef\xbb\xbf{ \"version\": 3 }",
                            (const char *[]) { "1:14: unsupported policy version 3", NULL });
        assert_parse_errors("\xef\xbb\xbf{ \"version\": 1, }", (const char *[]) { "1:17: unexpected character", NULL });
}

/* ---- policy_load_files ------------------------------------------------------------------ */

static void test_load_files_layers(void **state) {
        char *dir = make_temp_dir();
        _cleanup_free_ char *base =
                write_file(dir, "10-base.json",
                           "{\n"
                           "  \"version\": 1,\n"
                           "  \"defaults\": { \"mode\": \"scratch-page\", \"quarantine_on_unbind\": \"matched\",\n"
                           "                \"scratch_cover\": \"8G\" },\n"
                           "  \"rules\": [\n"
                           "    { \"id\": \"a\", \"match\": { \"vendor\": \"8086\" }, \"passthrough\": \"allow\" },\n"
                           "    { \"id\": \"b\", \"match\": { \"class\": \"02\" } }\n"
                           "  ]\n"
                           "}\n");
        _cleanup_free_ char *mode = write_file(dir, "20-mode.json",
                                               "{ \"version\": 1, \"defaults\": { \"mode\": \"blocked\" },\n"
                                               "  \"rules\": [ { \"id\": \"c\", \"match\": {} } ] }\n");
        _cleanup_free_ char *cover =
                write_file(dir, "30-cover.json", "{ \"version\": 1, \"defaults\": { \"scratch_cover\": \"16G\" } }\n");
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        char *files[] = { base, mode, cover, NULL };

        assert_int_equal(policy_load_files(files, &p, &errors), 0);
        assert_int_equal(errors.n_errors, 0);
        assert_non_null(p);

        /* later defaults override earlier ones, each remembering its file */
        assert_int_equal(p->mode, QUARANTINE_MODE_BLOCKED);
        assert_string_equal(p->mode_file, mode);
        assert_int_equal(p->quarantine_on_unbind, UNBIND_POLICY_MATCHED);
        assert_string_equal(p->quarantine_on_unbind_file, base);
        assert_int_equal(p->scratch_cover, UINT64_C(16) << 30);
        assert_string_equal(p->scratch_cover_file, cover);

        /* rules concatenate in order */
        assert_int_equal(p->n_rules, 3);
        assert_string_equal(p->rules[0].id, "a");
        assert_string_equal(p->rules[0].file, base);
        assert_int_equal(p->rules[0].line, 6);
        assert_string_equal(p->rules[1].id, "b");
        assert_string_equal(p->rules[1].file, base);
        assert_int_equal(p->rules[1].line, 7);
        assert_string_equal(p->rules[2].id, "c");
        assert_string_equal(p->rules[2].file, mode);
        assert_int_equal(p->rules[2].line, 2);
        assert_int_equal(p->rules[2].column, 14);

        assert_int_equal(strv_length(p->files), 3);
        assert_string_equal(p->files[0], base);
        assert_string_equal(p->files[1], mode);
        assert_string_equal(p->files[2], cover);

        /* the order of the files decides */
        policy_free(TAKE_PTR(p));
        char *reversed[] = { cover, mode, base, NULL };
        assert_int_equal(policy_load_files(reversed, &p, &errors), 0);
        assert_int_equal(p->mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_string_equal(p->mode_file, base);
        assert_int_equal(p->scratch_cover, UINT64_C(8) << 30);
        assert_string_equal(p->scratch_cover_file, base);
        assert_string_equal(p->rules[0].id, "c");
        assert_string_equal(p->rules[1].id, "a");

        remove_tree(dir);
}

static void test_load_files_none(void **state) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        char *none[] = { NULL };

        assert_int_equal(policy_load_files(none, &p, &errors), 0);
        assert_non_null(p);
        assert_int_equal(p->n_rules, 0);
        assert_int_equal(p->mode, QUARANTINE_MODE_BLOCKED);
        assert_null(p->mode_file);
        assert_null(p->files);
        policy_free(TAKE_PTR(p));

        assert_int_equal(policy_load_files(NULL, &p, &errors), 0);
        assert_non_null(p);
        assert_int_equal(errors.n_errors, 0);
}

static void test_load_files_unreadable(void **state) {
        char *dir = make_temp_dir();
        _cleanup_free_ char *good =
                write_file(dir, "good.json", "{ \"version\": 1, \"rules\": [ { \"id\": \"a\", \"match\": {} } ] }");
        _cleanup_free_ char *bad = write_file(dir, "bad.json", "{ \"version\": 1,\n  \"rules\": 3 }");
        _cleanup_free_ char *missing = NULL, *subdir = NULL;
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        Policy *p = NULL;

        assert_true(asprintf(&missing, "%s/missing.json", dir) >= 0);
        assert_true(asprintf(&subdir, "%s/dir.json", dir) >= 0);
        assert_int_equal(mkdir(subdir, 0755), 0);

        char *files[] = { good, missing, good, NULL };
        assert_int_equal(policy_load_files(files, &p, &errors), -EINVAL);
        assert_null(p);
        /* the missing file, and the duplicate ids of the good file read twice: reading goes on */
        assert_int_equal(errors.n_errors, 2);
        assert_string_equal(errors.errors[0].file, missing);
        assert_int_equal(errors.errors[0].line, 0);
        assert_int_equal(errors.errors[0].column, 0);
        assert_string_equal(errors.errors[0].message, "cannot read policy file: No such file or directory");
        assert_string_equal(errors.errors[1].file, good);
        assert_non_null(strstr(errors.errors[1].message, "duplicate rule id 'a'"));
        policy_errors_done(&errors);

        char *files2[] = { subdir, bad, good, NULL };
        assert_int_equal(policy_load_files(files2, &p, &errors), -EINVAL);
        assert_null(p);
        assert_int_equal(errors.n_errors, 2);
        assert_string_equal(errors.errors[0].file, subdir);
        assert_int_equal(errors.errors[0].line, 0);
        assert_non_null(strstr(errors.errors[0].message, "cannot read policy file: "));
        assert_string_equal(errors.errors[1].file, bad);
        assert_int_equal(errors.errors[1].line, 2);
        assert_int_equal(errors.errors[1].column, 12);
        assert_string_equal(errors.errors[1].message, "'rules' must be an array, not a number");
        policy_errors_done(&errors);

        /* a single bad file among good ones refuses the whole policy */
        char *files3[] = { good, bad, NULL };
        assert_int_equal(policy_load_files(files3, &p, &errors), -EINVAL);
        assert_null(p);
        assert_int_equal(errors.n_errors, 1);

        remove_tree(dir);
}

static void test_load_files_duplicate_across_files(void **state) {
        char *dir = make_temp_dir();
        _cleanup_free_ char *a =
                write_file(dir, "a.json",
                           "{\n"
                           "  \"version\": 1,\n"
                           "  \"rules\": [ { \"id\": \"lab-nic\", \"match\": { \"vendor\": \"8086\" } },\n"
                           "             { \"id\": \"gpu\", \"match\": { \"class\": \"03\" } } ]\n"
                           "}\n");
        _cleanup_free_ char *b = write_file(dir, "b.json",
                                            "{ \"version\": 1, \"rules\": [\n"
                                            "  { \"id\": \"other\", \"match\": {} },\n"
                                            "  { \"match\": {}, \"id\": \"gpu\" },\n"
                                            "  { \"id\": \"lab-nic\", \"match\": {} } ] }\n");
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_free_ char *m1 = NULL, *m2 = NULL;
        Policy *p = NULL;
        char *files[] = { a, b, NULL };

        assert_int_equal(policy_load_files(files, &p, &errors), -EINVAL);
        assert_null(p);
        assert_true(asprintf(&m1, "duplicate rule id 'gpu' (first defined at %s:4:14)", a) >= 0);
        assert_true(asprintf(&m2, "duplicate rule id 'lab-nic' (first defined at %s:3:14)", a) >= 0);
        assert_int_equal(errors.n_errors, 2);
        assert_string_equal(errors.errors[0].file, b);
        assert_int_equal(errors.errors[0].line, 3);
        assert_int_equal(errors.errors[0].column, 24);
        assert_string_equal(errors.errors[0].message, m1);
        assert_string_equal(errors.errors[1].file, b);
        assert_int_equal(errors.errors[1].line, 4);
        assert_int_equal(errors.errors[1].column, 11);
        assert_string_equal(errors.errors[1].message, m2);

        remove_tree(dir);
}

/* ---- policy_installed_files ------------------------------------------------------------- */

static void test_installed_files(void **state) {
        char *dir = make_temp_dir();
        _cleanup_free_ char *dropins = NULL, *missing = NULL;
        char **files = NULL;

        /* nothing installed: no files, which is fine */
        assert_int_equal(policy_installed_files(dir, &files), 0);
        assert_non_null(files);
        assert_int_equal(strv_length(files), 0);
        files = strv_free(files);

        assert_true(asprintf(&missing, "%s/does-not-exist", dir) >= 0);
        assert_int_equal(policy_installed_files(missing, &files), 0);
        assert_non_null(files);
        assert_int_equal(strv_length(files), 0);
        files = strv_free(files);

        /* drop-ins alone */
        assert_true(asprintf(&dropins, "%s/policy.d", dir) >= 0);
        assert_int_equal(mkdir(dropins, 0755), 0);
        free(write_file(dropins, "50-x.json", "{}"));
        assert_int_equal(policy_installed_files(dir, &files), 0);
        assert_int_equal(strv_length(files), 1);
        assert_non_null(strstr(files[0], "/policy.d/50-x.json"));
        files = strv_free(files);

        /* the main file first, then the drop-ins in lexical (not numeric) order; other names are not
         * policy */
        free(write_file(dir, "policy.json", "{}"));
        free(write_file(dir, "policy.json.bak", "{}"));
        free(write_file(dropins, "2-b.json", "{}"));
        free(write_file(dropins, "10-a.json", "{}"));
        free(write_file(dropins, "zz.json", "{}"));
        free(write_file(dropins, "README", "{}"));
        free(write_file(dropins, ".hidden.json", "{}"));
        free(write_file(dropins, ".json", "{}"));
        free(write_file(dropins, "old.json~", "{}"));
        free(write_file(dropins, "x.json.disabled", "{}"));
        free(write_file(dropins, "json", "{}"));
        assert_int_equal(policy_installed_files(dir, &files), 0);

        const char *expected[] = { "policy.json", "policy.d/10-a.json", "policy.d/2-b.json", "policy.d/50-x.json",
                                   "policy.d/zz.json" };
        assert_int_equal(strv_length(files), ELEMENTSOF(expected));
        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                _cleanup_free_ char *full = NULL;
                assert_true(asprintf(&full, "%s/%s", dir, expected[i]) >= 0);
                assert_string_equal(files[i], full);
        }
        files = strv_free(files);

        remove_tree(dir);
}

static void test_installed_files_load(void **state) {
        char *dir = make_temp_dir();
        _cleanup_free_ char *dropins = NULL;
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;

        assert_true(asprintf(&dropins, "%s/policy.d", dir) >= 0);
        assert_int_equal(mkdir(dropins, 0755), 0);
        free(write_file(dir, "policy.json",
                        "{ \"version\": 1, \"defaults\": { \"mode\": \"scratch-page\" },"
                        "  \"rules\": [ { \"id\": \"main\", \"match\": { \"class\": \"02\" } } ] }"));
        free(write_file(dropins, "20-late.json",
                        "{ \"version\": 1, \"rules\": [ { \"id\": \"late\", \"match\": {} } ] }"));
        free(write_file(dropins, "10-early.json",
                        "{ \"version\": 1, \"defaults\": { \"quarantine_on_unbind\": \"none\" },"
                        "  \"rules\": [ { \"id\": \"early\", \"match\": {} } ] }"));

        assert_int_equal(policy_installed_files(dir, &files), 0);
        assert_int_equal(policy_load_files(files, &p, &errors), 0);
        assert_int_equal(p->n_rules, 3);
        assert_string_equal(p->rules[0].id, "main");
        assert_string_equal(p->rules[1].id, "early");
        assert_string_equal(p->rules[2].id, "late");
        assert_int_equal(p->mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_int_equal(p->quarantine_on_unbind, UNBIND_POLICY_NONE);
        assert_string_equal(p->quarantine_on_unbind_file, files[1]);

        remove_tree(dir);
}

/* ---- evaluation: one key at a time ------------------------------------------------------ */

static void test_match_slot(void **state) {
        assert_true(nic_matches("slot", "\"0000:03:00.0\""));
        assert_true(nic_matches("slot", "\"03:00.0\""));
        assert_false(nic_matches("slot", "\"0000:03:00.1\""));
        assert_false(nic_matches("slot", "\"0001:03:00.0\""));
        assert_false(nic_matches("slot", "\"0000:04:00.0\""));
        /* partial, lspci style */
        assert_true(nic_matches("slot", "\"03:\""));
        assert_false(nic_matches("slot", "\"04:\""));
        assert_true(nic_matches("slot", "\"0000:03:\""));
        assert_false(nic_matches("slot", "\"0000:00:\""));
        assert_true(nic_matches("slot", "\"03:00.*\""));
        assert_true(nic_matches("slot", "\"03:00\""));
        assert_true(nic_matches("slot", "\".0\""));
        assert_false(nic_matches("slot", "\".3\""));
        assert_true(nic_matches("slot", "\"*\""));

        PciDevice d = nic();
        set_slot(&d, "0000:00:1f.3");
        assert_true(key_matches("slot", "\"00:1f.*\"", &d, NULL));
        assert_true(key_matches("slot", "\"00:1f\"", &d, NULL));
        assert_true(key_matches("slot", "\".3\"", &d, NULL));
        assert_true(key_matches("slot", "\"0000:00:\"", &d, NULL));
        assert_true(key_matches("slot", "\"1f\"", &d, NULL));
        assert_false(key_matches("slot", "\"00:1e.*\"", &d, NULL));
        assert_false(key_matches("slot", "\"01:1f.*\"", &d, NULL));
        assert_false(key_matches("slot", "\"00:1f.2\"", &d, NULL));
        set_slot(&d, "10000:00:1f.3");
        assert_true(key_matches("slot", "\"00:1f.*\"", &d, NULL));
        assert_false(key_matches("slot", "\"0000:00:\"", &d, NULL));
        assert_true(key_matches("slot", "\"10000:00:1f.3\"", &d, NULL));
}

static void test_match_ids(void **state) {
        assert_true(nic_matches("vendor", "\"8086\""));
        assert_false(nic_matches("vendor", "\"8087\""));
        assert_true(nic_matches("device", "\"10d3\""));
        assert_true(nic_matches("device", "\"10D3\""));
        assert_false(nic_matches("device", "\"10d4\""));
        assert_true(nic_matches("subsystem_vendor", "\"8086\""));
        assert_false(nic_matches("subsystem_vendor", "\"17aa\""));
        assert_true(nic_matches("subsystem_device", "\"a01f\""));
        assert_false(nic_matches("subsystem_device", "\"a01e\""));
        /* vendor and subsystem_vendor are different fields */
        PciDevice d = nic();
        d.subsystem_vendor = 0x17aa;
        assert_true(key_matches("vendor", "\"8086\"", &d, NULL));
        assert_false(key_matches("subsystem_vendor", "\"8086\"", &d, NULL));
        assert_false(key_matches("device", "\"a01f\"", &d, NULL));
}

static void test_match_class(void **state) {
        PciDevice d = nic();

        /* 0x020000: network, ethernet */
        assert_true(key_matches("class", "\"02\"", &d, NULL));
        assert_true(key_matches("class", "\"0200\"", &d, NULL));
        assert_true(key_matches("class", "\"020000\"", &d, NULL));
        assert_false(key_matches("class", "\"03\"", &d, NULL));
        assert_false(key_matches("class", "\"0280\"", &d, NULL));
        assert_false(key_matches("class", "\"020001\"", &d, NULL));
        /* a prefix is a prefix of the six digits, not a number that could also be a suffix */
        assert_false(key_matches("class", "\"00\"", &d, NULL));
        assert_false(key_matches("class", "\"0000\"", &d, NULL));

        d.class = 0x0c0330; /* USB xHCI */
        assert_true(key_matches("class", "\"0c\"", &d, NULL));
        assert_true(key_matches("class", "\"0C03\"", &d, NULL));
        assert_true(key_matches("class", "\"0c0330\"", &d, NULL));
        assert_false(key_matches("class", "\"0c0320\"", &d, NULL));
        assert_false(key_matches("class", "\"0c05\"", &d, NULL));
        assert_false(key_matches("class", "\"30\"", &d, NULL));
        assert_false(key_matches("class", "\"0330\"", &d, NULL));

        d.class = 0x028000; /* network, other */
        assert_true(key_matches("class", "\"02\"", &d, NULL));
        assert_false(key_matches("class", "\"0200\"", &d, NULL));
        assert_true(key_matches("class", "\"0280\"", &d, NULL));
}

static void test_match_driver(void **state) {
        PciDevice d = nic();

        assert_true(key_matches("driver", "\"e1000e\"", &d, "e1000e"));
        assert_false(key_matches("driver", "\"igb\"", &d, "e1000e"));
        /* the driver the caller names counts, not the one bound now: a quarantined device is on
         * vfio-pci, and rules speak of its host driver */
        d.driver = driver_vfio;
        assert_true(key_matches("driver", "\"e1000e\"", &d, "e1000e"));
        assert_false(key_matches("driver", "\"vfio-pci\"", &d, "e1000e"));
        /* no driver matches no driver rule */
        assert_false(key_matches("driver", "\"e1000e\"", &d, NULL));
        assert_false(key_matches("driver", "\"vfio-pci\"", &d, NULL));
        d.driver = NULL;
        assert_true(key_matches("driver", "\"vfio-pci\"", &d, "vfio-pci"));
        /* exact, case-sensitive names */
        assert_false(key_matches("driver", "\"E1000E\"", &d, "e1000e"));
        assert_false(key_matches("driver", "\"e1000\"", &d, "e1000e"));
}

static void test_match_serial(void **state) {
        PciDevice d = nic();

        assert_true(key_matches("serial", "\"00-1b-21-ff-ff-8a-1c-04\"", &d, NULL));
        assert_true(key_matches("serial", "\"001b21ffff8a1c04\"", &d, NULL));
        assert_true(key_matches("serial", "\"00:1B:21:FF:FF:8A:1C:04\"", &d, NULL));
        assert_false(key_matches("serial", "\"00-1b-21-ff-ff-8a-1c-05\"", &d, NULL));
        assert_false(key_matches("serial", "\"041c8affff211b00\"", &d, NULL));
        /* a device without a serial number matches no serial, not even zero */
        d.has_dsn = false;
        assert_false(key_matches("serial", "\"00-1b-21-ff-ff-8a-1c-04\"", &d, NULL));
        d.dsn = 0;
        assert_false(key_matches("serial", "\"0000000000000000\"", &d, NULL));
        d.has_dsn = true;
        assert_true(key_matches("serial", "\"0000000000000000\"", &d, NULL));
}

static void test_match_parent(void **state) {
        static char other_parent[] = "0001:80:02.0";
        char *one_parent[] = { other_parent, NULL };
        PciDevice d = nic();

        /* any upstream bridge, not only the nearest */
        assert_true(key_matches("parent", "\"0000:00:1c.0\"", &d, NULL));
        assert_true(key_matches("parent", "\"0000:00:01.0\"", &d, NULL));
        assert_true(key_matches("parent", "\"00:1c.0\"", &d, NULL));
        assert_true(key_matches("parent", "\"00:01.*\"", &d, NULL));
        assert_true(key_matches("parent", "\"0000:00:\"", &d, NULL));
        assert_false(key_matches("parent", "\"0000:00:1c.1\"", &d, NULL));
        assert_false(key_matches("parent", "\"0000:00:02.0\"", &d, NULL));
        assert_false(key_matches("parent", "\"01:\"", &d, NULL));
        /* the device itself is not its own parent */
        assert_false(key_matches("parent", "\"0000:03:00.0\"", &d, NULL));

        d.parents = one_parent;
        assert_true(key_matches("parent", "\"0001:80:02.0\"", &d, NULL));
        assert_false(key_matches("parent", "\"0000:80:02.0\"", &d, NULL));
        assert_false(key_matches("parent", "\"0000:00:1c.0\"", &d, NULL));

        /* a device on a root bus has no parents */
        d.parents = NULL;
        assert_false(key_matches("parent", "\"0000:00:1c.0\"", &d, NULL));
        assert_false(key_matches("parent", "\"*\"", &d, NULL));
}

static void test_match_arrays_one_of(void **state) {
        PciDevice d = nic();

        assert_true(key_matches("vendor", "[\"10de\", \"8086\"]", &d, NULL));
        assert_false(key_matches("vendor", "[\"10de\", \"1002\"]", &d, NULL));
        assert_true(key_matches("class", "[\"03\", \"0200\"]", &d, NULL));
        assert_true(key_matches("slot", "[\"04:\", \"0000:03:00.0\"]", &d, NULL));
        assert_false(key_matches("slot", "[\"04:\", \"05:\"]", &d, NULL));
        assert_true(key_matches("driver", "[\"igb\", \"e1000e\", \"ixgbe\"]", &d, "e1000e"));
        assert_false(key_matches("driver", "[\"igb\", \"ixgbe\"]", &d, "e1000e"));
        assert_true(key_matches("serial", "[\"0000000000000001\", \"001b21ffff8a1c04\"]", &d, NULL));
        assert_true(key_matches("parent", "[\"0000:00:02.0\", \"0000:00:01.0\"]", &d, NULL));
        assert_true(key_matches("device", "[\"10d3\"]", &d, NULL));
}

/* All keys must hold: a rule with every key matches the NIC, and changing any one of the device's
 * properties makes that key, and so the rule, fail. */
static void test_match_all_keys_and(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{ \"version\": 1, \"rules\": [ { \"id\": \"all\", \"match\": {"
                "  \"slot\": \"0000:03:00.0\", \"vendor\": \"8086\", \"device\": \"10d3\","
                "  \"subsystem_vendor\": \"8086\", \"subsystem_device\": \"a01f\", \"class\": \"0200\","
                "  \"driver\": \"e1000e\", \"serial\": \"00-1b-21-ff-ff-8a-1c-04\", \"parent\": \"0000:00:1c.0\" },"
                "  \"passthrough\": \"allow\" } ] }");
        static char other_parent[] = "0000:00:1d.0";
        char *other_parents[] = { other_parent, NULL };
        const Rule *r = &p->rules[0];

        PciDevice base = nic();
        PolicyDevice pd = { .device = &base, .driver = "e1000e" };
        assert_true(rule_matches(r, &pd));

        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                PciDevice d = nic();
                const char *driver = "e1000e";
                PolicyVerdict v;

                switch (k) {
                case MATCH_SLOT: set_slot(&d, "0000:03:00.1"); break;
                case MATCH_VENDOR: d.vendor = 0x8087; break;
                case MATCH_DEVICE: d.device = 0x10d4; break;
                case MATCH_SUBSYSTEM_VENDOR: d.subsystem_vendor = 0x8087; break;
                case MATCH_SUBSYSTEM_DEVICE: d.subsystem_device = 0xa01e; break;
                case MATCH_CLASS: d.class = 0x028000; break;
                case MATCH_DRIVER: driver = "igb"; break;
                case MATCH_SERIAL: d.dsn++; break;
                case MATCH_PARENT: d.parents = other_parents; break;
                default: fail();
                }
                pd = (PolicyDevice) { .device = &d, .driver = driver };
                for (MatchKey j = 0; j < _MATCH_KEY_MAX; j++)
                        if (rule_key_matches(r, j, &pd, NULL) != (j != k))
                                fail_msg("changing %s: key %s matches %s", match_key_to_string(k),
                                         match_key_to_string(j), j == k ? "still" : "no more");
                assert_false(rule_matches(r, &pd));
                policy_evaluate(p, &pd, &v);
                assert_null(v.rule);
                assert_int_equal(v.passthrough, PASSTHROUGH_DENY);
        }
}

static void test_rule_key_matches_actual(void **state) {
        _cleanup_(policy_freep) Policy *p =
                parse_ok("{ \"version\": 1, \"rules\": [ { \"id\": \"r\", \"match\": { \"vendor\": \"10de\" } } ] }");
        static char root_port[] = "0000:00:1c.4";
        char *parents[] = { root_port, NULL };
        const Rule *r = &p->rules[0];
        PciDevice d = nic();
        PolicyDevice pd = { .device = &d, .driver = d.driver };
        static const char *const nic_actual[_MATCH_KEY_MAX] = {
                [MATCH_SLOT] = "0000:03:00.0",
                [MATCH_VENDOR] = "8086",
                [MATCH_DEVICE] = "10d3",
                [MATCH_SUBSYSTEM_VENDOR] = "8086",
                [MATCH_SUBSYSTEM_DEVICE] = "a01f",
                [MATCH_CLASS] = "020000",
                [MATCH_DRIVER] = "e1000e",
                [MATCH_SERIAL] = "00-1b-21-ff-ff-8a-1c-04",
                [MATCH_PARENT] = "0000:00:1c.0 0000:00:01.0",
        };

        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                _cleanup_free_ char *actual = NULL;
                /* a key the rule does not name holds; only vendor is named, and does not */
                assert_int_equal(rule_key_matches(r, k, &pd, &actual), k != MATCH_VENDOR);
                assert_non_null(actual);
                assert_string_equal(actual, nic_actual[k]);
        }
        assert_false(rule_key_matches(r, MATCH_VENDOR, &pd, NULL));

        /* small values are zero-padded; missing things are "(none)" */
        static const char *const other_actual[_MATCH_KEY_MAX] = {
                [MATCH_SLOT] = "0001:0a:1f.7",     [MATCH_VENDOR] = "1af4",           [MATCH_DEVICE] = "0001",
                [MATCH_SUBSYSTEM_VENDOR] = "0000", [MATCH_SUBSYSTEM_DEVICE] = "000f", [MATCH_CLASS] = "010802",
                [MATCH_DRIVER] = "(none)",         [MATCH_SERIAL] = "(none)",         [MATCH_PARENT] = "0000:00:1c.4",
        };
        set_slot(&d, "0001:0a:1f.7");
        d.vendor = 0x1af4;
        d.device = 0x0001;
        d.subsystem_vendor = 0;
        d.subsystem_device = 0xf;
        d.class = 0x010802;
        d.has_dsn = false;
        d.parents = parents;
        pd.driver = NULL;
        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                _cleanup_free_ char *actual = NULL;
                (void) rule_key_matches(r, k, &pd, &actual);
                assert_string_equal(actual, other_actual[k]);
        }

        _cleanup_free_ char *none = NULL, *serial = NULL;
        d.parents = NULL;
        (void) rule_key_matches(r, MATCH_PARENT, &pd, &none);
        assert_string_equal(none, "(none)");
        d.has_dsn = true;
        d.dsn = UINT64_C(0xfedcba9876543210);
        (void) rule_key_matches(r, MATCH_SERIAL, &pd, &serial);
        assert_string_equal(serial, "fe-dc-ba-98-76-54-32-10");
}

/* ---- evaluation: the policy as a whole -------------------------------------------------- */

static void test_first_match_wins(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{ \"version\": 1, \"rules\": [\n"
                "  { \"id\": \"intel-deny\", \"match\": { \"vendor\": \"8086\" }, \"passthrough\": \"deny\" },\n"
                "  { \"id\": \"nics-allow\", \"match\": { \"class\": \"02\" }, \"passthrough\": \"allow\" },\n"
                "  { \"id\": \"intel-nic-allow\", \"match\": { \"vendor\": \"8086\", \"class\": \"02\" },\n"
                "    \"passthrough\": \"allow\" },\n"
                "  { \"id\": \"rest\", \"match\": {}, \"passthrough\": \"allow\" }\n"
                "] }");
        PciDevice d = nic();
        PolicyDevice pd = { .device = &d, .driver = d.driver };
        PolicyVerdict v;

        /* an Intel NIC: the first rule, although a later one would allow it */
        policy_evaluate(p, &pd, &v);
        assert_ptr_equal(v.rule, &p->rules[0]);
        assert_int_equal(v.passthrough, PASSTHROUGH_DENY);
        /* rule_matches is per rule: the later ones match too */
        assert_true(rule_matches(&p->rules[2], &pd));
        assert_true(rule_matches(&p->rules[3], &pd));

        d.vendor = 0x10ec;
        policy_evaluate(p, &pd, &v);
        assert_string_equal(v.rule->id, "nics-allow");
        assert_int_equal(v.passthrough, PASSTHROUGH_ALLOW);

        d.class = 0x030000;
        assert_string_equal(evaluate_rule_id(p, &d), "rest");
}

static void test_no_match_denies(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{ \"version\": 1,"
                "  \"defaults\": { \"mode\": \"scratch-page\", \"quarantine_on_unbind\": \"all\", \"scratch_cover\": \"32G\" },"
                "  \"rules\": [ { \"id\": \"gpu\", \"match\": { \"class\": \"03\" }, \"passthrough\": \"allow\","
                "                \"allow_unsafe_interrupts\": true } ] }");
        _cleanup_(policy_freep) Policy *empty = policy_new_default();
        PciDevice d = nic();
        PolicyDevice pd = { .device = &d, .driver = d.driver };
        PolicyVerdict v;

        memset(&v, 0xaa, sizeof(v));
        policy_evaluate(p, &pd, &v);
        assert_null(v.rule);
        assert_int_equal(v.passthrough, PASSTHROUGH_DENY);
        assert_int_equal(v.mode, QUARANTINE_MODE_SCRATCH_PAGE);
        assert_true(v.quarantine_on_unbind);
        assert_false(v.allow_unsafe_interrupts);
        assert_int_equal(v.scratch_cover, UINT64_C(32) << 30);

        /* no rules at all: the built-in defaults */
        memset(&v, 0xaa, sizeof(v));
        policy_evaluate(empty, &pd, &v);
        assert_null(v.rule);
        assert_int_equal(v.passthrough, PASSTHROUGH_DENY);
        assert_int_equal(v.mode, QUARANTINE_MODE_BLOCKED);
        assert_true(v.quarantine_on_unbind);
        assert_false(v.allow_unsafe_interrupts);
        assert_int_equal(v.scratch_cover, POLICY_DEFAULT_SCRATCH_COVER);
}

static void test_mode_override(void **state) {
        _cleanup_(policy_freep) Policy *p =
                parse_ok("{ \"version\": 1, \"defaults\": { \"mode\": \"scratch-page\" }, \"rules\": [\n"
                         "  { \"id\": \"blocked\", \"match\": { \"vendor\": \"8086\" }, \"mode\": \"blocked\" },\n"
                         "  { \"id\": \"inherit\", \"match\": {} } ] }");
        _cleanup_(policy_freep) Policy *q =
                parse_ok("{ \"version\": 1, \"rules\": [\n"
                         "  { \"id\": \"scratch\", \"match\": { \"vendor\": \"8086\" }, \"mode\": \"scratch-page\" },\n"
                         "  { \"id\": \"inherit\", \"match\": {} } ] }");
        PciDevice d = nic();
        PolicyDevice pd = { .device = &d, .driver = d.driver };
        PolicyVerdict v;

        policy_evaluate(p, &pd, &v);
        assert_int_equal(v.mode, QUARANTINE_MODE_BLOCKED);
        policy_evaluate(q, &pd, &v);
        assert_int_equal(v.mode, QUARANTINE_MODE_SCRATCH_PAGE);

        d.vendor = 0x1af4;
        policy_evaluate(p, &pd, &v);
        assert_string_equal(v.rule->id, "inherit");
        assert_int_equal(v.mode, QUARANTINE_MODE_SCRATCH_PAGE);
        policy_evaluate(q, &pd, &v);
        assert_int_equal(v.mode, QUARANTINE_MODE_BLOCKED);
}

static void test_quarantine_on_unbind(void **state) {
        static const struct {
                const char *unbind;
                bool no_match, rule_unset; /* rules that say true or false are obeyed in every case */
        } table[] = {
                { "all", true, true },
                { "matched", false, true },
                { "none", false, false },
        };

        FOREACH_ARRAY(t, table, ELEMENTSOF(table)) {
                _cleanup_(policy_freep) Policy *p = NULL;
                _cleanup_free_ char *text = NULL;
                PciDevice d = nic();
                PolicyDevice pd = { .device = &d, .driver = d.driver };
                PolicyVerdict v;

                assert_true(
                        asprintf(
                                &text,
                                "{ \"version\": 1, \"defaults\": { \"quarantine_on_unbind\": \"%s\" }, \"rules\": [\n"
                                "  { \"id\": \"yes\", \"match\": { \"device\": \"0001\" }, \"quarantine_on_unbind\": true },\n"
                                "  { \"id\": \"no\", \"match\": { \"device\": \"0002\" }, \"quarantine_on_unbind\": false },\n"
                                "  { \"id\": \"unset\", \"match\": { \"device\": \"0003\" }, \"passthrough\": \"allow\" },\n"
                                "  { \"id\": \"unset-deny\", \"match\": { \"device\": \"0004\" } } ] }",
                                t->unbind) >= 0);
                p = parse_ok(text);
                assert_int_equal(p->quarantine_on_unbind, unbind_policy_from_string(t->unbind));

                d.device = 0x9999;
                policy_evaluate(p, &pd, &v);
                assert_null(v.rule);
                assert_int_equal(v.quarantine_on_unbind, t->no_match);
                d.device = 0x0001;
                policy_evaluate(p, &pd, &v);
                assert_string_equal(v.rule->id, "yes");
                assert_true(v.quarantine_on_unbind);
                d.device = 0x0002;
                policy_evaluate(p, &pd, &v);
                assert_string_equal(v.rule->id, "no");
                assert_false(v.quarantine_on_unbind);
                /* "matched": whichever way the rule decides passthrough */
                d.device = 0x0003;
                policy_evaluate(p, &pd, &v);
                assert_string_equal(v.rule->id, "unset");
                assert_int_equal(v.quarantine_on_unbind, t->rule_unset);
                d.device = 0x0004;
                policy_evaluate(p, &pd, &v);
                assert_string_equal(v.rule->id, "unset-deny");
                assert_int_equal(v.quarantine_on_unbind, t->rule_unset);
        }
}

static void test_allow_unsafe_interrupts_and_cover(void **state) {
        _cleanup_(policy_freep) Policy *p =
                parse_ok("{ \"version\": 1, \"defaults\": { \"scratch_cover\": \"64G\" }, \"rules\": [\n"
                         "  { \"id\": \"unsafe\", \"match\": { \"device\": \"0001\" }, \"passthrough\": \"allow\",\n"
                         "    \"allow_unsafe_interrupts\": true, \"scratch_cover\": \"1T\" },\n"
                         "  { \"id\": \"safe\", \"match\": { \"device\": \"0002\" }, \"passthrough\": \"allow\",\n"
                         "    \"allow_unsafe_interrupts\": false },\n"
                         "  { \"id\": \"plain\", \"match\": { \"device\": \"0003\" } } ] }");
        _cleanup_(policy_freep) Policy *builtin =
                parse_ok("{ \"version\": 1, \"rules\": [ { \"id\": \"r\", \"match\": {} }, "
                         "{ \"id\": \"never\", \"match\": { \"vendor\": \"0000\" }, \"scratch_cover\": \"2M\" } ] }");
        PciDevice d = nic();
        PolicyDevice pd = { .device = &d, .driver = d.driver };
        PolicyVerdict v;

        d.device = 1;
        policy_evaluate(p, &pd, &v);
        assert_true(v.allow_unsafe_interrupts);
        assert_int_equal(v.scratch_cover, UINT64_C(1) << 40);
        d.device = 2;
        policy_evaluate(p, &pd, &v);
        assert_false(v.allow_unsafe_interrupts);
        assert_int_equal(v.scratch_cover, UINT64_C(64) << 30);
        d.device = 3;
        policy_evaluate(p, &pd, &v);
        assert_false(v.allow_unsafe_interrupts);
        assert_int_equal(v.scratch_cover, UINT64_C(64) << 30);
        d.device = 4;
        policy_evaluate(p, &pd, &v);
        assert_null(v.rule);
        assert_false(v.allow_unsafe_interrupts);
        assert_int_equal(v.scratch_cover, UINT64_C(64) << 30);

        policy_evaluate(builtin, &pd, &v);
        assert_string_equal(v.rule->id, "r");
        assert_int_equal(v.scratch_cover, UINT64_C(4) << 30);
}

/* ---- release decisions ------------------------------------------------------------------ */

static void test_release_decision(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{ \"version\": 1, \"rules\": [\n"
                "  { \"id\": \"lab-nic\", \"match\": { \"device\": \"0001\" }, \"passthrough\": \"allow\" },\n"
                "  { \"id\": \"lab-unsafe\", \"match\": { \"device\": \"0002\" }, \"passthrough\": \"allow\", \"allow_unsafe_interrupts\": true },\n"
                "  { \"id\": \"deny-unsafe\", \"match\": { \"device\": \"0003\" }, \"passthrough\": \"deny\", \"allow_unsafe_interrupts\": true },\n"
                "  { \"id\": \"no-nic\", \"match\": { \"device\": \"0004\" } } ] }");
        PciDevice d = nic();
        PolicyDevice pd = { .device = &d, .driver = d.driver };
        PolicyVerdict v;
        char *s;

        /* allowed, interrupts isolated */
        d.device = 1;
        policy_evaluate(p, &pd, &v);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_SAFE), RELEASE_ALLOWED);
        s = release_decision_explain(RELEASE_ALLOWED, &v, d.slot, INTERRUPTS_SAFE);
        assert_string_equal(s, "0000:03:00.0 may be passed through: rule 'lab-nic' (test.json:2) allows it and its "
                               "interrupts are isolated.");
        free(s);

        /* allowed by the rule, but the interrupts are not isolated, or nobody knows */
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_UNSAFE), RELEASE_DENIED_UNSAFE_INTERRUPTS);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_UNKNOWN), RELEASE_DENIED_UNSAFE_INTERRUPTS);
        s = release_decision_explain(RELEASE_DENIED_UNSAFE_INTERRUPTS, &v, d.slot, INTERRUPTS_UNSAFE);
        assert_string_equal(s,
                            "0000:03:00.0 may not be passed through: rule 'lab-nic' (test.json:2) allows it, but its "
                            "interrupts are not isolated (no interrupt remapping or MSI isolation; see 'isolatectl "
                            "audit'), and the rule does not set allow_unsafe_interrupts.");
        free(s);
        s = release_decision_explain(RELEASE_DENIED_UNSAFE_INTERRUPTS, &v, d.slot, INTERRUPTS_UNKNOWN);
        assert_non_null(strstr(s, "but its interrupts are of unknown safety (no interrupt remapping"));
        free(s);

        /* the rule accepts unsafe interrupts */
        d.device = 2;
        policy_evaluate(p, &pd, &v);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_UNSAFE), RELEASE_ALLOWED);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_UNKNOWN), RELEASE_ALLOWED);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_SAFE), RELEASE_ALLOWED);
        s = release_decision_explain(RELEASE_ALLOWED, &v, d.slot, INTERRUPTS_UNSAFE);
        assert_string_equal(s, "0000:03:00.0 may be passed through: rule 'lab-unsafe' (test.json:3) allows it and "
                               "accepts unsafe interrupts (allow_unsafe_interrupts).");
        free(s);
        s = release_decision_explain(RELEASE_ALLOWED, &v, d.slot, INTERRUPTS_SAFE);
        assert_non_null(strstr(s, "allows it and its interrupts are isolated."));
        free(s);

        /* denied by a rule: allow_unsafe_interrupts does not turn a deny into an allow */
        d.device = 3;
        policy_evaluate(p, &pd, &v);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_SAFE), RELEASE_DENIED_BY_POLICY);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_UNSAFE), RELEASE_DENIED_BY_POLICY);
        s = release_decision_explain(RELEASE_DENIED_BY_POLICY, &v, d.slot, INTERRUPTS_SAFE);
        assert_string_equal(s, "0000:03:00.0 may not be passed through: rule 'deny-unsafe' (test.json:4) denies it.");
        free(s);
        d.device = 4;
        policy_evaluate(p, &pd, &v);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_SAFE), RELEASE_DENIED_BY_POLICY);
        s = release_decision_explain(RELEASE_DENIED_BY_POLICY, &v, d.slot, INTERRUPTS_SAFE);
        assert_string_equal(s, "0000:03:00.0 may not be passed through: rule 'no-nic' (test.json:5) denies it.");
        free(s);

        /* no rule */
        d.device = 5;
        policy_evaluate(p, &pd, &v);
        assert_null(v.rule);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_SAFE), RELEASE_DENIED_BY_POLICY);
        assert_int_equal(policy_release_to_guest(&v, INTERRUPTS_UNKNOWN), RELEASE_DENIED_BY_POLICY);
        s = release_decision_explain(RELEASE_DENIED_BY_POLICY, &v, d.slot, INTERRUPTS_SAFE);
        assert_string_equal(s, "0000:03:00.0 may not be passed through: no policy rule matches it, and unmatched "
                               "devices are denied.");
        free(s);
}

/* ---- sizes ------------------------------------------------------------------------------ */

static void size_ok(const char *s, uint64_t expected) {
        uint64_t v = 12345;
        int r = parse_size(s, &v);
        if (r < 0 || v != expected)
                fail_msg("parse_size(\"%s\"): r=%d, %" PRIu64 ", expected %" PRIu64, s, r, v, expected);
}

static void size_fails(const char *s, int expected) {
        uint64_t v = 12345;
        int r = parse_size(s, &v);
        if (r != expected)
                fail_msg("parse_size(\"%s\"): r=%d, expected %d", strna(s), r, expected);
        assert_int_equal(v, 12345);
}

static void test_parse_size(void **state) {
        size_ok("0", 0);
        size_ok("1", 1);
        size_ok("4096", 4096);
        size_ok("007", 7);
        size_ok("1B", 1);
        size_ok("1K", 1024);
        size_ok("1KiB", 1024);
        size_ok("2M", UINT64_C(2) << 20);
        size_ok("512MiB", UINT64_C(512) << 20);
        size_ok("4G", UINT64_C(4) << 30);
        size_ok("64GiB", UINT64_C(64) << 30);
        size_ok("1T", UINT64_C(1) << 40);
        size_ok("256TiB", UINT64_C(1) << 48);
        size_ok("16777215T", UINT64_C(16777215) << 40);
        size_ok("17179869183G", UINT64_C(17179869183) << 30);
        size_ok("18446744073709551615", UINT64_MAX);
        size_ok("18446744073709551610", UINT64_MAX - 5);
        size_ok("18446744073709551615B", UINT64_MAX);
        size_ok("18014398509481983K", UINT64_C(18014398509481983) << 10);

        size_fails("16777216T", -ERANGE);
        size_fails("17179869184G", -ERANGE);
        size_fails("18014398509481984K", -ERANGE);
        size_fails("18446744073709551616", -ERANGE);
        size_fails("99999999999999999999", -ERANGE);
        size_fails("99999999999999999999T", -ERANGE);
        size_fails("999999999999999999999999999999", -ERANGE);

        size_fails("4X", -EINVAL);
        size_fails("", -EINVAL);
        size_fails("-1", -EINVAL);
        size_fails("+1", -EINVAL);
        size_fails(" 4G", -EINVAL);
        size_fails("4G ", -EINVAL);
        size_fails("4 G", -EINVAL);
        size_fails("G", -EINVAL);
        size_fails("4g", -EINVAL);
        size_fails("4k", -EINVAL);
        size_fails("4GB", -EINVAL);
        size_fails("4Gi", -EINVAL);
        size_fails("4.5G", -EINVAL);
        size_fails("0x10", -EINVAL);
        size_fails("4GG", -EINVAL);
        size_fails(NULL, -EINVAL);
}

static void test_format_size(void **state) {
        char buf[32];

        assert_ptr_equal(format_size(0, buf), buf);
        assert_string_equal(buf, "0");
        assert_string_equal(format_size(1, buf), "1");
        assert_string_equal(format_size(1023, buf), "1023");
        assert_string_equal(format_size(1024, buf), "1K");
        assert_string_equal(format_size(1536, buf), "1536");
        assert_string_equal(format_size(UINT64_C(3) << 10, buf), "3K");
        assert_string_equal(format_size(UINT64_C(2) << 20, buf), "2M");
        assert_string_equal(format_size(UINT64_C(1025) << 10, buf), "1025K");
        assert_string_equal(format_size(UINT64_C(4) << 30, buf), "4G");
        assert_string_equal(format_size(UINT64_C(1536) << 20, buf), "1536M");
        assert_string_equal(format_size(UINT64_C(1) << 40, buf), "1T");
        assert_string_equal(format_size((UINT64_C(1) << 40) + (UINT64_C(1) << 30), buf), "1025G");
        assert_string_equal(format_size(UINT64_C(1) << 48, buf), "256T");
        assert_string_equal(format_size(UINT64_C(1) << 63, buf), "8388608T");
        assert_string_equal(format_size(UINT64_MAX, buf), "18446744073709551615");
}

static void test_size_round_trip(void **state) {
        static const uint64_t values[] = {
                0,
                1,
                2,
                1000,
                1023,
                1024,
                4095,
                4096,
                UINT64_C(2) << 20,
                (UINT64_C(2) << 20) + 1,
                UINT64_C(3) << 30,
                UINT64_C(1) << 40,
                UINT64_C(7) << 40,
                (UINT64_C(1) << 40) + 1024,
                UINT64_C(1) << 48,
                UINT64_C(1) << 63,
                UINT64_MAX,
                UINT64_MAX - 1,
                UINT64_MAX & ~UINT64_C(1023),
        };
        char buf[32];

        FOREACH_ARRAY(v, values, ELEMENTSOF(values)) {
                uint64_t back = 0;
                assert_int_equal(parse_size(format_size(*v, buf), &back), 0);
                if (back != *v)
                        fail_msg("%" PRIu64 " -> \"%s\" -> %" PRIu64, *v, buf, back);
        }
}

/* ---- JSON output ------------------------------------------------------------------------ */

static json_object *get(json_object *o, const char *key) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v))
                fail_msg("no '%s' in %s", key, json_object_to_json_string(o));
        return v;
}

static void assert_json_string(json_object *o, const char *key, const char *expected) {
        json_object *v = get(o, key);
        if (!expected) {
                assert_null(v);
                return;
        }
        assert_true(json_object_is_type(v, json_type_string));
        assert_string_equal(json_object_get_string(v), expected);
}

static void test_policy_to_json(void **state) {
        _cleanup_free_ char *path = fixture_path("policy/good/full.json");
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        char *one[] = { path, NULL };
        json_object *o = NULL, *d, *rules, *r, *m;

        assert_int_equal(policy_load_files(one, &p, &errors), 0);
        assert_int_equal(policy_to_json(p, &o), 0);

        assert_int_equal(json_object_get_int(get(o, "version")), 1);
        assert_true(json_object_is_type(get(o, "version"), json_type_int));
        assert_int_equal(json_object_array_length(get(o, "files")), 1);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(get(o, "files"), 0)), path);

        d = get(o, "defaults");
        assert_int_equal(json_object_object_length(d), 7);
        assert_json_string(d, "max_scratch_cover", "64G");
        assert_json_string(d, "mode", "scratch-page");
        assert_json_string(d, "mode_file", path);
        assert_json_string(d, "quarantine_on_unbind", "matched");
        assert_json_string(d, "quarantine_on_unbind_file", path);
        assert_json_string(d, "scratch_cover", "64G");
        assert_json_string(d, "scratch_cover_file", path);

        rules = get(o, "rules");
        assert_int_equal(json_object_array_length(rules), 2);
        r = json_object_array_get_idx(rules, 0);
        assert_json_string(r, "id", "everything");
        assert_json_string(r, "file", path);
        assert_int_equal(json_object_get_int(get(r, "line")), 12);
        assert_json_string(r, "passthrough", "allow");
        assert_json_string(r, "mode", "blocked");
        assert_true(json_object_is_type(get(r, "quarantine_on_unbind"), json_type_boolean));
        assert_false(json_object_get_boolean(get(r, "quarantine_on_unbind")));
        assert_true(json_object_get_boolean(get(r, "allow_unsafe_interrupts")));
        assert_json_string(r, "scratch_cover", "2M");
        assert_json_string(r, "comment", "one exact card");
        m = get(r, "match");
        assert_int_equal(json_object_object_length(m), _MATCH_KEY_MAX);
        /* values as written */
        assert_json_string(m, "slot", "0000:03:00.0");
        assert_json_string(m, "vendor", "8086");
        assert_json_string(m, "device", "10D3");
        assert_json_string(m, "subsystem_vendor", "8086");
        assert_json_string(m, "subsystem_device", "a01f");
        assert_json_string(m, "class", "020000");
        assert_json_string(m, "driver", "e1000e");
        assert_json_string(m, "serial", "00-1b-21-ff-ff-8a-1c-04");
        assert_json_string(m, "parent", "0000:00:1c.0");

        r = json_object_array_get_idx(rules, 1);
        assert_json_string(r, "id", "nics");
        assert_int_equal(json_object_get_int(get(r, "line")), 32);
        assert_json_string(r, "passthrough", "deny");
        assert_json_string(r, "mode", NULL);
        assert_true(json_object_get_boolean(get(r, "quarantine_on_unbind")));
        assert_true(json_object_is_type(get(r, "allow_unsafe_interrupts"), json_type_boolean));
        assert_false(json_object_get_boolean(get(r, "allow_unsafe_interrupts")));
        assert_json_string(r, "scratch_cover", NULL);
        assert_json_string(r, "comment", NULL);
        m = get(r, "match");
        assert_int_equal(json_object_object_length(m), 1);
        assert_json_string(m, "class", "0200");

        json_object_put(o);
}

static void test_policy_to_json_default(void **state) {
        _cleanup_(policy_freep) Policy *p = policy_new_default();
        json_object *o = NULL, *d;

        assert_int_equal(policy_to_json(p, &o), 0);
        assert_int_equal(json_object_array_length(get(o, "files")), 0);
        assert_int_equal(json_object_array_length(get(o, "rules")), 0);
        d = get(o, "defaults");
        assert_json_string(d, "mode", "blocked");
        assert_json_string(d, "mode_file", NULL);
        assert_json_string(d, "quarantine_on_unbind", "all");
        assert_json_string(d, "quarantine_on_unbind_file", NULL);
        assert_json_string(d, "scratch_cover", "4G");
        assert_json_string(d, "scratch_cover_file", NULL);
        json_object_put(o);
}

/* The protections a rule may accept: ATS in scratch-page mode, a degraded quarantine on release; and the
 * largest cover, checked across files (issue: absurd covers such as 256T cost gigabytes of page tables). */
static void test_accept_fields_and_max_cover(void **state) {
        _cleanup_(policy_freep) Policy *p =
                parse_ok("{ \"version\": 1, \"rules\": [\n"
                         "  { \"id\": \"a\", \"match\": {}, \"ats\": \"accept\", \"accept_degraded\": true } ] }");
        PolicyVerdict v;
        PciDevice d = { .slot = "0000:00:02.0" };
        PolicyDevice pd = { .device = &d };

        assert_true(p->rules[0].ats_accept);
        assert_true(p->rules[0].accept_degraded);
        policy_evaluate(p, &pd, &v);
        assert_true(v.ats_accept);
        assert_true(v.accept_degraded);
        assert_int_equal(v.max_scratch_cover, POLICY_DEFAULT_MAX_SCRATCH_COVER);

        /* a bad ats value, and 256T, are refused with their positions */
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *q = policy_new_default();
        const char *bad = "{ \"version\": 1, \"defaults\": { \"max_scratch_cover\": \"256T\" },\n"
                          "  \"rules\": [ { \"id\": \"b\", \"match\": {}, \"ats\": \"maybe\" } ] }";
        assert_int_equal(policy_parse_text(q, "bad.json", bad, strlen(bad), &errors), -EINVAL);
        assert_int_equal(errors.n_errors, 2);
        assert_non_null(strstr(errors.errors[0].message, "between 2M and 1T"));
        assert_non_null(strstr(errors.errors[1].message, "invalid ats 'maybe'"));
}

static void test_cover_above_max_refused(void **state) {
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_free_ char *dir = NULL, *f1 = NULL, *f2 = NULL;
        char tmpl[] = "/tmp/test-policy-XXXXXX";

        assert_non_null(dir = strdup(mkdtemp(tmpl)));
        assert_true(asprintf(&f1, "%s/a.json", dir) > 0 && asprintf(&f2, "%s/b.json", dir) > 0);
        /* the maximum in one file, the rule that exceeds it in another */
        assert_int_equal(
                write_file_atomic(f1, "{ \"version\": 1, \"defaults\": { \"max_scratch_cover\": \"8G\" } }", 59, 0644),
                0);
        assert_int_equal(
                write_file_atomic(
                        f2,
                        "{ \"version\": 1, \"rules\": [ { \"id\": \"big\", \"match\": {}, \"scratch_cover\": \"16G\" } ] }",
                        83, 0644),
                0);
        char *both[] = { f1, f2, NULL };
        assert_int_equal(policy_load_files(both, &p, &errors), -EINVAL);
        assert_int_equal(errors.n_errors, 1);
        assert_string_equal(errors.errors[0].file, f2);
        assert_non_null(strstr(errors.errors[0].message, "larger than defaults.max_scratch_cover 8G"));
        (void) unlink(f1);
        (void) unlink(f2);
        (void) rmdir(dir);
}

static void test_rule_to_json(void **state) {
        _cleanup_(policy_freep) Policy *p = parse_ok(
                "{ \"version\": 1, \"rules\": [\n"
                "  { \"id\": \"arrays\", \"match\": { \"vendor\": [\"8086\", \"10de\"], \"class\": [\"02\"], \"slot\": \"03:\" },\n"
                "    \"quarantine_on_unbind\": true, \"scratch_cover\": \"1536M\", \"mode\": \"scratch-page\" } ] }");
        json_object *o = NULL, *m, *a;

        assert_int_equal(rule_to_json(&p->rules[0], &o), 0);
        assert_int_equal(json_object_object_length(o), 12);
        assert_json_string(o, "ats", "refuse");
        assert_false(json_object_get_boolean(get(o, "accept_degraded")));
        assert_json_string(o, "id", "arrays");
        assert_json_string(o, "file", "test.json");
        assert_int_equal(json_object_get_int(get(o, "line")), 2);
        assert_json_string(o, "passthrough", "deny");
        assert_json_string(o, "mode", "scratch-page");
        assert_true(json_object_get_boolean(get(o, "quarantine_on_unbind")));
        assert_false(json_object_get_boolean(get(o, "allow_unsafe_interrupts")));
        assert_json_string(o, "scratch_cover", "1536M");
        assert_json_string(o, "comment", NULL);

        m = get(o, "match");
        assert_int_equal(json_object_object_length(m), 3);
        a = get(m, "vendor");
        assert_true(json_object_is_type(a, json_type_array));
        assert_int_equal(json_object_array_length(a), 2);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)), "8086");
        assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 1)), "10de");
        /* a one-element list comes out as the value */
        assert_json_string(m, "class", "02");
        assert_json_string(m, "slot", "03:");
        json_object_put(o);
}

/* The JSON a policy shows is itself a valid policy with the same meaning, apart from the source
 * bookkeeping. */
static void test_policy_json_reparses(void **state) {
        _cleanup_free_ char *path = fixture_path("policy/good/arrays.json");
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL, *q = NULL;
        char *one[] = { path, NULL };
        json_object *o = NULL, *rules, *policy;

        assert_int_equal(policy_load_files(one, &p, &errors), 0);
        assert_int_equal(policy_to_json(p, &o), 0);
        policy = json_object_new_object();
        json_object_object_add(policy, "version", json_object_new_int(1));
        rules = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(get(o, "rules")); i++) {
                json_object *r = json_object_array_get_idx(get(o, "rules"), i), *copy = json_object_new_object();
                json_object_object_add(copy, "id", json_object_get(get(r, "id")));
                json_object_object_add(copy, "match", json_object_get(get(r, "match")));
                json_object_object_add(copy, "passthrough", json_object_get(get(r, "passthrough")));
                json_object_array_add(rules, copy);
        }
        json_object_object_add(policy, "rules", rules);
        q = parse_ok(json_object_to_json_string_ext(policy, JSON_C_TO_STRING_PRETTY));
        assert_int_equal(q->n_rules, p->n_rules);
        for (size_t i = 0; i < p->n_rules; i++)
                for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                        assert_int_equal(q->rules[i].match[k].n_values, p->rules[i].match[k].n_values);
                        for (size_t j = 0; j < p->rules[i].match[k].n_values; j++)
                                assert_string_equal(q->rules[i].match[k].values[j].text,
                                                    p->rules[i].match[k].values[j].text);
                }
        json_object_put(policy);
        json_object_put(o);
}

/* ---- json-locator ----------------------------------------------------------------------- */

static const char locator_doc[] = "{\n"                                /* 1 */
                                  "  \"a\": 1,\n"                      /* 2 */
                                  "  \"b\": {\n"                       /* 3 */
                                  "    \"c\": [10, {\"d\": \"x\"}],\n" /* 4 */
                                  "    \"e~f/g\": true,\n"             /* 5 */
                                  "    \"\": null\n"                   /* 6 */
                                  "  },\n"                             /* 7 */
                                  "  \"list\": [\n"                    /* 8 */
                                  "    \"s\\\"q\",\n"                  /* 9 */
                                  "\t[ ]\n"                            /* 10 */
                                  "  ],\n"                             /* 11 */
                                  "  \"a\": 2\n"                       /* 12 */
                                  "}\n";

static void assert_position(const JsonLocator *l, const char *pointer, bool of_key, unsigned line, unsigned column) {
        JsonPosition p = json_locator_find(l, pointer, of_key);
        if (p.line != line || p.column != column)
                fail_msg("'%s' %s: %u:%u, expected %u:%u", pointer, of_key ? "key" : "value", p.line, p.column, line,
                         column);
}

static void test_locator_positions(void **state) {
        _cleanup_(json_locator_freep) JsonLocator *l = NULL;

        assert_int_equal(json_locator_new(locator_doc, strlen(locator_doc), &l), 0);
        assert_non_null(l);

        assert_position(l, "", false, 1, 1);
        assert_position(l, "/b", true, 3, 3);
        assert_position(l, "/b", false, 3, 8);
        assert_position(l, "/b/c", true, 4, 5);
        assert_position(l, "/b/c", false, 4, 10);
        assert_position(l, "/b/c/0", false, 4, 11);
        assert_position(l, "/b/c/1", false, 4, 15);
        assert_position(l, "/b/c/1/d", true, 4, 16);
        assert_position(l, "/b/c/1/d", false, 4, 21);
        /* "~" and "/" in keys are escaped as ~0 and ~1 */
        assert_position(l, "/b/e~0f~1g", true, 5, 5);
        assert_position(l, "/b/e~0f~1g", false, 5, 14);
        /* the empty key */
        assert_position(l, "/b/", true, 6, 5);
        assert_position(l, "/b/", false, 6, 9);
        assert_position(l, "/list", false, 8, 11);
        assert_position(l, "/list/0", false, 9, 5);
        /* a tab is one column */
        assert_position(l, "/list/1", false, 10, 2);
        /* duplicate keys: the last one, like json-c */
        assert_position(l, "/a", true, 12, 3);
        assert_position(l, "/a", false, 12, 8);

        /* unknown pointers fall back to the nearest ancestor's value */
        assert_position(l, "/b/zzz", true, 3, 8);
        assert_position(l, "/b/c/7", false, 4, 10);
        assert_position(l, "/b/c/1/d/deeper/still", false, 4, 21);
        assert_position(l, "/nope", true, 1, 1);
        assert_position(l, "/nope/x", false, 1, 1);
        /* an unescaped "/" is a path separator, not part of the key */
        assert_position(l, "/b/e~f/g", false, 3, 8);
}

static void test_locator_duplicates(void **state) {
        _cleanup_(json_locator_freep) JsonLocator *l = NULL, *none = NULL;
        static const char doc[] =
                "{ \"k\": 1,\n  \"o\": { \"k\": 1, \"k\": 2, \"k\": 3 },\n  \"k\": [ { \"k\": 1 }, { \"k\": 1 } ] }";
        static const char different_objects[] =
                "{ \"a\": { \"k\": 1 }, \"b\": { \"k\": 2 }, \"l\": [ { \"k\": 1 }, { \"k\": 2 } ] }";
        const char *pointer = NULL;
        JsonPosition pos;

        assert_int_equal(json_locator_new(doc, strlen(doc), &l), 0);
        assert_true(json_locator_duplicate(l, 0, &pointer, &pos));
        assert_string_equal(pointer, "/o/k");
        assert_int_equal(pos.line, 2);
        assert_int_equal(pos.column, 18);
        assert_true(json_locator_duplicate(l, 1, &pointer, &pos));
        assert_string_equal(pointer, "/o/k");
        assert_int_equal(pos.line, 2);
        assert_int_equal(pos.column, 26);
        assert_true(json_locator_duplicate(l, 2, &pointer, &pos));
        assert_string_equal(pointer, "/k");
        assert_int_equal(pos.line, 3);
        assert_int_equal(pos.column, 3);
        assert_false(json_locator_duplicate(l, 3, &pointer, &pos));
        assert_false(json_locator_duplicate(l, 100, &pointer, &pos));

        /* the same key in different objects is no duplicate */
        assert_int_equal(json_locator_new(different_objects, strlen(different_objects), &none), 0);
        assert_false(json_locator_duplicate(none, 0, &pointer, &pos));
}

static void test_locator_escaped_keys(void **state) {
        _cleanup_(json_locator_freep) JsonLocator *l = NULL;
        static const char doc[] = "{\n"
                                  "  \"caf\\u00e9\": 1,\n"
                                  "  \"x\\\"y\\\\z\\/w\": 2,\n"
                                  "  \"\\ud83d\\udd12\": 3,\n"
                                  "  \"caf\xc3\xa9\": 4,\n"
                                  "  \"t\\tab\\n\": 5\n"
                                  "}";
        const char *pointer = NULL;
        JsonPosition pos;

        assert_int_equal(json_locator_new(doc, strlen(doc), &l), 0);
        /* keys are compared decoded, as json-c stores them */
        assert_position(l, "/x\"y\\z~1w", true, 3, 3);
        assert_position(l, "/\xf0\x9f\x94\x92", true, 4, 3);
        assert_position(l, "/t\tab\n", false, 6, 14);
        /* "caf\u00e9" and "café" are the same key */
        assert_true(json_locator_duplicate(l, 0, &pointer, &pos));
        assert_string_equal(pointer, "/caf\xc3\xa9");
        assert_int_equal(pos.line, 5);
        assert_int_equal(pos.column, 3);
        assert_false(json_locator_duplicate(l, 1, &pointer, &pos));
        assert_position(l, "/caf\xc3\xa9", true, 5, 3);
}

static void test_locator_pointers(void **state) {
        char *s;

        s = json_pointer_append("", "a");
        assert_string_equal(s, "/a");
        free(s);
        s = json_pointer_append("/rules/0", "match");
        assert_string_equal(s, "/rules/0/match");
        free(s);
        s = json_pointer_append("", "a/b~c");
        assert_string_equal(s, "/a~1b~0c");
        free(s);
        s = json_pointer_append("/x", "~~//");
        assert_string_equal(s, "/x/~0~0~1~1");
        free(s);
        s = json_pointer_append("/x", "~01");
        assert_string_equal(s, "/x/~001");
        free(s);
        s = json_pointer_append("/x", "");
        assert_string_equal(s, "/x/");
        free(s);
        s = json_pointer_append_index("/rules", 0);
        assert_string_equal(s, "/rules/0");
        free(s);
        s = json_pointer_append_index("", 12345);
        assert_string_equal(s, "/12345");
        free(s);
}

static void test_locator_offsets(void **state) {
        static const char text[] = "ab\ncd\n\nxyz";
        JsonPosition p;

        p = json_position_from_offset(text, strlen(text), 0);
        assert_int_equal(p.line, 1);
        assert_int_equal(p.column, 1);
        p = json_position_from_offset(text, strlen(text), 2);
        assert_int_equal(p.line, 1);
        assert_int_equal(p.column, 3);
        p = json_position_from_offset(text, strlen(text), 3);
        assert_int_equal(p.line, 2);
        assert_int_equal(p.column, 1);
        p = json_position_from_offset(text, strlen(text), 4);
        assert_int_equal(p.line, 2);
        assert_int_equal(p.column, 2);
        p = json_position_from_offset(text, strlen(text), 6);
        assert_int_equal(p.line, 3);
        assert_int_equal(p.column, 1);
        p = json_position_from_offset(text, strlen(text), 9);
        assert_int_equal(p.line, 4);
        assert_int_equal(p.column, 3);
        /* the end, and past it */
        p = json_position_from_offset(text, strlen(text), 10);
        assert_int_equal(p.line, 4);
        assert_int_equal(p.column, 4);
        p = json_position_from_offset(text, strlen(text), 1000);
        assert_int_equal(p.line, 4);
        assert_int_equal(p.column, 4);
        /* columns count bytes */
        p = json_position_from_offset("\xc3\xa9x", 3, 2);
        assert_int_equal(p.column, 3);
        p = json_position_from_offset("", 0, 0);
        assert_int_equal(p.line, 1);
        assert_int_equal(p.column, 1);
}

/* json-c takes 'single-quoted' keys even in strict mode; the locator stops there and says where. */
static void test_locator_stopped(void **state) {
        _cleanup_(json_locator_freep) JsonLocator *good = NULL, *bad = NULL;
        static const char ok[] = "{ \"a\": [1, 2, { \"b\": null }] }";
        static const char quoted[] = "{ \"a\": 1,\n  'b': 2 }";
        JsonPosition pos = { 99, 99 };

        assert_int_equal(json_locator_new(ok, strlen(ok), &good), 0);
        assert_false(json_locator_stopped(good, &pos));
        assert_int_equal(pos.line, 99);

        assert_int_equal(json_locator_new(quoted, strlen(quoted), &bad), 0);
        assert_true(json_locator_stopped(bad, &pos));
        assert_int_equal(pos.line, 2);
        assert_int_equal(pos.column, 3);
        /* what came before is still located */
        assert_position(bad, "/a", true, 1, 3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_enum_tables),
                cmocka_unit_test(test_default_policy),
                cmocka_unit_test(test_good_corpus),
                cmocka_unit_test(test_good_corpus_twice),
                cmocka_unit_test(test_bad_corpus),
                cmocka_unit_test(test_bad_corpus_complete),
                cmocka_unit_test(test_full_file),
                cmocka_unit_test(test_arrays_file),
                cmocka_unit_test(test_sizes_file),
                cmocka_unit_test(test_unicode_comments_file),
                cmocka_unit_test(test_parse_respects_size),
                cmocka_unit_test(test_parse_errors_accumulate),
                cmocka_unit_test(test_parse_rule_fields),
                cmocka_unit_test(test_parse_match_values),
                cmocka_unit_test(test_parse_errors_inline),
                cmocka_unit_test(test_duplicate_id_message),
                cmocka_unit_test(test_parse_bom),
                cmocka_unit_test(test_load_files_layers),
                cmocka_unit_test(test_load_files_none),
                cmocka_unit_test(test_load_files_unreadable),
                cmocka_unit_test(test_load_files_duplicate_across_files),
                cmocka_unit_test(test_installed_files),
                cmocka_unit_test(test_installed_files_load),
                cmocka_unit_test(test_match_slot),
                cmocka_unit_test(test_match_ids),
                cmocka_unit_test(test_match_class),
                cmocka_unit_test(test_match_driver),
                cmocka_unit_test(test_match_serial),
                cmocka_unit_test(test_match_parent),
                cmocka_unit_test(test_match_arrays_one_of),
                cmocka_unit_test(test_match_all_keys_and),
                cmocka_unit_test(test_rule_key_matches_actual),
                cmocka_unit_test(test_first_match_wins),
                cmocka_unit_test(test_no_match_denies),
                cmocka_unit_test(test_mode_override),
                cmocka_unit_test(test_quarantine_on_unbind),
                cmocka_unit_test(test_allow_unsafe_interrupts_and_cover),
                cmocka_unit_test(test_release_decision),
                cmocka_unit_test(test_parse_size),
                cmocka_unit_test(test_format_size),
                cmocka_unit_test(test_size_round_trip),
                cmocka_unit_test(test_policy_to_json),
                cmocka_unit_test(test_policy_to_json_default),
                cmocka_unit_test(test_rule_to_json),
                cmocka_unit_test(test_accept_fields_and_max_cover),
                cmocka_unit_test(test_cover_above_max_refused),
                cmocka_unit_test(test_policy_json_reparses),
                cmocka_unit_test(test_locator_positions),
                cmocka_unit_test(test_locator_duplicates),
                cmocka_unit_test(test_locator_escaped_keys),
                cmocka_unit_test(test_locator_pointers),
                cmocka_unit_test(test_locator_offsets),
                cmocka_unit_test(test_locator_stopped),
        };

        if (!fixtures_dir()) {
                fprintf(stderr, "ISOLATE_FIXTURES is not set (run through meson test)\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
