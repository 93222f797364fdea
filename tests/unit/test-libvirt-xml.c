/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libxml/parser.h>

#include "fileio.h"
#include "libvirt-xml.h"
#include "macro.h"
#include "pci-address.h"
#include "strv.h"

/* Addresses joined by ",", or "-" for none: the notation of EXPECTED.tsv. */
static char *format_addresses(const LibvirtHostdevs *h) {
        _cleanup_strv_free_ char **l = NULL;
        char buf[PCI_ADDRESS_MAX];

        if (h->n == 0)
                return strdup("-");
        FOREACH_ARRAY(a, h->addresses, h->n)
                assert_int_equal(strv_extend(&l, pci_address_format(a, buf)), 0);
        return strv_join(l, ",");
}

static char *path_join(const char *dir, const char *sub, const char *name) {
        char *p;

        assert_true(asprintf(&p, "%s/%s/%s", dir, sub, name) >= 0);
        return p;
}

/* Set by the test's environment in tests/meson.build: missing, the test fails rather than skips. */
static const char *fixtures_dir(void) {
        const char *d = getenv("ISOLATE_FIXTURES");

        if (!d)
                fail_msg("$ISOLATE_FIXTURES is not set (run through 'meson test')");
        return d;
}

/* Parses a string; returns the result, the formatted addresses and the message. */
static int parse_string(const char *xml, char **ret_formatted, char **ret_message) {
        LibvirtHostdevs h = {};
        char *message = NULL;
        int r;

        r = libvirt_hostdevs_parse(xml, strlen(xml), &h, &message);
        if (r >= 0) {
                assert_null(message);
                if (ret_formatted)
                        *ret_formatted = format_addresses(&h);
        } else {
                assert_null(h.addresses);
                assert_int_equal(h.n, 0);
                assert_null(h.domain_name);
                if (ret_formatted)
                        *ret_formatted = NULL;
        }
        libvirt_hostdevs_done(&h);
        if (ret_message)
                *ret_message = message;
        else
                free(message);
        return r;
}

static int parse_file(const char *path, LibvirtHostdevs *ret, char **ret_message) {
        _cleanup_free_ char *contents = NULL;
        size_t size;

        assert_int_equal(read_full_file(path, 0, &contents, &size), 0);
        return libvirt_hostdevs_parse(contents, size, ret, ret_message);
}

/* Every row of tests/fixtures/libvirt/domains/EXPECTED.tsv (whole domain XMLs as virsh dumpxml writes
 * them), read at run time so that a new row is covered without touching this file. */
static void test_expected_tsv(void **state) {
        _cleanup_free_ char *dir = NULL, *tsv_path = NULL, *tsv = NULL;
        _cleanup_strv_free_ char **lines = NULL;
        unsigned rows = 0, with_devices = 0, failures = 0;

        assert_true(asprintf(&dir, "%s/libvirt", fixtures_dir()) >= 0);
        tsv_path = path_join(dir, "domains", "EXPECTED.tsv");
        assert_int_equal(read_full_file(tsv_path, 0, &tsv, NULL), 0);
        assert_int_equal(strv_split(tsv, "\n", &lines), 0);

        STRV_FOREACH(line, lines) {
                _cleanup_strv_free_ char **cols = NULL;
                _cleanup_free_ char *xml_path = NULL, *got = NULL, *message = NULL;
                LibvirtHostdevs h = {};
                int r;

                if (isempty(*line) || (*line)[0] == '#')
                        continue;
                assert_int_equal(strv_split(*line, "\t", &cols), 0);
                if (strv_length(cols) < 2)
                        fail_msg("EXPECTED.tsv: malformed row '%s'", *line);

                xml_path = path_join(dir, "domains", cols[0]);
                r = parse_file(xml_path, &h, &message);
                if (r < 0) {
                        print_error("%s: parse failed: %s (%s)\n", cols[0], strerror(-r), strna(message));
                        failures++;
                } else {
                        got = format_addresses(&h);
                        if (!streq(got, cols[1])) {
                                print_error("%s: expected %s\n%*s  got      %s\n", cols[0], cols[1],
                                            (int) strlen(cols[0]), "", got);
                                failures++;
                        }
                        assert_non_null(h.domain_name);
                        if (h.n > 0)
                                with_devices++;
                }
                libvirt_hostdevs_done(&h);
                rows++;
        }

        /* The table cannot silently shrink to nothing, or to domains without host devices only. */
        assert_true(rows >= 16);
        assert_true(with_devices >= 10);
        assert_int_equal(failures, 0);
}

