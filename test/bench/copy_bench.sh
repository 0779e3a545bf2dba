#!/usr/bin/env bash
# Benchmark: COPY of EVENTS generated events (default 1,000,000) into microtrigger.events with
# 10, 100 and 1,000 enabled triggers, each against COPY of the same file into a plain table of the
# same shape (same columns, PK and indexes), measured right next to it in the same run.
# Prints per trigger count the median over REPS runs (default 3) of: plain COPY seconds,
# microtrigger COPY seconds, ratio plain/microtrigger (throughput relative to bare COPY; 1.0 = as
# fast), firings written and, where checked, the firings an SQL re-computation expects.
# Also measured once per rep: a plain table without indexes, and events with the ingest trigger
# disabled (what the table itself costs, apart from matching).
# Usage: test/bench/copy_bench.sh
# Env: EVENTS (default 1000000), REPS (default 3), SETS (default "10 100 1000"),
#      VERIFY (trigger counts whose firings are checked; default "10"), MT_PORT (default 54340),
#      MT_KEEP=1, PERF=1 (perf record the COPY backend with the last set; needs perf),
#      ANALYZE_EMPTY=1 (VACUUM ANALYZE the emptied tables before each COPY: the bad case).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
EVENTS=${EVENTS:-1000000}
REPS=${REPS:-3}
SETS=${SETS:-10 100 1000}
VERIFY=${VERIFY:-10}
export MT_PORT=${MT_PORT:-54340}
# the worker serves another database: only ingestion is timed here
export MT_WORKER_DB=postgres
. "$SRC/test/lib.sh"

mt_install_packages || mt_log "some packages could not be installed; trying with what is there"
mt_setup "$SRC" || exit 1
PSQL=("$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d bench)
CSV="$MT_TMP/events.csv"
q() { "${PSQL[@]}" -At -c "$1"; }

"$MT_BIN/psql" -X -q -d postgres -c "CREATE DATABASE bench" || exit 1
mt_log "generating $EVENTS events into $CSV and the trigger sets"
"${PSQL[@]}" -v events="$EVENTS" -v csv="$CSV" -f "$SRC/test/bench/copy_bench_setup.sql" >&2 || exit 1
mt_log "events file: $(du -h "$CSV" | cut -f1)"

# prepare TABLE: empty it (and the work tables) and checkpoint, so every COPY starts alike.
prepare() {
    # No VACUUM ANALYZE of the emptied tables: it would record "0 rows" in pg_class, and the
    # ingest trigger's kept cooldown plan, planned on that, seq-scans firings for the whole COPY
    # (quadratic; see docs/benchmarks.md). ANALYZE_EMPTY=1 does it anyway, to show that case.
    local analyze=()
    [ -n "${ANALYZE_EMPTY:-}" ] && analyze=(-c "VACUUM ANALYZE $1, microtrigger.firings, microtrigger.decisions")
    "${PSQL[@]}" -c "TRUNCATE $1" -c "TRUNCATE microtrigger.firings, microtrigger.decisions" \
        "${analyze[@]}" -c "CHECKPOINT" >/dev/null || exit 1
}
# copy_time TABLE: "WALL CPU": seconds taken by COPY of the file into TABLE (one transaction),
# wall clock and CPU time (user + system) of the backend that ran it, from /proc/PID/stat. The
# machine is shared: CPU time is the steadier measure of the work done (it leaves out the time
# the backend waited for a core), wall time the one a user sees.
copy_time() {
    local t0 t1 c0 c1
    prepare "$1"
    "${PSQL[@]}" -At >/dev/null <<SQL || exit 1
SELECT pg_backend_pid() AS pid \gset
\setenv BACKEND_PID :pid
\! awk '{print \$14 + \$15}' /proc/\$BACKEND_PID/stat >$MT_TMP/cpu0; date +%s%N >$MT_TMP/wall0
COPY $1 (user_id, event_type, occurred_at, session_id, params) FROM '$CSV' WITH (FORMAT csv);
\! date +%s%N >$MT_TMP/wall1; awk '{print \$14 + \$15}' /proc/\$BACKEND_PID/stat >$MT_TMP/cpu1
SQL
    t0=$(cat "$MT_TMP/wall0"); t1=$(cat "$MT_TMP/wall1"); c0=$(cat "$MT_TMP/cpu0"); c1=$(cat "$MT_TMP/cpu1")
    echo "$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc) $(echo "scale=2; ($c1 - $c0) / $(getconf CLK_TCK)" | bc)"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

RES="$MT_TMP/results"
: >"$RES"
for rep in $(seq 1 "$REPS"); do
    mt_log "rep $rep: baselines"
    echo "noidx $rep $(copy_time bench.plain_noidx)" >>"$RES"
    q "ALTER TABLE microtrigger.events DISABLE TRIGGER ingest" >/dev/null
    echo "disabled $rep $(copy_time microtrigger.events)" >>"$RES"
    q "ALTER TABLE microtrigger.events ENABLE TRIGGER ingest" >/dev/null
    for n in $SETS; do
        q "SELECT bench.load_set($n)" >/dev/null
        # alternate which target goes first, so drift in machine load does not favour one
        if [ $((rep % 2)) = 1 ]; then order="plain mt"; else order="mt plain"; fi
        for target in $order; do
            if [ "$target" = plain ]; then
                echo "plain$n $rep $(copy_time bench.plain)" >>"$RES"
            else
                echo "mt$n $rep $(copy_time microtrigger.events)" >>"$RES"
                echo "firings$n $rep $(q "SELECT count(*) FROM microtrigger.firings")" >>"$RES"
                echo "errors$n $rep $(q "SELECT count(*) FROM microtrigger.decisions WHERE outcome = 'rule_error'")" >>"$RES"
                if [ "$rep" = 1 ] && [[ " $VERIFY " == *" $n "* ]]; then
                    mt_log "checking the firings of the $n-trigger set against SQL"
                    q "CREATE TABLE IF NOT EXISTS bench.check_$n AS
                       SELECT x.name, x.expected, coalesce(a.n, 0) AS actual
                       FROM bench.expected($n) x
                       LEFT JOIN (SELECT trigger_name, count(*) AS n FROM microtrigger.firings GROUP BY 1) a
                              ON a.trigger_name = x.name" >/dev/null
                    echo "expected$n $rep $(q "SELECT sum(expected) FROM bench.check_$n")" >>"$RES"
                    q "SELECT name, expected, actual FROM bench.check_$n WHERE expected <> actual" | sed 's/^/MISMATCH /' >&2
                fi
                echo "ptuple $rep $(q "SELECT count(*) FROM microtrigger.events")" >>"$RES"
            fi
        done
    done
    mt_log "rep $rep: $(awk -v r="$rep" '$2 == r {printf "%s=%s ", $1, $3}' "$RES")"
done

get() { awk -v k="$1" '$1 == k {print $3}' "$RES" | grep . | median; }
getcpu() { awk -v k="$1" '$1 == k {print $4}' "$RES" | grep . | median; }
echo
echo "COPY of $EVENTS events, median of $REPS runs (2-core shared machine; fsync=off, synchronous_commit=off,"
echo "full_page_writes=off, shared_buffers=512MB, max_wal_size=4GB, work_mem=4MB (default))"
echo "ratio = plain / microtrigger (1.0 = as fast as bare COPY), by wall clock and by backend CPU time"
echo
printf '%-9s %8s %8s %7s %8s %8s %7s %8s %8s %7s\n' triggers plain_s mt_s ratio plain_cpu mt_cpu ratio firings expected firing%
for n in $SETS; do
    p=$(get plain$n); m=$(get mt$n); pc=$(getcpu plain$n); mc=$(getcpu mt$n); f=$(get firings$n); x=$(get expected$n)
    printf '%-9s %8s %8s %7s %8s %8s %7s %8s %8s %7s\n' "$n" "$p" "$m" "$(echo "scale=2; $p / $m" | bc)" \
        "$pc" "$mc" "$(echo "scale=2; $pc / $mc" | bc)" "$f" "${x:--}" "$(echo "scale=2; 100 * $f / $EVENTS" | bc)"
done
echo
for b in noidx disabled; do
    case $b in noidx) label="plain table without PK or indexes";; disabled) label="events, ingest trigger disabled";; esac
    printf '%-38s wall %7s s  cpu %7s s\n' "$label" "$(get $b)" "$(getcpu $b)"
