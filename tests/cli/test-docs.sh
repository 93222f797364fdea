#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The documentation matches the code:
#   - every verb and option of isolatectl, from 'isolatectl --help' and from the source (the verbs[] and
#     policy_verbs[] tables, the options[] array and the getopt strings), is in --help and has an entry
#     in man/isolatectl.1;
#   - the same for isolated: 'isolated --help', src/daemon/isolated.c and man/isolated.8;
#   - every method, property and signal of dbus/*.xml, and every error of src/lib/isolate-bus.h, has an
#     entry in man/org.isolate1.5;
#   - every audit finding id of src/lib/findings.c has an entry in man/isolatectl.1;
#   - every key of the policy parser's tables (src/lib/policy.c) has an entry in
#     man/isolate-policy.json.5, and every value of its enum tables (the modes': src/lib/quarantine.c) is named in one;
#   - every JSON key isolatectl prints has an entry in man/isolatectl.1 (or, for the keys of a policy
#     that 'policy generate' writes, in man/isolate-policy.json.5);
#   - the pages format without warnings (groff -ww, or man --warnings), and are all installed;
#   - the bash completion (data/isolatectl.bash-completion) completes every verb, sub-verb and option
#     of --help, the option values --help names, and DEVICE arguments from --root's sysfs;
#   - docs/isolate.md, the contract, names every D-Bus method, property, signal and error, every
#     device state (src/lib/quarantine.c) and every audit finding id; every exit status isolatectl
#     defines (0, EXIT_FAILURE and the EXIT_* of src/cli/*.h) has a row in its table and an entry in
#     isolatectl(1)'s EXIT STATUS, which lists no other; every device state has an entry in
#     isolatectl(1)'s DEVICE STATES;
#   - the documentation is self-contained: no file of the tree refers to anything outside
#     the repository (../shared, PRODUCT.md, STYLE.md, /work/), every relative Markdown link of
#     README.md, HACKING.md and docs/ names a file that exists, and HACKING.md links docs/isolate.md
#     and docs/CODING_STYLE.md.
# An "entry" is the line after a .TP or .TQ: its first word (fonts and quotes removed) is the name.
#
#   ISOLATE_SOURCE_ROOT   the source tree (default: two levels above this script)
#   ISOLATE_BUILD_ROOT    the build directory (default: $ISOLATE_SOURCE_ROOT/build)
#   test-docs.sh [ISOLATECTL [ISOLATED]]   the binaries (default: below the build directory)
#
# Exit status: 0 everything matches, 1 something is missing (each is listed).

set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${ISOLATE_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
BUILD=${ISOLATE_BUILD_ROOT:-$SRC/build}
ISOLATECTL=${1:-$BUILD/src/cli/isolatectl}
ISOLATED=${2:-$BUILD/src/daemon/isolated}
MAN=$SRC/man
COMPLETION=$SRC/data/isolatectl.bash-completion
FIXTURES=$SRC/tests/fixtures/sysfs

for bin in "$ISOLATECTL" "$ISOLATED"; do
        [[ -x $bin ]] || { echo "ERROR: $bin is missing: build first (ninja -C $BUILD)." >&2; exit 1; }
done

failures=0
checks=0
fail() {
        echo "FAIL: $*"
        failures=$((failures + 1))
}
pass() {
        checks=$((checks + 1))
}
section() {
        echo "== $*"
}

# ---- reading man pages ----------------------------------------------------------------------

# The text of a roff line without macros, fonts, quotes and escapes.
roff_text() {
        sed -E -e 's/^\.(B|I|BR|RB|BI|IB|IR|RI|SM|SB) +//' \
                -e 's/\\\(dq/\x01/g' -e 's/"//g' -e 's/\x01/"/g' \
                -e 's/\\f(\[[^]]*\]|\(..|.)//g' -e 's/\\-/-/g' -e 's/\\&//g' -e "s/\\\\\(aq/'/g" \
                -e 's/\\e/\\/g' -e 's/\\ / /g'
}

# The entries of a page: the line after every .TP and .TQ, as text.
entries() {
        awk '/^\.(TP|TQ)( |$)/ { take = 1; next } take { print; take = 0 }' "$1" | roff_text
}

# The first word of every entry ("Quarantine(in as ..." -> Quarantine, "mode: ..." -> mode).
entry_names() {
        awk '{ w = $1; sub(/[(:,].*$/, "", w); print w }' | sort -u
}

# Each page's entries and entry names, read once (newline-framed, for matching in bash).
declare -A PAGE_ENTRIES PAGE_NAMES
for page in "$MAN"/*.[1-8]; do
        name=${page##*/}
        PAGE_ENTRIES[$name]=$(entries "$page")
        PAGE_NAMES[$name]=$'\n'$(entry_names <<<"${PAGE_ENTRIES[$name]}")$'\n'