/* Our own fixtures: what each must give, or the error and the words its message must contain. */
static const struct {
        const char *file;
        int r;
        const char *expected; /* addresses, for r == 0 */
        const char *name;     /* domain name, for r == 0 */
        const char *words[3]; /* substrings of the message, for r < 0 */
} fixtures[] = {
        { "guest-addresses.xml", 0, "0000:03:00.0,0000:04:00.0,0000:05:00.1", "guest-addresses" },
        { "multifunction.xml", 0, "0000:81:00.0,0000:81:00.2,0000:81:00.1,0000:81:00.3", "multifunction" },
        { "number-bases.xml", 0, "0000:06:12.1,0000:de:1f.1,0008:08:08.7,0000:ff:1f.7,10000:03:00.0,ffffffff:00:00.0",
          "number-bases" },
        { "interface-hostdev.xml", 0, "0000:3b:10.2,0000:3b:10.4,0001:3b:11.0", "interface-hostdev" },
        { "no-hostdevs.xml", 0, "-", "no-hostdevs" },
        { "duplicates.xml", 0, "0000:06:10.0,0000:07:00.0", "duplicates" },
        { "other-types.xml", 0, "0000:0a:00.0", "other-types" },

        { "error-no-source-address.xml", -EINVAL, .words = { "hostdev #2:", "missing <source><address>" } },
        { "error-no-source.xml", -EINVAL, .words = { "hostdev #1:", "missing <source>" } },
        { "error-bus-range.xml", -EINVAL,
          .words = { "hostdev #2: invalid bus '0x1ff' in <source><address>", "<= 0xff" } },
        { "error-slot-range.xml", -EINVAL,
          .words = { "hostdev #1: invalid slot '0x20' in <source><address>", "<= 0x1f" } },
        { "error-function-range.xml", -EINVAL,
          .words = { "interface #2: invalid function '8' in <source><address>", "<= 0x7" } },
        { "error-domain-range.xml", -EINVAL,
          .words = { "hostdev #1: invalid domain '0x100000000' in <source><address>", "<= 0xffffffff" } },
        { "error-missing-bus.xml", -EINVAL, .words = { "hostdev #1:", "missing attribute 'bus'" } },
        { "error-negative.xml", -EINVAL, .words = { "hostdev #1: invalid slot '-1'" } },
        { "error-interface-no-type.xml", -EINVAL, .words = { "interface #1:", "missing attribute 'type'" } },
        { "error-unknown-type.xml", -EINVAL, .words = { "hostdev #1:", "unknown type 'PCI'" } },
        { "error-malformed.xml", -EBADMSG, .words = { "malformed XML", "line 9", "tag mismatch" } },
        { "error-not-domain.xml", -EBADMSG, .words = { "not a libvirt domain XML (root element is <network>)" } },
        { "error-doctype.xml", -EBADMSG, .words = { "DOCTYPE" } },
};

static void test_fixtures(void **state) {
        const char *dir = fixtures_dir();

        for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
                _cleanup_free_ char *path = NULL, *message = NULL, *got = NULL;
                LibvirtHostdevs h = { .n = 4242 };
                int r;

                path = path_join(dir, "libvirt", fixtures[i].file);
                r = parse_file(path, &h, &message);
                if (r != fixtures[i].r)
                        fail_msg("%s: expected %s, got %s (%s)", fixtures[i].file, strerror(-fixtures[i].r),
                                 r < 0 ? strerror(-r) : "success", strna(message));

                if (r == 0) {
                        assert_null(message);
                        got = format_addresses(&h);
                        if (!streq(got, fixtures[i].expected))
                                fail_msg("%s: expected %s, got %s", fixtures[i].file, fixtures[i].expected, got);
                        assert_string_equal(h.domain_name, fixtures[i].name);
                        libvirt_hostdevs_done(&h);
                        continue;
                }

                /* On failure *ret is untouched. */
                assert_int_equal(h.n, 4242);
                assert_null(h.addresses);
                assert_non_null(message);
                assert_null(strchr(message, '\n'));
                for (size_t j = 0; j < ELEMENTSOF(fixtures[i].words) && fixtures[i].words[j]; j++)
                        if (!strstr(message, fixtures[i].words[j]))
                                fail_msg("%s: message '%s' lacks '%s'", fixtures[i].file, message,
                                         fixtures[i].words[j]);
        }
}

