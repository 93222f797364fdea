/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pci-address.h"

/* Parses exactly 1..max_digits hex digits ending at one of the terminators (or end of string). */
static int parse_hex(const char **p, unsigned max_digits, const char *terminators, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;
        unsigned n = 0;

        assert(p);
        assert(ret);

        while (isxdigit((unsigned char) *s)) {
                if (++n > max_digits)
                        return -EINVAL;
                v = v * 16 +
                    (uint64_t) (isdigit((unsigned char) *s) ? *s - '0' : tolower((unsigned char) *s) - 'a' + 10);
                s++;
        }
        if (n == 0)
                return -EINVAL;
        if (*s != '\0' && !strchr(terminators, *s))
                return -EINVAL;
        *p = s;
        *ret = v;
        return 0;
}

static int parse_address(const char *s, bool need_domain, PciAddress *ret) {
        uint64_t d = 0, b, sl, f;
        const char *p = s;
        int colons = 0;

        assert(ret);

        if (!s)
                return -EINVAL;
        for (const char *q = s; *q; q++)
                if (*q == ':')
                        colons++;
        if (colons == 2) {
                if (parse_hex(&p, 8, ":", &d) < 0 || *p != ':')
                        return -EINVAL;
                p++;
        } else if (colons != 1 || need_domain)
                return -EINVAL;

        if (parse_hex(&p, 2, ":", &b) < 0 || *p != ':')
                return -EINVAL;
        p++;
        if (parse_hex(&p, 2, ".", &sl) < 0 || *p != '.' || sl > 0x1f)
                return -EINVAL;
        p++;
        if (parse_hex(&p, 1, "", &f) < 0 || *p != '\0' || f > 7)
                return -EINVAL;

        *ret = (PciAddress) { .domain = (uint32_t) d, .bus = (uint8_t) b, .slot = (uint8_t) sl, .func = (uint8_t) f };
        return 0;
}

int pci_address_parse(const char *s, PciAddress *ret) {
        return parse_address(s, false, ret);
}

int pci_address_parse_full(const char *s, PciAddress *ret) {
        return parse_address(s, true, ret);
}

char *pci_address_format(const PciAddress *a, char buf[static PCI_ADDRESS_MAX]) {
        snprintf(buf, PCI_ADDRESS_MAX, "%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->func);
        return buf;
}

int pci_address_compare(const PciAddress *a, const PciAddress *b) {
        if (a->domain != b->domain)
                return a->domain < b->domain ? -1 : 1;
        if (a->bus != b->bus)
                return a->bus < b->bus ? -1 : 1;
        if (a->slot != b->slot)
                return a->slot < b->slot ? -1 : 1;
        if (a->func != b->func)
                return a->func < b->func ? -1 : 1;
        return 0;
}

bool pci_address_equal(const PciAddress *a, const PciAddress *b) {
        return pci_address_compare(a, b) == 0;
}

int pci_address_canonicalize(const char *s, char **ret) {
        char buf[PCI_ADDRESS_MAX];
        PciAddress a;
        int r;

        r = pci_address_parse(s, &a);
        if (r < 0)
                return r;
        *ret = strdup(pci_address_format(&a, buf));
        return *ret ? 0 : -ENOMEM;
}

void pci_selector_init(PciSelector *s) {
        *s = (PciSelector) {};
        pci_filter_init(NULL, &s->filter);
}

int pci_selector_parse_slot(PciSelector *s, const char *text, const char **ret_error) {
        _cleanup_free_ char *copy = strdup(text);
        const char *e;

        if (!copy)
                return -ENOMEM;
        e = pci_filter_parse_slot(&s->filter, copy);
        if (e) {
                *ret_error = e;
                return -EINVAL;
        }
        return 0;
}

int pci_selector_parse_id(PciSelector *s, const char *text, const char **ret_error) {
        _cleanup_free_ char *copy = strdup(text);
        const char *e;

        if (!copy)
                return -ENOMEM;
        e = pci_filter_parse_id(&s->filter, copy);
        if (e) {
                *ret_error = e;
                return -EINVAL;
        }
        return 0;
}

bool pci_selector_match_address(const PciSelector *s, const PciAddress *a) {
        const struct pci_filter *f = &s->filter;

        return (f->domain < 0 || (uint32_t) f->domain == a->domain) && (f->bus < 0 || f->bus == a->bus) &&
               (f->slot < 0 || f->slot == a->slot) && (f->func < 0 || f->func == a->func);
}

bool pci_selector_match(const PciSelector *s, const PciAddress *a, uint16_t vendor, uint16_t device, uint32_t class24) {
        const struct pci_filter *f = &s->filter;

        if (!pci_selector_match_address(s, a))
                return false;
        if (f->vendor >= 0 && f->vendor != vendor)
                return false;
        if (f->device >= 0 && f->device != device)
                return false;
        if (f->device_class >= 0 && (((class24 >> 8) ^ (unsigned) f->device_class) & f->device_class_mask))
                return false;
        if (f->prog_if >= 0 && f->prog_if != (int) (class24 & 0xff))
                return false;
        return true;
}
