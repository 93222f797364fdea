/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pci/pci.h>

#include "fileio.h"
#include "pci-access.h"
#include "strv.h"
#include "path-util.h"
#include "topology.h"

static const char *const interrupt_safety_table[_INTERRUPTS_MAX] = {
        [INTERRUPTS_SAFE] = "safe",
        [INTERRUPTS_UNSAFE] = "unsafe",
        [INTERRUPTS_UNKNOWN] = "unknown",
};

const char *interrupt_safety_to_string(InterruptSafety s) {
        return s >= 0 && s < _INTERRUPTS_MAX ? interrupt_safety_table[s] : NULL;
}

static const char *const iommu_kind_table[_IOMMU_KIND_MAX] = {
        [IOMMU_KIND_INTEL] = "intel-vtd",           [IOMMU_KIND_AMD] = "amd-vi",
        [IOMMU_KIND_VIRTIO] = "virtio-iommu",       [IOMMU_KIND_ARM_SMMU] = "arm-smmu",
        [IOMMU_KIND_SELFTEST] = "iommufd-selftest", [IOMMU_KIND_OTHER] = "other",
};

const char *iommu_kind_to_string(IommuKind k) {
        return k >= 0 && k < _IOMMU_KIND_MAX ? iommu_kind_table[k] : NULL;
}

static int read_link(const char *path, char **ret) {
        assert(ret);

        for (size_t size = 256;; size *= 2) {
                _cleanup_free_ char *buf = malloc(size);
                ssize_t n;

                if (!buf)
                        return -ENOMEM;
                n = readlink(path, buf, size);
                if (n < 0)
                        return negative_errno();
                if ((size_t) n < size) {
                        buf[n] = '\0';
                        *ret = TAKE_PTR(buf);
                        return 0;
                }
        }
}

static char *rootf(const char *root, const char *fmt, ...) _printf_(2, 3);
static char *rootf(const char *root, const char *fmt, ...) {
        _cleanup_free_ char *rel = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&rel, fmt, ap);
        va_end(ap);
        if (r < 0)
                return NULL;
        return root_path(root, rel);
}

/* Reads one sysfs attribute below the root; NULL with errno set when absent or unreadable. */
static int read_attr(const char *root, char **ret, const char *fmt, ...) _printf_(3, 4);
static int read_attr(const char *root, char **ret, const char *fmt, ...) {
        _cleanup_free_ char *rel = NULL, *path = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&rel, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        path = root_path(root, rel);
        if (!path)
                return -ENOMEM;
        return read_one_line_file(path, ret);
}

static Tristate parse_bool_param(const char *s) {
        if (!s)
                return TRISTATE_UNKNOWN;
        if (streq(s, "Y") || streq(s, "y") || streq(s, "1") || streq(s, "on") || streq(s, "yes"))
                return TRISTATE_YES;
        if (streq(s, "N") || streq(s, "n") || streq(s, "0") || streq(s, "off") || streq(s, "no"))
                return TRISTATE_NO;
        return TRISTATE_UNKNOWN;
}

/* ---- PCI devices ------------------------------------------------------------------------ */

struct scan_ctx {
        Topology *t;
        size_t allocated;
        int error;
        /* The config space buffer of the device being read. Kept here, not in a _cleanup_ variable: a
         * fatal libpci error longjmps out of scan_fn, past its cleanup handlers. */
        char *config;
};

static void pci_device_done(PciDevice *d) {
        assert(d);

        free(d->driver);
        free(d->iommu);
        strv_free(d->parents);
        strv_free(d->reset_methods);
        free(d->vfio_dev);
}

