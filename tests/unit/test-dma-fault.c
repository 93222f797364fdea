/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dma-fault.h"
#include "macro.h"
#include "parse-util.h"
#include "string-util.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static DmaFault parse_ok(const char *message) {
        DmaFault f;
        memset(&f, 0xaa, sizeof(f));
        assert_int_equal(dma_fault_parse_message(message, &f), 1);
        return f;
}

/* Not a fault (r == 0) or a broken one (r < 0): *ret must be left alone either way. */
static void parse_expect(const char *message, int expected) {
        DmaFault f, before;
        memset(&f, 0xaa, sizeof(f));
        before = f;
        assert_int_equal(dma_fault_parse_message(message, &f), expected);
        assert_memory_equal(&f, &before, sizeof(f));
}

static void assert_requester(const DmaFault *f, uint32_t domain, uint8_t bus, uint8_t slot, uint8_t func) {
        assert_int_equal(f->requester.domain, domain);
        assert_int_equal(f->requester.bus, bus);
        assert_int_equal(f->requester.slot, slot);
        assert_int_equal(f->requester.func, func);
}

/* ---- enum tables ------------------------------------------------------------------------ */

static void test_vendor_to_string(void **state) {
        assert_string_equal(dma_fault_vendor_to_string(DMA_FAULT_INTEL), "intel-vtd");
        assert_string_equal(dma_fault_vendor_to_string(DMA_FAULT_AMD), "amd-vi");
        assert_string_equal(dma_fault_vendor_to_string(DMA_FAULT_SMMUV3), "arm-smmuv3");
        assert_null(dma_fault_vendor_to_string(_DMA_FAULT_VENDOR_MAX));
        assert_null(dma_fault_vendor_to_string(_DMA_FAULT_VENDOR_INVALID));
        assert_int_equal(dma_fault_vendor_from_string("amd-vi"), DMA_FAULT_AMD);
        assert_int_equal(dma_fault_vendor_from_string("arm-smmuv3"), DMA_FAULT_SMMUV3);
        assert_int_equal(dma_fault_vendor_from_string("amd"), -EINVAL);
}

static void test_access_to_string(void **state) {
        assert_string_equal(dma_access_to_string(DMA_ACCESS_READ), "read");
        assert_string_equal(dma_access_to_string(DMA_ACCESS_WRITE), "write");
        assert_string_equal(dma_access_to_string(DMA_ACCESS_UNKNOWN), "unknown");
        assert_null(dma_access_to_string(_DMA_ACCESS_MAX));
        assert_null(dma_access_to_string(_DMA_ACCESS_INVALID));
        assert_int_equal(dma_access_from_string("write"), DMA_ACCESS_WRITE);
        assert_int_equal(dma_access_from_string("rw"), -EINVAL);
}

/* ---- Intel VT-d ------------------------------------------------------------------------- */

static void test_intel_read_no_pasid(void **state) {
        DmaFault f = parse_ok("DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x7f000 "
                              "[fault reason 0x06] PTE Read access is not set");
        assert_int_equal(f.vendor, DMA_FAULT_INTEL);
        assert_requester(&f, 0, 0x03, 0x00, 0);
        assert_false(f.has_domain);
        assert_int_equal(f.access, DMA_ACCESS_READ);
        assert_true(f.has_iova);
        assert_int_equal(f.iova, 0x7f000);
        assert_true(f.has_reason);
        assert_int_equal(f.reason, 0x06);
        assert_string_equal(f.reason_text, "PTE Read access is not set");
        assert_false(f.interrupt);
}

static void test_intel_write_no_pasid(void **state) {
        DmaFault f = parse_ok("DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr 0x1000 "
                              "[fault reason 0x05] PTE Write access is not set");
        assert_int_equal(f.vendor, DMA_FAULT_INTEL);
        assert_requester(&f, 0, 0x00, 0x03, 0);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
        assert_int_equal(f.iova, 0x1000);
        assert_int_equal(f.reason, 0x05);
        assert_string_equal(f.reason_text, "PTE Write access is not set");
        assert_false(f.interrupt);
}

static void test_intel_write_pasid(void **state) {
        DmaFault f = parse_ok("DMAR: [DMA Write PASID 0x1] Request device [00:03.0] fault addr 0x1000 "
                              "[fault reason 0x05] PTE Write access is not set");
        assert_requester(&f, 0, 0x00, 0x03, 0);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
        assert_int_equal(f.iova, 0x1000);
        assert_int_equal(f.reason, 0x05);
}

static void test_intel_scalable_mode_reason(void **state) {
        DmaFault f = parse_ok("DMAR: [DMA Read PASID 0x2a] Request device [af:1f.7] fault addr 0xffffe000 "
                              "[fault reason 0x59] SM: Present bit in PASID table entry is clear");
        assert_requester(&f, 0, 0xaf, 0x1f, 7);
        assert_int_equal(f.access, DMA_ACCESS_READ);
        assert_int_equal(f.iova, 0xffffe000);
        assert_int_equal(f.reason, 0x59);
        assert_string_equal(f.reason_text, "SM: Present bit in PASID table entry is clear");
}

static void test_intel_intr_remap(void **state) {
        DmaFault f = parse_ok("DMAR: [INTR-REMAP] Request device [00:03.0] fault index 0x1a "
                              "[fault reason 0x25] Blocked a compatibility format interrupt request");
        assert_int_equal(f.vendor, DMA_FAULT_INTEL);
        assert_requester(&f, 0, 0x00, 0x03, 0);
        assert_true(f.interrupt);
        assert_int_equal(f.access, DMA_ACCESS_UNKNOWN);
        assert_false(f.has_iova);
        assert_true(f.has_reason);
        assert_int_equal(f.reason, 0x25);
        assert_string_equal(f.reason_text, "Blocked a compatibility format interrupt request");
}

static void test_intel_old_pasid_token(void **state) {
        /* < 5.14: no 0x, a PASID token, and the reason printed with %02d. */
        DmaFault f = parse_ok("DMAR: [DMA Read] Request device [03:00.0] PASID ffffffff fault addr 7f000 "
                              "[fault reason 06] PTE Read access is not set");
        assert_requester(&f, 0, 0x03, 0x00, 0);
        assert_false(f.has_domain);
        assert_int_equal(f.access, DMA_ACCESS_READ);
        assert_true(f.has_iova);
        assert_int_equal(f.iova, 0x7f000);
        assert_int_equal(f.reason, 6);
        assert_string_equal(f.reason_text, "PTE Read access is not set");
}

static void test_intel_old_no_pasid_token(void **state) {
        DmaFault f = parse_ok("DMAR: [DMA Write] Request device [00:02.0] fault addr 0x1000 "
                              "[fault reason 0x05] PTE Write access is not set");
        assert_requester(&f, 0, 0x00, 0x02, 0);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
        assert_int_equal(f.iova, 0x1000);
        assert_int_equal(f.reason, 5);
}

static void test_intel_old_decimal_reason(void **state) {
        /* %02d: reason 0x25 was printed as "37", and a large address without 0x. */
        DmaFault f = parse_ok("DMAR: [INTR-REMAP] Request device [00:1f.6] fault index 1a "
                              "[fault reason 37] Blocked a compatibility format interrupt request");
        assert_requester(&f, 0, 0x00, 0x1f, 6);
        assert_true(f.interrupt);
        assert_int_equal(f.reason, 0x25);

        f = parse_ok("DMAR: [DMA Write] Request device [02:00.1] PASID ffffffff fault addr 6df084000 "
                     "[fault reason 12] non-zero reserved fields in PTE");
        assert_requester(&f, 0, 0x02, 0x00, 1);
        assert_int_equal(f.iova, 0x6df084000ULL);
        assert_int_equal(f.reason, 12);
        assert_string_equal(f.reason_text, "non-zero reserved fields in PTE");
}

static void test_intel_5_14_hex_device(void **state) {
        /* 5.14 printed the device as [0x%02x:0x%02x.%d]. */
        DmaFault f = parse_ok("DMAR: [DMA Read NO_PASID] Request device [0x03:0x1f.2] fault addr 0xfee00000 "
                              "[fault reason 0x06] PTE Read access is not set");
        assert_requester(&f, 0, 0x03, 0x1f, 2);
        assert_int_equal(f.iova, 0xfee00000);
}

