-- Triggers as rows: validation when written, and the path from event to outbox.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, preheader, html_body, text_body) VALUES
 ('compare_plans', 'Still comparing plans, {{first_name}}?', 'You spent {{time_spent}}s on {{url}}',
  '<p>Hi {{first_name}}, you looked at <a href="{{url}}">{{url}}</a> for {{time_spent}} seconds.</p>{{#profile.company_size}}<p>Teams of {{profile.company_size}} pick Pro.</p>{{/profile.company_size}}',
  'Hi {{first_name}}, you looked at {{url}} for {{time_spent}} seconds.'),
 ('third_visit', 'Third time on pricing this week', NULL, '<p>Back again, {{user.first_name}}? Last page: {{last_page}}</p>', NULL);

INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES
 ('u1', 'ann@example.com', '{"first_name": "Ann", "plan": "free"}'),
 ('u2', 'bob@example.com', '{"first_name": "Bob"}'),
 ('u3', NULL, '{"first_name": "Cy"}'),
 ('u4', 'dee@example.com', '{"first_name": "Dee"}');
UPDATE microtrigger.contacts SET unsubscribed_at = '2026-10-01' WHERE user_id = 'u4';

-- Validation: every mistake is refused with 22023, the trigger's name, the JSON path and the reason.
\set VERBOSITY default
CREATE FUNCTION pg_temp.try_trigger(p_name text, p_def jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO microtrigger.triggers (name, definition) VALUES (p_name, p_def);
    DELETE FROM microtrigger.triggers WHERE name = p_name;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.try_trigger('not_object', '[1, 2]');
SELECT pg_temp.try_trigger('no_actions', '{"event": "page_view"}');
SELECT pg_temp.try_trigger('unknown_key', '{"event": "page_view", "actoins": [], "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('pro_interest', '{"event": "page_view", "condition": {"time_spent": {"$gtt": 60}}, "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('bad_event', '{"event": 42, "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('bad_delay', '{"event": "page_view", "delay": "10 fortnights", "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('neg_cooldown', '{"event": "page_view", "cooldown": -5, "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('bad_within', '{"event": "page_view", "history": [{"event": "page_view", "within": true}], "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('no_within', '{"event": "page_view", "history": [{"event": "page_view"}], "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('bad_count', '{"event": "page_view", "history": [{"event": "page_view", "within": "7 days", "count": {"$gtx": 3}}], "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('bad_session', '{"event": "page_view", "session": {"min_pages": 3}, "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('bad_unless', '{"event": "add_to_cart", "unless": {"event": "checkout"}, "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('bad_same', '{"event": "add_to_cart", "unless": {"event": "checkout", "within": "30 minutes", "same": [1]}, "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('no_template', '{"event": "page_view", "actions": [{"send_email": {"template": "nope"}}]}');
SELECT pg_temp.try_trigger('no_variant_template', '{"event": "page_view", "actions": [{"send_email": {"template": "compare_plans", "variants": [{"when": {"a": 1}, "template": "nope2"}]}}]}');
SELECT pg_temp.try_trigger('no_sequence', '{"event": "page_view", "actions": [{"start_sequence": "nope"}]}');
SELECT pg_temp.try_trigger('bad_action', '{"event": "page_view", "actions": [{"send_sms": {}}]}');
SELECT pg_temp.try_trigger('both_inline', '{"event": "page_view", "actions": [{"send_email": {"template": "compare_plans", "subject": "x"}}]}');
SELECT pg_temp.try_trigger('bad_regex', '{"event": "page_view", "condition": {"url": {"$regex": "(unclosed"}}, "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('bad_context', '{"event": "page_view", "context": "SELEC plan FROM x", "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('write_context', '{"event": "page_view", "context": "DELETE FROM microtrigger.contacts WHERE user_id = $1", "actions": [{"send_email": {"template": "compare_plans"}}]}');
SELECT pg_temp.try_trigger('missing_table', '{"event": "page_view", "context": "SELECT 1 FROM no_such_table WHERE $1 = ''x''", "actions": [{"send_email": {"template": "compare_plans"}}]}');
-- a valid definition passes, with nothing left behind by the checks
SELECT pg_temp.try_trigger('fine', '{"event": ["page_view", "scroll"], "condition": {"url": {"$regex": "^/pricing", "$options": "i"}}, "delay": 600, "cooldown": "2 hours 30 minutes", "actions": [{"send_email": {"template": "compare_plans"}}]}');
-- UPDATE is validated too, and a failed UPDATE keeps the stored row
INSERT INTO microtrigger.triggers (name, definition, enabled) VALUES
 ('kept', '{"event": "page_view", "actions": [{"send_email": {"template": "compare_plans"}}]}', false);
UPDATE microtrigger.triggers SET definition = '{"event": "page_view"}' WHERE name = 'kept';
SELECT name, definition FROM microtrigger.triggers WHERE name = 'kept';
DELETE FROM microtrigger.triggers WHERE name = 'kept';

-- The seed's rule form, verbatim: a complete, valid trigger.
INSERT INTO microtrigger.triggers (name, definition) VALUES ('pro_plan_interest',
 '{"condition": {"page_url": {"$startsWith": "/product/pro-plan"}, "time_spent": {"gt": 60}, "cart_abandoned": true},
   "actions": [{"send_email": {"subject": "Questions about Pro, {{first_name}}?",
                               "content": "<p>You spent {{time_spent}}s on {{page_url}}.</p>",
                               "text": "You spent {{time_spent}}s on {{page_url}}."}}]}');

-- The intent signal: more than 90 s on a pricing page, with merge tags; cooldown 1 day (default).
INSERT INTO microtrigger.triggers (name, definition) VALUES ('pricing_intent',
 '{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}, "time_spent": {"$gt": 90}},
   "delay": "10 minutes", "actions": [{"send_email": {"template": "compare_plans"}}]}');

-- History: the 3rd pricing view in 7 days.
INSERT INTO microtrigger.triggers (name, definition) VALUES ('third_pricing_view',
 '{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}},
   "history": [{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}}, "within": "7 days", "count": {"$gte": 3}}],
   "cooldown": "7 days", "actions": [{"send_email": {"template": "third_visit"}}]}');

INSERT INTO microtrigger.events (user_id, event_type, occurred_at, session_id, params) VALUES
 ('u1', 'page_view', '2026-11-02 09:00', 's1', '{"url": "/pricing", "time_spent": 95}'),
 ('u1', 'page_view', '2026-11-02 09:05', 's1', '{"url": "/pricing/teams", "time_spent": 120}'),  -- cooldown
 ('u1', 'page_view', '2026-11-02 09:06', 's1', '{"url": "/pricing", "time_spent": "120"}'),       -- a string is not > 90
 ('u2', 'page_view', '2026-11-02 10:00', 's2', '{"url": "/blog/pricing", "time_spent": 300}'),   -- not a prefix
 ('u2', 'page_view', '2026-11-02 10:01', 's2', '{"page_url": "/product/pro-plan/features", "time_spent": 61, "cart_abandoned": true}'),
 ('u2', 'page_view', '2026-11-02 10:02', 's2', '{"page_url": "/product/pro-plan", "time_spent": 61, "cart_abandoned": false}'),
 ('u3', 'page_view', '2026-11-02 11:00', 's3', '{"url": "/pricing", "time_spent": 91}'),          -- no email
 ('u4', 'page_view', '2026-11-02 11:00', 's4', '{"url": "/pricing", "time_spent": 91}'),          -- unsubscribed
 ('u5', 'page_view', '2026-11-02 11:00', 's5', '{"url": "/pricing", "time_spent": 91}');          -- no contact

-- ingest wrote one firing per match and nothing else
SELECT trigger_name, user_id, event_at, due_at, state FROM microtrigger.firings ORDER BY id;
SELECT count(*) AS outbox_rows_before_run FROM microtrigger.outbox;

SELECT microtrigger.run_pending('2026-11-02 12:00');
SELECT microtrigger.run_pending('2026-11-02 12:00');  -- again: nothing is sent twice

SELECT user_id, to_address, subject, preheader, html_body, text_body, trigger_name, variant, send_after, status
FROM microtrigger.outbox ORDER BY id;
SELECT user_id, trigger_name, outcome, detail - 'outbox_id' AS detail FROM microtrigger.decisions ORDER BY id;

-- History: u1 had three pricing views on Nov 2, so the third fired then (see above).
-- u6 views pricing, then a blog page, then pricing again: the 3rd pricing view in 7 days fires.
INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES ('u6', 'eve@example.com', '{"first_name": "Eve"}');
SELECT microtrigger.track('u6', 'page_view', '{"url": "/pricing", "time_spent": 10}', '2026-11-04 08:00', 's6') > 0 AS tracked;
SELECT microtrigger.track('u6', 'page_view', '{"url": "/blog/x", "time_spent": 10}', '2026-11-06 08:01', 's6') > 0 AS tracked;
SELECT microtrigger.track('u6', 'page_view', '{"url": "/pricing/teams", "time_spent": 10}', '2026-11-08 08:02', 's6') > 0 AS tracked;
SELECT count(*) AS third_visit_firings_u6 FROM microtrigger.firings WHERE trigger_name = 'third_pricing_view' AND user_id = 'u6';
SELECT microtrigger.track('u6', 'page_view', '{"url": "/pricing/enterprise", "time_spent": 10}', '2026-11-10 08:03', 's7') > 0 AS tracked;
SELECT trigger_name, user_id, event_at FROM microtrigger.firings WHERE trigger_name = 'third_pricing_view' ORDER BY id;
SELECT microtrigger.run_pending('2026-11-10 09:00');
SELECT user_id, subject, html_body FROM microtrigger.outbox WHERE trigger_name = 'third_pricing_view' ORDER BY id;
-- 8 days on, the earlier views are out of the window: a single view in 7 days does not fire
SELECT microtrigger.track('u6', 'page_view', '{"url": "/pricing"}', '2026-11-18 08:04', 's8') > 0 AS tracked;
SELECT count(*) AS third_visit_firings_u6 FROM microtrigger.firings WHERE trigger_name = 'third_pricing_view' AND user_id = 'u6';

-- Cooldown: after a day the intent trigger fires again for u1.
SELECT microtrigger.track('u1', 'page_view', '{"url": "/pricing", "time_spent": 200}', '2026-11-03 09:01', 's8') > 0 AS tracked;
SELECT microtrigger.run_pending('2026-11-03 10:00');
SELECT trigger_name, send_after FROM microtrigger.outbox WHERE user_id = 'u1' AND trigger_name = 'pricing_intent' ORDER BY id;

-- explain: the decisions for a user, newest first
SELECT at, trigger_name, outcome FROM microtrigger.explain('u1');

-- Disabling a trigger takes effect at once in this backend.
UPDATE microtrigger.triggers SET enabled = false WHERE name = 'pricing_intent';
SELECT microtrigger.track('u2', 'page_view', '{"url": "/pricing", "time_spent": 500}', '2026-11-05 09:00') > 0 AS tracked;
SELECT count(*) AS firings_for_disabled FROM microtrigger.firings WHERE trigger_name = 'pricing_intent' AND event_at = '2026-11-05 09:00';
