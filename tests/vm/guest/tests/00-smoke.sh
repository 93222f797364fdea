#!/bin/bash
# topologies: all
# The guest is up with systemd, udev and dbus, the installed isolatectl runs, and the VFIO/iommufd
# modules were loaded by isolate's own modules-load.d file (nothing else in the guest loads them: the
# kernel builds them as modules, as distribution kernels do).
. /usr/lib/isolate-vm/lib.bash
CONF=/usr/lib/modules-load.d/isolate.conf

echo "== the system"
check "udevd and dbus active" systemctl is-active systemd-udevd dbus
check "isolatectl --version" isolatectl --version
check "isolatectl list" isolatectl list

echo "== modules: vfio, vfio-pci, iommufd, type1 are loadable modules, loaded at boot by $CONF"
sed 's/^/  /' /proc/modules | grep -E 'vfio|iommufd' || true
check "$CONF is installed" test -r $CONF
for m in vfio_pci iommufd vfio_iommu_type1; do
    # modules-load.d accepts '-' and '_' alike: compare with '_'
    check "$CONF lists $m" bash -c "grep -v '^#' $CONF | tr - _ | grep -qx $m"
    check "$m is a loaded module (/proc/modules, not built in)" bash -c "grep -q '^$m ' /proc/modules && [ -d /sys/module/$m ]"
done
check "their signatures were checked: no unsigned module was loaded (taint flag E off)" \
    bash -c "[ \$(( \$(cat /proc/sys/kernel/tainted) & 8192 )) = 0 ]"
check "systemd-modules-load.service ran without errors" bash -c "[ \"\$(systemctl show -P Result systemd-modules-load)\" = success ]"
check "it failed to load none of them (its journal)" bash -c "! journalctl -b -u systemd-modules-load --no-pager -o cat | grep -E 'Failed to (insert|find) module'"
journalctl -b -u systemd-modules-load --no-pager -o cat | sed 's/^/  journal: /' || true
check "the vfio-dev and vfio majors exist (isolated.service's DeviceAllow= needs them at start)" bash -c "grep -q ' vfio-dev$' /proc/devices && grep -q ' vfio$' /proc/devices"
case "$ISOLATE_VM_TOPOLOGY" in
noiommu) ;;
*) check "/dev/iommu exists" test -c /dev/iommu ;;
esac
finish
