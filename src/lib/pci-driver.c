/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "pci-driver.h"

static char *pathf(const char *fmt, ...) _printf_(1, 2);
static char *pathf(const char *fmt, ...) {
        va_list ap;
        char *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : p;
}

int pci_sysfs_driver(const char *root, const char *slot, char **ret_driver) {
        _cleanup_free_ char *link = pathf("%s/sys/bus/pci/devices/%s/driver", strempty(root), slot);
        char target[PATH_MAX];
        ssize_t n;
        const char *base;

        if (!link)
                return -ENOMEM;
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                /* unbound, unless the device itself is gone */
                _cleanup_free_ char *dev = pathf("%s/sys/bus/pci/devices/%s", strempty(root), slot);
                if (!dev)
                        return -ENOMEM;
                if (access(dev, F_OK) < 0)
                        return -ENODEV;
                *ret_driver = NULL;
                return 0;
        }
        target[n] = '\0';
        base = strrchr(target, '/');
        *ret_driver = strdup(base ? base + 1 : target);
        return *ret_driver ? 1 : -ENOMEM;
}

int pci_sysfs_set_driver_override(const char *root, const char *slot, const char *driver) {
        _cleanup_free_ char *path = pathf("%s/sys/bus/pci/devices/%s/driver_override", strempty(root), slot);
        if (!path)
                return -ENOMEM;
        /* libvirt clears it with "\n" (virPCIDeviceUnbindFromStub) */
        return write_string_file(path, isempty(driver) ? "\n" : driver);
}

int pci_sysfs_unbind(const char *root, const char *slot, const char *driver) {
        _cleanup_free_ char *path = pathf("%s/sys/bus/pci/drivers/%s/unbind", strempty(root), driver);
        if (!path)
                return -ENOMEM;
        return write_string_file(path, slot);
}

int pci_sysfs_bind(const char *root, const char *slot, const char *driver) {
        _cleanup_free_ char *path = pathf("%s/sys/bus/pci/drivers/%s/bind", strempty(root), driver);
        if (!path)
                return -ENOMEM;
        return write_string_file(path, slot);
}

int pci_sysfs_drivers_probe(const char *root, const char *slot) {
        _cleanup_free_ char *path = pathf("%s/sys/bus/pci/drivers_probe", strempty(root));
        if (!path)
                return -ENOMEM;
        return write_string_file(path, slot);
}

int pci_sysfs_group_type(const char *root, int group, char **ret_type) {
        _cleanup_free_ char *path = pathf("%s/sys/kernel/iommu_groups/%d/type", strempty(root), group);
        if (!path)
                return -ENOMEM;
        return read_one_line_file(path, ret_type);
}

int pci_sysfs_set_group_type(const char *root, int group, const char *type) {
        _cleanup_free_ char *path = pathf("%s/sys/kernel/iommu_groups/%d/type", strempty(root), group);
        if (!path)
                return -ENOMEM;
        return write_string_file(path, type);
}
