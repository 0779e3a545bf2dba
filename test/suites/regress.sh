#!/usr/bin/env bash
# The pg_regress suite (sql/, expected/) against the running throwaway cluster.
set -u
cd "$MT_BUILD"
tests=$(ls sql/*.sql | sed 's#sql/##; s#\.sql$##' | sort)
PGXS_DIR=$(dirname "$(dirname "$(pg_config --pgxs)")")
mt_regress() { # run pg_regress as postgres so it can write results/
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; else "$@"; fi
}
mt_regress "$PGXS_DIR/test/regress/pg_regress" --inputdir=. --bindir="$MT_BIN" \
    --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname=contrib_regression \
    $tests >regress.out 2>&1
cat regress.out
[ -f regression.diffs ] && head -c 20000 regression.diffs
ok=$(grep -cE '\.\.\. ok' regress.out)
total=$(echo $tests | wc -w)
bad=$((total - ok))   # a test that did not run (or had no expected file) counts as failed
echo; echo "regress: $ok passed, $bad failed"