/* Attribute values the way libvirt's virStrToLong_uip(..., 0) reads them. */
static void test_numbers(void **state) {
        static const struct {
                const char *domain, *bus, *slot, *function;
                const char *expected; /* NULL: -EINVAL */
        } cases[] = {
                { "0x0000", "0x06", "0x12", "0x1", "0000:06:12.1" },
                { NULL, "222", "31", "1", "0000:de:1f.1" },      /* decimal; no domain: 0 */
                { "0", "0377", "037", "07", "0000:ff:1f.7" },    /* octal */
                { "00", "0Xff", "0X1F", "0x7", "0000:ff:1f.7" }, /* 0X */
                { "0xffffffff", "0", "0", "0", "ffffffff:00:00.0" },
                { "4294967295", "0", "0", "0", "ffffffff:00:00.0" },
                { "65536", "0", "0", "0", "10000:00:00.0" },
                { " 0x1", "+2", "\t3", "0", "0001:02:03.0" }, /* strtoul: blanks, '+' */
                { "4294967296", "0", "0", "0", NULL },        /* > UINT_MAX */
                { "0x100000000", "0", "0", "0", NULL },
                { "99999999999999999999999", "0", "0", "0", NULL }, /* ERANGE */
                { "0", "256", "0", "0", NULL },
                { "0", "0x100", "0", "0", NULL },
                { "0", "0400", "0", "0", NULL }, /* octal 256 */
                { "0", "0", "32", "0", NULL },
                { "0", "0", "040", "0", NULL }, /* octal 32 */
                { "0", "0", "0", "8", NULL },
                { "0", "0", "0", "010", NULL }, /* octal 8 */
                { "0", "0", "0", "-0", NULL },  /* no '-' at all */
                { "-1", "0", "0", "0", NULL },
                { "0", " -1", "0", "0", NULL },
                { "0", "08", "0", "0", NULL }, /* not octal */
                { "0", "0x", "0", "0", NULL },
                { "0", "", "0", "0", NULL },
                { "0", " ", "0", "0", NULL },
                { "0", "1 ", "0", "0", NULL }, /* trailing text */
                { "0", "0x1g", "0", "0", NULL },
                { "0", "1e1", "0", "0", NULL },
                { "0", "abc", "0", "0", NULL },
                { "0", "0", "0", NULL, NULL }, /* function missing */
                { "0", "0", NULL, "0", NULL }, /* slot missing */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *xml = NULL, *d = NULL, *b = NULL, *s = NULL, *f = NULL, *got = NULL,
                                    *message = NULL;
                int r;

#define ATTR(var, name, value)                                                                                         \
        assert_true((value ? asprintf(&var, " %s='%s'", name, value) : asprintf(&var, "%s", "")) >= 0)
                ATTR(d, "domain", cases[i].domain);
                ATTR(b, "bus", cases[i].bus);
                ATTR(s, "slot", cases[i].slot);
                ATTR(f, "function", cases[i].function);
#undef ATTR
                assert_true(asprintf(&xml,
                                     "<domain><devices><hostdev mode='subsystem' type='pci'>"
                                     "<source><address%s%s%s%s/></source>"
                                     "</hostdev></devices></domain>",
                                     d, b, s, f) >= 0);

                r = parse_string(xml, &got, &message);
                if (cases[i].expected) {
                        if (r != 0)
                                fail_msg("case %zu (%s): unexpected error: %s", i, xml, strna(message));
                        if (!streq(got, cases[i].expected))
                                fail_msg("case %zu (%s): expected %s, got %s", i, xml, cases[i].expected, got);
                } else {
                        if (r != -EINVAL)
                                fail_msg("case %zu (%s): expected EINVAL, got %d (%s)", i, xml, r, strna(got));
                        assert_non_null(strstr(message, "hostdev #1: "));
                        assert_non_null(strstr(message, "<source><address>"));
                }
        }
}

