/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "fileio.h"
#include "hashmap.h"
#include "manager.h"
#include "request.h"

Device *device_find(Manager *m, const char *slot) {
        char canon[PCI_ADDRESS_MAX];
        PciAddress a;

        assert(m);

        if (!slot || pci_address_parse(slot, &a) < 0)
                return NULL;
        return hashmap_get(m->devices, pci_address_format(&a, canon));
}

Device *device_get(Manager *m, const char *slot) {
        char canon[PCI_ADDRESS_MAX];
        PciAddress a;
        Device *d;

        assert(m);

        if (!slot || pci_address_parse(slot, &a) < 0)
                return NULL;
        d = hashmap_get(m->devices, pci_address_format(&a, canon));
        if (d)
                return d;
        d = malloc(sizeof(Device));
        if (!d)
                return NULL;
        *d = (Device) { .manager = m, .req_fd = -EBADF, .msi_isolated_group = -1 };
        memcpy(d->slot, canon, sizeof(canon));
        if (hashmap_put(m->devices, d->slot, d) < 0)
                return mfree(d);
        return d;
}

bool device_exists(Manager *m, const char *slot) {
        PciAddress a;
        return slot && pci_address_parse(slot, &a) >= 0 && topology_find_device(m->topology, &a);
}

Device *device_free(Device *d) {
        if (!d)
                return NULL;
        request_unwatch(d);
        free(d->host_driver);
        free(d->last_error);
        return mfree(d);
}

int device_set_host_driver(Device *d, const char *driver) {
        char *copy = NULL;

        assert(d);

        if (streq_ptr(d->host_driver, driver))
                return 0;
        if (driver && !(copy = strdup(driver)))
                return -ENOMEM;
        free_and_replace(d->host_driver, copy);
        return 0;
}

void device_set_error(Device *d, const char *message) {
        assert(d);
        free(d->last_error);
        d->last_error = message ? strdup(message) : NULL;
}

void device_set_error_by_slot(Manager *m, const char *slot, const char *message) {
        Device *d = device_exists(m, slot) ? device_get(m, slot) : NULL;
        if (d)
                device_set_error(d, message);
}
