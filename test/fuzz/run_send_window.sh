#!/usr/bin/env bash
# Builds the send-window libFuzzer target with ASan/UBSan and runs it on the committed seeds.
# Usage: test/fuzz/run_send_window.sh [SECONDS (default 300)] [extra libFuzzer flags...]
# New inputs go to a scratch corpus copy; crashes are written to test/fuzz/ (crash-*, ignored by git).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-300}; shift || true
BIN="$ROOT/test/fuzz/fuzz_send_window.bin"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT/src/core" $(pkg-config --cflags json-c) \
    "$ROOT/test/fuzz/fuzz_send_window.c" "$ROOT/src/send_window.c" "$ROOT/src/mterror.c" \
    $(pkg-config --libs json-c) -o "$BIN"
WORK=$(mktemp -d /tmp/fuzz_send_window.XXXXXX)
cp "$ROOT"/test/fuzz/corpus/send_window/* "$WORK/"
cd "$ROOT/test/fuzz"
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=512 -timeout=10 -print_final_stats=1 \
    -dict=<(printf '"%s"\n' 'hours' 'days' 'mon' 'tue' 'wed' 'thu' 'fri' 'sat' 'sun' '24:00' '00:00' \
        '23:59' '02:30' ':' '-' '{' '}' '[' ']' ',' '"') \
    "$@" "$WORK"
rm -rf "$WORK"
