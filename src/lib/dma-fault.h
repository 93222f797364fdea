/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* DMA and interrupt-remapping faults as the kernel logs them (Intel VT-d "DMAR", AMD-Vi, ARM SMMUv3),
 * and the /dev/kmsg record format they arrive in. See design/iommufd.md section 5.
 *
 * Only the kernel log is parsed here: unrecoverable faults on paging or blocking domains reach
 * userspace no other way. The parser is stateless, one message at a time; KmsgReader (used by
 * kmsg_read_faults() and by isolated's follower of the live log) adds the little cross-record state
 * there is (SMMUv3 raw events and detail lines, ratelimit notices after a fault). */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "pci-address.h"

typedef enum DmaFaultVendor {
        DMA_FAULT_INTEL,
        DMA_FAULT_AMD,
        DMA_FAULT_SMMUV3,
        _DMA_FAULT_VENDOR_MAX,
        _DMA_FAULT_VENDOR_INVALID = -EINVAL,
} DmaFaultVendor;

typedef enum DmaAccess {
        DMA_ACCESS_READ,
        DMA_ACCESS_WRITE,
        DMA_ACCESS_UNKNOWN,
        _DMA_ACCESS_MAX,
        _DMA_ACCESS_INVALID = -EINVAL,
} DmaAccess;

/* "intel-vtd", "amd-vi", "arm-smmuv3" */
const char *dma_fault_vendor_to_string(DmaFaultVendor v);
DmaFaultVendor dma_fault_vendor_from_string(const char *s);
/* "read", "write", "unknown" */
const char *dma_access_to_string(DmaAccess a);
DmaAccess dma_access_from_string(const char *s);

#define DMA_FAULT_REASON_TEXT_MAX 128

typedef struct DmaFault {
        DmaFaultVendor vendor;
        /* The requester ID as the IOMMU saw it: for a device behind a PCIe-to-PCI bridge this is the
         * bridge's (or its secondary bus's) ID, not the device's. */
        PciAddress requester;
        /* false for Intel (DMAR lines print bus:dev.fn only; the segment must come from the DRHD)
         * and for AMD "device=bb:dd.f" on kernels before the PCI segment was printed. requester.domain
         * is 0 then. */
        bool has_domain;
        DmaAccess access;
        bool has_iova;
        uint64_t iova;
        /* Intel: fault reason code. AMD: event flags. SMMUv3: event id (0x10 = F_TRANSLATION). */
        bool has_reason;
        unsigned reason;
        /* "PTE Read access is not set", "IO_PAGE_FAULT", "F_TRANSLATION"; "" if the line has none.
         * Printable ASCII only: control characters, DEL, bytes ≥ 0x80 and backslashes from the log
         * are written as "\xNN" (string_escape_nonprint()), so it is safe to print and to send. */
        char reason_text[DMA_FAULT_REASON_TEXT_MAX];
        /* An interrupt-remapping fault (Intel [INTR-REMAP], AMD flags I bit), not a DMA. */
        bool interrupt;
        /* The IOMMU instance that logged the fault, where the log names it: the SMMUv3's platform
         * device ("arm-smmu-v3.0.auto", from the dev_printk prefix), the VT-d unit ("dmar1", only from
         * the CONFIG_DMAR_DEBUG line "DMAR: Dump dmar1 table entries for IOVA ..." that follows the
         * fault, see dma_fault_merge_detail()); "" otherwise. The segment of a requester without
         * has_domain comes from it (dma_fault_attribute_iommu()). */
        char iommu[64];
        /* SMMUv3 raw events (dma_fault_from_smmuv3_event()): the StreamID the requester was read from. */
        bool has_stream_id;
        uint32_t stream_id;
} DmaFault;

/* Parses one kernel log message (the text only, no kmsg header).
 *
 * Returns 1 and fills *ret when the message is a DMA or interrupt fault report attributable to a PCI
 * requester; 0 for any other text, including fault-like lines that name no PCI function:
 *   - SMMUv3 "event 0x10 received:" and its raw dwords (printed alone by kernels before 6.15, and
 *     before the decoded "event: … client: …" line by newer ones): one record says nothing on its
 *     own; KmsgReader joins them (dma_fault_from_smmuv3_event());
 *   - SMMUv3 events whose client is not a PCI device or is "(unassigned sid)";
 *   - the SMMUv3 detail line ("unpriv data write s1 …"), see dma_fault_merge_detail().
 * Returns -EBADMSG when the message carries a fault marker ("Request device [", "Event logged
 * [IO_PAGE_FAULT", "arm-smmu-v3 …: event: ") but its fields cannot be parsed; never for ordinary
 * text. *ret is only written when 1 is returned.
 *
 * Number formats: hex with or without "0x" (kernels before 5.14 printed "fault addr 7f000"), with one
 * exception: the Intel fault reason without "0x" is decimal, because kernels before 5.14 printed it
 * with %02d ("[fault reason 06]", "[fault reason 37]" for 0x25).
 *
 * AMD access: flags bit 0x20 (RW) set is a write, clear a read; an interrupt request (I, 0x08) or a
 * translation request (TR, 0x100) gives DMA_ACCESS_UNKNOWN. The AMD IOMMU specification (3.00,
 * 2.5.3) defines RW only for PR=1 (page present); the kernel reads it regardless and so do we. */
int dma_fault_parse_message(const char *message, DmaFault *ret);

/* An SMMUv3 event record, the EVTQ_ENT_DWORDS (4) raw dwords kernels before 6.15 print after
 * "arm-smmu-v3 <instance>: event 0x%02x received:", one "\t0x%016llx" line each
 * (arm_smmu_evtq_thread()). Decoded after arm-smmu-v3.h: the event id is evt[0] bits 7:0, the
 * StreamID bits 63:32; for F_TRANSLATION, F_ADDR_SIZE, F_ACCESS and F_PERMISSION (0x10-0x13) the
 * input address is evt[2] and evt[1] bit 35 (RnW) set means a read. The requester is the StreamID read
 * as a PCI requester ID (bus << 8 | devfn): this assumes the firmware's usual identity mapping of a
 * root complex's RIDs to StreamIDs (IORT ID mapping or DT iommu-map with base 0), which isolate cannot
 * check from the log. has_domain is false (the segment is the SMMU's, see dma_fault_attribute_iommu()),
 * iommu is instance (may be NULL). Returns 1 and fills *ret; 0 when the StreamID is above 0xffff, so
 * no requester ID under that mapping; *ret is only written when 1 is returned. */
int dma_fault_from_smmuv3_event(const char *instance, const uint64_t evt[static 4], DmaFault *ret);

/* SMMUv3 prints the direction on a second line ("arm-smmu-v3 X: unpriv data write s1 \"Input address
 * caused fault\" stag: 0x0") right after "arm-smmu-v3 X: event: … client: …". If detail_message is
 * that line for the same SMMU instance as event_message, sets fault->access and returns 1. VT-d kernels
 * with CONFIG_DMAR_DEBUG follow a DMA fault with "DMAR: Dump dmar1 table entries for IOVA 0x7f000"
 * (dmar_fault_dump_ptes()): if detail_message is that line for the fault's IOVA, sets fault->iommu to
 * the unit and returns 1. Otherwise returns 0 and leaves *fault alone. */
int dma_fault_merge_detail(DmaFault *fault, const char *event_message, const char *detail_message);

/* True if the message says the kernel dropped fault reports, so counts are a lower bound:
 *   - "<fn>: N callbacks suppressed" where fn is an IOMMU fault path (dmar_fault,
 *     amd_iommu_report_page_fault, arm_smmu_dump_event, … : anything naming dmar/iommu/smmu);
 *   - "DMAR: DRHD: handling fault status reg N" with the Primary Fault Overflow bit (0x1) set;
 *   - a "DMAR" message mentioning "ratelimit";
 *   - "arm-smmu-v3 …: EVTQ overflow detected -- events lost";
 *   - "AMD-Vi: IOMMU event log overflow".
 * A generic "<fn>: N callbacks suppressed" for some other fn is not recognised here (it cannot be
 * attributed without context); kmsg_read_faults() treats it as a suppression when it directly follows
 * a fault report. */
bool dma_fault_message_is_suppression(const char *message);

/* "<fn>: N callbacks suppressed", for any fn. */
bool dma_fault_message_is_ratelimit_notice(const char *message);

/* One /dev/kmsg record: "PRIO,SEQ,USEC,FLAGS[,...];MESSAGE\n", optionally followed by continuation
 * lines " KEY=VALUE\n" (Documentation/ABI/testing/dev-kmsg). */
typedef struct KmsgRecord {
        int priority; /* syslog prio incl. facility as the kernel writes it */
        uint64_t seq;
        uint64_t usec; /* monotonic microseconds since boot */
        char *message; /* malloc'd, the message with kmsg escapes (\xNN) decoded */
} KmsgRecord;

/* Parses one record from text[0..size) (need not be NUL-terminated). The message ends at the first
 * newline or at size; continuation lines after it are ignored. Returns 0, -EINVAL on a malformed
 * header (missing fields, non-numeric or out-of-range PRIO/SEQ/USEC, no ';', a leading space), or
 * -ENOMEM. *ret is only written on success. */
int kmsg_record_parse(const char *text, size_t size, KmsgRecord *ret);
/* Frees the message; the record may be reused. Suitable for _cleanup_(kmsg_record_done). */
void kmsg_record_done(KmsgRecord *r);

/* The syslog facility is PRIO >> 3. Only records of facility 0, LOG_KERN, are the kernel's own: a
 * write to /dev/kmsg that names no facility, or facility 0, is logged with LOG_USER
 * (kernel/printk/printk.c, devkmsg_write()), so userspace cannot forge one. */
static inline bool kmsg_record_is_kernel(const KmsgRecord *r) {
        return r && r->priority >= 0 && (r->priority >> 3) == 0;
}

typedef enum KmsgRecordKind {
        KMSG_RECORD_OTHER,
        KMSG_RECORD_FAULT,
        KMSG_RECORD_SUPPRESSION,
} KmsgRecordKind;

/* One /dev/kmsg record as text (kmsg_record_parse()), classified for a follower of the live log:
 * KMSG_RECORD_FAULT with *ret filled when dma_fault_parse_message() finds a fault report,
 * KMSG_RECORD_SUPPRESSION when dma_fault_message_is_suppression(), KMSG_RECORD_OTHER for anything
 * else: ordinary text, fault lines whose fields do not parse, and every record that is not from the
 * kernel facility (kmsg_record_is_kernel()), whatever its text. -EINVAL for a malformed record,
 * -ENOMEM. *ret is only written for KMSG_RECORD_FAULT. Stateless: unlike KmsgReader, no SMMUv3 raw
 * events, no detail-line merging and no generic ratelimit notices. */
int dma_fault_parse_kmsg_record(const char *text, size_t size, DmaFault *ret);

/* Called for each fault report (fault != NULL) and each suppression notice (fault == NULL). rec is
 * the record the fault or notice came from; both are only valid during the call. A negative return
 * value stops reading and is returned by kmsg_read_faults(). */
typedef int (*DmaFaultCallback)(const DmaFault *fault, const KmsgRecord *rec, void *userdata);

/* The reader of a kernel log, fed one /dev/kmsg record at a time, that reports what the records mean
 * together (kmsg_read_faults() says what that is) through cb (which may be NULL) in log order. A fault
 * may wait for the record after it: an SMMUv3 raw event for its four dwords and for a 6.15+ decoded
 * line that supersedes it, an SMMUv3 decoded event for its detail line, a VT-d fault for its
 * CONFIG_DMAR_DEBUG unit line. It is reported when a record arrives that is no part of it, or by
 * kmsg_reader_flush(). */
typedef struct KmsgReader KmsgReader;

/* -ENOMEM only. */
int kmsg_reader_new(DmaFaultCallback cb, void *userdata, KmsgReader **ret);
/* Frees the reader; what waits is dropped, not reported (see kmsg_reader_flush()). */
KmsgReader *kmsg_reader_free(KmsgReader *reader);
DEFINE_TRIVIAL_CLEANUP_FUNC(KmsgReader *, kmsg_reader_free);

/* Feeds one record as text (kmsg_record_parse(): one /dev/kmsg read, or one line of a snapshot), and
 * calls cb for what it completes. Returns 0; -EINVAL for a malformed record, which changes nothing (the
 * next one is read as if it had not been there); -ENOMEM; or cb's negative return. */
int kmsg_reader_feed(KmsgReader *reader, const char *text, size_t size);

/* Reports what waits for a following record: a fault waiting for its detail or unit line (reported
 * without it), an SMMUv3 raw event with all four dwords (reported from them: if a 6.15+ decoded line
 * follows later, it counts again). A raw event still missing dwords keeps waiting for them. For a
 * follower of the live log that has read all there is for now; at the end of a log, an unfinished raw
 * event is then dropped with the reader. Returns 0 or cb's negative return. */
int kmsg_reader_flush(KmsgReader *reader);

/* True when kmsg_reader_flush() would report something: a fault waits for a following record (a raw
 * event still missing dwords does not count). */
bool kmsg_reader_is_waiting(const KmsgReader *reader);

/* Reads all records from path and calls cb (which may be NULL) in log order, through a KmsgReader.
 *   - A character device (the live /dev/kmsg) is opened O_RDONLY|O_NONBLOCK and read one record per
 *     read() until EAGAIN. EPIPE (records overwritten before we read them) is skipped over; the loss
 *     is not reported, the next record's seq shows the gap.
 *   - Anything else is read as a snapshot: one record per line, continuation lines (leading space)
 *     skipped, other malformed lines skipped too. A non-empty snapshot without any valid record
 *     gives -EBADMSG (it is probably dmesg text, not kmsg records).
 * An SMMUv3 fault is reported after the following record has been looked at, so that the direction
 * from its detail line can be merged in (dma_fault_merge_detail()); the detail line itself is not
 * passed on; the same for a VT-d DMA fault and its CONFIG_DMAR_DEBUG unit line. An SMMUv3 raw event
 * ("event 0x10 received:" and four dword records from the same instance) is decoded with
 * dma_fault_from_smmuv3_event() and reported with the header's record, unless the record after the
 * dwords is the decoded "event:" line of the same instance (6.15+ print both): then only that one
 * counts. A generic "N callbacks suppressed" directly after a fault report counts as a suppression
 * notice. Lines whose fault fields do not parse (-EBADMSG from dma_fault_parse_message()) are skipped,
 * and so are records not from the kernel facility (kmsg_record_is_kernel()), as if absent.
 *
 * Returns the number of fault records passed to cb, or -errno. */
int kmsg_read_faults(const char *path, DmaFaultCallback cb, void *userdata);