static void test_intel_prefix_anchored(void **state) {
        DmaFault f;

        /* Kernels before pr_fmt printed "DMAR:" with no space. */
        f = parse_ok("DMAR:[DMA Write NO_PASID] Request device [06:10.3] fault addr 0x3000 "
                     "[fault reason 0x05] PTE Write access is not set");
        assert_requester(&f, 0, 0x06, 0x10, 3);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
        assert_int_equal(f.iova, 0x3000);

        /* The message must start with the driver's prefix: no "DMAR:" at all, or text in front of it
         * (dmesg's timestamp is not part of a kmsg message), is some other message quoting it. */
        parse_expect("[DMA Read NO_PASID] Request device [05:00.0] fault addr 0x2000 "
                     "[fault reason 0x06] PTE Read access is not set",
                     0);
        parse_expect("[  512.001] DMAR:[DMA Write NO_PASID] Request device [06:10.3] fault addr 0x3000 "
                     "[fault reason 0x05] PTE Write access is not set",
                     0);
        parse_expect(" DMAR: [DMA Read NO_PASID] Request device [05:00.0] fault addr 0x2000 "
                     "[fault reason 0x06] PTE Read access is not set",
                     0);
        parse_expect("DMAR: x [DMA Read NO_PASID] Request device [05:00.0] fault addr 0x2000 "
                     "[fault reason 0x06] PTE Read access is not set",
                     0);
}

/* What an unprivileged user can get the kernel itself (facility 0) to log: a segfault report starts
 * with the task's comm (15 characters at most) and ends with the name of the file it ran from. */
static void test_forged_segfault_intel(void **state) {
        static const char *const lines[] = {
                /* comm "x [DMA Write] R" (truncated), file named after a whole fault line */
                "x [DMA Write] R[4242]: segfault at 0 ip 0000000000401126 sp 00007ffd3b0c3a10 error 6 in "
                "x [DMA Write] Request device [03:00.0] fault addr 0x1000 [fault reason 0x06] PTE Read access "
                "is not set[401000+1000] likely on CPU 1 (core 1, socket 0)",
                "DMAR: [DMA Write[4242]: segfault at 0 ip 0000000000401126 sp 00007ffd3b0c3a10 error 6 in "
                "DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x06] "
                "x[401000+1000]",
                "traps: x[4242] general protection fault ip:401126 sp:7ffd3b0c3a10 error:0 in DMAR: [DMA Read "
                "NO_PASID] Request device [00:03.0] fault addr 0x1000 [fault reason 0x06] x[401000+1000]",
        };

        FOREACH_ARRAY(l, lines, ELEMENTSOF(lines)) {
                char record[512];
                DmaFault f;

                parse_expect(*l, 0);
                /* and as the kernel's own record: the facility check alone cannot help here */
                snprintf(record, sizeof(record), "6,900,1000,-;%s", *l);
                assert_int_equal(dma_fault_parse_kmsg_record(record, strlen(record), &f), KMSG_RECORD_OTHER);
        }
}

static void test_forged_segfault_amd_smmuv3(void **state) {
        static const char *const lines[] = {
                "x[4242]: segfault at 0 ip 0000000000401126 sp 00007ffd3b0c3a10 error 6 in vfio-pci "
                "0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000e address=0x7f000 "
                "flags=0x0020][401000+1000]",
                "x[4242]: segfault at 0 ip 0000000000401126 sp 00007ffd3b0c3a10 error 6 in AMD-Vi: Event logged "
                "[IO_PAGE_FAULT device=0000:03:00.0 domain=0x000e address=0x7f000 flags=0x0020][401000+1000]",
                "vfio-pci 0000:03:00.0 x[4242]: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x000e "
                "address=0x7f000 flags=0x0020]",
                "x[4242]: segfault at 0 ip 0000000000401126 sp 00007ffd3b0c3a10 error 6 in arm-smmu-v3 a: event: "
                "F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x1000 ipa: 0x0[401000+1000]",
                "arm-smmu-v3 x[4242]: segfault at 0 in arm-smmu-v3 a: event: F_TRANSLATION client: 0000:01:00.0 "
                "sid: 0x100",
        };

        FOREACH_ARRAY(l, lines, ELEMENTSOF(lines)) {
                char record[512];
                DmaFault f;

                parse_expect(*l, 0);
                snprintf(record, sizeof(record), "6,900,1000,-;%s", *l);
                assert_int_equal(dma_fault_parse_kmsg_record(record, strlen(record), &f), KMSG_RECORD_OTHER);
        }
}

static void test_intel_legacy_split_line(void **state) {
        /* 3.x printed the reason on its own line; the first line is still a fault. */
        DmaFault f = parse_ok("DMAR:[DMA Write] Request device [00:02.0] fault addr 6df084000");
        assert_requester(&f, 0, 0x00, 0x02, 0);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
        assert_int_equal(f.iova, 0x6df084000ULL);
        assert_false(f.has_reason);
        assert_string_equal(f.reason_text, "");

        parse_expect("DMAR:[fault reason 05] PTE Write access is not set", 0);
}

static void test_intel_reason_text_truncated(void **state) {
        char line[512];
        DmaFault f;

        snprintf(line, sizeof(line),
                 "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1 [fault reason 0x06] %0300d", 0);
        f = parse_ok(line);
        assert_int_equal(strlen(f.reason_text), sizeof(f.reason_text) - 1);
        assert_int_equal(f.reason_text[0], '0');
}

static void test_reason_text_escaped(void **state) {
        char buf[8];
        DmaFault f;

        /* The reason is copied from the log: a terminal escape, a tab, DEL, non-ASCII bytes and a
         * backslash come out as \xNN, so that printing it cannot inject anything. */
        f = parse_ok("DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1 [fault reason 0x06] "
                     "PTE\x1b[2J Read\tis\x7f not \xc3\xa9 set\\");
        assert_string_equal(f.reason_text, "PTE\\x1b[2J Read\\x09is\\x7f not \\xc3\\xa9 set\\x5c");

        /* Through a kmsg record, whose \xNN escapes are decoded first. */
        static const char rec[] = "3,1,1,-;DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1 "
                                  "[fault reason 0x06] PTE\\x1b]0;owned\\x07 Read";
        assert_int_equal(dma_fault_parse_kmsg_record(rec, strlen(rec), &f), KMSG_RECORD_FAULT);
        assert_string_equal(f.reason_text, "PTE\\x1b]0;owned\\x07 Read");

        /* Truncation keeps escapes whole. */
        assert_string_equal(string_escape_nonprint("ab\001", 3, buf, 6), "ab");
        assert_string_equal(string_escape_nonprint("ab\001", 3, buf, 7), "ab\\x01");
        assert_string_equal(string_escape_nonprint("abc\ndef", 3, buf, sizeof(buf)), "abc");
        assert_string_equal(string_escape_nonprint("a\nb", SIZE_MAX, buf, sizeof(buf)), "a\\x0ab");
}

static void test_intel_malformed(void **state) {
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [zz:00.0] fault addr 0x1 [fault reason 0x06] x",
                     -EBADMSG);
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [03:20.0] fault addr 0x1 [fault reason 0x06] x",
                     -EBADMSG); /* slot > 0x1f */
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [03:00.8] fault addr 0x1 [fault reason 0x06] x",
                     -EBADMSG); /* func > 7 */
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr [fault reason 0x06] x", -EBADMSG);
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1 [fault reason 0x06 x",
                     -EBADMSG);
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x1 [fault reason 0x", -EBADMSG);
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x10000000000000000 "
                     "[fault reason 0x06] x",
                     -EBADMSG);
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [03:00.0] something else", -EBADMSG);
        parse_expect("DMAR: [DMA Read NO_PASID] Request device [03:00.0", -EBADMSG);
}

/* ---- AMD-Vi ----------------------------------------------------------------------------- */

static void test_amd_dev_prefix(void **state) {
        DmaFault f = parse_ok("vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000e "
                              "address=0x7f000 flags=0x0020]");
        assert_int_equal(f.vendor, DMA_FAULT_AMD);
        assert_requester(&f, 0, 0x03, 0x00, 0);
        assert_true(f.has_domain);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
        assert_true(f.has_iova);
        assert_int_equal(f.iova, 0x7f000);
        assert_true(f.has_reason);
        assert_int_equal(f.reason, 0x20);
        assert_string_equal(f.reason_text, "IO_PAGE_FAULT");
        assert_false(f.interrupt);
}

static void test_amd_dev_prefix_segment(void **state) {
        DmaFault f = parse_ok("xhci_hcd 0001:47:00.1: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0032 "
                              "address=0xfffffff00f80 flags=0x0000]");
        assert_requester(&f, 1, 0x47, 0x00, 1);
        assert_true(f.has_domain);
        assert_int_equal(f.access, DMA_ACCESS_READ);
        assert_int_equal(f.iova, 0xfffffff00f80ULL);
        assert_int_equal(f.reason, 0);
}

static void test_amd_device_field(void **state) {
        DmaFault f = parse_ok("AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x0000 "
                              "address=0x1000 flags=0x0000]");
        assert_int_equal(f.vendor, DMA_FAULT_AMD);
        assert_requester(&f, 0, 0x03, 0x00, 0);
        assert_true(f.has_domain);
        assert_int_equal(f.access, DMA_ACCESS_READ);
        assert_int_equal(f.iova, 0x1000);
        assert_int_equal(f.reason, 0);
        assert_false(f.interrupt);
}

