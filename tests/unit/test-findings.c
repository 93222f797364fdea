/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every audit finding, positive and negative, on real-kernel snapshots (tests/fixtures/sysfs) and on
 * copies of them with one thing changed. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fault-attribution.h"
#include "findings.h"
#include "strv.h"
#include "test-util.h"

typedef struct Audit {
        Topology *t;
        Findings f;
        FaultCounts faults;
        bool have_faults;
} Audit;

static void audit_root(const char *root, Audit *a) {
        char *msg = NULL;
        *a = (Audit) {};
        assert_int_equal(topology_load(root, &a->t, &msg), 0);
        a->have_faults = fault_counts_from_kmsg(a->t->root, &a->faults) >= 0;
        assert_int_equal(findings_collect(a->t, a->have_faults ? &a->faults : NULL, &a->f), 0);
}

static void audit_done(Audit *a) {
        findings_done(&a->f);
        fault_counts_done(&a->faults);
        topology_free(a->t);
}

/* The finding with that id that lists the device (device NULL: any finding with that id). */
static const Finding *find(const Audit *a, const char *id, const char *device) {
        FOREACH_ARRAY(x, a->f.items, a->f.n)
                if (streq(x->id, id) && (!device || strv_contains(x->devices, device)))
                        return x;
        return NULL;
}

static void expect(const Audit *a, const char *id, const char *device, Severity sev) {
        const Finding *x = find(a, id, device);
        if (!x)
                fail_msg("expected finding %s for %s", id, device ? device : "(host)");
        assert_int_equal(x->severity, sev);
        assert_non_null(x->summary);
        assert_true(strlen(x->detail) > 40);
        assert_true(strlen(x->fix) > 20);
}

static void expect_none(const Audit *a, const char *id, const char *device) {
        const Finding *x = find(a, id, device);
        if (x)
                fail_msg("unexpected finding %s for %s: %s", id, device ? device : "(any)", x->detail);
}

static void with_snapshot(const char *name, void (*check)(const Audit *a)) {
        Audit a;
        audit_root(snapshot(name), &a);
        check(&a);
        audit_done(&a);
}

/* ---- arm64 (synthetic snapshots) ---- */

static void check_arm64_its(const Audit *a) {
        expect_none(a, "msi-not-isolated", NULL);
        expect_none(a, "interrupt-remapping-off", NULL);
}

static void check_arm64_gicv2m(const Audit *a) {
        const Finding *x = find(a, "msi-not-isolated", "0000:00:04.0");
        expect(a, "msi-not-isolated", "0000:00:04.0", SEVERITY_CRITICAL);
        assert_non_null(strstr(x->detail, "GICv2m"));
        /* an x86 finding: the GIC has no remapping to switch on */
        expect_none(a, "interrupt-remapping-off", NULL);
}

static void test_arm64(void **state) {
        with_snapshot("arm64-its", check_arm64_its);
        with_snapshot("arm64-gicv2m", check_arm64_gicv2m);
}

/* ---- no-iommu ---- */

static void check_noiommu(const Audit *a) {
        expect(a, "no-iommu", "0000:00:02.0", SEVERITY_CRITICAL);
        /* no-iommu says it all: no separate interrupt or group findings */
        expect_none(a, "interrupt-remapping-off", NULL);
        expect_none(a, "msi-not-isolated", NULL);
        expect_none(a, "no-iommu-group", NULL);
        expect_none(a, "vfio-noiommu", NULL);
        assert_int_equal(findings_max_severity(&a->f), SEVERITY_CRITICAL);
}

static void check_default(const Audit *a) {
        expect_none(a, "no-iommu", NULL);
        expect_none(a, "no-iommu-group", NULL);
        expect_none(a, "interrupt-remapping-off", NULL);
        expect_none(a, "msi-not-isolated", NULL);
        expect_none(a, "allow-unsafe-interrupts", NULL);
        expect_none(a, "vfio-noiommu", NULL);
        expect_none(a, "identity-domain", NULL);
        expect_none(a, "acs-override", NULL);
        expect_none(a, "acs-missing", NULL);
        expect_none(a, "ats-enabled", NULL);
        expect_none(a, "untrusted-port", NULL);
        expect_none(a, "dma-faults", NULL);
        expect_none(a, "legacy-vfio", NULL);
        /* the ICH9 functions share a group; the edus are alone */
        expect(a, "multi-device-group", "0000:00:1f.2", SEVERITY_WARNING);
        expect_none(a, "multi-device-group", "0000:00:02.0");
        /* edu has no reset; e1000e has PM reset; the host bridge is not an endpoint */
        expect(a, "no-reset-method", "0000:00:02.0", SEVERITY_WARNING);
        expect_none(a, "no-reset-method", "0000:00:04.0");
        expect_none(a, "no-reset-method", "0000:00:00.0");
        assert_true(findings_max_severity(&a->f) < SEVERITY_HIGH);
}

