/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pci-address.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static PciAddress addr(uint32_t domain, uint8_t bus, uint8_t slot, uint8_t func) {
        return (PciAddress) { .domain = domain, .bus = bus, .slot = slot, .func = func };
}

static void assert_address(const PciAddress *a, uint32_t domain, uint8_t bus, uint8_t slot, uint8_t func) {
        assert_int_equal(a->domain, domain);
        assert_int_equal(a->bus, bus);
        assert_int_equal(a->slot, slot);
        assert_int_equal(a->func, func);
}

static PciAddress parse_ok(const char *s) {
        PciAddress a;
        memset(&a, 0xaa, sizeof(a));
        assert_int_equal(pci_address_parse(s, &a), 0);
        return a;
}

/* A refused address must leave *ret alone. */
static void parse_fails(const char *s) {
        PciAddress a, before;
        memset(&a, 0xaa, sizeof(a));
        before = a;
        if (pci_address_parse(s, &a) != -EINVAL)
                fail_msg("pci_address_parse(\"%s\") accepted an invalid address", s);
        assert_memory_equal(&a, &before, sizeof(a));
}

static void parse_full_fails(const char *s) {
        PciAddress a, before;
        memset(&a, 0xaa, sizeof(a));
        before = a;
        if (pci_address_parse_full(s, &a) != -EINVAL)
                fail_msg("pci_address_parse_full(\"%s\") accepted an invalid address", s);
        assert_memory_equal(&a, &before, sizeof(a));
}

static PciSelector slot_selector(const char *text) {
        PciSelector s;
        const char *error = NULL;

        pci_selector_init(&s);
        if (pci_selector_parse_slot(&s, text, &error) < 0)
                fail_msg("slot selector '%s' refused: %s", text, strna(error));
        return s;
}

static PciSelector id_selector(const char *text) {
        PciSelector s;
        const char *error = NULL;

        pci_selector_init(&s);
        if (pci_selector_parse_id(&s, text, &error) < 0)
                fail_msg("id selector '%s' refused: %s", text, strna(error));
        return s;
}

static void slot_selector_fails(const char *text, const char *expected_error) {
        PciSelector s;
        const char *error = NULL;

        pci_selector_init(&s);
        assert_int_equal(pci_selector_parse_slot(&s, text, &error), -EINVAL);
        assert_non_null(error);
        if (!streq(error, expected_error))
                fail_msg("slot selector '%s': error '%s', expected '%s'", text, error, expected_error);
}

static void id_selector_fails(const char *text, const char *expected_error) {
        PciSelector s;
        const char *error = NULL;

        pci_selector_init(&s);
        assert_int_equal(pci_selector_parse_id(&s, text, &error), -EINVAL);
        assert_non_null(error);
        if (!streq(error, expected_error))
                fail_msg("id selector '%s': error '%s', expected '%s'", text, error, expected_error);
}

static bool slot_matches(const char *selector, PciAddress a) {
        PciSelector s = slot_selector(selector);
        return pci_selector_match_address(&s, &a);
}

/* ---- pci_address_parse ------------------------------------------------------------------ */

static void test_parse_with_domain(void **state) {
        PciAddress a = parse_ok("0000:03:00.0");
        assert_address(&a, 0, 0x03, 0x00, 0);
        a = parse_ok("0001:80:1f.7");
        assert_address(&a, 1, 0x80, 0x1f, 7);
        a = parse_ok("abcd:ef:1e.6");
        assert_address(&a, 0xabcd, 0xef, 0x1e, 6);
}

static void test_parse_without_domain(void **state) {
        PciAddress a = parse_ok("03:00.0");
        assert_address(&a, 0, 0x03, 0x00, 0);
        a = parse_ok("ff:1f.7");
        assert_address(&a, 0, 0xff, 0x1f, 7);
        a = parse_ok("00:00.0");
        assert_address(&a, 0, 0, 0, 0);
}

static void test_parse_case(void **state) {
        PciAddress upper = parse_ok("ABCD:EF:1F.7"), lower = parse_ok("abcd:ef:1f.7"), mixed = parse_ok("AbCd:eF:1f.7");
        assert_address(&upper, 0xabcd, 0xef, 0x1f, 7);
        assert_true(pci_address_equal(&upper, &lower));
        assert_true(pci_address_equal(&upper, &mixed));
        upper = parse_ok("0A:1B.2");
        assert_address(&upper, 0, 0x0a, 0x1b, 2);
}

