/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>

/* Authorization of the mutating methods: root may always; anyone else needs polkit's yes for the
 * action, asked asynchronously over D-Bus (org.freedesktop.PolicyKit1.Authority.CheckAuthorization),
 * as systemd's bus_verify_polkit_async does. The method handler calls bus_verify_polkit():
 *   > 0  authorized: go on;
 *   0    the question is out: return 1 from the handler; it runs again with the same message once
 *        polkit answered;
 *   < 0  refused (error is set): return it. */
int bus_verify_polkit(sd_bus_message *call, const char *action, bool interactive, void **registry, sd_bus_error *error);
void bus_polkit_registry_free(void **registry);