static void test_silent(void **state) {
        /* Bytes that iconv rejects: libxml2 < 2.13 reports that outside the parser context, on stderr
         * unless a structured handler is installed. */
        static const char iso2022[] = "<?xml version='1.0' encoding='ISO-2022-JP'?>\n"
                                      "<domain><name>\x1b$B\xff\xfe\x1b(B</name></domain>\n";
        static const char *const bad[] = {
                iso2022,
                "<?xml version='1.0' encoding='no-such-encoding'?><domain/>",
                "<domain><devices></domain>",
                "<domain><name>\xff\xfe</name></domain>",
                "<domain>&undefined;</domain>",
                "<domain><q:x/></domain>", /* namespace error: not fatal, accepted below */
                "",
                "\n\n<domain",
        };
        _cleanup_fclose_ FILE *capture = NULL;
        struct stat st;
        int saved;

        fflush(stderr);
        capture = tmpfile();
        assert_non_null(capture);
        saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(fileno(capture), STDERR_FILENO) >= 0);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                LibvirtHostdevs h = {};
                _cleanup_free_ char *message = NULL;
                int r;

                r = libvirt_hostdevs_parse(bad[i], strlen(bad[i]), &h, &message);
                if (i == 5) {
                        assert_int_equal(r, 0);
                        libvirt_hostdevs_done(&h);
                } else {
                        assert_int_equal(r, -EBADMSG);
                        assert_non_null(message);
                        assert_non_null(strstr(message, "malformed XML"));
                        assert_null(strchr(message, '\n'));
                }
        }

        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        assert_int_equal(fstat(fileno(capture), &st), 0);
        if (st.st_size != 0) {
                char buf[512] = {};
                rewind(capture);
                (void) !fread(buf, 1, sizeof(buf) - 1, capture);
                fail_msg("libxml2 wrote to stderr: %s", buf);
        }
}

static void test_malformed_line(void **state) {
        _cleanup_free_ char *message = NULL;

        assert_int_equal(
                parse_string("<domain>\n<name>x</name>\n<devices>\n<hostdev>\n</devices>\n</domain>\n", NULL, &message),
                -EBADMSG);
        assert_non_null(strstr(message, "line 5"));
        message = mfree(message);

        assert_int_equal(parse_string("<domain><name>x</name></domain>\n<domain/>\n", NULL, &message), -EBADMSG);
        assert_non_null(strstr(message, "line 2"));
}

static void test_buffer_not_terminated(void **state) {
        static const char text[] = "<domain><devices><hostdev type='pci'><source>"
                                   "<address bus='1' slot='2' function='3'/></source></hostdev></devices></domain>"
                                   "GARBAGE";
        LibvirtHostdevs h = {};
        char buf[PCI_ADDRESS_MAX];
        char *copy;

        /* Exactly the document, in a heap block with no NUL after it, so valgrind/ASan would see an
         * overread. */
        copy = malloc(sizeof(text) - 1 - strlen("GARBAGE"));
        assert_non_null(copy);
        memcpy(copy, text, sizeof(text) - 1 - strlen("GARBAGE"));

        assert_int_equal(libvirt_hostdevs_parse(copy, sizeof(text) - 1 - strlen("GARBAGE"), &h, NULL), 0);
        assert_int_equal(h.n, 1);
        assert_string_equal(pci_address_format(&h.addresses[0], buf), "0000:01:02.3");
        assert_null(h.domain_name);
        libvirt_hostdevs_done(&h);
        assert_null(h.addresses);
        assert_int_equal(h.n, 0);

        /* The whole buffer, garbage included, is not XML. */
        assert_int_equal(libvirt_hostdevs_parse(text, sizeof(text) - 1, &h, NULL), -EBADMSG);
        free(copy);
}

static void test_arguments(void **state) {
        LibvirtHostdevs h = {};
        _cleanup_free_ char *message = NULL;

        assert_int_equal(libvirt_hostdevs_parse(NULL, 1, &h, NULL), -EINVAL);
        assert_int_equal(libvirt_hostdevs_parse("<domain/>", 9, NULL, NULL), -EINVAL);
        /* Refused before anything is read. */
        assert_int_equal(libvirt_hostdevs_parse("<domain/>", (size_t) INT_MAX + 1, &h, &message), -EFBIG);
        assert_non_null(message);
        message = mfree(message);
        /* No message wanted. */
        assert_int_equal(libvirt_hostdevs_parse("<network/>", 10, &h, NULL), -EBADMSG);
        assert_int_equal(libvirt_hostdevs_parse(NULL, 0, &h, &message), -EBADMSG);
        assert_non_null(strstr(message, "malformed XML"));

        assert_int_equal(libvirt_hostdevs_parse("<domain/>", 9, &h, NULL), 0);
        assert_int_equal(h.n, 0);
        assert_null(h.addresses);
        assert_null(h.domain_name);
        libvirt_hostdevs_done(&h);
        libvirt_hostdevs_done(NULL);
}

