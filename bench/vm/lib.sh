# Shared by bench/vm-engine and bench/vm-daemon (sourced; bash): boot the VM tier with guest scripts
# and show what they print, as it comes.
#
#   bench_vm TOPOLOGY [tests/vm/run arguments]...
#
# The guest's lines are shown unbuffered (sed -u: a plain sed writing into a pipe or a file holds
# everything until the VM powers off, which looked like a hang), with tests/vm/run's own progress
# ("vm: ..." lines: the guest build, the boot, PASS/FAIL and timing) on stderr. The whole console is
# kept; when the guest did not finish, its tail is shown and the status is 1.
bench_vm() {
    local topology=$1 log rc
    shift
    log=$(mktemp "${TMPDIR:-/tmp}/isolate-bench.XXXXXX")
    echo "bench: topology $topology: building isolate for the guest (incremental; all of it the first time in a checkout)," \
         "then booting it under TCG (minutes); the console is in $log" >&2
    set +e
    "$bench_src/tests/vm/run" --topology "$topology" "$@" > "$log" 2> >(grep --line-buffered '^vm: ' >&2) &
    local run=$!
    # stream the guest scripts' lines ("[NN-name.sh] ...") as the console log grows
    tail -n +1 -f --pid=$run "$log" 2>/dev/null | sed -u -n -e 's/\r$//' -e 's/^.*\[[0-9][0-9]-[A-Za-z0-9_.-]*\.sh\] \{0,1\}//p'
    wait $run
    rc=$?
    set -e
    if [ $rc != 0 ]; then
        echo "bench: tests/vm/run exited with $rc; the end of the console ($log):" >&2
        tail -n 40 "$log" | tr -d '\r' >&2
    else
        rm -f "$log"
    fi
    return $rc
}
bench_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
