#!/usr/bin/env bash
# TAP tests (test/tap/t/*.pl) with PostgreSQL::Test::Cluster: `make installcheck-tap`; each test
# starts its own cluster from the private PostgreSQL copy that holds the freshly built extension.
set -u
cd "$MT_BUILD"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; else "$@"; fi; }
as_pg make -s installcheck-tap bindir="$MT_BIN" PROVE_FLAGS=-v >tap.out 2>&1
cat tap.out
for f in tmp_check/log/*; do [ -f "$f" ] && grep -q "not ok" tap.out && { echo "== $f"; tail -n 30 "$f"; }; done
ok=$(grep -cE '^ok [0-9]+' tap.out)
bad=$(grep -cE '^not ok [0-9]+' tap.out)
grep -q "^Result: PASS" tap.out || [ "$bad" -gt 0 ] || bad=1
echo; echo "tap: $ok passed, $bad failed"
