/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "capture.h"
#include "dma-fault.h"
#include "fileio.h"
#include "json-util.h"
#include "strv.h"
#include "topology.h"

typedef struct Capture {
        const char *src; /* "" for the live system */
        char *src_real;  /* realpath of src, to strip from resolved paths */
        char *dst;       /* the temporary directory being filled */
        CaptureReport *report;
        char *failed_path;
} Capture;

static const char *const device_attrs[] = {
        "vendor", "device",       "subsystem_vendor", "subsystem_device", "class",     "revision",
        "config", "reset_method", "removable",        "driver_override",  "numa_node", NULL,
};

static void warn(Capture *c, const char *fmt, ...) _printf_(2, 3);
static void warn(Capture *c, const char *fmt, ...) {
        va_list ap;
        char *s;

        assert(c);

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) >= 0)
                (void) strv_consume(&c->report->warnings, s);
        va_end(ap);
}

static int fail(Capture *c, int r, const char *path) {
        if (!c->failed_path)
                c->failed_path = strdup(path);
        return r;
}

static int make_parent(const char *path) {
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        slash = strrchr(p, '/');
        if (!slash || slash == p)
                return 0;
        *slash = '\0';
        return mkdir_p(p, 0755);
}

/* Copies one regular file (its readable part) from src to dst, below the roots; absent: 0. */
static int copy_file(Capture *c, const char *rel) {
        _cleanup_free_ char *from = NULL, *to = NULL, *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        struct stat st;
        int r;

        assert(c);

        if (asprintf(&from, "%s%s", c->src, rel) < 0 || asprintf(&to, "%s%s", c->dst, rel) < 0)
                return -ENOMEM;
        if (lstat(from, &st) < 0)
                return errno == ENOENT ? 0 : fail(c, negative_errno(), from);
        if (!S_ISREG(st.st_mode))
                return 0;

        r = make_parent(to);
        if (r < 0)
                return fail(c, r, to);

        if ((st.st_mode & 0444) == 0) {
                /* write-only attributes (e.g. "reset"): their presence is the information */
                data = strdup("");
                if (!data)
                        return -ENOMEM;
        } else {
                fd = open(from, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        if (errno == EACCES || errno == EPERM) {
                                warn(c, "%s: not readable (%s), left out", rel, strerror(errno));
                                return 0;
                        }
                        return errno == ENOENT ? 0 : fail(c, negative_errno(), from);
                }
                r = read_full_fd(fd, 1024 * 1024, &data, &size);
                if (r < 0) {
                        /* Some attributes fail to read on some devices (EIO, ENODEV): note, go on. */
                        warn(c, "%s: read failed (%s), left out", rel, strerror(-r));
                        return 0;
                }
        }

        safe_close(TAKE_FD(fd));
        fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST)
                return 0; /* copied already (the "uevent" of a directory a link led to first) */
        if (fd < 0)
                return fail(c, negative_errno(), to);
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                return fail(c, -EIO, to);
        c->report->files++;
        c->report->bytes += size;
        return 0;
}

/* Recreates a symlink with the same (relative) target. Absent: 0. */
static int copy_link(Capture *c, const char *rel, char **ret_target) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        char target[PATH_MAX];
        ssize_t n;
        int r;

        assert(c);

        if (asprintf(&from, "%s%s", c->src, rel) < 0 || asprintf(&to, "%s%s", c->dst, rel) < 0)
                return -ENOMEM;
        n = readlink(from, target, sizeof(target) - 1);
        if (n < 0)
                return errno == ENOENT || errno == EINVAL ? 0 : fail(c, negative_errno(), from);
        target[n] = '\0';
        r = make_parent(to);
        if (r < 0)
                return fail(c, r, to);
        if (symlink(target, to) < 0 && errno != EEXIST)
                return fail(c, negative_errno(), to);
        if (ret_target) {
                *ret_target = strdup(target);
                if (!*ret_target)
                        return -ENOMEM;
        }
        return 1;
}

/* The path of a resolved file relative to the source root ("/sys/devices/..."). */
static char *relative_to_src(Capture *c, const char *resolved) {
        size_t n = strlen(c->src_real);

        assert(c);
        assert(resolved);

        if (n == 1 && c->src_real[0] == '/')
                return strdup(resolved);
        if (strncmp(resolved, c->src_real, n) != 0 || resolved[n] != '/')
                return NULL;
        return strdup(resolved + n);
}

