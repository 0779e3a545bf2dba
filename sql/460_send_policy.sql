SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- The policy stage's timing (docs/timing.md): send windows and quiet hours hold an email to the
-- window's next opening in the contact's zone (send_after moved, the decision says held_until),
-- DST-correct; transactional email is exempt; the render context (local_hour, weekday, daypart,
-- device) is that of the moment of sending, and variants choose on it; sequence waits count from
-- the previous step's send time; send_time "optimal" first, then the window.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

INSERT INTO microtrigger.contacts (user_id, email, timezone) VALUES
 ('ny', 'ny@example.com', 'America/New_York'), ('kol', 'kol@example.com', 'Asia/Kolkata'),
 ('cha', 'cha@example.com', 'Pacific/Chatham'), ('utc', 'utc@example.com', 'UTC'),
 ('par', 'par@example.com', 'Europe/Paris'), ('late', 'late@example.com', 'UTC'),
 ('tx', 'tx@example.com', 'UTC'), ('own', 'own@example.com', 'UTC'),
 ('m1', 'm1@example.com', 'UTC'), ('m2', 'm2@example.com', 'UTC'), ('m3', 'm3@example.com', 'UTC'),
 ('m4', 'm4@example.com', 'UTC'), ('m5', 'm5@example.com', 'America/New_York'),
 ('d1', 'd1@example.com', 'UTC'), ('d2', 'd2@example.com', 'UTC'), ('d3', 'd3@example.com', 'UTC'),
 ('d4', 'd4@example.com', 'UTC'), ('d5', 'd5@example.com', 'UTC'),
 ('j1', 'j1@example.com', 'UTC'),
 ('o1', 'o1@example.com', 'Asia/Kolkata'), ('o2', 'o2@example.com', 'UTC'), ('o3', 'o3@example.com', 'UTC');
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('tv_morning', 'value', 'm'), ('tv_afternoon', 'urgency', 'a'), ('tv_evening', 'social proof', 'e'),
 ('tv_default', 'default', 'd'), ('td_short', 'short', 's'), ('td_long', 'detailed', 'l');
INSERT INTO microtrigger.sequences (name, definition) VALUES ('s_win', '{"steps": [
  {"send_email": {"subject": "first {{local_hour}}", "text": "1", "send_window": {"hours": ["09:00", "17:00"]}}},
  {"wait": "1 day"},
  {"send_email": {"subject": "second {{local_hour}}", "text": "2", "send_window": {"hours": ["09:00", "17:00"]}}}]}');

INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('t_win',  '{"event": "w", "send_window": {"hours": ["09:00", "21:00"]},
              "actions": [{"send_email": {"subject": "{{local_hour}} {{weekday}} {{daypart}}", "text": "x"}}]}'),
 ('t_wrap', '{"event": "wrap", "cooldown": 0, "send_window": {"hours": ["18:00", "02:00"], "days": ["fri"]},
              "actions": [{"send_email": {"subject": "{{local_hour}} {{weekday}}", "text": "x"}}]}'),
 ('t_plain', '{"event": "p", "actions": [{"send_email": {"subject": "{{local_hour}} {{daypart}}", "text": "x"}}]}'),
 ('t_tx',   '{"event": "ptx", "transactional": true, "actions": [{"send_email": {"subject": "tx {{local_hour}}", "text": "x"}}]}'),
 ('t_own',  '{"event": "own", "actions": [{"send_email": {"subject": "own {{local_hour}}", "text": "x",
              "send_window": {"hours": ["22:00", "23:30"]}}}]}'),
 ('t_var',  '{"event": "v", "actions": [{"send_email": {"template": "tv_default", "variants": [
              {"when": {"daypart": "morning"}, "template": "tv_morning"},
              {"when": {"daypart": "afternoon"}, "template": "tv_afternoon"},
              {"when": {"daypart": "evening"}, "template": "tv_evening"}]}}]}'),
 ('t_dev',  '{"event": "dv", "actions": [{"send_email": {"template": "td_long", "variants": [
              {"when": {"device": {"$in": ["mobile", "tablet"]}}, "template": "td_short"}]}}]}'),
 ('t_opt',  '{"event": "o", "send_time": "optimal",
              "actions": [{"send_email": {"subject": "opt {{local_hour}}", "text": "x"}}]}'),
 ('t_optw', '{"event": "ow", "send_time": {"optimal": true, "within": "12 hours"},
              "send_window": {"hours": ["09:00", "18:00"]},
              "actions": [{"send_email": {"subject": "optw {{local_hour}}", "text": "x"}}]}'),
 ('t_seq',  '{"event": "j", "actions": [{"start_sequence": "s_win"}]}');
