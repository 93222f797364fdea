/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "findings.h"
#include "isolatectl.h"
#include "log.h"
#include "parse-util.h"
#include "strv.h"
#include "verbs.h"

static int policy_check(int argc, char **argv, void *userdata) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_(policy_errors_done) PolicyErrors errors = {};
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_(table_freep) Table *t = NULL, *error_table = NULL;
        const char *dir = getenv("ISOLATE_POLICY_DIR") ?: ISOLATE_POLICY_DIR;
        bool unreadable = false;
        int r;

        if (argc > 1)
                files = strv_copy(argv + 1);
        else if (arg_policy) {
                if (strv_extend(&files, arg_policy) < 0)
                        return log_oom();
        } else if (policy_installed_files(dir, &files) < 0)
                files = NULL;
        if (!files)
                return log_oom();

        r = policy_load_files(files, &p, &errors);
        if (r == -ENOMEM)
                return log_oom();
        FOREACH_ARRAY(e, errors.errors, errors.n_errors)
                if (e->line == 0)
                        unreadable = true;

        /* One row: the verdict, the files, the rules and a table of the errors. JSON prints it as an
         * object; the text form is a sentence, or the errors on stderr as FILE:LINE:COLUMN: message. */
        error_table = table_new("FILE", "LINE", "COLUMN", "MESSAGE");
        if (!error_table)
                return log_oom();
        FOREACH_ARRAY(e, errors.errors, errors.n_errors) {
                if (table_add_cell(error_table, TABLE_STRING, e->file) < 0 ||
                    (e->line > 0 ? table_add_many(error_table, TABLE_UINT, e->line, TABLE_UINT, e->column)
                                 : table_add_many(error_table, TABLE_EMPTY, TABLE_EMPTY)) < 0 ||
                    table_add_cell(error_table, TABLE_STRING, e->message) < 0)
                        return log_oom();
        }
        t = table_new("VALID", "FILES", "RULES", "ERRORS");
        if (!t || table_add_many(t, TABLE_BOOLEAN, r >= 0, TABLE_STRV, files, TABLE_UINT64,
                                 (uint64_t) (p ? p->n_rules : 0), TABLE_TABLE, TAKE_PTR(error_table)) < 0)
                return log_oom();

        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o;
                if (table_row_to_json(t, 0, &o) < 0)
                        return log_oom();
                output_json(o);
        } else if (!table_get_boolean(t, 0, 0)) {
                const Table *et = table_get_table(t, 0, 3);
                size_t n = table_get_rows(et);

                for (size_t i = 0; i < n; i++) {
                        if (table_get_type(et, i, 1) != TABLE_EMPTY)
                                fprintf(stderr, "%s:%" PRIu64 ":%" PRIu64 ": %s\n", table_get_string(et, i, 0),
                                        table_get_uint64(et, i, 1), table_get_uint64(et, i, 2),
                                        table_get_string(et, i, 3));
                        else
                                fprintf(stderr, "%s: %s\n", table_get_string(et, i, 0), table_get_string(et, i, 3));
                }
                fprintf(stderr, "%zu error%s; the policy is refused as a whole.\n", n, n == 1 ? "" : "s");
        } else {
                size_t n_files = strv_length(table_get_strv(t, 0, 1));
                uint64_t n_rules = table_get_uint64(t, 0, 2);

                if (n_files == 0)
                        printf("No policy installed in %s: built-in defaults apply (mode blocked, every device "
                               "that unbinds is quarantined, passthrough denied).\n",
                               dir);
                else
                        printf("Policy is valid: %" PRIu64 " rule%s in %zu file%s.\n", n_rules, n_rules == 1 ? "" : "s",
                               n_files, n_files == 1 ? "" : "s");
        }

        if (r < 0)
                return unreadable ? -EIO : EXIT_FINDINGS;
        return 0;
}

static char *match_summary(const Rule *r) {
        _cleanup_strv_free_ char **parts = NULL;

        for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                const MatchCondition *mc = &r->match[k];
                _cleanup_strv_free_ char **vals = NULL;
                _cleanup_free_ char *joined = NULL;
                char *s;

                if (!mc->present)
                        continue;
                FOREACH_ARRAY(v, mc->values, mc->n_values)
                        if (strv_extend(&vals, v->text) < 0)
                                return NULL;
                joined = strv_join(vals, "|");
                if (!joined || asprintf(&s, "%s=%s", match_key_to_string(k), joined) < 0 || strv_consume(&parts, s) < 0)
                        return NULL;
        }
        return parts ? strv_join(parts, " ") : strdup("(every device)");
}