/* Makes the directory a copied symlink points to, so that the link resolves in the snapshot. */
static int make_link_target_dir(Capture *c, const char *rel_link) {
        _cleanup_free_ char *from = NULL, *resolved = NULL, *rel = NULL, *to = NULL;
        int r;

        assert(c);

        if (asprintf(&from, "%s%s", c->src, rel_link) < 0)
                return -ENOMEM;
        resolved = realpath(from, NULL);
        if (!resolved)
                return 0;
        rel = relative_to_src(c, resolved);
        if (!rel)
                return 0;
        if (asprintf(&to, "%s%s", c->dst, rel) < 0)
                return -ENOMEM;
        r = mkdir_p(to, 0755);
        if (r < 0)
                return r;
        /* Its "uevent" too (every sysfs directory a link points to has one): the directory is then
         * not empty, so the snapshot survives tools that drop empty directories (git, some archivers)
         * and its links still resolve. */
        free(to);
        if (asprintf(&to, "%s/uevent", rel) < 0)
                return -ENOMEM;
        return copy_file(c, to);
}

static int copy_dir_files(Capture *c, const char *rel) {
        _cleanup_free_ char *from = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        assert(c);

        if (asprintf(&from, "%s%s", c->src, rel) < 0)
                return -ENOMEM;
        d = opendir(from);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                _cleanup_free_ char *child = NULL;
                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&child, "%s/%s", rel, de->d_name) < 0)
                        return -ENOMEM;
                r = copy_file(c, child);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int capture_device(Capture *c, const char *slot) {
        _cleanup_free_ char *link = NULL, *from = NULL, *resolved = NULL, *dev = NULL, *vfio = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        assert(c);

        if (asprintf(&link, "/sys/bus/pci/devices/%s", slot) < 0)
                return -ENOMEM;
        r = copy_link(c, link, NULL);
        if (r <= 0)
                return r;

        if (asprintf(&from, "%s%s", c->src, link) < 0)
                return -ENOMEM;
        resolved = realpath(from, NULL);
        if (!resolved)
                return fail(c, negative_errno(), from);
        dev = relative_to_src(c, resolved);
        if (!dev)
                return fail(c, -EXDEV, resolved);

        STRV_FOREACH(a, (char **) device_attrs) {
                _cleanup_free_ char *rel = NULL;
                if (asprintf(&rel, "%s/%s", dev, *a) < 0)
                        return -ENOMEM;
                r = copy_file(c, rel);
                if (r < 0)
                        return r;
        }
        /* "reset" is write-only: its presence marks a resettable device on kernels before 5.15 */
        {
                _cleanup_free_ char *rel = NULL;
                if (asprintf(&rel, "%s/reset", dev) < 0)
                        return -ENOMEM;
                r = copy_file(c, rel);
                if (r < 0)
                        return r;
        }
        /* "iommu": the unit the device sits behind (../../virtual/iommu/dmar0), whose name topology.c
         * reads to attribute a DMAR fault to a segment (topology_iommu_segment()) */
        static const char *const links[] = { "driver", "iommu_group", "iommu", NULL };
        STRV_FOREACH(l, (char **) links) {
                _cleanup_free_ char *rel = NULL;
                if (asprintf(&rel, "%s/%s", dev, *l) < 0)
                        return -ENOMEM;
                r = copy_link(c, rel, NULL);
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = make_link_target_dir(c, rel);
                        if (r < 0)
                                return fail(c, r, rel);
                }
        }

        if (asprintf(&vfio, "%s%s/vfio-dev", c->src, dev) < 0)
                return -ENOMEM;
        d = opendir(vfio);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *rel = NULL;
                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&rel, "%s/vfio-dev/%s/dev", dev, de->d_name) < 0)
                        return -ENOMEM;
                r = copy_file(c, rel);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int capture_devices(Capture *c) {
        _cleanup_free_ char *path = NULL;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        assert(c);

        if (asprintf(&path, "%s/sys/bus/pci/devices", c->src) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d)
                return fail(c, negative_errno(), path);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && strv_extend(&names, de->d_name) < 0)
                        return -ENOMEM;
        strv_sort(names);
        STRV_FOREACH(n, names) {
                r = capture_device(c, *n);
                if (r < 0)
                        return r;
                c->report->devices++;
        }
        return 0;
}

