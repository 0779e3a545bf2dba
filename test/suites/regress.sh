#!/usr/bin/env bash
# The pg_regress suite (sql/, expected/): `make installcheck-regress`, on a temporary instance
# configured by test/regress.conf, run from the private PostgreSQL copy that holds the fresh build.
set -u
cd "$MT_BUILD"
tests=$(ls sql/*.sql | sed 's#sql/##; s#\.sql$##' | sort)
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; else "$@"; fi; }
as_pg make -s installcheck-regress bindir="$MT_BIN" EXTRA_REGRESS_OPTS="--port=$MT_PORT" >regress.out 2>&1
cat regress.out
[ -f regression.diffs ] && head -c 20000 regression.diffs
ok=$(grep -cE '\.\.\. ok' regress.out)
total=$(echo $tests | wc -w)
bad=$((total - ok))   # a test that did not run (or had no expected file) counts as failed
echo; echo "regress: $ok passed, $bad failed"