static void test_no_iommu(void **state) {
        with_snapshot("noiommu", check_noiommu);
        with_snapshot("default", check_default);
}

static void check_vfio_noiommu(const Audit *a) {
        expect(a, "vfio-noiommu", NULL, SEVERITY_CRITICAL);
        assert_null(find(a, "vfio-noiommu", NULL)->devices);
}

static void test_vfio_noiommu(void **state) {
        with_snapshot("noiommu-vfio-unsafe", check_vfio_noiommu);
}

/* ---- interrupts ---- */

static void check_nointremap(const Audit *a) {
        expect(a, "interrupt-remapping-off", NULL, SEVERITY_CRITICAL);
        expect(a, "msi-not-isolated", "0000:00:02.0", SEVERITY_CRITICAL);
        expect_none(a, "allow-unsafe-interrupts", NULL);
        const Finding *x = find(a, "interrupt-remapping-off", NULL);
        assert_non_null(strstr(x->detail, "allow_unsafe_interrupts"));
        assert_non_null(strstr(x->fix, "intremap"));
}

static void check_nointremap_unsafe(const Audit *a) {
        expect(a, "allow-unsafe-interrupts", NULL, SEVERITY_HIGH);
        assert_non_null(strstr(find(a, "allow-unsafe-interrupts", NULL)->detail, "iommufd"));
        expect(a, "interrupt-remapping-off", NULL, SEVERITY_CRITICAL);
}

static void check_virtio(const Audit *a) {
        const Finding *x = find(a, "msi-not-isolated", "0000:00:05.0");
        assert_non_null(x);
        assert_int_equal(x->severity, SEVERITY_CRITICAL);
        assert_non_null(strstr(x->detail, "virtio-iommu"));
        assert_non_null(strstr(x->fix, "intel-iommu"));
        /* virtio-iommu has no interrupt remapping at all; the finding is about MSI isolation */
        expect_none(a, "interrupt-remapping-off", NULL);
        /* the virtio-iommu function itself is not a device to isolate */
        expect_none(a, "msi-not-isolated", "0000:00:07.0");
        expect_none(a, "no-reset-method", "0000:00:07.0");
        /* unbound devices get their group when a driver binds (virtio-iommu probes at dma_configure) */
        expect_none(a, "no-iommu-group", "0000:00:02.0");
        expect_none(a, "no-iommu", NULL);
}

static void test_interrupts(void **state) {
        with_snapshot("nointremap", check_nointremap);
        with_snapshot("nointremap-unsafe", check_nointremap_unsafe);
        with_snapshot("virtio", check_virtio);
}

static void test_intremap_off_cmdline(void **state) {
        /* intremap=off on the command line is reported even if /proc/interrupts is not available */
        char *root = snapshot_copy("default");
        Audit a;

        snapshot_write(root, "/proc/cmdline", "intel_iommu=on intremap=off\n");
        snapshot_unlink(root, "/proc/interrupts");
        audit_root(root, &a);
        expect(&a, "interrupt-remapping-off", NULL, SEVERITY_CRITICAL);
        assert_non_null(strstr(find(&a, "interrupt-remapping-off", NULL)->detail, "intremap=off"));
        audit_done(&a);
        snapshot_remove(root);
}

static void test_allow_unsafe_type1(void **state) {
        char *root = snapshot_copy("default");
        Audit a;

        snapshot_write(root, "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n");
        audit_root(root, &a);
        expect(&a, "allow-unsafe-interrupts", NULL, SEVERITY_HIGH);
        assert_non_null(strstr(find(&a, "allow-unsafe-interrupts", NULL)->detail, "vfio_iommu_type1"));
        audit_done(&a);
        snapshot_remove(root);
}

static void test_legacy_vfio(void **state) {
        /* Debian's 6.1: vfio is loaded, iommufd does not exist */
        char *root = snapshot_copy("default");
        Audit a;

        snapshot_rmtree(root, "/sys/module/iommufd");
        audit_root(root, &a);
        expect(&a, "legacy-vfio", NULL, SEVERITY_WARNING);
        assert_non_null(strstr(find(&a, "legacy-vfio", NULL)->detail, "empty paging domain"));
        assert_non_null(strstr(find(&a, "legacy-vfio", NULL)->detail, "ATS"));
        audit_done(&a);
        /* and nothing about it where there is no IOMMU at all (no-iommu says what matters there) */
        snapshot_remove(root);
        root = snapshot_copy("noiommu");
        snapshot_rmtree(root, "/sys/module/iommufd");
        audit_root(root, &a);
        expect_none(&a, "legacy-vfio", NULL);
        audit_done(&a);
        snapshot_remove(root);
}

