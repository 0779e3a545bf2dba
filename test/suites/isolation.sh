#!/usr/bin/env bash
# Isolation specs (test/isolation/specs/*.spec): `make installcheck-isolation`, on a temporary
# instance configured by test/regress.conf, run from the private PostgreSQL copy.
set -u
cd "$MT_BUILD"
specs=$(ls test/isolation/specs/*.spec 2>/dev/null)
if [ -z "$specs" ]; then echo "isolation: 0 passed, 0 failed"; exit 0; fi
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; else "$@"; fi; }
as_pg make -s installcheck-isolation bindir="$MT_BIN" EXTRA_REGRESS_OPTS="--port=$MT_PORT" >isolation.out 2>&1
cat isolation.out
[ -f output_iso/regression.diffs ] && head -c 20000 output_iso/regression.diffs
ok=$(grep -cE '\.\.\. ok' isolation.out)
total=$(echo $specs | wc -w)
bad=$((total - ok))   # a spec that did not run counts as failed
echo; echo "isolation: $ok passed, $bad failed"
