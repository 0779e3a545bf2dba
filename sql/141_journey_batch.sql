SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';
-- run_pending advances a claimed batch of journeys in one subtransaction and writes its outbox
-- rows, journey changes, cancelled emails and decisions with one statement each. When the batch
-- fails it is rolled back and replayed one journey per subtransaction: a poison journey ends with
-- its error, the others of the same batch go on as if nothing had happened.
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('jb_step', 'Step for {{user_id}}', 'cart {{cart_id}}');
INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES
 ('jb1', 'jb1@example.com', '{"tier": "gold"}'), ('jb2', 'jb2@example.com', '{}'),
 ('jb3', 'jb3@example.com', '{}'), ('jb4', 'jb4@example.com', '{}');
INSERT INTO microtrigger.segments (name, definition) VALUES ('jb_gold', '{"profile": {"tier": "gold"}}');
INSERT INTO microtrigger.sequences (name, definition) VALUES ('jb_seq', '{
  "steps": [
    {"send_email": {"template": "jb_step"}},
    {"wait": "1 day"},
    {"branch": [
      {"if": {"in_segment": "jb_gold"}, "steps": [{"send_email": {"template": "jb_step"}}]},
      {"if": {"profile": {"email": "jb4@example.com"}}, "steps": [{"wait": "1 day"}]},
      {"else": [{"send_email": {"template": "jb_step"}}]}
    ]}
  ],
  "exit": {"event": "purchase", "same": ["cart_id"]}}');
INSERT INTO microtrigger.triggers (name, definition) VALUES ('jb_t',
 '{"event": "jb_signup", "cooldown": 0, "actions": [{"start_sequence": "jb_seq"}]}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT u, 'jb_signup', '2026-06-01 10:00', jsonb_build_object('cart_id', 'c-' || u)
FROM unnest(ARRAY['jb1', 'jb2', 'jb3', 'jb4']) u;
SELECT microtrigger.run_pending('2026-06-01 10:00') AS acted;
-- jb3 buys its cart during the journey, recorded late (no journey ended at ingest): the next
-- step finds it and the exit cancels the step-0 email; a purchase of another cart does not count
SET session_replication_role = replica;	-- no ingest triggers: the event arrives "late"
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('jb3', 'purchase', '2026-06-01 12:00', '{"cart_id": "c-jb3"}'),
 ('jb1', 'purchase', '2026-06-01 12:00', '{"cart_id": "other"}');
RESET session_replication_role;
-- the poison: jb2's second email cannot be written
CREATE FUNCTION public.jb_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id = 'jb2' AND NEW.step > 0 THEN
        RAISE EXCEPTION 'poison row for %', NEW.user_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER jb_poison BEFORE INSERT ON microtrigger.outbox
    FOR EACH ROW EXECUTE FUNCTION public.jb_poison();
SET client_min_messages = debug1;
SELECT microtrigger.run_pending('2026-06-02 10:00') AS acted;
SET client_min_messages = warning;
SELECT user_id, outcome, detail->>'reason' AS reason, detail->>'cancelled_emails' AS cancelled,
       detail->>'step' AS step, detail ? 'outbox_id' AS has_outbox_id
FROM microtrigger.decisions WHERE at = '2026-06-02 10:00' ORDER BY id;
SELECT user_id, status, step, next_at, ended_at, exit_reason FROM microtrigger.journeys ORDER BY user_id;
SELECT user_id, subject, step, status, last_error FROM microtrigger.outbox ORDER BY user_id, step;
-- without the poison, the batch is written at once: jb4 goes on after its wait, jb2 is over
DROP TRIGGER jb_poison ON microtrigger.outbox;
DROP FUNCTION public.jb_poison();
SET client_min_messages = debug1;
SELECT microtrigger.run_pending('2026-06-03 10:00') AS acted;
SET client_min_messages = warning;
SELECT user_id, outcome FROM microtrigger.decisions WHERE at = '2026-06-03 10:00' ORDER BY id;
SELECT user_id, status, step, ended_at FROM microtrigger.journeys WHERE user_id = 'jb4';
SELECT microtrigger.run_pending('2026-06-03 10:00') AS acted;  -- nothing twice
SELECT count(*) AS emails FROM microtrigger.outbox;
