/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

typedef struct Manager Manager;

/* org.isolate1.Device at /org/isolate1/device/<slot>, one object per PCI function (a fallback vtable
 * over the device records). */
int bus_device_setup(Manager *m);

/* The mode of a device in quarantine ("blocked", "scratch-page"), "" otherwise: the record's and the
 * DeviceStateChanged signal's mode. */
const char *bus_device_mode(Manager *m, const char *slot);

/* Appends the device's record (ISOLATE_DEVICE_RECORD) to a message. -ENODEV: no such device. */
int bus_device_append_record(Manager *m, sd_bus_message *reply, const char *slot);

/* PropertiesChanged for what a state change, a fault or a policy verdict change alter. */
void bus_device_emit_state_changed(Manager *m, const char *slot);
void bus_device_emit_faults_changed(Manager *m, const char *slot);
void bus_device_emit_verdict_changed(Manager *m, const char *slot);
