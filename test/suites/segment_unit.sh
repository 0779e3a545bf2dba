#!/usr/bin/env bash
# PostgreSQL-free unit tests of segment definitions and the membership timeline, built with
# AddressSanitizer and UBSan (plainly where the sanitizers are unavailable). Runs in $MT_BUILD.
set -u
cd "${MT_BUILD:-.}"
SRCS="test/unit/segment_unit.c src/segment_def.c src/segment_timeline.c src/definition.c src/condition.c src/mterror.c test/unit/mtalloc_std.c"
FLAGS="-g -O1 -Wall -Wextra -Werror -Isrc -Itest/unit $(pkg-config --cflags json-c)"
BIN=test/unit/segment_unit.bin
if gcc $FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined $SRCS \
        $(pkg-config --libs json-c) -lm -o $BIN 2>/dev/null; then
    echo "built with -fsanitize=address,undefined"
else
    gcc $FLAGS $SRCS $(pkg-config --libs json-c) -lm -o $BIN || { echo "segment-unit: 0 passed, 1 failed"; exit 1; }
fi
./$BIN
