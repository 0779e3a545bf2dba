-- Time limits: durations are at most 10 years (refused when written, 22023 with the JSON path),
-- and events at the ends of time (±infinity, the first and the last days PostgreSQL can store)
-- never leave a row that cannot be read: what cannot be scheduled becomes an 'unschedulable'
-- decision, the event is kept, and every table (so pg_dump) stays readable.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

-- SQLSTATE and message of a definition written to a table, or 'ok' (the row is not kept).
CREATE FUNCTION pg_temp.try_definition(p_table text, p_def jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('INSERT INTO microtrigger.%I (name, definition) VALUES (''probe'', $1)', p_table) USING p_def;
    EXECUTE format('DELETE FROM microtrigger.%I WHERE name = ''probe''', p_table);
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the longest duration is 10 years (of 365.25 days): exactly that is fine, a second more is not
SELECT what, pg_temp.try_definition(tab, def::jsonb) AS result FROM (VALUES
 ('delay 10 years',          'triggers',  '{"event": "e", "delay": "10 years", "actions": [{"send_email": {"subject": "s", "text": "t"}}]}'),
 ('delay 10 years 1 second', 'triggers',  '{"event": "e", "delay": "10 years 1 second", "actions": [{"send_email": {"subject": "s", "text": "t"}}]}'),
 ('delay in seconds',        'triggers',  '{"event": "e", "delay": 315576001, "actions": [{"send_email": {"subject": "s", "text": "t"}}]}'),
 ('cooldown',                'triggers',  '{"event": "e", "cooldown": "3653 days", "actions": [{"send_email": {"subject": "s", "text": "t"}}]}'),
 ('unless within',           'triggers',  '{"event": "e", "unless": {"event": "x", "within": "11 years"}, "actions": [{"send_email": {"subject": "s", "text": "t"}}]}'),
 ('history within',          'triggers',  '{"event": "e", "history": [{"event": "x", "within": "200 years"}], "actions": [{"send_email": {"subject": "s", "text": "t"}}]}'),
 ('session min_duration',    'triggers',  '{"event": "e", "session": {"min_duration": "87700 hours"}, "actions": [{"send_email": {"subject": "s", "text": "t"}}]}'),
 ('sequence wait',           'sequences', '{"steps": [{"send_email": {"subject": "s", "text": "t"}}, {"wait": "123 months"}]}'),
 ('sequence branch history', 'sequences', '{"steps": [{"branch": [{"if": {"history": {"event": "x", "within": "1e6 days"}}, "steps": [{"wait": 1}]}]}]}'),
 ('sequence reentry',        'sequences', '{"steps": [{"wait": 1}], "reentry": "522 weeks"}'),
 ('segment within',          'segments',  '{"include": [{"event": "x", "within": "99999 days"}]}'),
 ('segment exclude within',  'segments',  '{"include": [{"event": "x"}], "exclude": [{"event": "y", "within": 1e12}]}')
) AS t(what, tab, def);

-- one user per end of time, each with one "visit" (the triggers are transactional: each of them
-- mails on the same visit, which the one-email-per-signal rule allows only to transactional ones)
INSERT INTO microtrigger.contacts (user_id, email) VALUES
 ('u_begin', 'begin@example.com'), ('u_end', 'end@example.com'),
 ('u_inf', 'inf@example.com'), ('u_ninf', 'ninf@example.com');
INSERT INTO microtrigger.sequences (name, definition) VALUES ('s_wait', '{
  "steps": [{"send_email": {"subject": "first", "text": "1"}}, {"wait": "30 days"},
            {"send_email": {"subject": "second", "text": "2"}}],
  "reentry": "10 years"}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('t_delay',    '{"event": "visit", "transactional": true, "delay": "7 days", "actions": [{"send_email": {"subject": "d", "text": "d"}}]}'),
 ('t_cooldown', '{"event": "visit", "transactional": true, "cooldown": "10 years", "actions": [{"send_email": {"subject": "c", "text": "c"}}]}'),
 ('t_unless',   '{"event": "visit", "transactional": true, "unless": {"event": "buy", "within": "30 days"}, "actions": [{"send_email": {"subject": "u", "text": "u"}}]}'),
 ('t_history',  '{"event": "visit", "transactional": true, "history": [{"event": "visit", "within": "10 years"}], "actions": [{"send_email": {"subject": "h", "text": "h"}}]}'),
 ('t_session',  '{"event": "visit", "transactional": true, "session": {"min_depth": 0, "min_duration": "5 minutes"}, "actions": [{"send_email": {"subject": "x", "text": "x"}}]}'),
 ('t_sequence', '{"event": "visit", "transactional": true, "actions": [{"start_sequence": "s_wait"}]}'),
 ('t_changed',  '{"event": "visit", "transactional": true, "actions": [{"send_email": {"subject": "g", "text": "g"}}]}');
INSERT INTO microtrigger.segments (name, definition) VALUES
 ('seg_recent', '{"include": [{"event": "visit", "within": "30 days"}]}');
SELECT microtrigger.refresh_segment('seg_recent', '2024-01-01');

-- a session whose first event is at -infinity (on no timeline) gives no infinite duration
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, session_id) VALUES
 ('u_begin', 'page', '-infinity', 'sess'), ('u_begin', 'page', '2024-01-01 00:00', 'sess');
