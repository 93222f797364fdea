/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the libvirt domain XML reader (what the qemu hook gets on stdin): libxml2 with
 * our options plus the <hostdev>/<interface type='hostdev'> walk and libvirt's number rules.
 *
 * Invariants (abort() when violated): success gives in-range addresses, each at most once, and leaves
 * no message; failure returns one of the documented errors and leaves *ret untouched. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libvirt-xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(expr)                                                                                                    \
        do {                                                                                                           \
                if (!(expr)) {                                                                                         \
                        fprintf(stderr, "invariant violated: %s (%s:%d)\n", #expr, __FILE__, __LINE__);                \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        LibvirtHostdevs h = { .n = (size_t) -1 };
        char *xml, *message = NULL;
        int r;

        if (size > 64 * 1024)
                return 0;
        /* an exact-size copy, not NUL-terminated: ASan catches a read past size */
        xml = malloc(size ?: 1);
        if (!xml)
                return 0;
        memcpy(xml, data, size);

        r = libvirt_hostdevs_parse(xml, size, &h, &message);
        if (r >= 0) {
                check(r == 0);
                check(!message);
                check(h.n == 0 || h.addresses);
                for (size_t i = 0; i < h.n; i++) {
                        check(h.addresses[i].bus <= 0xff);
                        check(h.addresses[i].slot <= 0x1f);
                        check(h.addresses[i].func <= 7);
                        for (size_t j = 0; j < i; j++)
                                check(!pci_address_equal(&h.addresses[i], &h.addresses[j]));
                }
                libvirt_hostdevs_done(&h);
                check(h.n == 0 && !h.addresses && !h.domain_name);
        } else {
                check(r == -EBADMSG || r == -EINVAL || r == -ENOMEM);
                check(message || r == -ENOMEM);
                check(h.n == (size_t) -1 && !h.addresses && !h.domain_name);
                free(message);
        }

        free(xml);
        return 0;
}
