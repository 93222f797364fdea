/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The topology reader on real-kernel snapshots (tests/fixtures/sysfs, see its README) and on copies of
 * them with one thing changed. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "capture.h"
#include "strv.h"
#include "test-util.h"
#include "topology.h"

static Topology *load(const char *root) {
        Topology *t = NULL;
        char *msg = NULL;
        int r = topology_load(root, &t, &msg);
        if (r < 0)
                fprintf(stderr, "topology_load(%s): %d %s\n", root, r, msg ? msg : "");
        assert_int_equal(r, 0);
        free(msg);
        return t;
}

static const PciDevice *dev(const Topology *t, const char *slot) {
        PciAddress a;
        assert_int_equal(pci_address_parse(slot, &a), 0);
        const PciDevice *d = topology_find_device(t, &a);
        assert_non_null(d);
        return d;
}

static void test_default(void **state) {
        Topology *t = load(snapshot("default"));
        const PciDevice *d;
        IommuGroup *g;

        assert_int_equal(t->n_devices, 8);
        assert_int_equal(t->n_groups, 6);
        assert_true(topology_has_iommu(t));
        assert_int_equal(t->n_iommus, 1);
        assert_string_equal(t->iommus[0].name, "dmar0");
        assert_int_equal(t->iommus[0].kind, IOMMU_KIND_INTEL);
        assert_true(t->iommus[0].ecap & VTD_ECAP_IR);

        /* sorted by address */
        for (size_t i = 1; i < t->n_devices; i++)
                assert_true(pci_address_compare(&t->devices[i - 1].address, &t->devices[i].address) < 0);

        d = dev(t, "00:02.0");
        assert_string_equal(d->slot, "0000:00:02.0");
        assert_int_equal(d->vendor, 0x1234);
        assert_int_equal(d->device, 0x11e8);
        assert_int_equal(d->class, 0x00ff00);
        assert_null(d->driver);
        assert_int_equal(d->iommu_group, 1);
        assert_int_equal(d->can_reset, TRISTATE_NO);
        assert_null(d->parents);
        assert_true(d->has_msi);
        assert_false(d->has_msix);
        assert_int_equal(d->interrupts, INTERRUPTS_SAFE);
        assert_true(pci_device_is_endpoint(d));

        d = dev(t, "0000:00:04.0");
        assert_string_equal(d->driver, "e1000e");
        assert_int_equal(d->vendor, 0x8086);
        assert_int_equal(d->device, 0x10d3);
        assert_int_equal(d->class, 0x020000);
        assert_int_equal(d->can_reset, TRISTATE_YES);
        assert_true(strv_contains(d->reset_methods, "pm"));
        assert_int_equal(d->config_size, 4096);
        assert_true(d->pcie_type != PCIE_TYPE_NONE);
        assert_true(d->has_msix);

        d = dev(t, "00:00.0");
        assert_true(pci_device_is_host_bridge(d));
        assert_false(pci_device_is_endpoint(d));

        g = topology_find_group(t, 5);
        assert_non_null(g);
        assert_string_equal(g->type, "DMA");
        assert_int_equal(strv_length(g->devices), 3);
        assert_string_equal(g->devices[0], "0000:00:1f.0");
        /* x86 MSI window, and ISA's direct-relaxable range on the LPC group */
        assert_true(g->n_regions >= 2);
        bool msi = false, relax = false;
        FOREACH_ARRAY(r, g->regions, g->n_regions) {
                if (r->type == RESERVED_MSI && r->start == 0xfee00000 && r->end == 0xfeefffff)
                        msi = true;
                if (r->type == RESERVED_DIRECT_RELAXABLE && r->start == 0)
                        relax = true;
        }
        assert_true(msi);
        assert_true(relax);

        assert_int_equal(t->host.interrupt_remapping, TRISTATE_YES);
        assert_string_equal(t->host.interrupt_evidence, "IR-PCI-MSIX");
        assert_string_equal(t->host.kernel_release, "6.12.117");
        assert_false(t->host.cmdline_iommu_pt);
        assert_int_equal(t->host.iommufd_allow_unsafe_interrupts, TRISTATE_NO);
        assert_int_equal(t->host.vfio_noiommu, TRISTATE_NO);
        topology_free(t);
}

static void test_default_vfio(void **state) {
        Topology *t = load(snapshot("default-vfio"));
        const PciDevice *d = dev(t, "00:03.0");
        assert_string_equal(d->driver, "vfio-pci");
        assert_string_equal(d->vfio_dev, "vfio0");
        assert_null(dev(t, "00:02.0")->vfio_dev);
        topology_free(t);
}

