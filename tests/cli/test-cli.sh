#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# isolatectl without the daemon: every verb that works read-only (list, audit, policy check/show/test/
# generate, capture, libvirt-hook --dry-run) against the real-kernel snapshots in tests/fixtures/sysfs
# and the policies in tests/fixtures/policy, the libvirt domains in tests/fixtures/libvirt/domains,
# plus the argument handling of every verb (docs/isolate.md: exit 0 ok, 1 failed, 2 usage error,
# 3 high/critical findings or an invalid policy; with --json nothing but JSON on standard output).
#
# The system bus is pointed at a socket that does not exist: a verb that should not need isolated
# and tries to reach it anyway fails with 1, never 0 or 2, so every expected 0/2 below also proves
# that no bus connection was made. No installed policy is read: ISOLATE_POLICY_DIR is an empty
# directory unless a case sets its own.
#
# Every isolatectl run is checked for death by a signal and for sanitizer reports (ASan, LSan,
# UBSan), so that the suite also covers a -Db_sanitize=address,undefined build.
#
#   ISOLATE_BUILD_ROOT   the build directory (default: ../../build next to this script)
#   ISOLATE_SOURCE_ROOT  the source tree (default: ../.. from this script)
#   test-cli.sh [GROUP...]   run only these case groups (usage list audit bad-root policy-check
#                            policy-show policy-test policy-generate capture libvirt-hook json)
#
# Exit status: 0 all passed, 1 a case failed.

