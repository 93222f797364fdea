/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dma-fault.h"
#include "fileio.h"
#include "macro.h"
#include "string-util.h"

/* ---- enum tables ------------------------------------------------------------------------ */

static const char *const dma_fault_vendor_table[_DMA_FAULT_VENDOR_MAX] = {
        [DMA_FAULT_INTEL] = "intel-vtd",
        [DMA_FAULT_AMD] = "amd-vi",
        [DMA_FAULT_SMMUV3] = "arm-smmuv3",
};

static const char *const dma_access_table[_DMA_ACCESS_MAX] = {
        [DMA_ACCESS_READ] = "read",
        [DMA_ACCESS_WRITE] = "write",
        [DMA_ACCESS_UNKNOWN] = "unknown",
};

const char *dma_fault_vendor_to_string(DmaFaultVendor v) {
        return v >= 0 && v < _DMA_FAULT_VENDOR_MAX ? dma_fault_vendor_table[v] : NULL;
}

DmaFaultVendor dma_fault_vendor_from_string(const char *s) {
        return (DmaFaultVendor) string_table_lookup(dma_fault_vendor_table, _DMA_FAULT_VENDOR_MAX, s);
}

const char *dma_access_to_string(DmaAccess a) {
        return a >= 0 && a < _DMA_ACCESS_MAX ? dma_access_table[a] : NULL;
}

DmaAccess dma_access_from_string(const char *s) {
        return (DmaAccess) string_table_lookup(dma_access_table, _DMA_ACCESS_MAX, s);
}

/* SMMUv3 event ids, as named by the driver's event_str[] (arm-smmu-v3.c) and the architecture. */
static const struct {
        const char *name;
        unsigned id;
} smmu_event_table[] = {
        { "C_BAD_STREAMID", 0x02 },    { "F_STE_FETCH", 0x03 },       { "C_BAD_STE", 0x04 },
        { "F_BAD_ATS_TREQ", 0x05 },    { "F_STREAM_DISABLED", 0x06 }, { "F_TRANSL_FORBIDDEN", 0x07 },
        { "C_BAD_SUBSTREAMID", 0x08 }, { "F_CD_FETCH", 0x09 },        { "C_BAD_CD", 0x0a },
        { "F_WALK_EABT", 0x0b },       { "F_TRANSLATION", 0x10 },     { "F_ADDR_SIZE", 0x11 },
        { "F_ACCESS", 0x12 },          { "F_PERMISSION", 0x13 },      { "F_TLB_CONFLICT", 0x20 },
        { "F_CFG_CONFLICT", 0x21 },    { "F_VMS_FETCH", 0x25 },
};

/* AMD IO_PAGE_FAULT event flags (AMD IOMMU specification 2.5.3; amd_iommu_types.h). */
#define AMD_EVENT_FLAG_I 0x008u
#define AMD_EVENT_FLAG_RW 0x020u
#define AMD_EVENT_FLAG_TR 0x100u

/* Intel DMAR_FSTS_REG: Primary Fault Overflow. */
#define INTEL_FSTS_PFO 0x1u

/* Large enough for any /dev/kmsg record: the kernel formats at most CONSOLE_EXT_LOG_MAX (8 KiB), and
 * fails read() with EINVAL when the buffer is too small for the record. */
#define KMSG_RECORD_MAX (16U * 1024U)

/* ---- small string helpers --------------------------------------------------------------- */