static void test_structure(void **state) {
        static const struct {
                const char *devices;
                const char *expected; /* NULL: -EINVAL */
                const char *word;
        } cases[] = {
                /* A hostdev in a second <devices> element counts as in libvirt's ./devices/hostdev. */
                { "<devices><hostdev type='pci'><source><address bus='1' slot='0' function='0'/></source></hostdev>"
                  "</devices><devices><hostdev type='pci'><source><address bus='2' slot='0' function='0'/>"
                  "</source></hostdev></devices>",
                  "0000:01:00.0,0000:02:00.0" },
                /* The first <source> and its first <address> are the host device. */
                { "<devices><hostdev type='pci'><source><address bus='1' slot='0' function='0'/>"
                  "<address bus='9' slot='0' function='0'/></source><source><address bus='8' slot='0' "
                  "function='0'/></source></hostdev></devices>",
                  "0000:01:00.0" },
                /* Elements named like devices but outside /domain/devices are not devices. */
                { "<metadata><hostdev type='pci'><source><address bus='1' slot='0' function='0'/></source>"
                  "</hostdev></metadata><devices><disk><hostdev type='pci'><source><address bus='1' slot='0' "
                  "function='0'/></source></hostdev></disk></devices>",
                  "-" },
                { "<devices><hostdev mode='subsystem'><source><address bus='1' slot='0' function='0'/></source>"
                  "</hostdev></devices>",
                  NULL, "hostdev #1: missing attribute 'type'" },
                { "<devices><hostdev mode='bogus' type='pci'/></devices>", NULL, "hostdev #1: unknown mode 'bogus'" },
                { "<devices><hostdev mode='capabilities' type='pci'/></devices>", "-" },
                { "<devices><interface type='hostdev'/></devices>", NULL, "interface #1: missing <source>" },
                { "<devices><interface type='hostdev'><source/></interface></devices>", NULL,
                  "interface #1: missing <source><address>" },
                { "<devices><interface type='hostdev'><source><address type='ccw'/></source></interface></devices>",
                  NULL, "interface #1: unknown type 'ccw' in <source><address>" },
                { "<devices><interface type='direct'><source dev='eth0'/></interface></devices>", "-" },
                /* A user-supplied value in a message is kept short and on one line. */
                { "<devices><hostdev type='pci'><source><address bus='1&#10;2345678901234567890123456789"
                  "01234567890123456789' slot='0' function='0'/></source></hostdev></devices>",
                  NULL, "invalid bus '1?234567890123456789012345678901234567890123...'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *xml = NULL, *got = NULL, *message = NULL;
                int r;

                assert_true(asprintf(&xml, "<domain><name>n</name>%s</domain>", cases[i].devices) >= 0);
                r = parse_string(xml, &got, &message);
                if (cases[i].expected) {
                        if (r != 0)
                                fail_msg("case %zu: unexpected error: %s", i, strna(message));
                        if (!streq(got, cases[i].expected))
                                fail_msg("case %zu: expected %s, got %s", i, cases[i].expected, got);
                } else {
                        if (r != -EINVAL)
                                fail_msg("case %zu: expected EINVAL, got %d", i, r);
                        if (!strstr(message, cases[i].word))
                                fail_msg("case %zu: message '%s' lacks '%s'", i, message, cases[i].word);
                }
        }
}

static int teardown(void **state) {
        /* libxml2 keeps global state (dictionaries, encoding handlers); drop it for valgrind. Only
         * the program may do this, never the library. */
        xmlCleanupParser();
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_expected_tsv),   cmocka_unit_test(test_fixtures),
                cmocka_unit_test(test_numbers),        cmocka_unit_test(test_silent),
                cmocka_unit_test(test_malformed_line), cmocka_unit_test(test_buffer_not_terminated),
                cmocka_unit_test(test_arguments),      cmocka_unit_test(test_structure),
        };
        return cmocka_run_group_tests(tests, NULL, teardown);
}
