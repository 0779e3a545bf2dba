#!/usr/bin/env bash
# PostgreSQL-free unit tests of segment definitions and the membership timeline, built by
# `make unit` (always with AddressSanitizer and UBSan; the build fails without them). Runs in $MT_BUILD.
set -u
cd "${MT_BUILD:-.}"
make -s test/unit/segment_unit.bin || { echo "segment-unit: 0 passed, 1 failed"; exit 1; }
./test/unit/segment_unit.bin
