/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* isolate-test-flood: calls org.isolate1.Manager.Quarantine with a long device list, as whoever runs
 * it, and says how long the answer took and what it was. The daemon tests and the VM tier use it to
 * see that a huge request is refused at once (before authorization, without stalling the event loop)
 * and that an unprivileged caller cannot keep more than a few authorization checks pending.
 *
 *   isolate-test-flood --count N [--address ADDR] [--calls K] [--mode MODE] [--interactive]
 *                      [--timeout SEC] [--user-bus|--system]
 *
 * Without --address the N addresses are all different (0000:00:00.0, 0000:00:00.1, ... counting up
 * through function, slot, bus and domain): that is what made the old O(n²) deduplication slow. With
 * --address, N copies of ADDR. --calls K sends K such calls at once on one connection and waits for
 * every answer. Output, one answer per call:
 *
 *   call 1: 0.004 s: error org.freedesktop.DBus.Error.InvalidArgs: Too many devices: ...
 *   call 1: 0.010 s: taken 0000:00:02.0
 *
 * then "elapsed: S s" for the whole run. Exit status: 0 every call was answered (a reply or an error
 * from isolated), 1 a call got no answer (timeout, disconnect) or a local failure, 2 usage. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

typedef struct Call {
        unsigned index;
        uint64_t sent;
        bool answered;
        bool failed;
} Call;

static unsigned arg_count = 0;
static const char *arg_address = NULL;
static unsigned arg_calls = 1;
static const char *arg_mode = "";
static bool arg_interactive = false;
static uint64_t arg_timeout_usec = 60 * UINT64_C(1000000);
static bool arg_user_bus = false;
static unsigned n_pending = 0;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Call *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        double t = (double) (now_usec() - c->sent) / 1e6;

        c->answered = true;
        n_pending--;
        if (e) {
                /* Errors that sd-bus makes up locally mean that isolated did not answer. */
                c->failed = sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED);
                printf("call %u: %.3f s: error %s: %s\n", c->index, t, e->name, e->message ?: "");
        } else {
                char **taken = NULL;
                int r = sd_bus_message_read_strv(reply, &taken);
                if (r < 0) {
                        c->failed = true;
                        printf("call %u: %.3f s: unreadable reply: %s\n", c->index, t, strerror(-r));
                        return 0;
                }
                printf("call %u: %.3f s: taken", c->index, t);
                for (char **s = taken; s && *s; s++) {
                        printf(" %s", *s);
                        free(*s);
                }
                printf("\n");
                free(taken);
        }
        fflush(stdout);
        return 0;
}

static int append_addresses(sd_bus_message *m) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "s");
        if (r < 0)
                return r;
        for (unsigned i = 0; i < arg_count; i++) {
                char buf[32];
                const char *s = arg_address;
                if (!s) {
                        /* i as domain:bus:slot.func, function fastest */
                        snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%x", i >> 16, (i >> 8) & 0xff, (i >> 3) & 0x1f,
                                 i & 7);
                        s = buf;
                }
                r = sd_bus_message_append_basic(m, 's', s);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_append(m, "sb", arg_mode, arg_interactive);
}

static void help(void) {
        printf("Usage: isolate-test-flood --count N [--address ADDR] [--calls K] [--mode MODE] [--interactive]\n"
               "                          [--timeout SEC] [--user-bus|--system]\n"
               "Calls org.isolate1.Manager.Quarantine with N device addresses (all different, or N copies of\n"
               "ADDR), K times at once, and prints how long each answer took and what it was.\n");
}

static int parse_unsigned(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v > 100000000UL)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_USER_BUS = 0x100, ARG_SYSTEM, ARG_MODE, ARG_INTERACTIVE, ARG_TIMEOUT, ARG_CALLS };
        static const struct option options[] = { { "help", no_argument, NULL, 'h' },
                                                 { "count", required_argument, NULL, 'n' },
                                                 { "address", required_argument, NULL, 'a' },
                                                 { "calls", required_argument, NULL, ARG_CALLS },
                                                 { "mode", required_argument, NULL, ARG_MODE },
                                                 { "interactive", no_argument, NULL, ARG_INTERACTIVE },
                                                 { "timeout", required_argument, NULL, ARG_TIMEOUT },
                                                 { "user-bus", no_argument, NULL, ARG_USER_BUS },
                                                 { "system", no_argument, NULL, ARG_SYSTEM },
                                                 {} };
        unsigned v;
        int c;

        while ((c = getopt_long(argc, argv, "hn:a:", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(); exit(0);
                case 'n':
                        if (parse_unsigned(optarg, &arg_count) < 0) {
                                fprintf(stderr, "Invalid --count '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'a': arg_address = optarg; break;
                case ARG_CALLS:
                        if (parse_unsigned(optarg, &arg_calls) < 0 || arg_calls == 0 || arg_calls > 10000) {
                                fprintf(stderr, "Invalid --calls '%s': 1 to 10000.\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_MODE: arg_mode = optarg; break;
                case ARG_INTERACTIVE: arg_interactive = true; break;
                case ARG_TIMEOUT:
                        if (parse_unsigned(optarg, &v) < 0 || v == 0) {
                                fprintf(stderr, "Invalid --timeout '%s': seconds, at least 1.\n", optarg);
                                return -EINVAL;
                        }
                        arg_timeout_usec = (uint64_t) v * UINT64_C(1000000);
                        break;
                case ARG_USER_BUS: arg_user_bus = true; break;
                case ARG_SYSTEM: arg_user_bus = false; break;
                default: return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument '%s'.\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        sd_bus *bus = NULL;
        Call *calls = NULL;
        uint64_t start;
        int r, ret = 1;

        if (parse_argv(argc, argv) < 0) {
                help();
                return 2;
        }

        r = arg_user_bus ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "Failed to connect to the %s bus: %s\n", arg_user_bus ? "user" : "system",
                        strerror(-r));
                return 1;
        }
        calls = calloc(arg_calls, sizeof(Call));
        if (!calls) {
                fprintf(stderr, "Out of memory.\n");
                goto finish;
        }

        start = now_usec();
        for (unsigned i = 0; i < arg_calls; i++) {
                sd_bus_message *m = NULL;

                r = sd_bus_message_new_method_call(bus, &m, "org.isolate1", "/org/isolate1", "org.isolate1.Manager",
                                                   "Quarantine");
                if (r >= 0)
                        r = sd_bus_message_set_allow_interactive_authorization(m, arg_interactive);
                if (r >= 0)
                        r = append_addresses(m);
                if (r >= 0) {
                        calls[i] = (Call) { .index = i + 1, .sent = now_usec() };
                        r = sd_bus_call_async(bus, NULL, m, on_reply, &calls[i], arg_timeout_usec);
                }
                sd_bus_message_unref(m);
                if (r < 0) {
                        fprintf(stderr, "Failed to send call %u: %s\n", i + 1, strerror(-r));
                        goto finish;
                }
                n_pending++;
        }

        while (n_pending > 0) {
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "Failed to process the bus: %s\n", strerror(-r));
                        goto finish;
                }
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0) {
                        fprintf(stderr, "Failed to wait on the bus: %s\n", strerror(-r));
                        goto finish;
                }
        }
        printf("elapsed: %.3f s\n", (double) (now_usec() - start) / 1e6);

        ret = 0;
        for (unsigned i = 0; i < arg_calls; i++)
                if (!calls[i].answered || calls[i].failed)
                        ret = 1;
finish:
        free(calls);
        sd_bus_flush_close_unref(bus);
        return ret;
}
