# Shared helpers of the VM tier's guest tests (sourced; not a test itself). Bash.
set -euo pipefail

failures=0
# vm_kernel_is KIND: the guest booted that kernel ("project" or "debian"; tests/vm/run --kernel)
vm_kernel_is() { [ "${ISOLATE_VM_KERNEL:-project}" = "$1" ]; }
check() {
    local what=$1; shift
    if "$@"; then echo "  ok: $what"; else echo "  FAIL: $what"; failures=$((failures + 1)); fi
}
require() {
    local what=$1; shift
    if "$@"; then echo "  ok: $what"; else echo "  FAIL: $what (cannot go on)"; exit 1; fi
}
finish() {
    echo "$failures failure(s)"
    [ "$failures" = 0 ]
}

json_status() { isolatectl --json=short status "$@"; }
state_of() { json_status "$1" | jq -r '.[0].state'; }
mode_of() { json_status "$1" | jq -r '.[0].mode'; }
faults_of() { json_status "$1" | jq -r ".[0].dma_faults.$2"; }
driver_of() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || true; }

# wait_for SECONDS CMD...: polls every 50 ms
wait_for() {
    local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
is_state() { [ "$(state_of "$1")" = "$2" ]; }
is_state_mode() { [ "$(json_status "$1" | jq -r '.[0].state + " " + .[0].mode')" = "$2 $3" ]; }
not_state() { [ "$(state_of "$1")" != "$2" ]; }

write_policy() {
    mkdir -p /etc/isolate
    cat > /etc/isolate/policy.json
}

# (Re)starts isolated, so that it reads the policy the test just wrote: tests share the boot, and an
# earlier one may have left the daemon running with its own policy.
start_daemon() {
    systemctl restart isolated
    wait_for 20 busctl status org.isolate1
}
daemon_pid() { systemctl show -P MainPID isolated; }

# A device with an in-kernel host driver for edu: pci-stub (DMA-managed).
bind_stub() {
    # (a module on Debian's kernel: driver_override does not load it)
    [ -d /sys/bus/pci/drivers/pci-stub ] || modprobe pci-stub
    echo pci-stub > "/sys/bus/pci/devices/$1/driver_override"
    echo "$1" > /sys/bus/pci/drivers_probe
    [ "$(driver_of "$1")" = pci-stub ]
}

# DMA faults the kernel logged for a requester (bus:dev.fn) since a dmesg line count.
dmesg_mark() { dmesg | wc -l; }
dmar_faults_since() { dmesg | tail -n +"$(( $1 + 1 ))" | grep -c "Request device \[$2\]" || true; }

edu() { isolate-vm-edu "$@"; }

# exit_is STATUS CMD...: CMD exits with exactly STATUS (a helper that could not run, exit 2, is neither
# a pass nor a "not reachable").
exit_is() {
    local want=$1 rc=0; shift
    "$@" || rc=$?
    [ "$rc" = "$want" ] || { echo "    ($* exited $rc, expected $want)"; return 1; }
}
# DMAR fault lines the kernel logged since a dmesg mark, as text (the oracle apart from isolate's parser).
dmar_lines_since() { dmesg | tail -n +"$(( $1 + 1 ))" | grep "DMAR: \[DMA" || true; }
# The PID that owns org.isolate1 on the bus ("" if nobody), and "owned, by another process than PID".
bus_pid() { busctl status org.isolate1 2>/dev/null | sed -n 's/^PID=//p'; }
bus_pid_is_not() { local p; p=$(bus_pid); [ -n "$p" ] && [ "$p" != "$1" ]; }
# The VFIO files a process holds: device cdevs (iommufd backend) and group nodes (legacy backend), by the
# link's tail (a file taken back from the fd store was opened in the previous instance's private /dev, so
# its link has no /dev prefix as seen from here). With a SLOT: only those of that function (its cdev, or
# its group's node).
vfio_files() {
    local pid=$1 slot=${2:-} re='vfio/(devices/vfio[0-9]+|[0-9]+)$' cdev group
    if [ -n "$slot" ]; then
        cdev=$(basename "$(ls -d /sys/bus/pci/devices/"$slot"/vfio-dev/vfio* 2>/dev/null | head -n1)" 2>/dev/null)
        group=$(basename "$(readlink /sys/bus/pci/devices/"$slot"/iommu_group)")
        re="vfio/(devices/${cdev:-none}|$group)\$"
    fi
    ls -l /proc/"$pid"/fd 2>/dev/null | grep -cE -- "-> .*$re" || true
}

# ATS as the device's own config space says (lspci's ATSCtl, read apart from isolated).
ats_ctl() { lspci -vvv -s "$1" | sed -n 's/^[[:space:]]*ATSCtl:[[:space:]]*//p' | head -n1; }
ats_enabled() { ats_ctl "$1" | grep -q 'Enable+'; }
ats_disabled() { ats_ctl "$1" | grep -q 'Enable-'; }
# The first PCI function with an ATS capability (the bridge topology's virtio-rng,ats=on); "" if none.
ats_device() {
    local d
    for d in /sys/bus/pci/devices/*; do
        if lspci -vvv -s "$(basename "$d")" 2>/dev/null | grep -q 'Address Translation Service'; then
            basename "$d"
            return
        fi
    done
}

# The legacy backend's tests: Debian's kernel has no iommufd, so isolated picks the legacy backend by
# itself; the project's kernel has both, so a runtime drop-in forces it there. The caller removes
# $LEGACY_DROPIN (and reloads systemd) when it exits.
LEGACY_DROPIN=/run/systemd/system/isolated.service.d/50-test-legacy.conf
force_legacy_backend() {
    if [ "${ISOLATE_VM_KERNEL:-project}" = project ]; then
        mkdir -p "$(dirname "$LEGACY_DROPIN")"
        printf '[Service]\nExecStart=\nExecStart=/usr/sbin/isolated --backend=legacy\n' > "$LEGACY_DROPIN"
    fi
    systemctl daemon-reload
}