static void test_parse_long_domain(void **state) {
        PciAddress a = parse_ok("10000:00:01.0");
        assert_address(&a, 0x10000, 0, 1, 0);
        a = parse_ok("12345678:9a:0b.3");
        assert_address(&a, 0x12345678, 0x9a, 0x0b, 3);
        a = parse_ok("ffffffff:ff:1f.7");
        assert_address(&a, 0xffffffff, 0xff, 0x1f, 7);
        /* nine digits do not fit */
        parse_fails("123456789:00:00.0");
        parse_fails("000000000:00:00.0");
}

static void test_parse_invalid(void **state) {
        parse_fails("");
        parse_fails("0000:zz:00.0");
        parse_fails("zz:00.0");
        parse_fails("00:20.0"); /* slot > 0x1f */
        parse_fails("00:ff.0");
        parse_fails("00:00.8"); /* function > 7 */
        parse_fails("00:00.f");
        parse_fails("00:00");
        parse_fails("00:00.");
        parse_fails("0000:00:00");
        parse_fails("0000");
        parse_fails("00");
        parse_fails(".0");
        parse_fails("00.0");
        parse_fails(":");
        parse_fails("::.");
        /* trailing junk */
        parse_fails("0000:00:00.0x");
        parse_fails("0000:00:00.0 ");
        parse_fails("03:00.0\n");
        parse_fails("03:00.00");
        parse_fails("03:00.0.1");
        /* leading junk */
        parse_fails(" 03:00.0");
        parse_fails("0x03:00.0");
        parse_fails("-1:00.0");
        parse_fails("+3:00.0");
        /* too many digits */
        parse_fails("0000:003:00.0");
        parse_fails("0000:03:000.0");
        /* extra or misplaced colons */
        parse_fails("0000:00:00:00.0");
        parse_fails("0000:00:00:0");
        parse_fails(":00:00.0");
        parse_fails("0000::00.0");
        parse_fails("0000:00:.0");
        parse_fails("0000:00:00:");
        parse_fails("03:00:0");
        assert_int_equal(pci_address_parse(NULL, &(PciAddress) {}), -EINVAL);
}

static void test_parse_full(void **state) {
        PciAddress a;

        memset(&a, 0xaa, sizeof(a));
        assert_int_equal(pci_address_parse_full("0000:03:00.0", &a), 0);
        assert_address(&a, 0, 3, 0, 0);
        assert_int_equal(pci_address_parse_full("10000:ff:1f.7", &a), 0);
        assert_address(&a, 0x10000, 0xff, 0x1f, 7);
        assert_int_equal(pci_address_parse_full("ABCD:EF:1F.7", &a), 0);
        assert_address(&a, 0xabcd, 0xef, 0x1f, 7);

        /* the sysfs names always carry the domain */
        parse_full_fails("03:00.0");
        parse_full_fails("ff:1f.7");
        parse_full_fails("");
        parse_full_fails("0000:00:20.0");
        parse_full_fails("0000:00:00.8");
        parse_full_fails("0000:00:00.0/");
        parse_full_fails("pci0000:00");
        assert_int_equal(pci_address_parse_full(NULL, &a), -EINVAL);
}

/* ---- pci_address_format / compare / canonicalize ---------------------------------------- */

static void test_format(void **state) {
        char buf[PCI_ADDRESS_MAX];
        PciAddress a;

        a = addr(0, 3, 0, 0);
        assert_ptr_equal(pci_address_format(&a, buf), buf);
        assert_string_equal(buf, "0000:03:00.0");
        a = addr(0xabcd, 0xef, 0x1f, 7);
        assert_string_equal(pci_address_format(&a, buf), "abcd:ef:1f.7");
        a = addr(1, 0, 1, 2);
        assert_string_equal(pci_address_format(&a, buf), "0001:00:01.2");
        /* at least four domain digits, more when needed */
        a = addr(0x10000, 0x80, 0x02, 0x1);
        assert_string_equal(pci_address_format(&a, buf), "10000:80:02.1");
        a = addr(0xffffffff, 0xff, 0x1f, 7);
        assert_string_equal(pci_address_format(&a, buf), "ffffffff:ff:1f.7");
        assert_true(strlen(buf) < PCI_ADDRESS_MAX);
}

