#!/usr/bin/env bash
# Runs every test suite (test/suites/*.sh) against a throwaway cluster and ends with the line
# "N passed, M failed", the sum over all suites. Usage: test/run.sh [SUITE-NAME ...]
# Env: MT_PORT (default 54329), MT_KEEP=1 keeps the temp dir, MT_EXTRA_CONF adds postgresql.conf lines.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/test/lib.sh"

mt_install_packages || exit 1
mt_setup "$SRC" || { echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=($(cd "$SRC/test/suites" && ls *.sh | sed 's/\.sh$//'))
for name in "${suites[@]}"; do
    script="$MT_BUILD/test/suites/$name.sh"
    mt_log "suite $name"
    out="$MT_TMP/suite-$name.out"
    bash "$script" >"$out" 2>&1
    rc=$?
    cat "$out"
    line=$(grep -E '^([A-Za-z_-]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "suite $name: no result line (exit $rc), counted as 1 failure"
        failed=$((failed + 1)); continue
    fi
    p=$(sed -E 's/^([A-Za-z_-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
    f=$(sed -E 's/^([A-Za-z_-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/' <<<"$line")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
done
echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