-- the INSERT of events at the ends of time succeeds and keeps every event
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, session_id) VALUES
 ('u_begin', 'visit', '4714-11-24 00:00:00+00 BC', NULL),   -- the first day PostgreSQL stores
 ('u_end',   'visit', '294276-12-31 00:00:00+00', NULL),    -- the last day
 ('u_inf',   'visit', 'infinity', NULL),
 ('u_ninf',  'visit', '-infinity', NULL),
 ('u_begin', 'visit', '2024-01-01 00:10', 'sess');          -- 10 minutes into a session from -infinity
SELECT user_id, occurred_at FROM microtrigger.events WHERE event_type = 'visit' ORDER BY id;

-- a firing written with delay 0 becomes unschedulable when the delay is changed afterwards
UPDATE microtrigger.triggers SET definition = jsonb_set(definition, '{delay}', '"30 days"')
WHERE name = 't_changed';

-- what ingest decided: no firing for ±infinity, none past the last timestamp
SELECT user_id, trigger_name, event_at, due_at, is_absence FROM microtrigger.firings
ORDER BY user_id, trigger_name, event_at;
SELECT user_id, trigger_name, detail->>'field' AS field, detail->>'stage' AS stage
FROM microtrigger.decisions WHERE outcome = 'unschedulable' ORDER BY user_id, trigger_name;

-- as_of must be on the timeline
SELECT microtrigger.run_pending('infinity');
SELECT microtrigger.refresh_segment('seg_recent', '-infinity');

-- act at the beginning of time (twice: the journey's second step and the unless window are 30
-- days later), on the 2024 visits when they happen (a firing acted on more than
-- microtrigger.max_lateness after its trigger time would be stale), and at the end
SELECT microtrigger.run_pending('4714-11-24 01:00:00+00 BC') > 0 AS acted;
SELECT microtrigger.run_pending('4714-12-25 00:00:00+00 BC') > 0 AS acted;
SELECT microtrigger.run_pending('2024-01-02') > 0 AS acted;
SELECT microtrigger.run_pending('2024-02-01') > 0 AS acted;
SELECT microtrigger.run_pending('294276-12-31 12:00:00+00') > 0 AS acted;

SELECT user_id, trigger_name, sequence_name, outcome, detail->>'field' AS field, detail->>'stage' AS stage
FROM microtrigger.decisions ORDER BY user_id, coalesce(trigger_name, ''), id;
SELECT DISTINCT detail->>'field' AS field, detail->>'error' AS error FROM microtrigger.decisions
WHERE outcome = 'unschedulable' ORDER BY 1;
SELECT user_id, coalesce(trigger_name, sequence_name) AS source, step, subject, send_after, status
FROM microtrigger.outbox ORDER BY user_id, source, step NULLS FIRST, subject;
SELECT user_id, sequence_name, status, step, next_at, started_at, ended_at, exit_reason
FROM microtrigger.journeys ORDER BY user_id;
-- the last day's visit is in the 30-day window for good: it would leave it past the last timestamp
SELECT segment, user_id, entered_at FROM microtrigger.segment_members ORDER BY user_id;
SELECT count(*) AS scheduled FROM microtrigger.segment_schedule;
SELECT count(*) AS segment_errors FROM microtrigger.decisions WHERE outcome = 'segment_error';

-- the from-scratch computation agrees, at both ends, and does not fail on them
SELECT microtrigger.refresh_segment('seg_recent', '294276-12-31 12:00:00+00') AS members_at_end;
SELECT microtrigger.refresh_segment('seg_recent', '4714-11-25 00:00:00+00 BC') AS members_at_begin;
SELECT user_id, entered_at FROM microtrigger.segment_members ORDER BY user_id;
SELECT user_id, changes_at FROM microtrigger.segment_schedule ORDER BY user_id;

-- every row of every microtrigger table can be read back (what pg_dump does)
CREATE FUNCTION pg_temp.unreadable_tables() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t text;
    bad text[] := '{}';
    n int := 0;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'microtrigger' ORDER BY tablename LOOP
        BEGIN
            EXECUTE format('SELECT count(x::text) FROM microtrigger.%I x', t);
        EXCEPTION WHEN others THEN
            bad := bad || (t || ': ' || SQLERRM);
        END;
        n := n + 1;
    END LOOP;
    RETURN CASE WHEN n < 12 THEN 'only ' || n || ' tables' WHEN bad = '{}' THEN 'all readable'
                ELSE array_to_string(bad, '; ') END;
END $$;
SELECT pg_temp.unreadable_tables();
