#!/usr/bin/env bash
# Builds the html_links libFuzzer target (clang, ASan + UBSan, gumbo) and runs it on the seed corpus.
# Usage: test/fuzz/run_html_links.sh [SECONDS (default 300)] [extra libFuzzer flags...]
# New inputs go to a scratch corpus copy; crashes are written to test/fuzz/ (crash-*, ignored by git).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-300}; shift || true
BIN="$ROOT/test/fuzz/fuzz_html_links.bin"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$ROOT/src/core" $(pkg-config --cflags gumbo) \
    "$ROOT/test/fuzz/fuzz_html_links.c" "$ROOT/src/core/html_links.c" "$ROOT/src/core/mime.c" \
    "$ROOT/test/unit/mtalloc_std.c" $(pkg-config --libs gumbo) -o "$BIN"
WORK=$(mktemp -d /tmp/fuzz_html_links.XXXXXX)
cp "$ROOT"/test/fuzz/corpus/html_links/* "$WORK/"
cd "$ROOT/test/fuzz"
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=10 -print_final_stats=1 \
    -dict=<(printf '"%s"\n' '<a href="' '<area href=' 'https://' 'http://' 'mailto:' '#' '</a>' '<body>' \
        '</body>' 'data-mt-notrack' '&amp;' '<p>' '<table>' '<!--' '-->' '<script>' '<svg>' '<template>' "'" '"') \
    "$@" "$WORK"
rm -rf "$WORK"
