#!/usr/bin/env bash
# Benchmark: microtrigger.matches() against the equivalent jsonpath @? predicate over N realistic
# event documents (default 1,000,000), for several kinds of condition. Prints, per condition, the
# best of 3 runs of each (ms), the ratio jsonpath time / matches time (> 1: matches is faster) and
# both match counts (they must agree). Runs on its own throwaway cluster.
# Usage: test/bench/matches_bench.sh [ROWS]   Env: MT_PORT (default 54341), MT_KEEP=1
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ROWS=${1:-1000000}
export MT_PORT=${MT_PORT:-54341}
. "$SRC/test/lib.sh"

mt_install_packages || mt_log "some packages could not be installed; trying with what is there"
mt_setup "$SRC" || exit 1
PSQL=("$MT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres)

mt_log "loading $ROWS event documents"
"${PSQL[@]}" <<SQL
CREATE EXTENSION microtrigger CASCADE;
CREATE TABLE bench_events (doc jsonb NOT NULL);
INSERT INTO bench_events
SELECT jsonb_build_object(
    'user_id', 'u' || (g % 50000),
    'event_type', (ARRAY['page_view','page_view','page_view','cart_add','checkout','video_play','form_start','purchase'])[1 + g % 8],
    'occurred_at', to_char(timestamptz '2026-11-01' + g * interval '2 seconds', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
    'session_id', 's' || (g / 20),
    'url', (ARRAY['/pricing','/pricing/pro','/blog/why-us','/blog/plans-vs-pricing','/docs/start','/','/features','/pricing/enterprise'])[1 + (g * 7) % 8],
    'time_spent', (g * 37) % 400,
    'referrer', CASE WHEN g % 3 = 0 THEN 'https://www.google.com/' ELSE NULL END,
    'utm', jsonb_build_object('source', (ARRAY['newsletter','ads','organic'])[1 + g % 3], 'campaign', 'c' || (g % 20)),
    'items', CASE WHEN g % 4 = 1 THEN jsonb_build_array(
                 jsonb_build_object('sku', 'SKU-' || (g % 97), 'qty', 1 + g % 3, 'price', 19.5),
                 jsonb_build_object('sku', 'SKU-' || (g % 89), 'qty', 1, 'price', 5))
             ELSE '[]'::jsonb END)
FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE bench_events;
SQL

"${PSQL[@]}" <<'SQL'
SET max_parallel_workers_per_gather = 0;   -- per-row cost, one process
SET jit = off;
-- Best of 3 timings (ms) of SELECT count(*) FROM bench_events WHERE <predicate>, and the count.
CREATE FUNCTION pg_temp.best_of_3(predicate text, OUT ms numeric, OUT n bigint) AS $$
DECLARE t0 timestamptz; elapsed numeric;
BEGIN
    ms := NULL;
    FOR i IN 1..3 LOOP
        t0 := clock_timestamp();
        EXECUTE 'SELECT count(*) FROM bench_events WHERE ' || predicate INTO n;
        elapsed := extract(epoch FROM clock_timestamp() - t0) * 1000;
        ms := least(coalesce(ms, elapsed), elapsed);
    END LOOP;
    ms := round(ms);
END $$ LANGUAGE plpgsql;
CREATE TEMP TABLE bench_cases (id serial, name text, condition jsonb, jsonpath text);
INSERT INTO bench_cases (name, condition, jsonpath) VALUES
 ('equality',      '{"event_type": "checkout"}',                          '$ ? (@.event_type == "checkout")'),
 ('prefix',        '{"url": {"$startsWith": "/pricing"}}',                '$ ? (@.url starts with "/pricing")'),
 ('numeric range', '{"time_spent": {"$gt": 60, "$lte": 300}}',            '$ ? (@.time_spent > 60 && @.time_spent <= 300)'),
 ('$in',           '{"event_type": {"$in": ["cart_add", "checkout", "purchase"]}}',
                   '$ ? (@.event_type == "cart_add" || @.event_type == "checkout" || @.event_type == "purchase")'),
 ('nested path',   '{"items.sku": "SKU-42"}',                             '$.items[*] ? (@.sku == "SKU-42")'),
 ('nested object', '{"utm.source": "newsletter", "utm.campaign": "c7"}',  '$ ? (@.utm.source == "newsletter" && @.utm.campaign == "c7")'),
 ('regex',         '{"url": {"$regex": "^/blog/.*pricing$"}}',            '$ ? (@.url like_regex "^/blog/.*pricing$")'),
 ('trigger-like',  '{"event_type": "page_view", "url": {"$startsWith": "/pricing"}, "time_spent": {"$gt": 90}}',
                   '$ ? (@.event_type == "page_view" && @.url starts with "/pricing" && @.time_spent > 90)');
SELECT count(*) AS warm_up FROM bench_events;
\echo
\echo 'matches(condition, doc) vs doc @? jsonpath: best of 3, ms; ratio = jsonpath / matches'
SELECT c.name AS condition,
       m.ms AS matches_ms,
       j.ms AS jsonpath_ms,
       round(j.ms / greatest(m.ms, 1), 2) AS ratio,
       m.n AS matches_count,
       j.n AS jsonpath_count,
       CASE WHEN m.n = j.n THEN 'same' ELSE 'DIFFERENT' END AS counts
FROM bench_cases c,
     LATERAL pg_temp.best_of_3(format('microtrigger.matches(%L, doc)', c.condition)) m,
     LATERAL pg_temp.best_of_3(format('doc @? %L', c.jsonpath)) j
ORDER BY c.id;
SELECT (pg_temp.best_of_3('true')).ms AS bare_scan_ms;
SQL