/* The JSON form is the policy document itself, as isolated's GetPolicy returns it (one serializer, in
 * the library); the text form shows where the defaults came from and the rules as a table. */
static int policy_show(int argc, char **argv, void *userdata) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        char buf[32];
        int r;

        r = load_policy(&p);
        if (r < 0)
                return r;

        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o;
                r = policy_to_json(p, &o);
                if (r < 0)
                        return log_oom();
                output_json(o);
                return 0;
        }

        t = table_new("RULE", "PASSTHROUGH", "MODE", "MATCH", "SOURCE");
        if (!t)
                return log_oom();
        FOREACH_ARRAY(rule, p->rules, p->n_rules) {
                _cleanup_free_ char *m = match_summary(rule), *src = NULL;
                if (!m || asprintf(&src, "%s:%u", rule->file, rule->line) < 0)
                        return log_oom();
                if (table_add_many(t, TABLE_STRING, rule->id, TABLE_STRING, passthrough_to_string(rule->passthrough),
                                   TABLE_STRING, rule->mode >= 0 ? quarantine_mode_to_string(rule->mode) : "(default)",
                                   TABLE_STRING, m, TABLE_STRING, src) < 0)
                        return log_oom();
        }

        if (arg_legend) {
                _cleanup_free_ char *files = strv_join(p->files, ", ");
                printf("Files:    %s\n", p->files ? files : "(none: built-in defaults)");
                printf("Defaults: mode %s (%s), quarantine_on_unbind %s (%s), scratch_cover %s (%s)\n\n",
                       quarantine_mode_to_string(p->mode), p->mode_file ?: "built in",
                       unbind_policy_to_string(p->quarantine_on_unbind), p->quarantine_on_unbind_file ?: "built in",
                       format_size(p->scratch_cover, buf), p->scratch_cover_file ?: "built in");
        }
        r = output_table(t);
        if (r < 0)
                return r;
        if (arg_legend)
                printf("\n%zu rule%s; the first matching rule decides, and a device no rule matches is denied.\n",
                       p->n_rules, p->n_rules == 1 ? "" : "s");
        return 0;
}

enum {
        TEST_DEVICE,
        TEST_ID, /* the text form's: vendor:device, the names, class, driver */
        TEST_VENDOR_NAME,
        TEST_DEVICE_NAME,
        TEST_CLASS,
        TEST_DRIVER,
        TEST_INTERRUPTS,
        TEST_PASSTHROUGH,
        TEST_RULE,
        TEST_RULE_FILE, /* the text form's */
        TEST_RULE_LINE, /* the text form's */
        TEST_MODE,
        TEST_SCRATCH_COVER,
        TEST_QUARANTINE_ON_UNBIND,
        TEST_ALLOW_UNSAFE_INTERRUPTS,
        TEST_ALLOWED,
        TEST_REASON,
        TEST_RULES,
};

enum {
        RULE_ID,
        RULE_FILE,
        RULE_LINE,
        RULE_MATCHED,
        RULE_REACHED,
        RULE_KEYS,
};

enum {
        KEY_KEY,
        KEY_EXPECTED,
        KEY_ACTUAL,
        KEY_MATCHED,
};

static Table *test_table_new(void) {
        _cleanup_(table_freep) Table *t = NULL;

        t = table_new("DEVICE", "ID", "VENDOR NAME", "DEVICE NAME", "CLASS", "DRIVER", "INTERRUPTS", "PASSTHROUGH",
                      "RULE", "RULE FILE", "RULE LINE", "MODE", "SCRATCH COVER", "QUARANTINE ON UNBIND",
                      "ALLOW UNSAFE INTERRUPTS", "ALLOWED", "REASON", "RULES");
        if (!t)
                return NULL;
        if (table_set_json_name(t, TEST_ID, NULL) < 0 || table_set_json_name(t, TEST_VENDOR_NAME, NULL) < 0 ||
            table_set_json_name(t, TEST_DEVICE_NAME, NULL) < 0 || table_set_json_name(t, TEST_CLASS, NULL) < 0 ||
            table_set_json_name(t, TEST_DRIVER, NULL) < 0 || table_set_json_name(t, TEST_RULE_FILE, NULL) < 0 ||
            table_set_json_name(t, TEST_RULE_LINE, NULL) < 0 ||
            table_set_json_name(t, TEST_PASSTHROUGH, "verdict/passthrough") < 0 ||
            table_set_json_name(t, TEST_RULE, "verdict/rule") < 0 ||
            table_set_json_name(t, TEST_MODE, "verdict/mode") < 0 ||
            table_set_json_name(t, TEST_SCRATCH_COVER, "verdict/scratch_cover") < 0 ||
            table_set_json_name(t, TEST_QUARANTINE_ON_UNBIND, "verdict/quarantine_on_unbind") < 0 ||
            table_set_json_name(t, TEST_ALLOW_UNSAFE_INTERRUPTS, "verdict/allow_unsafe_interrupts") < 0 ||
            table_set_json_name(t, TEST_ALLOWED, "release_to_guest/allowed") < 0 ||
            table_set_json_name(t, TEST_REASON, "release_to_guest/reason") < 0)
                return NULL;
        return TAKE_PTR(t);
}

