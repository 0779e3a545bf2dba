#!/usr/bin/env bash
# Source checks that need no server: every SQL string in the C code names the schema of each
# function it calls (test/lint/qualified_names.py), and docs/reference.md names every setting,
# decision outcome and SQL object the sources define, and no other (test/lint/reference_complete.py),
# and the layout of src/ keeps the one-way dependency rule of src/microtrigger.h (test/lint/layout.py;
# checked also to fail on a copy of src/ with a planted back edge and a planted postgres.h in core/).
# Prints "lint: N passed, M failed" summed over both.
set -u
cd "$MT_BUILD"
passed=0; failed=0
for check in "qualified_names.py src" "reference_complete.py ." "layout.py src"; do
    out=$(/usr/bin/python3 test/lint/$check 2>&1); rc=$?
    echo "$out"
    line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
    if [ -z "$line" ]; then failed=$((failed + 1)); continue; fi
    p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
    [ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
done
# The layout check must be able to fail: plant a back edge (render including an engine header)
# and PostgreSQL in core, and expect exactly those two failures.
planted=$(mktemp -d)
cp -r src "$planted/src"
sed -i '0,/^#include "/s//#include "postgres.h"\n#include "/' "$planted/src/core/mime.c"
printf '#include "journeys.h"\n' >> "$planted/src/render/render.c"
out=$(/usr/bin/python3 test/lint/layout.py "$planted/src" 2>&1); rc=$?
rm -rf "$planted"
if [ "$rc" != 0 ] && grep -q 'core/mime.c: core includes PostgreSQL' <<<"$out" \
        && grep -q 'render/render.c: back edge' <<<"$out" && grep -q ', 2 failed' <<<"$out"; then
    echo "ok: layout.py fails on a planted back edge and on postgres.h in core"; passed=$((passed + 1))
else
    echo "not ok: layout.py did not catch the planted back edge and postgres.h in core:"; echo "$out"
    failed=$((failed + 1))
fi
echo "lint: $passed passed, $failed failed"
