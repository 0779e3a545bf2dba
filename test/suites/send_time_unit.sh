#!/usr/bin/env bash
# PostgreSQL-free unit tests of optimal send time (src/core/send_time.c): weights, smoothing, the
# choice of the best hour within a horizon, built by `make unit` (always with AddressSanitizer and
# UBSan). Runs in $MT_BUILD.
set -u
cd "${MT_BUILD:-.}"
make -s test/unit/send_time_unit.bin || { echo "send-time-unit: 0 passed, 1 failed"; exit 1; }
./test/unit/send_time_unit.bin
