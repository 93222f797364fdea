/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>

#include <systemd/sd-journal.h>

#include "audit-log.h"
#include "log.h"
#include "user-util.h"

#define ISOLATE_DECISION_MESSAGE_ID "5d0a5f2e7c1e4a1b9a3c0f0e8d7b6a52"

void audit_log(const char *action, const char *slot, const char *result, const char *rule, uid_t caller_uid,
               const char *message) {
        char uid[32] = "";
        int prio = streq(result, "success") ? LOG_INFO : LOG_WARNING;

        assert(action);
        assert(result);

        if (caller_uid != UID_INVALID)
                snprintf(uid, sizeof(uid), "%u", (unsigned) caller_uid);
        /* USBGuard-style audit records: journal fields, independent of the debug log. */
        if (log_get_target() != LOG_TARGET_JOURNAL ||
            sd_journal_send("MESSAGE=%s", strna(message), "PRIORITY=%i", prio,
                            "MESSAGE_ID=" ISOLATE_DECISION_MESSAGE_ID, "ISOLATE_ACTION=%s", action, "ISOLATE_DEVICE=%s",
                            strempty(slot), "ISOLATE_RESULT=%s", result, "ISOLATE_RULE=%s", strempty(rule),
                            "ISOLATE_CALLER_UID=%s", uid, NULL) < 0)
                log_full(prio, "%s [action=%s device=%s result=%s rule=%s uid=%s]", strna(message), action,
                         strempty(slot), result, strempty(rule), uid);
}
