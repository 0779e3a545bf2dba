-- Segments: validation, the seed's segments, enter/exit events that triggers react to, expiry at
-- the right as_of, late events, exclusion by a later event, profile changes, refresh_segment.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

-- Validation: every mistake is refused with 22023, the segment's name, the JSON path and the reason.
CREATE FUNCTION pg_temp.try_segment(p_name text, p_def jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.segments (name, definition) VALUES (p_name, p_def);
    DELETE FROM microtrigger.segments WHERE name = p_name;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.try_segment('not_object', '[1, 2]');
SELECT pg_temp.try_segment('empty', '{}');
SELECT pg_temp.try_segment('unknown_key', '{"includes": [{"event": "page_view"}]}');
SELECT pg_temp.try_segment('empty_include', '{"include": []}');
SELECT pg_temp.try_segment('include_string', '{"include": "page_view"}');
SELECT pg_temp.try_segment('bad_within', '{"include": [{"event": "page_view", "within": "3 fortnights"}]}');
SELECT pg_temp.try_segment('zero_within', '{"include": [{"event": "page_view", "within": 0}]}');
SELECT pg_temp.try_segment('bad_count', '{"include": [{"event": "page_view", "count": {"$gtx": 3}}]}');
SELECT pg_temp.try_segment('bad_clause_key', '{"include": [{"event": "page_view", "same": ["cart_id"]}]}');
SELECT pg_temp.try_segment('no_event', '{"include": [{"within": "1 day"}]}');
SELECT pg_temp.try_segment('bad_operator', '{"include": [{"event": "page_view", "condition": {"url": {"$sw": "/pricing"}}}]}');
SELECT pg_temp.try_segment('bad_regex', '{"include": [{"event": "page_view"}], "exclude": [{"event": "purchase", "condition": {"sku": {"$regex": "(unclosed"}}}]}');
SELECT pg_temp.try_segment('bad_profile', '{"profile": {"plan": {"$in": "free"}}}');
SELECT pg_temp.try_segment('profile_string', '{"profile": "free"}');
SELECT pg_temp.try_segment('own_events', '{"include": [{"event": "page_view"}, {"event": ["purchase", "segment_enter"]}]}');
SELECT pg_temp.try_segment('own_events_in_condition', '{"include": [{"condition": {"event_type": "segment_exit"}}]}');
SELECT pg_temp.try_segment('exclude_only', '{"exclude": [{"event": "purchase", "within": "30 days"}]}');
SELECT pg_temp.try_segment('nobody_anchors', '{"include": [{"event": "purchase", "count": {"$lt": 1}}]}');
SELECT pg_temp.try_segment('', '{"include": [{"event": "page_view"}]}');
-- valid: a clause object instead of an array, counts, all history, profile only
SELECT pg_temp.try_segment('fine', '{"description": "x", "include": {"event": "page_view", "count": {"$gte": 2, "$lt": 10}, "within": 3600}, "exclude": {"event": "purchase"}}');
SELECT pg_temp.try_segment('profile_only', '{"profile": {"plan": "free"}, "include": [{"event": "purchase", "count": 0}]}');
-- UPDATE is validated too, and a failed UPDATE keeps the stored row
INSERT INTO microtrigger.segments (name, definition) VALUES ('kept', '{"include": [{"event": "page_view"}]}');
UPDATE microtrigger.segments SET definition = '{"include": [{"event": "page_view", "within": "-1 day"}]}' WHERE name = 'kept';
SELECT name, definition FROM microtrigger.segments WHERE name = 'kept';
DELETE FROM microtrigger.segments WHERE name = 'kept';

-- The seed's three segments (names a template can address), and one with a profile.
INSERT INTO microtrigger.segments (name, definition) VALUES
 ('pricing_not_converted',
  '{"description": "viewed pricing but didn''t convert",
    "include": [{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}}, "within": "30 days"}],
    "exclude": [{"event": "purchase", "within": "30 days"}]}'),
 ('whitepaper_downloaders', '{"description": "downloaded a whitepaper", "include": [{"event": "whitepaper_download"}]}'),
 ('checkout_abandoners',
  '{"description": "abandoned a cart during checkout",
    "include": [{"event": "add_to_cart", "within": "7 days"}, {"event": "checkout", "within": "7 days"}],
    "exclude": [{"event": "purchase", "within": "7 days"}]}'),
 ('free_plan_regulars',
  '{"include": [{"event": "page_view", "within": "7 days", "count": {"$gte": 2}}], "profile": {"plan": "free"}}');
-- a new segment starts at the transaction's time; pin the clocks so this test does not depend on it
SELECT name, microtrigger.refresh_segment(name, '2026-11-01') AS members
FROM microtrigger.segments ORDER BY name;

-- An email when someone enters the pricing segment: segment_enter is an ordinary event.
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('pricing_help', 'Questions about pricing, {{first_name}}?',
  'You entered {{segment}} on {{event.occurred_at}}.{{#segments.free_plan_regulars}} Good to see you again.{{/segments.free_plan_regulars}}');