static void test_amd_device_field_old(void **state) {
        DmaFault f = parse_ok("AMD-Vi: Event logged [IO_PAGE_FAULT device=03:00.0 domain=0x000e "
                              "address=0x000000000007f000 flags=0x0020]");
        assert_requester(&f, 0, 0x03, 0x00, 0);
        assert_false(f.has_domain);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
        assert_int_equal(f.iova, 0x7f000);
        assert_int_equal(f.reason, 0x20);
}

static void test_amd_device_field_wins_over_prefix(void **state) {
        /* If both appear, device= is the requester (the prefix can be the IOMMU itself). */
        DmaFault f = parse_ok("pci 0000:00:00.2: AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:0a:00.3 "
                              "domain=0x001d address=0xff00ffffffefe000 flags=0x0010]");
        assert_requester(&f, 0, 0x0a, 0x00, 3);
        assert_int_equal(f.iova, 0xff00ffffffefe000ULL);
        assert_int_equal(f.access, DMA_ACCESS_READ);
        assert_int_equal(f.reason, 0x10);
}

static void test_amd_no_amdvi_tag(void **state) {
        /* Before the driver set dev_fmt, dev_err() printed no "AMD-Vi: ". */
        DmaFault f = parse_ok("ahci 0000:28:00.0: Event logged [IO_PAGE_FAULT domain=0x0035 "
                              "address=0x7fffff00300 flags=0x0020]");
        assert_requester(&f, 0, 0x28, 0x00, 0);
        assert_int_equal(f.iova, 0x7fffff00300ULL);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
}

static void test_amd_old_continuation(void **state) {
        DmaFault f = parse_ok("IO_PAGE_FAULT device=07:00.0 domain=0x0007 address=0x000000ffffc02000 flags=0x0000]");
        assert_requester(&f, 0, 0x07, 0x00, 0);
        assert_false(f.has_domain);
        assert_int_equal(f.iova, 0xffffc02000ULL);
}

static void test_amd_interrupt_and_translation_flags(void **state) {
        DmaFault f;

        /* I: an interrupt request; RW is meaningless then */
        f = parse_ok("AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:14.0 domain=0x0000 "
                     "address=0xfee00004 flags=0x0028]");
        assert_true(f.interrupt);
        assert_int_equal(f.access, DMA_ACCESS_UNKNOWN);
        assert_int_equal(f.reason, 0x28);
        assert_int_equal(f.iova, 0xfee00004);

        /* TR: an ATS translation request; RW is reserved */
        f = parse_ok("AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:14.0 domain=0x0000 "
                     "address=0x1000 flags=0x0120]");
        assert_false(f.interrupt);
        assert_int_equal(f.access, DMA_ACCESS_UNKNOWN);
        assert_int_equal(f.reason, 0x120);
}

static void test_amd_unattributable(void **state) {
        /* No device= and no PCI prefix: cannot be attributed */
        parse_expect("AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000e address=0x7f000 flags=0x0020]", 0);
}

static void test_amd_malformed(void **state) {
        parse_expect("AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x0000 address=0xzz "
                     "flags=0x0000]",
                     -EBADMSG);
        parse_expect("AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:03:00.0 domain=0x0000 flags=0x0000]", -EBADMSG);
        parse_expect("AMD-Vi: Event logged [IO_PAGE_FAULT device=bogus domain=0x0000 address=0x1 flags=0x0]", -EBADMSG);
        parse_expect("AMD-Vi: Event logged [IO_PAGE_FAULT device 0000:03:00.0]", -EBADMSG);
}

/* ---- ARM SMMUv3 ------------------------------------------------------------------------- */

static void test_smmuv3_translation(void **state) {
        DmaFault f = parse_ok("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 "
                              "sid: 0x100 ssid: 0x0 iova: 0x7f000 ipa: 0x0");
        assert_int_equal(f.vendor, DMA_FAULT_SMMUV3);
        assert_requester(&f, 0, 0x01, 0x00, 0);
        assert_true(f.has_domain);
        assert_int_equal(f.access, DMA_ACCESS_UNKNOWN);
        assert_true(f.has_iova);
        assert_int_equal(f.iova, 0x7f000);
        assert_true(f.has_reason);
        assert_int_equal(f.reason, 0x10);
        assert_string_equal(f.reason_text, "F_TRANSLATION");
        assert_false(f.interrupt);
}

static void test_smmuv3_permission_dt(void **state) {
        /* Device tree instance name; glibc-style %#x zero ("0") tolerated as well. */
        DmaFault f = parse_ok("arm-smmu-v3 2b400000.iommu: event: F_PERMISSION client: 0002:81:00.3 "
                              "sid: 0x8103 ssid: 0 iova: 0xffff0000 ipa: 0");
        assert_requester(&f, 2, 0x81, 0x00, 3);
        assert_int_equal(f.iova, 0xffff0000);
        assert_int_equal(f.reason, 0x13);
        assert_string_equal(f.reason_text, "F_PERMISSION");
}

static void test_smmuv3_no_iova_events(void **state) {
        DmaFault f;

        f = parse_ok("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_STE_FETCH client: 0000:01:00.0 sid: 0x100 "
                     "ssid: 0x0 fetch_addr: 0x80001000");
        assert_false(f.has_iova);
        assert_int_equal(f.reason, 0x03);
        assert_string_equal(f.reason_text, "F_STE_FETCH");

        f = parse_ok("arm-smmu-v3 arm-smmu-v3.0.auto: event: C_BAD_STE client: 0000:01:00.0 sid: 0x100 ssid: 0x0");
        assert_false(f.has_iova);
        assert_int_equal(f.reason, 0x04);

        f = parse_ok("arm-smmu-v3 arm-smmu-v3.0.auto: event: UNKNOWN client: 0000:01:00.0 sid: 0x100 ssid: 0x0");
        assert_false(f.has_reason);
        assert_string_equal(f.reason_text, "UNKNOWN");
}

static void test_smmuv3_unattributable(void **state) {
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: (unassigned sid) sid: 0x9999 "
                     "ssid: 0x0 iova: 0x7f000 ipa: 0x0",
                     0);
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: ffc00000.dma sid: 0x20 "
                     "ssid: 0x0 iova: 0x7f000 ipa: 0x0",
                     0);
}

static void test_smmuv3_raw_event_stateless(void **state) {
        /* One record of the raw form says nothing on its own: 0 (kmsg_read_faults() joins them). */
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:", 0);
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000010000000010", 0);
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000020880000000", 0);
        /* and the second line of the decoded form on its own */
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 \"Input address caused fault\" stag: 0x0",
                     0);
}

static void test_smmuv3_raw_event_decode(void **state) {
        /* F_TRANSLATION from StreamID 0x100 (RID 01:00.0), RnW (evt[1] bit 35) set: a read of 0x7f000 */
        const uint64_t read_evt[4] = { UINT64_C(0x0000010000000010), UINT64_C(0x0000000800000000),
                                       UINT64_C(0x000000000007f000), 0 };
        /* F_PERMISSION from StreamID 0x0219 (RID 02:03.1), a write */
        const uint64_t write_evt[4] = { UINT64_C(0x0000021900000013), UINT64_C(0x0000000200000000),
                                        UINT64_C(0x0000000012345000), 0 };
        /* C_BAD_STE: no address, no direction */
        const uint64_t ste_evt[4] = { UINT64_C(0x0000010000000004), 0, 0, 0 };
        /* a StreamID above 0xffff is no requester ID under the identity mapping */
        const uint64_t wide_evt[4] = { UINT64_C(0x0001000000000010), 0, 0, 0 };
        DmaFault f;

        assert_int_equal(dma_fault_from_smmuv3_event("arm-smmu-v3.0.auto", read_evt, &f), 1);
        assert_int_equal(f.vendor, DMA_FAULT_SMMUV3);
        assert_requester(&f, 0, 0x01, 0x00, 0);
        assert_false(f.has_domain);
        assert_true(f.has_stream_id);
        assert_int_equal(f.stream_id, 0x100);
        assert_int_equal(f.access, DMA_ACCESS_READ);
        assert_true(f.has_iova);
        assert_int_equal(f.iova, 0x7f000);
        assert_true(f.has_reason);
        assert_int_equal(f.reason, 0x10);
        assert_string_equal(f.reason_text, "F_TRANSLATION");
        assert_string_equal(f.iommu, "arm-smmu-v3.0.auto");

        assert_int_equal(dma_fault_from_smmuv3_event(NULL, write_evt, &f), 1);
        assert_requester(&f, 0, 0x02, 0x03, 1);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);
        assert_int_equal(f.iova, 0x12345000);
        assert_string_equal(f.reason_text, "F_PERMISSION");
        assert_string_equal(f.iommu, "");

        assert_int_equal(dma_fault_from_smmuv3_event(NULL, ste_evt, &f), 1);
        assert_int_equal(f.access, DMA_ACCESS_UNKNOWN);
        assert_false(f.has_iova);
        assert_string_equal(f.reason_text, "C_BAD_STE");

        f = (DmaFault) { .reason = 77 };
        assert_int_equal(dma_fault_from_smmuv3_event(NULL, wide_evt, &f), 0);
        assert_int_equal(f.reason, 77);
}

