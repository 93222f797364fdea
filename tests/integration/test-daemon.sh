#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# isolated's integration tests, outside the VM: each case starts a private D-Bus daemon and isolated
# with the test backend (isolated-fake) on a fresh copy of a machine snapshot (tests/fixtures/sysfs/<name>),
# drives it with isolatectl and busctl, and checks the answers, the exit codes (docs/isolate.md: 0 ok, 1 failed,
# 2 usage), the D-Bus error names and the side effects in the copy (driver links, driver_override).
# Every daemon is stopped with SIGTERM at the end of its case and must exit 0 without any sanitizer
# report, so that the suite also proves a clean shutdown under -Db_sanitize=address,undefined.
#
#   ISOLATE_BUILD_ROOT   the build directory (default: build in the source tree)
#   ISOLATE_TEST_KEEP=1  keep the work directory (logs, copies) even when everything passed
#   test-daemon.sh [CASE...]   run only these cases (names as printed, e.g. "persistence")
#
# Exit status: 0 all passed, 1 a case failed, 77 dbus-daemon or busctl is missing (skipped).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${ISOLATE_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
BUILD=${ISOLATE_BUILD_ROOT:-$SRC/build}
ISOLATED=$BUILD/tests/integration/isolated-fake   # isolated with the test backend
ISOLATED_REAL=$BUILD/src/daemon/isolated
ISOLATECTL=$BUILD/src/cli/isolatectl
FLOOD=$BUILD/tests/integration/isolate-test-flood
FAKE_POLKIT=$BUILD/tests/integration/isolate-test-fake-polkit
FIXTURES=$SRC/tests/fixtures/sysfs
BUS_CONF=$HERE/bus.conf
INTROSPECT_DIFF=$HERE/introspect-diff.py
FAKE_SUPERVISOR=$HERE/fake-supervisor.py

for tool in dbus-daemon busctl; do
        if ! command -v "$tool" >/dev/null; then
                echo "SKIP: $tool is not installed; the daemon tests need a private D-Bus daemon and busctl."
                exit 77
        fi
done
for tool in jq python3 diff mkfifo; do
        command -v "$tool" >/dev/null || { echo "ERROR: $tool is needed by the daemon tests." >&2; exit 1; }
done
for bin in "$ISOLATED" "$ISOLATED_REAL" "$ISOLATECTL" "$FLOOD" "$FAKE_POLKIT"; do
        [[ -x $bin ]] || { echo "ERROR: $bin is missing: build first (ninja -C $BUILD)." >&2; exit 1; }
done

# Sanitizer builds: a report must end the process with a failure, which the checks below see.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LC_ALL=C.UTF-8
unset ISOLATE_FAKE_BIND_ERROR NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES JOURNAL_STREAM
ulimit -c 0

WORK=$(mktemp -d "${TMPDIR:-/tmp}/isolate-daemon-test.XXXXXX")
chmod 0755 "$WORK" # the authorization case runs clients as nobody: the bus socket must be reachable
: >"$WORK/pids"

# Every process we start is listed in $WORK/pids; whatever is still running at exit is killed (if it
# is still ours: its command line or environment names $WORK, so a reused pid is left alone).
on_exit() {
        local pid
        while read -r pid; do
                if grep -qsF "$WORK" "/proc/$pid/cmdline" "/proc/$pid/environ"; then
                        kill -KILL "$pid" 2>/dev/null || true
                fi
        done <"$WORK/pids"
        if [[ ${ISOLATE_TEST_KEEP:-0} == 1 || ${FAILED_CASES:-0} != 0 ]]; then
                echo "Logs and snapshot copies are in $WORK"
        else
                rm -rf "$WORK"
        fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

track() { echo "$1" >>"$WORK/pids"; }

# ---- assertions ------------------------------------------------------------------------------
# A case runs in a subshell with errexit: an unexpected failure of any command ends it as failed.
# The check helpers below do not stop the case; they count failures and print what went wrong.

FAILURES=0

ok() { echo "    ok: $*"; }
fail() {
        echo "    FAIL: $*"
        FAILURES=$((FAILURES + 1))
}

# show a captured output, indented, for a failure report
show() {
        local label=$1 file=$2
        [[ -s $file ]] || return 0
        echo "      $label:"
        head -n 20 "$file" | sed 's/^/        /'
}

# run CMD...: runs CMD with its output in $CASE_DIR/{stdout,stderr}; sets RC, OUT and ERR.
run() {
        echo "\$ $*" >>"$CASE_DIR/commands"
        RC=0
        "$@" >"$CASE_DIR/stdout" 2>"$CASE_DIR/stderr" </dev/null || RC=$?
        OUT=$(cat "$CASE_DIR/stdout")
        ERR=$(cat "$CASE_DIR/stderr")
}

ctl() { run "$ISOLATECTL" "$@"; }

# the unprivileged user (nobody) for the authorization case
as_nobody() {
        if command -v setpriv >/dev/null; then
                setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
        else
                runuser -u nobody -- "$@"
        fi
}

expect_rc() {
        local want=$1 what=$2
        if [[ $RC == "$want" ]]; then
                ok "$what: exit status $want"
        else
                fail "$what: exit status $RC, expected $want"
                show stdout "$CASE_DIR/stdout"
                show stderr "$CASE_DIR/stderr"
        fi
}

# expect_in WHERE(out|err) SUBSTRING WHAT
expect_in() {
        local where=$1 needle=$2 what=$3 text
        [[ $where == out ]] && text=$OUT || text=$ERR
        if [[ $text == *"$needle"* ]]; then
                ok "$what"
        else
                fail "$what: '$needle' not in std$where"
                show "std$where" "$CASE_DIR/std$where"
        fi
}

# expect_json DESCRIPTION JQ-FILTER: the filter, applied to $OUT, must yield true.
expect_json() {
        local what=$1 filter=$2
        if jq -e "$filter" >/dev/null 2>"$CASE_DIR/jq.err" <<<"$OUT"; then
                ok "$what"
        else
                fail "$what: jq '$filter' is not true"
                show stdout "$CASE_DIR/stdout"
                show jq "$CASE_DIR/jq.err"
        fi
}

# check WHAT CMD...: CMD must succeed.
check() {
        local what=$1
        shift
        if "$@"; then ok "$what"; else fail "$what"; fi
}

# expect_eq WHAT GOT WANT
expect_eq() {
        if [[ $2 == "$3" ]]; then
                ok "$1 ($3)"
        else
                fail "$1: got '$2', expected '$3'"
        fi
}

# wait_until SECONDS CMD...: polls CMD until it succeeds; returns 1 on timeout.
wait_until() {
        local deadline=$((SECONDS + $1))
        shift
        until "$@" >/dev/null 2>&1; do
                ((SECONDS < deadline)) || return 1
                sleep 0.05
        done
}

# ---- the snapshot copy -----------------------------------------------------------------------

# fresh_copy SNAPSHOT: $ROOT becomes a new copy of tests/fixtures/sysfs/SNAPSHOT, $STATE an empty
# state directory.
fresh_copy() {
        SNAPSHOT=$1
        rm -rf "$ROOT" "$STATE"
        cp -a "$FIXTURES/$SNAPSHOT" "$ROOT"
        mkdir -p "$STATE"
}

dev_dir() { echo "$ROOT/sys/bus/pci/devices/$1"; }
# the driver a device is bound to in the copy ("" if none)
driver_of() {
        local link
        link=$(readlink "$(dev_dir "$1")/driver" 2>/dev/null) || { echo ""; return 0; }
        basename "$link"
}
override_of() { cat "$(dev_dir "$1")/driver_override"; }

expect_driver() {
        expect_eq "$1 is bound to '$2' in the copy" "$(driver_of "$1")" "$2"
}

# The bus master enable bit (bit 2 of the command register, config space offset 4).
bus_master_of() { echo $(($(od -An -tu1 -j4 -N1 "$(dev_dir "$1")/config") & 4 ? 1 : 0)); }
set_bus_master() {
        local cfg byte
        cfg=$(dev_dir "$1")/config
        byte=$(od -An -tu1 -j4 -N1 "$cfg")
        printf '%b' "\\x$(printf %02x $((byte | 4)))" | dd of="$cfg" bs=1 seek=4 conv=notrunc status=none
}

# expect_copy_unchanged REFERENCE WHAT: the copy still equals REFERENCE (files and symlinks as they are).
expect_copy_unchanged() {
        if diff -r --no-dereference "$1" "$ROOT" >"$CASE_DIR/copy.diff" 2>&1; then
                ok "$2"
        else
                fail "$2: the copy changed"
                show diff "$CASE_DIR/copy.diff"
        fi
}

# ---- the private bus and the daemon ----------------------------------------------------------

start_bus() {
        BUS_SOCK=$CASE_DIR/bus
        BUS_ADDR=unix:path=$BUS_SOCK
        dbus-daemon --config-file="$BUS_CONF" --address="$BUS_ADDR" --nofork --nopidfile \
                >"$CASE_DIR/bus.log" 2>&1 &
        BUS_PID=$!
        track "$BUS_PID"
        export DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR
        if ! wait_until 10 busctl --address="$BUS_ADDR" list; then
                cat "$CASE_DIR/bus.log"
                echo "    the private bus did not come up" >&2
                return 1
        fi
}

stop_bus() {
        [[ -n ${BUS_PID:-} ]] || return 0
        kill -TERM "$BUS_PID" 2>/dev/null || true
        wait "$BUS_PID" 2>/dev/null || true
        BUS_PID=
}

# busctl for the Manager object; sets RC, OUT, ERR and ERROR_NAME (the D-Bus error's name, which
# busctl only prints in its debug log). BUSCTL_AS: a command prefix to call as another user.
BUSCTL_AS=()
bus_call() {
        run env SYSTEMD_LOG_LEVEL=debug "${BUSCTL_AS[@]}" busctl --address="$BUS_ADDR" call \
                org.isolate1 /org/isolate1 org.isolate1.Manager "$@"
        ERROR_NAME=$(sed -n 's/^Got message type=error .* error-name=\([^ ]*\) .*/\1/p' "$CASE_DIR/stderr" | tail -n 1)
        ERR=$(grep -v -e '^Bus ' -e '^Sent message' -e '^Got message' "$CASE_DIR/stderr" || true)
}

expect_error_name() {
        local want=$1 what=$2
        if [[ $RC != 0 && $ERROR_NAME == "$want" ]]; then
                ok "$what: $want"
        else
                fail "$what: exit $RC, error name '$ERROR_NAME', expected $want"
                echo "      busctl said: $ERR"
        fi
}

# get_property PATH INTERFACE PROPERTY: the value as busctl prints it, e.g. s "quarantined"
get_property() {
        busctl --address="$BUS_ADDR" get-property org.isolate1 "$1" "$2" "$3"
}
device_property() {
        local p=${1//[:.]/_}
        get_property "/org/isolate1/device/$p" org.isolate1.Device "$2"
}
manager_property() { get_property /org/isolate1 org.isolate1.Manager "$1"; }
get_policy_json() {
        busctl --address="$BUS_ADDR" --json=short call org.isolate1 /org/isolate1 org.isolate1.Manager GetPolicy |
                jq -r '.data[0]'
}

daemon_owns_name() {
        busctl --address="$BUS_ADDR" status org.isolate1 2>/dev/null | grep -qx "PID=$DAEMON_PID"
}
name_is_free() { ! busctl --address="$BUS_ADDR" status org.isolate1 >/dev/null 2>&1; }

# start_daemon SNAPSHOT|- POLICY [VAR=VALUE...]: isolated on a fresh copy of SNAPSHOT (or, with "-", on
# the current copy and state directory), with the given environment; waits until it owns org.isolate1.
start_daemon() {
        local snapshot=$1 policy=$2
        shift 2
        [[ $snapshot == - ]] || fresh_copy "$snapshot"
        DAEMON_N=$((${DAEMON_N:-0} + 1))
        DAEMON_LOG=$CASE_DIR/daemon.$DAEMON_N.log
        echo "\$ ${*:+$* }isolated --root $ROOT --state-dir $STATE --policy $policy" >>"$CASE_DIR/commands"
        env "$@" "$ISOLATED" --root "$ROOT" --state-dir "$STATE" --policy "$policy" \
                --log-target=console --log-level=debug >"$DAEMON_LOG" 2>&1 </dev/null &
        DAEMON_PID=$!
        track "$DAEMON_PID"
        local deadline=$((SECONDS + 20))
        until daemon_owns_name; do
                if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
                        wait "$DAEMON_PID" || true
                        DAEMON_PID=
                        fail "isolated exited during startup"
                        show log "$DAEMON_LOG"
                        return 1
                fi
                if ((SECONDS >= deadline)); then
                        fail "isolated did not take org.isolate1 on the bus within 20 s"
                        show log "$DAEMON_LOG"
                        return 1
                fi
                sleep 0.05
        done
}

# Sanitizer and crash reports in a log file.
sanitizer_report() {
        grep -E -m 5 'ERROR: (Address|Leak|Undefined|Memory|Thread)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$1"
}

# stop_daemon: SIGTERM; it must exit 0 within 10 s, and its log must carry no sanitizer report.
stop_daemon() {
        [[ -n ${DAEMON_PID:-} ]] || return 0
        local pid=$DAEMON_PID rc=0 deadline=$((SECONDS + 10))
        DAEMON_PID=
        kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
                sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
                kill -KILL "$pid" 2>/dev/null || true
                fail "isolated did not exit within 10 s of SIGTERM"
        fi
        wait "$pid" || rc=$?
        if [[ $rc != 0 ]]; then
                fail "isolated exited with status $rc on SIGTERM (expected a clean exit)"
                show log "$DAEMON_LOG"
        elif sanitizer_report "$DAEMON_LOG" >/dev/null; then
                fail "isolated's log has a sanitizer report"
                sanitizer_report "$DAEMON_LOG" | sed 's/^/        /'
        else
                ok "isolated stopped cleanly (SIGTERM, exit 0)"
        fi
}

# kill_daemon: SIGKILL (a crash), then wait until the bus has dropped its name.
kill_daemon() {
        local pid=$DAEMON_PID
        DAEMON_PID=
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
        wait_until 10 name_is_free || { fail "org.isolate1 still owned after SIGKILL"; return 1; }
}

# kmsg LINE...: writes kernel log records into the FIFO $ROOT/dev/kmsg (open as fd 9). In a subshell
# that ignores SIGPIPE, so that a daemon that died fails the case instead of killing it silently.
kmsg() {
        if ! (trap '' PIPE; printf '%s\n' "$@" >&9); then
                fail "cannot write to the kernel log FIFO: is isolated still running?"
                show log "$DAEMON_LOG"
                return 1
        fi
}

# monitor: isolatectl --json monitor in the background; its output is $CASE_DIR/monitor.out.
start_monitor() {
        "$ISOLATECTL" --json monitor >"$CASE_DIR/monitor.out" 2>"$CASE_DIR/monitor.err" </dev/null &
        MONITOR_PID=$!
        track "$MONITOR_PID"
        # No readiness notice in JSON mode: reload until the monitor reports it, so that it is
        # subscribed before the events the case is about.
        local deadline=$((SECONDS + 10))
        until grep -q '"event":"policy-reloaded"' "$CASE_DIR/monitor.out" 2>/dev/null; do
                if ((SECONDS >= deadline)); then
                        fail "isolatectl monitor reported no policy-reloaded event within 10 s"
                        show stderr "$CASE_DIR/monitor.err"
                        return 1
                fi
                "$ISOLATECTL" reload >/dev/null
                sleep 0.1
        done
}

stop_monitor() {
        [[ -n ${MONITOR_PID:-} ]] || return 0
        local pid=$MONITOR_PID rc=0
        MONITOR_PID=
        kill -INT "$pid" 2>/dev/null || true
        wait "$pid" || rc=$?
        if [[ $rc != 0 ]] || sanitizer_report "$CASE_DIR/monitor.err" >/dev/null; then
                fail "isolatectl monitor exited with status $rc on SIGINT"
                show stderr "$CASE_DIR/monitor.err"
        fi
}

# monitor_has FILTER: some JSON line of the monitor's output satisfies the jq filter.
monitor_has() { jq -e -s "any(.[]; $1)" "$CASE_DIR/monitor.out" >/dev/null 2>&1; }

expect_monitor() {
        local what=$1 filter=$2
        if wait_until 10 monitor_has "$filter"; then
                ok "monitor: $what"
        else
                fail "monitor: $what: no line with $filter"
                show monitor "$CASE_DIR/monitor.out"
        fi
}

# status_json [DEVICE...]: isolatectl --json=short status into $OUT, exit status checked.
status_json() {
        ctl --json=short status "$@"
        [[ $RC == 0 ]] || fail "isolatectl --json=short status $* failed with $RC: $ERR"
}

# device_is SLOT JQ-CONDITION WHAT: the status record of SLOT satisfies the condition.
device_is() {
        status_json "$1"
        expect_json "$3" "any(.[]; .slot == \"$1\" and ($2))"
}

# write_policy FILE JSON
write_policy() { printf '%s\n' "$2" >"$1"; }

EMPTY_POLICY='{ "version": 1 }'
# edu (1234:11e8) in slot 0000:00:03.0 may pass through; nothing else.
EDU3_POLICY='{
  "version": 1,
  "rules": [
    { "id": "edu-03", "match": { "vendor": "1234", "device": "11e8", "slot": "0000:00:03.0" },
      "passthrough": "allow" }
  ]
}'

# ---- cases -----------------------------------------------------------------------------------

# The running daemon serves exactly the documented D-Bus contract (dbus/*.xml), and the diff tool
# does notice a difference.
case_introspection() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"

        run python3 "$INTROSPECT_DIFF" --address="$BUS_ADDR" \
                "$SRC/dbus/org.isolate1.Manager.xml" /org/isolate1 \
                "$SRC/dbus/org.isolate1.Device.xml" /org/isolate1/device/0000_00_02_0
        expect_rc 0 "Manager and Device interfaces equal dbus/org.isolate1.{Manager,Device}.xml"

        # Self-test: a contract with a changed argument type and a missing property must differ.
        sed -e '/<method name="Release">/,/<\/method>/s/type="s" name="to"/type="u" name="to"/' \
                "$SRC/dbus/org.isolate1.Manager.xml" >"$CASE_DIR/Manager-changed.xml"
        grep -v 'name="LastError"' "$SRC/dbus/org.isolate1.Device.xml" >"$CASE_DIR/Device-changed.xml"
        run python3 "$INTROSPECT_DIFF" --address="$BUS_ADDR" \
                "$CASE_DIR/Manager-changed.xml" /org/isolate1 \
                "$CASE_DIR/Device-changed.xml" /org/isolate1/device/0000_00_02_0
        expect_rc 1 "introspect-diff.py reports a changed contract"
        expect_in out "method Release differs" "the diff names the changed method"
        expect_in out "property LastError" "the diff names the property the contract lacks"
}

