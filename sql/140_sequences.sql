-- Sequences: the seed's friction signal (cart abandoned 30 min -> a 2-email recovery sequence a
-- day apart, exit on purchase), branches, exit cancelling queued email, one active journey per
-- user and sequence, and re-entry.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('cart_recovery_1', 'You left {{plan}} in your cart', 'Step 1 for cart {{cart_id}}'),
 ('cart_recovery_2', 'Still thinking about {{plan}}?', 'Step 2 for cart {{cart_id}}'),
 ('cart_b2b_case_study', 'How teams use {{plan}}', 'Case study'),
 ('cart_sales_rep', 'Talk to a human about {{plan}}', 'Sales rep'),
 ('vip', 'For our enterprise friends', 'VIP');
INSERT INTO microtrigger.segments (name, definition) VALUES ('b2b', '{"profile": {"company_size": {"$gte": 50}}}');
INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES
 ('s1', 's1@example.com', '{"first_name": "Sam"}'),
 ('s2', 's2@example.com', '{"first_name": "Sue"}'),
 ('s3', 's3@example.com', '{"first_name": "Sid", "company_size": 500}'),
 ('s4', 's4@example.com', '{"first_name": "Sal", "tier": "enterprise"}');

-- validation of sequence definitions
CREATE FUNCTION pg_temp.try_sequence(p_name text, p_def jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.sequences (name, definition) VALUES (p_name, p_def);
    DELETE FROM microtrigger.sequences WHERE name = p_name;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.try_sequence('no_steps', '{"exit": {"event": "purchase"}}');
SELECT pg_temp.try_sequence('bad_wait', '{"steps": [{"wait": "one day"}]}');
SELECT pg_temp.try_sequence('bad_step', '{"steps": [{"sleep": "1 day"}]}');
SELECT pg_temp.try_sequence('bad_if', '{"steps": [{"branch": [{"if": {"in_segmnt": "b2b"}, "steps": [{"wait": 1}]}]}]}');
SELECT pg_temp.try_sequence('else_first', '{"steps": [{"branch": [{"else": [{"wait": 1}]}, {"if": {"event": {"a": 1}}, "steps": [{"wait": 1}]}]}]}');
SELECT pg_temp.try_sequence('no_template', '{"steps": [{"send_email": {"template": "nope"}}]}');
SELECT pg_temp.try_sequence('no_segment', '{"steps": [{"branch": [{"if": {"in_segment": "nope"}, "steps": [{"wait": 1}]}]}]}');
SELECT pg_temp.try_sequence('exit_within', '{"steps": [{"wait": 1}], "exit": {"event": "purchase", "within": "1 day"}}');
SELECT pg_temp.try_sequence('bad_op', '{"steps": [{"wait": 1}], "exit": {"event": "purchase", "condition": {"amount": {"$gtt": 1}}}}');

-- the seed's recovery sequence, with the branch of API.md
INSERT INTO microtrigger.sequences (name, definition) VALUES ('cart_recovery', '{
  "steps": [
    {"send_email": {"template": "cart_recovery_1"}},
    {"wait": "1 day"},
    {"branch": [
      {"if": {"in_segment": "b2b"}, "steps": [{"send_email": {"template": "cart_b2b_case_study"}}]},
      {"if": {"history": {"event": "video_play", "within": "3 days"}}, "steps": [{"send_email": {"template": "cart_sales_rep"}}]},
      {"if": {"profile": {"tier": "enterprise"}}, "steps": [{"send_email": {"template": "vip"}}]},
      {"else": [{"send_email": {"template": "cart_recovery_2"}}]}
    ]}
  ],
  "exit": {"event": "purchase", "same": ["cart_id"]},
  "reentry": "7 days"}');
INSERT INTO microtrigger.triggers (name, definition) VALUES ('cart_abandoned',
 '{"event": "add_to_cart", "unless": {"event": "checkout", "within": "30 minutes", "same": ["cart_id"]},
   "cooldown": 0, "actions": [{"start_sequence": "cart_recovery"}]}');
-- s3 is in b2b through its profile (company_size 500): the segment keeps itself current
SELECT segment, user_id FROM microtrigger.segment_members ORDER BY 1, 2;

INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('s1', 'add_to_cart', '2026-11-02 09:00', '{"cart_id": "c1", "plan": "pro"}'),
 ('s2', 'add_to_cart', '2026-11-02 09:00', '{"cart_id": "c2", "plan": "starter"}'),
 ('s2', 'video_play',  '2026-11-02 15:00', '{"video": "demo"}'),
 ('s3', 'add_to_cart', '2026-11-02 09:00', '{"cart_id": "c3", "plan": "enterprise"}'),
 ('s4', 'add_to_cart', '2026-11-02 09:00', '{"cart_id": "c4", "plan": "pro"}');

-- the windows close at 09:30: journeys start and send step 1 at once
SELECT microtrigger.run_pending('2026-11-02 09:30');
SELECT user_id, sequence_name, status, step, next_at, started_at FROM microtrigger.journeys ORDER BY user_id;
SELECT user_id, subject, sequence_name, step, send_after FROM microtrigger.outbox ORDER BY user_id, step;

-- s1 buys another cart: not the same cart, no exit; then buys cart c1: exit, nothing more
SELECT microtrigger.track('s1', 'purchase', '{"cart_id": "other"}', '2026-11-02 12:00') > 0 AS tracked;
SELECT microtrigger.track('s1', 'purchase', '{"cart_id": "c1"}', '2026-11-02 13:00') > 0 AS tracked;
SELECT user_id, status, exit_reason ~ '^exit event' AS by_exit_event, ended_at FROM microtrigger.journeys WHERE user_id = 's1';

-- a day later: step 2 takes the branch for each user
SELECT microtrigger.run_pending('2026-11-03 09:30');
SELECT user_id, subject, step, send_after FROM microtrigger.outbox ORDER BY user_id, step;
SELECT user_id, status, ended_at FROM microtrigger.journeys ORDER BY user_id;
SELECT microtrigger.run_pending('2026-11-03 09:30');  -- nothing twice
SELECT count(*) AS emails FROM microtrigger.outbox;

-- one active journey per user and sequence; re-entry within 7 days is refused, after it allowed
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('s2', 'add_to_cart', '2026-11-05 09:00', '{"cart_id": "c5", "plan": "pro"}'),
 ('s2', 'add_to_cart', '2026-11-12 09:00', '{"cart_id": "c6", "plan": "pro"}');
-- (each acted on when it happens: a week later the first would be stale)
SELECT microtrigger.run_pending('2026-11-05 09:30');
SELECT microtrigger.run_pending('2026-11-12 09:30');
SELECT user_id, outcome FROM microtrigger.decisions WHERE user_id = 's2' AND outcome IN ('journey_started', 'reentry_blocked', 'already_in_journey') ORDER BY id;

-- an exit event cancels queued-but-unsent email of the journey
SELECT status, count(*) FROM microtrigger.outbox WHERE user_id = 's2' GROUP BY 1 ORDER BY 1;
SELECT microtrigger.track('s2', 'purchase', '{"cart_id": "c6"}', '2026-11-12 10:00') > 0 AS tracked;
SELECT subject, status, last_error ~ '^exit event' AS cancelled_by_exit FROM microtrigger.outbox WHERE user_id = 's2' ORDER BY id;
SELECT outcome, detail->>'cancelled_emails' AS cancelled FROM microtrigger.decisions WHERE user_id = 's2' AND outcome = 'journey_exited';

-- a late exit: the purchase was recorded before the journey existed (at ingest there was nothing
-- to end), but it occurred during the journey: the next step finds it in the events table
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('s5', 's5@example.com');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('s5', 'add_to_cart', '2026-11-20 09:00', '{"cart_id": "c7", "plan": "pro"}'),
 ('s5', 'purchase', '2026-11-20 09:40', '{"cart_id": "c7"}');
SELECT microtrigger.run_pending('2026-11-20 09:30');
SELECT user_id, status, step FROM microtrigger.journeys WHERE user_id = 's5';
SELECT microtrigger.run_pending('2026-11-21 09:30');
SELECT user_id, status, ended_at FROM microtrigger.journeys WHERE user_id = 's5';
SELECT subject, status FROM microtrigger.outbox WHERE user_id = 's5' ORDER BY id;

-- a contact who unsubscribes mid-journey ends it at the next step; one without an address has
-- the email skipped (decision no_email) and the journey goes on
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('s6', 's6@example.com'), ('s7', NULL);
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('s6', 'add_to_cart', '2026-11-25 09:00', '{"cart_id": "c8", "plan": "pro"}'),
 ('s7', 'add_to_cart', '2026-11-25 09:00', '{"cart_id": "c9", "plan": "pro"}');
SELECT microtrigger.run_pending('2026-11-25 09:30');
UPDATE microtrigger.contacts SET unsubscribed_at = '2026-11-25 12:00' WHERE user_id = 's6';
SELECT microtrigger.run_pending('2026-11-26 09:30');
SELECT user_id, status, exit_reason FROM microtrigger.journeys WHERE user_id IN ('s6', 's7') ORDER BY user_id;
SELECT user_id, outcome FROM microtrigger.decisions
WHERE user_id IN ('s6', 's7') AND outcome IN ('queued', 'no_email', 'journey_exited', 'journey_completed', 'unsubscribed')
ORDER BY user_id, id;