INSERT INTO microtrigger.triggers (name, definition) VALUES ('pricing_segment_entered',
 '{"event": "segment_enter", "condition": {"segment": "pricing_not_converted"},
   "actions": [{"send_email": {"template": "pricing_help"}}]}');

INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES
 ('s1', 'ann@example.com', '{"first_name": "Ann", "plan": "free"}'),
 ('s2', 'bob@example.com', '{"first_name": "Bob", "plan": "pro"}'),
 ('s3', 'cy@example.com', '{"first_name": "Cy", "plan": "free"}');

-- One COPY-like statement: s1 views pricing twice, s2 views pricing and downloads, s3 starts a checkout.
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('s1', 'page_view', '2026-11-02 09:00', '{"url": "/pricing"}'),
 ('s1', 'page_view', '2026-11-02 09:10', '{"url": "/pricing/teams"}'),
 ('s2', 'page_view', '2026-11-02 10:00', '{"url": "/pricing"}'),
 ('s2', 'whitepaper_download', '2026-11-02 10:05', '{"title": "Micro-moments"}'),
 ('s3', 'add_to_cart', '2026-11-02 11:00', '{"cart_id": "C1"}'),
 ('s3', 'checkout', '2026-11-02 11:05', '{"cart_id": "C1"}'),
 ('s3', 'page_view', '2026-11-02 11:06', '{"url": "/blog"}');
SELECT segment, user_id, entered_at FROM microtrigger.segment_members ORDER BY segment, user_id;
-- each entry is an event at the time it happened, with params {"segment": name}
SELECT user_id, event_type, occurred_at, params FROM microtrigger.events
WHERE event_type IN ('segment_enter', 'segment_exit') ORDER BY id;
-- when each membership next changes with no new event (a window closing)
SELECT segment, user_id, changes_at FROM microtrigger.segment_schedule ORDER BY segment, user_id;
SELECT microtrigger.in_segment('s1', 'pricing_not_converted') AS s1_in,
       microtrigger.in_segment('s3', 'pricing_not_converted') AS s3_in;

-- run_pending acts on the firings of segment_enter: two emails, rendered with the segments
SELECT microtrigger.run_pending('2026-11-02 12:00');
SELECT user_id, subject, text_body, send_after FROM microtrigger.outbox ORDER BY id;

-- Exclusion by a later event: s2 buys, and leaves the pricing segment at the purchase's time.
SELECT microtrigger.track('s2', 'purchase', '{"amount": 49}', '2026-11-03 08:00') > 0 AS tracked;
-- s3 completes the purchase too, and leaves the cart segment
SELECT microtrigger.track('s3', 'purchase', '{"amount": 19}', '2026-11-03 09:00') > 0 AS tracked;
SELECT user_id, event_type, occurred_at, params->>'segment' AS segment FROM microtrigger.events
WHERE event_type IN ('segment_enter', 'segment_exit') AND occurred_at > '2026-11-02 12:00' ORDER BY id;

-- A late event: a purchase by s1 that happened on 11-02 10:00 arrives after run_pending(11-04);
-- it is judged at the segment's clock (11-04), as a fresh computation would judge it.
SELECT microtrigger.run_pending('2026-11-04 00:00');
SELECT microtrigger.track('s1', 'purchase', '{"amount": 19}', '2026-11-02 10:00') > 0 AS tracked;
SELECT user_id, event_type, occurred_at FROM microtrigger.events
WHERE event_type = 'segment_exit' AND user_id = 's1' ORDER BY id;
-- (the pricing check at 12-02 stays: a check that is still ahead is never moved later by an
-- event; when it comes, run_pending finds no change and drops it)
SELECT segment, user_id, changes_at FROM microtrigger.segment_schedule WHERE user_id = 's1' ORDER BY 1;

-- Expiry at the right as_of: the purchase leaves its 30-day window at 12-02 10:00 (plus 1 µs),
-- but so does the page view of 11-02 09:10 at 12-02 09:10: s1 stays out. s2's exclusion ends at
-- 12-03 08:00:00.000001, after its page view left: s2 stays out too. The whitepaper is forever.
-- The "free_plan_regulars" window of s1 (2 views in 7 days) closes at 11-09 09:00:00.000001.
SELECT microtrigger.run_pending('2026-11-09 09:00');
SELECT segment, user_id FROM microtrigger.segment_members WHERE user_id = 's1' ORDER BY 1;
SELECT microtrigger.run_pending('2026-11-09 09:00:00.000001');
SELECT segment, user_id FROM microtrigger.segment_members WHERE user_id = 's1' ORDER BY 1;
SELECT user_id, event_type, occurred_at, params->>'segment' AS segment FROM microtrigger.events
WHERE event_type = 'segment_exit' AND occurred_at > '2026-11-04' ORDER BY id;