static void test_bridge(void **state) {
        Topology *t = load(snapshot("bridge"));
        const PciDevice *d;

        d = dev(t, "02:01.0");
        assert_int_equal(strv_length(d->parents), 2);
        assert_string_equal(d->parents[0], "0000:01:00.0");
        assert_string_equal(d->parents[1], "0000:00:06.0");
        assert_int_equal(d->iommu_group, 6);
        assert_int_equal(strv_length(topology_find_group(t, 6)->devices), 3);

        d = dev(t, "01:00.0");
        assert_true(pci_device_is_bridge(d));
        assert_int_equal(d->pcie_type, PCI_EXP_TYPE_PCI_BRIDGE);

        d = dev(t, "00:06.0");
        assert_int_equal(d->pcie_type, PCI_EXP_TYPE_ROOT_PORT);
        assert_true(d->has_acs);
        assert_int_equal(d->acs_ctrl & 0x1d, 0x1d);

        d = dev(t, "00:07.0"); /* pcie-root-port,disable-acs=on */
        assert_int_equal(d->pcie_type, PCI_EXP_TYPE_ROOT_PORT);
        assert_false(d->has_acs);

        d = dev(t, "03:00.0"); /* virtio-rng-pci,ats=on below intel-iommu,device-iotlb=on */
        assert_true(d->has_ats);
        assert_true(d->ats_enabled);
        assert_string_equal(d->parents[0], "0000:00:07.0");
        topology_free(t);
}

static void test_virtio(void **state) {
        Topology *t = load(snapshot("virtio"));

        assert_int_equal(t->n_iommus, 1);
        assert_int_equal(t->iommus[0].kind, IOMMU_KIND_VIRTIO);
        assert_true(topology_has_iommu(t));
        assert_true(dev(t, "00:07.0")->is_iommu);
        assert_false(pci_device_is_endpoint(dev(t, "00:07.0")));
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_NO);
        assert_int_equal(dev(t, "00:05.0")->interrupts, INTERRUPTS_UNSAFE);
        /* unbound devices have no group yet under virtio-iommu */
        assert_int_equal(dev(t, "00:02.0")->iommu_group, -1);
        topology_free(t);
}

/* AMD-Vi (QEMU's amd-iommu): the IOMMU is a PCI function of its own, which signals its event log with a
 * plain PCI-MSI (an IOMMU cannot remap its own interrupts). That MSI is not evidence about the devices
 * behind it: they use IR-PCI-MSI(X), remapping is on, and the IOMMU function is not "unsafe". */
static void test_amd(void **state) {
        Topology *t = load(snapshot("amd"));

        assert_int_equal(t->n_iommus, 1);
        assert_int_equal(t->iommus[0].kind, IOMMU_KIND_AMD);
        assert_true(topology_has_iommu(t));
        assert_true(dev(t, "00:01.0")->is_iommu);
        assert_false(pci_device_is_endpoint(dev(t, "00:01.0")));
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_YES);
        assert_int_not_equal(dev(t, "00:01.0")->interrupts, INTERRUPTS_UNSAFE);
        assert_int_equal(dev(t, "00:05.0")->interrupts, INTERRUPTS_SAFE);
        assert_int_equal(dev(t, "00:02.0")->interrupts, INTERRUPTS_SAFE);
        FOREACH_ARRAY(d, t->devices, t->n_devices)
                assert_int_not_equal(d->interrupts, INTERRUPTS_UNSAFE);
        topology_free(t);
}

static void test_noiommu(void **state) {
        Topology *t = load(snapshot("noiommu"));
        assert_false(topology_has_iommu(t));
        assert_int_equal(t->n_groups, 0);
        FOREACH_ARRAY(d, t->devices, t->n_devices) {
                assert_int_equal(d->iommu_group, -1);
                assert_int_equal(d->interrupts, INTERRUPTS_UNSAFE);
        }
        topology_free(t);

        t = load(snapshot("noiommu-vfio-unsafe"));
        assert_int_equal(t->host.vfio_noiommu, TRISTATE_YES);
        topology_free(t);
}

static void test_passthrough(void **state) {
        Topology *t = load(snapshot("passthrough"));
        assert_true(t->host.cmdline_iommu_pt);
        FOREACH_ARRAY(g, t->groups, t->n_groups)
                assert_string_equal(g->type, "identity");
        topology_free(t);
}

