#!/usr/bin/env bash
# Benchmark: acting (run_pending) against the set-based SQL a user could write instead, measured
# side by side in the same run (issue 10, item 2). Three cases:
#   plain    FIRINGS (default 20,000) due firings of one immediate trigger whose template has a
#            layout, 10 merge tags, a section and a list, vs one INSERT ... SELECT rendering the same
#            template with render() over the same events and contacts;
#   context  the same with a context query per firing (a join to a CRM table) vs the same
#            INSERT ... SELECT plus that join;
#   journey  JOURNEYS (default 2,000) journeys advancing one send step vs the INSERT ... SELECT
#            over their rows;
#   capped   plain with caps and windows on (issue 11): a send_window, three frequency_caps rows and
#            microtrigger.quiet_hours; its ratio must stay within 20% of plain's (printed below).
# Each rep runs every case, the two sides in alternating order (interleaved); prints per case the
# median over REPS (default 3, at least 3) of both rows/s and the ratio run_pending / baseline.
# Usage: test/bench/act_bench.sh   Env: FIRINGS, JOURNEYS, REPS, CASES, MT_PORT (default 54350), MT_KEEP=1
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
FIRINGS=${FIRINGS:-20000}
JOURNEYS=${JOURNEYS:-2000}
REPS=${REPS:-3}
CASES=${CASES:-plain capped context journey}
export MT_PORT=${MT_PORT:-54350}
# the worker serves another database: only the statements below act
export MT_WORKER_DB=postgres
. "$SRC/test/lib.sh"
mt_setup "$SRC" || exit 1
PSQL=("$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d bench)
q() { "${PSQL[@]}" -At -c "$1"; }
"$MT_BIN/psql" -X -q -d postgres -c "CREATE DATABASE bench" || exit 1
"${PSQL[@]}" -v users="$FIRINGS" -f "$SRC/test/bench/act_bench_setup.sql" >&2 || exit 1

# timed SQL: prints the seconds SQL took (wall clock, one statement) and its result
timed() {
    "${PSQL[@]}" -At -F ' ' <<SQL | tr '\n' ' '
SELECT pg_catalog.clock_timestamp() AS t0 \gset
SELECT ($1) AS result \gset
SELECT round(extract(epoch FROM pg_catalog.clock_timestamp() - :'t0'::timestamptz)::numeric, 3), :'result';
SQL
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

RES="$MT_TMP/results"; : >"$RES"
run_case() { # CASE REP ORDER
    local c=$1 rep=$2 side out secs rows
    for side in $3; do
        case "$c/$side" in
            plain/mt|context/mt|capped/mt)
                q "SELECT bench.prepare('bench_$c', 'purchase', $FIRINGS)" >/dev/null
                q "VACUUM ANALYZE microtrigger.firings, microtrigger.events" >/dev/null
                if [ "$c" = capped ]; then
                    out=$(timed "(SELECT pg_catalog.set_config('microtrigger.quiet_hours', '22:00-07:00', false) IS NOT NULL)::int * microtrigger.run_pending('2026-01-01 11:00+00')")
                else
                    out=$(timed "SELECT microtrigger.run_pending('2026-01-01 11:00+00')")
                fi
                rows=$(q "SELECT count(*) FROM microtrigger.outbox") ;;
            plain/base|context/base|capped/base)
                q "SELECT bench.prepare('bench_$c', 'purchase', $FIRINGS)" >/dev/null
                q "VACUUM ANALYZE microtrigger.events" >/dev/null
                out=$(timed "SELECT bench.baseline($([ "$c" = context ] && echo true || echo false))")
                rows=$(q "SELECT count(*) FROM bench.out") ;;
            journey/mt)
                q "SELECT bench.prepare('bench_journey', 'signup', $JOURNEYS)" >/dev/null
                q "SELECT microtrigger.run_pending('2026-01-01 11:00+00')" >/dev/null
                q "VACUUM ANALYZE microtrigger.journeys" >/dev/null
                out=$(timed "SELECT microtrigger.run_pending('2026-01-02 11:00+00')")
                rows=$(q "SELECT count(*) FROM microtrigger.outbox") ;;
            journey/base)
                q "SELECT bench.prepare('bench_journey', 'signup', $JOURNEYS)" >/dev/null
                out=$(timed "SELECT bench.baseline(false)")
                rows=$(q "SELECT count(*) FROM bench.out") ;;
        esac
        secs=${out%% *}
        [ "$side" = mt ] && mt_log "$c outcomes: $(q "SELECT string_agg(outcome || ' ' || n, ', ') FROM (SELECT outcome, count(*) n FROM microtrigger.decisions GROUP BY 1 ORDER BY 1) d")"
        echo "$c $side $rep $secs $rows" >>"$RES"
        mt_log "rep $rep $c $side: ${secs}s, $rows rows"
    done
}
for rep in $(seq 1 "$REPS"); do
    if [ $((rep % 2)) = 1 ]; then order="mt base"; else order="base mt"; fi
    for c in $CASES; do run_case "$c" "$rep" "$order"; done
done

printf '%-8s %8s %12s %12s %8s %8s\n' case rows mt_rows/s base_rows/s ratio target
for c in $CASES; do
    target=0.5; [ "$c" != plain ] && [ "$c" != capped ] && target=0.25
    mt=$(awk -v c="$c" '$1 == c && $2 == "mt" {print $5 / $4}' "$RES" | median)
    base=$(awk -v c="$c" '$1 == c && $2 == "base" {print $5 / $4}' "$RES" | median)
    # the ratio of each rep's pair, then their median
    ratio=$(awk -v c="$c" '$1 == c {r[$3, $2] = $5 / $4; reps[$3] = 1}
        END {for (k in reps) if (r[k, "base"] > 0) print r[k, "mt"] / r[k, "base"]}' "$RES" | median)
    rows=$(awk -v c="$c" '$1 == c && $2 == "mt" {print $5; exit}' "$RES")
    printf '%-8s %8s %12.0f %12.0f %8.3f %8s\n' "$c" "$rows" "$mt" "$base" "$ratio" "$target"
done
# issue 11: the acting rate with caps and windows on against without, per rep (same run), median
if grep -q '^capped mt' "$RES" && grep -q '^plain mt' "$RES"; then
    rel=$(awk '$2 == "mt" && ($1 == "plain" || $1 == "capped") {r[$3, $1] = $5 / $4; reps[$3] = 1}
        END {for (k in reps) if (r[k, "plain"] > 0) print r[k, "capped"] / r[k, "plain"]}' "$RES" | median)
    printf 'capped/plain acting rate: %.3f (target >= 0.800)\n' "$rel"
fi
