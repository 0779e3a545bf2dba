#!/usr/bin/env bash
# Benchmark: the cost of keeping 20 segments current as events land, in the same run:
#  1. COPY of EVENTS events (default 1,000,000; 50 per user) into microtrigger.events with no
#     segment and with 20 segments defined: times and ratio (one COPY statement; and the same
#     events as 1,000-row INSERT statements, as a stream arrives: each statement its own
#     transaction, and all of them in one transaction).
#  2. refresh_segment() (the from-scratch computation) against REFRESH MATERIALIZED VIEW of the
#     equivalent hand-written query, on the same data.
#  3. Incremental maintenance cost per event against one full refresh of all 20 segments.
#  4. run_pending() expiring every window 31 days later.
# Each phase runs RUNS times each way, alternating between a database without segments and one
# with them; the figures are medians and the ratios are ratios of medians.
# Usage: test/bench/segments_bench.sh   Env: EVENTS, RUNS (default 3), STREAM=0, MT_PORT (default 54353), MT_KEEP=1
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
EVENTS=${EVENTS:-1000000}
STREAM=${STREAM:-1}       # 0: skip the 1,000-row INSERT phases (the slow part at 1M events)
RUNS=${RUNS:-3}           # interleaved runs of each phase, each way (medians are reported)
USERS=$(( EVENTS / 50 > 100 ? EVENTS / 50 : 100 ))
export MT_PORT=${MT_PORT:-54353}
. "$SRC/test/lib.sh"