# Quarantine of an unbound edu: exit 0, status, the copy's driver link and driver_override, the Device
# object's State, and a mode switch of a held device.
case_quarantine() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"

        ctl quarantine 00:02.0
        expect_rc 0 "isolatectl quarantine 00:02.0"
        expect_in out "0000:00:02.0" "the reply names the device taken"
        status_json
        expect_json "status lists 0000:00:02.0 quarantined, mode blocked" \
                'any(.[]; .slot == "0000:00:02.0" and .state == "quarantined" and .mode == "blocked")'
        expect_driver 0000:00:02.0 vfio-pci
        expect_eq "driver_override of 0000:00:02.0" "$(override_of 0000:00:02.0)" vfio-pci
        expect_eq "Device State property" "$(device_property 0000:00:02.0 State)" 's "quarantined"'
        expect_eq "Manager QuarantinedDevices" "$(manager_property QuarantinedDevices)" 'u 1'

        ctl quarantine --mode=scratch-page 00:02.0
        expect_rc 0 "isolatectl quarantine --mode=scratch-page 00:02.0 (held: a mode switch)"
        device_is 0000:00:02.0 '.state == "quarantined" and .mode == "scratch-page"' \
                "status shows 0000:00:02.0 quarantined in scratch-page mode"
        expect_eq "Device Mode property" "$(device_property 0000:00:02.0 Mode)" 's "scratch-page"'
        expect_driver 0000:00:02.0 vfio-pci
}

# A device bound to a host driver: the driver is remembered and bound again by release --to host.
case_host_driver() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        expect_driver 0000:00:04.0 e1000e

        ctl quarantine 00:04.0
        expect_rc 0 "isolatectl quarantine 00:04.0 (bound to e1000e)"
        expect_driver 0000:00:04.0 vfio-pci
        status_json
        expect_json "status: 0000:00:04.0 quarantined, host_driver e1000e" \
                'any(.[]; .slot == "0000:00:04.0" and .state == "quarantined" and .host_driver == "e1000e")'

        ctl release 00:04.0 --to host
        expect_rc 0 "isolatectl release 00:04.0 --to host"
        expect_driver 0000:00:04.0 e1000e
        check "driver_override no longer says vfio-pci" test "$(override_of 0000:00:04.0)" != vfio-pci
        status_json
        expect_json "status no longer lists 0000:00:04.0" 'all(.[]; .slot != "0000:00:04.0")'
        expect_eq "Device State property" "$(device_property 0000:00:04.0 State)" 's "host"'
}

# Bad arguments: InvalidArgs over D-Bus, exit 2 (usage) from the CLI; nothing is touched.
case_argument_validation() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        local invalid=org.freedesktop.DBus.Error.InvalidArgs

        bus_call Quarantine assb 1 0000:zz:00.0 "" false
        expect_error_name $invalid "Quarantine(['0000:zz:00.0'])"
        bus_call Release assb 1 0000:00:02.0 space false
        expect_error_name $invalid "Release(to='space')"
        bus_call Quarantine assb 1 0000:00:02.0 fast false
        expect_error_name $invalid "Quarantine(mode='fast')"
        bus_call Quarantine assb 0 "" false
        expect_error_name $invalid "Quarantine([]) (no device)"
        bus_call Release assb 0 guest false
        expect_error_name $invalid "Release([]) (no device)"

        ctl quarantine 0000:zz:00.0
        expect_rc 2 "isolatectl quarantine 0000:zz:00.0"
        expect_in err "0000:zz:00.0" "the usage error names the bad address"
        ctl release 00:02.0
        expect_rc 2 "isolatectl release 00:02.0 without --to"
        expect_in err "--to" "the usage error asks for --to"
        ctl quarantine --mode=fast 00:02.0
        expect_rc 2 "isolatectl quarantine --mode=fast"
        expect_in err "fast" "the usage error names the bad mode"
        expect_copy_unchanged "$FIXTURES/default" "nothing changed in the copy"
}