done

# Every page yields entries (a changed .TP layout or a broken reader would leave nothing to match).
declare -A MIN_ENTRIES=([isolatectl.1]=150 [org.isolate1.5]=50 [isolated.8]=25 [isolate-policy.json.5]=30)
for name in "${!MIN_ENTRIES[@]}"; do
        n=$(grep -c . <<<"${PAGE_ENTRIES[$name]-}" || true)
        ((n >= MIN_ENTRIES[$name])) ||
                fail "found only $n entries in man/$name (expected ≥ ${MIN_ENTRIES[$name]}): has the page's layout changed?"
done

has_entry_named() { # NAME PAGE
        [[ ${PAGE_NAMES[$2]-} == *$'\n'"$1"$'\n'* ]]
}

has_option_entry() { # OPTION PAGE: an entry that starts with the option (after "-x, " for a long one)
        local line tail='($|[]=[, ])'
        while IFS= read -r line; do
                [[ $line =~ ^(-[a-zA-Z],\ )?"$1"$tail ]] && return 0
        done <<<"${PAGE_ENTRIES[$2]-}"
        return 1
}

has_verb_entry() { # "VERB" or "policy SUB", PAGE: an entry starting with those words
        local line
        while IFS= read -r line; do
                [[ "$line " == "$1 "* ]] && return 0
        done <<<"${PAGE_ENTRIES[$2]-}"
        return 1
}

in_lines() { # WORD LINES: WORD is one of the lines
        [[ $'\n'$2$'\n' == *$'\n'"$1"$'\n'* ]]
}

# ---- reading the source ---------------------------------------------------------------------

# Lines from the one that matches START up to the next line that is "};" at the same indentation.
c_block() { # FILE START-REGEX
        awk -v start="$2" '
                !inside && $0 ~ start { inside = 1; match($0, /^[ \t]*/); indent = substr($0, 1, RLENGTH); next }
                inside && $0 == indent "};" { exit }
                inside { print }' "$1"
}

# The names of a verb table: { "name", ...
table_names() {
        grep -oE '^[[:space:]]*\{ "[^"]+"' | sed -E 's/.*"([^"]+)"/\1/'
}

# Long options of a struct option array (as --name) and the letters of the getopt strings (as -x).
long_options() {
        grep -oE '\{ "[^"]+",' | sed -E 's/\{ "([^"]+)",/--\1/'
}
short_options() { # FILE: the letters of every getopt string in the file
        grep -oE '(parse_options\([^;]*|getopt_long\([^;]*)"[^"]*"' "$1" | sed -E 's/.*"([^"]*)"/\1/' |
                tr -d '+:\n' | fold -w1 | sort -u | sed 's/^/-/'
}

# String literals of a C string array: static const char *const NAME[] = { "a", "b", NULL };
string_array() { # FILE NAME
        awk -v name="$2" '
                !inside && index($0, name "[") && /=/ { inside = 1 }
                inside { print; if ($0 ~ /};/) exit }' "$1" | grep -oE '"[^"]*"' | tr -d '"'
}