static void test_smmuv3_malformed(void **state) {
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION sid: 0x100", -EBADMSG);
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 "
                     "iova: nope",
                     -EBADMSG);
        parse_expect("arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 sid 0x100", -EBADMSG);
}

static void test_smmuv3_merge_detail(void **state) {
        const char *ev = "arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 "
                         "sid: 0x100 ssid: 0x0 iova: 0x7f000 ipa: 0x0";
        DmaFault f = parse_ok(ev);

        assert_int_equal(dma_fault_merge_detail(&f, ev,
                                                "arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 "
                                                "\"Input address caused fault\" stag: 0x0"),
                         1);
        assert_int_equal(f.access, DMA_ACCESS_WRITE);

        assert_int_equal(dma_fault_merge_detail(&f, ev,
                                                "arm-smmu-v3 arm-smmu-v3.0.auto: priv inst read s2 "
                                                "\"Stage 1 translation table fetch\" ttd_read stag: 0x0"),
                         1);
        assert_int_equal(f.access, DMA_ACCESS_READ);

        /* another SMMU instance: not ours */
        assert_int_equal(dma_fault_merge_detail(&f, ev,
                                                "arm-smmu-v3 arm-smmu-v3.1.auto: unpriv data write s1 "
                                                "\"Input address caused fault\" stag: 0x0"),
                         0);
        assert_int_equal(f.access, DMA_ACCESS_READ);

        /* not a detail line */
        assert_int_equal(dma_fault_merge_detail(&f, ev, "arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:"), 0);
        assert_int_equal(f.access, DMA_ACCESS_READ);

        /* not an SMMU fault */
        f = parse_ok("DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x7f000 [fault reason 0x06] x");
        assert_int_equal(dma_fault_merge_detail(&f, ev,
                                                "arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 "
                                                "\"Input address caused fault\" stag: 0x0"),
                         0);
        assert_int_equal(f.access, DMA_ACCESS_READ);
}

/* ---- lines that are not faults ---------------------------------------------------------- */

static void test_non_fault_lines(void **state) {
        static const char *const lines[] = {
                "",
                "DMAR: DRHD: handling fault status reg 2",
                "DMAR: DRHD: handling fault status reg 3",
                "DMAR-IR: Enabled IRQ remapping in x2apic mode",
                "DMAR: Intel(R) Virtualization Technology for Directed I/O",
                "DMAR: dmar0: Using Queued invalidation",
                "DMAR: Dump dmar0 table entries for IOVA 0x7f000",
                "DMAR:[fault reason 05] PTE Write access is not set",
                "AMD-Vi: Interrupt remapping enabled",
                "pci 0000:00:00.2: AMD-Vi: Found IOMMU cap 0x40",
                "AMD-Vi: Extended features (0x4f77ef22294ada): PPR NX GT IA GA PC GA_vAPIC",
                "AMD-Vi: IOMMU event log overflow",
                "amdgpu 0000:03:00.0: amdgpu: [gfxhub] page fault (src_id:0 ring:158 vmid:0 pasid:0)",
                "arm-smmu-v3 arm-smmu-v3.0.auto: option mask 0x0",
                "arm-smmu-v3 arm-smmu-v3.0.auto: EVTQ overflow detected -- events lost",
                "arm-smmu-v3 arm-smmu-v3.0.auto: ias 48-bit, oas 48-bit (features 0x001c1eff)",
                "dmar_fault: 3 callbacks suppressed",
                "usb 1-1: new high-speed USB device number 2 using xhci_hcd",
                "Request device [03:00.0] was not a DMAR line",
                "[Firmware Bug]: Request device [03:00.0] fault addr 0x1",
                "event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 (no driver prefix)",
        };

        FOREACH_ARRAY(l, lines, ELEMENTSOF(lines))
                parse_expect(*l, 0);
}

/* ---- suppression notices ---------------------------------------------------------------- */

static void test_suppression_positive(void **state) {
        assert_true(dma_fault_message_is_suppression("dmar_fault: 3 callbacks suppressed"));
        assert_true(dma_fault_message_is_suppression("amd_iommu_report_page_fault: 12 callbacks suppressed"));
        assert_true(dma_fault_message_is_suppression("iommu_print_event: 1 callbacks suppressed"));
        assert_true(dma_fault_message_is_suppression("arm_smmu_dump_event: 40 callbacks suppressed"));
        assert_true(dma_fault_message_is_suppression("arm_smmu_evtq_thread: 2 callbacks suppressed"));
        assert_true(dma_fault_message_is_suppression(
                "arm-smmu-v3 arm-smmu-v3.0.auto: EVTQ overflow detected -- events lost"));
        assert_true(dma_fault_message_is_suppression("AMD-Vi: IOMMU event log overflow"));
        assert_true(dma_fault_message_is_suppression("AMD-Vi: Event log overflow"));
        assert_true(dma_fault_message_is_suppression("DMAR: DRHD: handling fault status reg 3"));
        assert_true(dma_fault_message_is_suppression("DMAR: DRHD: handling fault status reg 101"));
        assert_true(dma_fault_message_is_suppression("DMAR: fault reporting ratelimited"));
}

static void test_suppression_negative(void **state) {
        assert_false(dma_fault_message_is_suppression(NULL));
        assert_false(dma_fault_message_is_suppression(""));
        assert_false(dma_fault_message_is_suppression("DMAR: DRHD: handling fault status reg 2"));
        assert_false(dma_fault_message_is_suppression("DMAR: DRHD: handling fault status reg 100"));
        assert_false(dma_fault_message_is_suppression("net_ratelimit: 3 callbacks suppressed"));
        assert_false(dma_fault_message_is_suppression("callbacks suppressed"));
        assert_false(dma_fault_message_is_suppression("dmar_fault: many callbacks suppressed"));
        assert_false(dma_fault_message_is_suppression("dmar_fault: 3 callbacks suppressed, honest"));
        assert_false(dma_fault_message_is_suppression("AMD-Vi: Interrupt remapping enabled"));
        assert_false(dma_fault_message_is_suppression("AMD-Vi: IOMMU PPR log overflow"));
        assert_false(dma_fault_message_is_suppression(
                "DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x7f000 [fault reason 0x06] x"));
}

static void test_ratelimit_notice(void **state) {
        assert_true(dma_fault_message_is_ratelimit_notice("net_ratelimit: 3 callbacks suppressed"));
        assert_true(dma_fault_message_is_ratelimit_notice("dmar_fault: 3 callbacks suppressed"));
        assert_false(dma_fault_message_is_ratelimit_notice(": 3 callbacks suppressed"));
        assert_false(dma_fault_message_is_ratelimit_notice("x 3 callbacks suppressed"));
        assert_false(dma_fault_message_is_ratelimit_notice("x: callbacks suppressed"));
        assert_false(dma_fault_message_is_ratelimit_notice(NULL));
}

/* ---- kmsg records ----------------------------------------------------------------------- */

static void test_kmsg_parse_header(void **state) {
        static const char text[] = "3,1234,56789012,-;DMAR: DRHD: handling fault status reg 2";
        _cleanup_(kmsg_record_done) KmsgRecord rec = {};

        assert_int_equal(kmsg_record_parse(text, strlen(text), &rec), 0);
        assert_int_equal(rec.priority, 3);
        assert_int_equal(rec.seq, 1234);
        assert_int_equal(rec.usec, 56789012);
        assert_string_equal(rec.message, "DMAR: DRHD: handling fault status reg 2");
}

static void test_kmsg_parse_facility_and_extra_fields(void **state) {
        static const char text[] = "30,18446744073709551615,0,c,caller=T1;systemd[1]: hello";
        _cleanup_(kmsg_record_done) KmsgRecord rec = {};

        assert_int_equal(kmsg_record_parse(text, strlen(text), &rec), 0);
        assert_int_equal(rec.priority, 30);
        assert_true(rec.seq == UINT64_MAX);
        assert_int_equal(rec.usec, 0);
        assert_string_equal(rec.message, "systemd[1]: hello");
}