static void test_nointremap(void **state) {
        Topology *t = load(snapshot("nointremap"));
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_NO);
        assert_false(t->iommus[0].ecap & VTD_ECAP_IR);
        assert_int_equal(dev(t, "00:02.0")->interrupts, INTERRUPTS_UNSAFE);
        assert_int_equal(t->host.iommufd_allow_unsafe_interrupts, TRISTATE_NO);
        topology_free(t);

        t = load(snapshot("nointremap-unsafe"));
        assert_int_equal(t->host.iommufd_allow_unsafe_interrupts, TRISTATE_YES);
        topology_free(t);
}

static void test_cmdline_switches(void **state) {
        char *root = snapshot_copy("default");
        Topology *t;

        snapshot_write(
                root, "/proc/cmdline",
                "BOOT_IMAGE=/vmlinuz root=UUID=x ro intel-iommu=on,sm_on iommu=pt intremap=off "
                "pcie_acs_override=downstream,multifunction iommu.strict=0 vfio_iommu_type1.allow_unsafe_interrupts=1\n");
        t = load(root);
        assert_true(t->host.cmdline_iommu_pt);
        assert_true(t->host.cmdline_intremap_off);
        assert_true(t->host.cmdline_lazy);
        assert_false(t->host.cmdline_iommu_off);
        assert_string_equal(t->host.cmdline_acs_override, "downstream,multifunction");
        /* the sysfs parameter (present, N) wins over the command line */
        assert_int_equal(t->host.type1_allow_unsafe_interrupts, TRISTATE_NO);
        topology_free(t);

        /* no sysfs parameter: the command line decides */
        snapshot_unlink(root, "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
        snapshot_write(root, "/proc/cmdline",
                       "iommu.passthrough=1 intel_iommu=off vfio_iommu_type1.allow_unsafe_interrupts=1\n");
        t = load(root);
        assert_true(t->host.cmdline_iommu_pt);
        assert_true(t->host.cmdline_iommu_off);
        assert_int_equal(t->host.type1_allow_unsafe_interrupts, TRISTATE_YES);
        topology_free(t);
        snapshot_remove(root);
}

static void test_interrupts_old_and_arm(void **state) {
        char *root = snapshot_copy("default");
        Topology *t;

        /* Before per-device MSI domains: no slot in the chip name; the hwirq encodes the requester
         * (pci_dev_id << 11): 00:04.0 is devfn 0x20, so 0x20 << 11 = 65536. 00:02.0 → 32768. */
        snapshot_write(root, "/proc/interrupts",
                       "           CPU0\n"
                       "  0:         66   IO-APIC   2-edge      timer\n"
                       " 24:          0   PCI-MSI 65536-edge      eth0\n"
                       " 25:          0   IR-PCI-MSI 32768-edge      edu\n");
        t = load(root);
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_YES);
        assert_int_equal(dev(t, "00:04.0")->interrupts, INTERRUPTS_UNSAFE);
        assert_int_equal(dev(t, "00:02.0")->interrupts, INTERRUPTS_SAFE);
        topology_free(t);

        snapshot_write(root, "/proc/interrupts",
                       "           CPU0       CPU1\n"
                       " 11:          0          0     GICv3  27 Level     arch_timer\n"
                       " 40:          0          0   ITS-PCI-MSIX-0000:00:04.0   0 Edge      eth0\n");
        t = load(root);
        assert_true(t->host.arch_arm_its);
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_YES);
        assert_int_equal(dev(t, "00:04.0")->interrupts, INTERRUPTS_SAFE);
        topology_free(t);

        snapshot_write(root, "/proc/interrupts",
                       "           CPU0\n"
                       " 40:          0   GICv2m-PCI-MSI 524288 Edge      eth0\n");
        t = load(root);
        assert_true(t->host.arch_arm_gicv2m);
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_NO);
        topology_free(t);

        /* No /proc/interrupts at all: unknown, never "safe". */
        snapshot_unlink(root, "/proc/interrupts");
        t = load(root);
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_UNKNOWN);
        assert_int_equal(dev(t, "00:02.0")->interrupts, INTERRUPTS_UNKNOWN);
        topology_free(t);
        snapshot_remove(root);
}

/* arm64 before 6.11 (synthetic snapshots, see tests/fixtures/sysfs/README.md): PCI MSIs show the
 * shared domain's chip, "ITS-MSI" or GICv2m's "MSI", with the hwirq and a capitalised trigger word. */
