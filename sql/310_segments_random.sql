-- Segments, randomized: incremental membership equals the from-scratch computation.
-- 2,000 users, random event streams in batches (multi-row INSERT like COPY, and single rows),
-- a tenth of each batch arriving late (occurred_at up to 3 days in the past), contacts changing
-- plan, windows expiring between batches. After each batch run_pending(T) brings every segment to
-- T; then for every segment, segment_members must equal segment_members_at(segment, T).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';
SELECT setseed(0.310);

INSERT INTO microtrigger.contacts (user_id, email, attributes)
SELECT 'r' || u, 'r' || u || '@example.com',
       jsonb_build_object('plan', (ARRAY['free', 'free', 'pro', 'team'])[1 + floor(random() * 4)::int],
                          'score', floor(random() * 100)::int)
FROM generate_series(1, 2000) u
WHERE u % 10 <> 0;   -- a tenth of the users have no contact

INSERT INTO microtrigger.segments (name, definition) VALUES
 ('r_pricing', '{"include": [{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}}, "within": "2 days"}],
                 "exclude": [{"event": "purchase", "within": "3 days"}]}'),
 ('r_regulars', '{"include": [{"event": "page_view", "within": "36 hours", "count": {"$gte": 2, "$lt": 5}}]}'),
 ('r_free_carts', '{"include": [{"event": "add_to_cart", "within": "1 day"}, {"event": ["checkout", "form_start"], "within": "2 days"}],
                    "exclude": [{"event": "purchase", "within": "1 day"}],
                    "profile": {"plan": "free"}}'),
 ('r_readers', '{"include": [{"event": "whitepaper_download"}],
                 "exclude": [{"condition": {"event_type": "purchase", "amount": {"$gt": 50}}, "within": "2 days"}]}'),
 ('r_engaged_pros', '{"include": [{"event": "page_view", "count": {"$lt": 3}, "within": "1 day"}],
                      "profile": {"plan": {"$in": ["pro", "team"]}, "score": {"$gte": 30}}}');
-- every segment's clock starts at T0
SELECT count(microtrigger.refresh_segment(name, '2026-11-01 00:00')) AS pinned FROM microtrigger.segments WHERE name LIKE 'r\_%';

CREATE TEMP TABLE r_checks (batch int, segment text, members int, mismatches int);

DO $$
DECLARE
    t0 timestamptz := '2026-11-01 00:00';
    t  timestamptz;
    k  int;
BEGIN
    FOR k IN 1..16 LOOP
        t := t0 + k * interval '6 hours';
        -- a batch in one statement: mostly in (t - 6h, t], a tenth late by up to 3 days
        INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
        SELECT 'r' || (1 + floor(random() * 2000)::int),
               (ARRAY['page_view', 'page_view', 'page_view', 'add_to_cart', 'checkout', 'form_start',
                      'purchase', 'whitepaper_download', 'scroll'])[1 + floor(random() * 9)::int],
               CASE WHEN random() < 0.1 THEN t - interval '6 hours' - random() * interval '3 days'
                    ELSE t - random() * interval '6 hours' END,
               jsonb_build_object('url', (ARRAY['/pricing', '/pricing/teams', '/blog', '/docs'])[1 + floor(random() * 4)::int],
                                  'amount', floor(random() * 100)::int)
        FROM generate_series(1, 1500);
        -- some single-row inserts (one statement each), some exactly on a window's edge
        FOR i IN 1..20 LOOP
            PERFORM microtrigger.track('r' || (1 + floor(random() * 2000)::int), 'page_view',
                                       jsonb_build_object('url', '/pricing'),
                                       t - (floor(random() * 4) * interval '12 hours'));
        END LOOP;
        -- contacts change plan, some disappear, some appear
        UPDATE microtrigger.contacts SET attributes = attributes || jsonb_build_object('plan',
               (ARRAY['free', 'pro', 'team'])[1 + floor(random() * 3)::int])
        WHERE user_id IN (SELECT 'r' || (1 + floor(random() * 2000)::int) FROM generate_series(1, 40));
        DELETE FROM microtrigger.contacts
        WHERE user_id IN (SELECT 'r' || (1 + floor(random() * 2000)::int) FROM generate_series(1, 5));
        INSERT INTO microtrigger.contacts (user_id, email, attributes)
        SELECT 'r' || (1 + floor(random() * 2000)::int), NULL, '{"plan": "free", "score": 50}'
        FROM generate_series(1, 5) ON CONFLICT DO NOTHING;

        PERFORM microtrigger.run_pending(t);

        INSERT INTO r_checks
        SELECT k, s.name,
               (SELECT count(*) FROM microtrigger.segment_members m WHERE m.segment = s.name),
               (SELECT count(*) FROM (
                    (SELECT user_id FROM microtrigger.segment_members m WHERE m.segment = s.name
                     EXCEPT SELECT microtrigger.segment_members_at(s.name, t))
                    UNION ALL
                    (SELECT microtrigger.segment_members_at(s.name, t)
                     EXCEPT SELECT user_id FROM microtrigger.segment_members m WHERE m.segment = s.name)) d)
        FROM microtrigger.segments s WHERE s.name LIKE 'r\_%';
    END LOOP;
END $$;

-- one line: every segment at every batch equals the from-scratch computation
SELECT count(*) AS checks, sum(mismatches) AS mismatches,
       bool_and(members > 0) FILTER (WHERE batch >= 4) AS all_segments_populated
FROM r_checks;
-- windows did expire and users did leave and enter along the way
SELECT count(*) FILTER (WHERE event_type = 'segment_enter') > 1000 AS many_enters,
       count(*) FILTER (WHERE event_type = 'segment_exit') > 500 AS many_exits
FROM microtrigger.events WHERE user_id LIKE 'r%';
-- refresh_segment agrees with the incremental state: same member count, no enter or exit recorded
CREATE TEMP TABLE r_before AS
SELECT count(*) AS changes FROM microtrigger.events WHERE event_type IN ('segment_enter', 'segment_exit');
SELECT sum(microtrigger.refresh_segment(name, '2026-11-05 00:00')) =
       (SELECT count(*) FROM microtrigger.segment_members WHERE segment LIKE 'r\_%') AS refresh_counts_members
FROM microtrigger.segments WHERE name LIKE 'r\_%';
SELECT (SELECT count(*) FROM microtrigger.events WHERE event_type IN ('segment_enter', 'segment_exit'))
       - changes AS refresh_changes
FROM r_before;
SELECT count(*) AS segment_errors FROM microtrigger.decisions WHERE outcome = 'segment_error';
