# Shared by the guest scripts of bench/vm-daemon (shipped as /opt/extra/daemon-lib.sh; sourced). Each part
# is its own guest script because the guest gives a script 300 s, and a loaded host's TCG needs more for
# all of them; they run in order in one boot, so isolated and the policy carry over.
EDU=0000:00:02.0     # isolated's: captured on unbind
FLOOR=0000:00:03.0   # the floor's: the policy lets it pass and does not capture it
N=${ISOLATE_BENCH_ROUNDS:-100}
OUT=${ISOLATE_VM_OUT:-/tmp}
policy() {
    mkdir -p /etc/isolate
    cat > /etc/isolate/policy.json <<JSON
{ "version": 1, "defaults": { "mode": "$1", "quarantine_on_unbind": "all" },
  "rules": [ { "id": "floor", "match": { "slot": "$FLOOR" }, "passthrough": "allow", "quarantine_on_unbind": false } ] }
JSON
}
cursor() { journalctl -q -n 1 --show-cursor -o cat 2>/dev/null | sed -n 's/^-- cursor: //p'; }
# p50/p99 of the numbers on stdin (one a line)
pcts() {
    sort -n | awk -v what="$1" '{ v[NR] = $1 } END { if (NR) { p = int(NR * 0.99); if (p < 1) p = 1;
        printf "  %-58s p50 %9.1f µs   p99 %9.1f µs   (n=%d)\n", what, v[int((NR + 1) / 2)], v[p], NR } }'
}
# isolated's own view of the captures since a cursor: from the event to attached, and in the engine
isolated_view() {
    journalctl -u isolated --after-cursor="$1" -o cat --no-pager > /tmp/j.txt || true
    sed -n 's/.*quarantined (.*unbound from its driver; \([0-9]*\) µs in the engine.*/\1/p' /tmp/j.txt | pcts "isolated (journal): engine_quarantine()"
    sed -n 's/.*attached \([0-9]*\) µs after the event.*/\1/p' /tmp/j.txt | pcts "isolated (journal): uevent received → attached"
}
