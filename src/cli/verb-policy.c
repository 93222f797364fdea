/* SPDX-License-Identifier: LGPL-2.1-or-later */

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

        if (arg_json != JSON_FORMAT_OFF) {
                json_object *o = json_object_new_object(), *fa = json_object_new_array(), *ea = json_object_new_array();
                STRV_FOREACH(f, files)
                        json_object_array_add(fa, json_object_new_string(*f));
                FOREACH_ARRAY(e, errors.errors, errors.n_errors) {
                        json_object *j = json_object_new_object();
                        json_object_object_add(j, "file", json_object_new_string(e->file));
                        json_object_object_add(j, "line", e->line ? json_object_new_int((int) e->line) : NULL);
                        json_object_object_add(j, "column", e->line ? json_object_new_int((int) e->column) : NULL);
                        json_object_object_add(j, "message", json_object_new_string(e->message));
                        json_object_array_add(ea, j);
                }
                json_object_object_add(o, "valid", json_object_new_boolean(r >= 0));
                json_object_object_add(o, "files", fa);
                json_object_object_add(o, "rules", json_object_new_int(p ? (int) p->n_rules : 0));
                json_object_object_add(o, "errors", ea);
                output_json(o);
        } else if (r < 0)
                print_policy_errors(&errors);
        else if (strv_length(files) == 0)
                printf("No policy installed in %s: built-in defaults apply (mode blocked, every device that "
                       "unbinds is quarantined, passthrough denied).\n", dir);
        else
                printf("Policy is valid: %zu rule%s in %zu file%s.\n", p->n_rules, p->n_rules == 1 ? "" : "s",
                       strv_length(files), strv_length(files) == 1 ? "" : "s");

        if (r < 0) {
                if (arg_json == JSON_FORMAT_OFF)
                        fprintf(stderr, "%zu error%s; the policy is refused as a whole.\n", errors.n_errors,
                                errors.n_errors == 1 ? "" : "s");
                return unreadable ? -EIO : EXIT_FINDINGS;
        }
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

static int policy_show(int argc, char **argv, void *userdata) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        static const char *const headers[] = { "RULE", "PASSTHROUGH", "MODE", "MATCH", "SOURCE", NULL };
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

        if (arg_legend) {
                _cleanup_free_ char *files = strv_join(p->files, ", ");
                printf("Files:    %s\n", p->files ? files : "(none: built-in defaults)");
                printf("Defaults: mode %s (%s), quarantine_on_unbind %s (%s), scratch_cover %s (%s)\n\n",
                       quarantine_mode_to_string(p->mode), p->mode_file ?: "built in",
                       unbind_policy_to_string(p->quarantine_on_unbind), p->quarantine_on_unbind_file ?: "built in",
                       format_size(p->scratch_cover, buf), p->scratch_cover_file ?: "built in");
        }
        t = table_new(5, headers);
        if (!t)
                return log_oom();
        FOREACH_ARRAY(rule, p->rules, p->n_rules) {
                _cleanup_free_ char *m = match_summary(rule), *src = NULL;
                if (!m || asprintf(&src, "%s:%u", rule->file, rule->line) < 0)
                        return log_oom();
                const char *cells[] = { rule->id, passthrough_to_string(rule->passthrough),
                                        rule->mode >= 0 ? quarantine_mode_to_string(rule->mode) : "(default)", m, src };
                if (table_add_row(t, cells) < 0)
                        return log_oom();
        }
        table_print(t, stdout);
        if (arg_legend)
                printf("\n%zu rule%s; the first matching rule decides, and a device no rule matches is denied.\n",
                       p->n_rules, p->n_rules == 1 ? "" : "s");
        return 0;
}

