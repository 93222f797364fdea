/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci-access.h"

static sigjmp_buf *guard;
static char guard_message[512];

_noreturn_ static void pci_error_handler(char *msg, ...) {
        va_list ap;

        va_start(ap, msg);
        (void) vsnprintf(guard_message, sizeof(guard_message), msg, ap);
        va_end(ap);

        if (guard)
                siglongjmp(*guard, 1);
        /* Not reachable: every libpci call goes through pci_guarded(). Fail loudly rather than let
         * libpci return into undefined state. */
        abort();
}

static void pci_quiet_handler(char *msg, ...) {
        (void) msg;
}

int pci_guarded(int (*fn)(struct pci_access *acc, void *userdata), struct pci_access *acc, void *userdata,
                char **reterr_message) {
        sigjmp_buf env, *saved = guard;
        volatile int r;

        if (sigsetjmp(env, 0) != 0) {
                guard = saved;
                if (reterr_message)
                        *reterr_message = strdup(guard_message);
                return -EIO;
        }
        guard = &env;
        r = fn(acc, userdata);
        guard = saved;
        return r;
}

struct open_args {
        const char *path;
};

static int open_fn(struct pci_access *acc, void *userdata) {
        struct open_args *a = userdata;

        if (pci_set_param(acc, (char *) "sysfs.path", (char *) a->path) < 0)
                return -EINVAL;
        pci_init(acc);
        return 0;
}

int pci_access_open(const char *sysfs_bus_pci, struct pci_access **ret, char **reterr_message) {
        struct pci_access *acc;
        struct open_args a = { .path = sysfs_bus_pci };
        int r;

        acc = pci_alloc();
        if (!acc)
                return -ENOMEM;
        acc->error = pci_error_handler;
        acc->warning = pci_quiet_handler;
        acc->debug = pci_quiet_handler;
        acc->method = PCI_ACCESS_SYS_BUS_PCI;

        r = pci_guarded(open_fn, acc, &a, reterr_message);
        if (r < 0) {
                pci_access_close(acc);
                return r;
        }
        *ret = acc;
        return 0;
}

static int cleanup_fn(struct pci_access *acc, void *userdata) {
        (void) userdata;
        pci_cleanup(acc);
        return 0;
}

void pci_access_close(struct pci_access *acc) {
        if (acc)
                (void) pci_guarded(cleanup_fn, acc, NULL, NULL);
}

struct name_args {
        PciNameKind kind;
        uint16_t vendor, device;
        uint32_t class24;
        char *buf;
        size_t size;
};

static int name_fn(struct pci_access *acc, void *userdata) {
        struct name_args *a = userdata;
        const char *s = NULL;
        /* pci.ids only, not udev's hwdb: libpci (3.9) calls udev_new() again on every lookup while
         * the hwdb cannot be opened (no hwdb.bin, as in containers and initrds) and loses the old
         * handle each time, a leak per unknown ID; and the names do not depend on udev's state. */
        int flags = PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB;

        switch (a->kind) {
        case PCI_NAME_VENDOR:
                s = pci_lookup_name(acc, a->buf, (int) a->size, flags | PCI_LOOKUP_VENDOR, a->vendor);
                break;
        case PCI_NAME_DEVICE:
                s = pci_lookup_name(acc, a->buf, (int) a->size, flags | PCI_LOOKUP_DEVICE, a->vendor, a->device);
                break;
        case PCI_NAME_CLASS:
                s = pci_lookup_name(acc, a->buf, (int) a->size, flags | PCI_LOOKUP_CLASS, (int) (a->class24 >> 8));
                break;
        }
        if (s && s != a->buf)
                snprintf(a->buf, a->size, "%s", s);
        else if (!s)
                a->buf[0] = '\0';
        return 0;
}

static int names_init_fn(struct pci_access *acc, void *userdata) {
        (void) userdata;
        (void) pci_load_name_list(acc);
        return 0;
}

const char *pci_name_lookup(PciNameKind kind, uint16_t vendor, uint16_t device, uint32_t class24, char *buf,
                            size_t size) {
        static struct pci_access *names;
        struct name_args a = { kind, vendor, device, class24, buf, size };

        if (size == 0)
                return buf;
        buf[0] = '\0';
        if (!names) {
                names = pci_alloc();
                if (!names)
                        return buf;
                names->error = pci_error_handler;
                names->warning = pci_quiet_handler;
                names->debug = pci_quiet_handler;
                if (pci_guarded(names_init_fn, names, NULL, NULL) < 0)
                        return buf;
        }
        if (pci_guarded(name_fn, names, &a, NULL) < 0)
                buf[0] = '\0';
        return buf;
}