# The named errors of docs/isolate.md and org.isolate1.Manager.xml, and fail-closed on a failed quarantine.
case_named_errors() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"

        ctl quarantine 0000:00:09.0
        expect_rc 1 "isolatectl quarantine 0000:00:09.0 (no such device)"
        expect_in err "No PCI device" "the CLI says there is no such device"
        bus_call Quarantine assb 1 0000:00:09.0 "" false
        expect_error_name org.isolate1.Error.NoSuchDevice "Quarantine(0000:00:09.0)"
        bus_call Quarantine assb 1 0000:00:00.0 "" false
        expect_error_name org.isolate1.Error.NotIsolatable "Quarantine(0000:00:00.0) (host bridge)"
        ctl quarantine 00:00.0
        expect_rc 1 "isolatectl quarantine 00:00.0 (host bridge)"
        stop_daemon

        # bridge: 02:01.0 shares group 6 with 02:02.0, which virtio-pci drives.
        start_daemon bridge "$CASE_DIR/policy.json"
        ctl quarantine 02:01.0
        expect_rc 1 "isolatectl quarantine 02:01.0 (its group member is in use)"
        expect_in err "0000:02:02.0" "the error names the blocking device 0000:02:02.0"
        bus_call Quarantine assb 1 0000:02:01.0 "" false
        expect_error_name org.isolate1.Error.GroupNotViable "Quarantine(0000:02:01.0)"
        expect_in err "0000:02:02.0" "the D-Bus error names 0000:02:02.0"
        expect_copy_unchanged "$FIXTURES/bridge" "nothing changed in the copy"
        ctl quarantine 02:01.0 02:02.0
        expect_rc 0 "isolatectl quarantine 02:01.0 02:02.0 (the whole group)"
        status_json
        expect_json "both are quarantined" \
                '[.[] | select(.state == "quarantined") | .slot] | contains(["0000:02:01.0", "0000:02:02.0"])'
        expect_driver 0000:02:02.0 vfio-pci
        expect_json "0000:02:02.0 remembers virtio-pci" \
                'any(.[]; .slot == "0000:02:02.0" and .host_driver == "virtio-pci")'
        stop_daemon

        # nointremap, and iommufd refuses the bind with EPERM (unsafe interrupts). The copy's edu has bus
        # mastering on, to see that the failure leaves it off.
        fresh_copy nointremap
        set_bus_master 0000:00:02.0
        expect_eq "bus mastering of 0000:00:02.0 is on before" "$(bus_master_of 0000:00:02.0)" 1
        start_daemon - "$CASE_DIR/policy.json" ISOLATE_FAKE_BIND_ERROR=0000:00:02.0=1
        bus_call Quarantine assb 1 0000:00:02.0 "" false
        expect_error_name org.isolate1.Error.UnsafeInterrupts "Quarantine(0000:00:02.0), bind fails with EPERM"
        ctl quarantine 00:02.0
        expect_rc 1 "isolatectl quarantine 00:02.0 (EPERM)"
        expect_in err "allow_unsafe_interrupts" "the message mentions allow_unsafe_interrupts"
        status_json
        expect_json "status shows the failure as last_error of 0000:00:02.0" \
                'any(.[]; .slot == "0000:00:02.0" and (.last_error // "" | contains("allow_unsafe_interrupts")))'
        expect_driver 0000:00:02.0 vfio-pci
        expect_eq "driver_override of 0000:00:02.0 (no host driver may take it)" "$(override_of 0000:00:02.0)" vfio-pci
        expect_eq "bus mastering of 0000:00:02.0 is off after the failure" "$(bus_master_of 0000:00:02.0)" 0
        stop_daemon

        # EINVAL from the bind while vfio-pci has the device enabled: it is open elsewhere (a VMM), and left
        # alone (bus mastering stays on: clearing it would break the guest's device).
        fresh_copy nointremap
        set_bus_master 0000:00:02.0
        echo 1 > "$(dev_dir 0000:00:02.0)/enable"
        start_daemon - "$CASE_DIR/policy.json" ISOLATE_FAKE_BIND_ERROR=0000:00:02.0=22
        bus_call Quarantine assb 1 0000:00:02.0 "" false
        expect_error_name org.isolate1.Error.DeviceBusy "Quarantine(0000:00:02.0), bind fails with EINVAL, device enabled"
        ctl quarantine 00:02.0
        expect_rc 1 "isolatectl quarantine 00:02.0 (EINVAL)"
        expect_eq "bus mastering of the VMM's 0000:00:02.0 is left on" "$(bus_master_of 0000:00:02.0)" 1
        stop_daemon

        # EINVAL from the bind with nobody having it open: the IOMMU cannot block it (RMRR/IVMD, no cache
        # coherency). Nobody owns it: it is failed, with bus mastering off, and status says so.
        fresh_copy nointremap
        set_bus_master 0000:00:02.0
        echo 0 > "$(dev_dir 0000:00:02.0)/enable"
        start_daemon - "$CASE_DIR/policy.json" ISOLATE_FAKE_BIND_ERROR=0000:00:02.0=22
        bus_call Quarantine assb 1 0000:00:02.0 "" false
        expect_error_name org.isolate1.Error.NotIsolatable "Quarantine(0000:00:02.0), bind fails with EINVAL, nobody has it"
        expect_eq "bus mastering of 0000:00:02.0 is off" "$(bus_master_of 0000:00:02.0)" 0
        status_json
        expect_json "status shows 0000:00:02.0 failed, with the reason" \
                'any(.[]; .slot == "0000:00:02.0" and .state == "failed" and (.last_error // "" | contains("RMRR")))'
        ctl --no-legend list
        expect_in out "failed" "isolatectl list shows the failed state"
}

# Release to a guest only what the policy allows, with safe interrupts; all or nothing.
case_policy_enforcement() {
        write_policy "$CASE_DIR/policy.json" "$EDU3_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        ctl quarantine 00:02.0 00:03.0
        expect_rc 0 "isolatectl quarantine 00:02.0 00:03.0"

        ctl release 00:02.0 00:03.0 --to guest
        expect_rc 1 "release of 00:02.0 and 00:03.0 together (00:02.0 denied)"
        status_json
        expect_json "neither was released: both still quarantined" \
                '[.[] | select(.state == "quarantined") | .slot] | contains(["0000:00:02.0", "0000:00:03.0"])'

        ctl release 00:02.0 --to guest
        expect_rc 1 "release 00:02.0 --to guest (no rule allows it)"
        if [[ $ERR =~ "no policy rule"|denies ]]; then ok "the refusal says no rule allows it"; else
                fail "the refusal does not say why: $ERR"; fi
        bus_call Release assb 1 0000:00:02.0 guest false
        expect_error_name org.isolate1.Error.NotAllowed "Release(0000:00:02.0, guest)"
        device_is 0000:00:02.0 '.state == "quarantined"' "0000:00:02.0 stays quarantined"

        ctl release 00:03.0 --to guest
        expect_rc 0 "release 00:03.0 --to guest (rule edu-03 allows it)"
        device_is 0000:00:03.0 '.state == "released" and .rule == "edu-03"' "0000:00:03.0 is released (rule edu-03)"
        expect_driver 0000:00:03.0 vfio-pci
        stop_daemon

        # Without interrupt remapping, an allow rule is not enough...
        start_daemon nointremap "$CASE_DIR/policy.json"
        ctl quarantine 00:03.0
        expect_rc 0 "nointremap: quarantine 00:03.0"
        ctl release 00:03.0 --to guest
        expect_rc 1 "nointremap: release 00:03.0 --to guest (interrupts not isolated)"
        expect_in err "allow_unsafe_interrupts" "the refusal mentions allow_unsafe_interrupts"
        bus_call Release assb 1 0000:00:03.0 guest false
        expect_error_name org.isolate1.Error.UnsafeInterrupts "nointremap: Release(0000:00:03.0, guest)"
        device_is 0000:00:03.0 '.state == "quarantined"' "0000:00:03.0 stays quarantined"

        # ... unless the rule explicitly accepts unsafe interrupts.
        write_policy "$CASE_DIR/policy.json" '{
  "version": 1,
  "rules": [
    { "id": "edu-03", "match": { "vendor": "1234", "device": "11e8", "slot": "0000:00:03.0" },
      "passthrough": "allow", "allow_unsafe_interrupts": true }
  ]
}'
        ctl reload
        expect_rc 0 "reload with allow_unsafe_interrupts: true"
        ctl release 00:03.0 --to guest
        expect_rc 0 "nointremap: release 00:03.0 --to guest (the rule accepts unsafe interrupts)"
        device_is 0000:00:03.0 '.state == "released"' "0000:00:03.0 is released"
}

# Reads are open to everyone; changes need root (or polkit, absent here): nothing changes.
case_authorization() {
        write_policy "$CASE_DIR/policy.json" "$EDU3_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        ctl quarantine 00:02.0
        expect_rc 0 "as root: quarantine 00:02.0"
        cp -a "$ROOT" "$CASE_DIR/root-before"
        cp "$STATE/state.json" "$CASE_DIR/state-before.json"
        # a new rule that an unauthorized reload must not bring in
        write_policy "$CASE_DIR/policy.json" "${EDU3_POLICY/edu-03/edu-renamed}"

        run as_nobody "$ISOLATECTL" --json=short status
        expect_rc 0 "as nobody: isolatectl status"
        expect_json "as nobody: status lists 0000:00:02.0" 'any(.[]; .slot == "0000:00:02.0" and .state == "quarantined")'
        run as_nobody busctl --address="$BUS_ADDR" get-property org.isolate1 /org/isolate1/device/0000_00_02_0 \
                org.isolate1.Device State
        expect_rc 0 "as nobody: busctl get-property State"

        for args in "quarantine 00:03.0" "release 00:02.0 --to host" "release 00:02.0 --to guest" "reload"; do
                # shellcheck disable=SC2086
                run as_nobody "$ISOLATECTL" $args
                expect_rc 1 "as nobody: isolatectl $args"
                if [[ $ERR == *"Not authorized"* && $ERR == *polkit* ]]; then ok "it says: not authorized (polkit)"; else
                        fail "as nobody: isolatectl $args: no 'Not authorized'/polkit message: $ERR"; fi
        done

        BUSCTL_AS=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
        command -v setpriv >/dev/null || BUSCTL_AS=(runuser -u nobody --)
        bus_call Quarantine assb 1 0000:00:03.0 "" false
        expect_error_name org.freedesktop.DBus.Error.AccessDenied "as nobody: Quarantine(0000:00:03.0)"
        bus_call Release assb 1 0000:00:02.0 host false
        expect_error_name org.freedesktop.DBus.Error.AccessDenied "as nobody: Release(0000:00:02.0, host)"
        bus_call Reload b false
        expect_error_name org.freedesktop.DBus.Error.AccessDenied "as nobody: Reload()"
        BUSCTL_AS=()

        expect_copy_unchanged "$CASE_DIR/root-before" "nothing changed in the copy"
        check "state.json unchanged" cmp -s "$STATE/state.json" "$CASE_DIR/state-before.json"
        device_is 0000:00:02.0 '.state == "quarantined"' "0000:00:02.0 is still quarantined"
        check "the policy was not reloaded (no rule edu-renamed)" policy_lacks edu-renamed
}

# An invalid policy is refused as a whole with FILE:LINE:COLUMN errors; the old one stays in force
# (by isolatectl reload and by SIGHUP); a fixed one is taken.
case_reload_rollback() {
        local policy=$CASE_DIR/policy.json before_files before_policy refusals
        write_policy "$policy" "$EDU3_POLICY"
        start_daemon default "$policy"
        ctl quarantine 00:02.0 00:03.0
        expect_rc 0 "quarantine 00:02.0 00:03.0"
        before_files=$(manager_property PolicyFiles)
        before_policy=$(get_policy_json)

        write_policy "$policy" '{
  "version": 1,
  "rules": [
    { "id": "edu-03",
      "match": { "vendor": "xyz1", "slot": "0000:00:03.0" },
      "passthrough": "allow",
      "colour": "red" }
  ]
}'
        ctl reload
        expect_rc 1 "isolatectl reload of an invalid policy"
        expect_in err "$policy:5:28: invalid vendor 'xyz1'" "stderr: FILE:LINE:COLUMN of the bad vendor"
        expect_in err "$policy:7:7: unknown key 'colour'" "stderr: FILE:LINE:COLUMN of the unknown key"
        expect_eq "PolicyFiles unchanged" "$(manager_property PolicyFiles)" "$before_files"
        expect_eq "GetPolicy unchanged" "$(get_policy_json)" "$before_policy"
        ctl release 00:03.0 --to guest
        expect_rc 0 "the old policy still decides: release 00:03.0 --to guest allowed"

        # fixed, with a new rule for 00:02.0
        write_policy "$policy" '{
  "version": 1,
  "rules": [
    { "id": "edu-02", "match": { "slot": "0000:00:02.0" }, "passthrough": "allow" },
    { "id": "edu-03", "match": { "vendor": "1234", "slot": "0000:00:03.0" }, "passthrough": "allow" }
  ]
}'
        # Clients that cache device properties learn of the changed verdicts: PropertiesChanged for
        # 0000:00:02.0 (now allowed by edu-02), none for 0000:00:03.0 (still edu-03, allowed).
        busctl --address="$BUS_ADDR" --json=short monitor org.isolate1 >"$CASE_DIR/bus-monitor.json" 2>/dev/null &
        local monitor_pid=$!
        if ! wait_until 10 monitor_saw_get; then
                fail "busctl monitor did not start"
        fi
        ctl reload
        expect_rc 0 "isolatectl reload of the fixed policy"
        if wait_until 10 props_changed 0000_00_02_0; then
                ok "reload: PropertiesChanged (Passthrough, Rule) for 0000:00:02.0, whose verdict changed"
        else
                fail "reload: no PropertiesChanged with Passthrough and Rule for 0000:00:02.0"
        fi
        kill "$monitor_pid" 2>/dev/null
        wait "$monitor_pid" 2>/dev/null || true
        if props_changed 0000_00_03_0; then
                fail "reload: PropertiesChanged for 0000:00:03.0, whose verdict did not change"
        else
                ok "reload: no PropertiesChanged for 0000:00:03.0, whose verdict did not change"
        fi
        expect_eq "Device Rule of 0000:00:02.0" "$(device_property 0000:00:02.0 Rule)" 's "edu-02"'
        ctl release 00:02.0 --to guest
        expect_rc 0 "the new rule applies: release 00:02.0 --to guest allowed"

        # SIGHUP reloads a valid policy...
        write_policy "$policy" '{
  "version": 1,
  "rules": [ { "id": "edu-hup", "match": { "vendor": "1234" }, "passthrough": "allow" } ]
}'
        kill -HUP "$DAEMON_PID"
        if wait_until 10 device_rule_is 0000:00:02.0 edu-hup; then ok "SIGHUP took a valid policy (rule edu-hup)"; else
                fail "SIGHUP did not reload a valid policy"; fi
        # ... and refuses an invalid one, keeping the previous.
        before_policy=$(get_policy_json)
        refusals=$(grep -c "Refused the new policy" "$DAEMON_LOG" || true)
        printf '{ "version": 1, "rules": [ { "id": "x", "match": { "vendor": "8086" }, "passthrough": "maybe" } ] }\n' >"$policy"
        kill -HUP "$DAEMON_PID"
        if wait_until 10 log_count_above "Refused the new policy" "$refusals"; then
                ok "SIGHUP with an invalid policy: refused (logged)"
        else
                fail "SIGHUP with an invalid policy: no refusal in the log"
        fi
        expect_eq "GetPolicy unchanged after SIGHUP" "$(get_policy_json)" "$before_policy"
        expect_eq "Device Rule of 0000:00:02.0 still edu-hup" "$(device_property 0000:00:02.0 Rule)" 's "edu-hup"'
        ctl quarantine 00:02.0
        expect_rc 0 "quarantine 00:02.0 again"
        ctl release 00:02.0 --to guest
        expect_rc 0 "the previous policy still decides after SIGHUP: release 00:02.0 --to guest allowed"
}
policy_lacks() { [[ $(get_policy_json) != *"$1"* ]]; }
# The monitor is attached once it shows a Get that was made after it started.
monitor_saw_get() {
        manager_property Version >/dev/null
        grep -q '"member":"Get"' "$CASE_DIR/bus-monitor.json"
}
# props_changed ESCAPED_SLOT: a PropertiesChanged of that Device object carries Passthrough and Rule.
props_changed() {
        jq -e -s --arg path "/org/isolate1/device/$1" 'any(.[]; .member == "PropertiesChanged" and .path == $path
                and (.payload.data[1] | has("Passthrough") and has("Rule")))' "$CASE_DIR/bus-monitor.json" >/dev/null
}
device_rule_is() { [[ $(device_property "$1" Rule) == "s \"$2\"" ]]; }
log_count_above() { (($(grep -c "$1" "$DAEMON_LOG" || true) > $2)); }

