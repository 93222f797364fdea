/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "isolatectl.h"
#include "log.h"
#include "verbs.h"

const char *arg_root = NULL;
const char *arg_policy = NULL;
bool arg_ask_password = true;
QuarantineMode arg_mode = _QUARANTINE_MODE_INVALID;
const char *arg_to = NULL;
bool arg_dry_run = false;
PciSelector arg_selector;
bool arg_have_selector = false;

static VerbOptions seen_options;

static const Verb verbs[] = {
        { "list", 0, 0, VERB_DEFAULT, verb_list, NULL,
          "every PCI device: slot, ids, class, driver, IOMMU group, state, verdict", OPT_SELECTOR },
        { "status", 0, VERB_ANY, VERB_ONLINE, verb_status, "[DEVICE...]",
          "devices held by isolated and their state, mode, since, faults", 0 },
        { "quarantine", 1, VERB_ANY, VERB_ONLINE, verb_quarantine, "DEVICE... [--mode=blocked|scratch-page]",
          "take devices (and their IOMMU groups) into quarantine", OPT_MODE },
        { "release", 1, VERB_ANY, VERB_ONLINE, verb_release, "DEVICE... --to=guest|host",
          "hand quarantined devices to a guest, or back to their host driver", OPT_TO },
        { "audit", 0, VERB_ANY, 0, verb_audit, "[DEVICE...]", "topology and interrupt-safety findings", 0 },
        { "policy", 1, VERB_ANY, 0, verb_policy, "check|show|test|generate ...",
          "validate, show, try out or generate the policy (see below)", 0 },
        { "reload", 0, 0, VERB_ONLINE, verb_reload, NULL, "ask isolated to re-read the policy", 0 },
        { "monitor", 0, 0, VERB_ONLINE, verb_monitor, NULL,
          "stream state changes and DMA faults (JSON lines with --json)", 0 },
        { "libvirt-hook", 4, 4, VERB_RAW_ARGS | VERB_ONLINE, verb_libvirt_hook,
          "[--dry-run] [--] OBJECT OPERATION SUB-OPERATION EXTRA",
          "libvirt's qemu hook: domain XML on stdin; prepare releases, release/stopped re-quarantine", OPT_DRY_RUN },
        { "capture", 1, 1, 0, verb_capture, "DIR", "write a snapshot of what isolate reads (for --root, bug reports)",
          0 },
        {},
};

static int help(void) {
        printf("isolatectl [OPTIONS...] COMMAND ...\n\n"
               "Keep PCI devices between owners in IOMMU quarantine, and audit how well this machine isolates them.\n\n"
               "Commands:\n");
        verbs_print_help(verbs, NULL);
        printf("\nPolicy commands:\n");
        policy_print_help();
        printf("\nOptions:\n"
               "  -h --help                 show this help\n"
               "     --version              show the version\n"
               "  -j                        same as --json (pretty on a terminal, short otherwise)\n"
               "     --json=pretty|short|off\n"
               "                            print JSON instead of tables\n"
               "     --no-legend            omit table headers and summaries\n"
               "     --root=DIR             read DIR/sys and DIR/proc instead of /sys and /proc (a snapshot;\n"
               "                            the verbs that work without isolated)\n"
               "     --policy=FILE          use this policy file instead of %s/policy.json and policy.d/\n"
               "     --no-ask-password      do not ask for a password when polkit authorization is needed\n"
               "     --mode=blocked|scratch-page\n"
               "                            quarantine mode (quarantine; default: the policy's)\n"
               "     --to=guest|host        where release hands the device (release)\n"
               "  -s [[[DOMAIN]:][BUS]:][SLOT][.[FUNC]]\n"
               "                            only devices in this slot (list; lspci syntax)\n"
               "  -d [VENDOR]:[DEVICE][:CLASS[:PROG-IF]]\n"
               "                            only devices with these IDs (list; lspci syntax)\n"
               "     --dry-run              libvirt-hook: print the domain's host PCI devices, contact nothing\n\n"
               "DEVICE is a PCI address, 0000:03:00.0 or 03:00.0 (domain 0000).\n"
               "Exit status: 0 success, 1 failure, 2 usage error, 3 audit found high/critical findings or\n"
               "policy check found the policy invalid.\n"
               "See isolatectl(1), isolate-policy.json(5), isolated(8).\n",
               ISOLATE_POLICY_DIR);
        return 0;
}

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_NO_LEGEND,
        ARG_ROOT,
        ARG_POLICY,
        ARG_NO_ASK_PASSWORD,
        ARG_MODE,
        ARG_TO,
        ARG_DRY_RUN,
};