/* ---- domains and groups ---- */

static void check_passthrough(const Audit *a) {
        expect(a, "identity-domain", "0000:00:02.0", SEVERITY_HIGH);
        assert_non_null(strstr(find(a, "identity-domain", NULL)->detail, "iommu=pt"));
        expect_none(a, "identity-domain", "0000:00:00.0");
}

static void test_identity(void **state) {
        with_snapshot("passthrough", check_passthrough);
}

static void test_no_group(void **state) {
        char *root = snapshot_copy("default");
        Audit a;

        snapshot_unlink(root, "/sys/bus/pci/devices/0000:00:02.0/iommu_group");
        audit_root(root, &a);
        expect(&a, "no-iommu-group", "0000:00:02.0", SEVERITY_HIGH);
        expect_none(&a, "no-iommu-group", "0000:00:03.0");
        expect_none(&a, "no-iommu", NULL);
        audit_done(&a);
        snapshot_remove(root);
}

static void check_bridge(const Audit *a) {
        const Finding *x = find(a, "multi-device-group", "0000:02:01.0");
        assert_non_null(x);
        assert_int_equal(x->severity, SEVERITY_WARNING);
        assert_true(strv_contains(x->devices, "0000:02:02.0"));
        assert_true(strv_contains(x->devices, "0000:01:00.0"));
        assert_non_null(strstr(x->detail, "PCIe-to-PCI bridge"));

        /* root port 00:07.0 was started with disable-acs=on; 00:06.0 has full ACS */
        x = find(a, "acs-missing", "0000:00:07.0");
        assert_non_null(x);
        assert_int_equal(x->severity, SEVERITY_WARNING);
        assert_true(strv_contains(x->devices, "0000:03:00.0"));
        assert_non_null(strstr(x->detail, "no ACS capability"));
        expect_none(a, "acs-missing", "0000:00:06.0");
        /* the group {root port, virtio-rng} has a single endpoint: not a multi-device group */
        expect_none(a, "multi-device-group", "0000:03:00.0");

        expect(a, "ats-enabled", "0000:03:00.0", SEVERITY_INFO);
        expect_none(a, "ats-enabled", "0000:02:01.0");
        /* 02:01.0 can be reset through the bridge's bus; 02:02.0 cannot */
        expect_none(a, "no-reset-method", "0000:02:01.0");
        expect(a, "no-reset-method", "0000:02:02.0", SEVERITY_WARNING);
}

static void test_bridge(void **state) {
        with_snapshot("bridge", check_bridge);
}

static void test_acs_partial(void **state) {
        /* ACS present but without upstream forwarding (0x1d → 0x0d): still a finding, worded so */
        char *root = snapshot_copy("bridge");
        Topology *t;
        Audit a;
        char *msg = NULL;
        uint8_t ctrl[2] = { 0x0d, 0x00 };

        assert_int_equal(topology_load(root, &t, &msg), 0);
        PciAddress addr = { 0, 0, 6, 0 };
        const PciDevice *port = topology_find_device(t, &addr);
        assert_true(port->has_acs);
        topology_free(t);
        /* find the ACS extended capability offset by walking the saved config */
        char path[4096];
        snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:00:06.0/config", root);
        FILE *f = fopen(path, "re");
        uint8_t cfg[4096];
        assert_int_equal(fread(cfg, 1, sizeof(cfg), f), 4096);
        fclose(f);
        unsigned off = 0x100, acs = 0;
        while (off) {
                uint32_t h = cfg[off] | cfg[off + 1] << 8 | cfg[off + 2] << 16 | (uint32_t) cfg[off + 3] << 24;
                if ((h & 0xffff) == 0x000d) {
                        acs = off;
                        break;
                }
                off = h >> 20;
        }
        assert_true(acs > 0);
        snapshot_patch_config(root, "0000:00:06.0", acs + 6, ctrl, 2);

        audit_root(root, &a);
        const Finding *x = find(&a, "acs-missing", "0000:00:06.0");
        assert_non_null(x);
        assert_non_null(strstr(x->detail, "does not enable"));
        assert_true(strv_contains(x->devices, "0000:02:01.0"));
        audit_done(&a);
        snapshot_remove(root);
}

static void test_acs_override(void **state) {
        char *root = snapshot_copy("default");
        Audit a;

        snapshot_write(root, "/proc/cmdline", "intel_iommu=on pcie_acs_override=downstream,multifunction\n");
        audit_root(root, &a);
        expect(&a, "acs-override", NULL, SEVERITY_HIGH);
        assert_non_null(strstr(find(&a, "acs-override", NULL)->detail, "downstream,multifunction"));
        audit_done(&a);
        snapshot_remove(root);
}

