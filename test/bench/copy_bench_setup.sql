-- copy_bench.sh: the event generator and the trigger sets. psql variables: events (how many
-- events), csv (server-side file the events are written to).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS microtrigger;
CREATE SCHEMA bench;

-- Baselines of the same shape: with the PK and the indexes of events, and with none of them.
CREATE TABLE bench.plain (LIKE microtrigger.events INCLUDING ALL);
CREATE TABLE bench.plain_noidx (LIKE microtrigger.events INCLUDING DEFAULTS INCLUDING IDENTITY
                                INCLUDING CONSTRAINTS);

-- ~2,200 pages: home, pricing, features, blog, product, docs, customers.
CREATE TABLE bench.pages AS
SELECT row_number() OVER () AS pid, url FROM (
  SELECT '/' AS url
  UNION ALL SELECT unnest(ARRAY['/pricing', '/pricing/teams', '/pricing/enterprise'])
  UNION ALL SELECT '/features/f-' || g FROM generate_series(1, 40) g
  UNION ALL SELECT '/blog/post-' || g FROM generate_series(1, 1200) g
  UNION ALL SELECT '/product/p-' || g FROM generate_series(1, 500) g
  UNION ALL SELECT '/docs/' || (ARRAY['start', 'api', 'sdk', 'guides'])[1 + g % 4] || '/page-' || g FROM generate_series(1, 400) g
  UNION ALL SELECT '/customers/c-' || g FROM generate_series(1, 60) g) s;

-- The events: 30 days, 20,000 users, sessions of 12 consecutive events, occurred_at increasing
-- with the row number (so file order = time order). Mix: 70% page views (time_spent exponential,
-- mean 60 s), 8% cart adds, 3% checkouts of the session's cart, 5% form starts, 3% form submits,
-- 4% downloads, 2% purchases, 5% searches.
SELECT setseed(0.42);
CREATE UNLOGGED TABLE bench.gen AS
SELECT i,
       'u' || (abs(hashint4((i / 12)::int)) % 20000) AS user_id,
       CASE WHEN a < 0.70 THEN 'page_view' WHEN a < 0.78 THEN 'add_to_cart' WHEN a < 0.81 THEN 'checkout'
            WHEN a < 0.86 THEN 'form_start' WHEN a < 0.89 THEN 'form_submit' WHEN a < 0.93 THEN 'download'
            WHEN a < 0.95 THEN 'purchase' ELSE 'search' END AS event_type,
       timestamptz '2026-10-01 00:00+00' + i * (interval '30 days' / :events) AS occurred_at,
       's' || (i / 12) AS session_id,
       b, c, d
FROM (SELECT i, random() a, random() b, random() c, random() d FROM generate_series(1, :events) i) r;

COPY (
  SELECT user_id, event_type, occurred_at, session_id,
         CASE event_type
           WHEN 'page_view' THEN jsonb_build_object(
                'url', CASE WHEN b < 0.10 THEN '/'
                            WHEN b < 0.18 THEN (ARRAY['/pricing', '/pricing/teams', '/pricing/enterprise'])[1 + floor(d * 3)::int]
                            WHEN b < 0.28 THEN '/features/f-' || (1 + floor(d * 40)::int)
                            WHEN b < 0.63 THEN '/blog/post-' || (1 + floor(d * 1200)::int)
                            WHEN b < 0.85 THEN '/product/p-' || (1 + floor(d * 500)::int)
                            WHEN b < 0.97 THEN '/docs/' || (ARRAY['start', 'api', 'sdk', 'guides'])[1 + (1 + floor(d * 400)::int) % 4]
                                               || '/page-' || (1 + floor(d * 400)::int)
                            ELSE '/customers/c-' || (1 + floor(d * 60)::int) END,
                'time_spent', floor(-ln(1 - c) * 60)::int,
                'referrer', CASE WHEN d < 0.3 THEN 'https://www.google.com/' ELSE NULL END)
           WHEN 'add_to_cart' THEN jsonb_build_object(
                'plan', (ARRAY['free', 'starter', 'pro', 'enterprise'])[1 + floor(b * 4)::int],
                'price', floor(c * 300)::int, 'cart_id', 'cart-' || (i / 12),
                'sku', 'p-' || (1 + floor(d * 500)::int))
           WHEN 'checkout' THEN jsonb_build_object('cart_id', 'cart-' || (i / 12))
           WHEN 'form_start' THEN jsonb_build_object('form', CASE WHEN b < 0.03 THEN 'demo' WHEN b < 0.18 THEN 'trial'
                                                                WHEN b < 0.6 THEN 'newsletter' ELSE 'contact' END)
           WHEN 'form_submit' THEN jsonb_build_object('form', CASE WHEN b < 0.03 THEN 'demo' WHEN b < 0.18 THEN 'trial'
                                                                 WHEN b < 0.6 THEN 'newsletter' ELSE 'contact' END)
           WHEN 'download' THEN jsonb_build_object('asset', 'whitepaper-' || (1 + floor(b * 2000)::int))
           WHEN 'purchase' THEN jsonb_build_object('plan', (ARRAY['free', 'starter', 'pro', 'enterprise'])[1 + floor(b * 4)::int],
                                                   'amount', floor(c * 2000)::int)
           ELSE jsonb_build_object('query', 'q' || floor(b * 1000)::int) END AS params
  FROM bench.gen ORDER BY i) TO :'csv' WITH (FORMAT csv);