# ---- reading --help -------------------------------------------------------------------------

HELP_CTL=$("$ISOLATECTL" --help) || fail "isolatectl --help failed"
HELP_D=$("$ISOLATED" --help) || fail "isolated --help failed"

help_verbs() { # the verbs of the "Commands:" section, and "policy SUB" of "Policy commands:"
        awk '
                /^Commands:/ { s = 1; next }
                /^Policy commands:/ { s = 2; next }
                /^$/ { s = 0 }
                s && /^  [a-z]/ { print (s == 2 ? $1 " " $2 : $1) }' <<<"$HELP_CTL"
}

help_options() { # HELP-TEXT: every -x and --long at the start of an option line
        sed -nE 's/^  (-[a-zA-Z])? +(--[a-z][a-z-]*)?.*/\1 \2/p' <<<"$1" | tr ' ' '\n' | grep -E '^-' | sort -u
}
HELP_CTL_OPTS=$(help_options "$HELP_CTL")
HELP_D_OPTS=$(help_options "$HELP_D")

help_option_values() { # OPTION: the values --help lists as --opt=a|b|c, blank-separated
        local re="$1=([a-z|-]+)"
        [[ $HELP_CTL =~ $re ]] && printf '%s' "${BASH_REMATCH[1]//|/ }"
}

# ---- checks ---------------------------------------------------------------------------------

