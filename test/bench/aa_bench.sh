#!/usr/bin/env bash
# Simulation benchmark of the experiment statistics (src/core/stats.c, driven directly by a small C
# program, test/bench/aa_bench.c): 1,000 A/A experiments looked at 20 times each, the share ever
# below 0.05 for the naive z-test and for the always-valid p-value (which must be <= 5%), then the
# power of both at a true +20% lift (10% against 12%) at 2,500, 5,000 and 10,000 users per arm.
# Deterministic (fixed seed); needs no server. Exits 1 only when the always-valid share exceeds 5%.
# Usage: test/bench/aa_bench.sh [EXPERIMENTS [USERS_PER_ARM [RATE [TAU2]]]]
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(mktemp /tmp/aa_bench.XXXXXX)
trap 'rm -f "$bin"' EXIT
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$SRC/src/core" "$SRC/test/bench/aa_bench.c" "$SRC/src/core/stats.c" \
    -lm -o "$bin" || { echo "aa_bench: build failed"; exit 1; }
"$bin" "${1:-1000}" "${2:-10000}" "${3:-0.10}" ${4:+"$4"}