# isolatectl --json monitor streams one JSON object per line for state changes and reloads.
case_monitor() {
        write_policy "$CASE_DIR/policy.json" '{
  "version": 1,
  "rules": [ { "id": "edu", "match": { "vendor": "1234", "device": "11e8" }, "passthrough": "allow" } ]
}'
        start_daemon default "$CASE_DIR/policy.json"
        start_monitor
        ctl quarantine 00:02.0
        expect_rc 0 "quarantine 00:02.0"
        ctl release 00:02.0 --to guest
        expect_rc 0 "release 00:02.0 --to guest"
        expect_monitor "quarantined state event" \
                '.event == "state" and .device == "0000:00:02.0" and .state == "quarantined" and .mode == "blocked"'
        expect_monitor "released state event" \
                '.event == "state" and .device == "0000:00:02.0" and .state == "released" and .reason == "released-to-guest"'

        # Signals arrive in order: with the released event printed, so are the start_monitor reloads.
        local reloads
        reloads=$(grep -c '"event":"policy-reloaded"' "$CASE_DIR/monitor.out" || true)
        ctl reload
        expect_rc 0 "reload"
        if wait_until 10 monitor_count_above '"event":"policy-reloaded"' "$reloads"; then
                ok "monitor: the reload was reported"
        else
                fail "monitor: the reload was not reported"
                show monitor "$CASE_DIR/monitor.out"
        fi
        expect_monitor "policy-reloaded event names the policy file" \
                ".event == \"policy-reloaded\" and .files == [\"$CASE_DIR/policy.json\"]"
        run jq -e -s '[.[] | select(.event == "state") | .state] | index("quarantined") < index("released")' \
                "$CASE_DIR/monitor.out"
        expect_rc 0 "monitor: quarantined came before released"
        stop_monitor
        run python3 -c '
import json, sys
n = 0
for i, line in enumerate(open(sys.argv[1]), 1):
    o = json.loads(line)
    assert isinstance(o, dict) and "event" in o and "time" in o, f"line {i}: {line!r}"
    n += 1
assert n >= 3, f"only {n} lines"
print(n, "lines")' "$CASE_DIR/monitor.out"
        expect_rc 0 "every monitor line is one JSON object with event and time ($OUT)"
        [[ $RC == 0 ]] || show monitor "$CASE_DIR/monitor.out"
}
monitor_count_above() { (($(grep -c "$1" "$CASE_DIR/monitor.out" || true) > $2)); }

# DMA faults from the kernel log (a FIFO at $ROOT/dev/kmsg) are counted and signalled; a bridge
# alias is attributed to the devices behind the bridge.
case_dma_faults() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        fresh_copy default
        rm -f "$ROOT/dev/kmsg"
        mkfifo "$ROOT/dev/kmsg"
        start_daemon - "$CASE_DIR/policy.json"
        exec 9>"$ROOT/dev/kmsg" # the daemon holds the read end: this does not block
        ctl quarantine 00:02.0
        expect_rc 0 "quarantine 00:02.0"
        start_monitor

        # The two forged lines must not count: a fault line written to /dev/kmsg by userspace (the kernel
        # gives it facility LOG_USER: PRIO 14), and a segfault report of a program named after one.
        kmsg \
                '14,99,999,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set' \
                '3,100,1000,-;DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set' \
                '6,101,1000,-;x [DMA Read] Re[4242]: segfault at 0 ip 0000000000401126 sp 00007ffd3b0c3a10 error 6 in x [DMA Read] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] y[401000+1000]' \
                '3,102,1001,-;DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x2000 [fault reason 0x05] PTE Write access is not set'
        if wait_until 10 faults_are 0000:00:02.0 1 1; then ok "status: 0000:00:02.0 dma_faults read 1, write 1"; else
                fail "status does not show read 1 / write 1 faults for 0000:00:02.0"
                status_json 0000:00:02.0
                echo "      $OUT"
        fi
        # saved within a second, not on every kmsg wake-up
        if wait_until 5 state_faults_are 0000:00:02.0 1 1; then ok "state.json: 0000:00:02.0 faults read 1, write 1"; else
                fail "state.json does not show read 1 / write 1 faults for 0000:00:02.0"
                show state.json "$STATE/state.json"
        fi
        expect_monitor "dma-fault read event, quarantined" \
                '.event == "dma-fault" and .device == "0000:00:02.0" and .access == "read" and .iova == 4096 and .quarantined == true'
        expect_monitor "dma-fault write event, quarantined" \
                '.event == "dma-fault" and .device == "0000:00:02.0" and .access == "write" and .quarantined == true'
        expect_eq "Device DmaFaultsWrite property" "$(device_property 0000:00:02.0 DmaFaultsWrite)" 'u 1'
        stop_monitor
        exec 9>&-
        stop_daemon

        # bridge: [02:00.0] is the alias the PCIe-to-PCI bridge 01:00.0 uses for everything behind it.
        fresh_copy bridge
        rm -f "$ROOT/dev/kmsg"
        mkfifo "$ROOT/dev/kmsg"
        start_daemon - "$CASE_DIR/policy.json"
        exec 9>"$ROOT/dev/kmsg"
        kmsg \
                '3,200,2000,-;DMAR: [DMA Read NO_PASID] Request device [02:00.0] fault addr 0x3000 [fault reason 0x06] PTE Read access is not set'
        if wait_until 10 faults_are 0000:02:01.0 1 0 && faults_are 0000:02:02.0 1 0; then
                ok "the [02:00.0] alias counts for 0000:02:01.0 and 0000:02:02.0"
        else
                fail "the [02:00.0] alias was not attributed to the devices behind the bridge"
                status_json 0000:02:01.0 0000:02:02.0
                echo "      $OUT"
        fi
        status_json 0000:01:00.0 0000:00:02.0
        expect_json "neither the bridge itself nor 00:02.0 got the fault" 'all(.[]; .dma_faults.total == 0)'
        exec 9>&-
}
state_faults_are() { # polled
        jq -e --arg slot "$1" ".devices[] | select(.slot == \$slot) | .faults_read == $2 and .faults_write == $3" \
                "$STATE/state.json" >/dev/null
}
faults_are() { # polled: a failure here is no verdict yet
        ctl --json=short status "$1"
        jq -e ".[0].dma_faults.read == $2 and .[0].dma_faults.write == $3" <<<"$OUT" >/dev/null
}

# Quarantine survives a crash: state.json, and a restart without the fd store takes the devices back
# in the same mode, with the host driver still known.
case_persistence() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        ctl quarantine --mode=scratch-page 00:02.0
        expect_rc 0 "quarantine --mode=scratch-page 00:02.0"
        ctl quarantine 00:04.0
        expect_rc 0 "quarantine 00:04.0 (e1000e)"

        run jq -c . "$STATE/state.json"
        expect_rc 0 "state.json exists and is valid JSON"
        expect_json "state.json lists 0000:00:02.0 (scratch-page) and 0000:00:04.0 (blocked) as quarantined" '
                ([.engine.devices[] | select(.state == "quarantined") | {slot, mode}] | sort_by(.slot)) ==
                [{"slot": "0000:00:02.0", "mode": "scratch-page"}, {"slot": "0000:00:04.0", "mode": "blocked"}]'

        kill_daemon
        start_daemon - "$CASE_DIR/policy.json"
        if grep -q "0000:00:02.0 was held by the previous instance.*taking it back" "$DAEMON_LOG"; then
                ok "the restarted daemon logs that it takes 0000:00:02.0 back"
        else
                fail "the restarted daemon does not log that it takes 0000:00:02.0 back"
                show log "$DAEMON_LOG"
        fi
        status_json
        expect_json "0000:00:02.0 quarantined again, scratch-page" \
                'any(.[]; .slot == "0000:00:02.0" and .state == "quarantined" and .mode == "scratch-page")'
        expect_json "0000:00:04.0 quarantined again, blocked, host driver e1000e" \
                'any(.[]; .slot == "0000:00:04.0" and .state == "quarantined" and .mode == "blocked" and .host_driver == "e1000e")'
        expect_driver 0000:00:02.0 vfio-pci
        ctl release 00:04.0 --to host
        expect_rc 0 "release 00:04.0 --to host after the restart"
        expect_driver 0000:00:04.0 e1000e
}

# An invalid policy at startup: the daemon runs on the built-in defaults, says why, and lets nothing
# pass through (not even what a rule of the invalid file would allow).
case_invalid_policy_at_startup() {
        local policy=$CASE_DIR/policy.json slots s refused=0 total=0
        write_policy "$policy" '{
  "version": 1,
  "rules": [
    { "id": "all-edu", "match": { "vendor": "1234" }, "passthrough": "allow" },
    { "id": "typo", "match": { "vendr": "8086" }, "passthrough": "allow" }
  ]
}'
        start_daemon default "$policy"
        local perr
        perr=$(manager_property PolicyError)
        if [[ $perr == *"$policy:5:"*vendr* ]]; then ok "PolicyError names the file and line ($perr)"; else
                fail "PolicyError does not name $policy:5 and the bad key: $perr"; fi
        expect_eq "DefaultMode (built-in)" "$(manager_property DefaultMode)" 's "blocked"'
        expect_eq "QuarantineOnUnbind (built-in)" "$(manager_property QuarantineOnUnbind)" 's "all"'

        ctl quarantine 00:02.0
        expect_rc 0 "quarantine 00:02.0 still works"
        slots=$(busctl --address="$BUS_ADDR" --json=short call org.isolate1 /org/isolate1 org.isolate1.Manager \
                ListDevices | jq -r '.data[0][][0]')
        for s in $slots; do
                total=$((total + 1))
                ctl release "$s" --to guest
                if [[ $RC == 1 ]]; then refused=$((refused + 1)); else
                        fail "release $s --to guest: exit $RC, expected 1 (refused)"; fi
        done
        check "release --to guest refused for all $total devices" test "$total" -gt 0 -a "$refused" -eq "$total"
        device_is 0000:00:02.0 '.state == "quarantined" and .passthrough == "deny"' "0000:00:02.0 stays quarantined (deny)"
}

# Without the daemon, the CLI fails with exit 1 and says how to start it.
case_daemon_not_running() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        stop_daemon
        ctl status
        expect_rc 1 "isolatectl status without the daemon"
        expect_in err "systemctl start isolated" "it says how to start the daemon"
        ctl quarantine 00:02.0
        expect_rc 1 "isolatectl quarantine without the daemon"
        expect_in err "systemctl start isolated" "it says how to start the daemon"
}

# The installed isolated ships no test backend: the fake engine lives in the test binary only (issue 9).
case_shipped_binary() {
        local rc=0
        strings "$ISOLATED_REAL" >"$CASE_DIR/strings"
        if grep -i -E 'fake|ISOLATE_FAKE' "$CASE_DIR/strings" >"$CASE_DIR/fake-strings"; then
                fail "isolated has test-backend strings: $(head -3 "$CASE_DIR/fake-strings" | tr '\n' ' ')"
        else
                ok "strings isolated: no fake"
        fi
        "$ISOLATED_REAL" --fake-engine >"$CASE_DIR/out" 2>"$CASE_DIR/err" || rc=$?
        if [[ $rc == 2 ]]; then ok "isolated --fake-engine is refused (exit 2)"; else
                fail "isolated --fake-engine exited $rc (expected 2, an unknown option)"; fi
        strings "$ISOLATED" >"$CASE_DIR/test-strings"
        if grep -q ISOLATE_FAKE_BIND_ERROR "$CASE_DIR/test-strings"; then ok "the test binary has the fake backend"; else
                fail "the test binary $ISOLATED has no fake backend"; fi
}