static void test_format_parse_round_trip(void **state) {
        static const PciAddress samples[] = {
                { 0, 0, 0, 0 },
                { 0, 0xff, 0x1f, 7 },
                { 0x1234, 0x56, 0x07, 3 },
                { 0xffffffff, 0x01, 0x10, 5 },
        };
        char buf[PCI_ADDRESS_MAX];

        FOREACH_ARRAY(s, samples, ELEMENTSOF(samples)) {
                PciAddress b;
                assert_int_equal(pci_address_parse_full(pci_address_format(s, buf), &b), 0);
                assert_true(pci_address_equal(s, &b));
                assert_address(&b, s->domain, s->bus, s->slot, s->func);
        }
}

static void test_compare(void **state) {
        PciAddress a = addr(0, 3, 0, 0), b = addr(0, 3, 0, 0);

        assert_int_equal(pci_address_compare(&a, &b), 0);
        assert_true(pci_address_equal(&a, &b));

        /* each field in turn; a more significant field dominates the less significant ones */
        b = addr(1, 0, 0, 0);
        assert_int_equal(pci_address_compare(&a, &b), -1);
        assert_int_equal(pci_address_compare(&b, &a), 1);
        assert_false(pci_address_equal(&a, &b));

        b = addr(0, 4, 0, 0);
        a = addr(0, 3, 0x1f, 7);
        assert_int_equal(pci_address_compare(&a, &b), -1);
        assert_int_equal(pci_address_compare(&b, &a), 1);

        a = addr(0, 3, 1, 0);
        b = addr(0, 3, 2, 0);
        assert_int_equal(pci_address_compare(&a, &b), -1);
        a = addr(0, 3, 2, 7);
        assert_int_equal(pci_address_compare(&a, &b), 1);

        a = addr(0, 3, 2, 1);
        b = addr(0, 3, 2, 2);
        assert_int_equal(pci_address_compare(&a, &b), -1);
        assert_int_equal(pci_address_compare(&b, &a), 1);
        assert_false(pci_address_equal(&a, &b));

        /* unsigned: a large domain sorts last */
        a = addr(0xffffffff, 0, 0, 0);
        b = addr(0x7fffffff, 0xff, 0x1f, 7);
        assert_int_equal(pci_address_compare(&a, &b), 1);
}

static void test_canonicalize(void **state) {
        char *s = NULL;

        assert_int_equal(pci_address_canonicalize("03:00.0", &s), 0);
        assert_string_equal(s, "0000:03:00.0");
        free(s);
        assert_int_equal(pci_address_canonicalize("ABCD:EF:1F.7", &s), 0);
        assert_string_equal(s, "abcd:ef:1f.7");
        free(s);
        assert_int_equal(pci_address_canonicalize("0000:00:1f.3", &s), 0);
        assert_string_equal(s, "0000:00:1f.3");
        free(s);
        assert_int_equal(pci_address_canonicalize("12345678:00:00.1", &s), 0);
        assert_string_equal(s, "12345678:00:00.1");
        free(s);

        s = (char *) "untouched";
        assert_int_equal(pci_address_canonicalize("00:20.0", &s), -EINVAL);
        assert_int_equal(pci_address_canonicalize("", &s), -EINVAL);
        assert_int_equal(pci_address_canonicalize("eth0", &s), -EINVAL);
        assert_string_equal(s, "untouched");
}

/* ---- -s selectors ----------------------------------------------------------------------- */

static void test_slot_selector_full(void **state) {
        assert_true(slot_matches("0000:03:00.0", addr(0, 3, 0, 0)));
        assert_false(slot_matches("0000:03:00.0", addr(0, 3, 0, 1)));
        assert_false(slot_matches("0000:03:00.0", addr(0, 3, 1, 0)));
        assert_false(slot_matches("0000:03:00.0", addr(0, 4, 0, 0)));
        assert_false(slot_matches("0000:03:00.0", addr(1, 3, 0, 0)));
        /* without a domain: any domain */
        assert_true(slot_matches("03:00.0", addr(0, 3, 0, 0)));
        assert_true(slot_matches("03:00.0", addr(0x10000, 3, 0, 0)));
        assert_false(slot_matches("03:00.0", addr(0, 3, 0, 2)));
        /* case-insensitive */
        assert_true(slot_matches("0000:AF:1F.7", addr(0, 0xaf, 0x1f, 7)));
        assert_true(slot_matches("0001:00:00.0", addr(1, 0, 0, 0)));
        assert_false(slot_matches("0001:00:00.0", addr(0, 0, 0, 0)));
}

