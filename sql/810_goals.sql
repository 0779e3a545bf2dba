-- Goals and attribution (docs/goals.md): the goal key validated on triggers and sequences, and
-- run_pending attributing goal events to the last email (or holdout decision) within the window.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- validation: 22023 naming the JSON path
CREATE FUNCTION pg_temp.try_trigger(p_goal jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.triggers (name, definition) VALUES ('t_goal',
        jsonb_build_object('event', 'x', 'goal', p_goal, 'actions',
                           '[{"send_email": {"subject": "s", "text": "t"}}]'::jsonb));
    DELETE FROM microtrigger.triggers WHERE name = 't_goal';
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.try_trigger('"purchase"');
SELECT pg_temp.try_trigger('{"within": "7 days"}');
SELECT pg_temp.try_trigger('{"event": "purchase"}');
SELECT pg_temp.try_trigger('{"event": [], "within": "7 days"}');
SELECT pg_temp.try_trigger('{"event": ["purchase", 3], "within": "7 days"}');
SELECT pg_temp.try_trigger('{"event": "purchase", "within": "a week"}');
SELECT pg_temp.try_trigger('{"event": "purchase", "within": 0}');
SELECT pg_temp.try_trigger('{"event": "purchase", "within": "11 years"}');
SELECT pg_temp.try_trigger('{"event": "purchase", "within": "7 days", "condition": {"amount": {"$gtt": 1}}}');
SELECT pg_temp.try_trigger('{"event": "purchase", "within": "7 days", "condition": [1]}');
SELECT pg_temp.try_trigger('{"event": "purchase", "within": "7 days", "revenue": 3}');
SELECT pg_temp.try_trigger('{"event": "purchase", "within": "7 days", "revenue": ""}');
SELECT pg_temp.try_trigger('{"event": "purchase", "within": "7 days", "value": "amount"}');
SELECT pg_temp.try_trigger('{"event": ["purchase", "order"], "within": 604800, "condition": {"plan": "pro"}, "revenue": "amount"}');
CREATE FUNCTION pg_temp.try_sequence(p_goal jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.sequences (name, definition) VALUES ('s_goal',
        jsonb_build_object('steps', '[{"wait": 1}]'::jsonb, 'goal', p_goal));
    DELETE FROM microtrigger.sequences WHERE name = 's_goal';
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.try_sequence('{"event": "purchase", "within": "-1 day"}');
SELECT pg_temp.try_sequence('{"event": "purchase", "within": "3 days", "revenue": ["amount"]}');
SELECT pg_temp.try_sequence('{"event": "purchase", "within": "3 days", "revenue": "amount"}');

-- two triggers with goals on purchase: browse (7 days, revenue "amount") and cart (1 day, only
-- purchases of plan pro, also the event "order"); a trigger without a goal; a sequence with one
INSERT INTO microtrigger.contacts (user_id, email)
SELECT 'u' || i, 'u' || i || '@example.com' FROM generate_series(1, 12) i;
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('browse', '{"event": "page_view", "cooldown": 0, "goal": {"event": "purchase", "within": "7 days", "revenue": "amount"},
              "actions": [{"send_email": {"subject": "Seen something?", "text": "x"}}]}'),
 ('cart', '{"event": "add_to_cart", "cooldown": 0, "goal": {"event": ["purchase", "order"], "within": "1 day", "condition": {"plan": "pro"}},
            "actions": [{"send_email": {"subject": "Your cart", "text": "x"}}]}'),
 ('nogoal', '{"event": "signup", "cooldown": 0, "actions": [{"send_email": {"subject": "Welcome", "text": "x"}}]}');
INSERT INTO microtrigger.sequences (name, definition) VALUES ('onboarding',
 '{"steps": [{"send_email": {"subject": "Step one", "text": "x"}}, {"wait": "2 days"},
             {"send_email": {"subject": "Step two", "text": "x"}}],
   "goal": {"event": "upgrade", "within": "3 days"}}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('trial', '{"event": "trial_start", "cooldown": 0, "actions": [{"start_sequence": "onboarding"}]}');

-- the emails, at fixed times (each page_view etc. sends at its own time)
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('u1', 'page_view', '2026-03-01 10:00', '{}'),        -- u1: two browse emails, the later wins
 ('u1', 'page_view', '2026-03-03 10:00', '{}'),
 ('u2', 'page_view', '2026-03-01 10:00', '{}'),        -- u2..u4: window edges
 ('u3', 'page_view', '2026-03-01 10:00', '{}'),
 ('u4', 'page_view', '2026-03-01 10:00', '{}'),
 ('u5', 'page_view', '2026-03-01 10:00', '{}'),        -- u5: the later email is dead
 ('u5', 'page_view', '2026-03-02 10:00', '{}'),
 ('u6', 'page_view', '2026-03-01 10:00', '{}'),        -- u6: the only email was cancelled
 ('u7', 'page_view', '2026-03-01 10:00', '{}'),        -- u7: both triggers, one purchase
 ('u7', 'add_to_cart', '2026-03-01 12:00', '{}'),
 ('u8', 'trial_start', '2026-03-01 10:00', '{}'),      -- u8: the sequence
 ('u10', 'signup', '2026-03-01 10:00', '{}');          -- u10: a trigger without a goal
SELECT microtrigger.run_pending('2026-03-01 13:00');
-- each day's emails are acted on within the day (later than max_lateness they would be stale)
SELECT microtrigger.run_pending('2026-03-02 13:00');
SELECT microtrigger.run_pending('2026-03-03 13:00');
UPDATE microtrigger.outbox SET status = 'dead' WHERE user_id = 'u5' AND send_after = '2026-03-02 10:00';
UPDATE microtrigger.outbox SET status = 'cancelled' WHERE user_id = 'u6';
UPDATE microtrigger.outbox SET experiment = 'subject_test', arm = 'b' WHERE user_id = 'u7' AND trigger_name = 'browse';
SELECT user_id, trigger_name, sequence_name, step, send_after, status FROM microtrigger.outbox ORDER BY user_id, send_after, id;

-- the goal events
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('u1', 'purchase', '2026-03-04 09:00', '{"amount": 49.5}'),
 ('u2', 'purchase', '2026-03-08 10:00', '{"amount": "19.99"}'),    -- exactly 7 days after: counts
 ('u3', 'purchase', '2026-03-08 10:00:01', '{"amount": 5}'),       -- 7 days and 1 s: too late
 ('u4', 'purchase', '2026-03-01 10:00', '{"amount": "abc"}'),      -- the same instant: not after
 ('u4', 'purchase', '2026-03-01 10:00:01', '{"amount": "abc"}'),   -- one second after: revenue NULL
 ('u5', 'purchase', '2026-03-02 11:00', '{"amount": " -1.5e2 "}'),
 ('u6', 'purchase', '2026-03-02 11:00', '{"amount": 10}'),
 ('u7', 'purchase', '2026-03-01 13:00', '{"plan": "pro", "amount": "NaN"}'),
 ('u7', 'purchase', '2026-03-01 14:00', '{"plan": "basic", "amount": [1]}'),
 ('u9', 'purchase', '2026-03-02 10:00', '{"amount": 1}'),          -- u9: no email at all
 ('u10', 'purchase', '2026-03-02 10:00', '{"amount": 1}'),
 ('u1', 'purchase', '2026-02-28 10:00', '{"amount": 7}');          -- before any email of u1
SELECT microtrigger.run_pending('2026-03-09 00:00');
SELECT c.user_id, e.occurred_at AS goal_at, c.converted_at = e.occurred_at AS at_event, c.trigger_name,
       c.sequence_name, c.step, o.send_after AS email_at, o.status, c.experiment, c.arm, c.revenue
FROM microtrigger.conversions c JOIN microtrigger.events e ON e.id = c.event_id
LEFT JOIN microtrigger.outbox o ON o.id = c.outbox_id
ORDER BY c.user_id, e.occurred_at, c.trigger_name;

-- run twice: nothing more
SELECT microtrigger.run_pending('2026-03-09 00:00');
SELECT microtrigger.run_pending('2026-03-10 00:00');
SELECT count(*) AS conversions FROM microtrigger.conversions;

-- the sequence: step 1 emails at 03-01 10:00, step 3 (the second email) at 03-03 10:00
SELECT microtrigger.run_pending('2026-03-04 00:00');
SELECT user_id, sequence_name, step, send_after FROM microtrigger.outbox WHERE sequence_name IS NOT NULL ORDER BY send_after;
-- as_of before the goal event: nothing yet, the event waits; a later run attributes it
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('u8', 'upgrade', '2026-03-05 12:00');
SELECT microtrigger.run_pending('2026-03-05 11:59');
-- (more runs: the watermark moves past the event meanwhile)
SELECT microtrigger.run_pending('2026-03-05 11:59');
SELECT microtrigger.run_pending('2026-03-05 11:59');
SELECT count(*) AS sequence_conversions FROM microtrigger.conversions WHERE sequence_name IS NOT NULL;
SELECT count(*) AS waiting FROM microtrigger.attribution_deferred;
SELECT microtrigger.run_pending('2026-03-05 12:00');
SELECT c.user_id, c.trigger_name, c.sequence_name, c.step, o.step AS email_step, o.send_after, c.revenue
FROM microtrigger.conversions c JOIN microtrigger.outbox o ON o.id = c.outbox_id WHERE c.sequence_name IS NOT NULL;
SELECT count(*) AS waiting FROM microtrigger.attribution_deferred;

-- a late goal event: inserted after the run, occurred in the past, attributed by the next run
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('u5', 'purchase', '2026-03-03 09:00', '{"amount": 3}');
SELECT microtrigger.run_pending('2026-03-10 00:00');
SELECT c.user_id, c.converted_at, c.trigger_name, o.send_after AS email_at, c.revenue
FROM microtrigger.conversions c JOIN microtrigger.outbox o ON o.id = c.outbox_id
WHERE c.user_id = 'u5' ORDER BY c.converted_at;

-- holdouts: a holdout decision of the trigger (experiment in its detail, the arm in assignments)
-- in the window gives a conversion with outbox_id NULL; the later of an email and a holdout
-- decision wins (u3: the decision after its email; u4: the decision before its email)
INSERT INTO microtrigger.assignments (experiment, user_id, arm, assigned_at) VALUES
 ('subject_test', 'u11', 'holdout', '2026-03-01 09:00');
INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome, detail) VALUES
 ('2026-03-01 10:00', 'u11', 'browse', 'holdout', '{"experiment": "subject_test"}'),
 ('2026-03-01 10:00', 'u12', 'browse', 'holdout', '{"experiment": "other_test"}'),
 ('2026-03-01 10:00', 'u12', 'nogoal', 'holdout', '{"experiment": "other_test"}'),
 ('2026-03-02 10:00', 'u3', 'browse', 'holdout', '{"experiment": "subject_test"}'),
 ('2026-02-28 10:00', 'u4', 'browse', 'holdout', '{"experiment": "subject_test"}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('u11', 'purchase', '2026-03-02 10:00', '{"amount": 12}'),
 ('u12', 'purchase', '2026-03-09 10:00:01', '{"amount": 12}'),     -- past the 7 days
 ('u12', 'purchase', '2026-03-02 10:00', '{"amount": 2}'),
 ('u3', 'purchase', '2026-03-02 12:00', '{"amount": 4}'),
 ('u4', 'purchase', '2026-03-02 12:00', '{"amount": 4}');
SELECT microtrigger.run_pending('2026-03-10 00:00');
SELECT c.user_id, c.converted_at, c.trigger_name, c.outbox_id IS NULL AS holdout, o.send_after AS email_at,
       c.experiment, c.arm, c.revenue
FROM microtrigger.conversions c LEFT JOIN microtrigger.outbox o ON o.id = c.outbox_id
WHERE c.converted_at = '2026-03-02 12:00' OR c.outbox_id IS NULL ORDER BY c.user_id, c.converted_at;

-- a disabled trigger's goal attributes nothing
UPDATE microtrigger.triggers SET enabled = false WHERE name = 'browse';
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('u1', 'purchase', '2026-03-05 09:00', '{"amount": 1}');
SELECT microtrigger.run_pending('2026-03-10 00:00');
SELECT count(*) AS after_disable FROM microtrigger.conversions c JOIN microtrigger.events e ON e.id = c.event_id
WHERE e.occurred_at = '2026-03-05 09:00';

-- the watermark never passes the highest event id, and nothing is left waiting
SELECT watermark <= (SELECT max(id) FROM microtrigger.events) AS watermark_ok,
       pending_to <= (SELECT max(id) FROM microtrigger.events) AS pending_ok
FROM microtrigger.attribution_state;
SELECT count(*) AS waiting FROM microtrigger.attribution_deferred;
-- one conversion per goal event and trigger or sequence
SELECT count(*) = count(DISTINCT (event_id, trigger_name, sequence_name)) AS once FROM microtrigger.conversions;
