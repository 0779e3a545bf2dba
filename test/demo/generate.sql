-- Sample clickstream for the demo: :users users over the 14 days before now (the older days
-- are a backfill: acted on more than max_lateness after they happened, they are dropped stale), with sessions of
-- page views (time on page) across blog, product and pricing pages, cart adds and checkouts,
-- form starts and submits, whitepaper downloads, demo videos and purchases. Deterministic
-- (setseed), so the demo prints the same counts on every machine.
SELECT setseed(0.2026);

INSERT INTO microtrigger.contacts (user_id, email, timezone, attributes)
SELECT 'user' || u,
       CASE WHEN u % 50 = 0 THEN NULL ELSE 'user' || u || '@example.com' END,
       (ARRAY['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo'])[1 + u % 4],
       jsonb_build_object('first_name', (ARRAY['Ann', 'Bob', 'Chen', 'Dara', 'Eli', 'Fay', 'Gus', 'Hana'])[1 + u % 8],
                          'plan', (ARRAY['free', 'free', 'free', 'starter', 'pro'])[1 + u % 5],
                          'company', 'Company ' || (u % 900))
FROM generate_series(1, :users) u;
UPDATE microtrigger.contacts SET unsubscribed_at = '2026-10-15' WHERE user_id IN (SELECT 'user' || u FROM generate_series(7, :users, 97) u);

CREATE TEMP TABLE demo_sessions AS
SELECT u, s, 'user' || u AS user_id, 'sess-' || u || '-' || s AS session_id,
       pg_catalog.date_trunc('minute', now()) - interval '14 days 1 hour' + (random() * 14 * 86400) * interval '1 second' AS started,
       random() AS intent
FROM generate_series(1, :users) u, LATERAL generate_series(1, 1 + floor(random() * 3 + u * 0)::int) s;

CREATE TEMP TABLE demo_steps AS
SELECT d.*, k, random() AS r, random() AS r2, random() AS r3
FROM demo_sessions d, LATERAL generate_series(1, 2 + floor(random() * 7 + d.u * 0)::int) k;

CREATE TEMP TABLE demo_events AS
SELECT user_id, session_id,
       started + (k * 75 + floor(r3 * 60)) * interval '1 second' AS occurred_at,
       CASE WHEN r < 0.58 THEN 'page_view'
            WHEN r < 0.58 + 0.10 * intent THEN 'add_to_cart'
            WHEN r < 0.72 AND intent > 0.5 THEN 'checkout'
            WHEN r < 0.78 THEN 'form_start'
            WHEN r < 0.81 THEN 'form_submit'
            WHEN r < 0.86 THEN 'whitepaper_download'
            WHEN r < 0.90 THEN 'video_play'
            WHEN r < 0.91 AND intent > 0.8 THEN 'purchase'
            ELSE 'scroll' END AS event_type,
       s, k, r2, r3, intent
FROM demo_steps;

INSERT INTO microtrigger.events (user_id, event_type, occurred_at, session_id, params)
SELECT user_id, event_type, occurred_at, session_id,
       CASE event_type
         WHEN 'page_view' THEN
           jsonb_build_object(
             'url', (ARRAY['/blog/onboarding-tips', '/blog/pricing-strategy', '/blog/case-study-acme',
                           '/product/features', '/product/integrations', '/product/pro-plan',
                           '/pricing', '/pricing', '/pricing/teams', '/docs/api'])[1 + floor(r2 * 10)::int],
             'time_spent', floor(5 + r3 * r3 * 240)::int)
           || CASE WHEN r2 >= 0.5 AND r2 < 0.6 THEN jsonb_build_object(
                'page_url', '/product/pro-plan', 'cart_abandoned', intent > 0.6) ELSE '{}' END
         WHEN 'add_to_cart' THEN jsonb_build_object('cart_id', session_id, 'plan',
             (ARRAY['starter', 'pro', 'enterprise'])[1 + floor(r2 * 3)::int], 'price', (ARRAY[19, 49, 199])[1 + floor(r2 * 3)::int])
         WHEN 'checkout' THEN jsonb_build_object('cart_id', session_id)
         WHEN 'form_start' THEN jsonb_build_object('form', (ARRAY['demo_request', 'newsletter', 'contact_sales'])[1 + floor(r2 * 3)::int])
         WHEN 'form_submit' THEN jsonb_build_object('form', (ARRAY['demo_request', 'newsletter', 'contact_sales'])[1 + floor(r2 * 3)::int])
         WHEN 'whitepaper_download' THEN jsonb_build_object('whitepaper_title',
             (ARRAY['The State of Micro-Moments 2026', 'Pricing Psychology', 'Email That Converts'])[1 + floor(r2 * 3)::int])
         WHEN 'video_play' THEN jsonb_build_object('video', 'product-demo', 'seconds', floor(r2 * 300)::int)
         WHEN 'purchase' THEN jsonb_build_object('plan', 'pro', 'amount', 49)
         ELSE jsonb_build_object('depth', floor(r2 * 100)::int) END
FROM demo_events
ORDER BY occurred_at;
