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

static void handle_record(Manager *m, const char *text, size_t n) {
        DmaFault f;

        switch (dma_fault_parse_kmsg_record(text, n, &f)) {
        case KMSG_RECORD_FAULT:
                kmsg_handle_fault(m, &f, now_realtime_usec()); /* schedules the state save */
                break;
        case KMSG_RECORD_SUPPRESSION:
                m->kmsg_suppressed = true; /* not part of the saved state */
                break;
        default: break;
        }
}

static int on_kmsg(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        struct stat st;
        bool chardev = fstat(fd, &st) >= 0 && S_ISCHR(st.st_mode);

        for (;;) {
                ssize_t k = read(fd, m->kmsg_buf + m->kmsg_len, sizeof(m->kmsg_buf) - 1 - m->kmsg_len);
                if (k < 0) {
                        if (errno == EPIPE) {
                                /* records were overwritten before we read them */
                                m->kmsg_suppressed = true;
                                continue;
                        }
                        break; /* EAGAIN */
                }
                if (k == 0) {
                        if (!chardev) /* a FIFO whose writer went away (tests): stop watching it */
                                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
                        break;
                }
                if (chardev) {
                        /* /dev/kmsg returns exactly one record per read */
                        handle_record(m, m->kmsg_buf, (size_t) k);
                        continue;
                }
                m->kmsg_len += (size_t) k;
                for (char *nl; (nl = memchr(m->kmsg_buf, '\n', m->kmsg_len));) {
                        size_t line = (size_t) (nl - m->kmsg_buf);
                        handle_record(m, m->kmsg_buf, line);
                        memmove(m->kmsg_buf, nl + 1, m->kmsg_len - line - 1);
                        m->kmsg_len -= line + 1;
                }
                if (m->kmsg_len == sizeof(m->kmsg_buf) - 1)
                        m->kmsg_len = 0; /* an absurdly long line: drop it */
        }
        return 0;
}

int kmsg_start(Manager *m) {
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
        r = sd_event_add_io(m->event, &m->kmsg_source, m->kmsg_fd, EPOLLIN, on_kmsg, m);
        if (r < 0)
                return r;
        return 0;
}

void kmsg_stop(Manager *m) {
        m->kmsg_source = sd_event_source_disable_unref(m->kmsg_source);
        m->kmsg_fd = safe_close(m->kmsg_fd);
}
