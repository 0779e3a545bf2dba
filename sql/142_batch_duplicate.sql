SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';
-- A batch writes its outbox rows expecting every exactly-once key free. When one is taken (here
-- by a row written beside the engine) the batch fails and is replayed one by one: that email is
-- a `duplicate`, the others of the batch are queued, nothing is sent twice. Firings and journey
-- steps alike.
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('bd_step', 'Step {{user_id}}', 'x');
INSERT INTO microtrigger.contacts (user_id, email) VALUES
 ('bd1', 'bd1@example.com'), ('bd2', 'bd2@example.com'), ('bd3', 'bd3@example.com');
INSERT INTO microtrigger.sequences (name, definition) VALUES ('bd_seq',
 '{"steps": [{"wait": "1 day"}, {"send_email": {"template": "bd_step"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bd_t', '{"event": "bd_visit", "cooldown": 0, "actions": [{"send_email": {"template": "bd_step"}}]}'),
 ('bd_j', '{"event": "bd_signup", "cooldown": 0, "actions": [{"start_sequence": "bd_seq"}]}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT u, e, '2026-07-01 10:00' FROM unnest(ARRAY['bd1', 'bd2', 'bd3']) u, unnest(ARRAY['bd_visit', 'bd_signup']) e;
-- bd2's trigger email has an outbox row already
INSERT INTO microtrigger.outbox (user_id, to_address, subject, trigger_name, source_event_id, action_index, send_after)
SELECT user_id, 'bd2@example.com', 'written beside', 'bd_t', id, 0, '2026-07-01 10:00'
FROM microtrigger.events WHERE user_id = 'bd2' AND event_type = 'bd_visit';
SET client_min_messages = debug1;
SELECT microtrigger.run_pending('2026-07-01 10:00') AS acted;
SET client_min_messages = warning;
SELECT user_id, trigger_name, outcome FROM microtrigger.decisions ORDER BY id;
SELECT f.user_id, f.trigger_name, f.state, f.outcome FROM microtrigger.firings f ORDER BY f.id;
-- bd3's journey step 1 has an outbox row already
INSERT INTO microtrigger.outbox (user_id, to_address, subject, sequence_name, journey_id, step, send_after)
SELECT user_id, 'bd3@example.com', 'written beside', 'bd_seq', id, 1, '2026-07-02 10:00'
FROM microtrigger.journeys WHERE user_id = 'bd3';
SET client_min_messages = debug1;
SELECT microtrigger.run_pending('2026-07-02 10:00') AS acted;
SET client_min_messages = warning;
SELECT user_id, sequence_name, outcome, detail->>'step' AS step FROM microtrigger.decisions
WHERE at = '2026-07-02 10:00' ORDER BY id;
SELECT user_id, status FROM microtrigger.journeys ORDER BY user_id;
SELECT user_id, subject, trigger_name, sequence_name, step FROM microtrigger.outbox ORDER BY user_id, id;