-- An exclusion that expires makes a user enter, and the last view leaving makes them exit:
-- s4 views pricing daily from 11-05 to 11-15 and bought on 11-10 (one statement, judged at 11-15).
-- The purchase leaves its window at 12-10 12:00:00.000001 (enter), the 11-15 view at 12-15 (exit).
-- s5 does the same five days later.
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT u.id, 'page_view', d + u.shift, '{"url": "/pricing"}'
FROM (VALUES ('s4', interval '0 days'), ('s5', interval '5 days')) u(id, shift),
     generate_series(timestamptz '2026-11-05', '2026-11-15', interval '1 day') d
UNION ALL VALUES ('s4', 'purchase', timestamptz '2026-11-10 12:00', jsonb '{}'),
                 ('s5', 'purchase', '2026-11-15 12:00', '{}');
SELECT segment, user_id, changes_at FROM microtrigger.segment_schedule WHERE user_id IN ('s4', 's5') ORDER BY 1, 2;
-- run_pending re-evaluates the three kept checks of 12-02 (s1, s2) and 11-09 11:00 (s3): no change
SELECT microtrigger.run_pending('2026-12-10 12:00');
SELECT microtrigger.in_segment('s4', 'pricing_not_converted') AS s4_before;
SELECT microtrigger.run_pending('2026-12-12 00:00');
SELECT microtrigger.in_segment('s4', 'pricing_not_converted') AS s4_entered;
SELECT segment, user_id, changes_at FROM microtrigger.segment_schedule WHERE user_id IN ('s4', 's5') ORDER BY 1, 2;
-- one run_pending long after both of s5's changes records both, each at its own time
SELECT microtrigger.run_pending('2026-12-20 12:00');
SELECT user_id, event_type, occurred_at FROM microtrigger.events
WHERE user_id IN ('s4', 's5') AND event_type IN ('segment_enter', 'segment_exit') ORDER BY id;

-- Profile changes on contacts: s3 becomes a free-plan regular only with two recent views.
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('s3', 'page_view', '2026-12-20 09:00', '{"url": "/docs"}'),
 ('s3', 'page_view', '2026-12-20 09:30', '{"url": "/docs"}');
SELECT microtrigger.in_segment('s3', 'free_plan_regulars') AS free_s3;
UPDATE microtrigger.contacts SET attributes = attributes || '{"plan": "pro"}' WHERE user_id = 's3';
SELECT microtrigger.in_segment('s3', 'free_plan_regulars') AS after_upgrade;
UPDATE microtrigger.contacts SET unsubscribed_at = '2026-12-20' WHERE user_id = 's3';   -- not a profile change
UPDATE microtrigger.contacts SET attributes = attributes || '{"plan": "free"}' WHERE user_id = 's3';
SELECT microtrigger.in_segment('s3', 'free_plan_regulars') AS after_downgrade;
DELETE FROM microtrigger.contacts WHERE user_id = 's3';
SELECT microtrigger.in_segment('s3', 'free_plan_regulars') AS after_delete;
SELECT user_id, event_type, occurred_at FROM microtrigger.events
WHERE params->>'segment' = 'free_plan_regulars' AND user_id = 's3' ORDER BY id;

-- The operator view, and refresh_segment: it agrees with the incremental state (no change recorded).
SELECT segment, members, day, enters, exits FROM microtrigger.segment_stats ORDER BY segment, day;
CREATE TEMP TABLE changes_before AS
SELECT count(*) AS n FROM microtrigger.events WHERE event_type IN ('segment_enter', 'segment_exit');
SELECT name, microtrigger.refresh_segment(name, '2026-12-20 12:00') AS members,
       ARRAY(SELECT microtrigger.segment_members_at(name, '2026-12-20 12:00')) AS computed,
       ARRAY(SELECT user_id FROM microtrigger.segment_members m WHERE m.segment = name ORDER BY 1) AS stored
FROM microtrigger.segments ORDER BY name;
SELECT (SELECT count(*) FROM microtrigger.events WHERE event_type IN ('segment_enter', 'segment_exit')) - n
       AS changes_by_refresh
FROM changes_before;

-- A changed definition is recomputed at the segment's clock, as a baseline (no events).
UPDATE microtrigger.segments SET definition = '{"include": [{"event": "whitepaper_download", "within": "10 days"}]}'
WHERE name = 'whitepaper_downloaders';
SELECT segment, user_id FROM microtrigger.segment_members WHERE segment = 'whitepaper_downloaders';
SELECT count(*) AS exits_recorded FROM microtrigger.events
WHERE event_type = 'segment_exit' AND params->>'segment' = 'whitepaper_downloaders';
-- an error names the segment that does not exist
SELECT microtrigger.refresh_segment('nope', '2026-12-20');
-- deleting a segment removes its members
DELETE FROM microtrigger.segments WHERE name = 'pricing_not_converted';
SELECT count(*) AS left_behind FROM microtrigger.segment_members WHERE segment = 'pricing_not_converted';
SELECT count(*) AS segment_errors FROM microtrigger.decisions WHERE outcome = 'segment_error';