/* The rules in order, each with its match keys: matched, and reached (no earlier rule matched). */
static int test_rules_table(const Policy *p, const PolicyDevice *pd, Table **ret) {
        _cleanup_(table_freep) Table *rules = NULL;
        bool reached = true;

        rules = table_new("ID", "FILE", "LINE", "MATCHED", "REACHED", "KEYS");
        if (!rules)
                return -ENOMEM;
        FOREACH_ARRAY(rule, p->rules, p->n_rules) {
                _cleanup_(table_freep) Table *keys = table_new("KEY", "EXPECTED", "ACTUAL", "MATCHED");
                bool matched = rule_matches(rule, pd);

                if (!keys)
                        return -ENOMEM;
                for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                        _cleanup_free_ char *actual = NULL;
                        _cleanup_strv_free_ char **expected = NULL;
                        bool km;

                        if (!rule->match[k].present)
                                continue;
                        km = rule_key_matches(rule, k, pd, &actual);
                        FOREACH_ARRAY(mv, rule->match[k].values, rule->match[k].n_values)
                                if (strv_extend(&expected, mv->text) < 0)
                                        return -ENOMEM;
                        if (table_add_many(keys, TABLE_STRING, match_key_to_string(k), TABLE_STRV, expected,
                                           TABLE_STRING, strna(actual), TABLE_BOOLEAN, km) < 0)
                                return -ENOMEM;
                }
                if (table_add_many(rules, TABLE_STRING, rule->id, TABLE_STRING, rule->file, TABLE_UINT, rule->line,
                                   TABLE_BOOLEAN, matched, TABLE_BOOLEAN, reached, TABLE_TABLE, TAKE_PTR(keys)) < 0)
                        return -ENOMEM;
                if (matched)
                        reached = false;
        }
        *ret = TAKE_PTR(rules);
        return 0;
}

static int print_test(const Table *t) {
        const Table *rules = table_get_table(t, 0, TEST_RULES);
        const char *vendor_name = table_get_string(t, 0, TEST_VENDOR_NAME),
                   *device_name = table_get_string(t, 0, TEST_DEVICE_NAME), *rule = table_get_string(t, 0, TEST_RULE);

        /* names only when pci.ids knows them: no stray blank before the comma otherwise */
        printf("Device:  %s %s%s%s%s%s, class %s, driver %s, interrupts %s\n", table_get_string(t, 0, TEST_DEVICE),
               table_get_string(t, 0, TEST_ID), vendor_name ? " " : "", strempty(vendor_name), device_name ? " " : "",
               strempty(device_name), table_get_string(t, 0, TEST_CLASS),
               table_get_string(t, 0, TEST_DRIVER) ?: "(none)", table_get_string(t, 0, TEST_INTERRUPTS));
        if (rule)
                printf("Verdict: %s by rule '%s' (%s:%" PRIu64 ")\n", table_get_string(t, 0, TEST_PASSTHROUGH), rule,
                       table_get_string(t, 0, TEST_RULE_FILE), table_get_uint64(t, 0, TEST_RULE_LINE));
        else
                printf("Verdict: deny (no rule matches)\n");
        printf("         mode %s, scratch cover %s, quarantine on unbind: %s\n", table_get_string(t, 0, TEST_MODE),
               table_get_string(t, 0, TEST_SCRATCH_COVER),
               table_get_boolean(t, 0, TEST_QUARANTINE_ON_UNBIND) ? "yes" : "no");
        printf("Release to a guest: %s\n         %s\n", table_get_boolean(t, 0, TEST_ALLOWED) ? "allowed" : "refused",
               table_get_string(t, 0, TEST_REASON));
        if (table_get_rows(rules) > 0)
                printf("\nRules, in order (the first match wins):\n");

        for (size_t i = 0; i < table_get_rows(rules); i++) {
                const Table *keys = table_get_table(rules, i, RULE_KEYS);
                bool matched = table_get_boolean(rules, i, RULE_MATCHED);

                printf("  %s %-20s %s:%" PRIu64 "%s\n", matched ? "match" : "no   ",
                       table_get_string(rules, i, RULE_ID), table_get_string(rules, i, RULE_FILE),
                       table_get_uint64(rules, i, RULE_LINE),
                       !table_get_boolean(rules, i, RULE_REACHED) ? " (not reached: an earlier rule matched)"
                       : matched                                  ? "  <- decides"
                                                                  : "");
                for (size_t k = 0; k < table_get_rows(keys); k++) {
                        _cleanup_free_ char *expected = strv_join(table_get_strv(keys, k, KEY_EXPECTED), " or ");
                        if (!expected)
                                return log_oom();
                        printf("        %-3s %-17s wants %s, device has %s\n",
                               table_get_boolean(keys, k, KEY_MATCHED) ? "yes" : "no",
                               table_get_string(keys, k, KEY_KEY), expected, table_get_string(keys, k, KEY_ACTUAL));
                }
        }
        return 0;
}

