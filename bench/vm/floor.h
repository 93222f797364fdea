/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The honest floor of a capture on unbind: the least a program must do to take a device that has just
 * left its driver, done by hand with nothing else around it. It hears the kernel's unbind uevent on the
 * same netlink source isolated uses (libudev, "kernel", subsystem pci), writes driver_override=vfio-pci,
 * writes the slot to drivers_probe, opens /dev/vfio/devices/vfioN, VFIO_DEVICE_BIND_IOMMUFD (the group is
 * on the kernel's blocking domain from here: isolated's blocked mode) and VFIO_DEVICE_ATTACH_IOMMUFD_PT to
 * an IOAS (what scratch-page mode adds). /dev/iommu and the IOAS are opened once, as isolated keeps its own
 * open. Every step is timed from just before the write to the driver's unbind file. */

enum {
        FLOOR_UNBIND,   /* the write to DRIVER/unbind returned */
        FLOOR_EVENT,    /* the unbind uevent received */
        FLOOR_OVERRIDE, /* driver_override=vfio-pci written */
        FLOOR_PROBE,    /* drivers_probe written (vfio-pci bound) */
        FLOOR_OPEN,     /* /dev/vfio/devices/vfioN open */
        FLOOR_BIND,     /* VFIO_DEVICE_BIND_IOMMUFD done: blocked */
        FLOOR_ATTACH,   /* VFIO_DEVICE_ATTACH_IOMMUFD_PT done: attached */
        _FLOOR_STEP_MAX,
};

extern const char *const floor_step_name[_FLOOR_STEP_MAX];

typedef struct Floor Floor;

/* attach: also attach to an IOAS (the scratch comparison); otherwise FLOOR_ATTACH == FLOOR_BIND. */
int floor_new(bool attach, Floor **ret);
void floor_free(Floor *f);

/* Unbinds slot from driver and takes it; t[step] are ns since just before the unbind write. The
 * device stays held (its fd open) until floor_give_back(). */
int floor_take(Floor *f, const char *slot, const char *driver, uint64_t t[_FLOOR_STEP_MAX]);

/* Takes a device that is already without a driver, the same way but with no event to wait for (what a
 * daemon does at start for each device it finds between owners); t[] from the call. */
int floor_take_driverless(Floor *f, const char *slot, uint64_t t[_FLOOR_STEP_MAX]);

/* Not timed: closes the device and hands it back to driver (vfio-pci unbound, driver_override=driver,
 * probed), then drains the events that caused. driver NULL: closes it and leaves it on vfio-pci. */
int floor_give_back(Floor *f, const char *slot, const char *driver);

/* Small helpers the benchmarks share. */
int bench_write_file(const char *path, const char *s);