# jq filters name their $variables in single quotes; the cases are run through t(), indirectly.
# shellcheck disable=SC2016,SC2317

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${ISOLATE_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
BUILD=${ISOLATE_BUILD_ROOT:-$SRC/build}
CTL=$BUILD/src/cli/isolatectl
SNAPS=$SRC/tests/fixtures/sysfs
POLICIES=$SRC/tests/fixtures/policy
LIBVIRT=$SRC/tests/fixtures/libvirt/domains

for tool in jq diff find; do
        command -v "$tool" >/dev/null || { echo "ERROR: $tool is needed by the CLI tests." >&2; exit 1; }
done
[[ -x $CTL ]] || { echo "ERROR: $CTL is missing: build first (ninja -C $BUILD)." >&2; exit 1; }

# Sanitizer builds: make a report fatal where the caller did not choose otherwise; ctl() also
# looks for reports on standard error, since a non-fatal one could hide behind an expected exit 1.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LC_ALL=C.UTF-8
ulimit -c 0

WORK=$(mktemp -d "${TMPDIR:-/tmp}/isolate-cli-test.XXXXXX")
OUT=$WORK/stdout
ERR=$WORK/stderr
NO_POLICY=$WORK/no-policy
mkdir "$NO_POLICY"
export ISOLATE_POLICY_DIR=$NO_POLICY
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/no-such-bus
unset ISOLATE_FAKE_BIND_ERROR NOTIFY_SOCKET

PASSED=0
FAILED=0
FAILED_NAMES=()
trap 'if (( FAILED == 0 )); then rm -rf "$WORK"; else echo "Work directory kept: $WORK"; fi' EXIT

# ---- harness ---------------------------------------------------------------------------------
# t NAME FUNCTION [ARGS...]: one case. It runs in a subshell with errexit, so an unexpected failure
# of any command ends it; the checks below end it with a message. Its output is shown on failure.

now_us() {
        local t=${EPOCHREALTIME/[.,]/}
        echo $((10#$t))
}

t() {
        local name=$1 rc=0 t0 us secs
        t0=$(now_us)
        shift
        set +e
        (
                set -e
                "$@"
        ) >"$WORK/case.log" 2>&1
        rc=$?
        set -e
        us=$(($(now_us) - t0))
        printf -v secs '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000))
        if ((rc == 0)); then
                echo "PASS  $name ($secs s)"
                PASSED=$((PASSED + 1))
        else
                echo "FAIL  $name ($secs s)"
                sed 's/^/      | /' "$WORK/case.log"
                FAILED=$((FAILED + 1))
                FAILED_NAMES+=("$name")
        fi
}

LAST=
RC=

fail() {
        {
                echo "$*"
                if [[ -n $LAST ]]; then
                        echo "  last command: $LAST"
                        echo "  exit status:  $RC"
                        echo "  stdout (head):"
                        head -n 15 "$OUT" | cut -c 1-300 | sed "s/^/    /"
                        echo "  stderr (head):"
                        head -n 15 "$ERR" | cut -c 1-300 | sed "s/^/    /"
                fi
        } >&2
        exit 1
}

# ctl ARGS...: runs isolatectl; stdout in $OUT, stderr in $ERR, exit status in $RC. Standard input is
# $STDIN (default /dev/null; "closed" closes it). Death by a signal or a sanitizer report fails the
# case whatever it expects.
ctl() {
        LAST="isolatectl $*"
        RC=0
        if [[ ${STDIN:-} == closed ]]; then
                "$CTL" "$@" <&- >"$OUT" 2>"$ERR" || RC=$?
        else
                "$CTL" "$@" <"${STDIN:-/dev/null}" >"$OUT" 2>"$ERR" || RC=$?
        fi
        # (builtins only: this and the checks below run some thousand times)
        OUT_TEXT='' ERR_TEXT=''
        IFS= read -r -d '' OUT_TEXT <"$OUT" || true
        IFS= read -r -d '' ERR_TEXT <"$ERR" || true
        if ((RC > 128)); then
                fail "isolatectl died of signal $((RC - 128))"
        fi
        if [[ $ERR_TEXT == *Sanitizer* || $ERR_TEXT == *"runtime error:"* ]]; then
                fail "sanitizer report"
        fi
        return 0
}

expect_rc() { [[ $RC == "$1" ]] || fail "expected exit status $1, got $RC"; }
out_has() { [[ $OUT_TEXT == *"$1"* ]] || fail "stdout lacks: $1"; }
out_lacks() { [[ $OUT_TEXT != *"$1"* ]] || fail "stdout has: $1"; }
out_re() { grep -qE -- "$1" "$OUT" || fail "stdout does not match: $1"; }
err_has() { [[ $ERR_TEXT == *"$1"* ]] || fail "stderr lacks: $1"; }
err_lacks() { [[ $ERR_TEXT != *"$1"* ]] || fail "stderr has: $1"; }
err_re() { grep -qE -- "$1" "$ERR" || fail "stderr does not match: $1"; }
out_empty() { [[ ! -s $OUT ]] || fail "stdout is not empty"; }
err_empty() { [[ ! -s $ERR ]] || fail "stderr is not empty"; }

# json_lines [N]: stdout is exactly N lines (default 1), each exactly one JSON value.
json_lines() {
        local n=${1:-1} all="" line
        local -a lines
        IFS= read -r -d '' all <"$OUT" || true
        mapfile -t lines <<<"${all%$'\n'}"
        [[ -n $all && ${all: -1} == $'\n' ]] || fail "stdout is empty or does not end with a newline"
        [[ ${#lines[@]} == "$n" ]] || fail "expected $n line(s) of JSON on stdout, got ${#lines[@]}"
        if ((n == 1)); then
                [[ $(jq -s 'length' "$OUT" 2>/dev/null) == 1 ]] || fail "not one JSON value: ${lines[0]}"
                return 0
        fi
        for line in "${lines[@]}"; do
                [[ $(jq -s 'length' <<<"$line" 2>/dev/null) == 1 ]] || fail "not one JSON value: $line"
        done
}

# json_one: stdout (any layout) is exactly one JSON value.
json_one() {
        [[ $(jq -s 'length' "$OUT" 2>/dev/null) == 1 ]] || fail "stdout is not exactly one JSON value"
}

# jq_ok [JQ-OPTIONS...] FILTER [JQ-OPTIONS...]: FILTER is true on stdout.
jq_ok() {
        jq -e "$@" "$OUT" >/dev/null || fail "jq is not true: $*"
}

# jq_checks [JQ-OPTIONS...] -- FILTER...: every FILTER is true on stdout (as with jq -e: it has an
# output and the last one is neither false nor null), checked in one jq run; names the ones that fail.
jq_checks() {
        local -a opts=() filters=()
        local prog="[" sep="" i bad
        while [[ $1 != -- ]]; do
                opts+=("$1")
                shift
        done
        shift
        filters=("$@")
        for i in "${!filters[@]}"; do
                prog+="$sep(try ([${filters[i]}] | length > 0 and (last | . != false and . != null)) catch false)"
                sep=", "
        done
        prog+="] | to_entries[] | select(.value | not) | .key"
        bad=$(jq -r "${opts[@]}" "$prog" "$OUT") || fail "jq could not evaluate the checks on stdout"
        if [[ -n $bad ]]; then
                for i in $bad; do
                        echo "not true: ${filters[i]}" >&2
                done
                fail "$(wc -w <<<"$bad") JSON check(s) failed"
        fi
}

# The snapshots, and the PCI functions of one (the names in its sys/bus/pci/devices).
snapshots() {
        local d
        for d in "$SNAPS"/*/sys; do
                d=${d%/sys}
                echo "${d##*/}"
        done
}
functions_of() { find "$SNAPS/$1/sys/bus/pci/devices" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort; }

# The endpoints of a snapshot, read straight from its sysfs files: everything but host bridges
# (class 0600), PCI bridges (0604) and a virtio-iommu (1af4:1057), which are not isolate's to manage.
endpoints_of() {
        local d class vendor device
        for d in "$SNAPS/$1"/sys/bus/pci/devices/*; do
                class=$(<"$d/class") vendor=$(<"$d/vendor") device=$(<"$d/device")
                # host and PCI bridges, and IOMMUs (class 0806: AMD-Vi's own PCI function)
                case $class in 0x0600* | 0x0604* | 0x0806*) continue ;; esac
                [[ $vendor == 0x1af4 && $device == 0x1057 ]] && continue
                echo "${d##*/}"
        done | sort
}

# ---- usage: argument handling of every verb, before anything is read or any bus is contacted ----

usage_default_verb() {
        # No verb runs 'list': with only options, and with no arguments at all (the real /sys here,
        # whatever it holds: the point is that both give the same).
        local want rc_want
        ctl --root "$SNAPS/default" list
        expect_rc 0
        want=$OUT_TEXT
        ctl --root "$SNAPS/default"
        expect_rc 0
        [[ $OUT_TEXT == "$want" ]] || fail "'isolatectl --root SNAP' differs from 'isolatectl --root SNAP list'"
        out_has "SLOT"
        ctl list
        rc_want=$RC
        want=$OUT_TEXT
        ctl
        expect_rc "$rc_want"
        [[ $OUT_TEXT == "$want" ]] || fail "'isolatectl' differs from 'isolatectl list'"
}

usage_unknown_verb() {
        # A typo gets a suggestion (a swapped pair of letters is one typo), nonsense does not.
        ctl lsit
        expect_rc 2
        err_has "Unknown command verb 'lsit', did you mean 'list'?"
        out_empty
        ctl --root "$SNAPS/default" auditt
        expect_rc 2
        err_has "did you mean 'audit'?"
        ctl policy chekc
        expect_rc 2
        err_has "did you mean 'check'?"
        ctl xyzzy
        expect_rc 2
        err_has "Unknown command verb 'xyzzy'"
        err_lacks "did you mean"
        ctl policy frobnicate
        expect_rc 2
        err_has "Unknown command verb 'frobnicate'"
}

usage_unknown_option() {
        local args
        for args in "--bogus list" "list --bogus" "-x list" "audit -x" "policy check --frob" "capture --nope DIR"; do
                # shellcheck disable=SC2086
                ctl $args
                expect_rc 2
                err_has "Unknown option"
                err_has "See 'isolatectl --help'."
                out_empty
        done
        ctl --root
        expect_rc 2
        err_has "'--root' needs a value"
        ctl list -s
        expect_rc 2
        err_has "'-s' needs a value"
        ctl --root= list
        expect_rc 2
        ctl --policy= list
        expect_rc 2
}

usage_json_value() {
        ctl --json=bogus list
        expect_rc 2
        err_has "Invalid --json= value 'bogus'"
        out_empty
        ctl --root "$SNAPS/default" list --json=yes
        expect_rc 2
}

usage_arg_counts() {
        # verb (and arguments) -> too few / too many
        local args
        for args in "policy" "policy test" "capture" "quarantine" "release --to=guest"; do
                # shellcheck disable=SC2086
                ctl $args
                expect_rc 2
                err_has "Too few arguments"
                out_empty
        done
        for args in "list extra" "capture a b" "policy test 00:02.0 00:03.0" "policy show extra" \
                "policy generate extra" "reload now" "monitor everything"; do
                # shellcheck disable=SC2086
                ctl $args
                expect_rc 2
                err_has "Too many arguments"
                out_empty
        done
}

usage_bad_addresses() {
        # Bad DEVICE arguments are usage errors caught before any bus connection (the bus here does
        # not exist: reaching for it would give 1).
        ctl quarantine 0000:zz:00.0
        expect_rc 2
        err_has "Invalid device address '0000:zz:00.0'"
        ctl quarantine 00:02.0 0000:00:20.0
        expect_rc 2
        err_has "'0000:00:20.0'"
        ctl release 00:02.8 --to=host
        expect_rc 2
        err_has "'00:02.8'"
        ctl status 1:2:3
        expect_rc 2
        err_has "'1:2:3'"
        ctl audit 0000:zz:00.0
        expect_rc 2
        err_has "'0000:zz:00.0'"
        ctl policy test zz
        expect_rc 2
        err_has "'zz'"
}

usage_release_to() {
        ctl release 00:02.0
        expect_rc 2
        err_has "--to=guest or --to=host"
        ctl release 00:02.0 --to=moon
        expect_rc 2
        err_has "'moon'"
        ctl quarantine 00:02.0 --mode=bogus
        expect_rc 2
        err_has "'bogus'"
}

usage_inapplicable_options() {
        # Options that belong to another verb are refused, before or after the verb.
        ctl list --to=guest
        expect_rc 2
        err_has "--to= only applies to 'release'"
        ctl audit --mode=blocked
        expect_rc 2
        err_has "--mode= only applies to 'quarantine'"
        ctl -s 00:02.0 audit
        expect_rc 2
        err_has "-s and -d only apply to 'list'"
        ctl audit -d 1234:11e8
        expect_rc 2
        err_has "-s and -d only apply to 'list'"
        ctl quarantine 00:02.0 --to=host
        expect_rc 2
        ctl release 00:02.0 --to=host --mode=blocked
        expect_rc 2
        ctl --dry-run list
        expect_rc 2
        err_has "--dry-run only applies to 'libvirt-hook'"
        ctl policy check --dry-run
        expect_rc 2
        ctl -s 00:02.0 policy generate
        expect_rc 2
        ctl -s zz:zz list
        expect_rc 2
        err_has "Invalid -s selector 'zz:zz'"
        ctl -d xyz list
        expect_rc 2
        err_has "Invalid -d selector 'xyz'"
        # --root and --policy would be ignored by the daemon verbs (which act on this machine)
        local v
        for v in "status" "quarantine 00:02.0" "release 00:02.0 --to=host" "reload" "monitor" \
                "libvirt-hook vm1 prepare begin -"; do
                # shellcheck disable=SC2086
                ctl --root "$SNAPS/default" $v </dev/null
                expect_rc 2
                err_has "--root= only applies to the verbs that work without isolated"
                # shellcheck disable=SC2086
                ctl --policy=/dev/null $v </dev/null
                expect_rc 2
                err_has "--policy= only applies to the verbs that work without isolated"
        done
}

usage_valid_args_reach_bus() {
        # Well-formed arguments of the daemon verbs get past parsing: they fail (1) only because the
        # bus does not exist, and say so.
        local args
        for args in "status" "status 00:02.0" "quarantine 00:02.0 --mode=scratch-page" "release 0000:00:02.0 --to=guest" \
                "reload" "monitor"; do
                # shellcheck disable=SC2086
                ctl --no-ask-password $args
                expect_rc 1
                [[ -s $ERR ]] || fail "no error message"
                out_empty
        done
}

usage_help() {
        local verb args
        for args in "--help" "-h" "list --help" "policy --help"; do
                # shellcheck disable=SC2086
                ctl $args
                expect_rc 0
                for verb in list status quarantine release audit policy reload monitor libvirt-hook capture \
                        "policy check" "policy show" "policy test" "policy generate"; do
                        out_re "^  $verb( |$)"
                done
                out_has "Exit status"
        done
}

usage_version() {
        local version
        version=$(sed -n "s/^[[:space:]]*version[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" "$SRC/meson.build" | head -n 1)
        [[ -n $version ]] || fail "no version in $SRC/meson.build"
        ctl --version
        expect_rc 0
        [[ $(<"$OUT") == "isolate $version" ]] || fail "--version printed '$(<"$OUT")', want 'isolate $version'"
}

group_usage() {
        t "usage: no verb runs list" usage_default_verb
        t "usage: unknown verb (did you mean)" usage_unknown_verb
        t "usage: unknown option, missing option value" usage_unknown_option
        t "usage: --json=bogus" usage_json_value
        t "usage: too few / too many arguments" usage_arg_counts
        t "usage: bad device addresses are usage errors, without the bus" usage_bad_addresses
        t "usage: release --to, quarantine --mode values" usage_release_to
        t "usage: options that do not apply to the verb" usage_inapplicable_options
        t "usage: valid daemon-verb arguments get to the bus" usage_valid_args_reach_bus
        t "usage: --help mentions every verb" usage_help
        t "usage: --version" usage_version
}

# ---- list --------------------------------------------------------------------------------------

list_snapshot() {
        # Every function of the snapshot, in order, with the documented keys; the human table has
        # one row per function under a header, and no header with --no-legend.
        local snap=$1 n slots
        n=$(functions_of "$snap" | wc -l)
        slots=$(functions_of "$snap" | tr '\n' ' ')
        ctl --root "$SNAPS/$snap" --json=short list
        expect_rc 0
        json_lines 1
        jq_checks --arg slots "$slots" -- \
                '[.[].slot] == ($slots | split(" ") | map(select(. != "")))' \
                'all(.[]; has("slot") and has("vendor") and has("device") and has("class") and has("driver")
                          and has("iommu_group") and has("state") and has("verdict"))' \
                'all(.[]; (.vendor|test("^[0-9a-f]{4}$")) and (.device|test("^[0-9a-f]{4}$")) and (.class|test("^[0-9a-f]{6}$")))' \
                '# No policy: everything is denied, by no rule.
                 all(.[]; .verdict.passthrough == "deny" and .verdict.rule == null)' \
                '# Offline states: bridges, the host bridge and an IOMMU (virtio-iommu, the AMD-Vi function) are unmanaged; a device
                 # on vfio-pci is free for a VMM (released); every other endpoint is with its host driver.
                 all(.[]; .state == (if (.class|test("^060[04]|^0806")) or (.vendor == "1af4" and .device == "1057") then "unmanaged"
                                     elif .driver == "vfio-pci" then "released" else "host" end))'

        ctl --root "$SNAPS/$snap" list
        expect_rc 0
        [[ $(head -n 1 "$OUT") =~ ^SLOT\ +ID\ +CLASS\ +DRIVER\ +GROUP\ +STATE\ +VERDICT\ +DESCRIPTION$ ]] || fail "no table header"
        [[ $(grep -c '^0000:' "$OUT") == "$n" ]] || fail "table rows differ from $n functions"
        [[ $(tail -n 1 "$OUT") == "$n devices listed; states follow from the drivers in the snapshot." ]] ||
                fail "no '$n devices listed; states follow from the drivers in the snapshot.' summary"
        ctl --root "$SNAPS/$snap" --no-legend list
        expect_rc 0
        [[ $(wc -l <"$OUT") == "$n" && $(grep -c '^0000:' "$OUT") == "$n" ]] || fail "--no-legend: not just $n rows"
        out_lacks "SLOT"
}

list_states() {
        # The states the snapshots are known to show (README in tests/fixtures/sysfs).
        ctl --root "$SNAPS/bridge" --json=short list
        jq_ok '[.[] | select(.state == "unmanaged") | .slot] == ["0000:00:00.0","0000:00:06.0","0000:00:07.0","0000:01:00.0"]'
        ctl --root "$SNAPS/default-vfio" --json=short list
        jq_ok '.[] | select(.slot == "0000:00:03.0") | .driver == "vfio-pci" and .state == "released"'
        jq_ok '.[] | select(.slot == "0000:00:02.0") | .state == "host"'
        ctl --root "$SNAPS/default-vfio" --no-legend list
        out_re '^0000:00:03\.0 +1234:11e8 +00ff00 +vfio-pci +2 +released '
        ctl --root "$SNAPS/virtio" --json=short list
        jq_ok '.[] | select(.slot == "0000:00:07.0") | .state == "unmanaged"'
        jq_ok '.[] | select(.slot == "0000:00:02.0") | .iommu_group == null'
}

list_selectors() {
        # lspci's -s and -d, before or after the verb.
        ctl --root "$SNAPS/default" --json=short list -s 00:02
        expect_rc 0
        jq_ok '[.[].slot] == ["0000:00:02.0"]'
        ctl --root "$SNAPS/default" --json=short -s 00:1f list
        jq_ok '[.[].slot] == ["0000:00:1f.0","0000:00:1f.2","0000:00:1f.3"]'
        ctl --root "$SNAPS/default" --json=short list -s 0000:00:1f.3
        jq_ok '[.[].slot] == ["0000:00:1f.3"]'
        ctl --root "$SNAPS/default" --json=short list -d 1234:11e8
        jq_ok '[.[].slot] == ["0000:00:02.0","0000:00:03.0"]'
        ctl --root "$SNAPS/default" --json=short list -d ::0200
        jq_ok '[.[].slot] == ["0000:00:04.0"]'
        ctl --root "$SNAPS/default" --json=short list -d 8086:
        jq_ok '[.[].slot] == ["0000:00:00.0","0000:00:04.0","0000:00:1f.0","0000:00:1f.2","0000:00:1f.3"]'
        ctl --root "$SNAPS/bridge" --json=short list -s 02:
        jq_ok '[.[].slot] == ["0000:02:01.0","0000:02:02.0"]'
        # both: the intersection
        ctl --root "$SNAPS/default" --json=short list -s 00:03 -d 1234:11e8
        jq_ok '[.[].slot] == ["0000:00:03.0"]'
        # nothing selected: an empty list, still success
        ctl --root "$SNAPS/default" --json=short list -d dead:beef
        expect_rc 0
        jq_ok '. == []'
        ctl --root "$SNAPS/default" list -d dead:beef
        expect_rc 0
        out_re '^0 devices listed[.;]'
}

list_policy_verdicts() {
        # With a policy, each device shows the verdict of the first rule that matches, and its id.
        cat >"$WORK/list-policy.json" <<'EOF'
{ "version": 1,
  "defaults": { "quarantine_on_unbind": "matched" },
  "rules": [
    { "id": "edu-two", "match": { "slot": "00:02.0" }, "passthrough": "allow", "mode": "scratch-page" },
    { "id": "nics", "match": { "class": "0200" }, "passthrough": "deny" }
  ] }
EOF
        ctl --root "$SNAPS/default" --policy "$WORK/list-policy.json" --json=short list
        expect_rc 0
        jq_ok '.[] | select(.slot == "0000:00:02.0") | .verdict == {"passthrough":"allow","rule":"edu-two","mode":"scratch-page","quarantine_on_unbind":true}'
        jq_ok '.[] | select(.slot == "0000:00:04.0") | .verdict.passthrough == "deny" and .verdict.rule == "nics"'
        jq_ok '.[] | select(.slot == "0000:00:03.0") | .verdict.passthrough == "deny" and .verdict.rule == null'
        # quarantine_on_unbind "matched": a device no rule matches is outside the policy's reach
        jq_ok '.[] | select(.slot == "0000:00:03.0") | .state == "unmanaged"'
        jq_ok '.[] | select(.slot == "0000:00:02.0") | .state == "host"'
        ctl --root "$SNAPS/default" --policy "$WORK/list-policy.json" --no-legend list
        out_re '^0000:00:02\.0 .* host +allow \(edu-two\) '
        out_re '^0000:00:04\.0 .* deny \(nics\) '
        # an invalid policy: no list, the errors
        ctl --root "$SNAPS/default" --policy "$POLICIES/bad/empty.json" --json=short list
        expect_rc 1
        out_empty
        err_re "bad/empty\.json:1:1: "
}

group_list() {
        local snap
        for snap in $(snapshots); do
                t "list: $snap: every function, keys, states, table" list_snapshot "$snap"
        done
        t "list: bridges unmanaged, vfio-pci released, virtio-iommu unmanaged" list_states
        t "list: -s and -d select" list_selectors
        t "list: --policy verdicts and rule ids" list_policy_verdicts
}

# ---- audit ---------------------------------------------------------------------------------------
# What each snapshot must show (tests/unit/test-findings.c has the same on the library level):
#   SNAPSHOT|EXIT|PRESENT...|ABSENT...
# PRESENT: ID:SEVERITY[@DEVICE] (a finding with that id and severity, naming DEVICE if given);
# ABSENT: ID[@DEVICE] (no finding with that id, or none naming DEVICE).
AUDIT_EXPECT=(
        "default|0|multi-device-group:warning@0000:00:1f.2 no-reset-method:warning@0000:00:02.0|no-iommu no-iommu-group interrupt-remapping-off msi-not-isolated allow-unsafe-interrupts vfio-noiommu identity-domain acs-override acs-missing ats-enabled untrusted-port dma-faults multi-device-group@0000:00:02.0 no-reset-method@0000:00:04.0 no-reset-method@0000:00:00.0"
        "default-vfio|3|no-reset-method:high@0000:00:03.0 no-reset-method:warning@0000:00:02.0|no-iommu interrupt-remapping-off msi-not-isolated dma-faults"
        "default-faults|3|dma-faults:high@0000:00:03.0 no-reset-method:high@0000:00:03.0|dma-faults@0000:00:02.0 no-iommu interrupt-remapping-off msi-not-isolated"
        "bridge|0|multi-device-group:warning@0000:02:01.0 multi-device-group:warning@0000:02:02.0 multi-device-group:warning@0000:01:00.0 acs-missing:warning@0000:00:07.0 acs-missing:warning@0000:03:00.0 ats-enabled:info@0000:03:00.0 no-reset-method:warning@0000:02:02.0|acs-missing@0000:00:06.0 multi-device-group@0000:03:00.0 ats-enabled@0000:02:01.0 no-reset-method@0000:02:01.0 no-iommu interrupt-remapping-off msi-not-isolated"
        "nointremap|3|interrupt-remapping-off:critical msi-not-isolated:critical@0000:00:02.0|allow-unsafe-interrupts no-iommu"
        "nointremap-unsafe|3|interrupt-remapping-off:critical allow-unsafe-interrupts:high msi-not-isolated:critical@0000:00:02.0|no-iommu"
        "passthrough|3|identity-domain:high@0000:00:02.0|identity-domain@0000:00:00.0 no-iommu interrupt-remapping-off"
        "virtio|3|msi-not-isolated:critical@0000:00:05.0|interrupt-remapping-off no-iommu msi-not-isolated@0000:00:07.0 no-reset-method@0000:00:07.0 no-iommu-group@0000:00:02.0"
        "noiommu|3|no-iommu:critical@0000:00:02.0|interrupt-remapping-off msi-not-isolated no-iommu-group vfio-noiommu"
        "noiommu-vfio-unsafe|3|no-iommu:critical vfio-noiommu:critical|interrupt-remapping-off msi-not-isolated"
        "arm64-its|0|multi-device-group:warning@0000:00:1f.2|interrupt-remapping-off msi-not-isolated no-iommu allow-unsafe-interrupts"
        "arm64-gicv2m|3|msi-not-isolated:critical@0000:00:04.0 msi-not-isolated:critical@0000:00:03.0|interrupt-remapping-off no-iommu allow-unsafe-interrupts"
        "amd|0|multi-device-group:warning@0000:00:1f.2 no-reset-method:warning@0000:00:02.0|interrupt-remapping-off msi-not-isolated no-iommu allow-unsafe-interrupts no-reset-method@0000:00:01.0 msi-not-isolated@0000:00:01.0"
)

audit_expect_of() {
        local e
        for e in "${AUDIT_EXPECT[@]}"; do
                [[ ${e%%|*} == "$1" ]] && { echo "$e"; return 0; }
        done
        return 1
}

audit_snapshot() {
        local snap=$1 spec rc present absent item id sev dev n
        spec=$(audit_expect_of "$snap") || fail "no audit expectation for snapshot '$snap': add one to AUDIT_EXPECT"
        IFS='|' read -r _ rc present absent <<<"$spec"
        n=$(functions_of "$snap" | wc -l)

        local -a checks=(
                '.version == 1 and (.host|type) == "object" and (.devices|type) == "array" and (.findings|type) == "array"'
                ".devices|length == $n"
                'all(.devices[]; has("slot") and has("vendor") and has("device") and has("class") and has("driver")
                                 and has("iommu_group") and (.group_devices|type) == "array"
                                 and (.interrupts|IN("safe","unsafe","unknown")))'
                'all(.findings[]; (.id|test("^[a-z]+(-[a-z]+)*$")) and (.severity|IN("info","warning","high","critical"))
                                  and (.devices|type) == "array" and (.summary|length > 0) and (.detail|length > 0)
                                  and (.fix|length > 0))'
                '# most severe first
                 [.findings[].severity | {"critical":3,"high":2,"warning":1,"info":0}[.]] | . == (sort|reverse)'
        )
        # exit 3 exactly when a finding is high or critical
        if ((rc == 3)); then
                checks+=('any(.findings[]; .severity == "high" or .severity == "critical")')
        else
                checks+=('all(.findings[]; .severity == "info" or .severity == "warning")')
        fi
        for item in $present; do
                id=${item%%:*} sev=${item#*:} dev=
                [[ $sev == *@* ]] && dev=${sev#*@} sev=${sev%@*}
                checks+=("any(.findings[]; .id == \"$id\" and .severity == \"$sev\"${dev:+ and (.devices|index([\"$dev\"]) != null)})")
        done
        for item in $absent; do
                id=${item%@*} dev=
                [[ $item == *@* ]] && dev=${item#*@}
                checks+=("all(.findings[]; .id != \"$id\"${dev:+ or (.devices|index([\"$dev\"]) == null)})")
        done

        ctl --root "$SNAPS/$snap" --json=short audit
        expect_rc "$rc"
        json_lines 1
        jq_checks -- "${checks[@]}"

        # The human report: host summary, each finding, the count; --no-legend drops host and count.
        local ids
        ids=$(jq -r '.findings[].id' "$OUT" | sort -u)
        ctl --root "$SNAPS/$snap" audit
        expect_rc "$rc"
        out_re '^Host: +Linux '
        out_re "^Devices: +$n PCI functions"
        for id in $ids; do
                out_re "^(info|warning|high|critical) +$id$"
        done
        out_re '^[0-9]+ findings?: '
        ctl --root "$SNAPS/$snap" --no-legend audit
        expect_rc "$rc"
        out_lacks "Host:"
}

audit_filter() {
        # audit DEVICE: only that device, and only findings about it (or the whole host).
        ctl --root "$SNAPS/nointremap" --json=short audit 00:03.0
        expect_rc 3
        jq_ok '[.devices[].slot] == ["0000:00:03.0"]'
        jq_ok 'all(.findings[]; .devices == [] or .devices == ["0000:00:03.0"])'
        jq_ok 'any(.findings[]; .id == "msi-not-isolated" and .devices == ["0000:00:03.0"])'
        jq_ok 'any(.findings[]; .id == "interrupt-remapping-off")'
        jq_ok 'all(.findings[]; .id != "multi-device-group")'
        # the high finding of default-vfio is about 00:03.0: asking about 00:02.0 alone exits 0
        ctl --root "$SNAPS/default-vfio" --json=short audit 0000:00:02.0
        expect_rc 0
        jq_ok '[.findings[].id] == ["no-reset-method"] and .findings[0].devices == ["0000:00:02.0"]'
        ctl --root "$SNAPS/default-vfio" audit 00:03.0 00:02.0
        expect_rc 3
        ctl --root "$SNAPS/default" --json=short audit 00:02.0 00:04.0
        jq_ok '[.devices[].slot] == ["0000:00:02.0","0000:00:04.0"]'
}

audit_errors() {
        ctl --root "$SNAPS/default" audit 0000:00:09.0
        expect_rc 1
        err_has "No PCI device 0000:00:09.0"
        out_empty
        ctl --root "$SNAPS/default" --json=short audit 00:09.0
        expect_rc 1
        out_empty
        ctl --root "$SNAPS/default" audit 0000:zz:00.0
        expect_rc 2
        err_has "'0000:zz:00.0'"
        out_empty
}

group_audit() {
        local snap
        for snap in $(snapshots); do
                t "audit: $snap: expected findings and exit status" audit_snapshot "$snap"
        done
        t "audit: DEVICE filters devices and findings" audit_filter
        t "audit: absent device 1, bad address 2" audit_errors
}

# ---- bad --root ----------------------------------------------------------------------------------

bad_root_not_snapshot() {
        # A missing directory, an empty one and a regular file: exit 1 with a clear message, for
        # every verb that reads the machine (capture included: the source is at fault, not DIR).
        local root verb
        mkdir "$WORK/empty-root"
        : >"$WORK/file-root"
        for root in "$WORK/does-not-exist" "$WORK/empty-root" "$WORK/file-root"; do
                for verb in list audit "policy generate" "policy test 00:02.0" "capture $WORK/cap-bad-root"; do
                        # shellcheck disable=SC2086
                        ctl --root "$root" $verb
                        expect_rc 1
                        err_has "'$root' is not a snapshot"
                        out_empty
                done
                [[ -z $(find "$WORK" -maxdepth 1 -name 'cap-bad-root*') ]] || fail "capture left something behind"
                ctl --root "$root" --json=short list
                expect_rc 1
                out_empty
        done
}

bad_root_missing_attribute() {
        # libpci's fatal errors must come back as a message naming the file, not end the process.
        local attr
        for attr in vendor device class; do
                rm -rf "$WORK/broken"
                cp -a "$SNAPS/default" "$WORK/broken"
                rm "$WORK/broken/sys/devices/pci0000:00/0000:00:02.0/$attr"
                for verb in list audit "policy generate" "policy test 00:03.0"; do
                        # shellcheck disable=SC2086
                        ctl --root "$WORK/broken" $verb
                        expect_rc 1
                        err_has "0000:00:02.0/$attr"
                        out_empty
                done
        done
        # an attribute that is a directory instead of a file
        rm -rf "$WORK/broken"
        cp -a "$SNAPS/default" "$WORK/broken"
        rm "$WORK/broken/sys/devices/pci0000:00/0000:00:04.0/vendor"
        mkdir "$WORK/broken/sys/devices/pci0000:00/0000:00:04.0/vendor"
        ctl --root "$WORK/broken" audit
        expect_rc 1
        err_has "0000:00:04.0/vendor"
}

group_bad_root() {
        t "bad --root: missing, empty, a file -> 1 'is not a snapshot'" bad_root_not_snapshot
        t "bad --root: a device attribute missing -> 1 naming the file" bad_root_missing_attribute
}

# ---- policy check --------------------------------------------------------------------------------

policy_check_good() {
        # Every valid file (fixtures, the shipped default and examples) is accepted on its own.
        local f
        for f in "$POLICIES"/good/*.json "$SRC"/policy/default.json "$SRC"/policy/examples/*.json; do
                ctl policy check "$f"
                expect_rc 0
                out_re '^Policy is valid: [0-9]+ rules? in 1 file\.$'
                err_empty
        done
}

# policy_check_bad FILE: exit 3; each error line is FILE:LINE:COLUMN: message, the errors are those of
# FILE's .errors list (LINE:COLUMN: and a substring of the message, as tests/unit/test-policy.c
# reads them), then one summary line.
policy_check_bad() {
        local f=$1 expected="" n_expected line e found
        local -a want errs
        # (plain bash from here on: this runs for every file in bad/)
        mapfile -t want <"${f%.json}.errors"
        for line in "${want[@]}"; do
                [[ -z $line || $line == \#* ]] && continue
                [[ $line =~ ^[0-9]+:[0-9]+:\ . ]] || fail "bad line in ${f%.json}.errors: $line"
                expected+=$line$'\n'
        done
        expected=${expected%$'\n'}
        mapfile -t want <<<"$expected"
        n_expected=${#want[@]}

        ctl policy check "$f"
        expect_rc 3
        out_empty
        mapfile -t errs <"$ERR"
        [[ ${#errs[@]} == $((n_expected + 1)) ]] ||
                fail "expected $n_expected error lines and a summary, got ${#errs[@]} lines"
        for e in "${errs[@]:0:n_expected}"; do
                [[ $e == "$f:"* ]] || fail "error line does not name $f: $e"
                [[ ${e#"$f":} =~ ^[0-9]+:[0-9]+:\ .+ ]] || fail "not FILE:LINE:COLUMN: message: $e"
        done
        for line in "${want[@]}"; do
                found=0
                for e in "${errs[@]:0:n_expected}"; do
                        [[ $e == "$f:${line%%: *}: "* && ${e#"$f:${line%%: *}: "} == *"${line#*: }"* ]] && found=1
                done
                ((found)) || fail "missing error: $f:$line"
        done
        [[ ${errs[n_expected]} =~ ^$n_expected\ errors?\;\ the\ policy\ is\ refused\ as\ a\ whole\.$ ]] ||
                fail "no summary line '$n_expected error(s); the policy is refused as a whole.'"

        # the same in JSON, and nothing on stderr
        ctl --json=short policy check "$f"
        expect_rc 3
        json_lines 1
        err_empty
        jq_checks --arg f "$f" --argjson n "$n_expected" --arg exp "$expected" -- \
                '.valid == false and .files == [$f] and (.errors|length) == $n
                 and all(.errors[]; .file == $f and (.line|type) == "number" and (.column|type) == "number"
                                   and (.message|length) > 0)' \
                '# every expected LINE:COLUMN: substring has its error
                 ($exp | split("\n") | map(capture("^(?<l>[0-9]+):(?<c>[0-9]+): (?<m>.*)$")
                                          | {l: (.l|tonumber), c: (.c|tonumber), m})) as $want
                 | .errors as $got
                 | all($want[]; . as $w | any($got[]; .line == $w.l and .column == $w.c and (.message|contains($w.m))))'

}

policy_check_schema_is_not_a_policy() {
        # The JSON Schema next to the policies is not a policy itself.
        ctl policy check "$SRC/policy/isolate-policy.schema.json"
        expect_rc 3
        err_re 'isolate-policy\.schema\.json:[0-9]+:[0-9]+: '
}

policy_check_several() {
        local good=("$POLICIES/good/minimal.json" "$POLICIES/good/full.json" "$SRC/policy/examples/10-lab-nics.json")
        ctl policy check "${good[@]}"
        expect_rc 0
        out_has "Policy is valid: 3 rules in 3 files."
        ctl policy check "${good[@]}" "$POLICIES/bad/invalid-mode.json"
        expect_rc 3
        out_empty
        err_has "$POLICIES/bad/invalid-mode.json:"
        err_lacks "good/"
        # one file's rule ids clash with another's: the combination is invalid
        ctl policy check "$POLICIES/good/full.json" "$POLICIES/good/full.json"
        expect_rc 3
        err_has "duplicate rule id 'everything'"
        ctl --json=short policy check "${good[@]}"
        expect_rc 0
        jq_ok --argjson f "$(printf '%s\n' "${good[@]}" | jq -R . | jq -sc .)" '.valid and .files == $f and .errors == [] and .rules == 3'
}

policy_check_unreadable() {
        # A file that cannot be read: exit 1 (the operation failed), naming it.
        ctl policy check "$WORK/missing.json"
        expect_rc 1
        err_has "$WORK/missing.json"
        out_empty
        ctl policy check "$POLICIES/good/minimal.json" "$WORK/missing.json"
        expect_rc 1
        err_has "$WORK/missing.json"
        ctl policy check "$WORK"
        expect_rc 1
        err_has "$WORK"
        ctl --json=short policy check "$WORK/missing.json"
        expect_rc 1
        json_lines 1
        jq_ok --arg f "$WORK/missing.json" '.valid == false and .errors[0].file == $f and .errors[0].line == null
                                             and .errors[0].column == null and (.errors[0].message|length) > 0'
}

policy_check_installed() {
        # No arguments: the installed policy, policy.json then policy.d/*.json in lexical order (only
        # *.json, no dot files).
        local dir=$WORK/installed
        mkdir -p "$dir/policy.d"
        cp "$POLICIES/good/full.json" "$dir/policy.json"
        cp "$SRC/policy/examples/20-gpu-slot.json" "$dir/policy.d/20-gpu-slot.json"
        cp "$SRC/policy/examples/10-lab-nics.json" "$dir/policy.d/10-lab-nics.json"
        echo "not a policy" >"$dir/policy.d/README"
        echo "{" >"$dir/policy.d/.hidden.json"
        ISOLATE_POLICY_DIR=$dir ctl policy check
        expect_rc 0
        out_has "Policy is valid: 5 rules in 3 files."
        ISOLATE_POLICY_DIR=$dir ctl --json=short policy check
        expect_rc 0
        jq_ok --arg d "$dir" '.files == [$d+"/policy.json", $d+"/policy.d/10-lab-nics.json", $d+"/policy.d/20-gpu-slot.json"]'
        # a drop-in only
        rm "$dir/policy.json"
        ISOLATE_POLICY_DIR=$dir ctl policy check
        expect_rc 0
        out_has "in 2 files."
        # a bad drop-in makes the installed policy invalid, named
        cp "$POLICIES/bad/invalid-mode.json" "$dir/policy.d/30-bad.json"
        ISOLATE_POLICY_DIR=$dir ctl policy check
        expect_rc 3
        err_re "policy\.d/30-bad\.json:[0-9]+:[0-9]+: "
        # --policy FILE replaces the installed policy
        ISOLATE_POLICY_DIR=$dir ctl --policy "$POLICIES/good/minimal.json" policy check
        expect_rc 0
        out_has "0 rules in 1 file."
        ISOLATE_POLICY_DIR=$dir ctl --json=short policy check --policy "$POLICIES/good/minimal.json"
        jq_ok --arg f "$POLICIES/good/minimal.json" '.files == [$f]'
        # nothing installed
        ISOLATE_POLICY_DIR=$NO_POLICY ctl policy check
        expect_rc 0
        out_has "No policy installed"
        ISOLATE_POLICY_DIR=$WORK/no-such-dir ctl policy check
        expect_rc 0
        out_has "No policy installed"
        ISOLATE_POLICY_DIR=$NO_POLICY ctl --json=short policy check
        expect_rc 0
        jq_ok '. == {"valid":true,"files":[],"rules":0,"errors":[]}'
}

group_policy_check() {
        local f
        t "policy check: every good/ file, default.json and the examples are valid" policy_check_good
        for f in "$POLICIES"/bad/*.json; do
                t "policy check: bad/${f##*/} -> 3, FILE:LINE:COLUMN errors" policy_check_bad "$f"
        done
        t "policy check: the JSON Schema is not a policy" policy_check_schema_is_not_a_policy
        t "policy check: several files at once" policy_check_several
        t "policy check: unreadable file -> 1 naming it" policy_check_unreadable
        t "policy check: installed policy (ISOLATE_POLICY_DIR), --policy" policy_check_installed
}

# ---- policy show ---------------------------------------------------------------------------------

make_installed_policy() {
        local dir=$1
        mkdir -p "$dir/policy.d"
        cp "$POLICIES/good/full.json" "$dir/policy.json"
        cp "$SRC"/policy/examples/*.json "$dir/policy.d/"
}

policy_show_human() {
        # Every file, every rule with FILE:LINE, the defaults with where they were set.
        local dir=$WORK/show id src
        make_installed_policy "$dir"
        ISOLATE_POLICY_DIR=$dir ctl --json=short policy show
        expect_rc 0
        cp "$OUT" "$WORK/show.json"
        ISOLATE_POLICY_DIR=$dir ctl policy show
        expect_rc 0
        for f in $(jq -r '.files[]' "$WORK/show.json"); do
                out_has "$f"
        done
        out_re "^Files: +$dir/policy.json, $dir/policy.d/10-lab-nics.json, "
        out_has "mode scratch-page ($dir/policy.json)"
        out_has "quarantine_on_unbind matched ($dir/policy.d/30-keep-storage.json)"
        out_has "scratch_cover 64G ($dir/policy.json)"
        while IFS=$'\t' read -r id src; do
                out_re "^$id +.* $src$"
        done < <(jq -r '.rules[] | [.id, "\(.file):\(.line)"] | @tsv' "$WORK/show.json")
        [[ $(jq '.rules|length' "$WORK/show.json") == 8 ]] || fail "expected 8 rules"
        out_has "8 rules; the first matching rule decides"
        # rule lines: where the rule object starts in its file
        out_re "^everything +allow +blocked +.* $dir/policy.json:12$"
        out_re "^lab-nic +allow +scratch-page +vendor=8086 device=10d3 +$dir/policy.d/10-lab-nics.json:5$"
}

policy_show_json() {
        # The JSON form of the effective policy (policy_to_json): version, files, defaults with
        # their sources, every rule with its file, line and settings.
        local f=$POLICIES/good/full.json
        ctl --json=short --policy "$f" policy show
        expect_rc 0
        json_lines 1
        jq_ok --arg f "$f" '.version == 1 and .files == [$f]
                and .defaults == {"mode":"scratch-page","mode_file":$f,"quarantine_on_unbind":"matched",
                                  "quarantine_on_unbind_file":$f,"scratch_cover":"64G","scratch_cover_file":$f,
                                  "max_scratch_cover":"64G"}'
        jq_ok --arg f "$f" '.rules[0] == {"id":"everything","file":$f,"line":12,
                "match":{"slot":"0000:03:00.0","vendor":"8086","device":"10D3","subsystem_vendor":"8086",
                         "subsystem_device":"a01f","class":"020000","driver":"e1000e",
                         "serial":"00-1b-21-ff-ff-8a-1c-04","parent":"0000:00:1c.0"},
                "passthrough":"allow","mode":"blocked","quarantine_on_unbind":false,"allow_unsafe_interrupts":true,
                "accept_degraded":false,"ats":"refuse","scratch_cover":"2M","comment":"one exact card"}'
        jq_ok --arg f "$f" '.rules[1] == {"id":"nics","file":$f,"line":32,"match":{"class":"0200"},"passthrough":"deny",
                "mode":null,"quarantine_on_unbind":true,"allow_unsafe_interrupts":false,"accept_degraded":false,"ats":"refuse",
                "scratch_cover":null,"comment":null}'
        # arrays of values stay arrays
        ctl --json=short --policy "$POLICIES/good/arrays.json" policy show
        expect_rc 0
        jq_ok 'any(.rules[].match[]; type == "array")'
        # several files: defaults from the file that set them last
        local dir=$WORK/show-json
        make_installed_policy "$dir"
        ISOLATE_POLICY_DIR=$dir ctl --json=short policy show
        jq_ok --arg d "$dir" '.files[0] == $d+"/policy.json" and (.files|length) == 5
                and .defaults.mode_file == $d+"/policy.json"
                and .defaults.quarantine_on_unbind_file == $d+"/policy.d/30-keep-storage.json"
                and ([.rules[].id] == ["everything","nics","lab-nic","gpu-slot1","gpu-slot1-audio","storage-stays",
                                       "capture-nics-usb","legacy-capture-card"])'
        # nothing installed: built-in defaults, no sources
        ctl --json=short policy show
        expect_rc 0
        jq_ok '.files == [] and .rules == [] and .defaults.mode == "blocked" and .defaults.mode_file == null
               and .defaults.quarantine_on_unbind == "all" and .defaults.scratch_cover == "4G"'
        ctl policy show
        expect_rc 0
        out_has "(none: built-in defaults)"
}

policy_show_invalid() {
        ctl --policy "$POLICIES/bad/many-errors.json" policy show
        expect_rc 1
        out_empty
        err_re "bad/many-errors\.json:3:14: unsupported policy version 2"
        err_re "bad/many-errors\.json:30:18: "
        ctl --json=short --policy "$POLICIES/bad/many-errors.json" policy show
        expect_rc 1
        out_empty
        ctl --policy "$WORK/missing.json" policy show
        expect_rc 1
        err_has "$WORK/missing.json"
}

group_policy_show() {
        t "policy show: files, defaults' sources, rules with FILE:LINE" policy_show_human
        t "policy show --json: policy_to_json" policy_show_json
        t "policy show: invalid policy -> 1 with the errors" policy_show_invalid
}

# ---- policy test ---------------------------------------------------------------------------------

write_test_policies() {
        # One rule per line, so that rule N is on line N+2.
        cat >"$WORK/first.json" <<'EOF'
{ "version": 1,
  "rules": [
    { "id": "edu-slot2", "match": { "slot": "00:02.0", "vendor": "1234" }, "passthrough": "allow" },
    { "id": "all-edu", "match": { "vendor": "1234", "device": "11e8" }, "passthrough": "deny" },
    { "id": "nics", "match": { "class": "02" }, "passthrough": "allow", "mode": "scratch-page" }
  ] }
EOF
        cat >"$WORK/unsafe.json" <<'EOF'
{ "version": 1,
  "rules": [
    { "id": "edu-unsafe", "match": { "vendor": "1234", "device": ["11e8", "11e9"] }, "passthrough": "allow", "allow_unsafe_interrupts": true }
  ] }
EOF
}

policy_test_first_match() {
        # Two rules match 00:02.0: the first decides, the second is not reached.
        local p=$WORK/first.json
        write_test_policies
        ctl --root "$SNAPS/default" --policy "$p" policy test 00:02.0
        expect_rc 0
        out_re '^Device: +0000:00:02\.0 1234:11e8, class 00ff00, driver \(none\), interrupts safe$'
        out_has "Verdict: allow by rule 'edu-slot2' ($p:3)"
        out_has "Release to a guest: allowed"
        out_re "^  match edu-slot2 +$p:3  <- decides$"
        out_re "^  match all-edu +$p:4 \(not reached: an earlier rule matched\)$"
        out_re "^  no +nics +$p:5 \(not reached"
        out_re '^ +yes slot +wants 00:02\.0, device has 0000:00:02\.0$'
        out_re '^ +yes vendor +wants 1234, device has 1234$'
        out_re '^ +no +class +wants 02, device has 00ff00$'

        ctl --root "$SNAPS/default" --policy "$p" --json=short policy test 00:02.0
        expect_rc 0
        json_lines 1
        jq_ok '.device == "0000:00:02.0" and .interrupts == "safe"
               and .verdict.passthrough == "allow" and .verdict.rule == "edu-slot2" and .verdict.mode == "blocked"
               and .release_to_guest.allowed == true and (.release_to_guest.reason|contains("edu-slot2"))'
        jq_ok --arg p "$p" '[.rules[] | [.id, .file, .line, .matched, .reached]]
               == [["edu-slot2",$p,3,true,true], ["all-edu",$p,4,true,false], ["nics",$p,5,false,false]]'
        jq_ok '.rules[0].keys == [{"key":"slot","expected":["00:02.0"],"actual":"0000:00:02.0","matched":true},
                                  {"key":"vendor","expected":["1234"],"actual":"1234","matched":true}]'
        jq_ok '.rules[2].keys == [{"key":"class","expected":["02"],"actual":"00ff00","matched":false}]'

        # 00:03.0: the first rule's slot does not hold, the second denies
        ctl --root "$SNAPS/default" --policy "$p" --json=short policy test 0000:00:03.0
        expect_rc 0
        jq_ok '.verdict.passthrough == "deny" and .verdict.rule == "all-edu" and .release_to_guest.allowed == false
               and (.release_to_guest.reason|contains("denies"))'
        jq_ok '.rules[0].matched == false and .rules[0].keys[0].matched == false and .rules[0].keys[1].matched == true
               and .rules[1].matched and .rules[1].reached and .rules[2].reached == false'
        # 00:04.0: the NIC rule, with its mode
        ctl --root "$SNAPS/default" --policy "$p" --json=short policy test 00:04.0
        jq_ok '.verdict.rule == "nics" and .verdict.mode == "scratch-page" and .release_to_guest.allowed'
}

policy_test_no_rule() {
        # No rule matches: deny.
        write_test_policies
        ctl --root "$SNAPS/default" --policy "$WORK/first.json" policy test 00:1f.2
        expect_rc 0
        out_has "Verdict: deny (no rule matches)"
        out_has "Release to a guest: refused"
        out_lacks "<- decides"
        ctl --root "$SNAPS/default" --policy "$WORK/first.json" --json=short policy test 00:1f.2
        jq_ok '.verdict.passthrough == "deny" and .verdict.rule == null and .release_to_guest.allowed == false
               and all(.rules[]; .matched == false and .reached)'
        # and with no policy at all
        ctl --root "$SNAPS/default" --json=short policy test 00:02.0
        expect_rc 0
        jq_ok '.verdict.passthrough == "deny" and .verdict.rule == null and .rules == [] and .release_to_guest.allowed == false'
}

policy_test_unsafe_interrupts() {
        # An allow rule is not enough where interrupts are not isolated, unless the rule accepts that.
        write_test_policies
        ctl --root "$SNAPS/nointremap" --policy "$WORK/first.json" --json=short policy test 00:02.0
        expect_rc 0
        jq_ok '.interrupts == "unsafe" and .verdict.passthrough == "allow" and .verdict.allow_unsafe_interrupts == false
               and .release_to_guest.allowed == false and (.release_to_guest.reason|contains("allow_unsafe_interrupts"))'
        ctl --root "$SNAPS/nointremap" --policy "$WORK/first.json" policy test 00:02.0
        out_has "Release to a guest: refused"
        out_has "interrupts unsafe"
        ctl --root "$SNAPS/nointremap" --policy "$WORK/unsafe.json" --json=short policy test 00:02.0
        expect_rc 0
        jq_ok '.verdict.rule == "edu-unsafe" and .verdict.allow_unsafe_interrupts == true and .release_to_guest.allowed == true'
        jq_ok '.rules[0].keys[1] == {"key":"device","expected":["11e8","11e9"],"actual":"11e8","matched":true}'
        # the same rule on a machine with interrupt remapping: allowed, interrupts safe
        ctl --root "$SNAPS/default" --policy "$WORK/unsafe.json" --json=short policy test 00:02.0
        jq_ok '.interrupts == "safe" and .release_to_guest.allowed == true'
}

policy_test_errors() {
        write_test_policies
        ctl --root "$SNAPS/default" --policy "$WORK/first.json" policy test 00:09.0
        expect_rc 1
        err_has "No PCI device 0000:00:09.0"
        out_empty
        ctl --root "$SNAPS/default" --policy "$WORK/first.json" --json=short policy test 00:09.0
        expect_rc 1
        out_empty
        ctl --root "$SNAPS/default" --policy "$POLICIES/bad/version-2.json" policy test 00:02.0
        expect_rc 1
        err_re "bad/version-2\.json:[0-9]+:[0-9]+: "
        out_empty
}

group_policy_test() {
        t "policy test: first match wins, per-key yes/no" policy_test_first_match
        t "policy test: no rule -> deny" policy_test_no_rule
        t "policy test: unsafe interrupts and allow_unsafe_interrupts" policy_test_unsafe_interrupts
        t "policy test: absent device 1, invalid policy 1" policy_test_errors
}

# ---- policy generate -----------------------------------------------------------------------------

policy_generate_snapshot() {
        # A valid policy with one deny rule per endpoint (no bridges, no host bridge, no
        # virtio-iommu), comments naming the device, unique ids; applied, it decides every endpoint.
        local snap=$1 want gen=$WORK/gen-$1.json
        want=$(endpoints_of "$snap" | tr '\n' ' ')
        ctl --root "$SNAPS/$snap" policy generate
        expect_rc 0
        json_one
        cp "$OUT" "$gen"
        jq_checks --arg want "$want" -- \
                '.version == 1 and .defaults.mode == "blocked" and (.comment|contains("isolatectl policy generate"))' \
                '[.rules[].match.slot] == ($want | split(" ") | map(select(. != "")))' \
                'all(.rules[]; .passthrough == "deny" and ((.match.slot + " ") as $s | .comment|startswith($s))
                               and (.match.vendor|test("^[0-9a-f]{4}$")) and (.match.device|test("^[0-9a-f]{4}$")))' \
                '[.rules[].id] | length == (unique|length)'
        ctl policy check "$gen"
        expect_rc 0
        err_empty
        ctl --root "$SNAPS/$snap" --policy "$gen" --json=short list
        expect_rc 0
        jq_ok --arg want "$want" 'all(.[]; if (.slot|IN($want|split(" ")[])) then .verdict.rule == "dev-" + .slot
                                                                        and .verdict.passthrough == "deny"
                                                                    else .verdict.rule == null end)'
}

policy_generate_formats() {
        # Always JSON: pretty by default, one line with --json=short, the same policy either way.
        ctl --root "$SNAPS/bridge" policy generate
        [[ $(wc -l <"$OUT") -gt 1 ]] || fail "default output is not pretty"
        jq -S . "$OUT" >"$WORK/gen-pretty.json"
        ctl --root "$SNAPS/bridge" --json=short policy generate
        json_lines 1
        jq -S . "$OUT" | diff -u "$WORK/gen-pretty.json" - >/dev/null || fail "--json=short is not the same policy"
        ctl --root "$SNAPS/bridge" --json=off policy generate
        json_one
}

group_policy_generate() {
        local snap
        for snap in $(snapshots); do
                t "policy generate: $snap: valid, one deny rule per endpoint" policy_generate_snapshot "$snap"
        done
        t "policy generate: pretty, short" policy_generate_formats
}

# ---- capture -------------------------------------------------------------------------------------

# normalized_audit ROOT: audit --json of ROOT, sorted, without host.kernel_log_read (a live machine's
# log may be unreadable where the snapshot's copy is not).
normalized_audit() {
        ctl --root "$1" --json=short audit
        [[ $RC == 0 || $RC == 3 ]] || fail "audit of $1 failed"
        jq -S 'del(.host.kernel_log_read)' "$OUT"
}

capture_snapshot() {
        # A capture of a snapshot reads back as the same machine, is a faithful copy (the same files
        # and the same relative links), and never points back into its source.
        local snap=$1 dir=$WORK/cap-$1 n
        n=$(functions_of "$snap" | wc -l)
        ctl --root "$SNAPS/$snap" capture "$dir"
        expect_rc 0
        out_has "Captured $n PCI devices"
        out_has "into $dir."
        [[ -d $dir ]] || fail "no $dir"
        jq -e --argjson n "$n" '.format == "isolate-capture" and .version == 1 and .devices == $n
                                and (.tool|startswith("isolate "))' "$dir/capture.json" >/dev/null ||
                fail "capture.json: $(cat "$dir/capture.json")"
        normalized_audit "$SNAPS/$snap" >"$WORK/audit-a"
        normalized_audit "$dir" >"$WORK/audit-b"
        diff "$WORK/audit-a" "$WORK/audit-b" >"$WORK/diff" ||
                { cat "$WORK/diff"; fail "audit --json of the capture differs from the snapshot's"; }
        ctl --root "$SNAPS/$snap" --json=short list
        cp "$OUT" "$WORK/list-a"
        ctl --root "$dir" --json=short list
        diff "$WORK/list-a" "$OUT" >/dev/null || fail "list --json of the capture differs"
        diff -r --no-dereference -x capture.json "$SNAPS/$snap" "$dir" >"$WORK/diff" ||
                { head -n 20 "$WORK/diff"; fail "the capture is not a copy of the snapshot"; }
        [[ -z $(find "$dir" -type l -lname '/*') ]] || fail "absolute symlinks in the capture"
        if find "$dir" -type l -printf '%l\n' | grep -qF "$SNAPS"; then fail "a symlink names the source"; fi
        [[ -z $(find "$dir" -xtype l) ]] || fail "dangling symlinks in the capture: $(find "$dir" -xtype l | head -n 3)"
        [[ -z $(find "$WORK" -maxdepth 1 -name "cap-$snap.partial-*") ]] || fail "partial directory left behind"
}

capture_live() {
        # The running machine (when it has PCI devices to show): the capture reads back the same.
        if [[ -z $(find /sys/bus/pci/devices -mindepth 1 -maxdepth 1 2>/dev/null | head -n 1) ]]; then
                echo "no PCI devices in /sys here: nothing to compare"
                return 0
        fi
        ctl capture "$WORK/cap-live"
        expect_rc 0
        normalized_audit / >"$WORK/audit-a"
        normalized_audit "$WORK/cap-live" >"$WORK/audit-b"
        diff "$WORK/audit-a" "$WORK/audit-b" >"$WORK/diff" ||
                { cat "$WORK/diff"; fail "audit of the live capture differs from the live audit"; }
        [[ -z $(find "$WORK/cap-live" -type l -lname '/*') ]] || fail "absolute symlinks in the capture"
}

capture_existing() {
        # An existing directory (or file) is never written into.
        mkdir "$WORK/exists"
        echo keep >"$WORK/exists/mine"
        ctl --root "$SNAPS/default" capture "$WORK/exists"
        expect_rc 1
        err_has "already exists"
        out_empty
        [[ $(ls -A "$WORK/exists") == mine && $(<"$WORK/exists/mine") == keep ]] || fail "the existing directory was touched"
        : >"$WORK/exists-file"
        ctl --root "$SNAPS/default" capture "$WORK/exists-file"
        expect_rc 1
        err_has "already exists"
        [[ -f $WORK/exists-file && ! -s $WORK/exists-file ]] || fail "the existing file was touched"
        [[ -z $(find "$WORK" -maxdepth 1 -name 'exists*.partial-*') ]] || fail "partial directory left behind"
}

capture_impossible() {
        # A target that cannot be created, or a capture that fails half-way: exit 1, and neither DIR
        # nor DIR.partial-* is left.
        local parent=$WORK/impossible
        mkdir "$parent"
        : >"$parent/file"
        ctl --root "$SNAPS/default" capture "$parent/file/snap"
        expect_rc 1
        err_has "$parent/file/snap"
        ctl --root "$SNAPS/default" capture "$parent/no-such-dir/snap"
        expect_rc 1
        [[ $(ls -A "$parent") == file ]] || fail "something was left in $parent: $(ls -A "$parent")"

        # Half-way: the third device's link leads out of the snapshot, so capture fails after it has
        # written the first two.
        cp -a "$SNAPS/default" "$parent/src"
        mkdir -p "$parent/elsewhere"
        cp -a "$parent/src/sys/devices/pci0000:00/0000:00:03.0" "$parent/elsewhere/"
        ln -sfn "$parent/elsewhere/0000:00:03.0" "$parent/src/sys/bus/pci/devices/0000:00:03.0"
        ctl --root "$parent/src" capture "$parent/snap"
        expect_rc 1
        err_has "$parent/snap"
        err_has "lies outside '$parent/src'"
        [[ ! -e $parent/snap ]] || fail "$parent/snap was left behind"
        [[ -z $(find "$parent" -maxdepth 1 -name 'snap.partial-*') ]] || fail "partial directory left behind"
        # a dangling device link, likewise
        ln -sfn ../../../devices/pci0000:00/nothing "$parent/src/sys/bus/pci/devices/0000:00:03.0"
        ctl --root "$parent/src" capture "$parent/snap"
        expect_rc 1
        [[ ! -e $parent/snap && -z $(find "$parent" -maxdepth 1 -name 'snap.partial-*') ]] || fail "left behind"
        # not a snapshot at all
        ctl --root "$WORK/does-not-exist" capture "$parent/snap"
        expect_rc 1
        err_has "is not a snapshot"
        [[ ! -e $parent/snap && -z $(find "$parent" -maxdepth 1 -name 'snap.partial-*') ]] || fail "left behind"
}

capture_json() {
        ctl --root "$SNAPS/bridge" --json=short capture "$WORK/cap-json"
        expect_rc 0
        json_lines 1
        jq_ok --arg d "$WORK/cap-json" '.directory == $d and .devices == 12 and .iommu_groups == 7
                                        and .files > 0 and .bytes > 0 and .fault_records == 0'
}

group_capture() {
        local snap
        for snap in $(snapshots); do
                t "capture: $snap: reads back the same, relative links" capture_snapshot "$snap"
        done
        t "capture: the live machine" capture_live
        t "capture: existing target -> 1, untouched" capture_existing
        t "capture: impossible target, failure half-way -> 1, nothing left" capture_impossible
        t "capture: --json" capture_json
}

# ---- libvirt-hook --------------------------------------------------------------------------------

libvirt_dry_run() {
        # Every domain in tests/fixtures/libvirt/domains: exactly the host PCI addresses, in document
        # order.
        local file want what got n=0
        while IFS=$'\t' read -r file want what; do
                [[ -n $file && $file != '#'* ]] || continue
                n=$((n + 1))
                STDIN=$LIBVIRT/$file ctl libvirt-hook --dry-run guest prepare begin -
                expect_rc 0
                got=$(paste -sd, "$OUT")
                [[ ${got:--} == "$want" ]] || fail "$file: got '${got:--}', want '$want'"
                STDIN=$LIBVIRT/$file ctl --json=short libvirt-hook --dry-run guest release end -
                expect_rc 0
                json_lines 1
                jq_ok --arg want "$want" '. == ($want | if . == "-" then [] else split(",") end)'
        done <"$LIBVIRT/EXPECTED.tsv"
        ((n >= 16)) || fail "only $n rows in EXPECTED.tsv"
}

libvirt_json_is_global() {
        # --json is a global option: after the verb, a hook argument like any other (so: one too many).
        STDIN=$LIBVIRT/vfio-driver-variants.xml ctl --json=pretty libvirt-hook --dry-run guest prepare begin -
        expect_rc 0
        json_one
        jq_ok '. == ["0000:17:02.4","0000:17:02.5","0000:17:02.6","0000:17:02.7"]'
        STDIN=$LIBVIRT/vfio-driver-variants.xml ctl libvirt-hook --dry-run --json guest prepare begin -
        expect_rc 2
        err_has "Too many arguments"
        out_empty
}

libvirt_dash_arguments() {
        # libvirt passes domain names as they are: "-x", "--help" or "--json" are names, not options.
        local name
        for name in -x --help --json=short -s --to=guest; do
                STDIN=$LIBVIRT/interface-sriov-vf.xml ctl libvirt-hook --dry-run "$name" prepare begin -
                expect_rc 0
                [[ $(<"$OUT") == 0000:5e:02.3 ]] || fail "domain '$name': got '$(<"$OUT")'"
                STDIN=closed ctl libvirt-hook "$name" started begin -
                expect_rc 0
        done
        # After "--" (as the installed hook passes them) even "--dry-run" and "--" are names.
        for name in --dry-run --; do
                STDIN=$LIBVIRT/interface-sriov-vf.xml ctl libvirt-hook --dry-run -- "$name" prepare begin -
                expect_rc 0
                [[ $(<"$OUT") == 0000:5e:02.3 ]] || fail "domain '$name' after --: got '$(<"$OUT")'"
                STDIN=closed ctl libvirt-hook -- "$name" started begin -
                expect_rc 0
        done
        # The hook script passes libvirt's arguments after "--".
        grep -q 'isolatectl libvirt-hook -- "\$@"' "$SRC/data/isolate-libvirt-hook" ||
                fail "data/isolate-libvirt-hook does not pass its arguments after --"
}

libvirt_other_operations() {
        # Anything but prepare/begin, release/end and stopped/end does nothing and does not even read
        # the XML: neither a closed standard input nor one that never ends (a read would hang) nor
        # garbage matters.
        local op
        for op in "started begin" "prepare end" "start begin" "migrate begin" "restore begin" "reconnect begin" \
                "attach begin" "release begin" "stopped begin" "prepare -" "unknown thing"; do
                # shellcheck disable=SC2086
                STDIN=closed ctl libvirt-hook guest $op -
                expect_rc 0
                out_empty
                err_empty
                echo "<not xml" >"$WORK/garbage.xml"
                # shellcheck disable=SC2086
                STDIN=$WORK/garbage.xml ctl libvirt-hook guest $op -
                expect_rc 0
        done
        # a standard input that never ends: the hook must not wait for it
        mkfifo "$WORK/never"
        sleep 30 >"$WORK/never" &
        local writer=$!
        RC=0
        LAST="isolatectl libvirt-hook guest started begin - <endless pipe"
        timeout 10 "$CTL" libvirt-hook guest started begin - <"$WORK/never" >"$OUT" 2>"$ERR" || RC=$?
        kill "$writer" 2>/dev/null || true
        wait "$writer" 2>/dev/null || true
        expect_rc 0
}

libvirt_no_hostdevs() {
        # A domain without host PCI devices: prepare and release have nothing to do and need no daemon.
        local op
        for op in "prepare begin" "release end" "stopped end"; do
                # shellcheck disable=SC2086
                STDIN=$LIBVIRT/usb-only.xml ctl libvirt-hook guest $op -
                expect_rc 0
                out_empty
        done
}

libvirt_malformed() {
        # Broken XML: exit 1, "malformed XML" with the line it broke on.
        printf '<domain>\n  <devices>\n    <hostdev mode="subsystem" type="pci">\n      <source><address domain="0" bus="1" slot="2" function="3"/></source>\n    </hostdev>\n  </devicez>\n</domain>\n' \
                >"$WORK/mismatch.xml"
        STDIN=$WORK/mismatch.xml ctl libvirt-hook --dry-run guest prepare begin -
        expect_rc 1
        out_empty
        err_has "malformed XML"
        err_re "line 6\b"
        err_has "'guest'"
        printf '<domain>\n<devices>\n' >"$WORK/truncated.xml"
        STDIN=$WORK/truncated.xml ctl libvirt-hook --dry-run guest prepare begin -
        expect_rc 1
        err_re "malformed XML.*line [0-9]+"
        STDIN=/dev/null ctl libvirt-hook --dry-run guest prepare begin -
        expect_rc 1
        err_re "malformed XML.*line [0-9]+"
        # and for a real prepare too: the XML is read before anything else happens
        STDIN=$WORK/mismatch.xml ctl libvirt-hook guest prepare begin -
        expect_rc 1
        err_has "malformed XML"
        err_lacks "bus"
}

libvirt_arg_counts() {
        local args
        for args in "" "guest" "guest prepare begin" "--dry-run guest prepare" "--dry-run"; do
                # shellcheck disable=SC2086
                STDIN=$LIBVIRT/vfio-driver-variants.xml ctl libvirt-hook $args
                expect_rc 2
                err_has "Too few arguments"
                out_empty
        done
        STDIN=$LIBVIRT/vfio-driver-variants.xml ctl libvirt-hook guest prepare begin - extra
        expect_rc 2
        err_has "Too many arguments"
}

group_libvirt_hook() {
        t "libvirt-hook: --dry-run over EXPECTED.tsv (lines and --json)" libvirt_dry_run
        t "libvirt-hook: --json is global, not a hook option" libvirt_json_is_global
        t "libvirt-hook: arguments starting with '-' are arguments" libvirt_dash_arguments
        t "libvirt-hook: other operations exit 0 without reading stdin" libvirt_other_operations
        t "libvirt-hook: no host PCI devices -> 0 without the daemon" libvirt_no_hostdevs
        t "libvirt-hook: malformed XML -> 1 with a line" libvirt_malformed
        t "libvirt-hook: too few / too many arguments -> 2" libvirt_arg_counts
}

# ---- JSON hygiene: only JSON on stdout, one value per line in short form ---------------------------

json_forms() {
        # For every read-only verb: --json=short is one value on one line, --json=pretty and -j /
        # --json (short, since stdout is not a terminal) are the same value.
        local n=0 spec short form
        write_test_policies
        local -a specs=(
                "--root $SNAPS/default list"
                "--root $SNAPS/default list -s 00:02"
                "--root $SNAPS/bridge audit"
                "--root $SNAPS/nointremap audit 00:03.0"
                "policy check $POLICIES/good/full.json"
                "policy check $POLICIES/bad/many-errors.json"
                "policy check"
                "--policy $POLICIES/good/full.json policy show"
                "--root $SNAPS/default --policy $WORK/first.json policy test 00:02.0"
                "--root $SNAPS/virtio policy generate"
                "--root $SNAPS/bridge capture $WORK/json-cap-@"
        )
        for spec in "${specs[@]}"; do
                n=$((n + 1))
                # shellcheck disable=SC2086
                ctl --json=short ${spec//@/short-$n}
                [[ $RC == 0 || $RC == 3 ]] || fail "$spec: exit $RC"
                json_lines 1
                # all values on stdout, normalized (capture names its directory, which differs)
                short=$(jq -cS -s 'map(del(.directory?))' "$OUT")
                for form in --json=pretty -j --json; do
                        # shellcheck disable=SC2086
                        ctl $form ${spec//@/${form//[-=]/}-$n}
                        [[ $(jq -cS -s 'map(del(.directory?))' "$OUT") == "$short" ]] ||
                                fail "$spec: $form is not the one value --json=short printed"
                done
                # shellcheck disable=SC2086
                ctl -j ${spec//@/j2-$n}
                json_lines 1
        done
        # a pretty object spans several lines
        ctl --json=pretty --root "$SNAPS/default" audit
        [[ $(wc -l <"$OUT") -gt 1 ]] || fail "--json=pretty is not pretty"
        # --json=off: the human form
        ctl --json=off --root "$SNAPS/default" list
        out_re '^SLOT '
}

json_errors_keep_stdout_clean() {
        # Failures under --json: the message on stderr, nothing (not even half a document) on stdout.
        local spec
        for spec in "--root $WORK/nowhere list" "--root $SNAPS/default audit 00:09.0" \
                "--root $SNAPS/default policy test 00:09.0" "--policy $POLICIES/bad/empty.json policy show" \
                "--root $SNAPS/default --policy $WORK/nothing.json list" "--root $SNAPS/default capture $WORK" \
                "lsit" "list --to=guest"; do
                # shellcheck disable=SC2086
                ctl --json=short $spec
                [[ $RC == 1 || $RC == 2 ]] || fail "$spec: exit $RC"
                out_empty
                [[ -s $ERR ]] || fail "$spec: no message"
        done
}

group_json() {
        t "json: one value per line (short), pretty, -j, --json" json_forms
        t "json: errors leave stdout empty" json_errors_keep_stdout_clean
}

# ---- main ----------------------------------------------------------------------------------------

ALL_GROUPS=(usage list audit bad-root policy-check policy-show policy-test policy-generate capture libvirt-hook json)
selected=("$@")
((${#selected[@]} > 0)) || selected=("${ALL_GROUPS[@]}")
start=$SECONDS
for g in "${selected[@]}"; do
        case $g in
        usage) group_usage ;;
        list) group_list ;;
        audit) group_audit ;;
        bad-root) group_bad_root ;;
        policy-check) group_policy_check ;;
        policy-show) group_policy_show ;;
        policy-test) group_policy_test ;;
        policy-generate) group_policy_generate ;;
        capture) group_capture ;;
        libvirt-hook) group_libvirt_hook ;;
        json) group_json ;;
        *)
                echo "Unknown group '$g' (groups: ${ALL_GROUPS[*]})" >&2
                exit 2
                ;;
        esac
done

echo
echo "$PASSED passed, $FAILED failed ($((SECONDS - start)) s, $CTL)"
if ((FAILED > 0)); then
        printf '  failed: %s\n' "${FAILED_NAMES[@]}"
        exit 1
fi
exit 0
