#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The C sources follow .clang-format: clang-format --dry-run --Werror on every .c and .h of the project
# (src/, tests/, bench/). The style is defined by clang-format 14 (Debian 12's, which scripts/deps
# installs); another version formats some constructs differently, so it skips (77) and says so.
#
#   tests/format-check.sh [SOURCE_ROOT]        fix a failure with: clang-format -i FILE...
set -euo pipefail
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"

cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ]; then
    echo "clang-format is not installed (scripts/deps installs clang-format)"
    exit 1
fi
if ! "$cf" --version | grep -q 'version 14\.'; then
    echo "SKIP: $("$cf" --version) is not clang-format 14, which defines this project's style"
    exit 77
fi

mapfile -t files < <(find src tests bench -type f \( -name '*.c' -o -name '*.h' \) | sort)
if ((${#files[@]} < 100)); then
    echo "found only ${#files[@]} C files below $src: is this the source tree?"
    exit 1
fi
if "$cf" --style=file --dry-run --Werror "${files[@]}" 2>"${TMPDIR:-/tmp}/format-check.$$"; then
    rm -f "${TMPDIR:-/tmp}/format-check.$$"
    echo "${#files[@]} files follow .clang-format"
    exit 0
fi
grep -E '^[^ ].*: error:' "${TMPDIR:-/tmp}/format-check.$$" | sed -E 's/:[0-9]+:[0-9]+: error:.*//' | sort | uniq -c | sort -rn | head -40
rm -f "${TMPDIR:-/tmp}/format-check.$$"
echo "These files do not follow .clang-format (the count of misformatted places per file above): run clang-format -i on them."
exit 1