DROP TABLE bench.gen;

-- The trigger sets. Each rule also carries its meaning as an SQL predicate over events e (for the
-- firing-count check), its effective cooldown and whether it is an absence trigger.
CREATE TABLE bench.rules (
    set_size   int NOT NULL,
    name       text NOT NULL,
    kind       text NOT NULL,
    event_type text NOT NULL,
    definition jsonb NOT NULL,
    predicate  text NOT NULL,
    cooldown   interval NOT NULL,
    absence    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (set_size, name));

CREATE FUNCTION bench.ts(t int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT format('jsonb_typeof(e.params->''time_spent'') = ''number'' AND (e.params->>''time_spent'')::numeric > %s', t) $$;

-- The core ten: broad rules of every kind.
CREATE TABLE bench.core AS
SELECT * FROM (VALUES
 ('pricing_long', 'prefix', 'page_view',
  '{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}, "time_spent": {"$gt": 240}}}',
  'starts_with(e.params->>''url'', ''/pricing'') AND ' || bench.ts(240), interval '1 day', false),
 ('pricing_teams', 'equality', 'page_view',
  '{"event": "page_view", "condition": {"url": "/pricing/teams", "time_spent": {"$gt": 180}}}',
  'e.params->>''url'' = ''/pricing/teams'' AND ' || bench.ts(180), '1 day', false),
 ('blog_regex', 'regex', 'page_view',
  '{"event": "page_view", "condition": {"url": {"$regex": "^/blog/post-1[0-9]{3}$"}, "time_spent": {"$gt": 240}}}',
  'e.params->>''url'' ~ ''^/blog/post-1[0-9]{3}$'' AND ' || bench.ts(240), '1 day', false),
 ('big_cart', 'in', 'add_to_cart',
  '{"event": "add_to_cart", "condition": {"plan": {"$in": ["pro", "enterprise"]}, "price": {"$gte": 285}}, "cooldown": 0}',
  'e.params->>''plan'' IN (''pro'', ''enterprise'') AND (e.params->>''price'')::numeric >= 285', '0', false),
 ('cart_abandon', 'absence', 'add_to_cart',
  '{"event": "add_to_cart", "condition": {"price": {"$gte": 295}}, "unless": {"event": "checkout", "within": "30 minutes", "same": ["cart_id"]}}',
  '(e.params->>''price'')::numeric >= 295', '0', true),
 ('demo_abandon', 'absence', 'form_start',
  '{"event": "form_start", "condition": {"form": "demo"}, "unless": {"event": "form_submit", "within": "10 minutes", "same": ["form"]}}',
  'e.params->>''form'' = ''demo''', '0', true),
 ('whitepaper', 'equality', 'download',
  '{"event": "download", "condition": {"asset": {"$startsWith": "whitepaper-77"}}, "cooldown": "1 hour"}',
  'starts_with(e.params->>''asset'', ''whitepaper-77'')', '1 hour', false),
 ('pricing_third_view', 'history', 'page_view',
  '{"event": "page_view", "condition": {"url": "/pricing/enterprise"}, "history": [{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}}, "within": "7 days", "count": {"$gte": 4}}]}',
  'e.params->>''url'' = ''/pricing/enterprise'' AND (SELECT count(*) FROM microtrigger.events h WHERE h.user_id = e.user_id AND h.event_type = ''page_view'' AND starts_with(h.params->>''url'', ''/pricing'') AND h.occurred_at BETWEEN e.occurred_at - interval ''7 days'' AND e.occurred_at) >= 4',
  '1 day', false),
 ('big_purchase', 'numeric', 'purchase',
  '{"event": "purchase", "condition": {"amount": {"$gt": 1900}}, "cooldown": 0}',
  '(e.params->>''amount'')::numeric > 1900', '0', false),
 ('long_read', 'numeric', 'page_view',
  '{"event": "page_view", "condition": {"time_spent": {"$gt": 420}}}',
  bench.ts(420), '1 day', false)
) v(name, kind, event_type, definition, predicate, cooldown, absence);

-- The specific rules: the k-th of them is of kind (k * 37) % 100 (a permutation, so any prefix
-- of them is a mix): 60% one page (url equality + time on page), 15% a url prefix, 10% $in on
-- plan for one sku, 5% one download, 3% purchase thresholds, 2% history, 2% absence, 1% search,
-- 1% regex, 1% time on page alone.
CREATE TABLE bench.specific AS
WITH k AS (SELECT k, (k * 37) % 100 AS bucket FROM generate_series(1, 990) k),
catalog AS (SELECT row_number() OVER (ORDER BY pid) AS n, url FROM bench.pages
            WHERE url ~ '^/(blog|product|docs|features)/'),
ncat AS (SELECT count(*) AS n FROM catalog)
SELECT 's' || lpad(k::text, 4, '0') || '_' || kind AS name, kind, event_type, definition, predicate, cooldown, absence
FROM k, ncat, LATERAL (
  SELECT * FROM (
    SELECT 'equality' AS kind, 'page_view' AS event_type,
           jsonb_build_object('event', 'page_view', 'condition', jsonb_build_object('url', c.url, 'time_spent', jsonb_build_object('$gt', 330))) AS definition,
           format('e.params->>''url'' = %L AND ', c.url) || bench.ts(330) AS predicate, interval '1 day' AS cooldown, false AS absence
    FROM catalog c WHERE k.bucket < 60 AND c.n = 1 + (k.k * 7) % ncat.n
    UNION ALL
    SELECT 'prefix', 'page_view',
           jsonb_build_object('event', 'page_view', 'condition', jsonb_build_object('url', jsonb_build_object('$startsWith', p), 'time_spent', jsonb_build_object('$gt', 420))),
           format('starts_with(e.params->>''url'', %L) AND ', p) || bench.ts(420), '1 day', false
    FROM (SELECT CASE k.k % 4 WHEN 0 THEN '/blog/post-' || (10 + k.k % 110) WHEN 1 THEN '/product/p-' || (10 + k.k % 40)
                              WHEN 2 THEN '/docs/' || (ARRAY['start', 'api', 'sdk', 'guides'])[1 + k.k % 3] || '/page-' || (1 + k.k % 39)
                              ELSE '/features/f-' || (1 + k.k % 40) END AS p) x
    WHERE k.bucket BETWEEN 60 AND 74
    UNION ALL
    SELECT 'in', 'add_to_cart',
           jsonb_build_object('event', 'add_to_cart', 'cooldown', 0, 'condition', jsonb_build_object('sku', 'p-' || (1 + k.k % 500), 'plan', '{"$in": ["pro", "enterprise"]}'::jsonb, 'price', '{"$gte": 280}'::jsonb)),
           format('e.params->>''sku'' = %L AND e.params->>''plan'' IN (''pro'', ''enterprise'') AND (e.params->>''price'')::numeric >= 280', 'p-' || (1 + k.k % 500)), '0', false
    WHERE k.bucket BETWEEN 75 AND 84
    UNION ALL
    SELECT 'equality', 'download',
           jsonb_build_object('event', 'download', 'cooldown', '1 hour', 'condition', jsonb_build_object('asset', 'whitepaper-' || (1 + k.k % 2000))),
           format('e.params->>''asset'' = %L', 'whitepaper-' || (1 + k.k % 2000)), '1 hour', false
    WHERE k.bucket BETWEEN 85 AND 89
    UNION ALL
    SELECT 'numeric', 'purchase',
           jsonb_build_object('event', 'purchase', 'cooldown', 0, 'condition', jsonb_build_object('plan', 'pro', 'amount', jsonb_build_object('$gt', 1990 - k.k % 10))),
           format('e.params->>''plan'' = ''pro'' AND (e.params->>''amount'')::numeric > %s', 1990 - k.k % 10), '0', false
    WHERE k.bucket BETWEEN 90 AND 92
    UNION ALL
    SELECT 'history', 'page_view',
           jsonb_build_object('event', 'page_view', 'condition', jsonb_build_object('url', '/product/p-' || (1 + k.k % 500), 'time_spent', '{"$gt": 180}'::jsonb),
                              'history', '[{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}}, "within": "7 days"}]'::jsonb),
           format('e.params->>''url'' = %L AND ', '/product/p-' || (1 + k.k % 500)) || bench.ts(180)
             || ' AND EXISTS (SELECT 1 FROM microtrigger.events h WHERE h.user_id = e.user_id AND h.event_type = ''page_view'' AND starts_with(h.params->>''url'', ''/pricing'') AND h.occurred_at BETWEEN e.occurred_at - interval ''7 days'' AND e.occurred_at)',
           '1 day', false
    WHERE k.bucket BETWEEN 93 AND 94
    UNION ALL
    SELECT 'absence', 'add_to_cart',
           jsonb_build_object('event', 'add_to_cart', 'condition', jsonb_build_object('sku', 'p-' || (1 + k.k % 500), 'price', '{"$gte": 270}'::jsonb),
                              'unless', '{"event": "checkout", "within": "1 hour", "same": ["cart_id"]}'::jsonb),
           format('e.params->>''sku'' = %L AND (e.params->>''price'')::numeric >= 270', 'p-' || (1 + k.k % 500)), '0', true
    WHERE k.bucket BETWEEN 95 AND 96
    UNION ALL
    SELECT 'equality', 'search',
           jsonb_build_object('event', 'search', 'cooldown', 0, 'condition', jsonb_build_object('query', 'q' || (k.k % 1000))),
           format('e.params->>''query'' = %L', 'q' || (k.k % 1000)), '0', false
    WHERE k.bucket = 97
    UNION ALL
    SELECT 'regex', 'page_view',
           jsonb_build_object('event', 'page_view', 'condition', jsonb_build_object('url', jsonb_build_object('$regex', '^/blog/post-' || (1 + k.k % 99) || '[0-9]$'), 'time_spent', '{"$gt": 240}'::jsonb)),
           format('e.params->>''url'' ~ %L AND ', '^/blog/post-' || (1 + k.k % 99) || '[0-9]$') || bench.ts(240), '1 day', false
    WHERE k.bucket = 98
    UNION ALL
    SELECT 'numeric', 'page_view',
           jsonb_build_object('event', 'page_view', 'condition', jsonb_build_object('time_spent', jsonb_build_object('$gt', 600 + k.k % 100))),
           bench.ts(600 + k.k % 100), '1 day', false
    WHERE k.bucket = 99) kinds) r;

-- Every rule sends an inline email (the worker is not running on this database: only ingest is timed).
INSERT INTO bench.rules
SELECT s.size, c.name, c.kind, c.event_type,
       c.definition::jsonb || '{"actions": [{"send_email": {"subject": "hi", "content": "hi"}}]}',
       c.predicate, c.cooldown::interval, c.absence
FROM (VALUES (10), (100), (1000)) s(size), bench.core c;
INSERT INTO bench.rules
SELECT s.size, sp.name, sp.kind, sp.event_type,
       sp.definition || '{"actions": [{"send_email": {"subject": "hi", "content": "hi"}}]}',
       sp.predicate, sp.cooldown, sp.absence
FROM (VALUES (100), (1000)) s(size), bench.specific sp
WHERE substr(sp.name, 2, 4)::int <= s.size - 10;

-- Loads one set as the enabled triggers.
CREATE FUNCTION bench.load_set(p_size int) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM microtrigger.triggers;
    INSERT INTO microtrigger.triggers (name, definition)
    SELECT name, definition FROM bench.rules WHERE set_size = p_size ORDER BY name;
    RETURN (SELECT count(*) FROM microtrigger.triggers WHERE enabled);
END $$;

-- The firings a set should give over the events now in microtrigger.events, per rule, computed in
-- SQL: the predicate selects the matches; the ingest cooldown check (another firing of the rule for
-- the user with event_at within +-cooldown, absence rules exempt) is replayed in COPY (id) order.
CREATE FUNCTION bench.expected(p_size int) RETURNS TABLE (name text, expected bigint) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    m record;
    last_user text;
    last_at timestamptz;
    n bigint;
BEGIN
    FOR r IN SELECT * FROM bench.rules WHERE set_size = p_size ORDER BY 2 LOOP
        n := 0; last_user := NULL; last_at := NULL;
        FOR m IN EXECUTE format('SELECT e.user_id, e.occurred_at FROM microtrigger.events e '
                                'WHERE e.event_type = %L AND (%s) ORDER BY e.user_id, e.id', r.event_type, r.predicate) LOOP
            IF r.absence OR r.cooldown <= interval '0' OR last_user IS DISTINCT FROM m.user_id
               OR m.occurred_at - last_at >= r.cooldown THEN
                n := n + 1; last_user := m.user_id; last_at := m.occurred_at;
            END IF;
        END LOOP;
        name := r.name; expected := n;
        RETURN NEXT;
    END LOOP;
END $$;
ANALYZE bench.rules;
SELECT set_size, sum(n) AS rules, string_agg(kind || ':' || n, ' ' ORDER BY kind) AS kinds
FROM (SELECT set_size, kind, count(*) AS n FROM bench.rules GROUP BY 1, 2) x
GROUP BY set_size ORDER BY 1;
