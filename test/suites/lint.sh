#!/usr/bin/env bash
# Source checks that need no server: every SQL string in the C code names the schema of each
# function it calls (test/lint/qualified_names.py).
set -u
cd "$MT_BUILD"
/usr/bin/python3 test/lint/qualified_names.py src