static void test_untrusted(void **state) {
        char *root = snapshot_copy("default");
        Audit a;

        snapshot_write(root, "/sys/bus/pci/devices/0000:00:04.0/removable", "removable\n");
        snapshot_write(root, "/sys/bus/pci/devices/0000:00:02.0/removable", "fixed\n");
        audit_root(root, &a);
        expect(&a, "untrusted-port", "0000:00:04.0", SEVERITY_INFO);
        expect_none(&a, "untrusted-port", "0000:00:02.0");
        audit_done(&a);
        snapshot_remove(root);
}

/* ---- held devices weigh more ---- */

static void check_default_vfio(const Audit *a) {
        /* 00:03.0 is on vfio-pci: its no-reset finding rises to high, the others stay warnings */
        const Finding *held = find(a, "no-reset-method", "0000:00:03.0");
        const Finding *other = find(a, "no-reset-method", "0000:00:02.0");
        assert_non_null(held);
        assert_non_null(other);
        assert_ptr_not_equal(held, other);
        assert_int_equal(held->severity, SEVERITY_HIGH);
        assert_int_equal(other->severity, SEVERITY_WARNING);
        assert_int_equal(strv_length(held->devices), 1);
        /* sorted: most severe first */
        for (size_t i = 1; i < a->f.n; i++)
                assert_true(a->f.items[i - 1].severity >= a->f.items[i].severity);
}

static void test_held_raises(void **state) {
        with_snapshot("default-vfio", check_default_vfio);
}

/* ---- DMA faults from the kernel log ---- */

static void test_dma_faults(void **state) {
        char *root = snapshot_copy("default");
        Audit a;

        snapshot_write(
                root, "/dev/kmsg",
                "3,1201,81234567,-;DMAR: DRHD: handling fault status reg 2\n"
                "3,1202,81234590,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set\n"
                "3,1203,81334590,-;DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x2000 [fault reason 0x05] PTE Write access is not set\n"
                "6,1204,81434590,-;e1000e 0000:00:04.0 eth0: NIC Link is Up\n"
                "4,1205,81534590,-;dmar_fault: 5 callbacks suppressed\n");
        audit_root(root, &a);
        assert_true(a.have_faults);
        assert_true(a.faults.suppressed);
        const Finding *x = find(&a, "dma-faults", "0000:00:02.0");
        assert_non_null(x);
        assert_int_equal(x->severity, SEVERITY_HIGH);
        assert_non_null(strstr(x->detail, "2 DMA faults (1 read, 1 write)"));
        assert_non_null(strstr(x->detail, "0x2000"));
        assert_non_null(strstr(x->detail, "lower") ?: strstr(x->detail, "higher"));
        expect_none(&a, "dma-faults", "0000:00:04.0");
        audit_done(&a);
        snapshot_remove(root);

        with_snapshot("default", check_default); /* an empty log: no dma-faults */
}

static void check_default_faults(const Audit *a) {
        /* real DMAR lines from the kernel (captured in the VM tier): a read at 0x1000, a write at 0x2000 */
        const Finding *x = find(a, "dma-faults", "0000:00:03.0");
        assert_true(a->have_faults);
        assert_non_null(x);
        assert_int_equal(x->severity, SEVERITY_HIGH);
        assert_non_null(strstr(x->detail, "2 DMA faults (1 read, 1 write)"));
        assert_non_null(strstr(x->detail, "0x2000"));
        assert_non_null(strstr(x->detail, "PTE Write access is not set"));
        expect_none(a, "dma-faults", "0000:00:02.0");
}

static void test_dma_faults_real_kernel(void **state) {
        with_snapshot("default-faults", check_default_faults);
}

/* ---- attributing a fault's requester ID (dma_fault_attribute) ---- */

static PciAddress addr(uint32_t domain, uint8_t bus, uint8_t slot, uint8_t func) {
        return (PciAddress) { .domain = domain, .bus = bus, .slot = slot, .func = func };
}

/* Attributes and checks the return value and the slots (NULL-terminated list of expected slots). */
static void expect_attribution(const Topology *t, PciAddress a, bool has_domain, int kind, ...) {
        char **slots = NULL, **want = NULL;
        const char *s;
        va_list ap;

        va_start(ap, kind);
        while ((s = va_arg(ap, const char *)))
                assert_int_equal(strv_extend(&want, s), 0);
        va_end(ap);
        assert_int_equal(dma_fault_attribute(t, &a, has_domain, &slots), kind);
        if (!want)
                assert_null(slots);
        else {
                _cleanup_free_ char *got = strv_join(slots, " "), *exp = strv_join(want, " ");
                assert_string_equal(got, exp);
        }
        strv_free(slots);
        strv_free(want);
}