static int policy_test(int argc, char **argv, void *userdata) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_(table_freep) Table *table = NULL, *rules = NULL;
        _cleanup_free_ PciAddress *a = NULL;
        _cleanup_free_ char *explain = NULL;
        const PciDevice *d;
        PolicyVerdict v;
        ReleaseDecision rd;
        char vendor_name[128], device_name[256], buf[32], id[16], cls[16];
        int r;

        r = parse_device_args(argv + 1, 1, &a);
        if (r < 0)
                return r;
        r = load_topology(&t);
        if (r < 0)
                return r;
        d = topology_find_device(t, &a[0]);
        if (!d) {
                char s[PCI_ADDRESS_MAX];
                return log_error_errno(ENODEV, "No PCI device %s%s%s.", pci_address_format(&a[0], s),
                                       arg_root ? " in " : "", strempty(arg_root));
        }
        r = load_policy(&p);
        if (r < 0)
                return r;

        PolicyDevice pd = { .device = d, .driver = d->driver };
        policy_evaluate(p, &pd, &v);
        rd = policy_release_to_guest(&v, d->interrupts);
        explain = release_decision_explain(rd, &v, d->slot, d->interrupts);
        if (!explain)
                return log_oom();
        pci_vendor_name(d->vendor, vendor_name, sizeof(vendor_name));
        pci_device_name(d->vendor, d->device, device_name, sizeof(device_name));
        snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
        snprintf(cls, sizeof(cls), "%06x", d->class);

        /* One row: the device, the verdict, the release decision and the table of the rules. */
        table = test_table_new();
        if (!table || test_rules_table(p, &pd, &rules) < 0)
                return log_oom();
        r = table_add_many(table, TABLE_STRING, d->slot, TABLE_STRING, id, TABLE_STRING, empty_to_null(vendor_name),
                           TABLE_STRING, empty_to_null(device_name), TABLE_STRING, cls, TABLE_STRING, d->driver,
                           TABLE_STRING, interrupt_safety_to_string(d->interrupts), TABLE_STRING,
                           passthrough_to_string(v.passthrough), TABLE_STRING, v.rule ? v.rule->id : NULL, TABLE_STRING,
                           v.rule ? v.rule->file : NULL);
        if (r >= 0)
                r = v.rule ? table_add_many(table, TABLE_UINT, v.rule->line) : table_add_many(table, TABLE_EMPTY);
        if (r >= 0)
                r = table_add_many(table, TABLE_STRING, quarantine_mode_to_string(v.mode), TABLE_STRING,
                                   format_size(v.scratch_cover, buf), TABLE_BOOLEAN, v.quarantine_on_unbind,
                                   TABLE_BOOLEAN, v.allow_unsafe_interrupts, TABLE_BOOLEAN, rd == RELEASE_ALLOWED,
                                   TABLE_STRING, explain, TABLE_TABLE, TAKE_PTR(rules));
        if (r < 0)
                return log_oom();

        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o;
                if (table_row_to_json(table, 0, &o) < 0)
                        return log_oom();
                output_json(o);
                return 0;
        }
        return print_test(table);
}