done
echo "rule errors during ingest: $(awk '$1 ~ /^errors/ {s += $3} END {print s + 0}' "$RES")"
for n in $VERIFY; do
    x=$(get expected$n); f=$(awk -v k="firings$n" '$1 == k && $2 == 1 {print $3}' "$RES")
    [ -n "$x" ] && { [ "$x" = "$f" ] && echo "firings check ($n triggers): $f written = $x expected: OK" \
                                      || echo "firings check ($n triggers): $f written, $x expected: MISMATCH"; }
done
echo
echo "raw: $(tr '\n' ';' <"$RES")"

# PERF=1: profile the COPY backend with the largest trigger set (perf record -g -p), print the top
if [ -n "${PERF:-}" ]; then
    n=${SETS##* }
    q "SELECT bench.load_set($n)" >/dev/null
    prepare microtrigger.events
    { echo "\\o $MT_TMP/pid"; echo "SELECT pg_backend_pid();"; echo "\\o"
      echo "SELECT pg_sleep(2);"
      echo "COPY microtrigger.events (user_id, event_type, occurred_at, session_id, params) FROM '$CSV' WITH (FORMAT csv);"
    } | "${PSQL[@]}" -At >/dev/null &
    copier=$!
    sleep 1
    perf record -q -g -o "$MT_TMP/perf.data" -p "$(cat "$MT_TMP/pid")" >/dev/null 2>&1 &
    perfpid=$!
    wait "$copier"
    kill -INT "$perfpid"; wait "$perfpid"
    echo
    echo "perf profile of COPY with $n triggers (self time, top 40):"
    perf report -i "$MT_TMP/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -40
    echo
    echo "perf profile (with children, top 40):"
    perf report -i "$MT_TMP/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -40
fi
