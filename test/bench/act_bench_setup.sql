-- act_bench: the data and definitions of test/bench/act_bench.sh (users :users, journeys :journeys).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS microtrigger;
CREATE SCHEMA bench;
-- an author who is not a superuser: context queries never run as one
DROP ROLE IF EXISTS bench_author;
CREATE ROLE bench_author;
-- where the set-based baseline writes: the outbox's shape, without the engine's keys
CREATE TABLE bench.out (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id text NOT NULL,
    to_address text NOT NULL, subject text NOT NULL, html_body text, text_body text,
    source_event_id bigint, created_at timestamptz NOT NULL DEFAULT now());
-- the CRM table the context query joins
CREATE TABLE bench.crm (user_id text PRIMARY KEY, plan text, company text);
GRANT USAGE ON SCHEMA bench TO PUBLIC;
GRANT SELECT ON bench.crm TO PUBLIC;
INSERT INTO microtrigger.contacts (user_id, email, attributes)
SELECT 'u' || i, 'u' || i || '@example.com',
       jsonb_build_object('first_name', 'First' || i, 'last_name', 'Last' || i,
                          'city', 'City' || (i % 100), 'country', 'CC' || (i % 20))
FROM generate_series(1, :users) i;
INSERT INTO bench.crm SELECT 'u' || i, (ARRAY['free', 'pro', 'team'])[1 + i % 3], 'Company ' || (i % 500)
FROM generate_series(1, :users) i;
-- a layout (a parent from the table), 10 merge tags, a section and a list
INSERT INTO microtrigger.templates (name, subject, html_body, text_body) VALUES
 ('bench_layout', 'x', '<html><body>{{$body}}{{/body}}<p>Acme Inc., 1 Main St.</p></body></html>',
  '{{$body}}{{/body}}\n-- Acme Inc.'),
 ('bench_t', 'Hi {{first_name}}, about your {{product}}',
  '{{<bench_layout}}{{$body}}<p>Hi {{first_name}} {{last_name}},</p><p>Your {{product}} ({{color}}, size {{size}}) at {{price}} ships to {{city}}, {{country}}. Order {{order_id}}, plan {{plan}}.</p>{{#vip}}<p>As a VIP you get free returns.</p>{{/vip}}<ul>{{#items}}<li>{{name}} x {{qty}}</li>{{/items}}</ul>{{/body}}{{/bench_layout}}',
  '{{<bench_layout}}{{$body}}Hi {{first_name}}, your {{product}} at {{price}} ships to {{city}}. Order {{order_id}}.{{/body}}{{/bench_layout}}');
-- the event of user i
CREATE FUNCTION bench.event_params(i integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('product', 'Product ' || (i % 50), 'price', 10 + i % 90,
        'color', (ARRAY['red', 'green', 'blue'])[1 + i % 3], 'size', 'M', 'order_id', 'O' || i,
        'vip', i % 4 = 0,
        'items', jsonb_build_array(jsonb_build_object('name', 'Item A', 'qty', 1),
                                   jsonb_build_object('name', 'Item B', 'qty', 2),
                                   jsonb_build_object('name', 'Item C', 'qty', 3)))
$$;
INSERT INTO microtrigger.sequences (name, definition) VALUES
 ('bench_seq', '{"steps": [{"wait": "1 day"}, {"send_email": {"template": "bench_t"}}]}');
INSERT INTO microtrigger.triggers (name, definition, enabled) VALUES
 ('bench_plain', '{"event": "purchase", "actions": [{"send_email": {"template": "bench_t"}}]}', false),
 ('bench_context', '{"event": "purchase", "context": "SELECT plan, company FROM bench.crm WHERE user_id = $1",
   "actions": [{"send_email": {"template": "bench_t"}}]}', false),
 ('bench_journey', '{"event": "signup", "actions": [{"start_sequence": "bench_seq"}]}', false),
 -- plain with the timing and fatigue rules at work: a send window, a category, a priority
 ('bench_capped', '{"event": "purchase", "send_window": {"hours": ["09:00", "21:00"]}, "category": "marketing",
   "priority": 60, "actions": [{"send_email": {"template": "bench_t"}}]}', false);

UPDATE microtrigger.templates SET owner = 'bench_author';
UPDATE microtrigger.sequences SET owner = 'bench_author';
UPDATE microtrigger.triggers SET owner = 'bench_author';

-- Empties what a case wrote and loads its events (n users, one event each): firings are written
-- by ingest, with only the named trigger enabled.
CREATE FUNCTION bench.prepare(p_trigger text, p_event text, n integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE microtrigger.outbox, microtrigger.decisions, microtrigger.firings, microtrigger.journeys,
             microtrigger.events, bench.out;
    UPDATE microtrigger.triggers SET enabled = (name = p_trigger);
    -- the capped case: a daily cap, a rolling one and one of another category, and quiet hours
    -- are set by the script (each email is checked against them; none is reached)
    DELETE FROM microtrigger.frequency_caps;
    IF p_trigger = 'bench_capped' THEN
        INSERT INTO microtrigger.frequency_caps (name, max_emails, per, category) VALUES
         ('bench_daily', 3, 'day', 'marketing'), ('bench_rolling', 2, '4 hours', 'marketing'),
         ('bench_news', 1, 'week', 'news');
    END IF;
    INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
    SELECT 'u' || i, p_event, '2026-01-01 10:00+00', bench.event_params(i) FROM generate_series(1, n) i;
END $$;

-- The baseline: what a user could write instead, one INSERT ... SELECT with render() over the
-- same events and contacts (and with_crm: the same join the context query makes).
CREATE FUNCTION bench.baseline(with_crm boolean) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    TRUNCATE bench.out;
    IF with_crm THEN
        INSERT INTO bench.out (user_id, to_address, subject, html_body, text_body, source_event_id)
        SELECT e.user_id, c.email, microtrigger.render(t.subject, d.ctx), microtrigger.render(t.html_body, d.ctx),
               microtrigger.render(t.text_body, d.ctx), e.id
        FROM microtrigger.events e JOIN microtrigger.contacts c USING (user_id)
        LEFT JOIN bench.crm k ON k.user_id = e.user_id
        CROSS JOIN microtrigger.templates t
        CROSS JOIN LATERAL (SELECT c.attributes || e.params || jsonb_build_object('plan', k.plan, 'company', k.company) AS ctx) d
        WHERE t.name = 'bench_t';
    ELSE
        INSERT INTO bench.out (user_id, to_address, subject, html_body, text_body, source_event_id)
        SELECT e.user_id, c.email, microtrigger.render(t.subject, d.ctx), microtrigger.render(t.html_body, d.ctx),
               microtrigger.render(t.text_body, d.ctx), e.id
        FROM microtrigger.events e JOIN microtrigger.contacts c USING (user_id)
        CROSS JOIN microtrigger.templates t
        CROSS JOIN LATERAL (SELECT c.attributes || e.params AS ctx) d
        WHERE t.name = 'bench_t';
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