static void test_slot_selector_partial(void **state) {
        /* "03:": everything on bus 3 */
        assert_true(slot_matches("03:", addr(0, 3, 0, 0)));
        assert_true(slot_matches("03:", addr(2, 3, 0x1f, 7)));
        assert_false(slot_matches("03:", addr(0, 4, 0, 0)));
        /* "00:1f.*" and "00:1f": every function of one slot */
        assert_true(slot_matches("00:1f.*", addr(0, 0, 0x1f, 0)));
        assert_true(slot_matches("00:1f.*", addr(0, 0, 0x1f, 6)));
        assert_false(slot_matches("00:1f.*", addr(0, 0, 0x1e, 0)));
        assert_false(slot_matches("00:1f.*", addr(0, 1, 0x1f, 0)));
        assert_true(slot_matches("00:1f", addr(0, 0, 0x1f, 3)));
        assert_false(slot_matches("00:1f", addr(0, 0, 0x1c, 3)));
        /* "0000:00:": one bus of one domain */
        assert_true(slot_matches("0000:00:", addr(0, 0, 0x14, 2)));
        assert_false(slot_matches("0000:00:", addr(1, 0, 0x14, 2)));
        assert_false(slot_matches("0000:00:", addr(0, 1, 0x14, 2)));
        /* ".3": function 3 anywhere */
        assert_true(slot_matches(".3", addr(0, 0, 0x1f, 3)));
        assert_true(slot_matches(".3", addr(5, 0x80, 2, 3)));
        assert_false(slot_matches(".3", addr(0, 0, 0x1f, 4)));
        /* a bare slot: that device on any bus */
        assert_true(slot_matches("1f", addr(0, 0, 0x1f, 0)));
        assert_true(slot_matches("1f", addr(0, 9, 0x1f, 5)));
        assert_false(slot_matches("1f", addr(0, 0, 0x1e, 0)));
        assert_true(slot_matches("1f.3", addr(0, 7, 0x1f, 3)));
        assert_false(slot_matches("1f.3", addr(0, 7, 0x1f, 2)));
        /* wildcards per field */
        assert_true(slot_matches("*:*:*.*", addr(0x1234, 0x56, 7, 1)));
        assert_true(slot_matches("*", addr(0x1234, 0x56, 7, 1)));
        assert_true(slot_matches("", addr(0x1234, 0x56, 7, 1)));
        assert_true(slot_matches("*:03:*.1", addr(9, 3, 4, 1)));
        assert_false(slot_matches("*:03:*.1", addr(9, 3, 4, 2)));
        assert_true(slot_matches("0002::", addr(2, 0x40, 4, 2)));
        assert_false(slot_matches("0002::", addr(3, 0x40, 4, 2)));
        assert_true(slot_matches("03:*.2", addr(0, 3, 0x11, 2)));
        assert_false(slot_matches("03:*.2", addr(0, 3, 0x11, 1)));
}

static void test_slot_selector_errors(void **state) {
        char long_text[80];

        slot_selector_fails("00:20.0", "Invalid slot number");
        slot_selector_fails("00:zz.0", "Invalid slot number");
        slot_selector_fails("zz:00.0", "Invalid bus number");
        slot_selector_fails("100:00.0", "Invalid bus number");
        slot_selector_fails("00:00.8", "Invalid function number");
        slot_selector_fails("00:00.x", "Invalid function number");
        slot_selector_fails("g:00:00.0", "Invalid domain number");
        slot_selector_fails("80000000:00:00.0", "Invalid domain number");
        slot_selector_fails("0000:00:00:00.0", "Too many fields");
        slot_selector_fails("1:2:3:4", "Too many fields");
        slot_selector_fails("00:00.1.2", "Invalid slot/function number");
        /* libpci copies the text into a 64-byte buffer */
        memset(long_text, '0', sizeof(long_text));
        long_text[sizeof(long_text) - 1] = '\0';
        slot_selector_fails(long_text, "Expression too long");
}

/* ---- -d selectors ----------------------------------------------------------------------- */