# now_ms: the monotonic-enough wall clock in milliseconds.
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# flood_answer FILE N: the answer to call N in isolate-test-flood's output: "SECONDS KIND REST".
flood_answer() { sed -n "s/^call $2: \([0-9.]*\) s: \(.*\)$/\1 \2/p" "$1"; }

# expect_fast WHAT SECONDS(decimal) LIMIT(integer seconds)
expect_fast() {
        if awk -v t="$2" -v l="$3" 'BEGIN { exit !(t < l) }'; then ok "$1 in $2 s (< $3 s)"; else
                fail "$1 took $2 s (limit $3 s)"; fi
}

# Pre-authorization denial of service (issue 8, item 14): a Quarantine with 120000 addresses is refused
# at once with InvalidArgs naming the limit, for root and for an unprivileged caller, and the daemon
# answers others meanwhile; the cap itself still works; duplicates are still taken once.
case_request_limits() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        local who prefix answer t0 t1 out

        for who in root nobody; do
                prefix=()
                if [[ $who == nobody ]]; then
                        prefix=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
                        command -v setpriv >/dev/null || prefix=(runuser -u nobody --)
                fi
                out=$CASE_DIR/flood-$who.out
                "${prefix[@]}" "$FLOOD" --count 120000 --timeout 120 >"$out" 2>"$CASE_DIR/flood-$who.err" </dev/null &
                local flood_pid=$!
                track "$flood_pid"
                sleep 0.3 # the call is on its way (or answered already)
                t0=$(now_ms)
                run "${prefix[@]}" "$ISOLATECTL" --json=short status
                t1=$(now_ms)
                expect_rc 0 "as $who, during the flood: isolatectl status"
                expect_fast "as $who, during the flood: isolatectl status answered" \
                        "$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1000 }')" 2
                wait "$flood_pid" || fail "as $who: isolate-test-flood --count 120000 failed: $(cat "$CASE_DIR/flood-$who.err")"
                answer=$(flood_answer "$out" 1)
                expect_fast "as $who: Quarantine with 120000 addresses answered" "${answer%% *}" 2
                if [[ $answer == *" error org.freedesktop.DBus.Error.InvalidArgs: "*"at most 4096"* ]]; then
                        ok "as $who: InvalidArgs naming the limit of 4096"
                else
                        fail "as $who: the answer is not InvalidArgs naming the limit: ${answer:-none}"
                        show output "$out"
                fi
        done

        # 4096 different addresses are not too many: as root, the call goes on to find that
        # 0000:00:00.0 is a host bridge (the first address); one more is refused for its number.
        run "$FLOOD" --count 4096
        expect_rc 0 "isolate-test-flood --count 4096"
        answer=$(flood_answer "$CASE_DIR/stdout" 1)
        if [[ $answer == *" error org.isolate1.Error.NotIsolatable: "* ]]; then ok "4096 addresses: taken up (NotIsolatable)"; else
                fail "4096 addresses: expected NotIsolatable, got: ${answer:-none}"; fi
        expect_fast "4096 addresses answered" "${answer%% *}" 2
        run "$FLOOD" --count 4097
        answer=$(flood_answer "$CASE_DIR/stdout" 1)
        if [[ $answer == *" error org.freedesktop.DBus.Error.InvalidArgs: "*"at most 4096"* ]]; then
                ok "4097 addresses: InvalidArgs naming the limit"
        else
                fail "4097 addresses: expected InvalidArgs naming the limit, got: ${answer:-none}"
        fi

        # Duplicates, also written differently, are taken once.
        run "$FLOOD" --count 3 --address 0000:00:02.0
        expect_rc 0 "isolate-test-flood --count 3 --address 0000:00:02.0"
        answer=$(flood_answer "$CASE_DIR/stdout" 1)
        expect_eq "three copies of 0000:00:02.0: taken once" "${answer#* }" "taken 0000:00:02.0"
        bus_call Quarantine assb 5 00:03.0 0000:00:04.0 0000:00:03.0 00:04.0 0000:00:03.0 "" false
        expect_rc 0 "Quarantine(00:03.0 0000:00:04.0 0000:00:03.0 00:04.0 0000:00:03.0)"
        expect_eq "each taken once, in the order first named" "$OUT" 'as 2 "0000:00:03.0" "0000:00:04.0"'
        status_json
        expect_json "0000:00:02.0, 0000:00:03.0 and 0000:00:04.0 are quarantined" \
                '[.[] | select(.state == "quarantined") | .slot] | sort == ["0000:00:02.0", "0000:00:03.0", "0000:00:04.0"]'
}

# start_fake_polkit ANSWER: isolate-test-fake-polkit owns org.freedesktop.PolicyKit1 on the private bus.
start_fake_polkit() {
        stop_fake_polkit
        "$FAKE_POLKIT" "$1" >>"$CASE_DIR/polkit.out" 2>&1 </dev/null &
        POLKIT_PID=$!
        track "$POLKIT_PID"
        wait_until 10 busctl --address="$BUS_ADDR" status org.freedesktop.PolicyKit1 ||
                { fail "the fake polkit did not come up"; return 1; }
}
stop_fake_polkit() {
        [[ -n ${POLKIT_PID:-} ]] || return 0
        kill -TERM "$POLKIT_PID" 2>/dev/null || true
        wait "$POLKIT_PID" 2>/dev/null || true
        POLKIT_PID=
        wait_until 10 polkit_name_is_free || fail "org.freedesktop.PolicyKit1 still owned"
}
polkit_name_is_free() { ! busctl --address="$BUS_ADDR" status org.freedesktop.PolicyKit1 >/dev/null 2>&1; }
polkit_checks() { grep -c '^check org.isolate1.manage ' "$CASE_DIR/polkit.out" || true; }

# The asynchronous polkit path (issue 8, items 14 and 16), with a fake polkitd: a yes runs the call
# (re-dispatched once the answer came), no and challenge refuse it; a caller gets at most 16 checks
# pending, more are LimitsExceeded at once; an unanswered check ends in AccessDenied after 30 s.
case_polkit() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        local nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --) answer n t
        command -v setpriv >/dev/null || nobody=(runuser -u nobody --)
        BUSCTL_AS=("${nobody[@]}")

        start_fake_polkit yes
        run "${nobody[@]}" "$ISOLATECTL" quarantine 00:02.0
        expect_rc 0 "polkit says yes: as nobody, isolatectl quarantine 00:02.0"
        run "${nobody[@]}" "$FLOOD" --count 3 --address 0000:00:03.0
        answer=$(flood_answer "$CASE_DIR/stdout" 1)
        expect_eq "polkit says yes: as nobody, three copies of 0000:00:03.0 are taken once" "${answer#* }" \
                "taken 0000:00:03.0"
        expect_eq "one polkit check per call" "$(polkit_checks)" 2

        start_fake_polkit no
        bus_call Quarantine assb 1 0000:00:04.0 "" false
        expect_error_name org.freedesktop.DBus.Error.AccessDenied "polkit says no: as nobody, Quarantine(0000:00:04.0)"
        start_fake_polkit challenge
        bus_call Quarantine assb 1 0000:00:04.0 "" false
        expect_error_name org.freedesktop.DBus.Error.InteractiveAuthorizationRequired \
                "polkit wants a password: as nobody, Quarantine(0000:00:04.0)"
        # A bad argument is refused before polkit is asked.
        n=$(polkit_checks)
        bus_call Quarantine assb 1 0000:zz:00.0 "" false
        expect_error_name org.freedesktop.DBus.Error.InvalidArgs "as nobody, Quarantine(0000:zz:00.0)"
        expect_eq "no polkit check for an invalid call" "$(polkit_checks)" "$n"
        BUSCTL_AS=()

        # polkit never answers: 20 calls on one connection, 16 wait, 4 are refused at once; another
        # caller still gets its check.
        start_fake_polkit never
        n=$(polkit_checks)
        "${nobody[@]}" "$FLOOD" --count 1 --address 0000:00:04.0 --calls 20 --timeout 90 \
                >"$CASE_DIR/flood-many.out" 2>"$CASE_DIR/flood-many.err" </dev/null &
        local many_pid=$!
        track "$many_pid"
        if wait_until 10 flood_lines_are "$CASE_DIR/flood-many.out" LimitsExceeded 4; then
                ok "calls 17 to 20 of one caller: LimitsExceeded"
        else
                fail "no four LimitsExceeded answers within 10 s"
                show output "$CASE_DIR/flood-many.out"
        fi
        for t in $(sed -n 's/^call [0-9]*: \([0-9.]*\) s: error org.freedesktop.DBus.Error.LimitsExceeded: .*/\1/p' \
                "$CASE_DIR/flood-many.out"); do
                expect_fast "LimitsExceeded" "$t" 2
        done
        "${nobody[@]}" "$FLOOD" --count 1 --address 0000:00:04.0 --timeout 90 \
                >"$CASE_DIR/flood-other.out" 2>&1 </dev/null &
        local other_pid=$!
        track "$other_pid"
        wait_until 10 test "$(polkit_checks)" -ge $((n + 17)) || true
        expect_eq "polkit checks asked: 16 for the first caller, 1 for the other" "$(polkit_checks)" $((n + 17))
        ctl --json=short status
        expect_rc 0 "as root, with 17 checks pending: isolatectl status"

        wait "$many_pid" || fail "isolate-test-flood --calls 20: some call got no answer: $(cat "$CASE_DIR/flood-many.err")"
        wait "$other_pid" || fail "the other caller's call got no answer"
        n=$(grep -c ' s: error org.freedesktop.DBus.Error.AccessDenied: ' "$CASE_DIR/flood-many.out" || true)
        expect_eq "calls 1 to 16: AccessDenied once polkit's time ran out" "$n" 16
        t=$(sed -n 's/^call 1: \([0-9.]*\) s: .*/\1/p' "$CASE_DIR/flood-many.out")
        if awk -v t="$t" 'BEGIN { exit !(t >= 25 && t < 45) }'; then ok "the time-out came after $t s (30 s)"; else
                fail "call 1 was answered after ${t:-?} s, expected about 30 s"; show output "$CASE_DIR/flood-many.out"; fi
        answer=$(flood_answer "$CASE_DIR/flood-other.out" 1)
        if [[ $answer == *" error org.freedesktop.DBus.Error.AccessDenied: "* ]]; then ok "the other caller: AccessDenied"; else
                fail "the other caller: expected AccessDenied, got: ${answer:-none}"; fi
        device_is 0000:00:04.0 '.state == "host"' "0000:00:04.0 was not taken"
        stop_fake_polkit
}
# flood_lines_are FILE ERROR COUNT: the output has COUNT answers with that error (short name).
flood_lines_are() { (($(grep -c " s: error org.freedesktop.DBus.Error.$2: " "$1" || true) == $3)); }

# ---- a fake systemd: the file descriptor store ----------------------------------------------
# fake-supervisor.py runs isolated as systemd would, with $NOTIFY_SOCKET and an fd store passed back at
# each start ($LISTEN_FDS...). The helpers keep stop_daemon working: DAEMON_PID is the supervisor, which
# stops isolated on SIGTERM and exits with its status; DAEMON_LOG is the current instance's log.

# sv_start SNAPSHOT|- POLICY [VAR=VALUE...]: the supervisor, and isolated under it.
sv_start() {
        local snapshot=$1 policy=$2
        shift 2
        [[ $snapshot == - ]] || fresh_copy "$snapshot"
        SV_DIR=$CASE_DIR/supervisor
        mkdir -p "$SV_DIR"
        echo "\$ fake-supervisor.py --dir $SV_DIR -- isolated --root $ROOT --state-dir $STATE --policy $policy" \
                >>"$CASE_DIR/commands"
        python3 "$FAKE_SUPERVISOR" --dir "$SV_DIR" -- "$ISOLATED" --root "$ROOT" --state-dir "$STATE" \
                --policy "$policy" --log-target=console --log-level=debug >"$SV_DIR/supervisor.log" 2>&1 </dev/null &
        SV_PID=$!
        track "$SV_PID"
        DAEMON_PID=$SV_PID
        if ! wait_until 10 test -p "$SV_DIR/control"; then
                fail "the fake supervisor did not come up"
                show log "$SV_DIR/supervisor.log"
                return 1
        fi
        sv_launch start "$@"
}