static void test_kmsg_parse_escapes(void **state) {
        static const char text[] = "6,1,2,-;line one\\x0aline two\\x5ctab\\x09end \\xZZ \\x4 \\x00 \\x";
        _cleanup_(kmsg_record_done) KmsgRecord rec = {};

        assert_int_equal(kmsg_record_parse(text, strlen(text), &rec), 0);
        /* \x5c is a backslash (the kernel escapes every backslash so); \xZZ, a short "\x4" and a
         * trailing "\x" stay literal; \x00 is kept literal rather than cutting the string. */
        assert_string_equal(rec.message, "line one\nline two\\tab\tend \\xZZ \\x4 \\x00 \\x");
}

static void test_kmsg_parse_continuation_ignored(void **state) {
        static const char text[] = "3,105,3000,-;vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT "
                                   "domain=0x000e address=0x7f000 flags=0x0020]\n"
                                   " SUBSYSTEM=pci\n"
                                   " DEVICE=+pci:0000:03:00.0\n";
        _cleanup_(kmsg_record_done) KmsgRecord rec = {};

        assert_int_equal(kmsg_record_parse(text, strlen(text), &rec), 0);
        assert_int_equal(rec.seq, 105);
        assert_string_equal(rec.message, "vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT "
                                         "domain=0x000e address=0x7f000 flags=0x0020]");
}

static void test_kmsg_parse_size_bounds(void **state) {
        /* Not NUL-terminated: only size bytes count. */
        static const char text[] = "4,7,8,-;truncated here|garbage";
        _cleanup_(kmsg_record_done) KmsgRecord rec = {};

        assert_int_equal(kmsg_record_parse(text, strlen("4,7,8,-;truncated here"), &rec), 0);
        assert_string_equal(rec.message, "truncated here");
        kmsg_record_done(&rec);

        assert_int_equal(kmsg_record_parse(text, strlen("4,7,8,-;"), &rec), 0);
        assert_string_equal(rec.message, "");
        kmsg_record_done(&rec);
        assert_null(rec.message);
        kmsg_record_done(&rec); /* idempotent */
        kmsg_record_done(NULL);
}

static void test_kmsg_parse_malformed(void **state) {
        static const char *const bad[] = {
                "",
                ";message",
                "3,1,2;missing flags",
                "3,1,2,;empty flags",
                "x,1,2,-;bad prio",
                "-3,1,2,-;negative prio",
                "3,,2,-;empty seq",
                "3,1,2x,-;bad usec",
                "3,1,2,-no semicolon",
                " SUBSYSTEM=pci",
                " 3,1,2,-;leading space",
                "2147483648,1,2,-;prio too large for int",
                "3,18446744073709551616,2,-;seq overflows",
                "3,1\n,2,-;newline in header",
                "3,1,2,- ;space in flags",
        };
        KmsgRecord rec = { .priority = 77, .seq = 88, .usec = 99, .message = NULL };

        FOREACH_ARRAY(b, bad, ELEMENTSOF(bad)) {
                assert_int_equal(kmsg_record_parse(*b, strlen(*b), &rec), -EINVAL);
                assert_int_equal(rec.priority, 77);
                assert_int_equal(rec.seq, 88);
                assert_null(rec.message);
        }
        assert_int_equal(kmsg_record_parse(NULL, 0, &rec), -EINVAL);
}

/* ---- kmsg_read_faults ------------------------------------------------------------------- */

static void test_kmsg_record_facility(void **state) {
        static const char *const kernel[] = {
                "3,123,456,-;DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x1000 "
                "[fault reason 0x06] PTE Read access is not set",
                "0,123,456,-;DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x1000 "
                "[fault reason 0x06] PTE Read access is not set",
                "7,123,456,c,caller=C3;DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x1000 "
                "[fault reason 0x06] PTE Read access is not set",
        };
        /* user.info (what "echo > /dev/kmsg" gives: the kernel forces LOG_USER on facility 0), user.err,
         * daemon.err, local7.debug */
        static const char *const forged[] = {
                "14,123,456,-;DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x1000 "
                "[fault reason 0x06] PTE Read access is not set",
                "11,123,456,-;DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x1000 "
                "[fault reason 0x06] PTE Read access is not set",
                "27,123,456,-;vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000e "
                "address=0x7f000 flags=0x0020]",
                "191,123,456,-;arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 "
                "sid: 0x100 ssid: 0x0 iova: 0x1000 ipa: 0x0",
        };
        DmaFault f;

        FOREACH_ARRAY(l, kernel, ELEMENTSOF(kernel)) {
                memset(&f, 0xaa, sizeof(f));
                assert_int_equal(dma_fault_parse_kmsg_record(*l, strlen(*l), &f), KMSG_RECORD_FAULT);
                assert_requester(&f, 0, 0x00, 0x03, 0);
                assert_int_equal(f.iova, 0x1000);
        }
        FOREACH_ARRAY(l, forged, ELEMENTSOF(forged))
                assert_int_equal(dma_fault_parse_kmsg_record(*l, strlen(*l), &f), KMSG_RECORD_OTHER);

        assert_int_equal(dma_fault_parse_kmsg_record("4,1,1,-;DMAR: DRHD: handling fault status reg 3",
                                                     strlen("4,1,1,-;DMAR: DRHD: handling fault status reg 3"), &f),
                         KMSG_RECORD_SUPPRESSION);
        assert_int_equal(dma_fault_parse_kmsg_record("12,1,1,-;DMAR: DRHD: handling fault status reg 3",
                                                     strlen("12,1,1,-;DMAR: DRHD: handling fault status reg 3"), &f),
                         KMSG_RECORD_OTHER);
        assert_int_equal(dma_fault_parse_kmsg_record("garbage", strlen("garbage"), &f), -EINVAL);
}

typedef struct Seen {
        bool is_fault;
        DmaFault fault;
        uint64_t seq;
        char message[256];
} Seen;

typedef struct Collector {
        Seen seen[32];
        size_t n;
        size_t fail_at; /* return -ECANCELED on this call (1-based); 0: never */
} Collector;

static int collect(const DmaFault *fault, const KmsgRecord *rec, void *userdata) {
        Collector *c = userdata;

        assert_non_null(rec);
        assert_non_null(rec->message);
        assert_true(c->n < ELEMENTSOF(c->seen));
        c->seen[c->n] = (Seen) { .is_fault = !!fault, .seq = rec->seq };
        if (fault)
                c->seen[c->n].fault = *fault;
        snprintf(c->seen[c->n].message, sizeof(c->seen[c->n].message), "%s", rec->message);
        c->n++;
        return c->fail_at == c->n ? -ECANCELED : 0;
}

static char *write_temp(const char *contents) {
        const char *tmp = getenv("TMPDIR") ?: "/tmp";
        char *path;
        int fd;

        assert_true(asprintf(&path, "%s/test-dma-fault-XXXXXX", tmp) > 0);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, contents, strlen(contents)), (ssize_t) strlen(contents));
        assert_int_equal(close(fd), 0);
        return path;
}

static void remove_temp(char *path) {
        assert_int_equal(unlink(path), 0);
        free(path);
}

static const char snapshot[] =
        "6,100,1000,-;pci 0000:03:00.0: [8086:1533] type 00 class 0x020000\n"
        " SUBSYSTEM=pci\n"
        " DEVICE=+pci:0000:03:00.0\n"
        "3,101,2000,-;DMAR: DRHD: handling fault status reg 2\n"
        "3,102,2001,-;DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x7f000 [fault reason 0x06] "
        "PTE Read access is not set\n"
        "4,103,2500,-;some_driver: 2 callbacks suppressed\n"
        "4,104,2600,-;other_driver: 5 callbacks suppressed\n"
        "this line is dmesg text, not a kmsg record\n"
        "\n"
        "3,105,3000,-,caller=C1;vfio-pci 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000e "
        "address=0x7f000 flags=0x0020]\n"
        " SUBSYSTEM=pci\n"
        " DEVICE=+pci:0000:03:00.0\n"
        "3,106,3500,-;DMAR: [DMA Read NO_PASID] Request device [zz:00.0] fault addr 0x1 [fault reason 0x06] x\n"
        "3,107,4000,-;arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:\n"
        "3,108,4001,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000010000000010\n"
        "3,109,4002,-;arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 "
        "ssid: 0x0 iova: 0x7f000 ipa: 0x0\n"
        "3,110,4003,-;arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 \"Input address caused fault\" "
        "stag: 0x0\n"
        "3,111,4100,-;arm-smmu-v3 arm-smmu-v3.0.auto: event: F_PERMISSION client: 0000:01:00.1 sid: 0x101 "
        "ssid: 0x0 iova: 0x2000 ipa: 0x0\n"
        "3,112,4200,-;arm-smmu-v3 arm-smmu-v3.0.auto: EVTQ overflow detected -- events lost\n"
        "4,113,5000,-;dmar_fault: 7 callbacks suppressed\n"
        "3,114,5001,-;DMAR: [INTR-REMAP] Request device [00:03.0] fault index 0x1a [fault reason 0x25] "
        "Blocked a compatibility format interrupt request\n"
        "3,115,6000,-;arm-smmu-v3 arm-smmu-v3.0.auto: event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 "
        "ssid: 0x0 iova: 0xdead000 ipa: 0x0";

