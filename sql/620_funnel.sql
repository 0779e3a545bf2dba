-- Sequence step names (send_email.name, default email_1, ...), sequence_steps(), and the view
-- funnel: fixed rows of outbox, decisions, events and conversions checked column by column, then
-- one path through run_pending, then what authors may read.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
RESET client_min_messages;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('welcome', 'Welcome {{user_id}}', 'Hello'),
 ('tips', 'Tips', 'Tips'),
 ('b2b', 'For teams', 'Teams'),
 ('last', 'Last call', 'Bye');

-- Step names: given or email_<n> in document order of the send_email steps (branches included)
INSERT INTO microtrigger.sequences (name, definition) VALUES ('onboarding', '{"steps": [
  {"send_email": {"template": "welcome", "name": "welcome"}},
  {"wait": "1 day"},
  {"branch": [
    {"if": {"profile": {"plan": "team"}}, "steps": [{"send_email": {"template": "b2b"}}]},
    {"else": [{"send_email": {"template": "tips", "name": "tips_day2"}}]}
  ]},
  {"wait": "1 day"},
  {"send_email": {"template": "last"}}
]}');
SELECT * FROM microtrigger.sequence_steps('onboarding');
-- the program counters are those outbox.step holds: 0, then the branch arms, then the last
SELECT step, name, ordinal FROM microtrigger.sequence_steps('onboarding') WHERE name LIKE 'email_%';
SELECT count(*) FROM microtrigger.sequence_steps(NULL);

CREATE FUNCTION pg_temp.try_sequence(p_def jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.sequences (name, definition) VALUES ('bad', p_def);
    DELETE FROM microtrigger.sequences WHERE name = 'bad';
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": 7}}]}');
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": ""}}]}');
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": "day 1"}}]}');
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": "1st"}}]}');
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": "_x"}}]}');
SELECT pg_temp.try_sequence(jsonb_build_object('steps', jsonb_build_array(jsonb_build_object('send_email',
       jsonb_build_object('template', 'welcome', 'name', repeat('a', 64))))));
SELECT pg_temp.try_sequence(jsonb_build_object('steps', jsonb_build_array(jsonb_build_object('send_email',
       jsonb_build_object('template', 'welcome', 'name', repeat('a', 63))))));
-- two given names alike: the later one is at fault
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": "hi"}},
  {"branch": [{"if": {"event": {"a": 1}}, "steps": [{"send_email": {"template": "tips", "name": "hi"}}]}]}]}');
-- a given name that is another step's default: the step that chose it is at fault, either order
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": "email_2"}},
  {"send_email": {"template": "tips"}}]}');
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome"}},
  {"send_email": {"template": "tips", "name": "email_1"}}]}');
-- a step may give itself its own default name
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": "email_1"}},
  {"send_email": {"template": "tips"}}]}');
-- the rest of send_email is checked as before, with its paths
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"template": "welcome", "name": "a", "priorty": 1}}]}');
SELECT pg_temp.try_sequence('{"steps": [{"send_email": {"name": "a"}}]}');
-- name is a sequence step's key: a trigger's send_email has no name
INSERT INTO microtrigger.triggers (name, definition) VALUES ('named',
 '{"event": "x", "actions": [{"send_email": {"template": "welcome", "name": "a"}}]}');
\set VERBOSITY terse
SELECT * FROM microtrigger.sequence_steps('no_such_sequence');
\set VERBOSITY default

-- Fixed rows. Trigger t_cart: variants a and b, and decisions that queued nothing; sequence
-- onboarding: its steps by program counter (0 welcome, 3 email_2, 5 tips_day2, 7 email_4), one
-- row at a counter the sequence does not have (9); a conversion of a holdout, one of a sequence
-- step whose outbox row is gone.
INSERT INTO microtrigger.outbox (id, user_id, to_address, subject, trigger_name, sequence_name, journey_id, step,
                                 action_index, variant, experiment, arm, source_event_id, send_after, status, created_at)