static void test_arm64_its(void **state) {
        Topology *t = load(snapshot("arm64-its"));

        assert_int_equal(topology_count_iommus(t, IOMMU_KIND_ARM_SMMU), 1);
        /* the unit's parent device, whose name prefixes the SMMU's log lines */
        assert_string_equal(t->iommus[0].device, "arm-smmu-v3.0.auto");
        assert_true(t->host.arch_arm_its);
        assert_false(t->host.arch_arm_gicv2m);
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_YES);
        /* named by their own lines (hwirq 65536 = 00:04.0, 81920 = 00:05.0) and by the host's ITS */
        assert_int_equal(dev(t, "00:04.0")->interrupts, INTERRUPTS_SAFE);
        assert_int_equal(dev(t, "00:05.0")->interrupts, INTERRUPTS_SAFE);
        assert_int_equal(dev(t, "00:03.0")->interrupts, INTERRUPTS_SAFE);
        topology_free(t);
}

static void test_arm64_gicv2m(void **state) {
        Topology *t = load(snapshot("arm64-gicv2m"));

        assert_true(t->host.arch_arm_gicv2m);
        assert_false(t->host.arch_arm_its);
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_NO);
        assert_string_equal(t->host.interrupt_evidence, "MSI");
        assert_int_equal(dev(t, "00:04.0")->interrupts, INTERRUPTS_UNSAFE);
        assert_int_equal(dev(t, "00:03.0")->interrupts, INTERRUPTS_UNSAFE);
        topology_free(t);
}

static void test_arm64_interrupt_names(void **state) {
        char *root = snapshot_copy("arm64-its");
        Topology *t;

        /* The hwirq decodes to the device before the host's state is applied: one GICv2m line among
         * ITS ones makes that device unsafe while the others stay safe. */
        snapshot_write(root, "/proc/interrupts",
                       "           CPU0\n"
                       " 15:          0  ITS-pMSI 16384 Edge      arm-smmu-v3-evtq\n"
                       " 17:          0       MSI 65536 Edge      eth0\n"
                       " 18:          0   ITS-MSI 81920 Edge      virtio0-config\n");
        t = load(root);
        assert_int_equal(dev(t, "00:04.0")->interrupts, INTERRUPTS_UNSAFE);
        assert_int_equal(dev(t, "00:05.0")->interrupts, INTERRUPTS_SAFE);
        topology_free(t);

        /* 6.11+: per-device MSI domains, the parent's prefix and the device in the chip name. */
        snapshot_write(root, "/proc/interrupts",
                       "           CPU0\n"
                       " 15:          0  ITS-pMSI-arm-smmu-v3.0.auto 16384 Edge      arm-smmu-v3-evtq\n"
                       " 17:          0  ITS-PCI-MSIX-0000:00:04.0   0 Edge      eth0\n"
                       " 18:          0  GICv2m-PCI-MSIX-0000:00:05.0   0 Edge      virtio0-config\n");
        t = load(root);
        assert_true(t->host.arch_arm_its);
        assert_true(t->host.arch_arm_gicv2m);
        assert_int_equal(dev(t, "00:04.0")->interrupts, INTERRUPTS_SAFE);
        assert_int_equal(dev(t, "00:05.0")->interrupts, INTERRUPTS_UNSAFE);
        topology_free(t);

        /* Platform MSIs through an ITS alone: the host's ITS decides, no PCI device is decoded from
         * their hwirq (16384 would be 00:01.0 if read as a PCI one). */
        snapshot_write(root, "/proc/interrupts",
                       "           CPU0\n"
                       " 15:          0  ITS-pMSI 16384 Edge      arm-smmu-v3-evtq\n");
        t = load(root);
        assert_int_equal(t->host.interrupt_remapping, TRISTATE_YES);
        assert_int_equal(dev(t, "00:04.0")->interrupts, INTERRUPTS_SAFE);
        topology_free(t);
        snapshot_remove(root);
}