/* Before 6.15: the raw event alone, each dword its own record. 6.15+: the raw event, then the decoded
 * line and its detail line: one fault, not two. */
static const char smmu_raw_snapshot[] =
        "6,10,1000,-;arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:\n"
        "6,11,1001,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000010000000010\n"
        "6,12,1002,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000800000000\n"
        "6,13,1003,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x000000000007f000\n"
        "6,14,1004,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000000000000\n"
        "6,15,1005,-;some other line\n"
        "3,20,2000,-;arm-smmu-v3 arm-smmu-v3.0.auto: event 0x13 received:\n"
        "3,21,2001,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000010100000013\n"
        "3,22,2002,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000000000000\n"
        "3,23,2003,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000000002000\n"
        "3,24,2004,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000000000000\n"
        "3,25,2005,-;arm-smmu-v3 arm-smmu-v3.0.auto: event: F_PERMISSION client: 0000:01:00.1 sid: 0x101 "
        "ssid: 0x0 iova: 0x2000 ipa: 0x0\n"
        "3,26,2006,-;arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 \"Input address caused fault\" "
        "stag: 0x0\n"
        /* a raw event cut short by another line: dropped */
        "6,30,3000,-;arm-smmu-v3 arm-smmu-v3.1.auto: event 0x10 received:\n"
        "6,31,3001,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x0000010000000010\n"
        "6,32,3002,-;unrelated\n"
        /* the last record of the log */
        "6,40,4000,-;arm-smmu-v3 arm-smmu-v3.1.auto: event 0x10 received:\n"
        "6,41,4001,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x0000020000000010\n"
        "6,42,4002,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x0000000000000000\n"
        "6,43,4003,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x0000000000003000\n"
        "6,44,4004,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x0000000000000000\n";

static void test_read_faults_smmuv3_raw(void **state) {
        Collector c = {};
        char *path = write_temp(smmu_raw_snapshot);

        assert_int_equal(kmsg_read_faults(path, collect, &c), 3);
        assert_int_equal(c.n, 3);

        assert_true(c.seen[0].is_fault);
        assert_int_equal(c.seen[0].seq, 10); /* the header's record */
        assert_requester(&c.seen[0].fault, 0, 0x01, 0x00, 0);
        assert_false(c.seen[0].fault.has_domain);
        assert_int_equal(c.seen[0].fault.access, DMA_ACCESS_READ);
        assert_int_equal(c.seen[0].fault.iova, 0x7f000);
        assert_string_equal(c.seen[0].fault.iommu, "arm-smmu-v3.0.auto");

        /* 6.15+: the decoded line, with its detail merged */
        assert_int_equal(c.seen[1].seq, 25);
        assert_true(c.seen[1].fault.has_domain);
        assert_false(c.seen[1].fault.has_stream_id);
        assert_int_equal(c.seen[1].fault.access, DMA_ACCESS_WRITE);

        assert_int_equal(c.seen[2].seq, 40);
        assert_requester(&c.seen[2].fault, 0, 0x02, 0x00, 0);
        assert_int_equal(c.seen[2].fault.access, DMA_ACCESS_WRITE);
        assert_string_equal(c.seen[2].fault.iommu, "arm-smmu-v3.1.auto");
        remove_temp(path);
}

/* ---- KmsgReader: records fed one at a time, as isolated reads the live log ---------------- */

static void feed(KmsgReader *r, const char *record) {
        assert_int_equal(kmsg_reader_feed(r, record, strlen(record)), 0);
}

#define RAW_HEADER "6,10,1000,-;arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:"
static const char *const raw_dwords[] = {
        "6,11,1001,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000010000000010",
        "6,12,1002,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000800000000",
        "6,13,1003,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x000000000007f000",
        "6,14,1004,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000000000000",
};

static void assert_raw_read_fault(const Seen *s) {
        assert_true(s->is_fault);
        assert_int_equal(s->seq, 10); /* the header's record */
        assert_requester(&s->fault, 0, 0x01, 0x00, 0);
        assert_int_equal(s->fault.access, DMA_ACCESS_READ);
        assert_int_equal(s->fault.iova, 0x7f000);
        assert_true(s->fault.has_stream_id);
        assert_int_equal(s->fault.stream_id, 0x100);
        assert_string_equal(s->fault.iommu, "arm-smmu-v3.0.auto");
}

/* Before 6.15: the header and its four dwords, each a record of its own, make one fault, reported
 * when the next record shows the event is over. */
static void test_reader_smmuv3_raw_by_record(void **state) {
        _cleanup_(kmsg_reader_freep) KmsgReader *r = NULL;
        Collector c = {};

        assert_int_equal(kmsg_reader_new(collect, &c, &r), 0);
        feed(r, RAW_HEADER);
        FOREACH_ARRAY(d, raw_dwords, ELEMENTSOF(raw_dwords)) {
                assert_false(kmsg_reader_is_waiting(r));
                feed(r, *d);
                assert_int_equal(c.n, 0);
        }
        assert_true(kmsg_reader_is_waiting(r));
        feed(r, "6,15,1005,-;some other line");
        assert_int_equal(c.n, 1);
        assert_raw_read_fault(&c.seen[0]);
        assert_false(kmsg_reader_is_waiting(r));
        assert_int_equal(kmsg_reader_flush(r), 0);
        assert_int_equal(c.n, 1);
}

/* The live log must not wait for a record that may never come: a flush reports the complete event;
 * one still missing dwords keeps waiting for them, and is reported once they are there. */
static void test_reader_smmuv3_raw_flush(void **state) {
        _cleanup_(kmsg_reader_freep) KmsgReader *r = NULL;
        Collector c = {};

        assert_int_equal(kmsg_reader_new(collect, &c, &r), 0);
        feed(r, RAW_HEADER);
        feed(r, raw_dwords[0]);
        feed(r, raw_dwords[1]);
        assert_int_equal(kmsg_reader_flush(r), 0);
        assert_int_equal(c.n, 0);
        feed(r, raw_dwords[2]);
        feed(r, raw_dwords[3]);
        assert_int_equal(c.n, 0);
        assert_int_equal(kmsg_reader_flush(r), 0);
        assert_int_equal(c.n, 1);
        assert_raw_read_fault(&c.seen[0]);
        assert_int_equal(kmsg_reader_flush(r), 0); /* reported once */
        feed(r, "6,15,1005,-;some other line");
        assert_int_equal(c.n, 1);

        /* a generic ratelimit notice right after the flushed event still counts as a suppression */
        feed(r, RAW_HEADER);
        FOREACH_ARRAY(d, raw_dwords, ELEMENTSOF(raw_dwords))
                feed(r, *d);
        assert_int_equal(kmsg_reader_flush(r), 0);
        feed(r, "4,16,1006,-;some_fn: 3 callbacks suppressed");
        assert_int_equal(c.n, 3);
        assert_true(c.seen[1].is_fault);
        assert_false(c.seen[2].is_fault);
        assert_int_equal(c.seen[2].seq, 16);
        /* not after a fault: an unrelated function's notice */
        feed(r, "4,17,1007,-;some_fn: 4 callbacks suppressed");
        assert_int_equal(c.n, 3);
}

/* 6.15+: the raw event, then the decoded line and its detail line: one fault, with the direction of the
 * detail line. Records from userspace in between (facility LOG_USER) change nothing, and a malformed
 * record is refused without touching what waits. */