static int device_read_parents(const char *root, PciDevice *d) {
        _cleanup_free_ char *link = NULL, *resolved = NULL;
        _cleanup_strv_free_ char **comps = NULL;
        const char *start;
        size_t n;
        int r;

        assert(d);

        link = rootf(root, "/sys/bus/pci/devices/%s", d->slot);
        if (!link)
                return -ENOMEM;
        /* The link already names the whole chain ("../../../devices/pci0000:00/0000:00:1c.0/..."):
         * one readlink() instead of realpath()'s one per path component. */
        r = read_link(link, &resolved);
        if (r < 0 || !(start = strstr(resolved, "devices/")) || (start != resolved && start[-1] != '/')) {
                free(resolved);
                resolved = realpath(link, NULL);
                if (!resolved)
                        return negative_errno();
                start = strstr(resolved, "/devices/");
                if (!start)
                        return -EINVAL;
                start++;
        }

        /* Components after "devices/": pci0000:00/0000:00:1c.0/0000:03:00.0 */
        r = strv_split(start + strlen("devices/"), "/", &comps);
        if (r < 0)
                return r;
        n = strv_length(comps);
        for (size_t i = n; i > 0; i--) {
                PciAddress a;
                if (pci_address_parse_full(comps[i - 1], &a) < 0)
                        continue;
                if (pci_address_equal(&a, &d->address))
                        continue;
                r = strv_extend(&d->parents, comps[i - 1]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int link_basename(const char *root, const char *slot, const char *name, char **ret) {
        _cleanup_free_ char *path = rootf(root, "/sys/bus/pci/devices/%s/%s", slot, name), *target = NULL;
        const char *b;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_link(path, &target);
        if (r < 0)
                return r;
        b = strrchr(target, '/');
        b = b ? b + 1 : target;
        if (!*b)
                return -EINVAL;
        *ret = strdup(b);
        return *ret ? 0 : -ENOMEM;
}

static void device_read_reset(const char *root, PciDevice *d) {
        _cleanup_free_ char *methods = NULL, *path = NULL;

        assert(d);

        if (read_attr(root, &methods, "/sys/bus/pci/devices/%s/reset_method", d->slot) >= 0) {
                if (strv_split(methods, " \t\n", &d->reset_methods) >= 0)
                        d->can_reset = strv_length(d->reset_methods) > 0 ? TRISTATE_YES : TRISTATE_NO;
                return;
        }
        /* reset_method only exists when the device has a reset method (and on ≥ 5.15). Before 5.15
         * the write-only "reset" attribute marks a resettable device. */
        path = rootf(root, "/sys/bus/pci/devices/%s/reset", d->slot);
        if (path && access(path, F_OK) >= 0)
                d->can_reset = TRISTATE_YES;
        else {
                _cleanup_free_ char *vendor = NULL;
                /* Distinguish "no reset" from "this snapshot has nothing": the device's own
                 * attributes are there, so a missing reset_method means no method. */
                d->can_reset = read_attr(root, &vendor, "/sys/bus/pci/devices/%s/vendor", d->slot) >= 0
                                       ? TRISTATE_NO
                                       : TRISTATE_UNKNOWN;
        }
}

static void device_read_vfio(const char *root, PciDevice *d) {
        _cleanup_free_ char *path = rootf(root, "/sys/bus/pci/devices/%s/vfio-dev", d->slot);
        _cleanup_closedir_ DIR *dir = NULL;
        struct dirent *de;

        assert(d);

        if (!path)
                return;
        dir = opendir(path);
        if (!dir)
                return;
        while ((de = readdir(dir)))
                if (strneq(de->d_name, "vfio", 4)) {
                        /* Linux 6.1 to 6.5 have the vfio-dev class device but no device cdev: no "dev" */
                        _cleanup_free_ char *dev =
                                rootf(root, "/sys/bus/pci/devices/%s/vfio-dev/%s/dev", d->slot, de->d_name);
                        if (dev && access(dev, F_OK) >= 0)
                                d->vfio_dev = strdup(de->d_name);
                        return;
                }
}

static void device_read_config(struct pci_dev *p, PciDevice *d) {
        struct pci_cap *cap;

        assert(d);

        d->header_type = pci_read_byte(p, PCI_HEADER_TYPE);
        d->multifunction = d->header_type & 0x80;
        d->header_type &= 0x7f;

        if (d->config_size < 256)
                return; /* capability pointers lie beyond what we may read */

        pci_fill_info(p, PCI_FILL_CAPS | (d->config_size >= 4096 ? PCI_FILL_EXT_CAPS : 0));

        d->has_msi = pci_find_cap(p, PCI_CAP_ID_MSI, PCI_CAP_NORMAL);
        d->has_msix = pci_find_cap(p, PCI_CAP_ID_MSIX, PCI_CAP_NORMAL);
        cap = pci_find_cap(p, PCI_CAP_ID_EXP, PCI_CAP_NORMAL);
        if (cap)
                d->pcie_type = (pci_read_word(p, (int) cap->addr + PCI_EXP_FLAGS) >> 4) & 0xf;

        if (d->config_size < 4096)
                return;

        cap = pci_find_cap(p, PCI_EXT_CAP_ID_ACS, PCI_CAP_EXTENDED);
        if (cap) {
                d->has_acs = true;
                d->acs_cap = pci_read_word(p, (int) cap->addr + PCI_ACS_CAP);
                d->acs_ctrl = pci_read_word(p, (int) cap->addr + PCI_ACS_CTRL);
        }
        cap = pci_find_cap(p, PCI_EXT_CAP_ID_ATS, PCI_CAP_EXTENDED);
        if (cap) {
                d->has_ats = true;
                d->ats_offset = (uint16_t) cap->addr;
                d->ats_enabled = pci_read_word(p, (int) cap->addr + PCI_ATS_CTRL) & 0x8000;
        }
        d->has_pri = pci_find_cap(p, PCI_EXT_CAP_ID_PRI, PCI_CAP_EXTENDED);
        d->has_pasid = pci_find_cap(p, PCI_EXT_CAP_ID_PASID, PCI_CAP_EXTENDED);
        cap = pci_find_cap(p, PCI_EXT_CAP_ID_DSN, PCI_CAP_EXTENDED);
        if (cap) {
                d->has_dsn = true;
                d->dsn = ((uint64_t) pci_read_long(p, (int) cap->addr + 8) << 32) |
                         pci_read_long(p, (int) cap->addr + 4);
        }
}

static int scan_fn(struct pci_access *acc, void *userdata) {
        struct scan_ctx *c = userdata;
        Topology *t = c->t;

        assert(acc);

        pci_scan_bus(acc);

        for (struct pci_dev *p = acc->devices; p; p = p->next) {
                _cleanup_free_ char *removable = NULL;
                char config_path[PATH_MAX];
                PciDevice *d;
                size_t config_size = 0;
                int r;

                if (!GREEDY_REALLOC(t->devices, c->allocated, t->n_devices + 1))
                        return -ENOMEM;
                d = &t->devices[t->n_devices++];
                *d = (PciDevice) {
                        .address = { .domain = (uint32_t) p->domain, .bus = p->bus, .slot = p->dev, .func = p->func },
                        .iommu_group = -1,
                        .pcie_type = PCIE_TYPE_NONE,
                        .can_reset = TRISTATE_UNKNOWN,
                        .removable = TRISTATE_UNKNOWN,
                        .interrupts = INTERRUPTS_UNKNOWN,
                };
                pci_address_format(&d->address, d->slot);

                /* Read config space once ourselves and hand it to libpci as its cache: one read
                 * instead of one pread per capability header. */
                /* no heap allocation may be live across libpci calls (see scan_ctx.config) */
                snprintf(config_path, sizeof(config_path), "%s/sys/bus/pci/devices/%s/config", t->root, d->slot);
                c->config = mfree(c->config);
                r = read_full_file(config_path, 4096, &c->config, &config_size);
                if (r >= 0 && config_size >= 64) {
                        d->config_size = config_size;
                        pci_setup_cache(p, (u8 *) c->config, (int) config_size);
                }

                pci_fill_info(p, PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CLASS_EXT | PCI_FILL_SUBSYS);
                d->vendor = p->vendor_id;
                d->device = p->device_id;
                d->class = ((uint32_t) p->device_class << 8) | p->prog_if;
                d->revision = p->rev_id;
                d->subsystem_vendor = p->subsys_vendor_id;
                d->subsystem_device = p->subsys_id;

                /* libpci's PCI_FILL_DRIVER / PCI_FILL_IOMMU_GROUP resolve these links with realpath()
                 * (a readlink() per path component); the name is just the link's last component. */
                r = link_basename(t->root, d->slot, "driver", &d->driver);
                if (r == -ENOMEM)
                        return r;
                r = link_basename(t->root, d->slot, "iommu", &d->iommu);
                if (r == -ENOMEM)
                        return r;
                {
                        _cleanup_free_ char *group = NULL;
                        if (link_basename(t->root, d->slot, "iommu_group", &group) >= 0) {
                                char *end;
                                long g = strtol(group, &end, 10);
                                if (*group && !*end && g >= 0 && g <= INT_MAX)
                                        d->iommu_group = (int) g;
                        }
                }

                if (d->config_size > 0) {
                        device_read_config(p, d);
                        /* The cache points into our buffer, which is freed below. */
                        pci_setup_cache(p, NULL, 0);
                }

                r = device_read_parents(t->root, d);
                if (r == -ENOMEM)
                        return r;
                device_read_reset(t->root, d);
                device_read_vfio(t->root, d);
                if (read_attr(t->root, &removable, "/sys/bus/pci/devices/%s/removable", d->slot) >= 0)
                        d->removable = streq(removable, "removable") ? TRISTATE_YES
                                       : streq(removable, "fixed")   ? TRISTATE_NO
                                                                     : TRISTATE_UNKNOWN;
        }
        return 0;
}

static int device_cmp(const void *a, const void *b) {
        return pci_address_compare(&((const PciDevice *) a)->address, &((const PciDevice *) b)->address);
}

static int load_devices(Topology *t, char **reterr_message) {
        _cleanup_(pci_access_closep) struct pci_access *acc = NULL;
        _cleanup_free_ char *bus_pci = NULL;
        struct scan_ctx c = { .t = t };
        int r;

        assert(t);

        bus_pci = root_path(t->root, "/sys/bus/pci");
        if (!bus_pci)
                return -ENOMEM;
        r = pci_access_open(bus_pci, &acc, reterr_message);
        if (r < 0)
                return r;
        r = pci_guarded(scan_fn, acc, &c, reterr_message);
        free(c.config);
        if (r < 0)
                return r;
        if (t->n_devices > 1)
                qsort(t->devices, t->n_devices, sizeof(PciDevice), device_cmp);
        return 0;
}

/* ---- IOMMU groups ------------------------------------------------------------------------ */

static void group_read_regions(const char *root, IommuGroup *g) {
        _cleanup_free_ char *text = NULL, *path = rootf(root, "/sys/kernel/iommu_groups/%d/reserved_regions", g->id);
        _cleanup_strv_free_ char **lines = NULL;

        if (!path || read_full_file(path, 0, &text, NULL) < 0)
                return;
        if (strv_split(text, "\n", &lines) < 0)
                return;
        g->regions = calloc(strv_length(lines) ?: 1, sizeof(ReservedRegion));
        if (!g->regions)
                return;
        STRV_FOREACH(l, lines) {
                unsigned long long start, end;
                char type[32];
                ReservedRegion *rr;

                if (sscanf(*l, "%llx %llx %31s", &start, &end, type) != 3)
                        continue;
                rr = &g->regions[g->n_regions++];
                rr->start = start;
                rr->end = end;
                rr->type = streq(type, "direct")             ? RESERVED_DIRECT
                           : streq(type, "direct-relaxable") ? RESERVED_DIRECT_RELAXABLE
                           : streq(type, "msi")              ? RESERVED_MSI
                           : streq(type, "reserved")         ? RESERVED_RESERVED
                                                             : RESERVED_OTHER;
        }
}

static int group_cmp(const void *a, const void *b) {
        int x = ((const IommuGroup *) a)->id, y = ((const IommuGroup *) b)->id;
        return (x > y) - (x < y);
}

static int load_groups(Topology *t) {
        _cleanup_free_ char *path = root_path(t->root, "/sys/kernel/iommu_groups");
        _cleanup_closedir_ DIR *dir = NULL;
        struct dirent *de;
        size_t allocated = 0;

        assert(t);

        if (!path)
                return -ENOMEM;
        dir = opendir(path);
        if (!dir)
                return 0; /* no IOMMU groups at all */

        while ((de = readdir(dir))) {
                _cleanup_free_ char *devpath = NULL;
                _cleanup_closedir_ DIR *devdir = NULL;
                struct dirent *dd;
                IommuGroup *g;
                char *end;
                long id;

                if (de->d_name[0] == '.')
                        continue;
                id = strtol(de->d_name, &end, 10);
                if (*end || id < 0 || id > INT_MAX)
                        continue;

                if (!GREEDY_REALLOC(t->groups, allocated, t->n_groups + 1))
                        return -ENOMEM;
                g = &t->groups[t->n_groups++];
                *g = (IommuGroup) { .id = (int) id };

                (void) read_attr(t->root, &g->type, "/sys/kernel/iommu_groups/%d/type", g->id);
                group_read_regions(t->root, g);

                devpath = rootf(t->root, "/sys/kernel/iommu_groups/%d/devices", g->id);
                if (!devpath)
                        return -ENOMEM;
                devdir = opendir(devpath);
                while (devdir && (dd = readdir(devdir)))
                        if (dd->d_name[0] != '.' && strv_extend(&g->devices, dd->d_name) < 0)
                                return -ENOMEM;
                strv_sort(g->devices);
        }
        if (t->n_groups > 1)
                qsort(t->groups, t->n_groups, sizeof(IommuGroup), group_cmp);
        return 0;
}

/* ---- IOMMU units ------------------------------------------------------------------------- */

static int load_iommus(Topology *t) {
        _cleanup_free_ char *path = root_path(t->root, "/sys/class/iommu");
        _cleanup_closedir_ DIR *dir = NULL;
        struct dirent *de;
        size_t allocated = 0;

        assert(t);

        if (!path)
                return -ENOMEM;
        dir = opendir(path);
        if (!dir)
                return 0;

        while ((de = readdir(dir))) {
                _cleanup_free_ char *cap = NULL, *ecap = NULL, *link = NULL, *target = NULL;
                IommuUnit *u;

                if (de->d_name[0] == '.')
                        continue;
                if (!GREEDY_REALLOC(t->iommus, allocated, t->n_iommus + 1))
                        return -ENOMEM;
                u = &t->iommus[t->n_iommus++];
                *u = (IommuUnit) { .name = strdup(de->d_name), .kind = IOMMU_KIND_OTHER };
                if (!u->name)
                        return -ENOMEM;

                /* "../../devices/platform/arm-smmu-v3.0.auto/iommu/smmu3.0x…": the unit's parent device */
                link = rootf(t->root, "/sys/class/iommu/%s", u->name);
                if (!link)
                        return -ENOMEM;
                if (read_link(link, &target) >= 0) {
                        char *last = strrchr(target, '/'), *parent;
                        if (last && last - target >= 6 && strneq(last - 6, "/iommu", 6)) {
                                last[-6] = '\0';
                                parent = strrchr(target, '/');
                                if (parent && parent[1] && !streq(parent + 1, "virtual") &&
                                    !(u->device = strdup(parent + 1)))
                                        return -ENOMEM;
                        }
                        target = mfree(target);
                }
                link = mfree(link);

                if (read_attr(t->root, &cap, "/sys/class/iommu/%s/intel-iommu/cap", u->name) >= 0 &&
                    read_attr(t->root, &ecap, "/sys/class/iommu/%s/intel-iommu/ecap", u->name) >= 0) {
                        u->kind = IOMMU_KIND_INTEL;
                        u->has_regs = true;
                        u->cap = strtoull(cap, NULL, 16);
                        u->ecap = strtoull(ecap, NULL, 16);
                        continue;
                }
                if (read_attr(t->root, &cap, "/sys/class/iommu/%s/amd-iommu/cap", u->name) >= 0) {
                        u->kind = IOMMU_KIND_AMD;
                        u->has_regs = true;
                        u->cap = strtoull(cap, NULL, 16);
                        if (read_attr(t->root, &ecap, "/sys/class/iommu/%s/amd-iommu/features", u->name) >= 0)
                                u->ecap = strtoull(ecap, NULL, 16);
                        continue;
                }
                if (strneq(u->name, "iommufd_selftest", strlen("iommufd_selftest"))) {
                        u->kind = IOMMU_KIND_SELFTEST;
                        continue;
                }
                if (strneq(u->name, "smmu", 4) || strstr(u->name, "smmu")) {
                        u->kind = IOMMU_KIND_ARM_SMMU;
                        continue;
                }
                /* virtio-iommu sits below its virtio device (and names the unit after the PCI function). */
                link = rootf(t->root, "/sys/class/iommu/%s", u->name);
                if (link)
                        target = realpath(link, NULL);
                if (strneq(u->name, "virtio", 6) || (target && strstr(target, "/virtio")))
                        u->kind = IOMMU_KIND_VIRTIO;
        }
        return 0;
}

/* A PCI function that provides an IOMMU unit (its /sys/class/iommu entry lives below the function, or
 * is named after it) is not a device to isolate. */
static void mark_iommu_devices(Topology *t) {
        assert(t);

        FOREACH_ARRAY(u, t->iommus, t->n_iommus) {
                _cleanup_free_ char *link = rootf(t->root, "/sys/class/iommu/%s", u->name), *target = NULL;
                PciAddress a;

                if (pci_address_parse_full(u->name, &a) >= 0) {
                        PciDevice *d = topology_find_device(t, &a);
                        if (d)
                                d->is_iommu = true;
                }
                if (!link || !(target = realpath(link, NULL)))
                        continue;
                FOREACH_ARRAY(d, t->devices, t->n_devices) {
                        char needle[PCI_ADDRESS_MAX + 2];
                        snprintf(needle, sizeof(needle), "/%s/", d->slot);
                        if (strstr(target, needle))
                                d->is_iommu = true;
                }
        }
}

/* ---- host: kernel, command line, parameters, interrupts ------------------------------------ */

static bool cmdline_value_has(const char *value, const char *word) {
        /* comma-separated option lists: intel_iommu=on,sm_on */
        size_t n = strlen(word);
        for (const char *p = value; p && *p;) {
                size_t k = strcspn(p, ",");
                if (k == n && strneq(p, word, n))
                        return true;
                p += k;
                if (*p == ',')
                        p++;
        }
        return false;
}

static void parse_cmdline(HostInfo *h) {
        _cleanup_strv_free_ char **words = NULL;

        if (!h->cmdline || strv_split(h->cmdline, " \t\n", &words) < 0)
                return;

        STRV_FOREACH(w, words) {
                const char *eq = strchr(*w, '=');
                _cleanup_free_ char *key = eq ? strndup(*w, (size_t) (eq - *w)) : strdup(*w);
                const char *v = eq ? eq + 1 : "";

                if (!key)
                        return;
                /* Module parameters may be spelled with '-' or '_'. */
                for (char *c = key; *c; c++)
                        if (*c == '-')
                                *c = '_';

                if (streq(key, "iommu")) {
                        if (cmdline_value_has(v, "pt"))
                                h->cmdline_iommu_pt = true;
                        if (cmdline_value_has(v, "nopt"))
                                h->cmdline_iommu_pt = false;
                        if (cmdline_value_has(v, "off"))
                                h->cmdline_iommu_off = true;
                } else if (streq(key, "iommu.passthrough"))
                        h->cmdline_iommu_pt = parse_bool_param(v) == TRISTATE_YES;
                else if (streq(key, "iommu.strict"))
                        h->cmdline_lazy = parse_bool_param(v) == TRISTATE_NO;
                else if (streq(key, "intel_iommu") || streq(key, "amd_iommu")) {
                        if (cmdline_value_has(v, "off"))
                                h->cmdline_iommu_off = true;
                } else if (streq(key, "intremap")) {
                        if (cmdline_value_has(v, "off"))
                                h->cmdline_intremap_off = true;
                } else if (streq(key, "pcie_acs_override")) {
                        free(h->cmdline_acs_override);
                        h->cmdline_acs_override = strdup(v);
                } else if (streq(key, "iommufd.allow_unsafe_interrupts")) {
                        if (h->iommufd_allow_unsafe_interrupts == TRISTATE_UNKNOWN)
                                h->iommufd_allow_unsafe_interrupts = parse_bool_param(v);
                } else if (streq(key, "vfio_iommu_type1.allow_unsafe_interrupts")) {
                        if (h->type1_allow_unsafe_interrupts == TRISTATE_UNKNOWN)
                                h->type1_allow_unsafe_interrupts = parse_bool_param(v);
                } else if (streq(key, "vfio.enable_unsafe_noiommu_mode")) {
                        if (h->vfio_noiommu == TRISTATE_UNKNOWN)
                                h->vfio_noiommu = parse_bool_param(v);
                }
        }
}

static Tristate read_param(const char *root, const char *module, const char *param) {
        _cleanup_free_ char *v = NULL;
        if (read_attr(root, &v, "/sys/module/%s/parameters/%s", module, param) < 0)
                return TRISTATE_UNKNOWN;
        return parse_bool_param(v);
}

/* One /proc/interrupts chip name that carries MSIs. x86: "IR-PCI-MSI", "PCI-MSIX-0000:00:03.0". arm64
 * (drivers/irqchip): before 6.11 a PCI function's MSIs show the top chip of the shared domain, "ITS-MSI"
 * (irq-gic-v3-its-pci-msi.c) or "MSI" (irq-gic-v2m.c, gicv2m_msi_irq_chip), with the hwirq after it;
 * since the per-device MSI domains the parent's prefix and the device: "ITS-PCI-MSIX-0000:01:00.0",
 * "GICv2m-PCI-MSI-0000:01:00.0". Platform and fsl-mc MSIs through an ITS ("ITS-pMSI", "ITS-fMSI", with
 * "-<dev>" since 6.11) name no PCI function but show that the ITS delivers MSIs. A GICv3 ITS isolates
 * MSIs (per device ID); a GICv2m frame does not. */
typedef enum MsiChip {
        MSI_CHIP_NONE,
        MSI_CHIP_REMAPPED, /* IR-, vIR-, ITS-: isolated */
        MSI_CHIP_PLAIN,    /* PCI-MSI, MSI (GICv2m), GICv2m-PCI-MSI: not isolated */
} MsiChip;

/* *ret_pci: the chip carries a PCI function's MSIs, named by *ret_suffix or, when that is NULL, by
 * the hwirq that follows. */
static MsiChip classify_chip(const char *token, HostInfo *h, bool *ret_pci, const char **ret_suffix) {
        const char *m = strstr(token, "PCI-MSI");
        size_t prefix = m ? (size_t) (m - token) : 0;

        assert(h);
        assert(ret_pci);
        assert(ret_suffix);

        *ret_suffix = NULL;
        *ret_pci = true;
        if (streq(token, "ITS-MSI")) {
                h->arch_arm_its = true;
                return MSI_CHIP_REMAPPED;
        }
        if (streq(token, "MSI")) {
                h->arch_arm_gicv2m = true;
                return MSI_CHIP_PLAIN;
        }
        if (!m) {
                *ret_pci = false;
                if (strneq(token, "ITS-", 4) && strstr(token, "MSI")) {
                        h->arch_arm_its = true;
                        return MSI_CHIP_REMAPPED;
                }
                if (strneq(token, "GICv2m", 6)) {
                        h->arch_arm_gicv2m = true;
                        return MSI_CHIP_PLAIN;
                }
                return MSI_CHIP_NONE;
        }
        m += strlen("PCI-MSI");
        if (*m == 'X')
                m++;
        if (*m == '-')
                *ret_suffix = m + 1;

        if (prefix == 0)
                return MSI_CHIP_PLAIN;
        if ((prefix == 3 && strneq(token, "IR-", 3)) || (prefix == 4 && strneq(token, "vIR-", 4)))
                return MSI_CHIP_REMAPPED;
        if (strneq(token, "ITS-", 4)) {
                h->arch_arm_its = true;
                return MSI_CHIP_REMAPPED;
        }
        if (strneq(token, "GICv2m-", 7)) {
                h->arch_arm_gicv2m = true;
                return MSI_CHIP_PLAIN;
        }
        return MSI_CHIP_PLAIN;
}

static PciDevice *find_by_slot(Topology *t, const char *slot) {
        PciAddress a;
        if (pci_address_parse_full(slot, &a) < 0)
                return NULL;
        return topology_find_device(t, &a);
}

static void load_interrupts(Topology *t) {
        HostInfo *h = &t->host;
        _cleanup_free_ char *text = NULL, *path = root_path(t->root, "/proc/interrupts");
        bool seen_remapped = false, seen_plain = false, seen_ioapic = false, seen_ir_ioapic = false;

        assert(t);

        /* One line per interrupt with one count per CPU: on a large host this is tens of MiB. */
        if (!path || read_full_file(path, 256U * 1024 * 1024, &text, NULL) < 0)
                return;

        /* Tokenised in place: only the chip name (and the hwirq after it) matter. */
        for (char *line = text, *next; line && *line; line = next) {
                char *save = NULL;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
                        const char *suffix;
                        bool pci;
                        MsiChip c;

                        if (streq(tok, "IR-IO-APIC"))
                                seen_ir_ioapic = true;
                        else if (streq(tok, "IO-APIC"))
                                seen_ioapic = true;

                        c = classify_chip(tok, h, &pci, &suffix);
                        if (c == MSI_CHIP_NONE)
                                continue;

                        PciDevice *d = NULL;
                        if (pci && suffix)
                                d = find_by_slot(t, suffix);
                        else if (pci) {
                                const char *hwirq = strtok_r(NULL, " \t", &save);
                                /* Before per-device MSI domains the hwirq encodes the requester:
                                 * msi_index | pci_dev_id << 11 | domain << 27 (pci_msi_domain_calc_hwirq).
                                 * x86 joins the flow handler's name to it ("65536-edge"); arm64
                                 * (GENERIC_IRQ_SHOW_LEVEL) prints the trigger as a word ("524288 Edge"). */
                                char *end;
                                unsigned long long hw = hwirq ? strtoull(hwirq, &end, 10) : 0;
                                if (hwirq && end != hwirq && (*end == '-' || *end == '\0')) {
                                        PciAddress a = {
                                                .domain = (uint32_t) (hw >> 27),
                                                .bus = (uint8_t) ((hw >> 19) & 0xff),
                                                .slot = (uint8_t) ((hw >> 14) & 0x1f),
                                                .func = (uint8_t) ((hw >> 11) & 0x7),
                                        };
                                        d = topology_find_device(t, &a);
                                }
                        }
                        /* An IOMMU cannot remap its own interrupts (AMD-Vi's event log MSI is a plain
                         * PCI-MSI): it says nothing about the devices behind it, and it is not a device
                         * anyone assigns. */
                        if (d && d->is_iommu)
                                break;
                        if (c == MSI_CHIP_REMAPPED) {
                                seen_remapped = true;
                                if (d)
                                        d->interrupts = INTERRUPTS_SAFE;
                        } else {
                                seen_plain = true;
                                if (d)
                                        d->interrupts = INTERRUPTS_UNSAFE;
                        }
                        if (!h->interrupt_evidence)
                                h->interrupt_evidence =
                                        strndup(tok, suffix ? (size_t) (suffix - 1 - tok) : strlen(tok));
                        break;
                }
        }

        if (seen_remapped || seen_ir_ioapic)
                h->interrupt_remapping = TRISTATE_YES;
        else if (seen_plain || seen_ioapic)
                h->interrupt_remapping = TRISTATE_NO;
        if (!h->interrupt_evidence && (seen_ir_ioapic || seen_ioapic))
                h->interrupt_evidence = strdup(seen_ir_ioapic ? "IR-IO-APIC" : "IO-APIC");
}

static bool root_exists(const char *root, const char *path) {
        _cleanup_free_ char *p = NULL;
        return asprintf(&p, "%s%s", strempty(root), path) >= 0 && access(p, F_OK) >= 0;
}

static void load_host(Topology *t) {
        HostInfo *h = &t->host;
        bool vfio;

        assert(t);

        vfio = root_exists(t->root, "/sys/module/vfio");
        h->iommufd = root_exists(t->root, "/sys/module/iommufd") ? TRISTATE_YES : vfio ? TRISTATE_NO : TRISTATE_UNKNOWN;

        h->iommufd_allow_unsafe_interrupts = read_param(t->root, "iommufd", "allow_unsafe_interrupts");
        h->type1_allow_unsafe_interrupts = read_param(t->root, "vfio_iommu_type1", "allow_unsafe_interrupts");
        h->vfio_noiommu = read_param(t->root, "vfio", "enable_unsafe_noiommu_mode");
        h->interrupt_remapping = TRISTATE_UNKNOWN;

        (void) read_attr(t->root, &h->kernel_release, "/proc/sys/kernel/osrelease");
        if (read_attr(t->root, &h->cmdline, "/proc/cmdline") >= 0)
                parse_cmdline(h);
        load_interrupts(t);
}

/* ---- per-device interrupt safety --------------------------------------------------------- */

static void compute_interrupts(Topology *t) {
        const HostInfo *h = &t->host;

        assert(t);

        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                if (d->interrupts != INTERRUPTS_UNKNOWN)
                        continue; /* /proc/interrupts named this device's own MSI chip */
                /* A device without MSI capability is no safer: an MSI is only a DMA write to the
                 * doorbell and any bus master can issue one. So the host's state decides. */
                if (h->interrupt_remapping == TRISTATE_YES)
                        d->interrupts = INTERRUPTS_SAFE;
                else if (h->interrupt_remapping == TRISTATE_NO)
                        d->interrupts = INTERRUPTS_UNSAFE;
                else if (!topology_has_iommu(t))
                        d->interrupts = INTERRUPTS_UNSAFE; /* no IOMMU, so no remapping either */
        }
}

/* ---- public ------------------------------------------------------------------------------ */

int topology_load(const char *root, Topology **ret, char **reterr_message) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_free_ char *devices = NULL;
        struct stat st;
        int r;

        t = calloc(1, sizeof(Topology));
        if (!t)
                return -ENOMEM;
        if (isempty(root) || streq(root, "/"))
                t->root = strdup("");
        else {
                size_t n = strlen(root);
                while (n > 1 && root[n - 1] == '/')
                        n--;
                t->root = strndup(root, n);
        }
        if (!t->root)
                return -ENOMEM;

        devices = root_path(t->root, "/sys/bus/pci/devices");
        if (!devices)
                return -ENOMEM;
        if (stat(devices, &st) < 0 || !S_ISDIR(st.st_mode)) {
                r = errno == ENOENT || errno == 0 || !S_ISDIR(st.st_mode) ? -ENOTDIR : negative_errno();
                if (reterr_message && asprintf(reterr_message, "%s is missing or not a directory", devices) < 0)
                        *reterr_message = NULL;
                return r;
        }

        r = load_devices(t, reterr_message);
        if (r < 0)
                return r;
        r = load_groups(t);
        if (r < 0)
                return r;
        r = load_iommus(t);
        if (r < 0)
                return r;
        mark_iommu_devices(t);
        load_host(t);
        compute_interrupts(t);

        *ret = TAKE_PTR(t);
        return 0;
}