OVERRIDING SYSTEM VALUE VALUES
 (1, 'u1', 'u1@x.test', 's', 't_cart', NULL, NULL, NULL, 0, 'a', NULL, NULL, 101, '2026-01-01', 'sent', '2026-01-01'),
 (2, 'u2', 'u2@x.test', 's', 't_cart', NULL, NULL, NULL, 0, 'a', NULL, NULL, 102, '2026-01-01', 'sent', '2026-01-01'),
 (3, 'u3', 'u3@x.test', 's', 't_cart', NULL, NULL, NULL, 0, 'a', NULL, NULL, 103, '2026-01-01', 'queued', '2026-01-01'),
 (4, 'u4', 'u4@x.test', 's', 't_cart', NULL, NULL, NULL, 0, 'b', NULL, NULL, 104, '2026-01-01', 'sent', '2026-01-01'),
 (5, 'u5', 'u5@x.test', 's', 't_cart', NULL, NULL, NULL, 0, 'b', NULL, NULL, 105, '2026-01-01', 'dead', '2026-01-01'),
 (6, 'u6', 'u6@x.test', 's', 't_cart', NULL, NULL, NULL, 1, NULL, NULL, NULL, 101, '2026-01-01', 'sent', '2026-01-01'),
 (7, 'u1', 'u1@x.test', 's', 'starter', 'onboarding', 1, 0, 0, NULL, 'subj', 'x', NULL, '2026-01-01', 'sent', '2026-01-01'),
 (8, 'u2', 'u2@x.test', 's', 'starter', 'onboarding', 2, 0, 0, NULL, 'subj', 'x', NULL, '2026-01-01', 'sent', '2026-01-01'),
 (9, 'u2', 'u2@x.test', 's', 'starter', 'onboarding', 2, 5, 0, NULL, NULL, NULL, NULL, '2026-01-02', 'cancelled', '2026-01-02'),
 (10, 'u1', 'u1@x.test', 's', 'starter', 'onboarding', 1, 9, 0, NULL, NULL, NULL, NULL, '2026-01-03', 'sent', '2026-01-03');
INSERT INTO microtrigger.decisions (at, user_id, trigger_name, sequence_name, outcome, detail) VALUES
 ('2026-01-01', 'u1', 't_cart', NULL, 'queued', '{"outbox_id": "1", "variant": "a"}'),
 ('2026-01-01', 'u2', 't_cart', NULL, 'queued', '{"outbox_id": "2", "variant": "a"}'),
 ('2026-01-01', 'u3', 't_cart', NULL, 'queued', '{"outbox_id": "3", "variant": "a"}'),
 ('2026-01-01', 'u4', 't_cart', NULL, 'queued', '{"outbox_id": "4", "variant": "b"}'),
 ('2026-01-01', 'u5', 't_cart', NULL, 'queued', '{"outbox_id": "5", "variant": "b"}'),
 ('2026-01-01', 'u6', 't_cart', NULL, 'queued', '{"outbox_id": "6"}'),
 ('2026-01-01', 'u7', 't_cart', NULL, 'cooldown', '{}'),
 ('2026-01-01', 'u8', 't_cart', NULL, 'unsubscribed', '{}'),
 -- not candidates: a replay, a firing that did not fire, journey bookkeeping
 ('2026-01-01', 'u1', 't_cart', NULL, 'duplicate', '{"variant": "a"}'),
 ('2026-01-01', 'u9', 't_cart', NULL, 'cancelled_by_event', '{"cancelled_by": "5"}'),
 ('2026-01-01', 'u9', 't_cart', NULL, 'no_match', '{}'),
 ('2026-01-01', 'u1', 'starter', 'onboarding', 'journey_started', '{"journey_id": "1"}'),
 ('2026-01-01', 'u1', 'starter', 'onboarding', 'journey_completed', '{}'),
 ('2026-01-01', 'u1', 'starter', 'onboarding', 'queued', '{"outbox_id": "7", "step": "0"}'),
 ('2026-01-01', 'u2', 'starter', 'onboarding', 'queued', '{"outbox_id": "8", "step": "0"}'),
 ('2026-01-02', 'u2', 'starter', 'onboarding', 'queued', '{"outbox_id": "9", "step": "5"}'),
 ('2026-01-03', 'u1', 'starter', 'onboarding', 'queued', '{"outbox_id": "10", "step": "9"}'),
 -- a queued decision whose outbox row is gone (retention) keys by its own detail
 ('2026-01-02', 'u3', 'starter', 'onboarding', 'queued', '{"outbox_id": "999", "step": "3"}'),
 -- a journey step's decision without a step in its detail
 ('2026-01-02', 'u4', 'starter', 'onboarding', 'no_email', '{}');
