-- COPY of 10,000 events with several triggers gives exactly the expected firings: the C matcher
-- (with its rule index) agrees with the same rules written as SQL predicates.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

INSERT INTO microtrigger.templates (name, subject, html_body) VALUES ('t', 'hi', 'hi');
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('pricing_long', '{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}, "time_spent": {"$gt": 90}}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('pricing_exact', '{"event": "page_view", "condition": {"url": "/pricing/teams"}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('blog_regex', '{"event": "page_view", "condition": {"url": {"$regex": "^/blog/.*pric", "$options": "i"}}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('aa_long_prefix', '{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing/teams"}}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('teams_regex', '{"event": "page_view", "condition": {"time_spent": {"$gte": 20}, "url": {"$regex": "^/pricing/te+a?ms$"}}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('pricing_regex_q', '{"event": "page_view", "condition": {"url": {"$regex": "^/pricingx?$"}}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('big_cart', '{"event": "add_to_cart", "condition": {"price": {"$gte": 100}, "plan": {"$in": ["pro", "enterprise"]}}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('demo_form', '{"condition": {"event_type": "form_start", "form": {"$in": ["demo", "trial"]}}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('any_purchase', '{"condition": {"event_type": {"$in": ["purchase", "refund"]}, "amount": {"$exists": true}}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('tagged', '{"event": "page_view", "condition": {"tags": "promo"}, "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}'),
 ('disabled_one', '{"event": "page_view", "cooldown": 0, "actions": [{"send_email": {"template": "t"}}]}');
UPDATE microtrigger.triggers SET enabled = false WHERE name = 'disabled_one';

SELECT setseed(0.25);
CREATE TEMP TABLE gen AS
SELECT i,
       'user' || (i % 997) AS user_id,
       timestamptz '2026-11-01' + i * interval '7 seconds' AS occurred_at,
       CASE WHEN r < 0.6 THEN 'page_view' WHEN r < 0.75 THEN 'add_to_cart' WHEN r < 0.85 THEN 'form_start'
            WHEN r < 0.9 THEN 'purchase' WHEN r < 0.92 THEN 'refund' ELSE 'scroll' END AS event_type,
       r2, r3
FROM (SELECT i, random() AS r, random() AS r2, random() AS r3 FROM generate_series(1, 10000) i) s;
CREATE TEMP TABLE gen_events AS
SELECT user_id, event_type, occurred_at, 'sess' || (i / 20) AS session_id,
       CASE event_type
         WHEN 'page_view' THEN jsonb_build_object(
              'url', (ARRAY['/pricing', '/pricing/teams', '/blog/Pricing-tips', '/blog/news', '/product/pro-plan', '/pricingx', '/docs'])[1 + floor(r2 * 7)::int],
              'time_spent', floor(r3 * 200)::int)
              || CASE WHEN r3 < 0.1 THEN '{"tags": ["promo", "x"]}'::jsonb WHEN r3 < 0.15 THEN '{"tags": "promo"}'::jsonb ELSE '{}'::jsonb END
         WHEN 'add_to_cart' THEN jsonb_build_object('price', floor(r2 * 200)::int, 'plan', (ARRAY['free', 'pro', 'enterprise'])[1 + floor(r3 * 3)::int], 'cart_id', 'cart' || i)
         WHEN 'form_start' THEN jsonb_build_object('form', (ARRAY['demo', 'trial', 'newsletter', 'contact'])[1 + floor(r2 * 4)::int])
         WHEN 'purchase' THEN CASE WHEN r2 < 0.8 THEN jsonb_build_object('amount', floor(r3 * 500)::int) ELSE '{}'::jsonb END
         WHEN 'refund' THEN jsonb_build_object('amount', 5)
         ELSE jsonb_build_object('depth', floor(r2 * 100)::int) END AS params
FROM gen;

\getenv abs_builddir PG_ABS_BUILDDIR
\set copy_file :abs_builddir '/results/copy_events.csv'
COPY gen_events TO :'copy_file' WITH (FORMAT csv);
COPY microtrigger.events (user_id, event_type, occurred_at, session_id, params) FROM :'copy_file' WITH (FORMAT csv);
SELECT count(*) AS events FROM microtrigger.events;

-- the same rules as SQL predicates over the same rows
WITH expected AS (
  SELECT 'pricing_long' AS trigger_name, count(*) AS n FROM microtrigger.events
   WHERE event_type = 'page_view' AND params->>'url' LIKE '/pricing%' AND jsonb_typeof(params->'time_spent') = 'number' AND (params->>'time_spent')::numeric > 90
  UNION ALL SELECT 'pricing_exact', count(*) FROM microtrigger.events WHERE event_type = 'page_view' AND params->>'url' = '/pricing/teams'
  UNION ALL SELECT 'blog_regex', count(*) FROM microtrigger.events WHERE event_type = 'page_view' AND params->>'url' ~* '^/blog/.*pric'
  UNION ALL SELECT 'aa_long_prefix', count(*) FROM microtrigger.events WHERE event_type = 'page_view' AND params->>'url' LIKE '/pricing/teams%'
  UNION ALL SELECT 'teams_regex', count(*) FROM microtrigger.events WHERE event_type = 'page_view' AND params->>'url' ~ '^/pricing/te+a?ms$' AND (params->>'time_spent')::int >= 20
  UNION ALL SELECT 'pricing_regex_q', count(*) FROM microtrigger.events WHERE event_type = 'page_view' AND params->>'url' ~ '^/pricingx?$'
  UNION ALL SELECT 'big_cart', count(*) FROM microtrigger.events WHERE event_type = 'add_to_cart' AND (params->>'price')::int >= 100 AND params->>'plan' IN ('pro', 'enterprise')
  UNION ALL SELECT 'demo_form', count(*) FROM microtrigger.events WHERE event_type = 'form_start' AND params->>'form' IN ('demo', 'trial')
  UNION ALL SELECT 'any_purchase', count(*) FROM microtrigger.events WHERE event_type IN ('purchase', 'refund') AND params ? 'amount'
  UNION ALL SELECT 'tagged', count(*) FROM microtrigger.events WHERE event_type = 'page_view' AND (params->'tags' = '"promo"' OR params->'tags' @> '["promo"]')
  UNION ALL SELECT 'disabled_one', 0
), actual AS (
  SELECT trigger_name, count(*) AS n FROM microtrigger.firings GROUP BY trigger_name
)
SELECT e.trigger_name, e.n > 0 OR e.trigger_name = 'disabled_one' AS some_expected,
       e.n = coalesce(a.n, 0) AS firings_match
FROM expected e LEFT JOIN actual a USING (trigger_name) ORDER BY 1;
-- exactly one firing per (trigger, event), each pointing at a matching event of the right user
SELECT count(*) = count(DISTINCT (trigger_name, source_event_id)) AS unique_firings,
       bool_and(f.user_id = e.user_id AND f.event_at = e.occurred_at) AS consistent
FROM microtrigger.firings f JOIN microtrigger.events e ON e.id = f.source_event_id;
