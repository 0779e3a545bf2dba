-- Enrichment: the context query runs read-only as the trigger's owner, never as a superuser by
-- accident; a failure is a decision, not an error.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

CREATE ROLE mt_marketer NOLOGIN;
CREATE ROLE mt_intern NOLOGIN;
CREATE ROLE mt_writers NOLOGIN;  -- the team: its templates serve every member's triggers
GRANT mt_writers TO mt_marketer, mt_intern;
CREATE SCHEMA crm;
CREATE TABLE crm.customer_profile (user_id text PRIMARY KEY, lifecycle_stage text, company_size int);
INSERT INTO crm.customer_profile VALUES ('c1', 'trial', 40), ('c2', 'customer', 5000);
CREATE TABLE crm.salaries (user_id text, salary int);  -- only the superuser can read it
INSERT INTO crm.salaries VALUES ('c1', 100000);
GRANT USAGE ON SCHEMA crm TO mt_marketer, mt_intern;
GRANT SELECT ON crm.customer_profile TO mt_marketer;
GRANT ALL ON ALL TABLES IN SCHEMA microtrigger TO mt_marketer, mt_intern;
GRANT USAGE ON SCHEMA microtrigger TO mt_marketer, mt_intern;

INSERT INTO microtrigger.templates (name, subject, html_body, owner) VALUES
 ('enriched', 'Hello {{lifecycle_stage}} user', '<p>{{profile.company_size}} people; salary: [{{salary}}]</p>', 'mt_writers');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('c1', 'c1@example.com'), ('c2', 'c2@example.com');

-- owned by mt_marketer, who may read the profile table
INSERT INTO microtrigger.triggers (name, owner, definition) VALUES ('enrich_ok', 'mt_marketer',
 '{"event": "demo", "context": "SELECT lifecycle_stage, company_size FROM crm.customer_profile WHERE user_id = $1",
   "actions": [{"send_email": {"template": "enriched"}}]}');
-- owned by mt_marketer, reading a table mt_marketer may not read: a decision, not a privileged read
INSERT INTO microtrigger.triggers (name, owner, definition) VALUES ('enrich_denied', 'mt_marketer',
 '{"event": "demo", "context": "SELECT salary FROM crm.salaries WHERE user_id = $1",
   "actions": [{"send_email": {"template": "enriched"}}]}');
-- a context query that fails at run time
INSERT INTO microtrigger.triggers (name, owner, definition) VALUES ('enrich_error', 'mt_marketer',
 '{"event": "demo", "context": "SELECT 1 / (company_size - company_size) AS boom FROM crm.customer_profile WHERE user_id = $1",
   "actions": [{"send_email": {"template": "enriched"}}]}');
-- a context query that tries to write, through a volatile function: refused (read-only)
CREATE FUNCTION crm.sneaky(p text) RETURNS int LANGUAGE plpgsql AS
 $$ BEGIN INSERT INTO crm.customer_profile VALUES (p || '-x', 'hacked', 1); RETURN 1; END $$;
GRANT SELECT, INSERT ON crm.customer_profile TO mt_intern;
INSERT INTO microtrigger.triggers (name, owner, definition) VALUES ('enrich_write', 'mt_intern',
 '{"event": "demo", "context": "SELECT crm.sneaky($1) AS n",
   "actions": [{"send_email": {"template": "enriched"}}]}');

SELECT microtrigger.track('c1', 'demo', '{}', '2026-11-02 09:00');
SELECT microtrigger.run_pending('2026-11-02 10:00');
SELECT trigger_name, subject, html_body FROM microtrigger.outbox ORDER BY trigger_name;
SELECT trigger_name, outcome, detail->>'error' AS error FROM microtrigger.decisions ORDER BY trigger_name;
SELECT count(*) AS hacked_rows FROM crm.customer_profile WHERE lifecycle_stage = 'hacked';

-- A role can only write a trigger row whose owner is a role it is a member of.
SET ROLE mt_intern;
INSERT INTO microtrigger.triggers (name, owner, definition) VALUES ('steal', 'mt_marketer',
 '{"event": "demo", "actions": [{"send_email": {"template": "enriched"}}]}');
UPDATE microtrigger.triggers SET definition = definition WHERE name = 'enrich_ok';
-- by default the owner is the writer
INSERT INTO microtrigger.triggers (name, definition) VALUES ('mine',
 '{"event": "demo", "actions": [{"send_email": {"template": "enriched"}}]}');
RESET ROLE;
SELECT name, owner FROM microtrigger.triggers WHERE name = 'mine';

DROP SCHEMA crm CASCADE;
REVOKE ALL ON ALL TABLES IN SCHEMA microtrigger FROM mt_marketer, mt_intern;
REVOKE USAGE ON SCHEMA microtrigger FROM mt_marketer, mt_intern;
DROP ROLE mt_marketer;
DROP ROLE mt_intern;
DROP ROLE mt_writers;