-- an event of a user at `at`, acted on at `at` + `late` (as the worker would)
CREATE FUNCTION pg_temp.act(u text, type text, at timestamptz, params jsonb DEFAULT '{}',
                            late interval DEFAULT '1 minute') RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES (u, type, at, params);
    RETURN microtrigger.run_pending(at + late);
END
$$;
CREATE VIEW pg_temp.mail AS
SELECT o.user_id, o.trigger_name AS trg, o.step, e.occurred_at AS event_at, o.send_after,
       d.detail->>'held_until' AS held_until, d.detail->>'optimal' AS optimal, o.subject
FROM microtrigger.outbox o
LEFT JOIN microtrigger.events e ON e.id = o.source_event_id
LEFT JOIN microtrigger.decisions d ON d.outcome = 'queued' AND (d.detail->>'outbox_id')::bigint = o.id;

-- a 09:00-21:00 window: New York on both days its clocks change (09:00 EDT, then 09:00 EST),
-- Kolkata (+05:30), Chatham (+13:45 until 2024-04-07 03:45, then +12:45), and an email already in
-- the window (not held)
SELECT pg_temp.act('ny', 'w', '2024-03-10 05:00+00');   -- 00:00 EST, the spring-forward day
SELECT pg_temp.act('ny', 'w', '2024-11-03 05:00+00');   -- 01:00 EDT, the fall-back day
SELECT pg_temp.act('kol', 'w', '2024-06-14 00:00+00');  -- 05:30 IST
SELECT pg_temp.act('cha', 'w', '2024-04-06 10:00+00');  -- 23:45 +13:45 on Saturday
SELECT pg_temp.act('par', 'w', '2024-06-14 15:00+00');  -- 17:00 CEST: open
SELECT * FROM pg_temp.mail WHERE trg = 't_win' ORDER BY event_at;

-- a wrapping window open from Friday 18:00 until Saturday 02:00 (UTC): Saturday 01:00 is open (it
-- opened on Friday), Saturday 03:00 waits for the next Friday, Thursday 23:00 too
SELECT pg_temp.act('utc', 'wrap', '2024-06-15 01:00+00');
SELECT pg_temp.act('utc', 'wrap', '2024-06-15 03:00+00');
SELECT pg_temp.act('utc', 'wrap', '2024-06-20 23:00+00');
SELECT * FROM pg_temp.mail WHERE trg = 't_wrap' ORDER BY event_at;

-- quiet hours: the default window of every non-transactional email without its own (t_tx on its
-- own event: two triggers on one event would be one signal)
SET microtrigger.quiet_hours = '21:00-08:00';
SELECT pg_temp.act('utc', 'p', '2024-06-10 23:00+00');  -- held to 08:00
SELECT pg_temp.act('utc', 'ptx', '2024-06-10 23:00+00');
SELECT pg_temp.act('tx', 'p', '2024-06-10 23:00+00');   -- t_plain held, t_tx (transactional) never
SELECT pg_temp.act('tx', 'ptx', '2024-06-10 23:00+00');
SELECT pg_temp.act('par', 'p', '2024-06-11 05:00+00');  -- 07:00 CEST: held to 08:00 CEST
SELECT pg_temp.act('par', 'ptx', '2024-06-11 05:00+00');
-- due at 20:30 (open) but acted on at 21:30 (quiet): it cannot go before it is acted on, so held
SELECT pg_temp.act('late', 'p', '2024-06-10 20:30+00', '{}', '1 hour');
SELECT pg_temp.act('late', 'ptx', '2024-06-10 20:30+00', '{}', '1 hour');
-- its own send_window replaces quiet hours: 22:00-23:30 is open at 22:30
SELECT pg_temp.act('own', 'own', '2024-06-10 22:30+00');
SELECT * FROM pg_temp.mail WHERE trg IN ('t_plain', 't_tx', 't_own') ORDER BY user_id, trg;