static void test_attribute_bridge_snapshot(void **state) {
        Topology *t;
        char *msg = NULL;

        /* 00:06.0 root port → 01:00.0 PCIe-to-PCI bridge → 02:01.0 edu, 02:02.0 virtio-rng;
         * 00:07.0 root port → 03:00.0 virtio-rng */
        assert_int_equal(topology_load(snapshot("bridge"), &t, &msg), 0);
        assert_int_equal(topology_find_device(t, &(PciAddress) { 0, 1, 0, 0 })->pcie_type, PCI_EXP_TYPE_PCI_BRIDGE);

        /* domain given */
        expect_attribution(t, addr(0, 3, 0, 0), true, DMA_FAULT_FUNCTION, "0000:03:00.0", NULL);
        expect_attribution(t, addr(1, 3, 0, 0), true, DMA_FAULT_UNATTRIBUTED, NULL);
        /* no domain (Intel): domain 0 hit; the domain field is ignored */
        expect_attribution(t, addr(0, 3, 0, 0), false, DMA_FAULT_FUNCTION, "0000:03:00.0", NULL);
        expect_attribution(t, addr(7, 0, 2, 0), false, DMA_FAULT_FUNCTION, "0000:00:02.0", NULL);
        /* a device behind the PCIe-to-PCI bridge by its own ID (as PCI-X can): itself */
        expect_attribution(t, addr(0, 2, 1, 0), false, DMA_FAULT_FUNCTION, "0000:02:01.0", NULL);
        /* the bridge's alias (secondary bus 02, devfn 00.0): every device behind it */
        expect_attribution(t, addr(0, 2, 0, 0), false, DMA_FAULT_BRIDGE_ALIAS, "0000:02:01.0", "0000:02:02.0", NULL);
        expect_attribution(t, addr(0, 2, 0, 0), true, DMA_FAULT_BRIDGE_ALIAS, "0000:02:01.0", "0000:02:02.0", NULL);
        /* the alias in another domain is no device of this machine */
        expect_attribution(t, addr(1, 2, 0, 0), true, DMA_FAULT_UNATTRIBUTED, NULL);
        /* 01:00.0 sits behind a PCIe root port, which does not alias: the bridge itself */
        expect_attribution(t, addr(0, 1, 0, 0), false, DMA_FAULT_FUNCTION, "0000:01:00.0", NULL);
        /* unattributable: no such function, and not devfn 00.0 of a bridge's secondary bus */
        expect_attribution(t, addr(0, 2, 3, 0), false, DMA_FAULT_UNATTRIBUTED, NULL);
        expect_attribution(t, addr(0, 2, 0, 1), false, DMA_FAULT_UNATTRIBUTED, NULL);
        expect_attribution(t, addr(0, 5, 0, 0), false, DMA_FAULT_UNATTRIBUTED, NULL);
        expect_attribution(t, addr(0, 0x42, 0, 0), true, DMA_FAULT_UNATTRIBUTED, NULL);

        /* A function at 00.0 of the secondary bus is the requester itself (counts the daemon attributed
         * once stay with it): make 02:01.0 a 02:00.0 (the array stays sorted). */
        PciDevice *edu = topology_find_device(t, &(PciAddress) { 0, 2, 1, 0 });
        edu->address.slot = 0;
        strcpy(edu->slot, "0000:02:00.0");
        expect_attribution(t, addr(0, 2, 0, 0), false, DMA_FAULT_FUNCTION, "0000:02:00.0", NULL);
        expect_attribution(t, addr(0, 2, 0, 0), true, DMA_FAULT_FUNCTION, "0000:02:00.0", NULL);
        edu->address.slot = 1;
        strcpy(edu->slot, "0000:02:01.0");
        /* a bridge of unknown PCIe type (config space unreadable) is taken to alias too; a PCIe bridge
         * (the root port above 01:00.0) does not */
        topology_find_device(t, &(PciAddress) { 0, 1, 0, 0 })->pcie_type = PCIE_TYPE_NONE;
        expect_attribution(t, addr(0, 2, 0, 0), false, DMA_FAULT_BRIDGE_ALIAS, "0000:02:01.0", "0000:02:02.0", NULL);
        topology_find_device(t, &(PciAddress) { 0, 1, 0, 0 })->pcie_type = PCI_EXP_TYPE_DOWNSTREAM;
        expect_attribution(t, addr(0, 2, 0, 0), false, DMA_FAULT_UNATTRIBUTED, NULL);
        topology_free(t);
}