# sv_cmd VERB [ARGS...]: a command to the supervisor; its answer (after "ok") is in SV_REPLY.
sv_cmd() {
        local id fd deadline=$((SECONDS + 30))
        SV_SEQ=$((${SV_SEQ:-0} + 1))
        id=$SV_SEQ
        echo "\$ (supervisor) $*" >>"$CASE_DIR/commands"
        # read-write: the open does not wait for a reader, and a dead supervisor is a time-out, not a hang
        exec {fd}<>"$SV_DIR/control"
        echo "$id $*" >&"$fd"
        exec {fd}>&-
        until [[ -e $SV_DIR/reply.$id ]]; do
                if ! kill -0 "$SV_PID" 2>/dev/null || ((SECONDS >= deadline)); then
                        fail "the fake supervisor did not answer '$*'"
                        show log "$SV_DIR/supervisor.log"
                        return 1
                fi
                sleep 0.05
        done
        SV_REPLY=$(cat "$SV_DIR/reply.$id")
        [[ $SV_REPLY == ok* ]] || { fail "the fake supervisor refused '$*': $SV_REPLY"; return 1; }
        SV_REPLY=${SV_REPLY#ok}
        SV_REPLY=${SV_REPLY# }
}

# sv_launch start|restart [VAR=VALUE|-VAR...]: (restart: SIGKILL isolated, a crash, then) start isolated
# with what the store holds; waits until the new instance owns org.isolate1.
sv_launch() {
        local verb=$1 deadline
        shift
        DAEMON_N=$((${DAEMON_N:-0} + 1))
        DAEMON_LOG=$CASE_DIR/daemon.$DAEMON_N.log
        sv_cmd "$verb" "$DAEMON_LOG" "$@" || return 1
        SV_CHILD=$SV_REPLY
        track "$SV_CHILD"
        deadline=$((SECONDS + 20))
        until busctl --address="$BUS_ADDR" status org.isolate1 2>/dev/null | grep -qx "PID=$SV_CHILD"; do
                if grep -q "^exit $SV_CHILD " "$SV_DIR/events" || ((SECONDS >= deadline)); then
                        fail "isolated (pid $SV_CHILD, under the fake supervisor) did not take org.isolate1"
                        show log "$DAEMON_LOG"
                        return 1
                fi
                sleep 0.05
        done
}

# sv_kill: SIGKILL isolated (a crash); the supervisor keeps the store.
sv_kill() {
        sv_cmd kill || return 1
        wait_until 10 name_is_free || { fail "org.isolate1 still owned after SIGKILL"; return 1; }
}

# the store: how many fds of a name, their serial numbers (the same number: the very same fd)
store_count() { awk -v n="$1" '$1 == n' "$SV_DIR/store" | wc -l; }
store_serials() { awk -v n="$1" '$1 == n { print $2 }' "$SV_DIR/store" | tr '\n' ' '; }
store_has() { (($(store_count "$1") > 0)); }
expect_store() {
        local n
        n=$(store_count "$1")
        if [[ $n == "$2" ]]; then
                ok "the fd store holds $2 fd(s) named $1"
        else
                fail "the fd store holds $n fd(s) named $1, expected $2"
                show store "$SV_DIR/store"
        fi
}
# sv_saw REGEX WHAT: a line of the supervisor's events matches
sv_saw() {
        if grep -qE -- "$1" "$SV_DIR/events"; then ok "$2"; else
                fail "$2: no '$1' in the supervisor's events"
                show events "$SV_DIR/events"
        fi
}
# expect_log [-v] REGEX WHAT: the current daemon log has (-v: has not) a line matching REGEX
expect_log() {
        local invert=0 found=0
        [[ $1 == -v ]] && { invert=1; shift; }
        grep -qE -- "$1" "$DAEMON_LOG" && found=1
        if ((found != invert)); then
                ok "$2"
        elif ((invert)); then
                fail "$2: the log has '$1'"
                grep -E -m 3 -- "$1" "$DAEMON_LOG" | sed 's/^/        /'
        else
                fail "$2: no '$1' in the log"
                show log "$DAEMON_LOG"
        fi
}

# A crash under a service manager: the devices' fds survive in the store, the next instance takes the
# devices back with them, in their modes, and stores nothing twice (systemd keeps every fd it gets, also
# a second one of a name).
case_fdstore_crash() {
        local before
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        sv_start default "$CASE_DIR/policy.json"
        ctl quarantine --mode=scratch-page 00:02.0
        expect_rc 0 "quarantine --mode=scratch-page 00:02.0"
        ctl quarantine 00:04.0
        expect_rc 0 "quarantine 00:04.0 (e1000e)"
        expect_store vfio-0000-00-02.0 1
        expect_store vfio-0000-00-04.0 1
        expect_store iommufd 1
        before=$(cat "$SV_DIR/store")

        sv_launch restart
        sv_saw "^start 2 $SV_CHILD [1-9]" "the store went to the second instance"
        expect_log "Took back 0000:00:02\.0 \(quarantined, scratch-page\) from the previous instance" \
                "0000:00:02.0 taken back from the previous instance, scratch-page"
        expect_log "Took back 0000:00:04\.0 \(quarantined, blocked\) from the previous instance" \
                "0000:00:04.0 taken back from the previous instance, blocked"
        expect_log -v "did not survive" "no device lost its fd"
        expect_log -v "although the saved state did not describe it" "state.json described every stored fd"
        status_json
        expect_json "0000:00:02.0 quarantined, scratch-page; 0000:00:04.0 quarantined, blocked, host driver e1000e" '
                any(.[]; .slot == "0000:00:02.0" and .state == "quarantined" and .mode == "scratch-page") and
                any(.[]; .slot == "0000:00:04.0" and .state == "quarantined" and .mode == "blocked" and .host_driver == "e1000e")'
        expect_eq "the store after the restart (names and fds)" "$(cat "$SV_DIR/store")" "$before"

        # Another operation must not store the adopted fds again, and a second crash keeps all three.
        ctl quarantine 00:03.0
        expect_rc 0 "quarantine 00:03.0 after the restart"
        expect_store vfio-0000-00-02.0 1
        expect_store vfio-0000-00-03.0 1
        expect_store vfio-0000-00-04.0 1
        expect_store iommufd 1
        sv_launch restart
        expect_log -v "did not survive" "second crash: no device lost its fd"
        status_json
        expect_json "second crash: 0000:00:02.0, 00:03.0 and 00:04.0 quarantined" \
                '[.[] | select(.state == "quarantined") | .slot] | sort == ["0000:00:02.0", "0000:00:03.0", "0000:00:04.0"]'
        ctl release 00:04.0 --to host
        expect_rc 0 "release 00:04.0 --to host after two crashes"
        expect_driver 0000:00:04.0 e1000e
        expect_store vfio-0000-00-04.0 0
}

# state.json missing, then corrupt, at the restart: the stored device fds are taken back by their names,
# in blocked mode (the very fds: their serial numbers in the store stay).
case_fdstore_lost_state() {
        local s2 s4
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        sv_start default "$CASE_DIR/policy.json"
        ctl quarantine --mode=scratch-page 00:02.0
        expect_rc 0 "quarantine --mode=scratch-page 00:02.0"
        ctl quarantine 00:04.0
        expect_rc 0 "quarantine 00:04.0"
        s2=$(store_serials vfio-0000-00-02.0)
        s4=$(store_serials vfio-0000-00-04.0)
        check "both device fds are in the store" test -n "$s2" -a -n "$s4"

        local how
        for how in deleted corrupt; do
                sv_kill
                if [[ $how == deleted ]]; then rm -f "$STATE/state.json"; else echo '{' >"$STATE/state.json"; fi
                sv_launch start
                [[ $how == corrupt ]] && expect_log "state\.json is not valid JSON" "$how: the daemon says state.json is invalid"
                expect_log "Took back 0000:00:02\.0 from the file descriptor store although the saved state did not describe it" \
                        "$how state.json: 0000:00:02.0 taken back by its fd's name"
                expect_log "Took back 0000:00:04\.0 from the file descriptor store although the saved state did not describe it" \
                        "$how state.json: 0000:00:04.0 taken back by its fd's name"
                status_json
                expect_json "$how state.json: 0000:00:02.0 and 0000:00:04.0 quarantined, blocked" '
                        any(.[]; .slot == "0000:00:02.0" and .state == "quarantined" and .mode == "blocked") and
                        any(.[]; .slot == "0000:00:04.0" and .state == "quarantined" and .mode == "blocked")'
                expect_eq "$how state.json: the store keeps 0000:00:02.0's very fd" "$(store_serials vfio-0000-00-02.0)" "$s2"
                expect_eq "$how state.json: the store keeps 0000:00:04.0's very fd" "$(store_serials vfio-0000-00-04.0)" "$s4"
                run jq -c . "$STATE/state.json"
                expect_json "$how state.json: written again, with both devices quarantined" \
                        '[.engine.devices[] | select(.state == "quarantined") | .slot] | sort == ["0000:00:02.0", "0000:00:04.0"]'
        done
}

# Stored fds the daemon cannot take back leave the store (FDSTOREREMOVE) and do not show up: a name of
# no device of this machine, a name that is no device's, an fd that is no VFIO cdev, a second fd of a
# held device or a second iommufd (systemd then drops both: the one in use must be stored again).
case_fdstore_reconcile() {
        local n
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        sv_start default "$CASE_DIR/policy.json"
        ctl quarantine 00:02.0
        expect_rc 0 "quarantine 00:02.0"
        sv_kill
        sv_cmd store vfio-0000-00-1f.7
        sv_cmd store junk-name
        sv_cmd store vfio-0000-00-03.0 "$(dev_dir 0000:00:03.0)/vendor"
        sv_cmd store vfio-0000-00-02.0
        sv_cmd store iommufd
        sv_launch start
        sv_saw "^FDSTOREREMOVE vfio-0000-00-1f\.7 1$" "the fd named for a device that does not exist left the store"
        sv_saw "^FDSTOREREMOVE junk-name 1$" "the fd with a junk name left the store"
        sv_saw "^FDSTOREREMOVE vfio-0000-00-03\.0 1$" "the fd that is no VFIO cdev left the store"
        sv_saw "^FDSTOREREMOVE vfio-0000-00-02\.0 2$" "the second fd of 0000:00:02.0 left the store (with the first)"
        sv_saw "^FDSTOREREMOVE iommufd 2$" "the second iommufd left the store (with the first)"
        expect_log "Dropping 'vfio-0000-00-1f\.7' from the file descriptor store: no device of this machine" \
                "the daemon says why it drops vfio-0000-00-1f.7"
        expect_log "Dropping 'junk-name' from the file descriptor store" "the daemon says why it drops junk-name"
        expect_store vfio-0000-00-1f.7 0
        expect_store junk-name 0
        expect_store vfio-0000-00-03.0 0
        expect_store vfio-0000-00-02.0 1
        expect_store iommufd 1
        status_json
        expect_json "status: 0000:00:02.0 quarantined, no 0000:00:1f.7, 0000:00:03.0 not taken" '
                any(.[]; .slot == "0000:00:02.0" and .state == "quarantined") and all(.[]; .slot != "0000:00:1f.7") and
                all(.[]; .slot != "0000:00:03.0" or .state != "quarantined")'
        ctl --json=short status 0000:00:1f.7
        expect_rc 1 "status 0000:00:1f.7: no such device"
        expect_driver 0000:00:03.0 ""
        # the kept fd of 0000:00:02.0 still holds it through the next crash
        sv_launch restart
        expect_log -v "did not survive" "after the next crash, 0000:00:02.0's fd is still there"
        expect_log "Took back 0000:00:02\.0 \(quarantined, blocked\) from the previous instance" \
                "after the next crash, 0000:00:02.0 is taken back from the previous instance"
        device_is 0000:00:02.0 '.state == "quarantined"' "0000:00:02.0 quarantined after the next crash"
        n=$(grep -c '^FDSTORE' "$SV_DIR/events" || true)
        check "the supervisor saw FDSTORE lines" test "$n" -gt 0
}

# Devices between owners at start: one that had a host driver (state.json) and has none now, and one on
# vfio-pci that the policy lets pass through but that nobody has open, are taken; one a VMM has open and
# ones that never had a driver are left alone.
case_between_owners() {
        local vfio=$ROOT/sys/bus/pci/drivers/vfio-pci
        write_policy "$CASE_DIR/policy.json" '{
  "version": 1,
  "rules": [
    { "id": "nic-04", "match": { "vendor": "8086", "device": "10d3", "slot": "0000:00:04.0" }, "passthrough": "allow" }
  ]
}'
        start_daemon default "$CASE_DIR/policy.json"
        run jq -c . "$STATE/state.json"
        expect_json "state.json remembers the host drivers of 0000:00:04.0 and 0000:00:05.0" '
                any(.devices[]; .slot == "0000:00:04.0" and .host_driver == "e1000e") and
                any(.devices[]; .slot == "0000:00:05.0" and .host_driver == "virtio-pci")'
        kill_daemon
        # While isolated was not running: virtio-pci let go of 0000:00:05.0; a VMM took 0000:00:04.0
        # (vfio-pci, enabled).
        rm "$(dev_dir 0000:00:05.0)/driver"
        mkdir -p "$vfio"
        rm "$(dev_dir 0000:00:04.0)/driver"
        ln -s ../../../bus/pci/drivers/vfio-pci "$(dev_dir 0000:00:04.0)/driver"
        echo 1 >"$(dev_dir 0000:00:04.0)/enable"
        start_daemon - "$CASE_DIR/policy.json"
        expect_log "0000:00:05\.0 had a host driver and has none now: taking it into quarantine" \
                "the daemon says why it takes 0000:00:05.0"
        status_json
        expect_json "0000:00:05.0 (virtio-pci before, driverless now) quarantined" \
                'any(.[]; .slot == "0000:00:05.0" and .state == "quarantined")'
        expect_driver 0000:00:05.0 vfio-pci
        expect_json "0000:00:02.0 and 0000:00:03.0 (never had a driver) not taken" \
                'all(.[]; (.slot == "0000:00:02.0" or .slot == "0000:00:03.0") | not or .state != "quarantined")'
        expect_json "0000:00:04.0 (on vfio-pci, open) not taken" \
                'all(.[]; .slot != "0000:00:04.0" or .state != "quarantined")'
        device_is 0000:00:02.0 '.state == "host" or .state == "unmanaged"' "0000:00:02.0 stays host/unmanaged"
        expect_driver 0000:00:02.0 ""
        expect_driver 0000:00:03.0 ""

        kill_daemon
        echo 0 >"$(dev_dir 0000:00:04.0)/enable" # the VMM crashed
        start_daemon - "$CASE_DIR/policy.json"
        expect_log "0000:00:04\.0 is on vfio-pci with nobody holding it: taking it into quarantine" \
                "the daemon says why it takes 0000:00:04.0"
        device_is 0000:00:04.0 '.state == "quarantined" and .host_driver == "e1000e"' \
                "0000:00:04.0 (on vfio-pci, nobody has it open) quarantined, host driver e1000e"
        device_is 0000:00:02.0 '.state != "quarantined"' "0000:00:02.0 still not taken"
}

# Each device's fd reaches the store as soon as it is bound, not when the operation ends: a crash in
# the middle of a group's quarantine keeps the members bound so far, and the next instance takes them
# back although state.json was never written with them. A release to the host takes the fd out.
case_fdstore_bind_time() {
        local ctl_pid rc=0
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        # 0000:00:1f.3's bind fails with EINVAL; the engine then reads its "enable" file, a FIFO that
        # nobody writes: the daemon stops right after binding 0000:00:1f.0 and 0000:00:1f.2.
        fresh_copy default
        mkfifo "$(dev_dir 0000:00:1f.3)/enable"
        sv_start - "$CASE_DIR/policy.json" ISOLATE_FAKE_BIND_ERROR=0000:00:1f.3=22
        "$ISOLATECTL" quarantine 00:1f.2 >"$CASE_DIR/ctl-1f.out" 2>&1 </dev/null &
        ctl_pid=$!
        track "$ctl_pid"
        if wait_until 20 eval 'store_has vfio-0000-00-1f.0 && store_has vfio-0000-00-1f.2'; then
                ok "0000:00:1f.0 and 0000:00:1f.2 are in the store while their group's quarantine is still running"
        else
                fail "the fds of 0000:00:1f.0 and 0000:00:1f.2 did not reach the store while the operation ran"
                show store "$SV_DIR/store"
        fi
        check "the operation is still running (isolatectl waits)" kill -0 "$ctl_pid"
        run jq -c . "$STATE/state.json"
        expect_json "state.json does not list 0000:00:1f.0 or 0000:00:1f.2 yet" \
                'all(.engine.devices[]; .slot != "0000:00:1f.0" and .slot != "0000:00:1f.2")'

        rm "$(dev_dir 0000:00:1f.3)/enable"
        sv_launch restart -ISOLATE_FAKE_BIND_ERROR # the crash, mid-operation
        wait "$ctl_pid" || rc=$?
        check "isolatectl quarantine 00:1f.2 failed with the crash (exit $rc)" test "$rc" != 0
        expect_log "Took back 0000:00:1f\.0 from the file descriptor store although the saved state did not describe it" \
                "0000:00:1f.0 taken back by its stored fd"
        expect_log "Took back 0000:00:1f\.2 from the file descriptor store although the saved state did not describe it" \
                "0000:00:1f.2 taken back by its stored fd"
        status_json
        expect_json "0000:00:1f.0, 1f.2 and 1f.3 quarantined (1f.3, on vfio-pci and unheld, taken at start)" \
                '[.[] | select(.state == "quarantined") | .slot] | sort == ["0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3"]'
        expect_store vfio-0000-00-1f.0 1
        expect_store vfio-0000-00-1f.2 1
        expect_store vfio-0000-00-1f.3 1

        ctl quarantine 00:04.0
        expect_rc 0 "quarantine 00:04.0"
        expect_store vfio-0000-00-04.0 1
        ctl release 00:04.0 --to host
        expect_rc 0 "release 00:04.0 --to host"
        expect_store vfio-0000-00-04.0 0
        sv_saw "^FDSTOREREMOVE vfio-0000-00-04\.0 1$" "FDSTOREREMOVE for vfio-0000-00-04.0"
        if awk '/^FDSTOREREMOVE vfio-0000-00-04\.0 /{r=1} r && /^BARRIER 1$/{b=1} END{exit !b}' "$SV_DIR/events"; then
                ok "a BARRIER (with its fd) followed the removal"
        else
                fail "no BARRIER after the removal of vfio-0000-00-04.0"
                show events "$SV_DIR/events"
        fi
        expect_driver 0000:00:04.0 e1000e
}

# quarantine_on_unbind "matched": only devices a rule matches are captured when they fall between
# owners (isolated ignores udev under --root; the start-up coldplug is the same capture on unbind);
# "all" captures the others too. An unmatched device under "matched" is unmanaged.
case_unbind_matched() {
        write_policy "$CASE_DIR/matched.json" '{
  "version": 1,
  "defaults": { "quarantine_on_unbind": "matched" },
  "rules": [ { "id": "rng-05", "match": { "vendor": "1af4", "slot": "0000:00:05.0" }, "passthrough": "deny" } ]
}'
        write_policy "$CASE_DIR/all.json" '{
  "version": 1,
  "defaults": { "quarantine_on_unbind": "all" },
  "rules": [ { "id": "rng-05", "match": { "vendor": "1af4", "slot": "0000:00:05.0" }, "passthrough": "deny" } ]
}'
        start_daemon default "$CASE_DIR/matched.json"
        device_is 0000:00:04.0 '.state == "unmanaged"' "matched: 0000:00:04.0 (e1000e, no rule) is unmanaged"
        device_is 0000:00:05.0 '.state == "host" and .rule == "rng-05"' "matched: 0000:00:05.0 (virtio-pci, rule rng-05) is host"
        run jq -c . "$STATE/state.json"
        expect_json "state.json remembers the host drivers of 0000:00:04.0 and 0000:00:05.0" '
                any(.devices[]; .slot == "0000:00:04.0" and .host_driver == "e1000e") and
                any(.devices[]; .slot == "0000:00:05.0" and .host_driver == "virtio-pci")'
        kill_daemon
        # While isolated was not running, both host drivers let go of their devices.
        rm "$(dev_dir 0000:00:04.0)/driver" "$(dev_dir 0000:00:05.0)/driver"
        start_daemon - "$CASE_DIR/matched.json"
        expect_log "0000:00:05\.0 had a host driver and has none now: taking it into quarantine" \
                "matched: the daemon takes 0000:00:05.0 (a rule matches it)"
        expect_log -v "0000:00:04\.0 had a host driver" "matched: the daemon does not take 0000:00:04.0 (no rule matches it)"
        status_json 0000:00:04.0 0000:00:05.0
        expect_json "matched: 0000:00:05.0 quarantined (host driver virtio-pci); 0000:00:04.0 unmanaged" '
                any(.[]; .slot == "0000:00:05.0" and .state == "quarantined" and .host_driver == "virtio-pci") and
                any(.[]; .slot == "0000:00:04.0" and .state == "unmanaged")'
        expect_driver 0000:00:05.0 vfio-pci
        expect_driver 0000:00:04.0 ""

        kill_daemon
        start_daemon - "$CASE_DIR/all.json"
        expect_log "0000:00:04\.0 had a host driver and has none now: taking it into quarantine" \
                "all: the daemon takes 0000:00:04.0 too"
        device_is 0000:00:04.0 '.state == "quarantined" and .host_driver == "e1000e"' \
                "all: 0000:00:04.0 quarantined, host driver e1000e"
        expect_driver 0000:00:04.0 vfio-pci
        expect_json "all: 0000:00:02.0 and 0000:00:03.0 (never had a driver) not taken" \
                'all(.[]; (.slot == "0000:00:02.0" or .slot == "0000:00:03.0") | not or .state != "quarantined")'
}