static void test_reader_smmuv3_decoded_supersedes(void **state) {
        _cleanup_(kmsg_reader_freep) KmsgReader *r = NULL;
        Collector c = {};

        assert_int_equal(kmsg_reader_new(collect, &c, &r), 0);
        feed(r, "3,20,2000,-;arm-smmu-v3 arm-smmu-v3.0.auto: event 0x13 received:");
        feed(r, "3,21,2001,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000010100000013");
        feed(r, "14,22,2001,-;arm-smmu-v3 arm-smmu-v3.0.auto: event: F_PERMISSION client: 0000:01:00.0 "
                "sid: 0x100 ssid: 0x0 iova: 0x1000 ipa: 0x0");
        assert_int_equal(kmsg_reader_feed(r, "garbage", strlen("garbage")), -EINVAL);
        feed(r, "3,23,2002,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000000000000");
        feed(r, "3,24,2003,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000000002000");
        feed(r, "3,25,2004,-;arm-smmu-v3 arm-smmu-v3.0.auto: \\x090x0000000000000000");
        feed(r, "3,26,2005,-;arm-smmu-v3 arm-smmu-v3.0.auto: event: F_PERMISSION client: 0000:01:00.1 sid: 0x101 "
                "ssid: 0x0 iova: 0x2000 ipa: 0x0");
        assert_int_equal(c.n, 0);
        assert_true(kmsg_reader_is_waiting(r)); /* for the detail line */
        feed(r, "3,27,2006,-;arm-smmu-v3 arm-smmu-v3.0.auto: unpriv data write s1 \"Input address caused fault\" "
                "stag: 0x0");
        assert_int_equal(c.n, 1);
        assert_int_equal(c.seen[0].seq, 26);
        assert_requester(&c.seen[0].fault, 0, 0x01, 0x00, 1);
        assert_int_equal(c.seen[0].fault.access, DMA_ACCESS_WRITE);
        assert_int_equal(c.seen[0].fault.iova, 0x2000);
        assert_int_equal(kmsg_reader_flush(r), 0);
        assert_int_equal(c.n, 1);
}

/* A fault waiting for its detail line is reported by a flush, without the direction. */
static void test_reader_flush_pending(void **state) {
        _cleanup_(kmsg_reader_freep) KmsgReader *r = NULL;
        Collector c = {};

        assert_int_equal(kmsg_reader_new(collect, &c, &r), 0);
        feed(r, "3,30,3000,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason "
                "0x06] PTE Read access is not set");
        assert_int_equal(c.n, 0);
        assert_true(kmsg_reader_is_waiting(r));
        assert_int_equal(kmsg_reader_flush(r), 0);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.seen[0].seq, 30);
        assert_int_equal(c.seen[0].fault.access, DMA_ACCESS_READ);
        assert_false(kmsg_reader_is_waiting(r));
        /* the unit line after the flush belongs to nothing any more */
        feed(r, "6,31,3001,-;DMAR: Dump dmar1 table entries for IOVA 0x1000");
        assert_int_equal(c.n, 1);
}

/* The reader gives what kmsg_read_faults() gives for the same records. */
static void test_reader_same_as_read_faults(void **state) {
        _cleanup_(kmsg_reader_freep) KmsgReader *r = NULL;
        _cleanup_free_ char *copy = strdup(smmu_raw_snapshot);
        Collector a = {}, b = {};
        char *path = write_temp(smmu_raw_snapshot);

        assert_non_null(copy);
        assert_int_equal(kmsg_read_faults(path, collect, &a), 3);
        assert_int_equal(kmsg_reader_new(collect, &b, &r), 0);
        for (char *line = copy, *nl; line && *line; line = nl) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl++ = '\0';
                feed(r, line);
        }
        assert_int_equal(kmsg_reader_flush(r), 0);
        assert_int_equal(b.n, a.n);
        for (size_t i = 0; i < a.n; i++) {
                assert_int_equal(b.seen[i].seq, a.seen[i].seq);
                assert_int_equal(b.seen[i].is_fault, a.seen[i].is_fault);
                assert_memory_equal(&b.seen[i].fault.requester, &a.seen[i].fault.requester, sizeof(PciAddress));
                assert_int_equal(b.seen[i].fault.access, a.seen[i].fault.access);
                assert_int_equal(b.seen[i].fault.iova, a.seen[i].fault.iova);
        }
        remove_temp(path);
}

static void test_reader_callback_error(void **state) {
        _cleanup_(kmsg_reader_freep) KmsgReader *r = NULL;
        Collector c = { .fail_at = 1 };
        const char *rec = "3,30,3000,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 "
                          "[fault reason 0x06] PTE Read access is not set";

        assert_int_equal(kmsg_reader_new(collect, &c, &r), 0);
        feed(r, rec);
        assert_int_equal(kmsg_reader_flush(r), -ECANCELED);
        assert_int_equal(kmsg_reader_feed(NULL, rec, strlen(rec)), -EINVAL);
        assert_int_equal(kmsg_reader_flush(NULL), -EINVAL);
        assert_null(kmsg_reader_free(NULL));
}

static void test_read_faults_intel_unit(void **state) {
        /* CONFIG_DMAR_DEBUG names the unit on the next line, for the fault's IOVA only. */
        Collector c = {};
        char *path = write_temp(
                "3,1,100,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason "
                "0x06] PTE Read access is not set\n"
                "6,2,101,-;DMAR: Dump dmar1 table entries for IOVA 0x1000\n"
                "6,3,102,-;DMAR: root entry: 0x0000000102b40001\n"
                "3,4,200,-;DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x2000 [fault reason "
                "0x05] PTE Write access is not set\n"
                "6,5,201,-;DMAR: Dump dmar1 table entries for IOVA 0x3000\n"
                "3,6,300,-;DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x2000 [fault reason "
                "0x05] PTE Write access is not set\n");

        assert_int_equal(kmsg_read_faults(path, collect, &c), 3);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.seen[0].seq, 1);
        assert_string_equal(c.seen[0].fault.iommu, "dmar1");
        assert_int_equal(c.seen[1].seq, 4);
        assert_string_equal(c.seen[1].fault.iommu, ""); /* another IOVA: not this fault's dump */
        assert_int_equal(c.seen[2].seq, 6);
        assert_string_equal(c.seen[2].fault.iommu, "");
        remove_temp(path);
}

static void test_read_faults_snapshot(void **state) {
        Collector c = {};
        char *path = write_temp(snapshot);

        assert_int_equal(kmsg_read_faults(path, collect, &c), 6);
        assert_int_equal(c.n, 9);

        /* Intel read fault */
        assert_true(c.seen[0].is_fault);
        assert_int_equal(c.seen[0].seq, 102);
        assert_int_equal(c.seen[0].fault.vendor, DMA_FAULT_INTEL);
        assert_requester(&c.seen[0].fault, 0, 0x03, 0x00, 0);
        assert_int_equal(c.seen[0].fault.access, DMA_ACCESS_READ);
        assert_int_equal(c.seen[0].fault.iova, 0x7f000);
        assert_int_equal(c.seen[0].fault.reason, 6);

        /* a generic ratelimit notice right after a fault; the one after it (seq 104) is not passed on */
        assert_false(c.seen[1].is_fault);
        assert_int_equal(c.seen[1].seq, 103);
        assert_string_equal(c.seen[1].message, "some_driver: 2 callbacks suppressed");

        /* AMD write fault (the malformed Intel line at 106 and the raw SMMU lines are skipped) */
        assert_true(c.seen[2].is_fault);
        assert_int_equal(c.seen[2].seq, 105);
        assert_int_equal(c.seen[2].fault.vendor, DMA_FAULT_AMD);
        assert_requester(&c.seen[2].fault, 0, 0x03, 0x00, 0);
        assert_true(c.seen[2].fault.has_domain);
        assert_int_equal(c.seen[2].fault.access, DMA_ACCESS_WRITE);
        assert_int_equal(c.seen[2].fault.iova, 0x7f000);
        assert_int_equal(c.seen[2].fault.reason, 0x20);

        /* SMMUv3 fault with the direction merged from its detail line (seq 110, not passed on) */
        assert_true(c.seen[3].is_fault);
        assert_int_equal(c.seen[3].seq, 109);
        assert_int_equal(c.seen[3].fault.vendor, DMA_FAULT_SMMUV3);
        assert_requester(&c.seen[3].fault, 0, 0x01, 0x00, 0);
        assert_int_equal(c.seen[3].fault.access, DMA_ACCESS_WRITE);
        assert_int_equal(c.seen[3].fault.iova, 0x7f000);
        assert_int_equal(c.seen[3].fault.reason, 0x10);

        /* SMMUv3 fault without a detail line: reported before the record that followed it */
        assert_true(c.seen[4].is_fault);
        assert_int_equal(c.seen[4].seq, 111);
        assert_requester(&c.seen[4].fault, 0, 0x01, 0x00, 1);
        assert_int_equal(c.seen[4].fault.access, DMA_ACCESS_UNKNOWN);
        assert_int_equal(c.seen[4].fault.iova, 0x2000);
        assert_int_equal(c.seen[4].fault.reason, 0x13);

        assert_false(c.seen[5].is_fault);
        assert_int_equal(c.seen[5].seq, 112);
        assert_string_equal(c.seen[5].message, "arm-smmu-v3 arm-smmu-v3.0.auto: EVTQ overflow detected -- events lost");

        assert_false(c.seen[6].is_fault);
        assert_int_equal(c.seen[6].seq, 113);

        assert_true(c.seen[7].is_fault);
        assert_int_equal(c.seen[7].seq, 114);
        assert_true(c.seen[7].fault.interrupt);
        assert_int_equal(c.seen[7].fault.reason, 0x25);

        /* the last record is an SMMUv3 fault: flushed at the end of the file */
        assert_true(c.seen[8].is_fault);
        assert_int_equal(c.seen[8].seq, 115);
        assert_int_equal(c.seen[8].fault.iova, 0xdead000);
        assert_int_equal(c.seen[8].fault.access, DMA_ACCESS_UNKNOWN);

        /* no callback: still counts */
        assert_int_equal(kmsg_read_faults(path, NULL, NULL), 6);

        remove_temp(path);
}

