-- Privilege: functions planted in a writable schema never run as a superuser; a definition's
-- owner guards it (old and new owner); templates are read only by their owner's members; and a
-- least-privilege deployment (grant_author, grant_ingest) works, matching events of an
-- application that may only add them.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

-- Every function of the extension fixes its search_path, but three that run no SQL and resolve
-- no name, and deliver_loop, a procedure that commits (so it cannot have a SET clause) and sets
-- it in every transaction it runs.
SELECT p.oid::regprocedure AS without_search_path
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'microtrigger'
WHERE NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
ORDER BY 1::text;

-- An attacker with CREATE on public (the default before PostgreSQL 15) plants functions that
-- match the extension's calls better than the built-ins do.
CREATE ROLE mt_priv_attacker;
GRANT CREATE ON SCHEMA public TO mt_priv_attacker;
SET ROLE mt_priv_attacker;
-- each planted function says that it ran (a WARNING the expected output does not have: a context
-- query is read-only, so it could not write a row) and returns a marker that would show below
CREATE FUNCTION public.mt_priv_note(planted text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE WARNING 'planted % ran as % (superuser: %)', planted, current_user,
        (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
END $$;
CREATE FUNCTION public.to_jsonb(timestamp) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM public.mt_priv_note('to_jsonb(timestamp)'); RETURN '"1999-01-01T00:00:00"'; END $$;
CREATE FUNCTION public.to_jsonb(record) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM public.mt_priv_note('to_jsonb(record)'); RETURN '{"plan": "PLANTED"}'; END $$;
CREATE FUNCTION public.jsonb_build_object(text, text, text, text, text, text, text, text) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN PERFORM public.mt_priv_note('jsonb_build_object(8 text)'); RETURN '{"planted": true}'; END $$;
CREATE FUNCTION public.jsonb_object_agg(text, boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM public.mt_priv_note('jsonb_object_agg(text,boolean)'); RETURN '{"PLANTED": true}'; END $$;
RESET ROLE;

-- A superuser whose search_path puts public first uses the extension: definitions with a context
-- query, events, run_pending, rendering, explain, segments.
SET search_path = public, pg_catalog;
CREATE TABLE public.mt_priv_crm (user_id text PRIMARY KEY, plan text);
INSERT INTO public.mt_priv_crm VALUES ('p1', 'pro');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('p1', 'p1@example.com');
INSERT INTO microtrigger.templates (name, subject, html_body, text_body) VALUES
 ('plant_mail', 'Hi {{user_id}} on {{plan}}', '<p>{{event.occurred_at}} {{#segments.plant_seg}}member{{/segments.plant_seg}}</p>', 'x');
INSERT INTO microtrigger.segments (name, definition) VALUES
 ('plant_seg', '{"include": [{"event": "visit", "within": "30 days"}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES ('plant_t', '{"event": "visit",
  "context": "SELECT plan FROM public.mt_priv_crm WHERE user_id = $1",
  "actions": [{"send_email": {"template": "plant_mail"}}]}');
SELECT microtrigger.track('p1', 'visit', '{"url": "/pricing"}', '2026-11-02 09:00', 's1') > 0 AS tracked;
SELECT microtrigger.run_pending('2026-11-02 09:05') AS acted;
SELECT subject, html_body FROM microtrigger.outbox WHERE user_id = 'p1';
SELECT microtrigger.render('{{a}}', '{"a": 1}') AS rendered;
SELECT subject FROM microtrigger.render_email('plant_mail', '{"user_id": "p1", "plan": "pro"}');
SELECT outcome FROM microtrigger.explain('p1');
SELECT microtrigger.refresh_segment('plant_seg', '2026-11-03') AS members;
SELECT microtrigger.iso_utc('2026-11-02 09:00'), microtrigger.event_document(e) ->> 'occurred_at' AS occurred_at
FROM microtrigger.events e WHERE user_id = 'p1' AND event_type = 'visit';
RESET search_path;
DELETE FROM microtrigger.triggers; DELETE FROM microtrigger.segments; DELETE FROM microtrigger.templates;
DELETE FROM microtrigger.outbox; DELETE FROM microtrigger.decisions; DELETE FROM microtrigger.firings;
DELETE FROM microtrigger.events; DELETE FROM microtrigger.contacts;
DROP OWNED BY mt_priv_attacker;
REVOKE CREATE ON SCHEMA public FROM mt_priv_attacker;
DROP ROLE mt_priv_attacker;
DROP TABLE public.mt_priv_crm;

-- Two authors and an application, each with only what grant_author / grant_ingest give.
CREATE ROLE mt_priv_alice;
CREATE ROLE mt_priv_bob;
CREATE ROLE mt_priv_app;
SELECT microtrigger.grant_author('mt_priv_alice'), microtrigger.grant_author('mt_priv_bob'),
       microtrigger.grant_ingest('mt_priv_app');
CREATE TABLE public.mt_priv_crm (user_id text PRIMARY KEY, plan text);
INSERT INTO public.mt_priv_crm VALUES ('a1', 'pro');
GRANT SELECT ON public.mt_priv_crm TO mt_priv_alice;
INSERT INTO microtrigger.contacts (user_id, email) VALUES
 ('a1', 'a1@example.com'), ('a2', 'a2@example.com'), ('a3', 'a3@example.com');

-- Alice writes definitions she owns.
SET ROLE mt_priv_alice;
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('alice_secret', 'Secret', 'the launch code is 42'),
 ('alice_mail', 'Hi {{user_id}}, {{plan}}', '{{> alice_secret}}'),
 ('alice_step', 'Step one', 'welcome');
INSERT INTO microtrigger.segments (name, definition) VALUES
 ('alice_seg', '{"include": [{"event": "visit", "within": "30 days"}]}');
INSERT INTO microtrigger.sequences (name, definition) VALUES
 ('alice_seq', '{"steps": [{"wait": "1 hour"}, {"send_email": {"template": "alice_step"}}], "exit": {"event": "purchase"}}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('alice_t', '{"event": "visit", "transactional": true, "context": "SELECT plan FROM public.mt_priv_crm WHERE user_id = $1",
   "actions": [{"send_email": {"template": "alice_mail"}}]}'),
 ('alice_start', '{"event": "signup", "actions": [{"start_sequence": "alice_seq"}]}');
SELECT name, owner FROM microtrigger.templates ORDER BY name;
SELECT name, owner FROM microtrigger.sequences UNION ALL SELECT name, owner FROM microtrigger.segments ORDER BY 1;
-- an author reads no events, contacts or outbox, and adds no events
SELECT count(*) FROM microtrigger.events;
SELECT count(*) FROM microtrigger.outbox;
SELECT count(*) FROM microtrigger.contacts;
INSERT INTO microtrigger.events (user_id, event_type) VALUES ('a1', 'visit');
RESET ROLE;

-- Bob can neither take over, change, disable nor delete what Alice owns.
SET ROLE mt_priv_bob;
\set VERBOSITY default
UPDATE microtrigger.triggers SET owner = 'mt_priv_bob', definition = '{"event": "visit", "context": "SELECT 1", "actions": [{"start_sequence": "alice_seq"}]}'
 WHERE name = 'alice_t';
UPDATE microtrigger.triggers SET enabled = false WHERE name = 'alice_t';
DELETE FROM microtrigger.triggers WHERE name = 'alice_t';
INSERT INTO microtrigger.triggers (name, definition, owner) VALUES
 ('bob_as_alice', '{"event": "visit", "actions": [{"start_sequence": "alice_seq"}]}', 'mt_priv_alice');
UPDATE microtrigger.sequences SET definition = '{"steps": [{"wait": "1 day"}]}' WHERE name = 'alice_seq';
DELETE FROM microtrigger.segments WHERE name = 'alice_seg';
-- Alice's templates are invisible to him: not in SELECT, not as a partial, not by name
SELECT count(*) AS templates_bob_sees FROM microtrigger.templates;
SELECT microtrigger.render('[{{> alice_secret}}]', '{}') AS partial_from_bob;
SELECT subject FROM microtrigger.render_email('alice_secret', '{}');
UPDATE microtrigger.templates SET text_body = 'changed by bob' WHERE name = 'alice_secret';
UPDATE microtrigger.templates SET text_body = 'changed by bob';
DELETE FROM microtrigger.templates;
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bob_uses_alice', '{"event": "visit", "actions": [{"send_email": {"template": "alice_mail"}}]}');
-- his own template pulling in hers renders without it
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('bob_mail', 'Bob', '[{{> alice_secret}}]');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bob_t', '{"event": "visit", "transactional": true, "actions": [{"send_email": {"template": "bob_mail"}}]}'),
 ('bob_ctx', '{"event": "visit", "transactional": true, "context": "SELECT plan FROM public.mt_priv_crm WHERE user_id = $1",
   "actions": [{"send_email": {"template": "bob_mail"}}]}');
\set VERBOSITY terse
RESET ROLE;
-- a superuser cannot make Bob's trigger use Alice's template either
INSERT INTO microtrigger.triggers (name, definition, owner) VALUES
 ('bob_uses_alice', '{"event": "visit", "actions": [{"send_email": {"template": "alice_mail"}}]}', 'mt_priv_bob');

-- The application adds events by INSERT, COPY and track(), and nothing else.
SET ROLE mt_priv_app;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('a1', 'visit', '2026-11-02 09:00');
COPY microtrigger.events (user_id, event_type, occurred_at) FROM stdin;
a2	visit	2026-11-02 09:01
a3	signup	2026-11-02 09:02
\.
SELECT microtrigger.track('a3', 'noise', '{}', '2026-11-02 09:03') > 0 AS tracked;
SELECT count(*) FROM microtrigger.events;
SELECT count(*) FROM microtrigger.triggers;
UPDATE microtrigger.outbox SET subject = 'rewritten';
SELECT microtrigger.run_pending('2026-11-02 10:00');
RESET ROLE;
-- its events were matched (no rule_error), the segment follows them
SELECT trigger_name, user_id, state FROM microtrigger.firings ORDER BY trigger_name, user_id;
SELECT count(*) AS rule_errors FROM microtrigger.decisions WHERE outcome = 'rule_error';
SELECT segment, user_id FROM microtrigger.segment_members ORDER BY 1, 2;

-- Acting: Alice's context query runs as Alice; Bob's is denied; Bob's email lacks her partial.
SELECT microtrigger.run_pending('2026-11-02 09:30') AS acted;
SELECT trigger_name, user_id, outcome FROM microtrigger.decisions ORDER BY trigger_name, user_id, outcome;
SELECT trigger_name, user_id, subject, text_body FROM microtrigger.outbox ORDER BY trigger_name, user_id;
-- a template given away later is refused when acting, with its own outcome
UPDATE microtrigger.templates SET owner = 'mt_priv_bob' WHERE name = 'alice_step';

-- An exit event from the application ends Alice's journey and cancels its queued email.
SELECT microtrigger.run_pending('2026-11-02 10:05') AS acted;
SELECT outcome, detail ->> 'template' AS template FROM microtrigger.decisions WHERE sequence_name = 'alice_seq' ORDER BY id;
UPDATE microtrigger.templates SET owner = 'mt_priv_alice' WHERE name = 'alice_step';
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('a1', 'signup', '2026-11-02 10:10');
SELECT microtrigger.run_pending('2026-11-02 11:15') AS acted;
SELECT microtrigger.run_pending('2026-11-02 11:16') AS acted;
SELECT user_id, status FROM microtrigger.outbox WHERE sequence_name = 'alice_seq';
SET ROLE mt_priv_app;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('a1', 'purchase', '2026-11-02 11:20');
RESET ROLE;
SELECT user_id, status, exit_reason IS NOT NULL AS exited_by_event FROM microtrigger.journeys WHERE user_id = 'a1';
SELECT user_id, status FROM microtrigger.outbox WHERE sequence_name = 'alice_seq';

-- Authors read decisions (their own and others': decisions are the engine's log).
SET ROLE mt_priv_alice;
SELECT count(*) > 0 AS alice_reads_decisions FROM microtrigger.decisions;
SELECT count(*) > 0 AS alice_explains FROM microtrigger.explain('a1');
-- Alice may disable and delete her own trigger
UPDATE microtrigger.triggers SET enabled = false WHERE name = 'alice_t';
DELETE FROM microtrigger.triggers WHERE name = 'alice_t';
RESET ROLE;

DROP TABLE public.mt_priv_crm;
DROP OWNED BY mt_priv_alice, mt_priv_bob, mt_priv_app;
DROP ROLE mt_priv_alice, mt_priv_bob, mt_priv_app;