static const char *startswith(const char *s, const char *prefix) {
        size_t n = strlen(prefix);
        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static const char *skip_blanks(const char *p) {
        assert(p);

        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Hex number with optional 0x prefix; at least one digit; advances *p past it. */
static int parse_hex(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;
        int d;

        assert(p);
        assert(ret);

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && hexval(s[2]) >= 0)
                s += 2;
        if (hexval(*s) < 0)
                return -EINVAL;
        for (; (d = hexval(*s)) >= 0; s++) {
                if (v > (UINT64_MAX >> 4))
                        return -ERANGE;
                v = (v << 4) | (uint64_t) d;
        }
        *p = s;
        *ret = v;
        return 0;
}

static int parse_dec(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        assert(p);
        assert(ret);

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                uint64_t d = (uint64_t) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

/* The whole of [s, e) must be a decimal number no larger than max. */
static int parse_dec_span(const char *s, const char *e, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        assert(s);
        assert(ret);

        if (s >= e)
                return -EINVAL;
        for (; s < e; s++) {
                uint64_t d;
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                d = (uint64_t) (*s - '0');
                if (v > (max - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* Copies the token at p (up to a blank, ']' or end) into buf; returns the end of the token. */
static const char *copy_token(const char *p, char *buf, size_t size) {
        size_t n = strcspn(p, " \t\n]");
        snprintf(buf, size, "%.*s", (int) MIN(n, (size_t) INT_MAX), p);
        return p + n;
}

/* The reason is printed in log lines, sent on D-Bus and shown by isolatectl: escape whatever in it is
 * not printable ASCII once, here, so that no consumer can be handed a newline or an escape sequence. */
static void set_reason_text(DmaFault *f, const char *s, size_t n) {
        assert(f);
        assert(s);

        while (n > 0 && isspace((unsigned char) s[n - 1]))
                n--;
        string_escape_nonprint(s, n, f->reason_text, sizeof(f->reason_text));
}

static DmaFault dma_fault_new(DmaFaultVendor vendor) {
        return (DmaFault) {
                .vendor = vendor,
                .access = DMA_ACCESS_UNKNOWN,
        };
}

/* ---- Intel VT-d ------------------------------------------------------------------------- */

/* drivers/iommu/intel/dmar.c, dmar_fault_do_one(), pr_fmt "DMAR: ":
 *   ≥ 5.15: "[%s NO_PASID] Request device [%02x:%02x.%d] fault addr 0x%llx [fault reason 0x%02x] %s"
 *           "[%s PASID 0x%x] Request device [...] fault addr 0x%llx [fault reason 0x%02x] %s"
 *           "[INTR-REMAP] Request device [...] fault index 0x%llx [fault reason 0x%02x] %s"
 *   5.14:   the same, with the device printed as [0x%02x:0x%02x.%d]
 *   < 5.14: "[%s] Request device [%02x:%02x.%d] PASID %x fault addr %llx [fault reason %02d] %s"
 *           (PASID ffffffff when none; no PASID token before 5.4 or so), and
 *           "[INTR-REMAP] Request device [...] fault index %llx [fault reason %02d] %s"
 *   3.x:    "[DMA Write] Request device [00:02.0] fault addr 6df084000" with the reason on a line of
 *           its own ("DMAR:[fault reason 05] ..."), which we do not join. */
/* The tag between the brackets after "DMAR: ", [s, e). Returns 1 if it is a fault tag, 0 if not. */
static int intel_parse_tag(const char *s, const char *e, DmaFault *f) {
        char tag[64];
        const char *rest;

        assert(f);

        if ((size_t) (e - s) >= sizeof(tag))
                return 0;
        memcpy(tag, s, (size_t) (e - s));
        tag[e - s] = '\0';

        if (streq(tag, "INTR-REMAP")) {
                f->interrupt = true;
                return 1;
        }

        if ((rest = startswith(tag, "DMA Read")))
                f->access = DMA_ACCESS_READ;
        else if ((rest = startswith(tag, "DMA Write")))
                f->access = DMA_ACCESS_WRITE;
        else
                return 0;

        if (rest[0] == '\0' || streq(rest, " NO_PASID"))
                return 1;
        if ((rest = startswith(rest, " PASID "))) {
                uint64_t pasid;
                if (parse_hex(&rest, &pasid) < 0 || *rest != '\0')
                        return 0;
                return 1;
        }
        return 0;
}

static int intel_parse_device(const char **p, PciAddress *ret) {
        const char *s = *p;
        uint64_t bus, slot, func;

        assert(p);
        assert(ret);

        if (parse_hex(&s, &bus) < 0 || bus > 0xff || *s++ != ':')
                return -EINVAL;
        if (parse_hex(&s, &slot) < 0 || slot > 0x1f || *s++ != '.')
                return -EINVAL;
        if (parse_dec(&s, &func) < 0 || func > 7 || *s++ != ']')
                return -EINVAL;

        *ret = (PciAddress) { .bus = (uint8_t) bus, .slot = (uint8_t) slot, .func = (uint8_t) func };
        *p = s;
        return 0;
}

static int parse_intel(const char *message, DmaFault *ret) {
        DmaFault f = dma_fault_new(DMA_FAULT_INTEL);
        const char *tag, *close, *p, *q;
        uint64_t v;
        int r;

        assert(ret);

        /* Anchored: the message is the driver's own, "DMAR: [tag] Request device [", from its first
         * byte. Text further in is no fault report: other kernel messages quote strings that
         * unprivileged users choose (a segfault report starts with the task's comm and ends with its
         * file name), and those may contain anything, "Request device [" included. */
        p = startswith(message, "DMAR:");
        if (!p)
                return 0;
        tag = skip_blanks(p);
        if (*tag != '[')
                return 0;
        tag++;
        close = strchr(tag, ']');
        if (!close)
                return 0;
        p = startswith(skip_blanks(close + 1), "Request device [");
        if (!p)
                return 0;
        r = intel_parse_tag(tag, close, &f);
        if (r <= 0)
                return r;

        if (intel_parse_device(&p, &f.requester) < 0)
                return -EBADMSG;
        p = skip_blanks(p);

        if ((q = startswith(p, "PASID "))) { /* < 5.14: "PASID ffffffff" when there is none */
                p = q;
                if (parse_hex(&p, &v) < 0)
                        return -EBADMSG;
                p = skip_blanks(p);
        }

        if ((q = startswith(p, "fault addr "))) {
                p = q;
                if (parse_hex(&p, &f.iova) < 0)
                        return -EBADMSG;
                f.has_iova = true;
        } else if ((q = startswith(p, "fault index "))) {
                p = q;
                if (parse_hex(&p, &v) < 0)
                        return -EBADMSG;
        } else
                return -EBADMSG;
        p = skip_blanks(p);

        if ((q = startswith(p, "[fault reason "))) {
                p = q;
                /* With "0x" it is hex (≥ 5.14); without, the kernel used %02d. */
                if (startswith(p, "0x") || startswith(p, "0X"))
                        r = parse_hex(&p, &v);
                else
                        r = parse_dec(&p, &v);
                if (r < 0 || v > UINT_MAX || *p != ']')
                        return -EBADMSG;
                p = skip_blanks(p + 1);
                f.has_reason = true;
                f.reason = (unsigned) v;
                set_reason_text(&f, p, strcspn(p, "\n"));
        } else if (*p != '\0' && *p != '\n')
                return -EBADMSG;

        *ret = f;
        return 1;
}

/* ---- AMD-Vi ----------------------------------------------------------------------------- */

/* The driver's prefix at the start of message: "AMD-Vi: ", or a dev_printk prefix "<driver> <PCI
 * address>: " followed by "AMD-Vi: " or, before the driver set dev_fmt, by nothing. Returns the text
 * after it, or NULL if the message does not start so; *ret_dev gets the dev_printk device, if any. */
static const char *amd_skip_prefix(const char *message, PciAddress *ret_dev, bool *ret_has_dev) {
        char buf[PCI_ADDRESS_MAX + 1];
        const char *p;
        size_t n;

        assert(message);
        assert(ret_has_dev);

        *ret_has_dev = false;
        if ((p = startswith(message, "AMD-Vi: ")))
                return p;

        n = strcspn(message, " "); /* the driver (or bus) name: one word */
        if (n == 0 || message[n] != ' ')
                return NULL;
        p = message + n + 1;
        n = strcspn(p, " "); /* "0000:03:00.0:" */
        if (n < 2 || p[n] != ' ' || p[n - 1] != ':' || n - 1 >= sizeof(buf))
                return NULL;
        memcpy(buf, p, n - 1);
        buf[n - 1] = '\0';
        if (pci_address_parse_full(buf, ret_dev) < 0)
                return NULL;
        *ret_has_dev = true;
        p += n + 1;
        return startswith(p, "AMD-Vi: ") ?: p;
}

/* drivers/iommu/amd/iommu.c, amd_iommu_report_page_fault(), dev_fmt/pr_fmt "AMD-Vi: ":
 *   with a struct device:  "<drv> 0000:03:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x%04x
 *                           address=0x%llx flags=0x%04x]"
 *   without:               "AMD-Vi: Event logged [IO_PAGE_FAULT device=%04x:%02x:%02x.%x domain=...]"
 *   before PCI segments:   "... [IO_PAGE_FAULT device=%02x:%02x.%x domain=... address=0x%016llx ...]"
 * and on old kernels the bracket opened in one printk and continued in the next ("IO_PAGE_FAULT
 * device=..." at the start of the message). */
static int parse_amd(const char *message, DmaFault *ret) {
        DmaFault f = dma_fault_new(DMA_FAULT_AMD);
        const char *p;
        PciAddress prefix_dev;
        bool have_requester = false, have_flags = false, have_prefix_dev = false;
        uint64_t flags = 0;

        assert(ret);

        /* Anchored at the start of the message, as in parse_intel(). The bare continuation form can
         * only be forged by a kernel message that starts with user-chosen text; the one that does,
         * the segfault report, starts with a comm of at most 15 characters followed by "[pid]",
         * too short for "IO_PAGE_FAULT" and a "device=…" field, and every field must be KEY=VALUE. */
        p = amd_skip_prefix(message, &prefix_dev, &have_prefix_dev);
        p = p ? startswith(p, "Event logged [IO_PAGE_FAULT") : NULL;
        if (!p) {
                have_prefix_dev = false;
                p = startswith(skip_blanks(message), "IO_PAGE_FAULT");
                if (!p)
                        return 0;
        }
        if (*p != ' ' && *p != ']')
                return 0;

        for (;;) {
                char token[64], *value;
                size_t n;

                p = skip_blanks(p);
                if (*p == ']' || *p == '\0' || *p == '\n')
                        break;
                p = copy_token(p, token, sizeof(token));
                n = strlen(token);
                if (n > 0 && token[n - 1] == ',') /* RMP_PAGE_FAULT style separators */
                        token[n - 1] = '\0';
                value = strchr(token, '=');
                if (!value)
                        return -EBADMSG;
                *value++ = '\0';

                if (streq(token, "device")) {
                        if (pci_address_parse_full(value, &f.requester) >= 0)
                                f.has_domain = true;
                        else if (pci_address_parse(value, &f.requester) >= 0)
                                f.has_domain = false;
                        else
                                return -EBADMSG;
                        have_requester = true;
                } else if (streq(token, "address")) {
                        const char *v = value;
                        if (parse_hex(&v, &f.iova) < 0 || *v != '\0')
                                return -EBADMSG;
                        f.has_iova = true;
                } else if (streq(token, "flags")) {
                        const char *v = value;
                        if (parse_hex(&v, &flags) < 0 || *v != '\0' || flags > UINT_MAX)
                                return -EBADMSG;
                        have_flags = true;
                }
                /* domain= is the AMD protection domain id, pasid= the PASID: not needed here. */
        }

        if (!f.has_iova)
                return -EBADMSG;

        /* device= names the requester; a dev_printk prefix only does when device= is absent (other
         * AMD events are printed with the IOMMU's own device as prefix). */
        if (!have_requester && have_prefix_dev) {
                f.requester = prefix_dev;
                f.has_domain = true;
                have_requester = true;
        }
        if (!have_requester)
                return 0;

        if (have_flags) {
                f.has_reason = true;
                f.reason = (unsigned) flags;
                if (flags & AMD_EVENT_FLAG_I)
                        f.interrupt = true;
                else if (!(flags & AMD_EVENT_FLAG_TR))
                        f.access = (flags & AMD_EVENT_FLAG_RW) ? DMA_ACCESS_WRITE : DMA_ACCESS_READ;
        }
        set_reason_text(&f, "IO_PAGE_FAULT", strlen("IO_PAGE_FAULT"));

        *ret = f;
        return 1;
}

/* ---- ARM SMMUv3 ------------------------------------------------------------------------- */

/* drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c, arm_smmu_dump_event() (6.15+):
 *   "arm-smmu-v3 <inst>: event 0x10 received:" and four "\t0x%016llx" raw dwords, then
 *   "arm-smmu-v3 <inst>: event: %s client: %s sid: %#x ssid: %#x iova: %#llx ipa: %#llx"
 *   "arm-smmu-v3 <inst>: %s %s %s %s \"%s\"%s%s stag: %#x"    (priv/unpriv data/inst read/write s1/s2)
 * F_STE_FETCH/F_CD_FETCH/F_VMS_FETCH print fetch_addr: instead of iova:/ipa:, other events only
 * sid/ssid. client is dev_name(), or "(unassigned sid)". Older kernels print only the raw form. */
static int parse_smmuv3(const char *message, DmaFault *ret) {
        DmaFault f = dma_fault_new(DMA_FAULT_SMMUV3);
        const char *p;
        char name[32], client[64];
        size_t n;

        assert(ret);

        /* Anchored, as in parse_intel(): "arm-smmu-v3 <instance>: event: " from the first byte. */
        p = startswith(message, "arm-smmu-v3 ");
        if (!p)
                return 0;
        n = strcspn(p, " ");
        if (n < 2 || p[n - 1] != ':')
                return 0;
        snprintf(f.iommu, sizeof(f.iommu), "%.*s", (int) MIN(n - 1, sizeof(f.iommu) - 1), p);
        p = startswith(p + n, " event: ");
        if (!p)
                return 0;

        p = copy_token(p, name, sizeof(name));
        if (name[0] == '\0')
                return -EBADMSG;
        p = startswith(skip_blanks(p), "client: ");
        if (!p)
                return -EBADMSG;
        if (*p == '(') /* "(unassigned sid)": no device to attribute it to */
                return 0;
        p = copy_token(p, client, sizeof(client));
        if (pci_address_parse_full(client, &f.requester) < 0)
                return 0; /* a platform device, not ours */
        f.has_domain = true;

        for (;;) {
                char key[32];
                uint64_t v;

                p = skip_blanks(p);
                if (*p == '\0' || *p == '\n')
                        break;
                p = copy_token(p, key, sizeof(key));
                if (key[0] == '\0' || key[strlen(key) - 1] != ':')
                        return -EBADMSG;
                p = skip_blanks(p);
                if (parse_hex(&p, &v) < 0)
                        return -EBADMSG;
                if (streq(key, "iova:")) {
                        f.iova = v;
                        f.has_iova = true;
                }
        }

        FOREACH_ARRAY(e, smmu_event_table, ELEMENTSOF(smmu_event_table))
                if (streq(e->name, name)) {
                        f.has_reason = true;
                        f.reason = e->id;
                        break;
                }
        set_reason_text(&f, name, strlen(name));

        *ret = f;
        return 1;
}

/* arm-smmu-v3.h: EVTQ_0_ID, EVTQ_0_SID, EVTQ_1_RnW, EVTQ_2_ADDR. */
#define SMMU_EVTQ_0_ID(e) ((unsigned) ((e) &0xffu))
#define SMMU_EVTQ_0_SID(e) ((uint32_t) ((e) >> 32))
#define SMMU_EVTQ_1_RNW (UINT64_C(1) << 35)

int dma_fault_from_smmuv3_event(const char *instance, const uint64_t evt[static 4], DmaFault *ret) {
        DmaFault f = dma_fault_new(DMA_FAULT_SMMUV3);
        unsigned id;
        uint32_t sid;

        assert_return(evt, -EINVAL);
        assert_return(ret, -EINVAL);

        id = SMMU_EVTQ_0_ID(evt[0]);
        sid = SMMU_EVTQ_0_SID(evt[0]);
        if (sid > 0xffff)
                return 0;
        f.has_stream_id = true;
        f.stream_id = sid;
        f.requester = (PciAddress) { .bus = (uint8_t) (sid >> 8),
                                     .slot = (uint8_t) ((sid >> 3) & 0x1f),
                                     .func = (uint8_t) (sid & 0x7) };
        f.has_reason = true;
        f.reason = id;
        if (id >= 0x10 && id <= 0x13) { /* F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION */
                f.has_iova = true;
                f.iova = evt[2];
                f.access = evt[1] & SMMU_EVTQ_1_RNW ? DMA_ACCESS_READ : DMA_ACCESS_WRITE;
        }
        FOREACH_ARRAY(e, smmu_event_table, ELEMENTSOF(smmu_event_table))
                if (e->id == id) {
                        set_reason_text(&f, e->name, strlen(e->name));
                        break;
                }
        if (!f.reason_text[0]) {
                char buf[32];
                snprintf(buf, sizeof(buf), "event 0x%02x", id);
                set_reason_text(&f, buf, strlen(buf));
        }
        if (instance)
                snprintf(f.iommu, sizeof(f.iommu), "%s", instance);
        *ret = f;
        return 1;
}

/* "arm-smmu-v3 <instance>: " at the start of message: the text after it, the instance in buf. */
static const char *smmuv3_prefix(const char *message, char *buf, size_t size) {
        const char *p = startswith(message, "arm-smmu-v3 ");
        size_t n;

        if (!p)
                return NULL;
        n = strcspn(p, " ");
        if (n < 2 || p[n - 1] != ':' || p[n] != ' ' || n - 1 >= size)
                return NULL;
        memcpy(buf, p, n - 1);
        buf[n - 1] = '\0';
        return p + n + 1;
}

/* "arm-smmu-v3 <instance>: event 0x10 received:" (before 6.15 the whole report; since, its start). */
static bool smmuv3_raw_header(const char *message, char *instance, size_t size) {
        const char *p = smmuv3_prefix(message, instance, size);
        uint64_t id;

        if (!p || !(p = startswith(p, "event 0x")))
                return false;
        if (parse_hex(&p, &id) < 0 || id > 0xff)
                return false;
        return startswith(p, " received:");
}

/* "arm-smmu-v3 <instance>: \t0x0000010000000010" of that instance. */
static bool smmuv3_raw_dword(const char *message, const char *instance, uint64_t *ret) {
        char buf[64];
        const char *p = smmuv3_prefix(message, buf, sizeof(buf));

        if (!p || !streq(buf, instance))
                return false;
        p = skip_blanks(p);
        if (!startswith(p, "0x") || parse_hex(&p, ret) < 0)
                return false;
        return *skip_blanks(p) == '\0' || *p == '\n';
}

/* CONFIG_DMAR_DEBUG's "DMAR: Dump dmar1 table entries for IOVA 0x7f000" (dmar_fault_dump_ptes()). */
static int intel_merge_unit(DmaFault *fault, const char *detail_message) {
        const char *p = startswith(detail_message, "DMAR: Dump ");
        char unit[sizeof(fault->iommu)];
        uint64_t iova;
        size_t n;

        if (!p || fault->interrupt || !fault->has_iova)
                return 0;
        n = strcspn(p, " ");
        if (n == 0 || n >= sizeof(unit))
                return 0;
        memcpy(unit, p, n);
        unit[n] = '\0';
        p = startswith(p + n, " table entries for IOVA ");
        if (!p || parse_hex(&p, &iova) < 0 || iova != fault->iova)
                return 0;
        memcpy(fault->iommu, unit, n + 1);
        return 1;
}

int dma_fault_merge_detail(DmaFault *fault, const char *event_message, const char *detail_message) {
        const char *ev, *p, *q;
        size_t prefix_len;
        DmaAccess access;

        assert_return(fault, -EINVAL);
        assert_return(event_message, -EINVAL);
        assert_return(detail_message, -EINVAL);

        if (fault->vendor == DMA_FAULT_INTEL)
                return intel_merge_unit(fault, detail_message);
        if (fault->vendor != DMA_FAULT_SMMUV3)
                return 0;
        ev = strstr(event_message, ": event: ");
        if (!ev)
                return 0;
        prefix_len = (size_t) (ev - event_message) + 2; /* "arm-smmu-v3 arm-smmu-v3.0.auto: " */
        if (strncmp(event_message, detail_message, prefix_len) != 0)
                return 0;

        p = detail_message + prefix_len;
        p = startswith(p, "priv ") ?: startswith(p, "unpriv ");
        if (!p)
                return 0;
        p = startswith(p, "data ") ?: startswith(p, "inst ");
        if (!p)
                return 0;
        if ((q = startswith(p, "read ")))
                access = DMA_ACCESS_READ;
        else if ((q = startswith(p, "write ")))
                access = DMA_ACCESS_WRITE;
        else
                return 0;
        if (!startswith(q, "s1 \"") && !startswith(q, "s2 \""))
                return 0;

        fault->access = access;
        return 1;
}

int dma_fault_parse_message(const char *message, DmaFault *ret) {
        int r;

        assert_return(message, -EINVAL);
        assert_return(ret, -EINVAL);

        r = parse_intel(message, ret);
        if (r != 0)
                return r;
        r = parse_amd(message, ret);
        if (r != 0)
                return r;
        return parse_smmuv3(message, ret);
}

/* ---- suppression notices ---------------------------------------------------------------- */

/* "<fn>: <N> callbacks suppressed" (lib/ratelimit.c); returns the start of fn and its length. */
static bool parse_ratelimit_notice(const char *message, const char **ret_fn, size_t *ret_len) {
        const char *p, *digits, *fn;

        p = strstr(message, " callbacks suppressed");
        if (!p || *skip_blanks(p + strlen(" callbacks suppressed")) != '\0')
                return false;
        for (digits = p; digits > message && isdigit((unsigned char) digits[-1]); digits--)
                ;
        if (digits == p || digits - message < 3 || !strneq(digits - 2, ": ", 2))
                return false;
        p = digits - 2;
        for (fn = p; fn > message && fn[-1] != ' '; fn--)
                ;
        if (fn == p || fn != message) /* the kernel prints the notice with no prefix */
                return false;
        if (ret_fn)
                *ret_fn = fn;
        if (ret_len)
                *ret_len = (size_t) (p - fn);
        return true;
}

bool dma_fault_message_is_ratelimit_notice(const char *message) {
        return message && parse_ratelimit_notice(message, NULL, NULL);
}

bool dma_fault_message_is_suppression(const char *message) {
        const char *fn, *p;
        PciAddress dev;
        bool has_dev;
        size_t n;

        if (!message)
                return false;

        if (parse_ratelimit_notice(message, &fn, &n)) {
                char name[64];
                snprintf(name, sizeof(name), "%.*s", (int) MIN(n, sizeof(name) - 1), fn);
                return strcasestr(name, "dmar") || strcasestr(name, "iommu") || strcasestr(name, "smmu");
        }

        /* Each anchored at the driver's prefix, like the fault reports (see parse_intel()). */

        /* Intel: the fault recording registers overflowed, faults were dropped by the hardware. */
        p = startswith(message, "DMAR:");
        p = startswith(p ? skip_blanks(p) : message, "DRHD: handling fault status reg ");
        if (p) {
                uint64_t status;
                return parse_hex(&p, &status) >= 0 && (status & INTEL_FSTS_PFO);
        }
        if (startswith(message, "DMAR") && strcasestr(message, "ratelimit"))
                return true;

        if (startswith(message, "arm-smmu-v3 ") && strstr(message, "EVTQ overflow detected"))
                return true;

        p = amd_skip_prefix(message, &dev, &has_dev);
        if (p && strstr(message, "AMD-Vi: ") && strcasestr(p, "event log overflow"))
                return true;

        return false;
}

/* ---- /dev/kmsg records ------------------------------------------------------------------ */

void kmsg_record_done(KmsgRecord *r) {
        if (!r)
                return;
        r->message = mfree(r->message);
}

static char *kmsg_unescape(const char *s, size_t n) {
        char *buf, *d;

        assert(s);

        buf = d = malloc(n + 1);
        if (!buf)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
                        char c = (char) (hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
                        if (c != '\0') { /* keep "\x00" literal rather than cutting the string */
                                *d++ = c;
                                i += 3;
                                continue;
                        }
                }
                *d++ = s[i];
        }
        *d = '\0';
        return buf;
}

int kmsg_record_parse(const char *text, size_t size, KmsgRecord *ret) {
        const char *line_end, *semi, *f[4], *fe[4], *p;
        uint64_t prio, seq, usec;
        char *message;
        size_t nf = 0;

        assert_return(text, -EINVAL);
        assert_return(ret, -EINVAL);

        line_end = memchr(text, '\n', size) ?: text + size;
        semi = memchr(text, ';', (size_t) (line_end - text));
        if (!semi)
                return -EINVAL;

        /* PRIO,SEQ,USEC,FLAGS[,more…] — the fields after FLAGS (caller=…) are ignored. */
        p = text;
        while (nf < ELEMENTSOF(f)) {
                const char *comma = memchr(p, ',', (size_t) (semi - p));
                f[nf] = p;
                fe[nf] = comma ?: semi;
                nf++;
                if (!comma)
                        break;
                p = comma + 1;
        }
        if (nf < 4 || fe[3] == f[3])
                return -EINVAL;
        if (parse_dec_span(f[0], fe[0], INT_MAX, &prio) < 0 || parse_dec_span(f[1], fe[1], UINT64_MAX, &seq) < 0 ||
            parse_dec_span(f[2], fe[2], UINT64_MAX, &usec) < 0)
                return -EINVAL;
        for (p = f[3]; p < fe[3]; p++)
                if (!isgraph((unsigned char) *p))
                        return -EINVAL;

        message = kmsg_unescape(semi + 1, (size_t) (line_end - semi - 1));
        if (!message)
                return -ENOMEM;

        *ret = (KmsgRecord) {
                .priority = (int) prio,
                .seq = seq,
                .usec = usec,
                .message = message,
        };
        return 0;
}

int dma_fault_parse_kmsg_record(const char *text, size_t size, DmaFault *ret) {
        _cleanup_(kmsg_record_done) KmsgRecord rec = {};
        int r;

        assert_return(text, -EINVAL);
        assert_return(ret, -EINVAL);

        r = kmsg_record_parse(text, size, &rec);
        if (r < 0)
                return r;
        if (!kmsg_record_is_kernel(&rec))
                return KMSG_RECORD_OTHER;
        if (dma_fault_parse_message(rec.message, ret) > 0)
                return KMSG_RECORD_FAULT;
        if (dma_fault_message_is_suppression(rec.message))
                return KMSG_RECORD_SUPPRESSION;
        return KMSG_RECORD_OTHER;
}

/* ---- reading a log ---------------------------------------------------------------------- */

struct KmsgReader {
        DmaFaultCallback cb;
        void *userdata;
        int n_faults;
        bool prev_fault;
        /* An SMMUv3 fault waiting for its detail line, a VT-d one for its unit line. */
        bool have_pending;
        DmaFault pending;
        KmsgRecord pending_rec;
        /* An SMMUv3 raw event being read: the header's record, then its dwords. */
        bool have_raw;
        char raw_instance[64];
        uint64_t raw_evt[4];
        size_t raw_n;
        KmsgRecord raw_rec;
};

int kmsg_reader_new(DmaFaultCallback cb, void *userdata, KmsgReader **ret) {
        KmsgReader *r;

        assert_return(ret, -EINVAL);

        r = calloc(1, sizeof(KmsgReader));
        if (!r)
                return -ENOMEM;
        r->cb = cb;
        r->userdata = userdata;
        *ret = r;
        return 0;
}

KmsgReader *kmsg_reader_free(KmsgReader *r) {
        if (!r)
                return NULL;
        kmsg_record_done(&r->pending_rec);
        kmsg_record_done(&r->raw_rec);
        return mfree(r);
}

static int reader_emit(KmsgReader *s, const DmaFault *fault, const KmsgRecord *rec) {
        int r;

        if (fault && s->n_faults < INT_MAX)
                s->n_faults++;
        if (!s->cb)
                return 0;
        r = s->cb(fault, rec, s->userdata);
        return r < 0 ? r : 0;
}

static int reader_flush_pending(KmsgReader *s) {
        int r;

        if (!s->have_pending)
                return 0;
        s->have_pending = false;
        r = reader_emit(s, &s->pending, &s->pending_rec);
        kmsg_record_done(&s->pending_rec);
        return r;
}

/* The raw event is over: report it if it was complete, unless superseded by the decoded line. */
static int reader_end_raw(KmsgReader *s, bool superseded) {
        DmaFault fault;
        int r = 0;

        if (!s->have_raw)
                return 0;
        s->have_raw = false;
        if (s->raw_n == ELEMENTSOF(s->raw_evt) && !superseded &&
            dma_fault_from_smmuv3_event(s->raw_instance, s->raw_evt, &fault) > 0) {
                s->prev_fault = true;
                r = reader_emit(s, &fault, &s->raw_rec);
        }
        kmsg_record_done(&s->raw_rec);
        return r;
}

/* May take over rec->message. Returns 1 when the record was a part of a raw event. */
static int reader_raw(KmsgReader *s, KmsgRecord *rec) {
        char instance[sizeof(s->raw_instance)];
        uint64_t v;
        int r;

        if (s->have_raw) {
                if (s->raw_n < ELEMENTSOF(s->raw_evt) && smmuv3_raw_dword(rec->message, s->raw_instance, &v)) {
                        s->raw_evt[s->raw_n++] = v;
                        return 1;
                }
                /* 6.15+ follow the dwords with the decoded line, which is what counts then */
                const char *p = smmuv3_prefix(rec->message, instance, sizeof(instance));
                r = reader_end_raw(s, p && streq(instance, s->raw_instance) && startswith(p, "event: "));
                if (r < 0)
                        return r;
        }
        if (!smmuv3_raw_header(rec->message, instance, sizeof(instance)))
                return 0;
        r = reader_flush_pending(s); /* a header is no detail line: what waited for one goes first */
        if (r < 0)
                return r;
        s->have_raw = true;
        s->raw_n = 0;
        memcpy(s->raw_instance, instance, sizeof(instance));
        s->raw_rec = *rec;
        rec->message = NULL;
        return 1;
}

/* May take over rec->message. */
static int reader_process(KmsgReader *s, KmsgRecord *rec) {
        DmaFault fault;
        bool after_fault;
        int r;

        assert(s);
        assert(rec);

        if (!kmsg_record_is_kernel(rec))
                return 0; /* userspace's, whatever it says: as if it were not there */

        r = reader_raw(s, rec);
        if (r != 0)
                return r < 0 ? r : 0;

        if (s->have_pending) {
                bool merged = dma_fault_merge_detail(&s->pending, s->pending_rec.message, rec->message) > 0;

                r = reader_flush_pending(s);
                if (r < 0)
                        return r;
                if (merged)
                        return 0; /* the detail line belongs to the fault just reported */
        }

        r = dma_fault_parse_message(rec->message, &fault);
        if (r > 0) {
                s->prev_fault = true;
                if ((fault.vendor == DMA_FAULT_SMMUV3 && fault.access == DMA_ACCESS_UNKNOWN) ||
                    (fault.vendor == DMA_FAULT_INTEL && fault.has_iova)) {
                        s->pending = fault;
                        s->pending_rec = *rec;
                        rec->message = NULL;
                        s->have_pending = true;
                        return 0;
                }
                return reader_emit(s, &fault, rec);
        }

        after_fault = s->prev_fault;
        s->prev_fault = false;
        if (dma_fault_message_is_suppression(rec->message) ||
            (after_fault && dma_fault_message_is_ratelimit_notice(rec->message)))
                return reader_emit(s, NULL, rec);
        return 0;
}

int kmsg_reader_feed(KmsgReader *reader, const char *text, size_t size) {
        _cleanup_(kmsg_record_done) KmsgRecord rec = {};
        int r;

        assert_return(reader, -EINVAL);
        assert_return(text, -EINVAL);

        r = kmsg_record_parse(text, size, &rec);
        if (r < 0)
                return r;
        return reader_process(reader, &rec);
}

int kmsg_reader_flush(KmsgReader *reader) {
        int r;

        assert_return(reader, -EINVAL);

        r = reader_flush_pending(reader);
        if (r < 0)
                return r;
        if (reader->have_raw && reader->raw_n == ELEMENTSOF(reader->raw_evt))
                return reader_end_raw(reader, false);
        return 0;
}

bool kmsg_reader_is_waiting(const KmsgReader *reader) {
        return reader && (reader->have_pending || (reader->have_raw && reader->raw_n == ELEMENTSOF(reader->raw_evt)));
}

static int read_kmsg_device(int fd, KmsgReader *s) {
        _cleanup_free_ char *buf = NULL;
        int r;

        buf = malloc(KMSG_RECORD_MAX);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                _cleanup_(kmsg_record_done) KmsgRecord rec = {};
                ssize_t n;

                n = read(fd, buf, KMSG_RECORD_MAX);
                if (n < 0) {
                        if (errno == EAGAIN)
                                break;
                        if (errno == EPIPE || errno == EINTR) /* EPIPE: overwritten, skip to the next */
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;

                r = kmsg_record_parse(buf, (size_t) n, &rec);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                r = reader_process(s, &rec);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_kmsg_snapshot(FILE *f, KmsgReader *s) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        bool any_line = false, any_record = false;
        ssize_t n;
        int r;

        errno = 0;
        while ((n = getline(&line, &cap, f)) >= 0) {
                _cleanup_(kmsg_record_done) KmsgRecord rec = {};

                if (n == 0 || line[0] == ' ' || line[0] == '\n') /* continuation or empty line */
                        continue;
                any_line = true;

                r = kmsg_record_parse(line, (size_t) n, &rec);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                any_record = true;

                r = reader_process(s, &rec);
                if (r < 0)
                        return r;
                errno = 0;
        }
        if (ferror(f))
                return errno > 0 ? -errno : -EIO;
        if (any_line && !any_record)
                return -EBADMSG;
        return 0;
}

int kmsg_read_faults(const char *path, DmaFaultCallback cb, void *userdata) {
        _cleanup_(kmsg_reader_freep) KmsgReader *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        assert_return(path, -EINVAL);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        r = kmsg_reader_new(cb, userdata, &s);
        if (r < 0)
                return r;

        if (S_ISCHR(st.st_mode))
                r = read_kmsg_device(fd, s);
        else {
                _cleanup_fclose_ FILE *f = NULL;
                int flags;

                if (S_ISDIR(st.st_mode))
                        return -EISDIR;
                /* O_NONBLOCK was only for the device; a FIFO should block like a file reads. */
                flags = fcntl(fd, F_GETFL);
                if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                        return negative_errno();
                f = fdopen(fd, "r");
                if (!f)
                        return negative_errno();
                TAKE_FD(fd);
                r = read_kmsg_snapshot(f, s);
        }
        if (r < 0)
                return r;

        /* the end of the log: what waits for a next record is reported, an unfinished raw event is not */
        r = kmsg_reader_flush(s);
        if (r < 0)
                return r;
        return s->n_faults;
}
