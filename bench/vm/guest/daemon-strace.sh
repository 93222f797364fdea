#!/bin/bash
# Guest side of bench/vm-daemon, 4: where isolated's time goes, syscall by syscall: strace of isolated
# over a few rounds, when bench/vm-daemon shipped the host's strace (summarised on the host by
# bench/vm/strace-breakdown).
set -eu
. /opt/extra/daemon-lib.sh
[ -e /opt/extra/strace ] || { echo "no strace shipped: no syscall breakdown"; exit 0; }
R=${ISOLATE_BENCH_STRACE_ROUNDS:-5}
pid=$(systemctl show -P MainPID isolated)
strace=(/lib64/ld-linux-x86-64.so.2 --library-path /opt/extra /opt/extra/strace)
"${strace[@]}" -f -ttt -T -yy -s 96 -p "$pid" -o "$OUT/isolated.strace" 2>/dev/null &
spid=$!
sleep 2
isolate-vm-bench-daemon unbind $EDU pci-stub "$R" --trace > "$OUT/strace-rounds.txt"
sleep 1
kill $spid; wait $spid 2>/dev/null || true
echo "strace of isolated over $R rounds: $(wc -l < "$OUT/isolated.strace") lines (summarised on the host)"
tail -n 1 "$OUT/strace-rounds.txt"
journalctl -u isolated -b -o short-unix --no-pager > "$OUT/isolated.journal" || true
