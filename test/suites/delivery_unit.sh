#!/usr/bin/env bash
# Unit tests of src/mime.c alone (no PostgreSQL): compiled with the project's warning flags and
# run; prints "delivery_unit: N passed, M failed".
set -u
cd "$MT_BUILD"
out=$(mktemp -d)
if ! cc -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -fsanitize=address,undefined \
        -Isrc -o "$out/mime_test" test/unit/mime_test.c src/mime.c test/unit/mtalloc_std.c 2>"$out/cc.log"; then
    cat "$out/cc.log"; echo "delivery_unit: 0 passed, 1 failed"; exit 1
fi
result=$("$out/mime_test" 2>&1); rc=$?
echo "$result"
line=$(grep -E '^mime-unit: ' <<<"$result" | tail -n 1)
p=$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed/\2/' <<<"$line")
[ -z "$line" ] && { p=0; f=1; }
[ "$rc" != 0 ] && [ "${f:-0}" = 0 ] && f=1   # a sanitizer report counts as a failure
rm -rf "$out"
echo "delivery_unit: $p passed, $f failed"
