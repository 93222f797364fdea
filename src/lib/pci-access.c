/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
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
