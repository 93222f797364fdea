/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "isolate-bus.h"
#include "pci-address.h"

const sd_bus_error_map isolate_bus_error_map[] = {
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_NO_SUCH_DEVICE, ENODEV),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_NOT_ALLOWED, EACCES),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_UNSAFE_INTERRUPTS, EPERM),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_GROUP_NOT_VIABLE, EXDEV),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_DEVICE_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_NOT_ISOLATABLE, ENOTSUP),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_NOT_QUARANTINED, ENOENT),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_UNSUPPORTED, ENOSYS),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_POLICY_INVALID, EBADMSG),
        SD_BUS_ERROR_MAP(ISOLATE_ERROR_FAILED, EIO),
        SD_BUS_ERROR_MAP_END,
};

const char *isolate_bus_error_for_engine(EngineErrorKind kind) {
        switch (kind) {
        case ENGINE_ERROR_NO_DEVICE: return ISOLATE_ERROR_NO_SUCH_DEVICE;
        case ENGINE_ERROR_NOT_ISOLATABLE: return ISOLATE_ERROR_NOT_ISOLATABLE;
        case ENGINE_ERROR_GROUP_NOT_VIABLE: return ISOLATE_ERROR_GROUP_NOT_VIABLE;
        case ENGINE_ERROR_UNSAFE_INTERRUPTS: return ISOLATE_ERROR_UNSAFE_INTERRUPTS;
        case ENGINE_ERROR_BUSY: return ISOLATE_ERROR_DEVICE_BUSY;
        case ENGINE_ERROR_NOT_HELD: return ISOLATE_ERROR_NOT_QUARANTINED;
        case ENGINE_ERROR_UNSUPPORTED: return ISOLATE_ERROR_UNSUPPORTED;
        default: return ISOLATE_ERROR_FAILED;
        }
}

int isolate_bus_device_path(const char *slot, char **ret) {
        PciAddress a;
        char buf[PCI_ADDRESS_MAX], *p;

        if (pci_address_parse(slot, &a) < 0)
                return -EINVAL;
        pci_address_format(&a, buf);
        for (char *c = buf; *c; c++)
                if (*c == ':' || *c == '.')
                        *c = '_';
        if (asprintf(&p, ISOLATE_BUS_DEVICE_PREFIX "/%s", buf) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int isolate_bus_device_slot(const char *path, char **ret) {
        const char *prefix = ISOLATE_BUS_DEVICE_PREFIX "/";
        char buf[PCI_ADDRESS_MAX];
        PciAddress a;
        size_t n;

        if (strncmp(path, prefix, strlen(prefix)) != 0)
                return -EINVAL;
        path += strlen(prefix);
        n = strlen(path);
        if (n < 12 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, path, n + 1);
        /* dddd_bb_ss_f: the last '_' was '.', the others ':' */
        char *last = strrchr(buf, '_');
        if (!last)
                return -EINVAL;
        for (char *c = buf; *c; c++)
                if (*c == '_')
                        *c = c == last ? '.' : ':';
        if (pci_address_parse_full(buf, &a) < 0)
                return -EINVAL;
        *ret = strdup(pci_address_format(&a, buf));
        return *ret ? 0 : -ENOMEM;
}
