#!/usr/bin/env bash
# The Mustache engine's compile and render limits (test/unit/mustache_limits.c): nesting and size
# refused at compile, the stack guard, the stack the deepest legal render uses. Built twice: with
# AddressSanitizer + UBSan, and at -O2 as the extension is (whose stack figure is the one that
# must fit max_stack_depth), both by `make unit`. Last line: "mustache-limits: N passed, M failed"
# over both builds.
set -u
cd "${MT_BUILD:-.}"
out=$(mktemp -d)
passed=0; failed=0
# built by `make unit`: mustache_limits.bin with the sanitizers, mustache_limits_O2.bin at -O2
for name in asan O2; do
    bin=test/unit/mustache_limits.bin; [ "$name" = O2 ] && bin=test/unit/mustache_limits_O2.bin
    if ! make -s "$bin"; then
        echo "build $name failed"; failed=$((failed + 1)); continue
    fi
    echo "== $name build"
    "./$bin" >"$out/log-$name" 2>&1
    rc=$?
    cat "$out/log-$name"
    line=$(grep -E '^mustache-limits: [0-9]+ passed, [0-9]+ failed' "$out/log-$name" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: no result line (exit $rc)"; failed=$((failed + 1)); continue
    fi
    p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
    [ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
done
rm -rf "$out"
echo "mustache-limits: $passed passed, $failed failed"
[ "$failed" = 0 ]