static void test_id_selector(void **state) {
        PciAddress a = addr(0, 3, 0, 0);
        PciSelector s;

        s = id_selector("8086:10d3");
        assert_true(pci_selector_match(&s, &a, 0x8086, 0x10d3, 0x020000));
        assert_false(pci_selector_match(&s, &a, 0x8086, 0x10d4, 0x020000));
        assert_false(pci_selector_match(&s, &a, 0x8087, 0x10d3, 0x020000));

        s = id_selector("8086:");
        assert_true(pci_selector_match(&s, &a, 0x8086, 0x1234, 0x030000));
        assert_false(pci_selector_match(&s, &a, 0x10de, 0x1234, 0x030000));

        s = id_selector(":10D3");
        assert_true(pci_selector_match(&s, &a, 0x1af4, 0x10d3, 0));
        assert_false(pci_selector_match(&s, &a, 0x1af4, 0x10d2, 0));

        s = id_selector("*:*");
        assert_true(pci_selector_match(&s, &a, 0xffff, 0xffff, 0xffffff));

        /* class: four digits are base class and subclass */
        s = id_selector("::0200");
        assert_true(pci_selector_match(&s, &a, 0x8086, 0x10d3, 0x020000));
        assert_true(pci_selector_match(&s, &a, 0x8086, 0x10d3, 0x0200ff));
        assert_false(pci_selector_match(&s, &a, 0x8086, 0x10d3, 0x028000));
        assert_false(pci_selector_match(&s, &a, 0x8086, 0x10d3, 0x030000));

        /* class with a programming interface */
        s = id_selector("::0c03:30");
        assert_true(pci_selector_match(&s, &a, 0x8086, 0xa36d, 0x0c0330));
        assert_false(pci_selector_match(&s, &a, 0x8086, 0xa36d, 0x0c0320));
        assert_false(pci_selector_match(&s, &a, 0x8086, 0xa36d, 0x0c0530));
        s = id_selector("::0c03:*");
        assert_true(pci_selector_match(&s, &a, 0x8086, 0xa36d, 0x0c0320));

        /* an 'x' in the class is a wildcard digit */
        s = id_selector("::02xx");
        assert_true(pci_selector_match(&s, &a, 1, 2, 0x020000));
        assert_true(pci_selector_match(&s, &a, 1, 2, 0x028000));
        assert_false(pci_selector_match(&s, &a, 1, 2, 0x030000));

        /* vendor, device and class together */
        s = id_selector("10de::0300");
        assert_true(pci_selector_match(&s, &a, 0x10de, 0x2204, 0x030000));
        assert_false(pci_selector_match(&s, &a, 0x10de, 0x2204, 0x040300));
        assert_false(pci_selector_match(&s, &a, 0x1002, 0x2204, 0x030000));
}

static void test_id_selector_with_slot(void **state) {
        PciSelector s;
        const char *error = NULL;

        /* -s and -d both given: both must hold */
        pci_selector_init(&s);
        assert_int_equal(pci_selector_parse_slot(&s, "03:", &error), 0);
        assert_int_equal(pci_selector_parse_id(&s, "8086:", &error), 0);
        assert_true(pci_selector_match(&s, &(PciAddress) { 0, 3, 0, 0 }, 0x8086, 1, 0));
        assert_false(pci_selector_match(&s, &(PciAddress) { 0, 4, 0, 0 }, 0x8086, 1, 0));
        assert_false(pci_selector_match(&s, &(PciAddress) { 0, 3, 0, 0 }, 0x8087, 1, 0));

        /* a fresh selector matches everything */
        pci_selector_init(&s);
        assert_true(pci_selector_match(&s, &(PciAddress) { 7, 0x80, 0x1f, 7 }, 0xabcd, 0x1234, 0xffffff));
        assert_true(pci_selector_match_address(&s, &(PciAddress) { 7, 0x80, 0x1f, 7 }));
}

static void test_id_selector_errors(void **state) {
        id_selector_fails("8086", "At least two fields must be given");
        id_selector_fails("", "At least two fields must be given");
        id_selector_fails("zzzz:", "Invalid vendor ID");
        id_selector_fails("18086:", "Invalid vendor ID");
        id_selector_fails("8086:1ffff", "Invalid device ID");
        id_selector_fails("8086:xyz", "Invalid device ID");
        id_selector_fails("::12345", "Invalid class code");
        id_selector_fails("::02g0", "Invalid class code");
        id_selector_fails("::0200:100", "Invalid programming interface code");
        id_selector_fails("1:2:3:4:5", "Too many fields");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_with_domain),
                cmocka_unit_test(test_parse_without_domain),
                cmocka_unit_test(test_parse_case),
                cmocka_unit_test(test_parse_long_domain),
                cmocka_unit_test(test_parse_invalid),
                cmocka_unit_test(test_parse_full),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_format_parse_round_trip),
                cmocka_unit_test(test_compare),
                cmocka_unit_test(test_canonicalize),
                cmocka_unit_test(test_slot_selector_full),
                cmocka_unit_test(test_slot_selector_partial),
                cmocka_unit_test(test_slot_selector_errors),
                cmocka_unit_test(test_id_selector),
                cmocka_unit_test(test_id_selector_with_slot),
                cmocka_unit_test(test_id_selector_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
