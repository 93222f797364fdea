#!/bin/bash
# Guest side of bench/vm-daemon (default topology): unbind → quarantined latency of isolated against the
# bare bind+attach ioctls, D-Bus round trips, idle RSS and wake-ups, and the unit's exposure.
set -eu
EDU=0000:00:02.0
BARE=0000:00:03.0
N=${ISOLATE_BENCH_ROUNDS:-100}
mkdir -p /etc/isolate
echo '{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" } }' > /etc/isolate/policy.json
echo "guest: $(uname -r), $(nproc) vCPU under TCG (software emulation inflates absolute times)"

# The bare ioctls first (isolated would take a vfio-pci device the policy denies).
echo vfio-pci > /sys/bus/pci/devices/$BARE/driver_override
echo $BARE > /sys/bus/pci/drivers_probe
isolate-vm-bench-engine take $BARE "$N" | grep -E "bare|engine: take|ratio"
echo $BARE > /sys/bus/pci/drivers/vfio-pci/unbind
echo > /sys/bus/pci/devices/$BARE/driver_override

echo pci-stub > /sys/bus/pci/devices/$EDU/driver_override
echo $EDU > /sys/bus/pci/drivers_probe
systemctl start isolated
echo "isolated: unbind from its driver (pci-stub) until quarantined, $N rounds"
isolate-vm-bench-daemon unbind $EDU pci-stub "$N"
# isolated's own measure: from receiving the kernel's unbind event to the device attached
journalctl -u isolated -b -o cat --no-pager | sed -n 's/.*attached \([0-9]*\) µs after the event.*/\1/p' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) { p = int(NR * 0.99); if (p < 1) p = 1; printf "  %-50s p50 %9.1f µs   p99 %9.1f µs   max %9.1f µs   (n=%d)\n", "isolated: unbind event received -> attached", v[int((NR + 1) / 2)], v[p], v[NR], NR } }'
isolate-vm-bench-daemon roundtrip $EDU 200

pid=$(systemctl show -P MainPID isolated)
v0=$(awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
n0=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
sleep 10
v1=$(awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
n1=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
echo "idle: $(( (v1 - v0 + n1 - n0) )) wake-ups in 10 s; $(awk '/^VmRSS/ {print $2 " " $3}' /proc/$pid/status) RSS ($(awk '/^VmHWM/ {print $2 " " $3}' /proc/$pid/status) peak) holding $(isolatectl --json=short status | jq length) device(s)"
echo "unit: $(systemd-analyze security isolated.service --no-pager | tail -n 1)"
