#!/usr/bin/env bash
# Benchmark of optimal send time (issue 11, item 4; docs/timing.md "Optimal send time").
# A simulated population whose true preferred local hour is known: USERS (default 3,000) contacts
# in seven zones, each with a true hour (80% drawn from usual peaks, 20% any hour) and 3 to 199
# events over the 60 days before 2024-06-01: page views, opens and clicks, 75% of them at the
# true hour with normal noise (sigma 1.2 h) and 25% at any hour (opens: half at any hour, as
# privacy proxies fetch them on delivery). Each user has a trigger time in the week after. For
# send_time optimal (24 hours), the trigger's own time and a fixed 10:00 local it prints, by
# history (< 20 events, >= 20, all): the share sent within +-1 h of the true hour, and a
# simulated click rate: p = 2% + 10% * exp(-d^2 / (2 * 2^2)), d the hours between the local send
# time and the middle of the true hour. Then the cost of one call for users with 1,000 events
# each: median over REPS (default 5) rounds, send_time_profile and optimal_send_time interleaved.
# Deterministic (setseed). Runs on its own throwaway cluster.
# Usage: test/bench/sto_bench.sh   Env: USERS, REPS, MT_PORT (default 54352), MT_KEEP=1
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
USERS=${USERS:-3000}
REPS=${REPS:-5}
export MT_PORT=${MT_PORT:-54352}
. "$SRC/test/lib.sh"
mt_setup "$SRC" || exit 1
PSQL=("$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres)
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

mt_log "simulating $USERS users"
"${PSQL[@]}" -v users="$USERS" <<'SQL' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION microtrigger CASCADE;
SET TimeZone = 'UTC';
SELECT setseed(0.42);
-- the population: zone, true local hour, number of events, trigger time
CREATE TABLE sim_users AS
SELECT 'u' || g AS user_id,
       (ARRAY['UTC', 'America/New_York', 'America/Los_Angeles', 'Europe/Paris', 'Asia/Kolkata',
              'Australia/Sydney', 'Pacific/Chatham'])[1 + floor(random() * 7)::int] AS zone,
       CASE WHEN random() < 0.8 THEN (ARRAY[7, 8, 9, 12, 13, 18, 19, 20, 21, 22])[1 + floor(random() * 10)::int]
            ELSE floor(random() * 24)::int END AS true_hour,
       3 + floor(random() * 197)::int AS n_events,
       timestamptz '2024-06-01 00:00+00' + random() * interval '7 days' AS trigger_at
FROM generate_series(1, :users) g;
INSERT INTO microtrigger.contacts (user_id, email, timezone)
SELECT user_id, user_id || '@example.com', zone FROM sim_users;
-- a standard normal draw (Box-Muller)
CREATE FUNCTION pg_temp.normal() RETURNS float8 LANGUAGE sql VOLATILE AS
  $$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT user_id, event_type,
       ((date '2024-04-02' + day) + make_interval(hours => ((hour % 24) + 24) % 24,
                                                  mins => floor(random() * 60)::int)) AT TIME ZONE zone,
       CASE WHEN event_type = 'page_view' THEN '{}' ELSE jsonb_build_object('outbox_id', n) END
FROM (
    SELECT u.user_id, u.zone, e.n, e.event_type, floor(random() * 60)::int AS day,
           CASE WHEN random() < CASE e.event_type WHEN 'email_open' THEN 0.5 ELSE 0.25 END
                THEN floor(random() * 24)::int
                ELSE round(u.true_hour + 0.5 + 1.2 * pg_temp.normal() - 0.5)::int END AS hour
    FROM sim_users u,
         LATERAL (SELECT n, CASE WHEN r < 0.05 THEN 'email_click' WHEN r < 0.15 THEN 'email_open'
                                 ELSE 'page_view' END AS event_type
                  FROM (SELECT n, random() + 0 * length(u.user_id) AS r
                        FROM generate_series(1, u.n_events) n) x) e
) s;
ANALYZE;
-- each strategy's send time and its distance from the true hour
CREATE TABLE sim_sends AS
SELECT u.user_id, u.zone, u.true_hour, u.n_events, s.strategy, s.send_at, s.optimal
FROM sim_users u,
     LATERAL microtrigger.optimal_send_time(u.user_id, u.trigger_at, '24 hours', u.trigger_at) o,
     LATERAL (VALUES ('optimal', o.send_at, o.optimal),
                     ('trigger time', u.trigger_at, NULL::boolean),
                     ('fixed 10:00', microtrigger.next_send_time('{"hours": ["10:00", "11:00"]}', u.zone, u.trigger_at), NULL)
             ) s(strategy, send_at, optimal);
CREATE TABLE sim_scored AS
SELECT *, least(abs(l.local_hour - true_hour), 24 - abs(l.local_hour - true_hour)) AS hour_distance,
       0.02 + 0.10 * exp(-(d.hours ^ 2) / (2 * 2.0 ^ 2)) AS click_p
FROM sim_sends,
     LATERAL microtrigger.local_time(send_at, zone) l,
     LATERAL (SELECT extract(epoch FROM l.wall_time - date_trunc('day', l.wall_time)) / 3600.0 AS at_hours) a,
     LATERAL (SELECT least(abs(a.at_hours - (true_hour + 0.5)), 24 - abs(a.at_hours - (true_hour + 0.5))) AS hours) d;
\echo
\echo 'Optimal send time on a simulated population (true preferred hours known)'
\echo 'within_1h: share sent within +-1 h of the true hour; click_rate: simulated (2% + 10% at the true hour)'
SELECT grp AS history, count(DISTINCT user_id) AS users,
       round(100.0 * count(*) FILTER (WHERE strategy = 'optimal' AND NOT optimal)
             / count(*) FILTER (WHERE strategy = 'optimal'), 1) AS "fallback_%",
       round(100.0 * avg((hour_distance <= 1)::int) FILTER (WHERE strategy = 'optimal'), 1) AS "optimal_within_1h_%",
       round(100.0 * avg((hour_distance <= 1)::int) FILTER (WHERE strategy = 'trigger time'), 1) AS "trigger_within_1h_%",
       round(100.0 * avg((hour_distance <= 1)::int) FILTER (WHERE strategy = 'fixed 10:00'), 1) AS "ten_within_1h_%",
       round(100.0 * avg(click_p) FILTER (WHERE strategy = 'optimal'), 2) AS "optimal_click_%",
       round(100.0 * avg(click_p) FILTER (WHERE strategy = 'trigger time'), 2) AS "trigger_click_%",
       round(100.0 * avg(click_p) FILTER (WHERE strategy = 'fixed 10:00'), 2) AS "ten_click_%"
FROM (SELECT *, CASE WHEN n_events < 20 THEN '< 20 events' ELSE '>= 20 events' END AS grp FROM sim_scored
      UNION ALL SELECT *, 'all' FROM sim_scored) x
GROUP BY grp ORDER BY grp DESC;
-- 50 heavy users with 1,000 events each, for the cost of one call
INSERT INTO microtrigger.contacts (user_id, email, timezone)
SELECT 'heavy' || g, 'heavy' || g || '@example.com', 'Asia/Kolkata' FROM generate_series(1, 50) g;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'heavy' || g, (ARRAY['page_view', 'page_view', 'page_view', 'email_open', 'email_click'])[1 + n % 5],
       timestamptz '2024-06-01' - (n * interval '87 minutes')
FROM generate_series(1, 50) g, generate_series(1, 1000) n;
ANALYZE microtrigger.events;
SQL

timed() {   # SQL -> milliseconds per call for 50 users
    "${PSQL[@]}" -At <<SQL
$1;  -- warm the plan
\\o /dev/null
SELECT clock_timestamp() AS t0 \\gset
$1;
\\o
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000 / 50, 3);
SQL
}
PROFILE="SELECT count(*) FROM generate_series(1, 50) g, microtrigger.send_time_profile('heavy' || g, '2024-06-01') p"
OPTIMAL="SELECT count(*) FROM generate_series(1, 50) g, microtrigger.optimal_send_time('heavy' || g, '2024-06-01 04:00+00', '24 hours', '2024-06-01') o"
RES=$(mktemp)
for r in $(seq 1 "$REPS"); do
    if [ $((r % 2)) = 1 ]; then
        echo "profile $(timed "$PROFILE" | tail -n 1)" >>"$RES"; echo "optimal $(timed "$OPTIMAL" | tail -n 1)" >>"$RES"
    else
        echo "optimal $(timed "$OPTIMAL" | tail -n 1)" >>"$RES"; echo "profile $(timed "$PROFILE" | tail -n 1)" >>"$RES"
    fi
done
echo
echo "Cost of one call, users with 1,000 events (median of $REPS rounds, interleaved):"
echo "  send_time_profile:  $(awk '$1 == "profile" {print $2}' "$RES" | median) ms"
echo "  optimal_send_time:  $(awk '$1 == "optimal" {print $2}' "$RES" | median) ms"
rm -f "$RES"