static int capture_groups(Capture *c) {
        _cleanup_free_ char *path = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        assert(c);

        if (asprintf(&path, "%s/sys/kernel/iommu_groups", c->src) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                _cleanup_free_ char *rel = NULL, *devdir = NULL, *mk = NULL;
                _cleanup_closedir_ DIR *dd = NULL;
                struct dirent *e;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&rel, "/sys/kernel/iommu_groups/%s", de->d_name) < 0)
                        return -ENOMEM;
                if (asprintf(&mk, "%s%s", c->dst, rel) < 0 || mkdir_p(mk, 0755) < 0)
                        return fail(c, -EIO, rel);
                static const char *const files[] = { "type", "reserved_regions", NULL };
                STRV_FOREACH(f, (char **) files) {
                        _cleanup_free_ char *fr = NULL;
                        if (asprintf(&fr, "%s/%s", rel, *f) < 0)
                                return -ENOMEM;
                        r = copy_file(c, fr);
                        if (r < 0)
                                return r;
                }
                if (asprintf(&devdir, "%s%s/devices", c->src, rel) < 0)
                        return -ENOMEM;
                dd = opendir(devdir);
                while (dd && (e = readdir(dd))) {
                        _cleanup_free_ char *lr = NULL;
                        if (e->d_name[0] == '.')
                                continue;
                        if (asprintf(&lr, "%s/devices/%s", rel, e->d_name) < 0)
                                return -ENOMEM;
                        r = copy_link(c, lr, NULL);
                        if (r < 0)
                                return r;
                }
                c->report->groups++;
        }
        return 0;
}