Topology *topology_free(Topology *t) {
        if (!t)
                return NULL;
        FOREACH_ARRAY(d, t->devices, t->n_devices)
                pci_device_done(d);
        free(t->devices);
        FOREACH_ARRAY(g, t->groups, t->n_groups) {
                free(g->type);
                strv_free(g->devices);
                free(g->regions);
        }
        free(t->groups);
        FOREACH_ARRAY(u, t->iommus, t->n_iommus) {
                free(u->name);
                free(u->device);
        }
        free(t->iommus);
        free(t->host.kernel_release);
        free(t->host.cmdline);
        free(t->host.cmdline_acs_override);
        free(t->host.interrupt_evidence);
        free(t->root);
        return mfree(t);
}

PciDevice *topology_find_device(const Topology *t, const PciAddress *a) {
        size_t lo = 0, hi = t->n_devices;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = pci_address_compare(&t->devices[mid].address, a);
                if (c == 0)
                        return &t->devices[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

IommuGroup *topology_find_group(const Topology *t, int id) {
        size_t lo = 0, hi = t->n_groups;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (t->groups[mid].id == id)
                        return &t->groups[mid];
                if (t->groups[mid].id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int topology_iommu_segment(const Topology *t, const char *iommu, uint32_t *ret_domain) {
        const IommuUnit *unit = NULL;
        bool found = false;
        uint32_t domain = 0;

        assert_return(t, -EINVAL);
        assert_return(ret_domain, -EINVAL);

        if (isempty(iommu))
                return 0;
        FOREACH_ARRAY(u, t->iommus, t->n_iommus)
                if (streq(u->name, iommu) || streq_ptr(u->device, iommu)) {
                        unit = u;
                        break;
                }
        if (!unit)
                return 0;
        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                if (!streq_ptr(d->iommu, unit->name))
                        continue;
                if (found && d->address.domain != domain)
                        return 0; /* one unit, several segments: the log line cannot say which */
                found = true;
                domain = d->address.domain;
        }
        if (!found)
                return 0;
        *ret_domain = domain;
        return 1;
}

int topology_note_isolated_msi(Topology *t, const PciAddress *bound) {
        const PciDevice *b;
        int n = 0;

        assert_return(t, -EINVAL);
        assert_return(bound, -EINVAL);

        b = topology_find_device(t, bound);
        if (!b || b->iommu_group < 0)
                return -ENODEV;
        if (read_param(t->root, "iommufd", "allow_unsafe_interrupts") != TRISTATE_NO)
                return 0;
        FOREACH_ARRAY(d, t->devices, t->n_devices)
                if (d->iommu_group == b->iommu_group && d->interrupts == INTERRUPTS_UNKNOWN) {
                        d->interrupts = INTERRUPTS_SAFE;
                        n++;
                }
        return n;
}

size_t topology_count_iommus(const Topology *t, IommuKind kind) {
        size_t n = 0;
        FOREACH_ARRAY(u, t->iommus, t->n_iommus)
                if (u->kind == kind)
                        n++;
        return n;
}

bool topology_has_iommu(const Topology *t) {
        FOREACH_ARRAY(u, t->iommus, t->n_iommus)
                if (u->kind != IOMMU_KIND_SELFTEST)
                        return true;
        /* Groups without a class/iommu entry (old kernels, some platforms) still mean an IOMMU, but
         * iommufd's self-test mock creates no PCI groups, so any PCI device with a group counts. */
        FOREACH_ARRAY(d, t->devices, t->n_devices)
                if (d->iommu_group >= 0)
                        return true;
        return false;
}

bool pci_device_is_bridge(const PciDevice *d) {
        return d->header_type == 1 || d->header_type == 2 || (d->class >> 8) == 0x0604;
}

bool pci_device_is_host_bridge(const PciDevice *d) {
        return (d->class >> 8) == 0x0600;
}

bool pci_device_is_endpoint(const PciDevice *d) {
        return !pci_device_is_bridge(d) && !pci_device_is_host_bridge(d) && !d->is_iommu;
}