# GetDevice and Audit over D-Bus, as busctl sees them: the record's fields and their types, short and
# canonical addresses, NoSuchDevice; Audit's JSON parses, has findings and counts the daemon's faults.
case_bus_get_device_audit() {
        write_policy "$CASE_DIR/policy.json" "$EDU3_POLICY"
        fresh_copy default
        rm -f "$ROOT/dev/kmsg"
        mkfifo "$ROOT/dev/kmsg"
        start_daemon - "$CASE_DIR/policy.json"
        exec 9>"$ROOT/dev/kmsg"
        ctl quarantine --mode=scratch-page 00:03.0
        expect_rc 0 "quarantine --mode=scratch-page 00:03.0"
        ctl quarantine 00:04.0
        expect_rc 0 "quarantine 00:04.0 (e1000e)"
        kmsg '3,100,1000,-;DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr 0x2000 [fault reason 0x05] PTE Write access is not set'
        wait_until 10 faults_are 0000:00:03.0 0 1 || fail "the write fault of 0000:00:03.0 was not counted"

        run busctl --address="$BUS_ADDR" --json=short call org.isolate1 /org/isolate1 org.isolate1.Manager GetDevice s 00:03.0
        expect_rc 0 "GetDevice 00:03.0 (short address)"
        expect_json "GetDevice's reply has the signature (sssistuuutssss)o" '.type == "(sssistuuutssss)o"'
        expect_json "the record: slot, state, mode, group, host driver, since, faults, last, passthrough, rule, error, degraded" '
                .data[0] as $r | .data[1] == "/org/isolate1/device/0000_00_03_0" and
                $r[0] == "0000:00:03.0" and $r[1] == "quarantined" and $r[2] == "scratch-page" and
                ($r[3] | type) == "number" and $r[3] >= 0 and $r[4] == "" and $r[5] > 0 and
                $r[6] == 0 and $r[7] == 1 and $r[8] == 0 and $r[9] >= $r[5] and
                $r[10] == "allow" and $r[11] == "edu-03" and $r[12] == "" and ($r[13] | type) == "string"'
        local group
        group=$(basename "$(readlink "$(dev_dir 0000:00:03.0)/iommu_group")")
        expect_json "the record's IOMMU group is the copy's ($group)" ".data[0][3] == $group"
        run busctl --address="$BUS_ADDR" --json=short call org.isolate1 /org/isolate1 org.isolate1.Manager GetDevice s 0000:00:04.0
        expect_json "GetDevice 0000:00:04.0: quarantined, blocked, host driver e1000e, deny, no rule" '
                .data[0] as $r | $r[0] == "0000:00:04.0" and $r[1] == "quarantined" and $r[2] == "blocked" and
                $r[4] == "e1000e" and $r[10] == "deny" and $r[11] == "" and $r[6] + $r[7] + $r[8] == 0'
        run busctl --address="$BUS_ADDR" --json=short call org.isolate1 /org/isolate1 org.isolate1.Manager GetDevice s 0000:00:02.0
        expect_json "GetDevice 0000:00:02.0 (not held): state host, no mode, since 0, no host driver" '
                .data[0] as $r | $r[1] == "host" and $r[2] == "" and $r[4] == "" and $r[5] == 0'
        bus_call GetDevice s 0000:00:1f.7
        expect_error_name org.isolate1.Error.NoSuchDevice "GetDevice of a device the machine does not have"
        bus_call GetDevice s 0000:zz:00.0
        expect_error_name org.freedesktop.DBus.Error.InvalidArgs "GetDevice of an invalid address"
        # The record equals ListDevices' for the same device.
        local one all
        one=$(busctl --address="$BUS_ADDR" --json=short call org.isolate1 /org/isolate1 org.isolate1.Manager GetDevice s 00:03.0 | jq -c '.data[0]')
        all=$(busctl --address="$BUS_ADDR" --json=short call org.isolate1 /org/isolate1 org.isolate1.Manager ListDevices |
                jq -c '.data[0][] | select(.[0] == "0000:00:03.0")')
        expect_eq "GetDevice's record is ListDevices' record" "$one" "$all"

        run busctl --address="$BUS_ADDR" --json=short call org.isolate1 /org/isolate1 org.isolate1.Manager Audit
        expect_rc 0 "Audit"
        expect_json "Audit returns one string" '.type == "s" and (.data[0] | type) == "string"'
        OUT=$(jq -r '.data[0]' <<<"$OUT")
        expect_json "Audit's string parses as the audit document (version 1, host, devices, findings)" '
                .version == 1 and (.host | type) == "object" and (.devices | length) > 0 and (.findings | length) > 0'
        expect_json "every finding has id, severity, devices, summary" \
                'all(.findings[]; (.id | type) == "string" and (.severity | IN("info", "warning", "high", "critical")) and (.devices | type) == "array" and (.summary | type) == "string")'
        expect_json "Audit lists every device of the copy" "(.devices | length) == $(find "$ROOT/sys/bus/pci/devices" -mindepth 1 -maxdepth 1 | wc -l)"
        expect_json "Audit has a dma-faults finding naming 0000:00:03.0 (the daemon's count)" \
                'any(.findings[]; .id == "dma-faults" and (.devices | index("0000:00:03.0")))'
        # the same devices and findings as isolatectl audit of the snapshot, apart from the daemon's
        # fault counts (the copy's dev/kmsg is the FIFO the test writes to: audit the fixture itself)
        local bus_doc
        bus_doc=$OUT
        ctl --json=short --root "$FIXTURES/default" audit
        check "isolatectl audit of the snapshot and D-Bus Audit list the same devices" \
                test "$(jq -c '[.devices[].slot]' <<<"$OUT")" = "$(jq -c '[.devices[].slot]' <<<"$bus_doc")"
        check "and the same findings, but for the daemon's dma-faults" \
                test "$(jq -c '[.findings[] | select(.id != "dma-faults") | [.id, .devices]]' <<<"$OUT")" = \
                "$(jq -c '[.findings[] | select(.id != "dma-faults") | [.id, .devices]]' <<<"$bus_doc")"
        exec 9>&-
}

