#!/usr/bin/env bash
# PostgreSQL-free unit tests of the condition compiler, built by `make unit` (always with
# AddressSanitizer and UBSan; the build fails without them). Runs in $MT_BUILD (a copy of the tree).
set -u
cd "${MT_BUILD:-.}"
make -s test/unit/condition_unit.bin || { echo "condition-unit: 0 passed, 1 failed"; exit 1; }
./test/unit/condition_unit.bin
