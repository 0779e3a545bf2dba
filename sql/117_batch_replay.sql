SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- run_pending acts on a claimed batch in one subtransaction and writes its outbox rows, decisions
-- and firing states with one statement each. When the batch fails it is rolled back and replayed
-- one firing per subtransaction: a poison firing becomes an `error` decision, the others of the
-- same batch are queued as if nothing had happened, in due order.
INSERT INTO microtrigger.contacts (user_id, email) VALUES
 ('br1', 'br1@example.com'), ('br2', 'br2@example.com'), ('br3', 'br3@example.com');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('br_t', '{"event": "br_visit", "actions": [{"send_email": {"subject": "Hi {{user_id}}", "content": "<p>{{n}}</p>"}}]}');
-- the poison: an outbox row of br2 cannot be written
CREATE FUNCTION public.br_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id = 'br2' THEN
        RAISE EXCEPTION 'poison row for %', NEW.user_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER br_poison BEFORE INSERT ON microtrigger.outbox
    FOR EACH ROW EXECUTE FUNCTION public.br_poison();
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('br1', 'br_visit', '2026-05-01 10:00+00', '{"n": 1}'),
 ('br2', 'br_visit', '2026-05-01 10:01+00', '{"n": 2}'),
 ('br3', 'br_visit', '2026-05-01 10:02+00', '{"n": 3}');
SELECT microtrigger.run_pending('2026-05-01 11:00+00') AS acted;
SELECT user_id, outcome, detail->>'error' AS error FROM microtrigger.decisions
WHERE trigger_name = 'br_t' ORDER BY id;
SELECT user_id, state, outcome FROM microtrigger.firings WHERE trigger_name = 'br_t' ORDER BY id;
SELECT user_id, subject, html_body FROM microtrigger.outbox WHERE trigger_name = 'br_t' ORDER BY id;
-- without the poison, a batch of new events is written at once, in order
DROP TRIGGER br_poison ON microtrigger.outbox;
DROP FUNCTION public.br_poison();
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('br1', 'br_visit', '2026-05-03 10:00+00', '{"n": 4}'),
 ('br3', 'br_visit', '2026-05-03 10:01+00', '{"n": 5}');
SELECT microtrigger.run_pending('2026-05-03 11:00+00') AS acted;
SELECT user_id, outcome FROM microtrigger.decisions WHERE trigger_name = 'br_t' AND at = '2026-05-03 11:00+00' ORDER BY id;
SELECT user_id, html_body FROM microtrigger.outbox WHERE trigger_name = 'br_t' ORDER BY id;
