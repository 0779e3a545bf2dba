SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- The sandbox of a context query leaves run_pending's own user locks (classid 1836348007 and
-- 1836348008) out of its before/after count, for speed; a session-level hold of one, which only
-- a context query can take, is dropped after the batch instead. Here the query takes its own
-- user's lock (held by run_pending at transaction level), another user's, and a bucket's.
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('ul1', 'ul1@example.com'), ('ul2', 'ul2@example.com');
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('ul_t', 'Hi', '{{held}}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('ul_t', '{"event": "ul_go", "context": "SELECT ''yes'' AS held FROM (SELECT pg_advisory_lock(1836348007, pg_catalog.hashtext($1)), pg_advisory_lock(1836348007, 1), pg_advisory_lock_shared(1836348008, 5)) s",
   "actions": [{"send_email": {"template": "ul_t"}}]}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES
 ('ul1', 'ul_go', '2026-07-01 10:00+00'), ('ul2', 'ul_go', '2026-07-01 10:01+00');
SELECT microtrigger.run_pending('2026-07-01 11:00+00') AS acted;
SELECT user_id, text_body FROM microtrigger.outbox WHERE trigger_name = 'ul_t' ORDER BY id;
-- no lock of those classes outlives run_pending
SELECT count(*) AS user_locks_left FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND classid IN (1836348007, 1836348008);
