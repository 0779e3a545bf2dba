-- An event INSERT is never slow or failing because of a rule: regex features that make matching
-- super-linear are refused when a definition is written; at ingest a $regex examines a bounded
-- input and what it cannot decide is re-checked by the worker (three-valued logic); big $in lists
-- and big event-type lists cost O(log n) per event; a cancel propagates as a cancel; and an error
-- caught by a savepoint does not leave the rule cache pinned.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('ib_t', 'Hi', 'x');
INSERT INTO microtrigger.contacts (user_id, email)
SELECT 'ib' || i, 'ib' || i || '@example.com' FROM generate_series(1, 9) i;

-- 1. Back-references and lookahead are refused when written (22023, with the JSON path); other
--    features, lookbehind included, are accepted.
\set VERBOSITY default
CREATE FUNCTION pg_temp.try_trigger(p_name text, p_condition jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.triggers (name, definition)
    VALUES (p_name, jsonb_build_object('event', 'ib_try', 'condition', p_condition,
                                       'actions', '[{"send_email": {"template": "ib_t"}}]'::jsonb));
    DELETE FROM microtrigger.triggers WHERE name = p_name;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.try_trigger('ib_backref', '{"p": {"$regex": "^(.+)\\1\\1$"}}');
SELECT pg_temp.try_trigger('ib_backref_nested', '{"$or": [{"a": 1}, {"p": {"$not": {"$regex": "(a)x\\1", "$options": "i"}}}]}');
SELECT pg_temp.try_trigger('ib_lookahead', '{"p": {"$regex": "^(?=.*pricing)"}}');
SELECT pg_temp.try_trigger('ib_neg_lookahead', '{"p": {"$elemMatch": {"$regex": "^/(?!blog)"}}}');
SELECT pg_temp.try_trigger('ib_lookbehind', '{"p": {"$regex": "(?<=/)pricing(?<!x)"}}');
SELECT pg_temp.try_trigger('ib_literal_parens', '{"p": {"$regex": "\\(?=x\\)[(?!]\\\\1"}}');
SELECT pg_temp.try_trigger('ib_octal', '{"p": {"$regex": "a\\0101"}}');
SELECT pg_temp.try_trigger('ib_quoted', '{"p": {"$regex": "***=(?=x)\\1"}}');
-- history clauses, sequences and segments are checked the same way
INSERT INTO microtrigger.triggers (name, definition) VALUES ('ib_history_backref',
 '{"event": "ib_try", "history": [{"event": "ib_try", "within": "1 day", "condition": {"u": {"$regex": "(x)\\1"}}}], "actions": [{"send_email": {"template": "ib_t"}}]}');
INSERT INTO microtrigger.sequences (name, definition) VALUES ('ib_sequence_lookahead',
 '{"steps": [{"send_email": {"template": "ib_t"}}], "exit": {"event": "ib_try", "condition": {"u": {"$regex": "a(?=b)"}}}}');
INSERT INTO microtrigger.segments (name, definition) VALUES ('ib_segment_backref',
 '{"include": [{"event": "ib_try", "condition": {"u": {"$regex": "(a)\\1"}}}]}');
-- matches() uses the same compiler
SELECT microtrigger.matches('{"p": {"$regex": "(ab)\\1"}}', '{"p": "abab"}');
SELECT microtrigger.matches('{"p": {"$regex": "(?<=a)b"}}', '{"p": "ab"}') AS lookbehind_works;
\set VERBOSITY terse
DELETE FROM microtrigger.triggers WHERE name LIKE 'ib\_%';
DELETE FROM microtrigger.sequences WHERE name LIKE 'ib\_%';
DELETE FROM microtrigger.segments WHERE name LIKE 'ib\_%';

-- 2. An expensive regex over a long param: the INSERT stays fast under the application's
--    statement_timeout and the event is kept. (This pattern costs about 60 us per character in
--    PostgreSQL's engine: some 20 s over these 320,000 characters if ingest examined them.)
CREATE TEMP TABLE ib_subject AS
SELECT translate(string_agg(md5(g::text), '' ORDER BY g), '0123456789abcdef', 'abababababababab') AS s
FROM generate_series(1, 10000) g;
SELECT length(s) AS subject_length FROM ib_subject;
INSERT INTO microtrigger.triggers (name, definition) VALUES ('ib_slow',
 '{"event": "ib_long", "condition": {"p": {"$regex": "(a[ab]{255}){32}z|(b[ab]{255}){32}z"}}, "cooldown": 0, "actions": [{"send_email": {"template": "ib_t"}}]}');
SET statement_timeout = '5s';
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT 'ib1', 'ib_long', '2030-01-01 10:00', jsonb_build_object('p', s) FROM ib_subject;
RESET statement_timeout;
SELECT count(*) AS long_event_kept FROM microtrigger.events WHERE event_type = 'ib_long';
-- not decided at ingest: the firing waits for the worker to re-check it on the stored event
SELECT trigger_name, state, recheck FROM microtrigger.firings WHERE trigger_name = 'ib_slow';
DELETE FROM microtrigger.firings WHERE trigger_name = 'ib_slow';
DELETE FROM microtrigger.triggers WHERE name = 'ib_slow';

-- 3. A cancel inside the regex engine propagates as a cancel (57014). With the bound lifted
--    (regex_max_input = -1) ingest examines the whole subject, so under statement_timeout the
--    INSERT is cancelled — it does not "succeed" with the rule taken as false — and the session
--    goes on normally (no stale cancel for the next statement, no half-open subtransaction).
SET microtrigger.regex_max_input = -1;
INSERT INTO microtrigger.triggers (name, definition) VALUES ('ib_slow_q',
 '{"event": "ib_long_q", "condition": {"p": {"$regex": "(a[ab]{255}){32}z|(b[ab]{255}){32}z|q$"}}, "cooldown": 0, "actions": [{"send_email": {"template": "ib_t"}}]}');
\set VERBOSITY default
SET statement_timeout = '500ms';
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT 'ib1', 'ib_long_q', '2030-01-01 10:00', jsonb_build_object('p', s || 'q') FROM ib_subject;
RESET statement_timeout;
SELECT 'the next statement runs' AS after_cancel;
SELECT count(*) AS cancelled_events, (SELECT count(*) FROM microtrigger.firings WHERE trigger_name = 'ib_slow_q') AS firings
FROM microtrigger.events WHERE event_type = 'ib_long_q';
RESET microtrigger.regex_max_input;
DELETE FROM microtrigger.triggers WHERE name = 'ib_slow_q';
-- matches() is not ingest and never bounded: the same pattern is cancelled the same way
SET statement_timeout = '300ms';
SELECT microtrigger.matches('{"p": {"$regex": "(a[ab]{255}){32}z|(b[ab]{255}){32}z|q$"}}', jsonb_build_object('p', s || 'q'))
FROM ib_subject;
RESET statement_timeout;
SELECT 'the next statement runs' AS after_cancel;
\set VERBOSITY terse

-- 4. Three-valued evaluation at ingest. With microtrigger.regex_max_input = 16, a $regex does not
--    examine a longer subject at ingest: its result is unknown, and unknown goes through
--    $and/$or/$not/$nor/$elemMatch by Kleene logic. A condition that is false whatever the regex
--    says fires nothing, one that is true fires as usual, and an unknown one writes a firing
--    marked recheck: the worker evaluates it in full on the stored event before acting.
SET microtrigger.regex_max_input = 16;
SHOW microtrigger.regex_max_input;
INSERT INTO microtrigger.triggers (name, definition)
-- (transactional: several of them mail on the same event, which one email per signal allows
-- only to transactional triggers)
SELECT name, jsonb_build_object('event', 'ib_k', 'condition', c::jsonb, 'cooldown', 0, 'transactional', true,
                                'actions', '[{"send_email": {"template": "ib_t"}}]'::jsonb)
FROM (VALUES
 ('ib_k_regex', '{"p": {"$regex": "^x+y$"}}'),
 ('ib_k_or',    '{"$or": [{"p": {"$regex": "^x+y$"}}, {"q": 1}]}'),
 ('ib_k_and',   '{"p": {"$regex": "^x+y$"}, "q": 1}'),
 ('ib_k_not',   '{"p": {"$not": {"$regex": "^x+y$"}}}'),
 ('ib_k_nor',   '{"$nor": [{"p": {"$regex": "^x+y$"}}]}'),
 ('ib_k_elem',  '{"tags": {"$elemMatch": {"$regex": "^x+y$"}}}')) AS t(name, c);
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('ib2', 'ib_k', '2030-01-02 10:00', jsonb_build_object('label', 'long match, q 2', 'q', 2, 'p', repeat('x', 20) || 'y')),
 ('ib3', 'ib_k', '2030-01-02 10:01', jsonb_build_object('label', 'long miss, q 1', 'q', 1, 'p', repeat('x', 20) || 'z')),
 ('ib4', 'ib_k', '2030-01-02 10:02', jsonb_build_object('label', 'short match, q 1', 'q', 1, 'p', 'xxy')),
 ('ib5', 'ib_k', '2030-01-02 10:03', jsonb_build_object('label', 'tags: short miss, long match', 'tags', jsonb_build_array('xz', repeat('x', 30) || 'y'))),
 ('ib6', 'ib_k', '2030-01-02 10:04', jsonb_build_object('label', 'tags: short match, long miss', 'tags', jsonb_build_array(repeat('x', 30) || 'z', 'xy')));
SELECT e.params->>'label' AS event, f.trigger_name, f.recheck
FROM microtrigger.firings f JOIN microtrigger.events e ON e.id = f.source_event_id
WHERE f.trigger_name LIKE 'ib_k%' ORDER BY e.occurred_at, f.trigger_name;
-- the worker decides what ingest could not: queued, or no_match naming the clause
SELECT microtrigger.run_pending('2030-01-02 10:05') AS acted;
SELECT e.params->>'label' AS event, d.trigger_name, d.outcome, d.detail->>'failed_clause' AS failed_clause
FROM microtrigger.decisions d JOIN microtrigger.events e ON e.id = d.source_event_id
WHERE d.trigger_name LIKE 'ib_k%' ORDER BY e.occurred_at, d.trigger_name;
-- every undecided firing was decided by the worker exactly as matches() (never bounded) decides
SELECT count(*) AS disagreements
FROM microtrigger.triggers t JOIN microtrigger.events e ON e.event_type = 'ib_k'
LEFT JOIN microtrigger.decisions d ON d.trigger_name = t.name AND d.source_event_id = e.id
WHERE t.name LIKE 'ib_k%'
  AND microtrigger.event_matches(t.definition->'condition', e) IS DISTINCT FROM coalesce(d.outcome = 'queued', false);

-- History clauses count events at ingest with the same bound: a count that the undecided events
-- could still move across the threshold is unknown, and the worker counts again in full.
INSERT INTO microtrigger.triggers (name, definition) VALUES ('ib_h',
 '{"event": "ib_h", "history": [{"event": "ib_h", "within": "1 day", "condition": {"p": {"$regex": "y$"}}, "count": {"$gte": 2}}], "cooldown": 0, "actions": [{"send_email": {"template": "ib_t"}}]}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('ib7', 'ib_h', '2030-01-03 10:00', jsonb_build_object('label', 'h1 long z', 'p', repeat('x', 20) || 'z'));
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('ib7', 'ib_h', '2030-01-03 10:01', jsonb_build_object('label', 'h2 long y', 'p', repeat('x', 20) || 'y'));
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('ib7', 'ib_h', '2030-01-03 10:02', jsonb_build_object('label', 'h3 short y', 'p', 'xy'));
SELECT e.params->>'label' AS event, f.recheck
FROM microtrigger.firings f JOIN microtrigger.events e ON e.id = f.source_event_id
WHERE f.trigger_name = 'ib_h' ORDER BY e.occurred_at;
SELECT microtrigger.run_pending('2030-01-03 10:05') AS acted;
SELECT e.params->>'label' AS event, d.outcome, d.detail->>'failed_clause' AS failed_clause
FROM microtrigger.decisions d JOIN microtrigger.events e ON e.id = d.source_event_id
WHERE d.trigger_name = 'ib_h' ORDER BY e.occurred_at;
-- matches() is not ingest: the setting does not bound it
SELECT microtrigger.matches('{"p": {"$regex": "^x+y$"}}', jsonb_build_object('p', repeat('x', 20) || 'y')) AS matches_long;
RESET microtrigger.regex_max_input;
DELETE FROM microtrigger.triggers WHERE name LIKE 'ib_k%' OR name = 'ib_h';

-- 5. A big $in keeps MongoDB's semantics (type-exact, numbers by value, arrays by element, null
--    matches missing), checked against $eq value by value over tricky documents.
CREATE TEMP TABLE ib_in_values (v jsonb);
INSERT INTO ib_in_values VALUES ('"a"'), ('"b"'), ('""'), ('"é"'), ('"1"'), ('1'), ('2.50'), ('-0'),
 ('1e2'), ('9007199254740993'), ('-7.125e-3'), ('true'), ('null'), ('[1, 2]'), ('{"k": 1}'), ('[]');
INSERT INTO ib_in_values SELECT to_jsonb('filler-' || i) FROM generate_series(1, 40) i;
CREATE TEMP TABLE ib_docs (d jsonb);
INSERT INTO ib_docs VALUES ('{}'), ('{"a": "a"}'), ('{"a": "ab"}'), ('{"a": ""}'), ('{"a": "é"}'),
 ('{"a": "1"}'), ('{"a": 1}'), ('{"a": 1.0}'), ('{"a": 1.5}'), ('{"a": 2.5}'), ('{"a": 0}'), ('{"a": -0.0}'),
 ('{"a": 100}'), ('{"a": 100.000}'), ('{"a": 9007199254740992}'), ('{"a": 9007199254740993}'),
 ('{"a": -0.007125}'), ('{"a": -0.0071250}'), ('{"a": 0.007125}'), ('{"a": true}'), ('{"a": false}'),
 ('{"a": null}'), ('{"a": [null]}'), ('{"a": []}'), ('{"a": [[]]}'), ('{"a": [1, 2]}'), ('{"a": [2, 1]}'),
 ('{"a": [[1, 2]]}'), ('{"a": [3, "b"]}'), ('{"a": {"k": 1}}'), ('{"a": {"k": 1.0}}'), ('{"a": [{"k": 1}]}'),
 ('{"a": "filler-7"}'), ('{"a": "filler-77"}'), ('{"b": "a"}'), ('{"a": {"b": 1}}'), ('[1]'), ('"a"');
WITH big AS (SELECT jsonb_agg(v) AS list FROM ib_in_values)
SELECT d,
       microtrigger.matches(jsonb_build_object('a', jsonb_build_object('$in', list)), d) AS "in",
       microtrigger.matches(jsonb_build_object('a', jsonb_build_object('$nin', list)), d) AS nin,
       (SELECT bool_or(microtrigger.matches(jsonb_build_object('a', jsonb_build_object('$eq', v)), d))
        FROM ib_in_values) AS eq_any
FROM ib_docs, big ORDER BY d::text;

-- Under statement_timeout: 10,000 events against a trigger with a 100,000-value $in, and a
-- trigger whose condition allows 100,000 event types (written, loaded into the rule cache and
-- matched). Scanned linearly (or grouped quadratically) this takes far longer than 5 s.
INSERT INTO microtrigger.triggers (name, definition)
SELECT 'ib_big_in', jsonb_build_object('event', 'ib_sku', 'condition',
       jsonb_build_object('sku', jsonb_build_object('$in', jsonb_agg('sku-' || g ORDER BY g))),
       'cooldown', 0, 'actions', '[{"send_email": {"template": "ib_t"}}]'::jsonb)
FROM generate_series(1, 100000) g;
SET statement_timeout = '5s';
INSERT INTO microtrigger.triggers (name, definition)
SELECT 'ib_many_types', jsonb_build_object('condition',
       jsonb_build_object('event_type', jsonb_build_object('$in', jsonb_agg('ib_type_' || g ORDER BY g))),
       'cooldown', 0, 'actions', '[{"send_email": {"template": "ib_t"}}]'::jsonb)
FROM generate_series(1, 100000) g;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT 'ib8', 'ib_sku', '2030-01-04 10:00', jsonb_build_object('sku', CASE WHEN i % 1000 = 0 THEN 'sku-' || i ELSE 'other-' || i END)
FROM generate_series(1, 10000) i;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES
 ('ib8', 'ib_type_77777', '2030-01-04 10:01'), ('ib8', 'ib_type_100001', '2030-01-04 10:01');
RESET statement_timeout;
SELECT trigger_name, count(*) AS firings FROM microtrigger.firings
WHERE trigger_name IN ('ib_big_in', 'ib_many_types') GROUP BY 1 ORDER BY 1;
DELETE FROM microtrigger.firings WHERE trigger_name IN ('ib_big_in', 'ib_many_types');
DELETE FROM microtrigger.triggers WHERE name IN ('ib_big_in', 'ib_many_types');

-- 6. An error that escapes the ingest trigger inside a savepoint or a PL/pgSQL EXCEPTION block
--    does not leave the rule cache pinned: a trigger created afterwards fires from this backend.
--    (Here writing the firing fails, and so does writing the rule_error decision.)
CREATE FUNCTION pg_temp.ib_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.trigger_name LIKE 'ib_pin%' THEN
        RAISE EXCEPTION 'simulated failure writing % of %', TG_TABLE_NAME, NEW.trigger_name;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ib_refuse BEFORE INSERT ON microtrigger.firings FOR EACH ROW EXECUTE FUNCTION pg_temp.ib_refuse();
CREATE TRIGGER ib_refuse BEFORE INSERT ON microtrigger.decisions FOR EACH ROW EXECUTE FUNCTION pg_temp.ib_refuse();
INSERT INTO microtrigger.triggers (name, definition) VALUES ('ib_pin_1',
 '{"event": "ib_pin", "cooldown": 0, "actions": [{"send_email": {"template": "ib_t"}}]}');
BEGIN;
SAVEPOINT before_event;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('ib9', 'ib_pin', '2030-01-05 10:00');
ROLLBACK TO SAVEPOINT before_event;
COMMIT;
DO $$
BEGIN
    INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('ib9', 'ib_pin', '2030-01-05 10:01');
EXCEPTION WHEN others THEN
    RAISE WARNING 'caught: %', SQLERRM;
END $$;
DROP TRIGGER ib_refuse ON microtrigger.firings;
DROP TRIGGER ib_refuse ON microtrigger.decisions;
INSERT INTO microtrigger.triggers (name, definition) VALUES ('ib_later',
 '{"event": "ib_pin", "cooldown": 0, "actions": [{"send_email": {"template": "ib_t"}}]}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('ib9', 'ib_pin', '2030-01-05 10:02');
SELECT trigger_name, event_at FROM microtrigger.firings WHERE user_id = 'ib9' ORDER BY trigger_name, event_at;