static void test_note_isolated_msi(void **state) {
        /* No /proc/interrupts: every verdict unknown, until a bind with allow_unsafe_interrupts=N
         * proves the group's MSIs isolated. */
        char *root = snapshot_copy("arm64-its");
        PciAddress a;
        Topology *t;

        snapshot_unlink(root, "/proc/interrupts");
        snapshot_write(root, "/sys/module/iommufd/parameters/allow_unsafe_interrupts", "N\n");
        t = load(root);
        assert_int_equal(dev(t, "00:1f.2")->interrupts, INTERRUPTS_UNKNOWN);
        assert_int_equal(pci_address_parse("00:1f.2", &a), 0);
        assert_int_equal(topology_note_isolated_msi(t, &a), 3); /* group 5: 1f.0, 1f.2, 1f.3 */
        assert_int_equal(dev(t, "00:1f.0")->interrupts, INTERRUPTS_SAFE);
        assert_int_equal(dev(t, "00:1f.3")->interrupts, INTERRUPTS_SAFE);
        assert_int_equal(dev(t, "00:02.0")->interrupts, INTERRUPTS_UNKNOWN); /* another group */
        assert_int_equal(topology_note_isolated_msi(t, &a), 0);              /* nothing left to change */

        /* allow_unsafe_interrupts=Y: a bind proves nothing */
        snapshot_write(root, "/sys/module/iommufd/parameters/allow_unsafe_interrupts", "Y\n");
        assert_int_equal(pci_address_parse("00:02.0", &a), 0);
        assert_int_equal(topology_note_isolated_msi(t, &a), 0);
        assert_int_equal(dev(t, "00:02.0")->interrupts, INTERRUPTS_UNKNOWN);

        assert_int_equal(pci_address_parse("00:09.0", &a), 0);
        assert_int_equal(topology_note_isolated_msi(t, &a), -ENODEV);
        topology_free(t);
        snapshot_remove(root);
}

/* Loads a snapshot copy, then a capture of it, and runs the same checks on both: what the live system
 * shows, its capture must show too. */
static void check_root_and_capture(const char *root, void (*check)(const Topology *t)) {
        char *dir = strdup("/tmp/isolate-test.XXXXXX"), *cap = NULL, *failed = NULL;
        CaptureReport report = {};
        Topology *t;

        t = load(root);
        check(t);
        topology_free(t);

        assert_non_null(dir);
        assert_non_null(mkdtemp(dir));
        assert_int_equal(asprintf(&cap, "%s/capture", dir), (int) strlen(dir) + strlen("/capture"));
        assert_int_equal(capture_snapshot(root, cap, "test", &report, &failed), 0);
        assert_null(failed);
        capture_report_done(&report);

        t = load(cap);
        check(t);
        topology_free(t);

        free(cap);
        snapshot_remove(dir);
}

static void check_iommu_link(const Topology *t) {
        uint32_t domain = UINT32_MAX;

        assert_non_null(dev(t, "00:03.0")->iommu);
        assert_string_equal(dev(t, "00:03.0")->iommu, "dmar0");
        assert_null(dev(t, "00:02.0")->iommu);
        assert_int_equal(topology_iommu_segment(t, "dmar0", &domain), 1);
        assert_int_equal(domain, 0);
}

/* The "iommu" link names the unit a device sits behind; the DMAR fault attribution takes the segment
 * from it (topology_iommu_segment()). The 6.12 snapshots predate its capture, so it is added to a copy
 * of default the way the kernel has it, and a capture of that copy must read back the same. */
static void test_capture_iommu_link(void **state) {
        char *root = snapshot_copy("default");
        char path[4096];

        snprintf(path, sizeof(path), "%s/sys/devices/pci0000:00/0000:00:03.0/iommu", root);
        assert_int_equal(symlink("../../virtual/iommu/dmar0", path), 0);
        check_root_and_capture(root, check_iommu_link);
        snapshot_remove(root);
}

static void check_legacy_vfio(const Topology *t) {
        assert_int_equal(t->host.iommufd, TRISTATE_NO);
        assert_null(dev(t, "00:03.0")->vfio_dev);
        assert_string_equal(dev(t, "00:03.0")->driver, "vfio-pci");
}

/* Debian's 6.1: vfio is loaded but has no parameters (no CONFIG_VFIO_NOIOMMU), iommufd does not exist,
 * and vfio-dev/vfioN exists without a device cdev ("dev"). The live topology and its capture agree: the
 * kernel has no iommufd (not "unknown"), and the function has no VFIO device file. */
static void test_capture_legacy_vfio(void **state) {
        char *root = snapshot_copy("default-vfio");

        snapshot_rmtree(root, "/sys/module/iommufd");
        snapshot_rmtree(root, "/sys/module/vfio/parameters");
        snapshot_unlink(root, "/sys/devices/pci0000:00/0000:00:03.0/vfio-dev/vfio0/dev");
        check_root_and_capture(root, check_legacy_vfio);
        snapshot_remove(root);
}