-- variants see the moment of sending: morning (value), afternoon (urgency), evening (social
-- proof), night (the default); m4's night email is held by quiet hours and rendered for 08:00;
-- m5 is in New York (14:00 UTC is 10:00 EDT, morning)
RESET microtrigger.quiet_hours;
SELECT pg_temp.act('m1', 'v', '2024-06-10 08:00+00');
SELECT pg_temp.act('m2', 'v', '2024-06-10 14:00+00');
SELECT pg_temp.act('m3', 'v', '2024-06-10 19:00+00');
SELECT pg_temp.act('m4', 'v', '2024-06-10 23:00+00');
SELECT pg_temp.act('m5', 'v', '2024-06-10 14:00+00');
SET microtrigger.quiet_hours = '21:00-08:00';
SELECT pg_temp.act('m4', 'v', '2024-06-11 23:30+00');
RESET microtrigger.quiet_hours;
SELECT user_id, event_at, send_after, subject AS variant FROM pg_temp.mail WHERE trg = 't_var'
ORDER BY user_id, event_at;

-- device: the event's `device` param, else its `user_agent` classified, else the user's latest
-- event that has one (d3: an earlier visit from an iPad); a bot is no device (d4); none (d5)
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('d3', 'visit', '2024-06-10 09:00+00', '{"user_agent": "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"}'),
 ('d3', 'visit', '2024-06-10 09:30+00', '{}');
SELECT pg_temp.act('d1', 'dv', '2024-06-10 10:00+00', '{"user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"}');
SELECT pg_temp.act('d2', 'dv', '2024-06-10 10:00+00', '{"device": "desktop", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"}');
SELECT pg_temp.act('d3', 'dv', '2024-06-10 10:00+00');
SELECT pg_temp.act('d4', 'dv', '2024-06-10 10:00+00', '{"user_agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}');
SELECT pg_temp.act('d5', 'dv', '2024-06-10 10:00+00');
SELECT user_id, subject AS variant FROM pg_temp.mail WHERE trg = 't_dev' ORDER BY user_id;
SELECT e.user_id, microtrigger.render_context(e.id, 't_dev', NULL, '2024-06-10 10:01+00')->>'device' AS device
FROM microtrigger.events e WHERE e.event_type = 'dv' ORDER BY e.user_id;

-- a sequence: its first email (window 09:00-17:00) held from 20:00 to 09:00 the next day; the
-- one-day wait counts from then, so the second is due at 09:00 the day after, not 20:00
SELECT pg_temp.act('j1', 'j', '2024-06-10 20:00+00');
SELECT status, step, next_at FROM microtrigger.journeys WHERE user_id = 'j1';
SELECT microtrigger.run_pending('2024-06-12 09:00+00');
SELECT step, send_after, subject, held_until FROM pg_temp.mail WHERE user_id = 'j1' ORDER BY 1;

-- send_time optimal: o1 (Kolkata) clicks at 19:00 IST; a trigger at 09:30 IST goes at 19:00 IST
-- (optimal true); o2 has no history: its own time (optimal false). o3 clicks at 20:00 UTC; its
-- 12-hour horizon from 10:00 picks 20:00, then its window 09:00-18:00 holds it to 09:00 the next day
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'o1', 'email_click', '2024-06-01 13:30+00'::timestamptz + d * interval '1 day' FROM generate_series(0, 9) d;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'o3', 'email_click', '2024-06-01 20:10+00'::timestamptz + d * interval '1 day' FROM generate_series(0, 9) d;
SELECT pg_temp.act('o1', 'o', '2024-06-14 04:00+00');
SELECT pg_temp.act('o2', 'o', '2024-06-14 04:00+00');
SELECT pg_temp.act('o3', 'ow', '2024-06-14 10:00+00');
SELECT user_id, event_at, send_after, optimal, held_until, subject FROM pg_temp.mail
WHERE trg IN ('t_opt', 't_optw') ORDER BY user_id;
