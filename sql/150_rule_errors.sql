-- An event INSERT never fails because of a rule: a rule that fails at ingest becomes a
-- rule_error decision, the other rules of the same statement still fire, and the events stay.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('t', 'Hi', 'x');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('fine', '{"event": "visit", "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('broken', '{"event": "visit", "history": [{"event": "visit", "within": "1 day"}], "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}');
-- make every firing of "broken" fail, as a full disk or a bad extension upgrade might
CREATE FUNCTION pg_temp.refuse_broken() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.trigger_name = 'broken' THEN
        RAISE EXCEPTION 'simulated failure writing a firing of %', NEW.trigger_name;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_broken BEFORE INSERT ON microtrigger.firings
    FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_broken();

INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'e' || i, 'visit', '2026-11-02 09:00' FROM generate_series(1, 5) i;
SELECT count(*) AS events_kept FROM microtrigger.events;
SELECT trigger_name, count(*) AS firings FROM microtrigger.firings GROUP BY 1 ORDER BY 1;
SELECT trigger_name, outcome, count(*), min(detail->>'error') AS error, min(detail->>'stage') AS stage
FROM microtrigger.decisions GROUP BY 1, 2 ORDER BY 1;

-- once the cause is gone, the same rule fires again
DROP TRIGGER refuse_broken ON microtrigger.firings;
SELECT microtrigger.track('e9', 'visit', '{}', '2026-11-02 10:00') > 0 AS tracked;
SELECT trigger_name, count(*) AS firings FROM microtrigger.firings GROUP BY 1 ORDER BY 1;