-- engagement: every hit is an event; a row counts once per kind however many hits it had
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('u1', 'email_open', '2026-01-01 10:00', '{"outbox_id": "1"}'),
 ('u1', 'email_open', '2026-01-01 11:00', '{"outbox_id": "1"}'),
 ('u1', 'email_click', '2026-01-01 11:01', '{"outbox_id": "1", "url": "https://x.test"}'),
 ('u1', 'email_click', '2026-01-01 11:02', '{"outbox_id": "1", "url": "https://x.test/2"}'),
 ('u2', 'email_open', '2026-01-01 10:00', '{"outbox_id": "2"}'),
 ('u2', 'email_unsubscribe', '2026-01-01 10:05', '{"outbox_id": "2"}'),
 ('u4', 'email_click', '2026-01-01 10:00', '{"outbox_id": "4"}'),
 ('u5', 'email_bounced', '2026-01-01 10:00', '{"outbox_id": "5", "reply": "550 no such user"}'),
 ('u1', 'email_open', '2026-01-01 10:00', '{"outbox_id": "7"}'),
 ('u2', 'email_open', '2026-01-01 10:00', '{"outbox_id": "8"}'),
 ('u2', 'email_click', '2026-01-01 10:00', '{"outbox_id": "8"}'),
 -- not engagement of a row: another event type, a missing, foreign or malformed outbox_id
 ('u1', 'page_view', '2026-01-01 10:00', '{"outbox_id": "1"}'),
 ('u1', 'email_open', '2026-01-01 10:00', '{}'),
 ('u1', 'email_open', '2026-01-01 10:00', '{"outbox_id": "12345"}'),
 ('u1', 'email_open', '2026-01-01 10:00', '{"outbox_id": "1; DROP"}'),
 ('u1', 'email_click', '2026-01-01 10:00', '{"outbox_id": "99999999999999999999999"}');
INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, trigger_name, sequence_name, step, outbox_id,
                                      experiment, arm, revenue) VALUES
 ('u1', 501, '2026-01-02', 't_cart', NULL, NULL, 1, NULL, NULL, 30),
 ('u1', 502, '2026-01-03', 't_cart', NULL, NULL, 1, NULL, NULL, 12.5),
 ('u4', 503, '2026-01-02', 't_cart', NULL, NULL, 4, NULL, NULL, NULL),
 ('u2', 504, '2026-01-02', 'starter', 'onboarding', 0, 8, 'subj', 'x', 99),
 ('u9', 505, '2026-01-02', 't_cart', NULL, NULL, NULL, 'subj', 'holdout', NULL),
 ('u8', 506, '2026-01-04', 'starter', 'onboarding', 7, NULL, NULL, NULL, 5);
\x on
SELECT * FROM microtrigger.funnel
 ORDER BY trigger_name NULLS LAST, sequence_name, step NULLS LAST, variant NULLS LAST, arm NULLS LAST;
\x off
-- the stage sums equal the tables': every outbox row and conversion counted once
SELECT sum(queued) = (SELECT count(*) FROM microtrigger.outbox) AS all_queued,
       sum(converted) = (SELECT count(*) FROM microtrigger.conversions) AS all_converted,
       sum(sent) = (SELECT count(*) FROM microtrigger.outbox WHERE status = 'sent') AS all_sent
  FROM microtrigger.funnel;

