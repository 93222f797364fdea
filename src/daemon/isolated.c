/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "isolated.h"
#include "log.h"
#include "manager.h"
#include "state.h"

static ManagerConfig arg_config = {
        .policy_dir = ISOLATE_POLICY_DIR,
        .state_dir = ISOLATE_STATE_DIR,
};

static void help(void) {
        printf("isolated [OPTIONS...]\n\n"
               "Keeps PCI devices that are between owners in an iommufd quarantine, enforces the passthrough\n"
               "policy, and answers isolatectl on D-Bus (org.isolate1). Normally started by systemd\n"
               "(isolated.service).\n\n"
               "  -h --help               show this help\n"
               "     --version            show the version\n"
               "     --policy=FILE        read this policy file instead of %s/policy.json and policy.d/\n"
               "     --policy-dir=DIR     read DIR/policy.json and DIR/policy.d/*.json (default %s)\n"
               "     --state-dir=DIR      keep state.json in DIR (default %s)\n"
               "     --backend=KIND       hold devices through iommufd or legacy (VFIO's group and container);\n"
               "                          default: iommufd where the kernel has it, legacy otherwise\n"
               "     --root=DIR           read DIR/sys and DIR/proc instead of /sys and /proc (testing)\n"
               "     --session-bus        serve on the session bus instead of the system bus (testing)\n"
               "     --log-level=LEVEL    emerg, alert, crit, err, warning, notice, info or debug (default info)\n"
               "     --log-target=TARGET  journal or console (default: journal when started by systemd)\n\n"
               "Signals: SIGHUP reloads the policy (an invalid one is refused and the old one stays).\n"
               "See isolated(8), org.isolate1(5), isolate-policy.json(5).\n",
               ISOLATE_POLICY_DIR, ISOLATE_POLICY_DIR, ISOLATE_STATE_DIR);
}

static int parse_level(const char *s) {
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return i;
        return -EINVAL;
}

/* 1: go on; 0: exit successfully; < 0: usage error */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_POLICY,
                ARG_POLICY_DIR,
                ARG_STATE_DIR,
                ARG_ROOT,
                ARG_BACKEND,
                ARG_SESSION_BUS,
                ARG_LOG_LEVEL,
                ARG_LOG_TARGET,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "policy", required_argument, NULL, ARG_POLICY },
                { "policy-dir", required_argument, NULL, ARG_POLICY_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "root", required_argument, NULL, ARG_ROOT },
                { "backend", required_argument, NULL, ARG_BACKEND },
                { "session-bus", no_argument, NULL, ARG_SESSION_BUS },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                {},
        };
        int c, l;

        /* started by systemd: the journal gets the structured fields */
        log_set_target(getenv("JOURNAL_STREAM") || getenv("NOTIFY_SOCKET") ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(); return 0;
                case ARG_VERSION: printf("isolate %s\n", PACKAGE_VERSION); return 0;
                case ARG_POLICY: arg_config.policy_file = optarg; break;
                case ARG_POLICY_DIR: arg_config.policy_dir = optarg; break;
                case ARG_STATE_DIR: arg_config.state_dir = optarg; break;
                case ARG_ROOT: arg_config.root = optarg; break;
                case ARG_BACKEND:
                        if (engine_kind_from_string(optarg) < 0 && !streq(optarg, "auto"))
                                return log_error_errno(
                                        EINVAL, "Invalid --backend= value '%s' (iommufd, legacy or auto).", optarg);
                        arg_config.backend = streq(optarg, "auto") ? NULL : optarg;
                        break;
                case ARG_SESSION_BUS: arg_config.user_bus = true; break;
                case ARG_LOG_LEVEL:
                        l = parse_level(optarg);
                        if (l < 0)
                                return log_error_errno(EINVAL, "Invalid --log-level= value '%s'.", optarg);
                        log_set_max_level(l);
                        break;
                case ARG_LOG_TARGET:
                        if (streq(optarg, "journal"))
                                log_set_target(LOG_TARGET_JOURNAL);
                        else if (streq(optarg, "console"))
                                log_set_target(LOG_TARGET_STDERR);
                        else
                                return log_error_errno(EINVAL, "Invalid --log-target= value '%s'.", optarg);
                        break;
                case '?': return -EINVAL;
                default: return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "isolated takes no arguments.");
        return 1;
}

int isolated_main(int argc, char *argv[], const EngineBackend *backend) {
        _cleanup_(manager_freep) Manager *m = NULL;
        void *ops_data = NULL;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        if (backend) {
                if (!arg_config.root)
                        return log_error_errno(EINVAL, "This test build of isolated needs --root."), 2;
                ops_data = backend->new (arg_config.root);
                if (!ops_data)
                        return log_oom(), EXIT_FAILURE;
                arg_config.ops = backend->ops;
                arg_config.ops_data = ops_data;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = manager_new(&arg_config, &m);
        if (r < 0)
                goto finish;
        (void) sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);

        r = manager_startup(m);
        if (r < 0) {
                (void) sd_notifyf(0, "STATUS=Failed to start: %s\nERRNO=%i", strerror(-r), -r);
                goto finish;
        }

        (void) sd_notifyf(0, "READY=1\nSTATUS=Watching %zu PCI devices%s", m->topology->n_devices,
                          m->policy_error ? " (the policy is invalid: built-in defaults apply)" : "");
        log_info("isolated %s ready: %zu PCI devices, %zu policy rule(s).", PACKAGE_VERSION, m->topology->n_devices,
                 m->policy->n_rules);

        r = sd_event_loop(m->event);
        state_flush(m); /* fault counts not saved yet */
        (void) sd_notify(0,
                         "STOPPING=1\nSTATUS=Stopping; quarantined devices stay in systemd's file descriptor store.");
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");

finish:
        m = manager_free(m); /* before the backend's data, which the engine uses */
        if (backend && ops_data)
                backend->free(ops_data);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
