#!/bin/bash
# topologies: all
# kernels: project debian
# The guest is up with systemd, udev and dbus, the installed isolatectl runs, and the VFIO/iommufd
# modules were loaded by isolate's own modules-load.d file (nothing else in the guest loads them: the
# kernel builds them as modules, as distribution kernels do). On Debian's 6.1 (--kernel debian) there is
# no iommufd: the file's iommufd line finds no module, vfio-pci and type1 load all the same, and VFIO is
# the group interface only (/dev/vfio/vfio and /dev/vfio/N, no /dev/iommu, no vfio-dev cdev).
. /usr/lib/isolate-vm/lib.bash
CONF=/usr/lib/modules-load.d/isolate.conf

echo "== the system"
check "udevd and dbus active" systemctl is-active systemd-udevd dbus
check "isolatectl --version" isolatectl --version
check "isolatectl list" isolatectl list

echo "== modules: vfio, vfio-pci, iommufd, type1 are loadable modules, loaded at boot by $CONF ($ISOLATE_VM_KERNEL kernel $(uname -r))"
sed 's/^/  /' /proc/modules | grep -E 'vfio|iommufd' || true
check "$CONF is installed" test -r $CONF
for m in vfio_pci iommufd vfio_iommu_type1; do
    # modules-load.d accepts '-' and '_' alike: compare with '_'
    check "$CONF lists $m" bash -c "grep -v '^#' $CONF | tr - _ | grep -qx $m"
done
if vm_kernel_is debian; then
    loaded=(vfio vfio_pci vfio_iommu_type1)
    check "iommufd is no module of this kernel (6.1 has none)" bash -c "! modinfo iommufd >/dev/null 2>&1 && [ ! -d /sys/module/iommufd ]"
else
    loaded=(vfio vfio_pci iommufd vfio_iommu_type1)
fi
for m in "${loaded[@]}"; do
    check "$m is a loaded module (/proc/modules, not built in)" bash -c "grep -q '^$m ' /proc/modules && [ -d /sys/module/$m ]"
done
# The project kernel checks its modules against the build's key, Debian's against Debian's (built into
# its kernel): either way no module without a valid signature was loaded.
check "their signatures were checked: no unsigned module was loaded (taint flag E off)" \
    bash -c "[ \$(( \$(cat /proc/sys/kernel/tainted) & 8192 )) = 0 ]"
check "systemd-modules-load.service ran without errors" bash -c "[ \"\$(systemctl show -P Result systemd-modules-load)\" = success ]"
# Its messages by identifier (-t): it runs before journald and logs through the kernel log, so they carry
# no unit, and `-u systemd-modules-load` shows none of them (a check by unit could never fail).
if vm_kernel_is debian; then
    # systemd-modules-load logs a module it cannot find and goes on (the unit still succeeds)
    check "it logged that it found no iommufd" \
        bash -c "journalctl -b -t systemd-modules-load --no-pager -o cat | grep -q \"Failed to find module 'iommufd'\""
    check "it failed to load none of them but iommufd (its journal)" \
        bash -c "! journalctl -b -t systemd-modules-load --no-pager -o cat | grep -E 'Failed to (insert|find) module' | grep -v \"Failed to find module 'iommufd'\""
else
    check "it failed to load none of them (its journal)" bash -c "! journalctl -b -t systemd-modules-load --no-pager -o cat | grep -E 'Failed to (insert|find) module'"
fi
journalctl -b -t systemd-modules-load --no-pager -o cat | sed 's/^/  journal: /' || true
if vm_kernel_is debian; then
    check "the vfio major exists (6.1 has no vfio-dev cdev)" bash -c "grep -q ' vfio$' /proc/devices && ! grep -q ' vfio-dev$' /proc/devices"
    check "/dev/vfio/vfio exists (the type1 container)" test -c /dev/vfio/vfio
    check "/dev/iommu does not exist" test ! -e /dev/iommu
else
    check "the vfio-dev and vfio majors exist (isolated.service's DeviceAllow= needs them at start)" bash -c "grep -q ' vfio-dev$' /proc/devices && grep -q ' vfio$' /proc/devices"
    case "$ISOLATE_VM_TOPOLOGY" in
    noiommu) ;;
    *) check "/dev/iommu exists" test -c /dev/iommu ;;
    esac
fi
finish
