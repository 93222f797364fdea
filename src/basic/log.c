/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-journal.h>

#include "log.h"

static LogTarget log_target = LOG_TARGET_STDERR;
static int log_max_level = LOG_INFO;
static const char *log_prefix;

void log_set_target(LogTarget t) {
        log_target = t;
}

LogTarget log_get_target(void) {
        return log_target;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_set_prefix(const char *prefix) {
        log_prefix = prefix;
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        char buf[2048];
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > log_max_level)
                return -error;

        /* %m formats errno */
        errno = error;
        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        if (log_target == LOG_TARGET_JOURNAL) {
                char code_file[256], code_line[32];
                int r;

                snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
                snprintf(code_line, sizeof(code_line), "CODE_LINE=%i", line);
                if (error > 0)
                        r = sd_journal_send_with_location(code_file, code_line, func, "MESSAGE=%s", buf, "PRIORITY=%i",
                                                          level, "ERRNO=%i", error, NULL);
                else
                        r = sd_journal_send_with_location(code_file, code_line, func, "MESSAGE=%s", buf, "PRIORITY=%i",
                                                          level, NULL);
                if (r >= 0)
                        return -error;
        }
        fprintf(stderr, "%s%s%s\n", log_prefix ?: "", log_prefix ? ": " : "", buf);
        return -error;
}
