-- run_pending's per-user lock (docs/concurrency.md): held to commit, in a key space of our own,
-- and bounded: one transaction takes at most 512 user locks, then locks whole buckets, so a
-- backfill over many users does not fill the lock table.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('locks', 'Hi', 'x');
INSERT INTO microtrigger.contacts (user_id, email)
 SELECT 'L' || i, 'l' || i || '@example.com' FROM generate_series(1, 2000) i;
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('locks', '{"event": "backfill", "cooldown": "1 day", "actions": [{"send_email": {"template": "locks"}}]}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
 SELECT 'L' || i, 'backfill', '2026-11-02 09:00' FROM generate_series(1, 2000) i;

BEGIN;
SELECT microtrigger.run_pending('2026-11-02 10:00') AS acted;
-- 512 user locks, then bucket locks: far fewer lock table entries (lock objects) than users
SELECT count(*) FILTER (WHERE classid = 1836348007) AS user_locks,
       count(*) FILTER (WHERE classid = 1836348008) > 0 AS bucket_locks,
       count(DISTINCT (classid, objid)) <= 512 + 512 AS bounded
FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 2
 AND classid IN (1836348007, 1836348008);
COMMIT;
-- committed: no lock is left
SELECT count(*) AS advisory_locks_left FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT count(*) AS emails, count(DISTINCT user_id) AS users FROM microtrigger.outbox;
