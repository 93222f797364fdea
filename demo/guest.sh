#!/bin/bash
# The sandbox walk-through (demo/run, which scripts/demo starts, runs it inside the VM tier's guest): what a
# new user should see.
set -u
EDU_A=0000:00:02.0
EDU_B=0000:00:03.0
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }
pause() { sleep "${1:-1}"; }

say "1. The sandbox: a QEMU q35 machine with an emulated Intel VT-d IOMMU (interrupt remapping on), two 'edu' DMA test devices, an e1000e NIC and a virtio-rng, running Linux $(uname -r) with systemd, udev and dbus."
run isolatectl list
say "What does this machine's IOMMU set-up protect against? (the ICH9 chipset functions share a group; edu has no reset)"
run isolatectl audit

say "2. The policy: nothing passes through to a guest unless a rule allows it. Here only the second edu may."
mkdir -p /etc/isolate
cat > /etc/isolate/policy.json <<'JSON'
{
  "version": 1,
  "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" },
  "rules": [
    { "id": "lab-edu", "match": { "slot": "0000:00:03.0", "vendor": "1234", "device": "11e8" },
      "passthrough": "allow", "comment": "the edu in slot 3 may go to guests" }
  ]
}
JSON
run cat /etc/isolate/policy.json
run isolatectl policy check

say "3. The first edu has a host driver (pci-stub, for the demo); isolated starts and watches."
echo pci-stub > /sys/bus/pci/devices/$EDU_A/driver_override
echo $EDU_A > /sys/bus/pci/drivers_probe
run systemctl start isolated
run isolatectl status

say "4. The device leaves its driver (as when a guest is torn down or a host driver is unloaded): isolated captures it at once."
printf '\033[36m$ %s\033[0m\n' "echo $EDU_A > /sys/bus/pci/drivers/pci-stub/unbind"
echo $EDU_A > /sys/bus/pci/drivers/pci-stub/unbind
pause 1
run isolatectl status
journalctl -u isolated -b -o cat --no-pager | grep -m1 "attached .* after the event" | sed 's/^/  isolated: /'

say "5. The quarantined device still tries DMA (edu reads memory at IOVA 0x1000): the IOMMU blocks it, and isolated attributes the fault."
dmesg -n 1
mark=$(dmesg | wc -l)
run isolate-vm-edu $EDU_A read 0x1000 64
pause 2
dmesg | tail -n +"$((mark + 1))" | grep "Request device" | sed 's/^/  kernel: /'
run isolatectl status $EDU_A

say "6. A guest asks for the captured device (what libvirt's hook does before a domain starts): refused by policy."
run isolatectl release $EDU_A --to guest
echo "  (exit status $?: the device stays in quarantine)"

say "7. The allowed edu: quarantine it, then release it to a guest; it stays on vfio-pci for the VMM to open."
run isolatectl quarantine $EDU_B
run isolatectl release $EDU_B --to guest
run isolatectl status

say "8. The audit trail in the journal: every decision with its device, rule and result."
journalctl -b -o cat --no-pager ISOLATE_ACTION=release-guest | sed 's/^/  /'

say "Done. Everything above ran on a real Linux kernel (iommufd, the VFIO device cdev, VT-d) in software emulation."
