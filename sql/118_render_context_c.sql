SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- run_pending builds the render context in C from the rows it loaded for the batch. It must be
-- exactly what microtrigger.render_context() builds in SQL: the same names, the same precedence
-- (profile > event params > contact attributes > the fixed names), the same occurred_at text,
-- last_page up to as_of, and the same unsubscribe token; local_hour, weekday and daypart of the
-- moment of sending in the contact's zone, and device (the event's, else the user's latest).
INSERT INTO microtrigger.contacts (user_id, email, timezone, attributes) VALUES
 ('rc1', 'rc1@example.com', 'Europe/Paris', '{"first_name": "Ann", "email": "attr@example.com", "trigger": "attr", "n": 0}'),
 ('rc2', 'RC2@Example.com', 'UTC', '{"first_name": "Bob", "user": {"x": 1}}');
INSERT INTO microtrigger.templates (name, subject, text_body) VALUES
 ('rc_t', 'x', '{{{user_id}}}|{{{email}}}|{{{event.occurred_at}}}|{{{event.session_id}}}|{{{event.first_name}}}|{{{event.user_id}}}|{{{user.first_name}}}|{{{user.email}}}|{{{user.timezone}}}|{{{user.x}}}|{{{user.attributes.first_name}}}|{{{first_name}}}|{{{last_page}}}|{{{trigger}}}|{{{n}}}|{{#segments}}in segments{{/segments}}|{{local_hour}}|{{weekday}}|{{daypart}}|{{device}}|{{{unsubscribe_url}}}');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('rc_t', '{"event": "rc_go", "actions": [{"send_email": {"template": "rc_t"}}]}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, session_id, params) VALUES
 ('rc1', 'page_view', '2026-06-01 09:00+00', NULL, '{"url": "/first"}'),
 ('rc1', 'page_view', '2026-06-01 10:00+00', NULL, '{"url": "/pricing"}'),
 ('rc1', 'page_view', '2026-06-01 13:00+00', NULL, '{"url": "/after-as-of"}'),
 ('rc2', 'page_view', '2026-06-01 10:00+00', NULL, '{"url": 42}'),
 ('rc1', 'rc_go', '2026-06-01 11:00:00.123456+00', 's1', '{"first_name": "Param", "n": 1, "user_id": "spoof"}'),
 ('rc2', 'rc_go', '2026-06-01 11:30+00', NULL, '{}'),
 ('rc1', 'visit', '2026-06-01 10:30+00', NULL, '{"user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"}'),
 ('rc2', 'visit', '2026-06-01 10:40+00', NULL, '{"device": "tablet"}'),
 ('rc2', 'visit', '2026-06-01 12:30+00', NULL, '{"device": "desktop"}');
SELECT microtrigger.run_pending('2026-06-01 12:00+00') AS acted;
-- what was rendered (without the token), and whether it equals the SQL context's rendering
SELECT o.user_id, pg_catalog.split_part(o.text_body, '|http', 1) AS rendered,
       o.text_body = microtrigger.render(t.text_body,
           microtrigger.render_context(o.source_event_id, o.trigger_name, NULL, '2026-06-01 12:00+00', o.send_after)) AS same_as_sql
FROM microtrigger.outbox o JOIN microtrigger.templates t ON t.name = 'rc_t'
WHERE o.trigger_name = 'rc_t' ORDER BY o.id;