# A corrupt state.json at start, without the fd store (case_fdstore_lost_state covers the store): the
# daemon starts, says so, starts afresh and writes a valid state.json; a device left on vfio-pci that
# the policy does not allow is still taken.
case_corrupt_state() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        ctl quarantine 00:02.0
        expect_rc 0 "quarantine 00:02.0"
        kill_daemon
        printf '{"version": 1, "devices": [ {"slot": ' >"$STATE/state.json"
        start_daemon - "$CASE_DIR/policy.json"
        expect_log "state\.json is not valid JSON" "the daemon says state.json is invalid"
        check "the daemon is running" kill -0 "$DAEMON_PID"
        device_is 0000:00:02.0 '.state == "quarantined"' \
                "0000:00:02.0 (on vfio-pci, not allowed to pass through) quarantined again"
        ctl quarantine 00:04.0
        expect_rc 0 "quarantine 00:04.0 after the corrupt state"
        run jq -c . "$STATE/state.json"
        expect_rc 0 "state.json is valid JSON again"
        expect_json "state.json lists 0000:00:02.0 and 0000:00:04.0 quarantined" \
                '[.engine.devices[] | select(.state == "quarantined") | .slot] | sort == ["0000:00:02.0", "0000:00:04.0"]'
}

# run_stdin FILE CMD...: run with standard input from FILE.
run_stdin() {
        local in=$1
        shift
        echo "\$ $* < $in" >>"$CASE_DIR/commands"
        RC=0
        "$@" >"$CASE_DIR/stdout" 2>"$CASE_DIR/stderr" <"$in" || RC=$?
        OUT=$(cat "$CASE_DIR/stdout")
        ERR=$(cat "$CASE_DIR/stderr")
}

# hook_domain NAME SLOT...: a libvirt domain with managed='no' PCI host devices.
hook_domain() {
        local name=$1 d
        shift
        echo "<domain type='kvm'><name>$name</name><memory unit='KiB'>1048576</memory><devices>"
        for d in "$@"; do
                echo "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' bus='0x00' slot='0x${d%.*}' function='0x${d#*.}'/></source><address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></hostdev>"
        done
        echo "</devices></domain>"
}

# The libvirt hook against the daemon (no --dry-run): prepare begin releases an allowed quarantined
# device to the guest, refuses a domain with a denied one (exit 1, naming it, nothing released), and
# release end / stopped end take it back in the policy's mode.
case_libvirt_hook() {
        write_policy "$CASE_DIR/policy.json" "$EDU3_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        ctl quarantine 00:02.0 00:03.0
        expect_rc 0 "quarantine 00:02.0 00:03.0"
        hook_domain vm-ok 03.0 >"$CASE_DIR/ok.xml"
        hook_domain vm-bad 03.0 02.0 >"$CASE_DIR/bad.xml"

        run_stdin "$CASE_DIR/bad.xml" "$ISOLATECTL" libvirt-hook -- vm-bad prepare begin -
        expect_rc 1 "prepare begin of a domain with a denied device"
        expect_in err "isolate:" "the refusal is prefixed isolate:"
        expect_in err "0000:00:02.0" "the refusal names the denied device"
        status_json 0000:00:02.0 0000:00:03.0
        expect_json "nothing released: both still quarantined" 'all(.[]; .state == "quarantined")'

        run_stdin "$CASE_DIR/ok.xml" "$ISOLATECTL" libvirt-hook -- vm-ok prepare begin -
        expect_rc 0 "prepare begin of a domain with the allowed device"
        device_is 0000:00:03.0 '.state == "released"' "0000:00:03.0 released to the guest"
        expect_driver 0000:00:03.0 vfio-pci
        device_is 0000:00:02.0 '.state == "quarantined"' "0000:00:02.0 untouched"

        run_stdin "$CASE_DIR/ok.xml" "$ISOLATECTL" libvirt-hook -- vm-ok started begin -
        expect_rc 0 "started begin: nothing to do"
        device_is 0000:00:03.0 '.state == "released"' "0000:00:03.0 still released"

        run_stdin "$CASE_DIR/ok.xml" "$ISOLATECTL" libvirt-hook -- vm-ok release end -
        expect_rc 0 "release end"
        device_is 0000:00:03.0 '.state == "quarantined" and .mode == "blocked"' \
                "0000:00:03.0 quarantined again, in the policy's mode (blocked)"
        expect_driver 0000:00:03.0 vfio-pci

        run_stdin "$CASE_DIR/ok.xml" "$ISOLATECTL" libvirt-hook -- vm-ok prepare begin -
        expect_rc 0 "prepare begin again"
        run_stdin "$CASE_DIR/ok.xml" "$ISOLATECTL" libvirt-hook -- vm-ok stopped end -
        expect_rc 0 "stopped end"
        device_is 0000:00:03.0 '.state == "quarantined"' "0000:00:03.0 quarantined after stopped end"
}

# isolatectl status as text: the legend's columns, one row per held device with its state and mode,
# the legend off with --no-legend, a device's last error under the table, and the empty case.
case_status_text() {
        write_policy "$CASE_DIR/policy.json" "$EMPTY_POLICY"
        start_daemon default "$CASE_DIR/policy.json"
        ctl status
        expect_rc 0 "status with nothing held"
        expect_eq "status says so, and which kernel interface holds devices (last, after a blank line)" "$OUT" \
                "$(printf 'isolated holds no devices.\n\nBackend: iommufd (this test build'"'"'s engine is iommufd-shaped)')"
        ctl quarantine --mode=scratch-page 00:02.0
        ctl quarantine 00:04.0
        ctl status
        expect_rc 0 "status"
        local header row2 row4
        header=$(head -n 1 <<<"$OUT")
        check "the header names SLOT STATE MODE SINCE DMA FAULTS HOST DRIVER RULE in order" \
                grep -qE '^SLOT +STATE +MODE +SINCE +DMA FAULTS +HOST DRIVER +RULE *$' <<<"$header"
        row2=$(grep '^0000:00:02\.0 ' <<<"$OUT" || true)
        row4=$(grep '^0000:00:04\.0 ' <<<"$OUT" || true)
        check "0000:00:02.0's row: quarantined, scratch-page, 0 faults" \
                grep -qE '^0000:00:02\.0 +quarantined +scratch-page +[0-9]{4}-.* +0 \(0r 0w\)' <<<"$row2"
        check "0000:00:04.0's row: quarantined, blocked, host driver e1000e" \
                grep -qE '^0000:00:04\.0 +quarantined +blocked +.* e1000e' <<<"$row4"
        expect_eq "one row per held device (and the header, a blank line, the backend)" "$(wc -l <<<"$OUT")" 5
        expect_eq "the backend last" "$(tail -n 1 <<<"$OUT")" "Backend: iommufd (this test build's engine is iommufd-shaped)"
        # the column of each value is the header's
        local col
        col=$(awk 'NR == 1 { print index($0, "MODE") }' <<<"$OUT")
        expect_eq "scratch-page starts under MODE" "$(awk -v c="$col" 'NR == 2 { print substr($0, c, 12) }' <<<"$OUT")" scratch-page
        ctl --no-legend status 0000:00:04.0
        expect_rc 0 "status --no-legend 0000:00:04.0"
        check "--no-legend: the row alone" grep -qE '^0000:00:04\.0 +quarantined +blocked' <<<"$OUT"
        expect_eq "--no-legend: one line" "$(wc -l <<<"$OUT")" 1
        ctl status 00:05.0
        expect_rc 0 "status of a device not held"
        check "shows it as host, no mode" grep -qE '^0000:00:05\.0 +host +- ' <<<"$(tail -n 1 <<<"$OUT")"
}

# ---- runner ----------------------------------------------------------------------------------

CASES=(
        shipped_binary
        introspection
        quarantine
        host_driver
        argument_validation
        named_errors
        policy_enforcement
        authorization
        request_limits
        polkit
        reload_rollback
        monitor
        dma_faults
        persistence
        invalid_policy_at_startup
        daemon_not_running
        fdstore_crash
        fdstore_lost_state
        fdstore_reconcile
        between_owners
        fdstore_bind_time
        unbind_matched
        bus_get_device_audit
        corrupt_state
        libvirt_hook
        status_text
)

# Stops what the case left running; the daemon must still stop cleanly.
finish_case() {
        stop_fake_polkit
        stop_monitor
        stop_daemon
        stop_bus
}

# After an aborted case: kill what it started (the EXIT trap of the script would, but later).
kill_leftovers() {
        local pid
        for pid in ${POLKIT_PID:-} ${MONITOR_PID:-} ${DAEMON_PID:-} ${BUS_PID:-}; do
                kill -KILL "$pid" 2>/dev/null || true
        done
}

run_case() {
        local name=$1 n=$2 rc=0
        CASE_DIR=$WORK/$(printf %02d "$n")-$name
        mkdir -p "$CASE_DIR"
        echo "=== $n. $name"
        local start=$SECONDS
        # Not "( ... ) || rc=$?": errexit would be off inside. The subshell keeps the case's variables
        # (FAILURES, the pids) to itself.
        set +e
        (
                set -eEuo pipefail
                ROOT=$CASE_DIR/root STATE=$CASE_DIR/state
                trap 'echo "    FAIL: unexpected failure at line $LINENO: $BASH_COMMAND"' ERR
                trap kill_leftovers EXIT
                start_bus
                "case_$name"
                trap - ERR
                finish_case
                exit $((FAILURES > 0))
        )
        rc=$?
        set -e
        if [[ $rc == 0 ]]; then
                echo "PASS: $name ($((SECONDS - start)) s)"
        else
                echo "FAIL: $name (logs in $CASE_DIR)"
                FAILED_CASES=$((FAILED_CASES + 1))
                FAILED_NAMES+=("$name")
        fi
}

FAILED_CASES=0
FAILED_NAMES=()
selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${CASES[@]}")
for s in "${selected[@]}"; do
        [[ " ${CASES[*]} " == *" $s "* ]] || { echo "Unknown case '$s' (cases: ${CASES[*]})"; exit 2; }
done
i=0
for c in "${CASES[@]}"; do
        i=$((i + 1))
        for s in "${selected[@]}"; do
                [[ $s == "$c" ]] && run_case "$c" "$i"
        done
done

echo
if ((FAILED_CASES > 0)); then
        echo "$FAILED_CASES of ${#selected[@]} case(s) failed: ${FAILED_NAMES[*]}"
        exit 1
fi
echo "All ${#selected[@]} case(s) passed."