static int capture_iommus(Capture *c) {
        _cleanup_free_ char *path = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        assert(c);

        if (asprintf(&path, "%s/sys/class/iommu", c->src) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                _cleanup_free_ char *rel = NULL, *from = NULL, *resolved = NULL, *unit = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&rel, "/sys/class/iommu/%s", de->d_name) < 0)
                        return -ENOMEM;
                r = copy_link(c, rel, NULL);
                if (r < 0)
                        return r;
                if (asprintf(&from, "%s%s", c->src, rel) < 0)
                        return -ENOMEM;
                resolved = realpath(from, NULL);
                unit = resolved ? relative_to_src(c, resolved) : NULL;
                if (!unit)
                        continue;
                r = make_link_target_dir(c, rel);
                if (r < 0)
                        return fail(c, r, rel);
                static const char *const subdirs[] = { "intel-iommu", "amd-iommu", NULL };
                STRV_FOREACH(s, (char **) subdirs) {
                        _cleanup_free_ char *sub = NULL;
                        if (asprintf(&sub, "%s/%s", unit, *s) < 0)
                                return -ENOMEM;
                        r = copy_dir_files(c, sub);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int capture_host(Capture *c) {
        static const char *const files[] = {
                "/proc/cmdline",
                "/proc/interrupts",
                "/proc/sys/kernel/osrelease",
                NULL,
        };
        static const char *const modules[] = { "iommufd", "vfio", "vfio_iommu_type1", "vfio_pci", NULL };
        int r;

        STRV_FOREACH(f, (char **) files) {
                r = copy_file(c, *f);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(m, (char **) modules) {
                _cleanup_free_ char *rel = NULL, *from = NULL, *to = NULL;
                if (asprintf(&rel, "/sys/module/%s/parameters", *m) < 0)
                        return -ENOMEM;
                r = copy_dir_files(c, rel);
                if (r < 0)
                        return r;
                /* A loaded module without parameters (vfio on Linux 6.1 without NOIOMMU) is loaded all
                 * the same: the topology tells the kernel's VFIO from its directory. */
                if (asprintf(&from, "%s/sys/module/%s", c->src, *m) < 0 ||
                    asprintf(&to, "%s/sys/module/%s", c->dst, *m) < 0)
                        return -ENOMEM;
                if (access(from, F_OK) >= 0) {
                        r = mkdir_p(to, 0755);
                        if (r < 0)
                                return fail(c, r, to);
                }
        }
        return 0;
}

typedef struct KmsgCopy {
        FILE *f;
        size_t records;
} KmsgCopy;

static int keep_record(const DmaFault *fault, const KmsgRecord *rec, void *userdata) {
        KmsgCopy *k = userdata;

        assert(rec);

        (void) fault;
        /* Only fault reports and the kernel's notes that it dropped some: nothing else of the log. */
        fprintf(k->f, "%d,%llu,%llu,-;", rec->priority, (unsigned long long) rec->seq, (unsigned long long) rec->usec);
        for (const char *p = rec->message; *p; p++) {
                if ((unsigned char) *p < 0x20 || *p == '\\')
                        fprintf(k->f, "\\x%02x", (unsigned char) *p);
                else
                        fputc(*p, k->f);
        }
        fputc('\n', k->f);
        k->records++;
        return 0;
}

static int capture_kmsg(Capture *c) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        KmsgCopy k = {};
        int r;

        assert(c);

        if (asprintf(&from, "%s/dev/kmsg", c->src) < 0 || asprintf(&to, "%s/dev/kmsg", c->dst) < 0)
                return -ENOMEM;
        r = make_parent(to);
        if (r < 0)
                return fail(c, r, to);
        k.f = fopen(to, "wxe");
        if (!k.f)
                return fail(c, negative_errno(), to);
        r = kmsg_read_faults(from, keep_record, &k);
        if (fclose(k.f) != 0 && r >= 0)
                r = fail(c, negative_errno(), to);
        if (r == -ENOENT || r == -EACCES || r == -EPERM) {
                warn(c, "/dev/kmsg: not readable (%s): DMA faults in the kernel log were not captured", strerror(-r));
                return 0;
        }
        if (r < 0)
                return fail(c, r, from);
        c->report->fault_records = k.records;
        return 0;
}

static int write_metadata(Capture *c, const char *version) {
        _cleanup_free_ char *path = NULL, *release = NULL, *rel_path = NULL;
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *w = json_object_new_array();
        char date[64];
        time_t now = time(NULL);
        struct tm tm;
        const char *text;
        int r;

        assert(c);

        if (!o || !w)
                return -ENOMEM;
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        if (asprintf(&rel_path, "%s/proc/sys/kernel/osrelease", c->src) >= 0)
                (void) read_one_line_file(rel_path, &release);
        json_object_object_add(o, "format", json_object_new_string("isolate-capture"));
        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(o, "tool", json_object_new_string(version));
        json_object_object_add(o, "created", json_object_new_string(date));
        json_object_object_add(o, "kernel", release ? json_object_new_string(release) : NULL);
        json_object_object_add(o, "captured_as_root", json_object_new_boolean(geteuid() == 0));
        json_object_object_add(o, "devices", json_object_new_int((int) c->report->devices));
        json_object_object_add(o, "iommu_groups", json_object_new_int((int) c->report->groups));
        json_object_object_add(o, "fault_records", json_object_new_int((int) c->report->fault_records));
        STRV_FOREACH(s, c->report->warnings)
                json_object_array_add(w, json_object_new_string(*s));
        json_object_object_add(o, "warnings", TAKE_PTR(w));

        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (asprintf(&path, "%s/capture.json", c->dst) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, text, strlen(text), 0644);
        return r < 0 ? fail(c, r, path) : 0;
}

static int rm_rf(const char *path) {
        _cleanup_closedir_ DIR *d = opendir(path);
        struct dirent *de;

        if (!d)
                return unlink(path) < 0 && errno != ENOENT ? negative_errno() : 0;
        while ((de = readdir(d))) {
                _cleanup_free_ char *child = NULL;
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (asprintf(&child, "%s/%s", path, de->d_name) < 0)
                        return -ENOMEM;
                if (lstat(child, &st) >= 0 && S_ISDIR(st.st_mode))
                        (void) rm_rf(child);
                else
                        (void) unlink(child);
        }
        return rmdir(path) < 0 ? negative_errno() : 0;
}

int capture_snapshot(const char *src_root, const char *dir, const char *tool_version, CaptureReport *report,
                     char **reterr_path) {
        _cleanup_free_ char *tmpl = NULL, *real = NULL;
        Capture c = { .report = report };
        struct stat st;
        int r;

        *report = (CaptureReport) {};
        c.src = isempty(src_root) || streq(src_root, "/") ? "" : src_root;
        real = realpath(*c.src ? c.src : "/", NULL);
        if (!real)
                return negative_errno();
        c.src_real = real;

        if (lstat(dir, &st) >= 0) {
                if (reterr_path)
                        *reterr_path = strdup(dir);
                return -EEXIST;
        }

        /* Everything goes into DIR.partial-XXXXXX first and is renamed at the end: a failed or
         * interrupted capture never leaves a half-written DIR behind. */
        if (asprintf(&tmpl, "%s.partial-XXXXXX", dir) < 0)
                return -ENOMEM;
        if (!mkdtemp(tmpl)) {
                r = negative_errno();
                if (reterr_path)
                        *reterr_path = strdup(dir);
                return r;
        }
        (void) chmod(tmpl, 0755);
        c.dst = tmpl;

        r = capture_devices(&c);
        if (r >= 0)
                r = capture_groups(&c);
        if (r >= 0)
                r = capture_iommus(&c);
        if (r >= 0)
                r = capture_host(&c);
        if (r >= 0)
                r = capture_kmsg(&c);
        if (r >= 0)
                r = write_metadata(&c, tool_version);
        if (r >= 0 && rename(tmpl, dir) < 0)
                r = fail(&c, negative_errno(), dir);

        if (r < 0) {
                (void) rm_rf(tmpl);
                if (reterr_path)
                        *reterr_path = TAKE_PTR(c.failed_path);
        }
        free(c.failed_path);
        return r;
}

void capture_report_done(CaptureReport *r) {
        strv_free(r->warnings);
        *r = (CaptureReport) {};
}
