SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- Frequency caps and priority (API.md, docs/timing.md): every non-transactional email of a cap's
-- category counts, sent and queued; calendar periods in the contact's zone, or rolling intervals;
-- a new email over a cap replaces a queued, unsent one of lower priority (that one ends capped,
-- its row cancelled) or is itself capped; equal priority keeps the earlier. One email per
-- (user, signal): of two triggers on the same event only the higher priority one, unless both
-- are transactional.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

INSERT INTO microtrigger.frequency_caps (name, max_emails, per) VALUES ('daily', 2, 'day');
INSERT INTO microtrigger.frequency_caps (name, max_emails, per, category) VALUES ('news_hourly', 1, '1 hour', 'news');
-- a cap's period is checked when written
INSERT INTO microtrigger.frequency_caps (name, max_emails, per) VALUES ('bad', 1, 'fortnight');
INSERT INTO microtrigger.frequency_caps (name, max_emails, per) VALUES ('bad', -1, 'day');
INSERT INTO microtrigger.contacts (user_id, email, timezone)
SELECT u, u || '@example.com', CASE WHEN u = 'ny' THEN 'America/New_York' ELSE 'UTC' END
FROM unnest(ARRAY['ny', 'u2', 'u3', 'u4', 'u5']) u;
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('t_mkt',  '{"event": "m", "cooldown": 0, "actions": [{"send_email": {"subject": "mkt", "text": "x"}}]}'),
 ('t_low',  '{"event": "low", "cooldown": 0, "priority": 30, "actions": [{"send_email": {"subject": "low", "text": "x"}}]}'),
 ('t_high', '{"event": "high", "cooldown": 0, "priority": 80, "actions": [{"send_email": {"subject": "high", "text": "x"}}]}'),
 ('t_rcpt', '{"event": "rcpt", "transactional": true, "actions": [{"send_email": {"subject": "receipt", "text": "x"}}]}'),
 ('t_news', '{"event": "n", "cooldown": 0, "category": "news", "actions": [{"send_email": {"subject": "news", "text": "x"}}]}'),
 ('t_sig_a', '{"event": "view", "priority": 40, "category": "other", "actions": [{"send_email": {"subject": "a", "text": "x"}}]}'),
 ('t_sig_b', '{"event": "view", "priority": 70, "category": "other", "actions": [{"send_email": {"subject": "b", "text": "x"}}]}'),
 ('t_pay_a', '{"event": "pay", "transactional": true, "actions": [{"send_email": {"subject": "pay a", "text": "x"}}]}'),
 ('t_pay_b', '{"event": "pay", "transactional": true, "actions": [{"send_email": {"subject": "pay b", "text": "x"}}]}');

CREATE FUNCTION pg_temp.act(u text, type text, at timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES (u, type, at);
    RETURN microtrigger.run_pending(at + interval '1 minute');
END
$$;
CREATE VIEW pg_temp.verdicts AS
SELECT d.user_id, d.trigger_name, e.occurred_at AS event_at, d.outcome, d.detail->>'cap' AS cap,
       d.detail->>'signal' IS NOT NULL AS by_signal, d.detail->>'winner' AS winner, o.status
FROM microtrigger.decisions d
LEFT JOIN microtrigger.events e ON e.id = d.source_event_id
LEFT JOIN microtrigger.outbox o ON o.trigger_name = d.trigger_name AND o.source_event_id = d.source_event_id
WHERE d.outcome IN ('queued', 'capped');

-- 'daily' (2 a day) in New York: the third email of 2024-06-10 (local) is capped, so is one at
-- 23:30 EDT (03:30 UTC the next day); 00:30 EDT is a new local day
SELECT pg_temp.act('ny', 'm', '2024-06-10 13:00+00');
SELECT pg_temp.act('ny', 'm', '2024-06-10 15:00+00');
SELECT pg_temp.act('ny', 'm', '2024-06-10 17:00+00');
SELECT pg_temp.act('ny', 'm', '2024-06-11 03:30+00');
SELECT pg_temp.act('ny', 'm', '2024-06-11 04:30+00');
SELECT * FROM pg_temp.verdicts WHERE user_id = 'ny' ORDER BY event_at, outcome;

-- priority: u2 has a low (30) and a default (50) email queued; a high one (80) replaces the low
-- one, whose decision is capped (naming the cap and the winner) and its row cancelled; then a
-- default one is capped (the queued ones are not lower); a receipt is transactional: exempt
SELECT pg_temp.act('u2', 'low', '2024-06-10 10:00+00');
SELECT pg_temp.act('u2', 'm', '2024-06-10 11:00+00');
SELECT pg_temp.act('u2', 'high', '2024-06-10 12:00+00');
SELECT pg_temp.act('u2', 'm', '2024-06-10 13:00+00');
SELECT pg_temp.act('u2', 'rcpt', '2024-06-10 14:00+00');
SELECT * FROM pg_temp.verdicts WHERE user_id = 'u2' ORDER BY event_at, outcome;
SELECT subject, status, last_error FROM microtrigger.outbox WHERE user_id = 'u2' ORDER BY id;

-- sent emails count too, and cannot be replaced: u3's two are sent, a high one is capped
SELECT pg_temp.act('u3', 'm', '2024-06-10 08:00+00');
SELECT pg_temp.act('u3', 'm', '2024-06-10 09:00+00');
UPDATE microtrigger.outbox SET status = 'sent', sent_at = send_after WHERE user_id = 'u3';
SELECT pg_temp.act('u3', 'high', '2024-06-10 10:00+00');
SELECT * FROM pg_temp.verdicts WHERE user_id = 'u3' ORDER BY event_at, outcome;

-- a rolling hour of the category 'news': 10:30 is within an hour of 10:00, 11:30 is not
SELECT pg_temp.act('u4', 'n', '2024-06-10 10:00+00');
SELECT pg_temp.act('u4', 'n', '2024-06-10 10:30+00');
SELECT pg_temp.act('u4', 'n', '2024-06-10 11:30+00');
SELECT * FROM pg_temp.verdicts WHERE user_id = 'u4' ORDER BY event_at, outcome;

-- one email per signal: two triggers on one page view queue only the higher priority one; two
-- transactional ones on one payment both go
SELECT pg_temp.act('u5', 'view', '2024-06-10 10:00+00');
SELECT pg_temp.act('u5', 'pay', '2024-06-10 11:00+00');
SELECT trigger_name, outcome, by_signal, winner, status FROM pg_temp.verdicts WHERE user_id = 'u5'
ORDER BY trigger_name, outcome;
SELECT outcome, count(*) FROM microtrigger.firings GROUP BY 1 ORDER BY 1;