static void test_attribute_domains(void **state) {
        /* A machine with PCI segments 0, 1 and 2 (made up: no snapshot has several), sorted by address. */
        char *behind1[] = { (char *) "0001:10:00.0", NULL },
             *deeper1[] = { (char *) "0001:11:04.0", (char *) "0001:10:00.0", NULL };
        PciDevice d[] = {
                { .address = { 0, 0, 2, 0 }, .slot = "0000:00:02.0", .pcie_type = PCIE_TYPE_NONE },
                { .address = { 1, 0, 2, 0 }, .slot = "0001:00:02.0", .pcie_type = PCIE_TYPE_NONE },
                { .address = { 1, 3, 0, 0 }, .slot = "0001:03:00.0", .pcie_type = PCIE_TYPE_NONE },
                { .address = { 1, 5, 0, 0 }, .slot = "0001:05:00.0", .pcie_type = PCIE_TYPE_NONE },
                { .address = { 1, 0x10, 0, 0 },
                  .slot = "0001:10:00.0",
                  .header_type = 1,
                  .class = 0x060400,
                  .pcie_type = PCI_EXP_TYPE_PCI_BRIDGE },
                { .address = { 1, 0x11, 4, 0 },
                  .slot = "0001:11:04.0",
                  .header_type = 1,
                  .class = 0x060400,
                  .pcie_type = PCIE_TYPE_NONE,
                  .parents = behind1 },
                { .address = { 1, 0x11, 5, 0 },
                  .slot = "0001:11:05.0",
                  .pcie_type = PCIE_TYPE_NONE,
                  .parents = behind1 },
                { .address = { 1, 0x12, 0, 0 },
                  .slot = "0001:12:00.0",
                  .pcie_type = PCIE_TYPE_NONE,
                  .parents = deeper1 },
                { .address = { 2, 5, 0, 0 }, .slot = "0002:05:00.0", .pcie_type = PCIE_TYPE_NONE },
        };
        Topology t = { .root = (char *) "", .devices = d, .n_devices = ELEMENTSOF(d) };

        /* no domain, none in domain 0, the one match in another domain */
        expect_attribution(&t, addr(0, 3, 0, 0), false, DMA_FAULT_FUNCTION, "0001:03:00.0", NULL);
        /* domain given */
        expect_attribution(&t, addr(1, 3, 0, 0), true, DMA_FAULT_FUNCTION, "0001:03:00.0", NULL);
        expect_attribution(&t, addr(0, 3, 0, 0), true, DMA_FAULT_UNATTRIBUTED, NULL);
        expect_attribution(&t, addr(2, 5, 0, 0), true, DMA_FAULT_FUNCTION, "0002:05:00.0", NULL);
        /* no domain, none in domain 0, one in domain 1 and one in domain 2: ambiguous */
        expect_attribution(&t, addr(0, 5, 0, 0), false, DMA_FAULT_UNATTRIBUTED, NULL);
        /* no domain, domain 0 wins over the others (00:02.0 is in domains 0 and 1) */
        expect_attribution(&t, addr(0, 0, 2, 0), false, DMA_FAULT_FUNCTION, "0000:00:02.0", NULL);
        expect_attribution(&t, addr(1, 0, 2, 0), true, DMA_FAULT_FUNCTION, "0001:00:02.0", NULL);
        /* a bridge alias found without a domain: the whole subtree, behind the conventional bridge too */
        expect_attribution(&t, addr(0, 0x11, 0, 0), false, DMA_FAULT_BRIDGE_ALIAS, "0001:11:04.0", "0001:11:05.0",
                           "0001:12:00.0", NULL);
        expect_attribution(&t, addr(1, 0x11, 0, 0), true, DMA_FAULT_BRIDGE_ALIAS, "0001:11:04.0", "0001:11:05.0",
                           "0001:12:00.0", NULL);
        expect_attribution(&t, addr(2, 0x11, 0, 0), true, DMA_FAULT_UNATTRIBUTED, NULL);
        /* 12:00.0 is behind a bridge of unknown PCIe type: a function at 00.0 there is the requester itself */
        expect_attribution(&t, addr(0, 0x12, 0, 0), false, DMA_FAULT_FUNCTION, "0001:12:00.0", NULL);
}

/* ---- the PCI segment from the IOMMU unit that logged a fault ---- */

/* A second segment made up in a copy of a snapshot: 0001:00:SLOT copied from 0000:00:SLOT, behind a
 * second unit; every function linked to its unit ("iommu" links, which snapshots do not carry). */