static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        { "json", optional_argument, NULL, ARG_JSON },
        { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
        { "root", required_argument, NULL, ARG_ROOT },
        { "policy", required_argument, NULL, ARG_POLICY },
        { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
        { "mode", required_argument, NULL, ARG_MODE },
        { "to", required_argument, NULL, ARG_TO },
        { "dry-run", no_argument, NULL, ARG_DRY_RUN },
        {},
};

/* Handles one option. Returns 1 to go on, 0 to exit successfully (--help), ERR_USAGE on errors. */
static int parse_option(int c, char *argv[]) {
        const char *why;

        switch (c) {
        case 'h': help(); return 0;
        case ARG_VERSION: printf("isolate %s\n", PACKAGE_VERSION); return 0;
        case 'j':
                arg_json = json_format_default();
                arg_legend = false;
                break;
        case ARG_JSON:
                if (json_format_from_string(optarg, &arg_json) < 0)
                        return usage_error("Invalid --json= value '%s': expected pretty, short or off.", optarg);
                if (arg_json != JSON_FORMAT_OFF)
                        arg_legend = false;
                break;
        case ARG_NO_LEGEND: arg_legend = false; break;
        case ARG_ROOT:
                if (isempty(optarg))
                        return usage_error("--root= needs a directory.");
                arg_root = optarg;
                break;
        case ARG_POLICY:
                if (isempty(optarg))
                        return usage_error("--policy= needs a file.");
                arg_policy = optarg;
                break;
        case ARG_NO_ASK_PASSWORD: arg_ask_password = false; break;
        case ARG_MODE:
                arg_mode = quarantine_mode_from_string(optarg);
                if (arg_mode < 0)
                        return usage_error("Invalid --mode= value '%s': expected blocked or scratch-page.", optarg);
                seen_options |= OPT_MODE;
                break;
        case ARG_TO:
                if (!streq(optarg, "guest") && !streq(optarg, "host"))
                        return usage_error("Invalid --to= value '%s': expected guest or host.", optarg);
                arg_to = optarg;
                seen_options |= OPT_TO;
                break;
        case 's':
                if (pci_selector_parse_slot(&arg_selector, optarg, &why) < 0)
                        return usage_error(
                                "Invalid -s selector '%s': %s (expected [[[DOMAIN]:][BUS]:][SLOT][.[FUNC]]).", optarg,
                                why);
                arg_have_selector = true;
                seen_options |= OPT_SELECTOR;
                break;
        case 'd':
                if (pci_selector_parse_id(&arg_selector, optarg, &why) < 0)
                        return usage_error(
                                "Invalid -d selector '%s': %s (expected [VENDOR]:[DEVICE][:CLASS[:PROG-IF]]).", optarg,
                                why);
                arg_have_selector = true;
                seen_options |= OPT_SELECTOR;
                break;
        case ARG_DRY_RUN:
                arg_dry_run = true;
                seen_options |= OPT_DRY_RUN;
                break;
        case '?':
                if (optopt)
                        return usage_error("Unknown option '-%c'.", optopt);
                return usage_error("Unknown option '%s'.", argv[optind - 1]);
        case ':': return usage_error("Option '%s' needs a value.", argv[optind - 1]);
        default: return usage_error("Unexpected option.");
        }
        return 1;
}

/* One pass over the command line. Options may come before and after the verb, in any order; the
 * positional arguments (the verb first) keep theirs and are collected into args. getopt runs in
 * order ('+'): at each non-option it stops, the argument is taken and getopt goes on after it. The
 * exceptions:
 *   "--"                 ends the options: the rest is positional (before the verb, only the verb
 *                        itself is: options after it are still parsed);
 *   an unknown verb      ends the parsing: dispatch_verb() names it (with a suggestion);
 *   a VERB_RAW_ARGS verb takes only its own leading flags, up to a "--": libvirt passes names that
 *                        may start with '-' (the installed hook passes them after "--", so even a
 *                        domain named "--dry-run" is one).
 * Sets *ret_verb to the verb (NULL: unknown, or no verb and no default). Returns 1 to go on, 0 to exit
 * successfully, ERR_USAGE. */
static int parse_argv(int argc, char *argv[], char **args, int *ret_n, const Verb **ret_verb) {
        const Verb *v = NULL;
        int n = 0, r;

        assert(argc >= 1);
        assert(args);
        assert(ret_n);
        assert(ret_verb);

        opterr = 0;
        optind = 0; /* full initialisation */
        for (;;) {
                int i = optind ?: 1;

                /* "--" is handled here, not by getopt (which would go back to it on the next call) */
                if (i < argc && streq(argv[i], "--")) {
                        optind = i + 1;
                        if (n > 0) {
                                /* the rest is positional */
                                while (optind < argc)
                                        args[n++] = argv[optind++];
                                break;
                        }
                        /* before the verb: the verb follows whatever it looks like; options after it
                         * are still parsed */
                        if (optind >= argc)
                                break;
                } else {
                        int c = getopt_long(argc, argv, "+:hjs:d:", options, NULL);

                        if (c >= 0) {
                                r = parse_option(c, argv);
                                if (r <= 0)
                                        return r;
                                continue;
                        }
                        if (optind >= argc)
                                break;
                }

                /* a positional argument */
                args[n++] = argv[optind++];
                if (n > 1)
                        continue;

                v = verbs_find(verbs, args[0]);
                if (!v) {
                        while (optind < argc)
                                args[n++] = argv[optind++];
                        break;
                }
                if (v->flags & VERB_RAW_ARGS) {
                        while (optind < argc && (streq(argv[optind], "--dry-run") || streq(argv[optind], "--"))) {
                                if (streq(argv[optind++], "--"))
                                        break;
                                arg_dry_run = true;
                                seen_options |= OPT_DRY_RUN;
                        }
                        while (optind < argc)
                                args[n++] = argv[optind++];
                        break;
                }
        }

        if (n == 0)
                v = verbs_find(verbs, NULL);
        args[n] = NULL;
        *ret_n = n;
        *ret_verb = v;
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_free_ char **args = NULL;
        const Verb *v;
        int n, r;

        pci_selector_init(&arg_selector);

        args = calloc((size_t) argc + 1, sizeof(char *));
        if (!args)
                return log_oom();
        r = parse_argv(argc, argv, args, &n, &v);
        if (r <= 0)
                return r;

        if (v) {
                VerbOptions extra = seen_options & ~v->options;
                if (extra & OPT_MODE)
                        return usage_error("--mode= only applies to 'quarantine'.");
                if (extra & OPT_TO)
                        return usage_error("--to= only applies to 'release'.");
                if (extra & OPT_SELECTOR)
                        return usage_error("-s and -d only apply to 'list'.");
                if (extra & OPT_DRY_RUN)
                        return usage_error("--dry-run only applies to 'libvirt-hook'.");
                /* The daemon verbs act on this machine through isolated, which reads its own policy: a
                 * --root or --policy there would be silently ignored, and act on the real machine. */
                if ((v->flags & VERB_ONLINE) && !arg_dry_run && (arg_root || arg_policy))
                        return usage_error("%s only applies to the verbs that work without isolated (list, audit, "
                                           "policy, capture); '%s' goes through isolated, which reads the "
                                           "machine and its own policy.",
                                           arg_root ? "--root=" : "--policy=", v->name);
        }

        return dispatch_verb(n, args, verbs, NULL);
}

int main(int argc, char *argv[]) {
        int r;

        log_set_target(LOG_TARGET_STDERR);
        r = run(argc, argv);
        if (r == ERR_USAGE)
                return EXIT_USAGE;
        if (r < 0)
                return EXIT_FAILURE;
        return r;
}
