-- Personalization in the engine: content variants chosen by conditions over the render context,
-- required names (missing_data), header-safe subjects, render and template failures as decisions.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, preheader, html_body, text_body, required) VALUES
 ('generic', 'Thanks for visiting, {{first_name}}', NULL, '<p>Generic</p>', 'Generic', '{}'),
 ('whitepaper', 'About "{{whitepaper_title}}"', 'For {{company}}', '<p>You explored {{whitepaper_title}}</p>', 'You explored {{whitepaper_title}}', '{whitepaper_title}'),
 ('pro_features', 'You''re comparing Pro features', NULL, '<p>Pro: {{#features}}{{.}}, {{/features}}</p>', NULL, '{}'),
 ('needs_company', 'Hi {{profile.company}}', NULL, '<p>x</p>', NULL, '{profile.company,first_name}'),
 ('loop_a', 'Loop', NULL, '{{>loop_b}}', NULL, '{}'),
 ('loop_b', 'Loop', NULL, '{{>loop_a}}', NULL, '{}'),
 ('doomed', 'Doomed', NULL, '<p>soon deleted</p>', NULL, '{}');
INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES
 ('v1', 'v1@example.com', '{"first_name": "Vera", "company": "Acme"}'),
 ('v2', 'v2@example.com', '{"first_name": "Vic"}'),
 ('v3', 'v3@example.com', '{"first_name": "Val"}');
CREATE SCHEMA crm2;
CREATE TABLE crm2.accounts (user_id text, company text);
INSERT INTO crm2.accounts VALUES ('v1', 'Acme Corp');

-- 12 content variants mapped to micro-moments: the first matching variant wins, else the template
INSERT INTO microtrigger.triggers (name, definition) VALUES ('moment', '{
  "event": ["whitepaper_download", "page_view", "video_play"],
  "cooldown": 0,
  "actions": [{"send_email": {"template": "generic", "variants": [
     {"when": {"event.event_type": "whitepaper_download"}, "template": "whitepaper"},
     {"when": {"url": {"$startsWith": "/pricing/pro"}}, "template": "pro_features"},
     {"when": {"segments.b2b": true}, "template": "pro_features"}]}}]}');
-- more than 5 conditional branches in one email: accepted with a NOTICE
SET client_min_messages = notice;
INSERT INTO microtrigger.triggers (name, definition) VALUES ('too_many', '{
  "event": "never", "actions": [{"send_email": {"template": "generic", "variants": [
     {"when": {"a": 1}, "template": "generic"}, {"when": {"a": 2}, "template": "generic"},
     {"when": {"a": 3}, "template": "generic"}, {"when": {"a": 4}, "template": "generic"},
     {"when": {"a": 5}, "template": "generic"}, {"when": {"a": 6}, "template": "generic"}]}}]}');
SET client_min_messages = warning;
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('needs', '{"event": "signup", "cooldown": 0, "context": "SELECT company FROM crm2.accounts WHERE user_id = $1", "actions": [{"send_email": {"template": "needs_company"}}]}'),
 ('loops', '{"event": "loop", "cooldown": 0, "actions": [{"send_email": {"template": "loop_a"}}]}'),
 ('doomed', '{"event": "doom", "cooldown": 0, "actions": [{"send_email": {"template": "doomed"}}]}'),
 ('inject', '{"event": "inject", "cooldown": 0, "actions": [{"send_email": {"subject": "Re: {{topic}}", "preheader": "{{topic}}", "text": "{{topic}}"}}]}');
-- deleting a template in use is refused (2BP01); one removed behind the row triggers' back
-- (here with them off, as a restore or replication could) ends template_missing
DELETE FROM microtrigger.templates WHERE name = 'doomed';
SET session_replication_role = replica;
DELETE FROM microtrigger.templates WHERE name = 'doomed';
RESET session_replication_role;

INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) VALUES
 ('v1', 'whitepaper_download', '2026-11-02 09:00', '{"whitepaper_title": "Pricing Psychology"}'),
 ('v2', 'page_view', '2026-11-02 09:00', '{"url": "/pricing/pro", "features": ["SSO", "audit log"]}'),
 ('v3', 'page_view', '2026-11-02 09:00', '{"url": "/blog"}'),
 ('v2', 'whitepaper_download', '2026-11-02 09:30', '{}'),
 ('v1', 'signup', '2026-11-02 10:00', '{}'),
 ('v2', 'signup', '2026-11-02 10:00', '{}'),
 ('v3', 'loop', '2026-11-02 10:00', '{}'),
 ('v3', 'doom', '2026-11-02 10:00', '{}'),
 ('v3', 'inject', '2026-11-02 10:00', E'{"topic": "hello\\r\\nBcc: victim@example.com"}');
SELECT microtrigger.run_pending('2026-11-02 12:00');

SELECT user_id, trigger_name, variant, subject, preheader, html_body, text_body
FROM microtrigger.outbox ORDER BY id;
SELECT user_id, trigger_name, outcome, detail - 'outbox_id' - 'send_after' AS detail
FROM microtrigger.decisions ORDER BY id;

DROP SCHEMA crm2 CASCADE;
