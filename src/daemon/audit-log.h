/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* The audit trail: one journal record per decision (quarantine, release, refusal, reload, fail-closed),
 * with ISOLATE_ACTION, ISOLATE_DEVICE, ISOLATE_RESULT, ISOLATE_RULE and ISOLATE_CALLER_UID fields and a
 * fixed MESSAGE_ID, independent of the debug log level. Without the journal, one log line. caller_uid
 * is UID_INVALID for the daemon's own decisions. */
void audit_log(const char *action, const char *slot, const char *result, const char *rule, uid_t caller_uid,
               const char *message);
