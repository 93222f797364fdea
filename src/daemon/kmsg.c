/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-manager.h"
#include "device.h"
#include "fault-attribution.h"
#include "fileio.h"
#include "kmsg.h"
#include "log.h"
#include "manager.h"
#include "state.h"
#include "strv.h"
#include "time-util.h"

/* Attribution follows the library's one rule (fault-attribution.h), the audit's too. */
void kmsg_handle_fault(Manager *m, const DmaFault *f, uint64_t now) {
        _cleanup_strv_free_ char **slots = NULL;
        int how;

        how = dma_fault_attribute_iommu(m->topology, &f->requester, f->has_domain, f->iommu, &slots);
        if (how < 0)
                return (void) log_oom();
        if (how == DMA_FAULT_UNATTRIBUTED) {
                log_debug("A DMA fault from %02x:%02x.%x could not be attributed to a device.", f->requester.bus,
                          f->requester.slot, f->requester.func);
                return;
        }
        STRV_FOREACH(s, slots) {
                Device *d = device_get(m, *s);
                HeldDevice *h = engine_find(m->engine, *s);
                if (!d)
                        return (void) log_oom();
                if (f->interrupt || f->access == DMA_ACCESS_UNKNOWN)
                        d->faults_other++;
                else if (f->access == DMA_ACCESS_READ)
                        d->faults_read++;
                else
                        d->faults_write++;
                d->last_fault = now;
                state_schedule_save(m);
                log_full(h ? LOG_NOTICE : LOG_INFO, "DMA fault from %s%s: %s at IOVA 0x%llx (%s)%s", *s,
                         h ? " (in quarantine)" : "", f->interrupt ? "interrupt" : dma_access_to_string(f->access),
                         (unsigned long long) f->iova, f->reason_text,
                         how == DMA_FAULT_BRIDGE_ALIAS ? " [bridge alias: shared by the devices behind it]" : "");
                bus_manager_emit_dma_fault(m, *s, f, now);
        }
}

/* The follower of the kernel log: a KmsgReader joins the records the way the audit does (SMMUv3 raw
 * events, detail and unit lines, ratelimit notices after a fault), and a timer reports what waits for
 * a next record once the log has been quiet for a while. It is the userdata of m->kmsg_source and goes
 * with it (kmsg_stop()). */
typedef struct KmsgFollower {
        Manager *manager;
        KmsgReader *reader;
        sd_event_source *flush_source;
} KmsgFollower;

/* The kernel prints the records of one fault back to back from one thread (an SMMUv3 event's header,
 * its four dwords and, on 6.15+, the decoded line and its detail line; a DMAR fault and its unit line):
 * a read can end between them. When nothing more has come for this long, what waits is reported
 * without its follower. */
#define KMSG_FLUSH_USEC (USEC_PER_SEC / 10)

static KmsgFollower *kmsg_follower_free(KmsgFollower *k) {
        if (!k)
                return NULL;
        k->flush_source = sd_event_source_disable_unref(k->flush_source);
        k->reader = kmsg_reader_free(k->reader);
        return mfree(k);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(KmsgFollower *, kmsg_follower_free);

static void kmsg_follower_destroy(void *userdata) {
        kmsg_follower_free(userdata);
}

static int on_reader(const DmaFault *f, const KmsgRecord *rec, void *userdata) {
        Manager *m = userdata;

        if (f)
                kmsg_handle_fault(m, f, now_realtime_usec()); /* schedules the state save */
        else
                m->kmsg_suppressed = true; /* not part of the saved state */
        return 0;
}

static void follower_flush(KmsgFollower *k) {
        (void) sd_event_source_set_enabled(k->flush_source, SD_EVENT_OFF);
        (void) kmsg_reader_flush(k->reader); /* on_reader() never fails */
}

static int on_flush_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        follower_flush(userdata);
        return 0;
}