-- A step renamed: the funnel names old rows with the sequence as it is now
UPDATE microtrigger.sequences SET definition = jsonb_set(definition, '{steps,0,send_email,name}', '"hello"')
 WHERE name = 'onboarding';
SELECT step, queued, opened FROM microtrigger.funnel WHERE sequence_name = 'onboarding' AND queued > 0 ORDER BY step;

-- End to end through run_pending: a trigger with a variant and one that starts the sequence;
-- the outbox rows and decisions run_pending writes are counted, then engagement recorded as the
-- tracking server records it (delivery simulated: status sent)
TRUNCATE microtrigger.outbox, microtrigger.decisions, microtrigger.events, microtrigger.conversions;
INSERT INTO microtrigger.contacts (user_id, email) VALUES
 ('e1', 'e1@x.test'), ('e2', 'e2@x.test'), ('e3', 'e3@x.test'), ('e4', NULL);
INSERT INTO microtrigger.triggers (name, definition) VALUES ('t_pricing',
 '{"event": "page_view", "condition": {"url": "/pricing"}, "cooldown": "1 day",
   "actions": [{"send_email": {"template": "welcome", "variants": [
      {"when": {"user_id": {"$in": ["e1", "e2"]}}, "template": "tips"}]}}]}'),
 ('t_signup', '{"event": "signup", "cooldown": 0, "actions": [{"start_sequence": "onboarding"}]}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('e1', 'page_view', '2026-03-02 09:00', '{"url": "/pricing"}'),
 ('e1', 'page_view', '2026-03-02 09:05', '{"url": "/pricing"}'),
 ('e2', 'page_view', '2026-03-02 09:00', '{"url": "/pricing"}'),
 ('e3', 'page_view', '2026-03-02 09:00', '{"url": "/pricing"}'),
 ('e4', 'page_view', '2026-03-02 09:00', '{"url": "/pricing"}'),
 ('e1', 'signup', '2026-03-02 09:00', '{}'),
 ('e3', 'signup', '2026-03-02 09:00', '{}');
SELECT microtrigger.run_pending('2026-03-02 09:10') > 0 AS acted;
SELECT user_id, trigger_name, outcome, detail ->> 'variant' AS variant, detail ->> 'step' AS step
  FROM microtrigger.decisions ORDER BY user_id, id;
UPDATE microtrigger.outbox SET status = 'sent', sent_at = '2026-03-02 09:11' WHERE user_id IN ('e1', 'e3');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT o.user_id, t.event_type, '2026-03-02 10:00', jsonb_build_object('outbox_id', o.id::text)
  FROM microtrigger.outbox o
  JOIN (VALUES ('e1', 'email_open'), ('e1', 'email_click'), ('e3', 'email_open')) t(user_id, event_type)
    ON t.user_id = o.user_id;
SELECT trigger_name, sequence_name, step, variant, candidates, queued, sent, opened, clicked,
       queue_rate, send_rate, open_rate, click_rate
  FROM microtrigger.funnel ORDER BY trigger_name NULLS LAST, step NULLS LAST, variant NULLS LAST;

-- Authors read the funnel (and name steps) without reading outbox or events
CREATE ROLE mt_funnel_author;
SELECT microtrigger.grant_author('mt_funnel_author');
SET ROLE mt_funnel_author;
SELECT step, queued, opened FROM microtrigger.funnel WHERE trigger_name = 't_pricing' ORDER BY variant;
SELECT name FROM microtrigger.sequence_steps('onboarding') ORDER BY ordinal;
\set VERBOSITY terse
SELECT count(*) FROM microtrigger.outbox;
SELECT count(*) FROM microtrigger.events;
\set VERBOSITY default
RESET ROLE;
DROP OWNED BY mt_funnel_author;
DROP ROLE mt_funnel_author;
