#!/usr/bin/env bash
# Builds the libFuzzer target for the Mustache engine (clang, ASan + UBSan) and runs it on the
# committed seed corpus. Usage: test/fuzz/run.sh [SECONDS (default 600)] [JOBS (default 1)]
# New inputs go to a scratch corpus (not the committed seeds); crashes to test/fuzz/crash-*.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-600}
jobs=${2:-1}
bin="$here/fuzz_mustache.bin"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/src/core" -I"$root/test/unit" \
    "$here/fuzz_mustache.c" "$root/test/unit/mtm_jsonc.c" "$root/src/core/mustache.c" \
    "$root/src/core/mterror.c" "$root/test/unit/mtalloc_std.c" \
    $(pkg-config --cflags --libs json-c) -o "$bin"
work=$(mktemp -d /tmp/fuzz_mustache.XXXXXX)
cp "$here"/corpus/mustache/* "$work"/
cd "$work"
"$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -artifact_prefix="$here/" -rss_limit_mb=2048 \
    -jobs="$jobs" -workers="$jobs" -print_final_stats=1 "$work" 2>&1 | tail -n 40
echo "fuzz corpus and logs kept in $work"