static void add_segment(const char *root, const char *slot, const char *unit0_dir, const char *unit1_dir) {
        char cmd[4096];
        const char *u1 = strrchr(unit1_dir, '/') + 1;

        snprintf(cmd, sizeof(cmd),
                 "cd '%%s'%%s && mkdir -p sys/devices/pci0001:00 && "
                 "cp -a sys/devices/pci0000:00/0000:00:%s sys/devices/pci0001:00/0001:00:%s && "
                 "ln -s ../../../devices/pci0001:00/0001:00:%s sys/bus/pci/devices/0001:00:%s && "
                 "mkdir -p %s && ln -s ../../%s sys/class/iommu/%s && "
                 "for d in sys/devices/pci0000:00/*; do ln -s ../../%s $d/iommu; done && "
                 "ln -s ../../%s sys/devices/pci0001:00/0001:00:%s/iommu",
                 slot, slot, slot, slot, unit1_dir, unit1_dir + strlen("sys/"), u1, unit0_dir + strlen("sys/devices/"),
                 unit1_dir + strlen("sys/devices/"), slot);
        assert_int_equal(run_cmd(cmd, root, ""), 0);
}

static void test_dma_faults_intel_segment(void **state) {
        /* Two DMAR units, 0000:00:02.0 behind dmar0 and 0001:00:02.0 behind dmar1. The fault line says
         * [00:02.0] only; CONFIG_DMAR_DEBUG's next line names the unit. */
        char *root = snapshot_copy("default");
        Audit a;

        add_segment(root, "02.0", "sys/devices/virtual/iommu/dmar0", "sys/devices/virtual/iommu/dmar1");
        snapshot_write(root, "/dev/kmsg",
                       "3,343,11070133,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 "
                       "[fault reason 0x06] PTE Read access is not set\n"
                       "6,344,11070134,-;DMAR: Dump dmar1 table entries for IOVA 0x1000\n");
        audit_root(root, &a);
        expect(&a, "dma-faults", "0001:00:02.0", SEVERITY_HIGH);
        expect_none(&a, "dma-faults", "0000:00:02.0");
        audit_done(&a);

        snapshot_write(root, "/dev/kmsg",
                       "3,343,11070133,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 "
                       "[fault reason 0x06] PTE Read access is not set\n"
                       "6,344,11070134,-;DMAR: Dump dmar0 table entries for IOVA 0x1000\n");
        audit_root(root, &a);
        expect(&a, "dma-faults", "0000:00:02.0", SEVERITY_HIGH);
        expect_none(&a, "dma-faults", "0001:00:02.0");
        audit_done(&a);

        /* No unit named (a kernel without CONFIG_DMAR_DEBUG): the old rule, segment 0 first. */
        snapshot_write(root, "/dev/kmsg",
                       "3,343,11070133,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 "
                       "[fault reason 0x06] PTE Read access is not set\n");
        audit_root(root, &a);
        expect(&a, "dma-faults", "0000:00:02.0", SEVERITY_HIGH);
        audit_done(&a);
        snapshot_remove(root);
}

static void test_dma_faults_smmuv3_raw(void **state) {
        /* arm64 before 6.15: the raw event only. StreamID 0x18 is RID 00:03.0; the segment is the one
         * of the devices behind the SMMU that logged it. */
        char *root = snapshot_copy("arm64-its");
        Audit a;

        add_segment(root, "03.0", "sys/devices/platform/arm-smmu-v3.0.auto/iommu/smmu3.0x0000000009050000",
                    "sys/devices/platform/arm-smmu-v3.1.auto/iommu/smmu3.0x0000000009060000");
        snapshot_write(root, "/dev/kmsg",
                       "6,500,1000,-;arm-smmu-v3 arm-smmu-v3.1.auto: event 0x10 received:\n"
                       "6,501,1001,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x0000001800000010\n"
                       "6,502,1002,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x0000000800000000\n"
                       "6,503,1003,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x000000000007f000\n"
                       "6,504,1004,-;arm-smmu-v3 arm-smmu-v3.1.auto: \\x090x0000000000000000\n");
        audit_root(root, &a);
        expect(&a, "dma-faults", "0001:00:03.0", SEVERITY_HIGH);
        expect_none(&a, "dma-faults", "0000:00:03.0");
        assert_non_null(strstr(find(&a, "dma-faults", "0001:00:03.0")->detail, "(1 read, 0 write)"));
        assert_non_null(strstr(find(&a, "dma-faults", "0001:00:03.0")->detail, "F_TRANSLATION"));
        audit_done(&a);
        snapshot_remove(root);
}

