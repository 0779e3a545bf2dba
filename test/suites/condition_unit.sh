#!/usr/bin/env bash
# PostgreSQL-free unit tests of the condition compiler, built with AddressSanitizer and UBSan
# (plainly where the sanitizers are unavailable). Runs in $MT_BUILD (a copy of the tree).
set -u
cd "${MT_BUILD:-.}"
SRCS="test/unit/condition_unit.c src/condition.c src/mterror.c test/unit/mtalloc_std.c"
FLAGS="-g -O1 -Wall -Wextra -Werror -Isrc -Itest/unit $(pkg-config --cflags json-c)"
BIN=test/unit/condition_unit.bin
if gcc $FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined $SRCS \
        $(pkg-config --libs json-c) -o $BIN 2>/dev/null; then
    echo "built with -fsanitize=address,undefined"
else
    gcc $FLAGS $SRCS $(pkg-config --libs json-c) -o $BIN || { echo "condition-unit: 0 passed, 1 failed"; exit 1; }
fi
./$BIN
