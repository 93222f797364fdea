/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* isolate-test-fake-polkit: owns org.freedesktop.PolicyKit1 on the bus in DBUS_SYSTEM_BUS_ADDRESS and
 * answers CheckAuthorization always the same way, so that the daemon tests can drive isolated's
 * asynchronous authorization without a real polkitd:
 *
 *   isolate-test-fake-polkit yes|no|challenge|never
 *
 * "never" keeps every question unanswered (until the caller gives up). Each question is logged on
 * stdout as "check ACTION from SENDER"; SIGTERM ends it. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

static const char *arg_answer;

static int method_check_authorization(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *kind, *action;
        int r;

        r = sd_bus_message_enter_container(m, 'r', "sa{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &kind);
        if (r < 0)
                return r;
        r = sd_bus_message_skip(m, "a{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &action);
        if (r < 0)
                return r;
        printf("check %s from %s\n", action, sd_bus_message_get_sender(m));
        fflush(stdout);

        if (strcmp(arg_answer, "never") == 0)
                return 1; /* no reply, ever */
        return sd_bus_reply_method_return(m, "(bba{ss})", strcmp(arg_answer, "yes") == 0,
                                          strcmp(arg_answer, "challenge") == 0, 0);
}

static const sd_bus_vtable authority_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("CheckAuthorization", "(sa{sv})sa{ss}us", "(bba{ss})", method_check_authorization, 0),
        SD_BUS_VTABLE_END,
};

int main(int argc, char *argv[]) {
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        sigset_t mask;
        int r;

        if (argc != 2 || (strcmp(argv[1], "yes") != 0 && strcmp(argv[1], "no") != 0 &&
                          strcmp(argv[1], "challenge") != 0 && strcmp(argv[1], "never") != 0)) {
                fprintf(stderr, "Usage: isolate-test-fake-polkit yes|no|challenge|never\n");
                return 2;
        }
        arg_answer = argv[1];

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/PolicyKit1/Authority",
                                             "org.freedesktop.PolicyKit1.Authority", authority_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, "org.freedesktop.PolicyKit1", 0);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_event_loop(event);
        if (r < 0)
                fprintf(stderr, "isolate-test-fake-polkit: %s\n", strerror(-r));
        sd_bus_flush_close_unref(bus);
        sd_event_unref(event);
        return r < 0 ? 1 : 0;
}
