#!/usr/bin/env bash
# PostgreSQL-free unit tests of send windows and quiet hours (src/core/send_window.c) on fake zones
# with DST changes, built by `make unit` (always with AddressSanitizer and UBSan). Runs in $MT_BUILD.
set -u
cd "${MT_BUILD:-.}"
make -s test/unit/send_window_unit.bin || { echo "send-window-unit: 0 passed, 1 failed"; exit 1; }
./test/unit/send_window_unit.bin