section "isolatectl: verbs (--help, src/cli/isolatectl.c verbs[], src/cli/verb-policy.c policy_verbs[]) in isolatectl(1)"
mapfile -t src_verbs < <(c_block "$SRC/src/cli/isolatectl.c" '^static const Verb verbs\[\] = \{' | table_names)
mapfile -t src_policy < <(c_block "$SRC/src/cli/verb-policy.c" '^static const Verb policy_verbs\[\] = \{' | table_names)
mapfile -t hv < <(help_verbs)
((${#src_verbs[@]} >= 10)) || fail "found only ${#src_verbs[@]} verbs in src/cli/isolatectl.c: has the verbs[] table moved?"
((${#src_policy[@]} >= 4)) || fail "found only ${#src_policy[@]} policy verbs in src/cli/verb-policy.c: has policy_verbs[] moved?"
((${#hv[@]} >= 14)) || fail "found only ${#hv[@]} verbs in isolatectl --help: has its Commands: section changed?"
src_all=$(printf '%s\n' "${src_verbs[@]}" "${src_policy[@]/#/policy }")
help_all=$(printf '%s\n' "${hv[@]}")
while IFS= read -r v; do
        [[ -n $v ]] || continue
        if in_lines "$v" "$help_all"; then pass; else fail "isolatectl verb '$v' is not in --help"; fi
        if in_lines "$v" "$src_all"; then pass; else fail "isolatectl verb '$v' is in --help but not in verbs[] or policy_verbs[]"; fi
        if has_verb_entry "$v" isolatectl.1; then pass; else fail "isolatectl verb '$v' has no entry in man/isolatectl.1"; fi
done < <(printf '%s\n%s\n' "$src_all" "$help_all" | sort -u)

section "isolatectl: options (--help, options[] and getopt strings of src/cli/isolatectl.c) in isolatectl(1)"
all_opts=$( {
        c_block "$SRC/src/cli/isolatectl.c" '^static const struct option options\[\] = \{' | long_options
        short_options "$SRC/src/cli/isolatectl.c"
        printf '%s\n' "$HELP_CTL_OPTS"
} | sort -u)
(($(grep -c . <<<"$all_opts") >= 14)) || fail "found too few isolatectl options: has options[] moved?"
# each source on its own: the union would hide one that yields nothing
(($(c_block "$SRC/src/cli/isolatectl.c" '^static const struct option options\[\] = \{' | long_options | grep -c .) >= 10)) ||
        fail "found too few long options in options[] of src/cli/isolatectl.c: has it moved?"
(($(short_options "$SRC/src/cli/isolatectl.c" | grep -c .) >= 4)) || fail "found too few short options in the getopt string of src/cli/isolatectl.c"
(($(grep -c . <<<"$HELP_CTL_OPTS") >= 14)) || fail "found too few options in isolatectl --help"
while IFS= read -r o; do
        if in_lines "$o" "$HELP_CTL_OPTS"; then pass; else fail "isolatectl option '$o' is not in --help"; fi
        if has_option_entry "$o" isolatectl.1; then pass; else fail "isolatectl option '$o' has no entry in man/isolatectl.1"; fi
done <<<"$all_opts"

section "isolated: options (--help, src/daemon/isolated.c) in isolated(8)"
all_dopts=$( {
        c_block "$SRC/src/daemon/isolated.c" 'static const struct option options\[\] = \{' | long_options
        short_options "$SRC/src/daemon/isolated.c"
        printf '%s\n' "$HELP_D_OPTS"
} | sort -u)
(($(grep -c . <<<"$all_dopts") >= 10)) || fail "found too few isolated options: has options[] in isolated.c moved?"
(($(c_block "$SRC/src/daemon/isolated.c" 'static const struct option options\[\] = \{' | long_options | grep -c .) >= 9)) ||
        fail "found too few long options in options[] of src/daemon/isolated.c: has it moved?"
(($(short_options "$SRC/src/daemon/isolated.c" | grep -c .) >= 1)) || fail "found no short option in the getopt string of src/daemon/isolated.c"
(($(grep -c . <<<"$HELP_D_OPTS") >= 10)) || fail "found too few options in isolated --help"
while IFS= read -r o; do
        if in_lines "$o" "$HELP_D_OPTS"; then pass; else fail "isolated option '$o' is not in --help"; fi
        if has_option_entry "$o" isolated.8; then pass; else fail "isolated option '$o' has no entry in man/isolated.8"; fi
done <<<"$all_dopts"

section "D-Bus: members of dbus/*.xml and errors of src/lib/isolate-bus.h in org.isolate1(5)"
members=$(grep -hoE '<(method|property|signal) name="[A-Za-z]+"' "$SRC"/dbus/*.xml | sed -E 's/.*name="([^"]+)"/\1/' | sort -u)
errors=$(grep -oE '"org\.isolate1\.Error\.[A-Za-z]+"' "$SRC/src/lib/isolate-bus.h" | tr -d '"' | sort -u)
(($(grep -c . <<<"$members") >= 20)) || fail "found too few D-Bus members in dbus/*.xml"
(($(grep -c . <<<"$errors") >= 5)) || fail "found too few D-Bus errors in src/lib/isolate-bus.h"
for m in $members $errors; do
        if has_entry_named "$m" org.isolate1.5; then pass; else fail "D-Bus '$m' has no entry in man/org.isolate1.5"; fi
done

section "audit: finding ids of src/lib/findings.c in isolatectl(1)"
ids=$(tr '\n' ' ' <"$SRC/src/lib/findings.c" | grep -oE 'add_finding\( *[a-z]+, *"[a-z0-9-]+"' | sed -E 's/.*"([^"]+)"/\1/' | sort -u)
(($(grep -c . <<<"$ids") >= 14)) || fail "found too few finding ids in src/lib/findings.c"
for id in $ids; do
        if has_entry_named "$id" isolatectl.1; then pass; else fail "finding '$id' has no entry in man/isolatectl.1 (READING THE AUDIT)"; fi
done

section "policy: keys and values of src/lib/policy.c (modes: src/lib/quarantine.c) in isolate-policy.json(5)"
policy_c=$SRC/src/lib/policy.c
keys=$( {
        string_array "$policy_c" match_key_table
        string_array "$policy_c" rule_keys
        string_array "$policy_c" top_keys
        string_array "$policy_c" defaults_keys
} | sort -u)
values=$( {
        string_array "$SRC/src/lib/quarantine.c" quarantine_mode_table
        string_array "$policy_c" unbind_policy_table
        string_array "$policy_c" passthrough_table
} | sort -u)
(($(grep -c . <<<"$keys") >= 18)) || fail "found too few policy keys in src/lib/policy.c: have its tables moved?"
(($(grep -c . <<<"$values") >= 7)) || fail "found too few policy values in src/lib/policy.c: have its tables moved?"
# each table on its own (a renamed one yields nothing, and the union may still reach its minimum)
for t in match_key_table:9 rule_keys:10 top_keys:5 defaults_keys:5 unbind_policy_table:3 passthrough_table:2; do
        n=$(string_array "$policy_c" "${t%%:*}" | grep -c . || true)
        ((n >= ${t##*:})) || fail "found only $n strings in ${t%%:*} of src/lib/policy.c (expected ≥ ${t##*:}): has it moved?"
done
(($(string_array "$SRC/src/lib/quarantine.c" quarantine_mode_table | grep -c . || true) >= 2)) ||
        fail "found too few modes in quarantine_mode_table of src/lib/quarantine.c"
for k in $keys; do
        if has_entry_named "$k" isolate-policy.json.5; then pass; else fail "policy key '$k' has no entry in man/isolate-policy.json.5"; fi
done
for v in $values; do
        re="(^|[^a-z_-])$v([^a-z_-]|\$)"
        found=
        while IFS= read -r line; do
                [[ $line =~ $re ]] && found=1 && break
        done <<<"${PAGE_ENTRIES[isolate-policy.json.5]}"
        if [[ -n $found ]]; then pass; else fail "policy value '$v' is not named in an entry of man/isolate-policy.json.5"; fi
done

section "JSON keys isolatectl prints, in isolatectl(1)"
json_sources=(src/cli/verb-list.c src/cli/verb-audit.c src/cli/verb-daemon.c src/cli/verb-policy.c src/cli/verb-capture.c
              src/cli/verb-libvirt.c src/lib/findings.c src/lib/policy.c src/lib/capture.c)
# the key is the first string argument after the object (which may itself be a call)
json_keys=$(cd "$SRC" && perl -ne 'print "$1\n" while /json_object_object_add\((?:[^(),]|\([^()]*\))*,\s*"([^"]+)"/g' \
        "${json_sources[@]}" | sort -u)
(($(grep -c . <<<"$json_keys") >= 60)) || fail "found too few JSON keys in the sources"
generate_keys=$(grep -oE '"[a-z_]+"' "$SRC/src/cli/verb-policy.c" | tr -d '"')
(($(grep -c . <<<"$generate_keys") >= 20)) || fail "found too few strings in src/cli/verb-policy.c for 'policy generate'"
for k in $json_keys; do
        if has_entry_named "$k" isolatectl.1; then
                pass
        elif has_entry_named "$k" isolate-policy.json.5 && in_lines "$k" "$generate_keys"; then
                pass # a key of the policy format, written by 'policy generate'
        else
                fail "JSON key '$k' has no entry in man/isolatectl.1"
        fi
done

section "docs/isolate.md: D-Bus members and errors, device states, finding ids"
CONTRACT=$SRC/docs/isolate.md
if [[ -f $CONTRACT ]]; then
        pass
        # The backquoted words of the page, one per line ("`org.isolate1.Error.Failed` (`EIO`)" gives both).
        contract_words=$(grep -oE '`[^`]+`' "$CONTRACT" | tr -d '`' | tr ' ' '\n' | sort -u)
        (($(grep -c . <<<"$contract_words") >= 200)) || fail "found too few backquoted words in docs/isolate.md"
else
        fail "docs/isolate.md is missing"
        contract_words=
fi
states=$(grep -oE '\[DEVICE_STATE_[A-Z_]+\] = "[a-z-]+"' "$SRC/src/lib/quarantine.c" | sed -E 's/.*"([^"]+)"/\1/' | sort -u)
(($(grep -c . <<<"$states") >= 5)) || fail "found too few device states in src/lib/quarantine.c: has device_state_table moved?"
for w in $members $errors $ids $states; do
        if in_lines "$w" "$contract_words"; then pass; else fail "'$w' is not named (in backquotes) in docs/isolate.md"; fi
done
for st in $states; do
        if has_entry_named "$st" isolatectl.1; then pass; else fail "device state '$st' has no entry in man/isolatectl.1 (DEVICE STATES)"; fi
        if grep -qE "^\| \`$st\` \|" "$CONTRACT" 2>/dev/null; then pass; else fail "device state '$st' has no row in the state table of docs/isolate.md"; fi
done

section "exit statuses of isolatectl (src/cli) in isolatectl(1) EXIT STATUS and docs/isolate.md"
exit_codes=$( {
        grep -hoE '^#define EXIT_[A-Z_]+ +[0-9]+' "$SRC"/src/cli/*.h | awk '{ print $3 }'
        echo 0 # success
        grep -qw EXIT_FAILURE "$SRC"/src/cli/*.c && echo 1
} | sort -un)
(($(grep -c . <<<"$exit_codes") >= 4)) || fail "found only $(grep -c . <<<"$exit_codes") exit statuses in src/cli: have EXIT_USAGE/EXIT_FINDINGS moved?"
man_exit=$(awk '/^\.SH / { s = ($0 ~ /^\.SH "?EXIT STATUS/) } s' "$MAN/isolatectl.1" |
        awk '/^\.(TP|TQ)( |$)/ { take = 1; next } take { print; take = 0 }' | roff_text | awk '{ print $1 }' | sort -un)
(($(grep -c . <<<"$man_exit") >= 4)) || fail "found too few entries in the EXIT STATUS of man/isolatectl.1"
for c in $exit_codes; do
        if in_lines "$c" "$man_exit"; then pass; else fail "exit status $c is not in the EXIT STATUS of man/isolatectl.1"; fi
        if grep -qE "^\| \`$c\` \|" "$CONTRACT" 2>/dev/null; then pass; else fail "exit status $c has no row in the exit status table of docs/isolate.md"; fi
done
for c in $man_exit; do
        if in_lines "$c" "$exit_codes"; then pass; else fail "man/isolatectl.1 documents exit status $c, which src/cli does not define"; fi
done

section "self-contained: no reference outside the repository, links resolve"
# The tree's own files: what git tracks in a checkout, else everything but build directories (any
# directory with meson-private/ in it) and .git.
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        mapfile -t tree_files < <(cd "$SRC" && git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
                top=${f%%/*}
                [[ -d $SRC/$top/meson-private ]] || printf '%s\n' "$f"
        done)
else
        mapfile -t tree_files < <(cd "$SRC" && find . -path ./.git -prune -o -type d -exec test -d '{}/meson-private' ';' -prune \
                -o -type f -print)
fi
outside=$(cd "$SRC" && printf '%s\0' "${tree_files[@]}" | grep -v -z -x -e 'tests/cli/test-docs.sh' -e './tests/cli/test-docs.sh' |
        xargs -0 grep -nIE '\.\./shared|(^|[^_A-Za-z])(PRODUCT|STYLE)\.md|/work/' 2>/dev/null || true)
scanned=${#tree_files[@]}
((scanned >= 100)) || fail "scanned only $scanned files for outside references"
if [[ -z $outside ]]; then pass; else fail "references to files outside the repository:"$'\n'"$outside"; fi
nlinks=0
for doc in "$SRC/README.md" "$SRC/HACKING.md" "$SRC"/docs/*.md; do
        [[ -f $doc ]] || { fail "${doc#"$SRC"/} is missing"; continue; }
        while IFS= read -r target; do
                target=${target%%#*}
                [[ -z $target || $target == *://* || $target == mailto:* ]] && continue
                nlinks=$((nlinks + 1))
                if [[ -e $(dirname "$doc")/$target ]]; then pass; else fail "${doc#"$SRC"/}: the link to '$target' leads nowhere"; fi
        done < <(grep -oE '\]\([^)]+\)' "$doc" | sed -E 's/^\]\((.*)\)$/\1/')
done
((nlinks >= 3)) || fail "found only $nlinks relative links in README.md, HACKING.md and docs/"
for target in docs/isolate.md docs/CODING_STYLE.md; do
        if grep -qF "]($target)" "$SRC/HACKING.md"; then pass; else fail "HACKING.md does not link $target"; fi
done

section "man pages: formatting and installation"
pages=("$MAN"/*.[1-8])
((${#pages[@]} >= 4)) || fail "expected the four man pages in man/"
for p in "${pages[@]}"; do
        name=${p##*/}
        if grep -qF "'$name'" "$MAN/meson.build"; then pass; else fail "man/$name is not installed by man/meson.build"; fi
        th=$(sed -nE 's/^\.TH +"?([^ "]+)"? +([0-9]).*/\1.\2/p' "$p" | tr '[:upper:]' '[:lower:]' | tr -d '\\')
        if [[ $th == "$name" ]]; then pass; else fail "man/$name: .TH says '$th'"; fi
done
help_refs=$(grep -oE '[a-z0-9.-]+\([1-8]\)' <<<"$HELP_CTL$HELP_D" | sort -u)
(($(grep -c . <<<"$help_refs") >= 4)) || fail "found too few man page references in the two --help texts"
for ref in $help_refs; do
        sec=${ref##*(}
        page=${ref%(*}.${sec%)}
        if [[ -f $MAN/$page ]]; then pass; else fail "--help refers to $ref, but there is no man/$page"; fi
done
if command -v groff >/dev/null; then
        for p in "${pages[@]}"; do
                out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$p" 2>&1)
                if [[ -z $out ]]; then pass; else fail "groff warns about man/${p##*/}:"$'\n'"$out"; fi
        done
elif command -v man >/dev/null; then
        for p in "${pages[@]}"; do
                out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
                if [[ -z $out ]]; then pass; else fail "man warns about man/${p##*/}:"$'\n'"$out"; fi
        done
else
        echo "SKIP: neither groff nor man is installed: the pages' formatting is not checked."
fi

section "bash completion: data/isolatectl.bash-completion"
# In a subshell: the completion defines functions and a 'complete' rule. The tallies come back in a file.
completion_checks() {
        # shellcheck source=/dev/null
        source "$COMPLETION" || { fail "data/isolatectl.bash-completion does not load"; return; }
        complete -p isolatectl >/dev/null 2>&1 || fail "the completion registers no 'complete' rule for isolatectl"

        # comp LINE: complete at the end of LINE, with COMP_WORDS split as bash splits them when
        # COMP_WORDBREAKS has '=' and ':' (the default); REPLY gets the candidates.
        comp() {
                local line=$1 cur='' c i brk=''
                local -a w=()
                for ((i = 0; i < ${#line}; i++)); do
                        c=${line:i:1}
                        if [[ $c == [[:blank:]] ]]; then
                                [[ -n $cur ]] && w+=("$cur")
                                cur='' brk=''
                        elif [[ $c == [=:] ]]; then
                                if [[ -n $brk ]]; then cur+=$c; else [[ -n $cur ]] && w+=("$cur"); cur=$c brk=1; fi
                        else
                                if [[ -n $brk ]]; then w+=("$cur"); cur='' brk=''; fi
                                cur+=$c
                        fi
                done
                if [[ -n $cur ]]; then w+=("$cur"); elif [[ $line == *[[:blank:]] ]]; then w+=(""); fi
                COMP_LINE=$line COMP_POINT=${#line}
                COMP_WORDS=("${w[@]}")
                COMP_CWORD=$((${#w[@]} - 1))
                COMPREPLY=()
                _isolatectl isolatectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]-}"
                REPLY="${COMPREPLY[*]}"
        }
        same_words() { # "A B C" "C B A": the same words, in any order
                local -a x y
                local e
                read -ra x <<<"$1"
                read -ra y <<<"$2"
                ((${#x[@]} == ${#y[@]})) || return 1
                for e in "${x[@]}"; do
                        [[ " $2 " == *" $e "* ]] || return 1
                done
        }
        expect() { # LINE WORDS
                comp "$1"
                if same_words "$REPLY" "$2"; then pass; else fail "completing '$1': got [$REPLY], want [$2]"; fi
        }
        contains() { # LINE WORD
                comp "$1"
                if [[ " $REPLY " == *" $2 "* ]]; then pass; else fail "completing '$1' does not offer '$2' (got [$REPLY])"; fi
        }

        local root=$FIXTURES/default slots=() d v o
        for d in "$root"/sys/bus/pci/devices/*; do slots+=("${d##*/}"); done
        ((${#slots[@]} >= 8)) || fail "found only ${#slots[@]} devices in the default snapshot"

        expect "isolatectl q" "quarantine"
        expect "isolatectl li" "list libvirt-hook"
        expect "isolatectl policy " "${src_policy[*]}"
        expect "isolatectl --mode=" "blocked scratch-page"
        expect "isolatectl quarantine --mode=s" "scratch-page"
        expect "isolatectl quarantine --mode " "blocked scratch-page"
        expect "isolatectl --root=$root quarantine " "${slots[*]}"
        expect "isolatectl --root $root status 0000:00:1f." "1f.0 1f.2 1f.3"
        expect "isolatectl --root=$root policy test " "${slots[*]}"
        expect "isolatectl --root=$root policy test 0000:00:02.0 " ""
        expect "isolatectl list " ""

        # Without COMP_LINE (another caller): the words as given, '=' not split off.
        unset COMP_LINE COMP_POINT
        COMP_WORDS=(isolatectl quarantine --mode=)
        COMP_CWORD=2
        _isolatectl
        if same_words "${COMPREPLY[*]}" "--mode=blocked --mode=scratch-page"; then pass; else
                fail "completing the words (isolatectl quarantine --mode=): got [${COMPREPLY[*]}]"
        fi

        # Every verb and sub-verb of --help, and every option of --help, completes.
        for v in "${hv[@]}"; do
                if [[ $v == "policy "* ]]; then
                        contains "isolatectl policy ${v#policy }" "${v#policy }"
                else
                        contains "isolatectl " "$v"
                        contains "isolatectl $v" "$v"
                fi
        done
        comp "isolatectl -"
        local offered=" $REPLY "
        while IFS= read -r o; do
                if [[ $offered == *" $o "* || $offered == *" $o= "* ]]; then pass; else
                        fail "completing 'isolatectl -' does not offer $o (got [$REPLY])"
                fi
        done <<<"$HELP_CTL_OPTS"
        # The values --help names for --json, --mode and --to.
        for o in --json --mode --to; do
                v=$(help_option_values "$o")
                [[ -n $v ]] || fail "--help names no values for $o"
                expect "isolatectl $o=" "$v"
        done
        echo "$checks $failures" >"$tally"
}
tally=$(mktemp)
trap 'rm -f "$tally"' EXIT
(completion_checks)
read -r checks failures <"$tally" || fail "the completion checks did not finish"

echo
if ((failures > 0)); then
        echo "$failures problem(s), $checks check(s) passed."
        exit 1
fi
echo "All $checks checks passed."
exit 0
