#!/usr/bin/env bash
# Isolation specs (test/isolation/specs/*.spec) through pg_isolation_regress, against the
# running throwaway cluster.
set -u
cd "$MT_BUILD/test/isolation"
PGXS_DIR=$(dirname "$(dirname "$(pg_config --pgxs)")")
specs=$(ls specs/*.spec 2>/dev/null | sed 's#specs/##; s#\.spec$##' | sort)
if [ -z "$specs" ]; then echo "isolation: 0 passed, 0 failed"; exit 0; fi
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; else "$@"; fi; }
as_pg "$PGXS_DIR/test/isolation/pg_isolation_regress" --inputdir=. --outputdir=output_iso \
    --bindir="$MT_BIN" --host="$PGHOST" --port="$PGPORT" --user=postgres \
    --dbname=isolation_regression $specs >isolation.out 2>&1
cat isolation.out
[ -f output_iso/regression.diffs ] && head -c 20000 output_iso/regression.diffs
ok=$(grep -cE '\.\.\. ok' isolation.out)
bad=$(grep -cE '\.\.\. FAILED' isolation.out)
echo; echo "isolation: $ok passed, $bad failed"
