#!/bin/bash
# Guest side of bench/vm-daemon, 5: D-Bus round trips, idle RSS and wake-ups, the unit's exposure.
set -eu
. /opt/extra/daemon-lib.sh
isolate-vm-bench-daemon roundtrip $EDU 200
pid=$(systemctl show -P MainPID isolated)
v0=$(awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
n0=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
sleep 10
v1=$(awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
n1=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' /proc/$pid/status)
echo "idle: $(( (v1 - v0 + n1 - n0) )) wake-ups in 10 s; $(awk '/^VmRSS/ {print $2 " " $3}' /proc/$pid/status) RSS ($(awk '/^VmHWM/ {print $2 " " $3}' /proc/$pid/status) peak) holding $(isolatectl --json=short status | jq '[.[] | select(.state == "quarantined")] | length') device(s)"
echo "unit: $(systemd-analyze security isolated.service --no-pager | tail -n 1)"