static void test_dma_faults_bridge_alias(void **state) {
        char *root = snapshot_copy("bridge");
        const Finding *x;
        Audit a;

        snapshot_write(
                root, "/dev/kmsg",
                "3,1202,81234590,-;DMAR: [DMA Read NO_PASID] Request device [02:00.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set\n"
                "3,1203,81234600,-;DMAR: [DMA Write NO_PASID] Request device [05:00.0] fault addr 0x3000 [fault reason 0x05] PTE Write access is not set\n");
        audit_root(root, &a);
        x = find(&a, "dma-faults", "0000:02:01.0");
        assert_non_null(x);
        assert_int_equal(x->severity, SEVERITY_HIGH);
        assert_int_equal(strv_length(x->devices), 2);
        assert_true(strv_contains(x->devices, "0000:02:02.0"));
        assert_non_null(strstr(x->detail, "One of 0000:02:01.0, 0000:02:02.0 caused 1 DMA fault (1 read, 0 write)"));
        assert_non_null(strstr(x->detail, "came through a bridge's alias"));
        assert_non_null(strstr(x->summary, "behind a bridge"));
        /* an unattributable requester is still reported, under its own address */
        x = find(&a, "dma-faults", "0000:05:00.0");
        assert_non_null(x);
        assert_null(strstr(x->detail, "alias"));
        expect_none(&a, "dma-faults", "0000:03:00.0");
        audit_done(&a);
        snapshot_remove(root);
}

/* ---- filtering and JSON ---- */

static void test_filter(void **state) {
        Audit a;
        PciAddress sel[1];

        audit_root(snapshot("nointremap"), &a);
        assert_int_equal(pci_address_parse("00:03.0", &sel[0]), 0);
        findings_filter(&a.f, sel, 1);
        /* host-wide findings stay; device lists shrink to the selection */
        expect(&a, "interrupt-remapping-off", NULL, SEVERITY_CRITICAL);
        const Finding *x = find(&a, "msi-not-isolated", NULL);
        assert_non_null(x);
        assert_int_equal(strv_length(x->devices), 1);
        assert_string_equal(x->devices[0], "0000:00:03.0");
        expect_none(&a, "multi-device-group", NULL);
        audit_done(&a);
}

static void test_json(void **state) {
        Audit a;
        json_object *o, *v, *f0, *devs;

        audit_root(snapshot("bridge"), &a);
        assert_int_equal(audit_to_json(a.t, &a.f, NULL, 0, &o), 0);
        assert_true(json_object_object_get_ex(o, "version", &v));
        assert_int_equal(json_object_get_int(v), 1);
        assert_true(json_object_object_get_ex(o, "findings", &v));
        assert_int_equal(json_object_array_length(v), a.f.n);
        f0 = json_object_array_get_idx(v, 0);
        static const char *const keys[] = { "id", "severity", "devices", "summary", "detail", "fix" };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                assert_true(json_object_object_get_ex(f0, keys[i], NULL));
        assert_true(json_object_object_get_ex(o, "devices", &devs));
        assert_int_equal(json_object_array_length(devs), a.t->n_devices);
        static const char *const dkeys[] = { "slot",   "vendor",      "device",        "class",
                                             "driver", "iommu_group", "group_devices", "interrupts" };
        json_object *d0 = json_object_array_get_idx(devs, 0);
        for (size_t i = 0; i < ELEMENTSOF(dkeys); i++)
                assert_true(json_object_object_get_ex(d0, dkeys[i], NULL));
        assert_string_equal(json_object_get_string(json_object_object_get(d0, "interrupts")), "safe");
        assert_true(json_object_object_get_ex(o, "host", &v));
        assert_string_equal(json_object_get_string(json_object_object_get(v, "interrupt_remapping")), "enabled");
        json_object_put(o);

        /* selected devices only */
        PciAddress sel;
        assert_int_equal(pci_address_parse("02:01.0", &sel), 0);
        assert_int_equal(audit_to_json(a.t, &a.f, &sel, 1, &o), 0);
        assert_int_equal(json_object_array_length(json_object_object_get(o, "devices")), 1);
        json_object_put(o);
        audit_done(&a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_iommu),
                cmocka_unit_test(test_vfio_noiommu),
                cmocka_unit_test(test_interrupts),
                cmocka_unit_test(test_arm64),
                cmocka_unit_test(test_intremap_off_cmdline),
                cmocka_unit_test(test_allow_unsafe_type1),
                cmocka_unit_test(test_legacy_vfio),
                cmocka_unit_test(test_identity),
                cmocka_unit_test(test_no_group),
                cmocka_unit_test(test_bridge),
                cmocka_unit_test(test_acs_partial),
                cmocka_unit_test(test_acs_override),
                cmocka_unit_test(test_untrusted),
                cmocka_unit_test(test_held_raises),
                cmocka_unit_test(test_dma_faults),
                cmocka_unit_test(test_dma_faults_real_kernel),
                cmocka_unit_test(test_attribute_bridge_snapshot),
                cmocka_unit_test(test_attribute_domains),
                cmocka_unit_test(test_dma_faults_bridge_alias),
                cmocka_unit_test(test_dma_faults_intel_segment),
                cmocka_unit_test(test_dma_faults_smmuv3_raw),
                cmocka_unit_test(test_filter),
                cmocka_unit_test(test_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