static void test_read_faults_callback_error(void **state) {
        Collector c = { .fail_at = 2 };
        char *path = write_temp(snapshot);

        assert_int_equal(kmsg_read_faults(path, collect, &c), -ECANCELED);
        assert_int_equal(c.n, 2);

        /* failing on the pending SMMUv3 fault flushed at end of file */
        c = (Collector) { .fail_at = 9 };
        assert_int_equal(kmsg_read_faults(path, collect, &c), -ECANCELED);
        assert_int_equal(c.n, 9);

        remove_temp(path);
}

static void test_read_faults_escaped_message(void **state) {
        Collector c = {};
        char *path = write_temp("3,1,1,-;vfio-pci 0000:0b:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT\\x20"
                                "domain=0x0001 address=0xabc000 flags=0x0000]\n");

        assert_int_equal(kmsg_read_faults(path, collect, &c), 1);
        assert_int_equal(c.n, 1);
        assert_requester(&c.seen[0].fault, 0, 0x0b, 0x00, 0);
        assert_int_equal(c.seen[0].fault.iova, 0xabc000);
        assert_int_equal(c.seen[0].fault.access, DMA_ACCESS_READ);
        remove_temp(path);
}

static void test_read_faults_no_faults(void **state) {
        Collector c = {};
        char *path = write_temp("6,1,1,-;Linux version 6.12.0\n6,2,2,-;Command line: quiet\n");

        assert_int_equal(kmsg_read_faults(path, collect, &c), 0);
        assert_int_equal(c.n, 0);
        remove_temp(path);

        path = write_temp("");
        assert_int_equal(kmsg_read_faults(path, collect, &c), 0);
        assert_int_equal(c.n, 0);
        remove_temp(path);
}

static void test_read_faults_kernel_facility_only(void **state) {
        Collector c = {};
        char *path = write_temp(
                "14,1,1,-;DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x1000 [fault reason 0x06] "
                "PTE Read access is not set\n"
                "3,2,2,-;DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr 0x2000 [fault reason 0x05] "
                "PTE Write access is not set\n"
                "12,3,3,-;dmar_fault: 3 callbacks suppressed\n"
                "6,4,4,-;x [DMA Write] R[4242]: segfault at 0 ip 0000000000401126 sp 00007ffd3b0c3a10 error 6 in "
                "x [DMA Write] Request device [03:00.0] fault addr 0x1000 [fault reason 0x06] y[401000+1000]\n");

        /* Only the kernel's own record counts; the user.info and user.warning ones are not there. */
        assert_int_equal(kmsg_read_faults(path, collect, &c), 1);
        assert_int_equal(c.n, 1);
        assert_true(c.seen[0].is_fault);
        assert_int_equal(c.seen[0].seq, 2);
        assert_int_equal(c.seen[0].fault.iova, 0x2000);
        remove_temp(path);
}

static void test_read_faults_not_kmsg(void **state) {
        Collector c = {};
        char *path = write_temp("[    1.234] DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr "
                                "0x7f000 [fault reason 0x06] PTE Read access is not set\n");

        assert_int_equal(kmsg_read_faults(path, collect, &c), -EBADMSG);
        assert_int_equal(c.n, 0);
        remove_temp(path);
}

static void test_read_faults_errors(void **state) {
        assert_int_equal(kmsg_read_faults("/nonexistent/test-dma-fault/kmsg", NULL, NULL), -ENOENT);
        assert_int_equal(kmsg_read_faults("/", NULL, NULL), -EISDIR);
        assert_int_equal(kmsg_read_faults(NULL, NULL, NULL), -EINVAL);
}

static int count_faults(const DmaFault *fault, const KmsgRecord *rec, void *userdata) {
        size_t *n = userdata;

        assert_non_null(rec);
        if (fault)
                (*n)++;
        return 0;
}

static void test_read_faults_dev_kmsg(void **state) {
        size_t n = 0;
        int fd, r;

        /* The live device: only a smoke test (each read() one record, EAGAIN at the end). */
        fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                skip();
        close(fd);

        r = kmsg_read_faults("/dev/kmsg", count_faults, &n);
        if (r == -EPERM || r == -EACCES)
                skip();
        assert_true(r >= 0);
        assert_int_equal((size_t) r, n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vendor_to_string),
                cmocka_unit_test(test_access_to_string),
                cmocka_unit_test(test_intel_read_no_pasid),
                cmocka_unit_test(test_intel_write_no_pasid),
                cmocka_unit_test(test_intel_write_pasid),
                cmocka_unit_test(test_intel_scalable_mode_reason),
                cmocka_unit_test(test_intel_intr_remap),
                cmocka_unit_test(test_intel_old_pasid_token),
                cmocka_unit_test(test_intel_old_no_pasid_token),
                cmocka_unit_test(test_intel_old_decimal_reason),
                cmocka_unit_test(test_intel_5_14_hex_device),
                cmocka_unit_test(test_intel_prefix_anchored),
                cmocka_unit_test(test_forged_segfault_intel),
                cmocka_unit_test(test_forged_segfault_amd_smmuv3),
                cmocka_unit_test(test_intel_legacy_split_line),
                cmocka_unit_test(test_intel_reason_text_truncated),
                cmocka_unit_test(test_reason_text_escaped),
                cmocka_unit_test(test_intel_malformed),
                cmocka_unit_test(test_amd_dev_prefix),
                cmocka_unit_test(test_amd_dev_prefix_segment),
                cmocka_unit_test(test_amd_device_field),
                cmocka_unit_test(test_amd_device_field_old),
                cmocka_unit_test(test_amd_device_field_wins_over_prefix),
                cmocka_unit_test(test_amd_no_amdvi_tag),
                cmocka_unit_test(test_amd_old_continuation),
                cmocka_unit_test(test_amd_interrupt_and_translation_flags),
                cmocka_unit_test(test_amd_unattributable),
                cmocka_unit_test(test_amd_malformed),
                cmocka_unit_test(test_smmuv3_translation),
                cmocka_unit_test(test_smmuv3_permission_dt),
                cmocka_unit_test(test_smmuv3_no_iova_events),
                cmocka_unit_test(test_smmuv3_unattributable),
                cmocka_unit_test(test_smmuv3_raw_event_stateless),
                cmocka_unit_test(test_smmuv3_raw_event_decode),
                cmocka_unit_test(test_read_faults_smmuv3_raw),
                cmocka_unit_test(test_read_faults_intel_unit),
                cmocka_unit_test(test_reader_smmuv3_raw_by_record),
                cmocka_unit_test(test_reader_smmuv3_raw_flush),
                cmocka_unit_test(test_reader_smmuv3_decoded_supersedes),
                cmocka_unit_test(test_reader_flush_pending),
                cmocka_unit_test(test_reader_same_as_read_faults),
                cmocka_unit_test(test_reader_callback_error),
                cmocka_unit_test(test_smmuv3_malformed),
                cmocka_unit_test(test_smmuv3_merge_detail),
                cmocka_unit_test(test_non_fault_lines),
                cmocka_unit_test(test_suppression_positive),
                cmocka_unit_test(test_suppression_negative),
                cmocka_unit_test(test_ratelimit_notice),
                cmocka_unit_test(test_kmsg_parse_header),
                cmocka_unit_test(test_kmsg_parse_facility_and_extra_fields),
                cmocka_unit_test(test_kmsg_parse_escapes),
                cmocka_unit_test(test_kmsg_parse_continuation_ignored),
                cmocka_unit_test(test_kmsg_parse_size_bounds),
                cmocka_unit_test(test_kmsg_parse_malformed),
                cmocka_unit_test(test_kmsg_record_facility),
                cmocka_unit_test(test_read_faults_snapshot),
                cmocka_unit_test(test_read_faults_callback_error),
                cmocka_unit_test(test_read_faults_escaped_message),
                cmocka_unit_test(test_read_faults_no_faults),
                cmocka_unit_test(test_read_faults_kernel_facility_only),
                cmocka_unit_test(test_read_faults_not_kmsg),
                cmocka_unit_test(test_read_faults_errors),
                cmocka_unit_test(test_read_faults_dev_kmsg),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