/* All there is has been read: what waits for a next record is reported if none comes soon. */
static void follower_schedule_flush(KmsgFollower *k) {
        int r;

        if (!kmsg_reader_is_waiting(k->reader)) {
                (void) sd_event_source_set_enabled(k->flush_source, SD_EVENT_OFF);
                return;
        }
        r = sd_event_source_set_time_relative(k->flush_source, KMSG_FLUSH_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(k->flush_source, SD_EVENT_ONESHOT);
        if (r < 0) {
                log_debug_errno(r, "Failed to arm the kernel log flush timer, reporting now: %m");
                follower_flush(k);
        }
}

static void handle_record(KmsgFollower *k, const char *text, size_t n) {
        if (kmsg_reader_feed(k->reader, text, n) == -ENOMEM)
                (void) log_oom(); /* -EINVAL: a malformed record, as if absent */
}

static int on_kmsg(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        KmsgFollower *k = userdata;
        Manager *m = k->manager;
        struct stat st;
        bool chardev = fstat(fd, &st) >= 0 && S_ISCHR(st.st_mode);

        for (;;) {
                ssize_t n = read(fd, m->kmsg_buf + m->kmsg_len, sizeof(m->kmsg_buf) - 1 - m->kmsg_len);
                if (n < 0) {
                        if (errno == EPIPE) {
                                /* records were overwritten before we read them: what waits for the next
                                 * record will not see it */
                                m->kmsg_suppressed = true;
                                follower_flush(k);
                                continue;
                        }
                        break; /* EAGAIN */
                }
                if (n == 0) {
                        if (!chardev) { /* a FIFO whose writer went away (tests): stop watching it */
                                follower_flush(k);
                                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                                return 0;
                        }
                        break;
                }
                if (chardev) {
                        /* /dev/kmsg returns exactly one record per read */
                        handle_record(k, m->kmsg_buf, (size_t) n);
                        continue;
                }
                m->kmsg_len += (size_t) n;
                for (char *nl; (nl = memchr(m->kmsg_buf, '\n', m->kmsg_len));) {
                        size_t line = (size_t) (nl - m->kmsg_buf);
                        handle_record(k, m->kmsg_buf, line);
                        memmove(m->kmsg_buf, nl + 1, m->kmsg_len - line - 1);
                        m->kmsg_len -= line + 1;
                }
                if (m->kmsg_len == sizeof(m->kmsg_buf) - 1)
                        m->kmsg_len = 0; /* an absurdly long line: drop it */
        }
        follower_schedule_flush(k);
        return 0;
}

int kmsg_start(Manager *m) {
        _cleanup_(kmsg_follower_freep) KmsgFollower *k = NULL;
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int r;

        if (asprintf(&path, "%s/dev/kmsg", strempty(m->config.root)) < 0)
                return log_oom();
        m->kmsg_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (m->kmsg_fd < 0)
                return negative_errno();
        if (fstat(m->kmsg_fd, &st) < 0)
                return negative_errno();
        if (S_ISCHR(st.st_mode))
                (void) lseek(m->kmsg_fd, 0, SEEK_END); /* only faults from now on */
        else if (!S_ISFIFO(st.st_mode)) {
                /* a snapshot's copy of the log (--root): nothing to follow */
                m->kmsg_fd = safe_close(m->kmsg_fd);
                log_debug("%s is a regular file: not following it.", path);
                return 0;
        }

        k = calloc(1, sizeof(KmsgFollower));
        if (!k)
                return log_oom();
        k->manager = m;
        r = kmsg_reader_new(on_reader, m, &k->reader);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(m->event, &k->flush_source, CLOCK_MONOTONIC, KMSG_FLUSH_USEC, 0, on_flush_timer,
                                       k);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(k->flush_source, SD_EVENT_OFF);
        if (r < 0)
                return r;

        r = sd_event_add_io(m->event, &m->kmsg_source, m->kmsg_fd, EPOLLIN, on_kmsg, k);
        if (r < 0)
                return r;
        r = sd_event_source_set_destroy_callback(m->kmsg_source, kmsg_follower_destroy);
        if (r < 0) {
                m->kmsg_source = sd_event_source_disable_unref(m->kmsg_source);
                return r;
        }
        TAKE_PTR(k); /* m->kmsg_source's now */
        return 0;
}

void kmsg_stop(Manager *m) {
        m->kmsg_source = sd_event_source_disable_unref(m->kmsg_source);
        m->kmsg_fd = safe_close(m->kmsg_fd);
}
