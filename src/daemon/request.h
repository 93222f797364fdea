/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "device.h"

/* vfio's device request channel: when someone unbinds vfio-pci from a device isolated holds (an
 * admin, libvirt's managed reattach, rmmod), the kernel signals an eventfd registered on the device's
 * VFIO file and blocks the unbind until the file is closed. isolated lets that device go (loudly)
 * rather than hang them: operation_release_on_request(). */

/* Registers the channel of a held device (a failure is logged: the device stays held, an unbind of
 * vfio-pci would then wait for isolated to stop). */
void request_watch(Manager *m, const char *slot);
/* Stops watching (the device is no longer held). */
void request_unwatch(Device *d);