mt_install_packages || mt_log "some packages could not be installed; trying with what is there"
mt_setup "$SRC" || exit 1
# the bench database is not the worker's: run_pending happens only when called
PSQL=("$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d bench)
"$MT_BIN/createdb" bench
CSV="$MT_TMP/events.csv"

mt_log "generating $EVENTS events for $USERS users"
"${PSQL[@]}" <<SQL
CREATE EXTENSION microtrigger CASCADE;
SET TimeZone = 'UTC';
SELECT setseed(0.5);
INSERT INTO microtrigger.contacts (user_id, email, attributes)
SELECT 'u' || u, 'u' || u || '@example.com',
       jsonb_build_object('plan', (ARRAY['free', 'free', 'pro', 'team'])[1 + u % 4], 'score', u % 100)
FROM generate_series(1, $USERS) u;
-- 30 days of events in arrival order; 2% arrive up to 2 days late
CREATE TABLE bench_source AS
SELECT g AS seq, 'u' || (1 + floor(random() * $USERS)::int) AS user_id,
       (ARRAY['page_view', 'page_view', 'page_view', 'page_view', 'page_view', 'add_to_cart', 'checkout',
              'purchase', 'whitepaper_download', 'form_start', 'video_play', 'scroll'])[1 + floor(random() * 12)::int] AS event_type,
       timestamptz '2026-10-01' + (g::float8 / $EVENTS) * interval '30 days'
           - CASE WHEN random() < 0.02 THEN random() * interval '2 days' ELSE interval '0' END AS occurred_at,
       jsonb_build_object('url', (ARRAY['/pricing', '/pricing/teams', '/blog/a', '/blog/b', '/docs', '/product/pro'])[1 + floor(random() * 6)::int],
                          'time_spent', floor(random() * 300)::int, 'amount', floor(random() * 200)::int) AS params
FROM generate_series(1, $EVENTS) g;
COPY (SELECT user_id, event_type, occurred_at, params FROM bench_source ORDER BY seq) TO '$CSV' WITH (FORMAT csv);
CREATE INDEX ON bench_source (seq);
ANALYZE bench_source;
CREATE TABLE bench_segments (name text, definition jsonb);
INSERT INTO bench_segments
SELECT 'seg' || lpad(i::text, 2, '0'), CASE i % 5
  WHEN 0 THEN jsonb_build_object('include', jsonb_build_array(jsonb_build_object('event', 'page_view',
                'condition', jsonb_build_object('url', jsonb_build_object('\$startsWith', '/pricing')), 'within', (1 + i) || ' days')),
              'exclude', jsonb_build_array(jsonb_build_object('event', 'purchase', 'within', (1 + i) || ' days')))
  WHEN 1 THEN jsonb_build_object('include', jsonb_build_array(jsonb_build_object('event', 'add_to_cart', 'within', (i % 7 + 1) || ' days'),
                jsonb_build_object('event', 'checkout', 'within', (i % 7 + 1) || ' days')),
              'exclude', jsonb_build_array(jsonb_build_object('event', 'purchase', 'within', (i % 7 + 1) || ' days')))
  WHEN 2 THEN jsonb_build_object('include', jsonb_build_array(jsonb_build_object('event', 'page_view', 'within', (i % 5 + 1) || ' days',
                'count', jsonb_build_object('\$gte', 3))), 'profile', jsonb_build_object('plan', 'free'))
  WHEN 3 THEN jsonb_build_object('include', jsonb_build_array(jsonb_build_object('event', 'whitepaper_download')),
              'exclude', jsonb_build_array(jsonb_build_object('event', 'purchase', 'condition',
                jsonb_build_object('amount', jsonb_build_object('\$gt', 100)), 'within', '14 days')))
  ELSE jsonb_build_object('include', jsonb_build_array(jsonb_build_object('event', 'form_start', 'within', (i % 10 + 1) || ' days'),
                jsonb_build_object('event', 'page_view', 'condition', jsonb_build_object('time_spent', jsonb_build_object('\$gt', 120)),
                                   'within', '7 days')), 'profile', jsonb_build_object('score', jsonb_build_object('\$gte', 50)))
  END
FROM generate_series(1, 20) i;
-- the hand-written equivalent of seg05 (pricing views in 6 days, no purchase in 6 days)
CREATE MATERIALIZED VIEW bench_seg05_mv AS
SELECT user_id FROM microtrigger.events
WHERE event_type = 'page_view' AND params ->> 'url' LIKE '/pricing%'
  AND occurred_at BETWEEN timestamptz '2026-10-31' - interval '6 days' AND timestamptz '2026-10-31'
EXCEPT
SELECT user_id FROM microtrigger.events
WHERE event_type = 'purchase'
  AND occurred_at BETWEEN timestamptz '2026-10-31' - interval '6 days' AND timestamptz '2026-10-31'
WITH NO DATA;
SQL

# Two databases with the same data: bench0 has no segment, bench has the 20. Runs alternate
# between them (none, segments, none, ...) so both see the same load; each figure is the median
# of RUNS runs and each ratio is the ratio of the medians.
"$MT_BIN/psql" -X -q -d postgres -c "CREATE DATABASE bench0 TEMPLATE bench" || exit 1
PSQL0=("$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d bench0)
"${PSQL[@]}" -c "INSERT INTO microtrigger.segments SELECT name, definition FROM bench_segments;" >/dev/null

# ms of one SQL script in a database (bench or bench0)
timed_in() { local db=$1 t0 t1; shift; t0=$(date +%s%N); "$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@" >/dev/null || exit 1; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
timed() { timed_in bench -c "$1"; }
reset_in() {
    "$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$1" -c "TRUNCATE microtrigger.events, microtrigger.segment_members, microtrigger.segment_schedule;
                     UPDATE microtrigger.segment_clock SET as_of = '2026-10-01'; CHECKPOINT;" >/dev/null
}
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
copy_sql="COPY microtrigger.events (user_id, event_type, occurred_at, params) FROM '$CSV' WITH (FORMAT csv)"
# the stream: 1,000-row INSERT statements, each its own transaction (psql autocommit) ...
STREAM_FILE="$MT_TMP/stream.sql"
for b in $(seq 0 $(( (EVENTS - 1) / 1000 ))); do
    echo "INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) SELECT user_id, event_type, occurred_at, params FROM bench_source WHERE seq > $b * 1000 AND seq <= ($b + 1) * 1000 ORDER BY seq;"
done >"$STREAM_FILE"
# ... and the same statements in one transaction
tx_sql="DO \$\$ BEGIN FOR b IN 0..($EVENTS - 1) / 1000 LOOP
  INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
  SELECT user_id, event_type, occurred_at, params FROM bench_source WHERE seq > b * 1000 AND seq <= (b + 1) * 1000 ORDER BY seq;
  END LOOP; END \$\$"

# one phase, RUNS times each way, interleaved: sets <name>_none and <name>_seg (medians, ms)
phase() {
    local name=$1 none=() seg=(); shift
    for r in $(seq 1 "$RUNS"); do
        reset_in bench0; none+=("$(timed_in bench0 "$@")")
        reset_in bench; seg+=("$(timed_in bench "$@")")
    done
    mt_log "$name: no segments ${none[*]} ms; 20 segments ${seg[*]} ms"
    printf -v "${name}_none" '%s' "$(median "${none[@]}")"
    printf -v "${name}_seg" '%s' "$(median "${seg[@]}")"
}
after_seg_run() {   # catch up to the end of the data and count members, in bench
    "${PSQL[@]}" -c "VACUUM ANALYZE microtrigger.events, microtrigger.segment_members, microtrigger.segment_schedule" >/dev/null
    timed "SELECT microtrigger.run_pending('2026-10-31')"
}

mt_log "COPY, $RUNS runs each way"
phase copy -c "$copy_sql"
changes_copy=$("${PSQL[@]}" -At -c "SELECT count(*) FROM microtrigger.events WHERE event_type IN ('segment_enter', 'segment_exit')")
catch_up_copy=$(after_seg_run)
members_after_copy=$("${PSQL[@]}" -At -c "SELECT count(*) FROM microtrigger.segment_members")
stream_none=0; stream_seg=0; tx_none=0; tx_seg=0; catch_up_stream=-; members_after_stream=-; members_after_tx=-; changes_stream=-
if [ "$STREAM" = 1 ]; then
    mt_log "1,000-row INSERTs, each its own transaction, $RUNS runs each way"
    phase stream -f "$STREAM_FILE"
    changes_stream=$("${PSQL[@]}" -At -c "SELECT count(*) FROM microtrigger.events WHERE event_type IN ('segment_enter', 'segment_exit')")
    catch_up_stream=$(after_seg_run)
    members_after_stream=$("${PSQL[@]}" -At -c "SELECT count(*) FROM microtrigger.segment_members")
    mt_log "1,000-row INSERTs in one transaction, $RUNS runs each way"
    phase tx -c "$tx_sql"
    after_seg_run >/dev/null
    members_after_tx=$("${PSQL[@]}" -At -c "SELECT count(*) FROM microtrigger.segment_members")
fi

mt_log "refresh_segment vs REFRESH MATERIALIZED VIEW"
"${PSQL[@]}" -c "SELECT microtrigger.refresh_segment('seg05', '2026-10-31'); REFRESH MATERIALIZED VIEW bench_seg05_mv;" >/dev/null
best() { local b=""; for i in 1 2 3; do local t; t=$(timed "$1"); if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi; done; echo "$b"; }
refresh_one=$(best "SELECT microtrigger.refresh_segment('seg05', '2026-10-31')")
mv_one=$(best "REFRESH MATERIALIZED VIEW bench_seg05_mv")
same=$("${PSQL[@]}" -At -c "SELECT count(*) = 0 FROM ((SELECT user_id FROM bench_seg05_mv EXCEPT SELECT microtrigger.segment_members_at('seg05', '2026-10-31'))
                            UNION ALL (SELECT microtrigger.segment_members_at('seg05', '2026-10-31') EXCEPT SELECT user_id FROM bench_seg05_mv)) d")
refresh_all=$(timed "SELECT sum(microtrigger.refresh_segment(name, '2026-10-31')) FROM microtrigger.segments")
members_refreshed=$("${PSQL[@]}" -At -c "SELECT count(*) FROM microtrigger.segment_members")

mt_log "run_pending 31 days later"
due=$("${PSQL[@]}" -At -c "SELECT count(*) FROM microtrigger.segment_schedule WHERE changes_at <= '2026-12-01'")
expiry=$(timed "SELECT microtrigger.run_pending('2026-12-01')")
left=$("${PSQL[@]}" -At -c "SELECT count(*) FROM microtrigger.segment_members m JOIN microtrigger.segments s ON s.name = m.segment
                            WHERE s.definition::text NOT LIKE '%whitepaper%'")

per_event_copy_us=$(echo "scale=2; ($copy_seg - $copy_none) * 1000 / $EVENTS" | bc)
per_event_stream_us=$(echo "scale=2; ($stream_seg - $stream_none) * 1000 / $EVENTS" | bc)
ratio() { [ "$1" -gt 0 ] && echo "scale=2; $2 / $1" | bc || echo -; }
echo
echo "segments benchmark: $EVENTS events, $USERS users, 20 segments; medians of $RUNS interleaved runs"
printf '%-58s %10s\n' "COPY, no segments (ms)" "$copy_none"
printf '%-58s %10s\n' "COPY, 20 segments (ms)" "$copy_seg"
printf '%-58s %10s\n' "  ratio" "$(ratio "$copy_none" "$copy_seg")"
if [ "$STREAM" = 1 ]; then
printf '%-58s %10s\n' "1,000-row INSERTs, own transactions, no segments (ms)" "$stream_none"
printf '%-58s %10s\n' "1,000-row INSERTs, own transactions, 20 segments (ms)" "$stream_seg"
printf '%-58s %10s\n' "  ratio" "$(ratio "$stream_none" "$stream_seg")"
printf '%-58s %10s\n' "1,000-row INSERTs, one transaction, no segments (ms)" "$tx_none"
printf '%-58s %10s\n' "1,000-row INSERTs, one transaction, 20 segments (ms)" "$tx_seg"
printf '%-58s %10s\n' "  ratio" "$(ratio "$tx_none" "$tx_seg")"
fi
printf '%-58s %10s\n' "segment_enter/exit events recorded: COPY / INSERTs" "$changes_copy / $changes_stream"
printf '%-58s %10s\n' "run_pending(end of data) after COPY / after INSERTs (ms)" "$catch_up_copy / $catch_up_stream"
printf '%-58s %10s\n' "members at end: COPY / INSERTs / one tx / refresh (agree)" "$members_after_copy / $members_after_stream / $members_after_tx / $members_refreshed"
printf '%-58s %10s\n' "refresh_segment(seg05), best of 3 (ms)" "$refresh_one"
printf '%-58s %10s\n' "REFRESH MATERIALIZED VIEW (equivalent query), best of 3 (ms)" "$mv_one"
printf '%-58s %10s\n' "  same members" "$same"
printf '%-58s %10s\n' "refresh_segment of all 20 segments (ms)" "$refresh_all"
printf '%-58s %10s\n' "incremental cost per event, COPY (µs, 20 segments)" "$per_event_copy_us"
[ "$STREAM" = 1 ] && printf '%-58s %10s\n' "incremental cost per event, 1,000-row INSERTs (µs)" "$per_event_stream_us"
printf '%-58s %10s\n' "  per event / full refresh of 20 segments, COPY (%)" "$(echo "scale=6; $per_event_copy_us / 10 / $refresh_all" | bc)"
[ "$STREAM" = 1 ] && printf '%-58s %10s\n' "  per event / full refresh of 20 segments, INSERTs (%)" "$(echo "scale=6; $per_event_stream_us / 10 / $refresh_all" | bc)"
printf '%-58s %10s\n' "run_pending expiring $due memberships 31 days later (ms)" "$expiry"
printf '%-58s %10s\n' "  members left in windowed segments (must be 0)" "$left"
