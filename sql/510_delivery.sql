SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
RESET client_min_messages;
-- Delivery without an SMTP server: the SQL-visible parts (suppressions, unsubscribe, recovery,
-- retention, pg_cron jobs, privileges). Sending over SMTP is tested in test/suites/delivery.sh.

-- pg_cron: the jobs are (re)scheduled by schedule_jobs(), once each however often it runs
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
RESET client_min_messages;
SELECT microtrigger.schedule_jobs();
SELECT microtrigger.schedule_jobs();
SELECT jobname, schedule, command FROM cron.job WHERE jobname LIKE 'microtrigger-%' ORDER BY jobname;

-- with smtp_url empty nothing is sent and due rows stay queued
SHOW microtrigger.smtp_url;
INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
VALUES ('reg_q', 'reg_q@example.com', 'Queued', 'x', now());
SELECT microtrigger.deliver();
SELECT status, attempts FROM microtrigger.outbox WHERE user_id = 'reg_q';
SELECT microtrigger.deliver(0);
BEGIN;
CALL microtrigger.deliver_loop('1 second');
ROLLBACK;

-- suppressions: stored lowercased, reason checked, queued mail to the address cancelled
INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
VALUES ('reg_s', 'Reg.S@Example.com', 'Later', 'x', now() + interval '1 day');
INSERT INTO microtrigger.suppressions (address, reason) VALUES ('REG.S@example.com', 'complaint');
SELECT address, reason FROM microtrigger.suppressions WHERE address LIKE 'reg.%';
SELECT status, last_error FROM microtrigger.outbox WHERE user_id = 'reg_s';
\set VERBOSITY terse
INSERT INTO microtrigger.suppressions (address, reason) VALUES ('reg.t@example.com', 'whim');
\set VERBOSITY default

-- unsubscribe: tokens are HMACs under the secret; bad tokens are refused, good ones are idempotent
SET microtrigger.unsubscribe_secret = 'regression-secret';
SELECT microtrigger.unsubscribe_token('reg_u', 1) AS token \gset
SELECT :'token' AS token;
SELECT microtrigger.unsubscribe_link('reg_u', 1);
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('reg_u', 'reg_u@example.com');
INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after)
VALUES ('reg_u', 'reg_u@example.com', 'Later', 'x', now() + interval '1 day');
SELECT microtrigger.unsubscribe('garbage'), microtrigger.unsubscribe(''), microtrigger.unsubscribe(NULL);
SELECT microtrigger.unsubscribe('MTpyZWdfdQ.AAAAAAAAAAAAAAAAAAAAAA');  -- right payload, wrong MAC
SELECT microtrigger.unsubscribe(microtrigger.unsubscribe_token('nobody', 1));  -- no such contact
SELECT microtrigger.unsubscribe(microtrigger.unsubscribe_token('reg_u', 1));
SELECT microtrigger.unsubscribe(microtrigger.unsubscribe_token('reg_u', 1));
SELECT unsubscribed_at IS NOT NULL AS unsubscribed FROM microtrigger.contacts WHERE user_id = 'reg_u';
SELECT status, last_error FROM microtrigger.outbox WHERE user_id = 'reg_u';
RESET microtrigger.unsubscribe_secret;
-- another key (the installation's random secret), another token: the old one no longer verifies
SELECT microtrigger.unsubscribe_token('reg_u', 1) <> :'token' AS key_changes_token,
       microtrigger.unsubscribe(:'token') AS old_token_accepted;

-- rows left sending by a crash: queued again after sending_timeout, dead at max_attempts. Three
-- batches (claimed_at): r1 alone, r2 then r4 (both at their last attempt), and r3 still in its
-- lease. Only the first row a batch left may have been in flight: r4 gets its attempt back.
INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after, status, attempts, claimed_at)
VALUES ('reg_r1', 'reg_r1@example.com', 'Stale', 'x', now(), 'sending', 1, now() - interval '1 hour'),
       ('reg_r2', 'reg_r2@example.com', 'Stale, last try', 'x', now(), 'sending', 5, now() - interval '2 hours'),
       ('reg_r4', 'reg_r4@example.com', 'Stale, never tried', 'x', now() + interval '1 second', 'sending', 5, now() - interval '2 hours'),
       ('reg_r3', 'reg_r3@example.com', 'Recent', 'x', now(), 'sending', 1, now());
SELECT microtrigger.recover_sending();
SELECT user_id, status, attempts, last_error FROM microtrigger.outbox WHERE user_id LIKE 'reg_r%' ORDER BY user_id;

-- retention: finished outbox rows older than outbox_retention go; queued ones stay
INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after, status, sent_at, created_at)
VALUES ('reg_old', 'reg_old@example.com', 'Old', 'x', now() - interval '60 days', 'sent', now() - interval '60 days', now() - interval '60 days'),
       ('reg_old', 'reg_old@example.com', 'Old queued', 'x', now() + interval '1 day', 'queued', NULL, now() - interval '60 days');
SET microtrigger.outbox_retention = '30d';
SET microtrigger.decisions_retention = 0;
SELECT microtrigger.delivery_maintenance() ? 'outbox_deleted' AS reports;
SELECT subject, status FROM microtrigger.outbox WHERE user_id = 'reg_old';
CALL microtrigger.maintain();
RESET microtrigger.outbox_retention;
RESET microtrigger.decisions_retention;

-- privileges: secrets are superuser-only; draining is not granted to PUBLIC
CREATE ROLE reg_delivery_user;
GRANT USAGE ON SCHEMA microtrigger TO reg_delivery_user;
SET ROLE reg_delivery_user;
SHOW microtrigger.smtp_password;
SHOW microtrigger.unsubscribe_secret;
SELECT microtrigger.deliver();
SELECT microtrigger.unsubscribe('garbage');
RESET ROLE;
REVOKE USAGE ON SCHEMA microtrigger FROM reg_delivery_user;
DROP ROLE reg_delivery_user;

-- no jobs left running in the regression database
SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname LIKE 'microtrigger-%' ORDER BY jobname;
