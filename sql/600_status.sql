SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
RESET client_min_messages;
-- The view status: one row per check, in a fixed order. The checks whose truth does not depend on
-- the machine: no smtp_url, no tracking server, the outbox (overdue, dead) and stale decisions.
SELECT "check" FROM microtrigger.status;
SELECT "check", ok, detail FROM microtrigger.status
 WHERE "check" IN ('smtp', 'http', 'oldest_queued', 'dead_rows', 'stale_dropped');
-- the regression database is not the one the worker serves (microtrigger.database = 'postgres')
SELECT ok, detail FROM microtrigger.status WHERE "check" = 'worker';
-- a due row waiting for two hours, a dead row and a stale decision make their checks fail
INSERT INTO microtrigger.outbox (user_id, to_address, subject, send_after)
VALUES ('s1', 's1@example.com', 'late', now() - interval '2 hours');
INSERT INTO microtrigger.outbox (user_id, to_address, subject, send_after, status, last_error)
VALUES ('s2', 's2@example.com', 'dead', now(), 'dead', '550 no such user');
INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome) VALUES (now(), 's3', 't', 'stale');
SELECT "check", ok, detail FROM microtrigger.status
 WHERE "check" IN ('oldest_queued', 'dead_rows', 'stale_dropped');
