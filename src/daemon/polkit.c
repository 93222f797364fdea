/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "polkit.h"

/* Bounds on what callers without any right can make isolated keep: at most this many checks pending
 * per caller (unique bus name; more are refused with LimitsExceeded at once), each given up after a
 * time-out (the caller then gets AccessDenied). An interactive check waits for a person to type a
 * password, so it gets longer. A caller's pending method calls are small: their arguments were
 * checked (and their device lists capped) before the check was asked. */
#define POLKIT_QUERIES_PER_CALLER_MAX 16U
#define POLKIT_QUERY_TIMEOUT_USEC (30 * UINT64_C(1000000))
#define POLKIT_INTERACTIVE_QUERY_TIMEOUT_USEC (120 * UINT64_C(1000000))

typedef struct Query {
        struct Query *next;
        void **registry;
        sd_bus_message *request; /* the method call waiting for the answer */
        sd_bus_slot *slot;
        bool done;
        bool authorized;
        bool challenge;
        char *error_name;
        char *error_message;
} Query;

static Query *query_free(Query *q) {
        if (!q)
                return NULL;
        sd_bus_message_unref(q->request);
        sd_bus_slot_unref(q->slot);
        free(q->error_name);
        free(q->error_message);
        return mfree(q);
}

void bus_polkit_registry_free(void **registry) {
        Query *q = *registry;
        while (q) {
                Query *n = q->next;
                query_free(q);
                q = n;
        }
        *registry = NULL;
}

static Query *registry_find(void **registry, sd_bus_message *request) {
        for (Query *q = *registry; q; q = q->next)
                if (q->request == request)
                        return q;
        return NULL;
}

static void registry_remove(void **registry, Query *q) {
        for (Query **p = (Query **) registry; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        query_free(q);
                        return;
                }
}

static unsigned registry_count_sender(void **registry, const char *sender) {
        unsigned n = 0;
        for (Query *q = *registry; q; q = q->next)
                if (streq_ptr(sd_bus_message_get_sender(q->request), sender))
                        n++;
        return n;
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Query *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        q->done = true;
        q->slot = sd_bus_slot_unref(q->slot);
        if (e) {
                q->error_name = strdup(e->name ?: SD_BUS_ERROR_ACCESS_DENIED);
                q->error_message = e->message ? strdup(e->message) : NULL;
        } else {
                int authorized = 0, challenge = 0;
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                q->authorized = r >= 0 && authorized;
                q->challenge = r >= 0 && challenge;
        }
        /* Run the method again: this time bus_verify_polkit() finds the answer. */
        r = sd_bus_message_rewind(q->request, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->request), q->request);
        if (r < 0) {
                /* Nothing will ask for this answer: give the caller an error, and drop the query
                 * (it used to stay in the registry, with the method call, until exit). */
                log_error_errno(r, "Failed to re-run a method call after polkit answered: %m");
                (void) sd_bus_reply_method_errnof(q->request, r, "Failed to run the call after authorization: %m");
                registry_remove(q->registry, q);
        }
        return 0;
}

int bus_verify_polkit(sd_bus_message *call, const char *action, bool interactive, void **registry,
                      sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pk = NULL;
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        Query *q;
        uid_t uid;
        int r;

        q = registry_find(registry, call);
        if (q) {
                if (!q->done)
                        return 0;
                if (q->authorized) {
                        registry_remove(registry, q);
                        return 1;
                }
                if (q->error_name)
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                              "Not authorized: polkit could not be asked (%s%s%s); run as root.",
                                              q->error_name, q->error_message ? ": " : "", strempty(q->error_message));
                else if (q->challenge)
                        r = sd_bus_error_set(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                             "Authentication is required (polkit action org.isolate1.manage).");
                else
                        r = sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                             "Not authorized: polkit denied org.isolate1.manage.");
                registry_remove(registry, q);
                return r;
        }

        r = sd_bus_query_sender_creds(call, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (uid == 0)
                return 1;

        if (registry_count_sender(registry, sd_bus_message_get_sender(call)) >= POLKIT_QUERIES_PER_CALLER_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "Too many authorization checks pending for this caller (at most %u); "
                                         "wait for their answers.",
                                         POLKIT_QUERIES_PER_CALLER_MAX);

        r = sd_bus_message_new_method_call(sd_bus_message_get_bus(call), &pk, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r < 0)
                return r;
        r = sd_bus_message_append(pk, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                                  sd_bus_message_get_sender(call), action, 0, (uint32_t) (interactive ? 1 : 0), "");
        if (r < 0)
                return r;

        q = calloc(1, sizeof(Query));
        if (!q)
                return -ENOMEM;
        q->registry = registry;
        q->request = sd_bus_message_ref(call);
        r = sd_bus_call_async(sd_bus_message_get_bus(call), &q->slot, pk, on_polkit_reply, q,
                              interactive ? POLKIT_INTERACTIVE_QUERY_TIMEOUT_USEC : POLKIT_QUERY_TIMEOUT_USEC);
        if (r < 0) {
                query_free(q);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Not authorized, and polkit cannot be asked: %s", strerror(-r));
        }
        q->next = *registry;
        *registry = q;
        return 0;
}
