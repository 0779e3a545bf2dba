#!/usr/bin/env bash
# Builds the user-agent libFuzzer target with ASan/UBSan and runs it on the committed seeds
# (needs uap-core). Usage: test/fuzz/run_user_agent.sh [SECONDS (default 300)] [libFuzzer flags...]
# New inputs go to a scratch corpus copy; crashes are written to test/fuzz/ (crash-*, ignored by git).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-300}; shift || true
BIN="$ROOT/test/fuzz/fuzz_user_agent.bin"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT/src/core" $(pkg-config --cflags libpcre2-8 yaml-0.1) \
    "$ROOT/test/fuzz/fuzz_user_agent.c" "$ROOT/src/user_agent.c" \
    $(pkg-config --libs libpcre2-8 yaml-0.1) -o "$BIN"
WORK=$(mktemp -d /tmp/fuzz_user_agent.XXXXXX)
cp "$ROOT"/test/fuzz/corpus/user_agent/* "$WORK/"
cd "$ROOT/test/fuzz"
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -print_final_stats=1 \
    -dict=<(printf '"%s"\n' 'Mozilla/5.0' 'iPhone' 'iPad' 'Android' 'Mobile' 'Tablet' 'Silk/' 'Kindle' \
        'Googlebot' 'Windows NT 10.0' 'Macintosh' '(' ')' ';' 'SM-T' 'Build/') \
    "$@" "$WORK"
rm -rf "$WORK"
