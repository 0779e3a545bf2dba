#!/usr/bin/env bash
# The official Mustache spec (required modules + ~inheritance) through the engine core, with
# json-c data, built by `make unit` (always with AddressSanitizer and UBSan), and our own cases in
# the same format (test/spec/mustache_lines: lines of several tags, expected values from mustache.js).
# Last line: "mustache-spec: N passed, M failed".
set -u
cd "${MT_BUILD:-.}"
make -s test/unit/mustache_spec.bin || { echo "mustache-spec: 0 passed, 1 failed"; exit 1; }
./test/unit/mustache_spec.bin test/spec/mustache test/spec/mustache_lines/*.json
