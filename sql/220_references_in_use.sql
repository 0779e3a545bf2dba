-- A template or sequence in use is neither deleted nor renamed: the error (2BP01) names every
-- enabled trigger and sequence that uses it. Disabled triggers do not hold a template; TRUNCATE
-- skips the check (as it skips every row trigger), and an email of a trigger whose template is
-- gone still ends template_missing.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';
\set VERBOSITY default

INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('welcome', 'Welcome', 'hi'), ('variant_b', 'B', 'b'), ('step', 'Step', 's'), ('spare', 'Spare', 'x');
INSERT INTO microtrigger.sequences (name, definition) VALUES
 ('onboarding', '{"steps": [{"send_email": {"template": "step"}}, {"wait": "1 day"}, {"send_email": {"template": "welcome"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('t_welcome', '{"event": "signup", "actions": [{"send_email": {"template": "welcome"}}]}'),
 ('t_variants', '{"event": "visit", "actions": [{"send_email": {"template": "welcome", "variants": [
    {"when": {"plan": "pro"}, "template": "variant_b"}]}}]}'),
 ('t_journey', '{"event": "signup", "actions": [{"start_sequence": "onboarding"}]}');

-- in use by two triggers (one through a variant) and a sequence: refused, naming them all
DELETE FROM microtrigger.templates WHERE name = 'welcome';
UPDATE microtrigger.templates SET name = 'welcome2' WHERE name = 'welcome';
-- used only in a variant
DELETE FROM microtrigger.templates WHERE name = 'variant_b';
-- used only by a sequence step
DELETE FROM microtrigger.templates WHERE name = 'step';
-- a sequence started by a trigger
DELETE FROM microtrigger.sequences WHERE name = 'onboarding';
UPDATE microtrigger.sequences SET name = 'onboarding2' WHERE name = 'onboarding';
-- nothing was lost
SELECT name FROM microtrigger.templates ORDER BY name;
SELECT name FROM microtrigger.sequences ORDER BY name;

-- changing a template in use (not its name) is fine, and so is deleting one nobody uses
UPDATE microtrigger.templates SET subject = 'Welcome!' WHERE name = 'welcome';
DELETE FROM microtrigger.templates WHERE name = 'spare';

-- a disabled trigger does not hold its template or sequence
UPDATE microtrigger.triggers SET enabled = false WHERE name = 't_journey';
DELETE FROM microtrigger.sequences WHERE name = 'onboarding';
SELECT count(*) AS sequences_left FROM microtrigger.sequences;
-- ... and now that the sequence is gone, its step template is free
DELETE FROM microtrigger.templates WHERE name = 'step';

-- in one transaction: disable the users first, then the delete goes through
BEGIN;
UPDATE microtrigger.triggers SET enabled = false WHERE name IN ('t_welcome', 't_variants');
DELETE FROM microtrigger.templates WHERE name IN ('welcome', 'variant_b');
ROLLBACK;
SELECT name FROM microtrigger.templates ORDER BY name;

-- TRUNCATE skips row triggers: an email whose template is gone ends template_missing
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('u1', 'u1@example.com');
TRUNCATE microtrigger.templates;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('u1', 'signup', '2026-03-01 10:00');
SELECT microtrigger.run_pending('2026-03-01 10:00') AS acted;
SELECT trigger_name, outcome FROM microtrigger.decisions ORDER BY id;
