#!/bin/bash
# Guest side of bench/vm-daemon, 3: where isolated's time goes, engine side: with --log-level=debug its
# per-capture debug line splits engine_quarantine() into steps (blocked mode).
set -eu
. /opt/extra/daemon-lib.sh
R=${ISOLATE_BENCH_DEBUG_ROUNDS:-30}
echo "where isolated's time goes (blocked mode, --log-level=debug, $R rounds):"
policy blocked
mkdir -p /run/systemd/system/isolated.service.d
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/isolated --log-level=debug\n' > /run/systemd/system/isolated.service.d/debug.conf
systemctl daemon-reload
systemctl restart isolated
c=$(cursor)
isolate-vm-bench-daemon unbind $EDU pci-stub "$R"
journalctl -u isolated --after-cursor="$c" -o cat --no-pager > /tmp/j.txt || true
for step in plan "host unbind" "group type" "vfio-pci bind" "open+bind+attach" total; do
    grep '^Quarantine of .*: plan' /tmp/j.txt | sed -n "s/.*[:,] $step \([0-9]*\) µs.*/\1/p" | pcts "engine step: $step"
done
sed -n 's/.*attached \([0-9]*\) µs after the event.*/\1/p' /tmp/j.txt | pcts "isolated (journal): uevent received → attached"
echo "  journal lines isolated logs per capture and release (debug): $(( $(grep -c . /tmp/j.txt) / R ))"
cp /tmp/j.txt "$OUT/isolated-debug.journal"
rm -f /run/systemd/system/isolated.service.d/debug.conf
systemctl daemon-reload
systemctl restart isolated
