#!/usr/bin/env bash
# Builds the condition compiler's libFuzzer target with ASan/UBSan and runs it.
# Usage: test/fuzz/run_condition.sh [SECONDS (default 300)] [extra libFuzzer flags...]
# New inputs go to a scratch corpus copy; crashes are written to test/fuzz/ (crash-*, ignored by git).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-300}; shift || true
BIN="$ROOT/test/fuzz/fuzz_condition.bin"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT/src/core" $(pkg-config --cflags json-c) \
    "$ROOT/test/fuzz/fuzz_condition.c" "$ROOT/src/core/condition.c" "$ROOT/src/core/mterror.c" \
    "$ROOT/test/unit/mtalloc_std.c" $(pkg-config --libs json-c) -o "$BIN"
WORK=$(mktemp -d /tmp/fuzz_condition.XXXXXX)
cp "$ROOT"/test/fuzz/corpus/condition/* "$WORK/"
cd "$ROOT/test/fuzz"
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -print_final_stats=1 \
    -dict=<(printf '"%s"\n' '$eq' '$ne' '$gt' '$gte' '$lt' '$lte' '$in' '$nin' '$exists' '$regex' \
        '$options' '$not' '$and' '$or' '$nor' '$all' '$size' '$elemMatch' '$startsWith' '$endsWith' \
        '$contains' 'gt' 'in' 'not' 'elemMatch' 'or' '.' '{' '}' '[' ']' ':' 'null' 'true' '1e999') \
    "$@" "$WORK"
rm -rf "$WORK"
