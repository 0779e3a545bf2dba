#!/usr/bin/env bash
# PostgreSQL-free unit tests of the device classification (src/core/user_agent.c) over real user-agent
# strings with uap-core's regexes, built by `make unit` (always with AddressSanitizer and UBSan).
set -u
cd "${MT_BUILD:-.}"
make -s test/unit/user_agent_unit.bin || { echo "user-agent-unit: 0 passed, 1 failed"; exit 1; }
./test/unit/user_agent_unit.bin