static int policy_generate(int argc, char **argv, void *userdata) {
        _cleanup_(topology_freep) Topology *t = NULL;
        json_object *o, *defaults, *rules;
        char date[64], comment[512];
        time_t now = time(NULL);
        struct tm tm;
        int r;

        r = load_topology(&t);
        if (r < 0)
                return r;

        strftime(date, sizeof(date), "%Y-%m-%d", gmtime_r(&now, &tm));
        snprintf(comment, sizeof(comment),
                 "Generated by 'isolatectl policy generate' on %s%s%s (Linux %s). Every device is denied "
                 "passthrough: set \"passthrough\" to \"allow\" for the devices guests may have. See "
                 "isolate-policy.json(5).",
                 date, arg_root ? " from the snapshot " : "", strempty(arg_root), strna(t->host.kernel_release));

        o = json_object_new_object();
        defaults = json_object_new_object();
        rules = json_object_new_array();
        if (!o || !defaults || !rules)
                return log_oom();
        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(o, "comment", json_object_new_string(comment));
        json_object_object_add(defaults, "mode", json_object_new_string("blocked"));
        json_object_object_add(defaults, "quarantine_on_unbind", json_object_new_string("all"));
        json_object_object_add(o, "defaults", defaults);

        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                json_object *rule, *match;
                char id[64], hex[8], vendor_name[128], device_name[256], class_name[128], text[768], group[32] = "";

                if (!pci_device_is_endpoint(d))
                        continue;
                rule = json_object_new_object();
                match = json_object_new_object();
                snprintf(id, sizeof(id), "dev-%s", d->slot);
                json_object_object_add(rule, "id", json_object_new_string(id));
                json_object_object_add(match, "slot", json_object_new_string(d->slot));
                snprintf(hex, sizeof(hex), "%04x", d->vendor);
                json_object_object_add(match, "vendor", json_object_new_string(hex));
                snprintf(hex, sizeof(hex), "%04x", d->device);
                json_object_object_add(match, "device", json_object_new_string(hex));
                if (d->has_dsn) {
                        char serial[32];
                        snprintf(serial, sizeof(serial), "%016llx", (unsigned long long) d->dsn);
                        json_object_object_add(match, "serial", json_object_new_string(serial));
                }
                json_object_object_add(rule, "match", match);
                json_object_object_add(rule, "passthrough", json_object_new_string("deny"));

                pci_vendor_name(d->vendor, vendor_name, sizeof(vendor_name));
                pci_device_name(d->vendor, d->device, device_name, sizeof(device_name));
                pci_class_name(d->class, class_name, sizeof(class_name));
                if (d->iommu_group >= 0)
                        snprintf(group, sizeof(group), ", IOMMU group %d", d->iommu_group);
                snprintf(text, sizeof(text), "%s %s%s%s (%s%s%06x), driver %s%s", d->slot,
                         vendor_name[0] ? vendor_name : "unknown vendor", device_name[0] ? " " : "", device_name,
                         class_name[0] ? class_name : "class", class_name[0] ? " " : " ", d->class, d->driver ?: "none",
                         group);
                json_object_object_add(rule, "comment", json_object_new_string(text));
                json_object_array_add(rules, rule);
        }
        json_object_object_add(o, "rules", rules);

        /* The output is a policy file: always JSON, pretty unless --json=short was asked for. */
        JsonFormat saved = arg_json;
        arg_json = arg_json == JSON_FORMAT_SHORT ? JSON_FORMAT_SHORT : JSON_FORMAT_PRETTY;
        output_json(o);
        arg_json = saved;
        return 0;
}

static const Verb policy_verbs[] = {
        { "check", 0, VERB_ANY, 0, policy_check, "[FILE...]", "validate policy files (default: the installed policy)",
          0 },
        { "show", 0, 0, 0, policy_show, NULL, "the effective policy, each rule with the file it came from", 0 },
        { "test", 1, 1, 0, policy_test, "DEVICE", "which rule matches the device, and why", 0 },
        { "generate", 0, 0, 0, policy_generate, NULL, "a policy that describes this machine's devices today", 0 },
        {},
};

void policy_print_help(void) {
        verbs_print_help(policy_verbs, "policy ");
}

int verb_policy(int argc, char **argv, void *userdata) {
        return dispatch_verb(argc - 1, argv + 1, policy_verbs, userdata);
}
