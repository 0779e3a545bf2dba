-- A context query is bounded: microtrigger.context_timeout ends a slow one (decision
-- context_timeout), so it cannot delay other triggers' emails, and no session-level advisory lock
-- it took outlives it, while the locks the session held before are kept (with their counts).
-- Real time is used here (timeouts of 200 and 300 ms); nothing asserts how long anything took.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

SHOW microtrigger.context_timeout;

INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('limits', 'Hello {{user_id}}', 'x');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('k1', 'k1@example.com');

-- a context query that sleeps 5 s, and an unrelated trigger on the same event
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('slow_context', '{"event": "visit", "context": "SELECT pg_sleep(5) IS NULL AS slept",
   "actions": [{"send_email": {"template": "limits"}}]}'),
 ('unrelated', '{"event": "visit", "actions": [{"send_email": {"template": "limits"}}]}');
SET microtrigger.context_timeout = '200ms';
SELECT microtrigger.track('k1', 'visit', '{}', '2026-11-02 09:00') > 0 AS tracked;
-- the slow one ends with context_timeout; the unrelated email is queued in the same run
SELECT microtrigger.run_pending('2026-11-02 09:05') AS acted;
SELECT trigger_name, outcome, detail->>'error' AS error FROM microtrigger.decisions ORDER BY trigger_name;
SELECT trigger_name, status FROM microtrigger.outbox ORDER BY trigger_name;

-- context queries that take advisory locks: session-level ones (also one the session holds
-- already, and a shared one), a try-lock, a transaction-level one; and one that takes a lock
-- and then runs into the timeout
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('locking_context', '{"event": "lock", "context": "SELECT ''locked'' AS lock_state FROM (SELECT pg_advisory_lock(42), pg_advisory_lock(7), pg_advisory_lock_shared(1, 2), pg_try_advisory_lock(43), pg_advisory_xact_lock(44)) s",
   "actions": [{"send_email": {"template": "limits"}}]}'),
 ('lock_then_sleep', '{"event": "lock", "context": "SELECT pg_advisory_lock(45) IS NULL AS locked, pg_sleep(5) IS NULL AS slept",
   "actions": [{"send_email": {"template": "limits"}}]}');
SELECT pg_advisory_lock(7);  -- the session's own lock, taken before run_pending
SELECT microtrigger.track('k1', 'lock', '{}', '2026-11-02 10:00') > 0 AS tracked;
SELECT microtrigger.run_pending('2026-11-02 10:05') AS acted;
SELECT trigger_name, outcome FROM microtrigger.decisions
 WHERE trigger_name IN ('locking_context', 'lock_then_sleep') ORDER BY trigger_name;
-- only the session's own lock is left ...
SELECT classid, objid, objsubid, mode FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid() ORDER BY classid, objid, objsubid, mode;
-- ... and held once, as before: one unlock frees it
SELECT pg_advisory_unlock(7);
SELECT count(*) AS advisory_locks_left FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();

-- the caller's own statement_timeout (a cancel that is not context_timeout) still cancels
-- run_pending; the session is usable at once (no failed transaction block is left behind) and
-- the firing waits for the next run
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('slow_cancelled', '{"event": "late_visit", "cooldown": 0, "context": "SELECT pg_sleep(5) IS NULL AS slept",
   "actions": [{"send_email": {"template": "limits"}}]}');
SET microtrigger.context_timeout = '10s';
SELECT microtrigger.track('k1', 'late_visit', '{}', '2026-11-02 11:00') > 0 AS tracked;
SET statement_timeout = '300ms';
\set VERBOSITY terse
SELECT microtrigger.run_pending('2026-11-02 11:05') AS acted;
\set VERBOSITY default
RESET statement_timeout;
SELECT trigger_name, state, outcome FROM microtrigger.firings WHERE event_at = '2026-11-02 11:00' ORDER BY trigger_name;

-- only a superuser may loosen the guard
CREATE ROLE mt_limits_author NOLOGIN;
SET ROLE mt_limits_author;
SET microtrigger.context_timeout = '1h';
RESET ROLE;
DROP ROLE mt_limits_author;

RESET microtrigger.context_timeout;
