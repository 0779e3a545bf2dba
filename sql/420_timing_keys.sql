SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- The timing keys of triggers, their send_email actions and sequence send_email steps
-- (docs/timing.md): priority, transactional, category, send_window, send_time, max_lateness are
-- accepted, and bad values refused with 22023 and the JSON path.
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES ('tk', 'hi', 'hi');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('tk_all', '{"event": "page_view", "priority": 80, "category": "promo", "max_lateness": "6 hours",
   "send_window": {"hours": ["09:00", "21:00"], "days": ["mon", "tue", "wed", "thu", "fri"]},
   "send_time": {"optimal": true, "within": "12 hours"},
   "actions": [{"send_email": {"template": "tk", "priority": 10, "send_window": {"hours": ["18:00", "02:00"]}}}]}'),
 ('tk_optimal', '{"event": "page_view", "send_time": "optimal", "actions": [{"send_email": {"template": "tk"}}]}'),
 ('tk_receipt', '{"event": "purchase", "transactional": true, "max_lateness": 3600, "actions": [{"send_email": {"template": "tk"}}]}');
SELECT name FROM microtrigger.triggers ORDER BY name;
INSERT INTO microtrigger.sequences (name, definition) VALUES
 ('tk_seq', '{"steps": [{"send_email": {"template": "tk", "send_window": {"hours": ["09:00", "12:00"]}, "priority": 70}},
                        {"wait": "1 day"},
                        {"send_email": {"template": "tk", "category": "nurture", "send_time": "optimal"}}]}');
SELECT name FROM microtrigger.sequences;

INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "priority": 101, "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "transactional": "yes", "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "category": "", "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "send_window": {"hours": ["09:00", "9pm"]}, "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "send_window": {"days": ["mon", "mon"]}, "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "send_time": "asap", "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "send_time": {"optimal": true, "within": "30 days"}, "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "max_lateness": "0 seconds", "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "transactional": true, "send_window": {"days": ["sat"]}, "actions": [{"send_email": {"template": "tk"}}]}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('bad', '{"event": "x", "actions": [{"send_email": {"template": "tk", "send_window": {"hours": ["09:00"]}}}]}');
INSERT INTO microtrigger.sequences (name, definition) VALUES
 ('bad_seq', '{"steps": [{"wait": "1 hour"}, {"send_email": {"template": "tk", "send_window": {"days": ["funday"]}}}]}');
INSERT INTO microtrigger.sequences (name, definition) VALUES
 ('bad_seq', '{"steps": [{"send_email": {"template": "tk", "priority": 1.5}}]}');
