#!/usr/bin/env bash
# The demo: builds microtrigger, starts a throwaway cluster with the worker and pg_cron preloaded,
# loads a sample clickstream of DEMO_USERS users (default 10,000), defines the seed's triggers,
# runs the engine, and prints what it did.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$SRC/test/lib.sh"
DEMO_USERS=${DEMO_USERS:-10000}
export MT_WORKER_DB=analytics MT_CRON_DB=analytics
# pg_cron runs its jobs in background workers: this socket-only cluster has no TCP for it to use;
# quiet hours for every session, the worker's too (issue 11)
export MT_EXTRA_CONF="cron.use_background_workers = on
max_worker_processes = 32
microtrigger.quiet_hours = '21:00-08:00'"
mt_install_packages || exit 1
mt_setup "$SRC" || exit 1
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_q -d postgres -c "CREATE DATABASE analytics"
export PGDATABASE=analytics
psql_q -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION microtrigger CASCADE"
psql_q -f "$MT_BUILD/test/demo/definitions.sql"
start=$(date +%s.%N)
psql_q -v users="$DEMO_USERS" -f "$MT_BUILD/test/demo/generate.sql"
loaded=$(date +%s.%N)
# The worker (microtrigger.database = analytics) acts on the backlog as soon as the load commits;
# run_pending(now()) here does the same work beside it, SKIP LOCKED keeps them apart. Wait until
# nothing is due, whoever did it.
acted=0
while :; do
    n=$(psql -X -At -c "SELECT microtrigger.run_pending()")
    acted=$((acted + n))
    left=$(psql -X -At -c "SELECT (SELECT count(*) FROM microtrigger.firings WHERE state = 'waiting')
                                 + (SELECT count(*) FROM microtrigger.journeys WHERE status = 'active' AND next_at <= now())")
    [ "$n" = 0 ] && [ "$left" = 0 ] && break
    sleep 0.2
done
done_at=$(date +%s.%N)
# live: one event now, acted on by the worker alone
live_event=$(psql -X -At -q -c "INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES ('live', 'live@example.com', '{\"first_name\": \"Liv\"}');
                             SELECT microtrigger.track('live', 'page_view', '{\"url\": \"/pricing\", \"time_spent\": 120}')")
live_ms=""
for i in $(seq 1 100); do
    live_ms=$(psql -X -At -c "SELECT round(extract(epoch FROM o.created_at - e.occurred_at) * 1000)
                              FROM microtrigger.outbox o JOIN microtrigger.events e ON e.id = o.source_event_id
                              WHERE o.source_event_id = $live_event")
    [ -n "$live_ms" ] && break
    sleep 0.05
done

cat <<REPORT
== microtrigger demo: $DEMO_USERS users, the last 14 days of clickstream ==
loaded and matched in $(printf '%.1f' "$(echo "$loaded - $start" | bc)") s; the backlog was acted on in $(printf '%.1f' "$(echo "$done_at - $loaded" | bc)") s (worker and run_pending together)
live: an event tracked now was in the outbox $live_ms ms after it occurred, queued by the background worker
REPORT
psql -X -P footer=off <<'SQL'
\echo '-- events by type'
SELECT event_type, count(*) AS events FROM microtrigger.events GROUP BY 1 ORDER BY 2 DESC;
\echo '-- firings by trigger (absence windows included)'
SELECT trigger_name, count(*) AS firings, count(*) FILTER (WHERE is_absence) AS absence_windows
FROM microtrigger.firings GROUP BY 1 ORDER BY 1;
\echo '-- emails in the outbox'
SELECT coalesce(trigger_name || ' / ' || sequence_name, trigger_name) AS source, count(*) AS emails,
       min(send_after) AS first_send_after, max(send_after) AS last_send_after
FROM microtrigger.outbox WHERE user_id <> 'live' GROUP BY 1 ORDER BY 1;
\echo '-- journeys of the recovery sequence'
SELECT status, count(*) AS journeys FROM microtrigger.journeys GROUP BY 1 ORDER BY 1;
\echo '-- decisions by outcome'
SELECT outcome, count(*) AS decisions FROM microtrigger.decisions GROUP BY 1 ORDER BY 2 DESC;
\echo '-- timing and fatigue (issue 11): what became of the emails, by rule'
SELECT count(*) FILTER (WHERE outcome = 'queued' AND detail ? 'held_until') AS held_by_window,
       count(*) FILTER (WHERE outcome = 'capped') AS capped,
       count(*) FILTER (WHERE outcome = 'stale') AS dropped_stale,
       count(*) FILTER (WHERE outcome = 'queued') AS queued
FROM microtrigger.decisions WHERE user_id <> 'live';
\echo '-- emails by local hour of the contact: when they were due, and when they go (the later of send_after and when queued; quiet hours 21:00-08:00)'
SELECT h AS local_hour,
       count(*) FILTER (WHERE due_h = h) AS due, count(*) FILTER (WHERE send_h = h) AS sent_at
FROM generate_series(0, 23) h
CROSS JOIN (SELECT extract(hour FROM coalesce(e.occurred_at, o.send_after) AT TIME ZONE c.timezone)::int AS due_h,
                   extract(hour FROM greatest(o.send_after, o.created_at) AT TIME ZONE c.timezone)::int AS send_h
            FROM microtrigger.outbox o JOIN microtrigger.contacts c USING (user_id)
            LEFT JOIN microtrigger.events e ON e.id = o.source_event_id AND o.journey_id IS NULL
            WHERE o.status <> 'cancelled' AND o.user_id <> 'live') m
GROUP BY h ORDER BY h;
\echo '-- emails per user per local day against the caps (two_a_day: 2)'
SELECT per_day AS emails_that_day, count(*) AS user_days
FROM (SELECT o.user_id, (greatest(o.send_after, o.created_at) AT TIME ZONE c.timezone)::date, count(*) AS per_day
      FROM microtrigger.outbox o JOIN microtrigger.contacts c USING (user_id)
      WHERE o.status <> 'cancelled' AND NOT o.transactional AND o.user_id <> 'live' GROUP BY 1, 2) d
GROUP BY 1 ORDER BY 1;
\echo '-- two rendered emails'
\x on
(SELECT to_address, subject, preheader, text_body, html_body FROM microtrigger.outbox WHERE trigger_name = 'pricing_intent' AND user_id <> 'live' ORDER BY user_id, id LIMIT 1)
UNION ALL
(SELECT to_address, subject, preheader, text_body, html_body FROM microtrigger.outbox WHERE sequence_name = 'cart_recovery' AND step > 0 ORDER BY user_id, id LIMIT 1);
\x off
\echo '-- why one user got what they got: explain()'
SELECT trigger_name, sequence_name, outcome, detail FROM microtrigger.explain((SELECT user_id FROM microtrigger.decisions WHERE outcome = 'cancelled_by_event' ORDER BY user_id LIMIT 1)) LIMIT 6;
\echo '-- what the setup checks say (smtp is not ok: the demo sends nothing)'
SELECT * FROM microtrigger.status;
SQL