static void test_unprivileged_config(void **state) {
        /* An unprivileged reader sees 64 bytes of config space: capabilities are unknown, not absent. */
        char *root = snapshot_copy("bridge");
        char path[4096];
        Topology *t;

        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:00:07.0/config", root);
        assert_int_equal(truncate(path, 64), 0);
        t = load(root);
        assert_int_equal(dev(t, "00:07.0")->config_size, 64);
        assert_false(dev(t, "00:07.0")->has_acs);
        assert_int_equal(dev(t, "00:07.0")->pcie_type, PCIE_TYPE_NONE);
        topology_free(t);
        snapshot_remove(root);
}

static void test_not_a_snapshot(void **state) {
        Topology *t = NULL;
        char *msg = NULL;

        assert_int_equal(topology_load("/nonexistent-root", &t, &msg), -ENOTDIR);
        assert_null(t);
        assert_non_null(strstr(msg, "/nonexistent-root/sys/bus/pci/devices"));
        free(msg);
        msg = NULL;

        /* a directory that is not a snapshot */
        assert_int_equal(topology_load(fixtures_dir(), &t, &msg), -ENOTDIR);
        free(msg);
}

static void test_broken_snapshot(void **state) {
        /* A device without its mandatory "vendor" file: libpci raises a fatal error, which must come
         * back as -EIO with libpci's message instead of ending the process. */
        char *root = snapshot_copy("default");
        Topology *t = NULL;
        char *msg = NULL;

        snapshot_unlink(root, "/sys/bus/pci/devices/0000:00:02.0/vendor");
        assert_int_equal(topology_load(root, &t, &msg), -EIO);
        assert_null(t);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "0000:00:02.0/vendor"));
        free(msg);
        msg = NULL;

        /* and the next load in the same process works */
        t = load(snapshot("default"));
        topology_free(t);
        snapshot_remove(root);
}

static void test_reset_attribute_fallback(void **state) {
        /* Kernels before 5.15 have no reset_method; the write-only "reset" marks a resettable device. */
        char *root = snapshot_copy("default");
        Topology *t;

        snapshot_unlink(root, "/sys/bus/pci/devices/0000:00:04.0/reset_method");
        snapshot_unlink(root, "/sys/bus/pci/devices/0000:00:04.0/reset");
        t = load(root);
        assert_int_equal(dev(t, "00:04.0")->can_reset, TRISTATE_NO);
        topology_free(t);

        snapshot_write(root, "/sys/bus/pci/devices/0000:00:04.0/reset", "");
        t = load(root);
        assert_int_equal(dev(t, "00:04.0")->can_reset, TRISTATE_YES);
        assert_null(dev(t, "00:04.0")->reset_methods);
        topology_free(t);
        snapshot_remove(root);
}

static void test_selftest_mock_is_no_iommu(void **state) {
        char *root = snapshot_copy("noiommu");
        char path[4096];
        Topology *t;

        snprintf(path, sizeof(path), "%s/sys/class/iommu/iommufd_selftest_iommu.0", root);
        assert_int_equal(run_cmd("mkdir -p '%s'%s", path, ""), 0);
        t = load(root);
        assert_int_equal(t->n_iommus, 1);
        assert_int_equal(t->iommus[0].kind, IOMMU_KIND_SELFTEST);
        assert_false(topology_has_iommu(t));
        topology_free(t);
        snapshot_remove(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_default),
                cmocka_unit_test(test_default_vfio),
                cmocka_unit_test(test_bridge),
                cmocka_unit_test(test_virtio),
                cmocka_unit_test(test_noiommu),
                cmocka_unit_test(test_passthrough),
                cmocka_unit_test(test_nointremap),
                cmocka_unit_test(test_amd),
                cmocka_unit_test(test_cmdline_switches),
                cmocka_unit_test(test_interrupts_old_and_arm),
                cmocka_unit_test(test_arm64_its),
                cmocka_unit_test(test_arm64_gicv2m),
                cmocka_unit_test(test_arm64_interrupt_names),
                cmocka_unit_test(test_note_isolated_msi),
                cmocka_unit_test(test_capture_iommu_link),
                cmocka_unit_test(test_capture_legacy_vfio),
                cmocka_unit_test(test_unprivileged_config),
                cmocka_unit_test(test_not_a_snapshot),
                cmocka_unit_test(test_broken_snapshot),
                cmocka_unit_test(test_reset_attribute_fallback),
                cmocka_unit_test(test_selftest_mock_is_no_iommu),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
