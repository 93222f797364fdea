/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

typedef struct Manager Manager;

/* PCI bind/unbind/add/remove events, straight from the kernel's netlink socket. Nothing with --root. */
int uevent_start(Manager *m);
void uevent_stop(Manager *m);
/* One event: an unbind captures a managed device between owners, a bind of vfio-pci by someone else
 * captures a device that may not pass through, add/remove re-read the topology. */
void uevent_handle(Manager *m, const char *action, const char *slot, const char *driver);
