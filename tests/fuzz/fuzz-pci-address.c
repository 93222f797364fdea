/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for PCI addresses ("0000:03:00.0", "03:00.0") and lspci-style selectors
 * (-s [[[domain]:][bus]:][slot][.[func]], -d [vendor]:[device][:class[:prog-if]]).
 *
 * The whole input is tried as each kind of string. Invariants (abort() when violated):
 *   - a parsed address is in range, formats as "dddd:bb:ss.f" and re-parses (short and full form)
 *     to the same value; pci_address_parse_full() accepts a subset of pci_address_parse();
 *   - pci_address_canonicalize() agrees with parse + format;
 *   - a string that is both an address and a -s selector names the same function both ways;
 *   - the slot selector made of a formatted address (domain <= 0x7fffffff, libpci's limit) parses
 *     and matches exactly that address;
 *   - a selector that parsed with every field set matches what it names. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci-address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(expr)                                                                                                    \
        do {                                                                                                           \
                if (!(expr)) {                                                                                         \
                        fprintf(stderr, "invariant violated: %s (%s:%d)\n", #expr, __FILE__, __LINE__);                \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)

static void check_address(const PciAddress *a) {
        char buf[PCI_ADDRESS_MAX], *canonical = NULL;
        PciAddress b;

        check(a->slot <= 0x1f);
        check(a->func <= 7);
        pci_address_format(a, buf);
        check(strlen(buf) >= strlen("0000:00:00.0"));
        check(pci_address_parse_full(buf, &b) >= 0);
        check(pci_address_equal(a, &b));
        check(pci_address_compare(a, &b) == 0);
        check(pci_address_parse(buf, &b) >= 0);
        check(pci_address_equal(a, &b));
        check(pci_address_canonicalize(buf, &canonical) >= 0);
        check(strcmp(canonical, buf) == 0);
        free(canonical);

        if (a->domain == 0) {
                /* the short form names domain 0 */
                check(pci_address_parse(buf + strlen("0000:"), &b) >= 0);
                check(pci_address_equal(a, &b));
                check(pci_address_parse_full(buf + strlen("0000:"), &b) < 0);
        }

        /* "-s <formatted address>" selects exactly this function */
        if (a->domain <= 0x7fffffff) {
                const char *error = NULL;
                PciSelector sel;
                PciAddress other = *a;

                pci_selector_init(&sel);
                check(pci_selector_parse_slot(&sel, buf, &error) >= 0);
                check(pci_selector_match_address(&sel, a));
                other.func = (uint8_t) ((a->func + 1) & 7);
                check(!pci_selector_match_address(&sel, &other));
        }
}

static void fuzz_address(const char *s) {
        PciAddress a, b;
        char *canonical = NULL;
        int r;

        r = pci_address_parse(s, &a);
        if (r >= 0) {
                const char *error = NULL;
                PciSelector sel;

                check_address(&a);
                /* where libpci's -s grammar also takes the string, both name the same function (a
                 * short address is domain 0 here, any domain there) */
                pci_selector_init(&sel);
                if (pci_selector_parse_slot(&sel, s, &error) >= 0) {
                        const struct pci_filter *f = &sel.filter;
                        check(f->domain < 0 || (uint32_t) f->domain == a.domain);
                        check(f->bus == a.bus && f->slot == a.slot && f->func == a.func);
                }
        }
        if (pci_address_parse_full(s, &b) >= 0) {
                check(r >= 0);
                check(pci_address_equal(&a, &b));
        }
        if (pci_address_canonicalize(s, &canonical) >= 0) {
                char buf[PCI_ADDRESS_MAX];
                check(r >= 0);
                check(strcmp(canonical, pci_address_format(&a, buf)) == 0);
                free(canonical);
        } else
                check(r < 0);
}

static void fuzz_selectors(const char *s) {
        const char *error = NULL;
        PciSelector sel;

        pci_selector_init(&sel);
        if (pci_selector_parse_slot(&sel, s, &error) >= 0) {
                const struct pci_filter *f = &sel.filter;
                PciAddress a = {
                        .domain = f->domain >= 0 ? (uint32_t) f->domain : 0,
                        .bus = f->bus >= 0 ? (uint8_t) f->bus : 0,
                        .slot = f->slot >= 0 ? (uint8_t) f->slot : 0,
                        .func = f->func >= 0 ? (uint8_t) f->func : 0,
                };
                check(f->bus < 0 || f->bus == a.bus);
                check(f->slot < 0 || f->slot == a.slot);
                check(f->func < 0 || f->func == a.func);
                if (f->bus == a.bus && f->slot == a.slot && f->func == a.func)
                        check(pci_selector_match_address(&sel, &a));
                (void) pci_selector_match(&sel, &a, 0x8086, 0x10d3, 0x020000);
        } else
                check(error);

        pci_selector_init(&sel);
        error = NULL;
        if (pci_selector_parse_id(&sel, s, &error) >= 0) {
                const struct pci_filter *f = &sel.filter;
                PciAddress a = { 0, 3, 0, 0 };
                uint16_t vendor = f->vendor >= 0 ? (uint16_t) f->vendor : 0x8086;
                uint16_t device = f->device >= 0 ? (uint16_t) f->device : 0x10d3;
                uint32_t class24 = ((f->device_class >= 0 ? (uint32_t) f->device_class : 0x0200) << 8) |
                                   (f->prog_if >= 0 ? (uint32_t) f->prog_if : 0);

                if (f->vendor == vendor && f->device == device && f->device_class >= 0 &&
                    (uint32_t) f->device_class <= 0xffff && f->prog_if >= 0 && f->prog_if <= 0xff)
                        check(pci_selector_match(&sel, &a, vendor, device, class24));
                (void) pci_selector_match(&sel, &a, 0x8086, 0x10d3, 0x020000);
        } else
                check(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s;

        if (size > 256)
                return 0;
        s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        fuzz_address(s);
        fuzz_selectors(s);

        free(s);
        return 0;
}
