#!/usr/bin/env bash
# Benchmark: background worker latency, on its own throwaway cluster with the worker serving the
# database "bench" (microtrigger.naptime = 10s, so polling cannot hide a missed wake-up).
#  1. immediate: IMMEDIATE events (default 1,000), one per transaction, SPACING_MS apart (default
#     5), each matching an immediate trigger; latency = the outbox row's commit minus the event's
#     commit (both from track_commit_timestamp, the same server clock).
#  2. absence: WINDOWS add_to_cart events (default 200), 10-40 ms apart, each opening a 3-second
#     window that nothing closes; lateness = the outbox row's commit minus the window's deadline
#     (firings.due_at).
# Each phase is repeated RUNS times (default 3); the table gives the median over runs of p50 and
# p99 (ms). Also shown: the same measured at the row's INSERT (wall clock recorded by a BEFORE
# INSERT trigger the benchmark puts on outbox) and at outbox.created_at (the batch's as_of).
# Usage: test/bench/worker_latency.sh     Env: IMMEDIATE, WINDOWS, SPACING_MS, RUNS,
#        MT_PORT (default 54342), MT_KEEP=1
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
IMMEDIATE=${IMMEDIATE:-1000}
WINDOWS=${WINDOWS:-200}
SPACING_MS=${SPACING_MS:-5}
RUNS=${RUNS:-3}
export MT_PORT=${MT_PORT:-54342}
export MT_WORKER_DB=bench
export MT_EXTRA_CONF="microtrigger.naptime = '10s'
track_commit_timestamp = on"
. "$SRC/test/lib.sh"

mt_install_packages || mt_log "some packages could not be installed; trying with what is there"
mt_setup "$SRC" || exit 1
PSQL=("$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d bench)
q() { "${PSQL[@]}" -At -c "$1"; }

"$MT_BIN/psql" -X -q -d postgres -c "CREATE DATABASE bench" || exit 1
"${PSQL[@]}" -f "$SRC/test/bench/worker_latency_setup.sql" >&2 || exit 1
# the worker checks for the extension at most every naptime: give it a first look
sleep 11
q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'microtrigger worker' AND datname = 'bench'" \
    | grep -qx 1 || { mt_log "the microtrigger worker is not running on bench"; exit 1; }

# wait_for TRIGGER N: until N outbox rows of TRIGGER exist (at most 60 s)
wait_for() {
    for _ in $(seq 1 600); do
        [ "$(q "SELECT count(*) FROM microtrigger.outbox WHERE trigger_name = '$1'")" -ge "$2" ] && return 0
        sleep 0.1
    done
    mt_log "timed out waiting for $2 outbox rows of $1"; return 1
}
reset() {
    "${PSQL[@]}" -c "TRUNCATE microtrigger.events, microtrigger.firings, microtrigger.outbox, microtrigger.decisions, bench.outbox_seen" \
        -c "VACUUM ANALYZE microtrigger.events, microtrigger.firings, microtrigger.outbox" >/dev/null
}

RES="$MT_TMP/results"
: >"$RES"
for run in $(seq 1 "$RUNS"); do
    reset
    mt_log "run $run: $IMMEDIATE immediate events, ${SPACING_MS} ms apart"
    sleep_s=$(echo "scale=3; $SPACING_MS / 1000" | bc)
    for i in $(seq 1 "$IMMEDIATE"); do
        printf "SELECT microtrigger.track('u%d', 'page_view', '{\"url\": \"/pricing/teams\", \"time_spent\": %d}');\n" \
            $((1 + i % 2000)) $((i % 300))
        printf "SELECT pg_sleep(%s);\n" "$sleep_s"
    done | "${PSQL[@]}" >/dev/null || exit 1
    wait_for ping_now "$IMMEDIATE" || exit 1
    echo "immediate $run $(q "SELECT * FROM bench.summary('ping_now')" | tr '|' ' ')" >>"$RES"

    mt_log "run $run: $WINDOWS absence windows of 3 s"
    for i in $(seq 1 "$WINDOWS"); do
        printf "SELECT microtrigger.track('u%d', 'add_to_cart', '{\"cart_id\": \"c%d-%d\", \"plan\": \"pro\"}');\n" \
            $((1 + i % 2000)) "$run" "$i"
        printf "SELECT pg_sleep(%s);\n" "0.0$((10 + RANDOM % 31))"
    done | "${PSQL[@]}" >/dev/null || exit 1
    wait_for cart_window "$WINDOWS" || exit 1
    echo "absence $run $(q "SELECT * FROM bench.summary('cart_window')" | tr '|' ' ')" >>"$RES"
    q "SELECT outcome, count(*) FROM microtrigger.decisions GROUP BY 1" | sed "s/^/run $run decisions: /" >&2
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# col PHASE N: median over runs of column N (1 = n, 2 = p50_commit, ...)
col() { awk -v k="$1" -v c="$2" '$1 == k {print $(c + 2)}' "$RES" | median; }
echo
echo "worker latency, median over $RUNS runs of each run's percentile (ms); 2-core machine, naptime 10s"
printf '%-32s %6s %8s %8s %8s %10s %10s %9s %9s\n' measure n p50 p99 max p50_insert p99_insert p50_start p99_start
printf '%-32s %6s %8s %8s %8s %10s %10s %9s %9s\n' "event commit -> outbox commit" \
    "$(col immediate 1)" "$(col immediate 2)" "$(col immediate 3)" "$(col immediate 4)" \
    "$(col immediate 5)" "$(col immediate 6)" "$(col immediate 7)" "$(col immediate 8)"
printf '%-32s %6s %8s %8s %8s %10s %10s %9s %9s\n' "window deadline -> outbox commit" \
    "$(col absence 1)" "$(col absence 2)" "$(col absence 3)" "$(col absence 4)" \
    "$(col absence 5)" "$(col absence 6)" "$(col absence 7)" "$(col absence 8)"
echo
echo "per run (phase run n p50 p99 max p50_insert p99_insert p50_start p99_start):"
cat "$RES"
