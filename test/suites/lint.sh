#!/usr/bin/env bash
# Source checks that need no server: every SQL string in the C code names the schema of each
# function it calls (test/lint/qualified_names.py), and docs/reference.md names every setting,
# decision outcome and SQL object the sources define, and no other (test/lint/reference_complete.py).
# Prints "lint: N passed, M failed" summed over both.
set -u
cd "$MT_BUILD"
passed=0; failed=0
for check in "qualified_names.py src" "reference_complete.py ."; do
    out=$(/usr/bin/python3 test/lint/$check 2>&1); rc=$?
    echo "$out"
    line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
    if [ -z "$line" ]; then failed=$((failed + 1)); continue; fi
    p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
    [ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
done
echo "lint: $passed passed, $failed failed"
