SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- No stale mail (docs/timing.md): a firing acted on (by run_pending's as_of) later than
-- max_lateness (the trigger key, else microtrigger.max_lateness, '1 day') after its trigger time
-- ends `stale`, with no email; transactional triggers too. A backfill sends nothing.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

INSERT INTO microtrigger.contacts (user_id, email)
SELECT 'b' || i, 'b' || i || '@example.com' FROM generate_series(1, 3) i;
INSERT INTO microtrigger.contacts (user_id, email) VALUES
 ('fresh', 'fresh@example.com'), ('late', 'late@example.com'), ('tx', 'tx@example.com'),
 ('edge', 'edge@example.com'), ('abs', 'abs@example.com'), ('wide', 'wide@example.com');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('t_view',  '{"event": "page_view", "cooldown": 0, "actions": [{"send_email": {"subject": "v", "text": "v"}}]}'),
 ('t_short', '{"event": "short", "max_lateness": "2 hours", "actions": [{"send_email": {"subject": "s", "text": "s"}}]}'),
 ('t_tx',    '{"event": "receipt", "transactional": true, "actions": [{"send_email": {"subject": "r", "text": "r"}}]}'),
 ('t_abs',   '{"event": "cart", "unless": {"event": "buy", "within": "36 hours"}, "actions": [{"send_email": {"subject": "a", "text": "a"}}]}');

-- a backfill: 60 days of page views of three users, loaded at once, acted on the next day
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT 'b' || u, 'page_view', '2026-03-01 10:00+00'::timestamptz + d * interval '1 day', '{"url": "/x"}'
FROM generate_series(1, 3) u, generate_series(0, 59) d;
SELECT microtrigger.run_pending('2026-05-01 00:00+00') AS acted;
SELECT count(*) AS emails FROM microtrigger.outbox;
SELECT outcome, count(*) FROM microtrigger.decisions GROUP BY 1 ORDER BY 1;
SELECT outcome, count(*) FROM microtrigger.firings GROUP BY 1 ORDER BY 1;
-- the newest one: 1 day 14 hours late
SELECT user_id, detail FROM microtrigger.decisions
WHERE user_id = 'b1' ORDER BY source_event_id DESC LIMIT 1;

-- acted on within the default day: queued; exactly max_lateness late: still queued
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES
 ('fresh', 'page_view', '2026-05-01 23:00+00'),
 ('edge',  'page_view', '2026-05-01 00:00+00');
-- the trigger's own max_lateness: 3 hours late is stale, 1 hour is not
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES
 ('late', 'short', '2026-05-01 21:00+00'),
 ('fresh', 'short', '2026-05-01 23:00+00');
-- transactional email is not exempt: a receipt two days late is not sent
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES
 ('tx', 'receipt', '2026-04-30 00:00+00'),
 ('fresh', 'receipt', '2026-05-01 23:30+00');
-- an absence firing's trigger time is the end of its window: the cart of 2026-04-30 12:00 was not
-- bought within 36 hours, so its trigger time is 2026-05-02 00:00, not late at all
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES
 ('abs', 'cart', '2026-04-30 12:00+00');
SELECT microtrigger.run_pending('2026-05-02 00:00+00') AS acted;
SELECT d.user_id, d.trigger_name, d.outcome, d.detail->>'trigger_time' AS trigger_time,
       d.detail->>'lateness' AS lateness, d.detail->>'max_lateness' AS max_lateness
FROM microtrigger.decisions d WHERE d.at = '2026-05-02 00:00+00' ORDER BY d.user_id, d.trigger_name;

-- the setting is the default: a week allows the old page view of 'wide'
SET microtrigger.max_lateness = '7 days';
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES
 ('wide', 'page_view', '2026-04-27 00:00+00');
SELECT microtrigger.run_pending('2026-05-02 00:00+00') AS acted;
SELECT user_id, outcome FROM microtrigger.decisions WHERE user_id = 'wide';
SET microtrigger.max_lateness = '0';
RESET microtrigger.max_lateness;
SHOW microtrigger.max_lateness;
