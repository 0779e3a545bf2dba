#!/usr/bin/env bash
# The official Mustache spec (required modules + ~inheritance) through the engine core, with
# json-c data, built with AddressSanitizer and UBSan. Last line: "mustache-spec: N passed, M failed".
set -u
cd "$MT_BUILD"
out=$(mktemp -d)
if ! gcc -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
        -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Isrc -Itest/unit \
        test/unit/mustache_spec.c test/unit/mtm_jsonc.c src/mustache.c src/mterror.c \
        test/unit/mtalloc_std.c $(pkg-config --cflags --libs json-c) -o "$out/mustache_spec"; then
    echo "mustache-spec: 0 passed, 1 failed"; rm -rf "$out"; exit 1
fi
"$out/mustache_spec" test/spec/mustache
rc=$?
rm -rf "$out"
exit $rc
