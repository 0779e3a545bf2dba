#!/usr/bin/env bash
# Unit tests of src/core/html_links.c alone (gumbo, no PostgreSQL), built by `make unit` (always with
# AddressSanitizer and UBSan; the build fails without them); prints "html_links_unit: N passed, M failed".
set -u
cd "${MT_BUILD:-.}"
make -s test/unit/html_links_test.bin || { echo "html_links_unit: 0 passed, 1 failed"; exit 1; }
result=$(./test/unit/html_links_test.bin 2>&1); rc=$?
echo "$result"
line=$(grep -E '^html-links-unit: ' <<<"$result" | tail -n 1)
p=$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed/\2/' <<<"$line")
[ -z "$line" ] && { p=0; f=1; }
[ "$rc" != 0 ] && [ "${f:-0}" = 0 ] && f=1   # a sanitizer report counts as a failure
echo "html_links_unit: $p passed, $f failed"
