/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* No user: the daemon's own decisions in the audit trail. */
#define UID_INVALID ((uid_t) -1)