static int policy_test(int argc, char **argv, void *userdata) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_free_ PciAddress *a = NULL;
        _cleanup_free_ char *explain = NULL;
        json_object *rules_json = NULL;
        const PciDevice *d;
        PolicyVerdict v;
        ReleaseDecision rd;
        char vendor_name[128], device_name[256], buf[32];
        bool reached = true;
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

        if (arg_json != JSON_FORMAT_OFF)
                rules_json = json_object_new_array();
        else {
                /* names only when pci.ids knows them: no stray blank before the comma otherwise */
                printf("Device:  %s %04x:%04x%s%s%s%s, class %06x, driver %s, interrupts %s\n", d->slot, d->vendor,
                       d->device, vendor_name[0] ? " " : "", vendor_name,
                       device_name[0] ? " " : "", device_name, d->class, d->driver ?: "(none)",
                       interrupt_safety_to_string(d->interrupts));
                if (v.rule)
                        printf("Verdict: %s by rule '%s' (%s:%u)\n", passthrough_to_string(v.passthrough), v.rule->id,
                               v.rule->file, v.rule->line);
                else
                        printf("Verdict: deny (no rule matches)\n");
                printf("         mode %s, scratch cover %s, quarantine on unbind: %s\n",
                       quarantine_mode_to_string(v.mode), format_size(v.scratch_cover, buf),
                       v.quarantine_on_unbind ? "yes" : "no");
                printf("Release to a guest: %s\n         %s\n", rd == RELEASE_ALLOWED ? "allowed" : "refused", explain);
                if (p->n_rules > 0)
                        printf("\nRules, in order (the first match wins):\n");
        }

        FOREACH_ARRAY(rule, p->rules, p->n_rules) {
                bool matched = rule_matches(rule, &pd);
                json_object *keys = rules_json ? json_object_new_array() : NULL;

                if (!rules_json)
                        printf("  %s %-20s %s:%u%s\n", matched ? "match" : "no   ", rule->id, rule->file, rule->line,
                               !reached ? " (not reached: an earlier rule matched)" : matched ? "  <- decides" : "");
                for (MatchKey k = 0; k < _MATCH_KEY_MAX; k++) {
                        _cleanup_free_ char *actual = NULL;
                        _cleanup_strv_free_ char **expected = NULL;
                        _cleanup_free_ char *exp_text = NULL;
                        bool km;

                        if (!rule->match[k].present)
                                continue;
                        km = rule_key_matches(rule, k, &pd, &actual);
                        FOREACH_ARRAY(mv, rule->match[k].values, rule->match[k].n_values)
                                if (strv_extend(&expected, mv->text) < 0)
                                        return log_oom();
                        exp_text = strv_join(expected, " or ");
                        if (!exp_text)
                                return log_oom();
                        if (keys) {
                                json_object *kj = json_object_new_object(), *ea = json_object_new_array();
                                STRV_FOREACH(e, expected)
                                        json_object_array_add(ea, json_object_new_string(*e));
                                json_object_object_add(kj, "key", json_object_new_string(match_key_to_string(k)));
                                json_object_object_add(kj, "expected", ea);
                                json_object_object_add(kj, "actual", json_object_new_string(strna(actual)));
                                json_object_object_add(kj, "matched", json_object_new_boolean(km));
                                json_object_array_add(keys, kj);
                        } else
                                printf("        %-3s %-17s wants %s, device has %s\n", km ? "yes" : "no",
                                       match_key_to_string(k), exp_text, strna(actual));
                }
                if (rules_json) {
                        json_object *rj = json_object_new_object();
                        json_object_object_add(rj, "id", json_object_new_string(rule->id));
                        json_object_object_add(rj, "file", json_object_new_string(rule->file));
                        json_object_object_add(rj, "line", json_object_new_int((int) rule->line));
                        json_object_object_add(rj, "matched", json_object_new_boolean(matched));
                        json_object_object_add(rj, "reached", json_object_new_boolean(reached));
                        json_object_object_add(rj, "keys", keys);
                        json_object_array_add(rules_json, rj);
                }
                if (matched)
                        reached = false;
        }

        if (rules_json) {
                json_object *o = json_object_new_object(), *vo = json_object_new_object(), *rel = json_object_new_object();
                json_object_object_add(o, "device", json_object_new_string(d->slot));
                json_object_object_add(o, "interrupts", json_object_new_string(interrupt_safety_to_string(d->interrupts)));
                json_object_object_add(vo, "passthrough", json_object_new_string(passthrough_to_string(v.passthrough)));
                json_object_object_add(vo, "rule", v.rule ? json_object_new_string(v.rule->id) : NULL);
                json_object_object_add(vo, "mode", json_object_new_string(quarantine_mode_to_string(v.mode)));
                json_object_object_add(vo, "scratch_cover", json_object_new_string(format_size(v.scratch_cover, buf)));
                json_object_object_add(vo, "quarantine_on_unbind", json_object_new_boolean(v.quarantine_on_unbind));
                json_object_object_add(vo, "allow_unsafe_interrupts", json_object_new_boolean(v.allow_unsafe_interrupts));
                json_object_object_add(o, "verdict", vo);
                json_object_object_add(rel, "allowed", json_object_new_boolean(rd == RELEASE_ALLOWED));
                json_object_object_add(rel, "reason", json_object_new_string(explain));
                json_object_object_add(o, "release_to_guest", rel);
                json_object_object_add(o, "rules", rules_json);
                output_json(o);
        }
        return 0;
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
                         class_name[0] ? class_name : "class", class_name[0] ? " " : " ", d->class,
                         d->driver ?: "none", group);
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
        { "check", 0, VERB_ANY, 0, policy_check, "[FILE...]",
          "validate policy files (default: the installed policy)", 0 },
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
