SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
RESET client_min_messages;
-- Templates: rendering, escaping, layouts, partials, validation when written, limits.
-- Every template row made here is named t200_*.
\set VERBOSITY default

-- HTML escaping: {{x}} escapes & < > " ', {{{x}}} and {{&x}} do not.
SELECT microtrigger.render('<p>{{x}}</p> {{{x}}} {{&x}}',
                           '{"x": "<b>Tom & \"Jerry''s\"</b>"}');
-- Numbers render as JSON numbers render; booleans as true/false; null and missing as nothing.
SELECT microtrigger.render('{{score}}/{{ratio}} {{ok}} [{{nothing}}{{missing}}]',
                           '{"score": 95, "ratio": 1.5, "ok": true, "nothing": null}');
-- Sections: lists, objects, falsy values (false, null, "", 0, []) and inverted sections.
SELECT microtrigger.render(
    '{{#items}}- {{name}} x{{qty}}
{{/items}}{{#user}}Hi {{first}}{{/user}}{{^coupon}}, no coupon{{/coupon}}{{#zero}}never{{/zero}}{{^empty}}!{{/empty}}',
    '{"items": [{"name": "Mug", "qty": 2}, {"name": "Tee", "qty": 1}],
      "user": {"first": "Ann"}, "coupon": "", "zero": 0, "empty": []}');
-- Dotted names and the implicit iterator.
SELECT microtrigger.render('{{profile.company.name}} {{#tags}}[{{.}}]{{/tags}} first: {{tags.0}}',
                           '{"profile": {"company": {"name": "Acme"}}, "tags": ["a", "b"]}');
-- Partials passed as an argument, and set-delimiter tags.
SELECT microtrigger.render('{{>greet}} {{=<% %>=}}<% name %>',
                           '{"name": "Ann"}', '{"greet": "Hello {{name}}!"}');

-- A base email layout with blocks, stored as a template; emails override its blocks.
INSERT INTO microtrigger.templates (name, subject, html_body, text_body) VALUES
('t200_layout', 'layout',
'<html><body>
  <header>{{$header}}<img alt="Acme">{{/header}}</header>
  <main>
    {{$content}}
    <p>Nothing here yet.</p>
    {{/content}}
  </main>
  <footer>{{$footer}}Acme Inc.{{/footer}} <a href="{{unsubscribe_url}}">Unsubscribe</a></footer>
</body></html>
',
'{{$content}}{{/content}}
--
{{$footer}}Acme Inc.{{/footer}}
Unsubscribe: {{unsubscribe_url}}
'),
('t200_item', 'item partial', '<li>{{name}}: {{price}}</li>
', '* {{name}}: {{price}}
'),
('t200_cart', 'You left {{count}} items, {{first_name}}',
'{{<t200_layout}}
  {{$content}}
  <h1>Still thinking, {{first_name}}?</h1>
  <ul>
    {{#items}}
    {{>t200_item}}
    {{/items}}
  </ul>
  {{/content}}
  {{$footer}}Acme Inc., 1 Main St{{/footer}}
{{/t200_layout}}
',
'{{<t200_layout}}{{$content}}
Still thinking, {{first_name}}?
{{#items}}
{{>t200_item}}
{{/items}}
{{/content}}{{/t200_layout}}
');
-- updated_at is set by the trigger, whatever the statement says.
UPDATE microtrigger.templates SET updated_at = '2000-01-01' WHERE name LIKE 't200_%';
SELECT name, updated_at > '2020-01-01' AS stamped FROM microtrigger.templates
WHERE name LIKE 't200_%' ORDER BY name;

-- The layout with overridden blocks and a partial from the table, HTML-escaped.
SELECT microtrigger.render('{{>t200_cart}}',
    '{"first_name": "Ann <3", "unsubscribe_url": "https://acme.example/u?t=1&x=2",
      "items": [{"name": "Mug", "price": 9.5}, {"name": "Tee & Cap", "price": 20}]}');
-- The same email as run_pending renders it: every part in its own mode. The text body is not
-- escaped; the subject keeps to one line whatever the data holds (no header injection).
SELECT * FROM microtrigger.render_email('t200_cart',
    '{"first_name": "Ann\r\nBcc: victim@example.com", "count": 2,
      "unsubscribe_url": "https://acme.example/u?t=1&x=2",
      "items": [{"name": "Tee & Cap", "price": 20}]}') \gx
-- The layout's default blocks, when an email overrides nothing.
SELECT microtrigger.render('{{<t200_layout}}{{/t200_layout}}', '{"unsubscribe_url": "u"}');

-- render() keeps what it compiled between calls, but partials from the table are read on every
-- call: a template changed later in the same transaction is not served stale.
DO $$
DECLARE
    rendered text;
BEGIN
    INSERT INTO microtrigger.templates (name, subject, html_body) VALUES ('t200_sig', 's', 'signature v1');
    FOR i IN 1..2 LOOP
        rendered := microtrigger.render('-- {{>t200_sig}}', '{}');
        RAISE NOTICE 'call %: %', i, rendered;
        UPDATE microtrigger.templates SET html_body = 'signature v2' WHERE name = 't200_sig';
    END LOOP;
END $$;

-- Syntax errors are refused when a template is written, naming the part, line and column.
INSERT INTO microtrigger.templates (name, subject) VALUES ('t200_bad', 'Hi {{name');
INSERT INTO microtrigger.templates (name, subject, preheader)
VALUES ('t200_bad', 'ok', '{{#a}}x{{/b}}');
INSERT INTO microtrigger.templates (name, subject, html_body) VALUES ('t200_bad', 'ok',
'<ul>
  {{#items}}
  <li>{{name}}</li>
</ul>');
INSERT INTO microtrigger.templates (name, subject, text_body)
VALUES ('t200_bad', 'ok', 'line one
{{= | =}}');
UPDATE microtrigger.templates SET text_body = '{{/items}}' WHERE name = 't200_item';
UPDATE microtrigger.templates SET html_body = '{{<t200_layout}}{{$content}}{{/t200_layout}}'
WHERE name = 't200_item';
SELECT count(*) AS bad_rows FROM microtrigger.templates WHERE name = 't200_bad';
-- render() refuses a bad template with 22023 too.
SELECT microtrigger.render('{{#a}}
  {{b}', '{}');
SELECT microtrigger.render('ok {{>broken}}', '{}', '{"broken": "{{#x}}"}');
DO $$
BEGIN
    PERFORM microtrigger.render('{{/x}}', '{}');
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE 'SQLSTATE %: %', SQLSTATE, SQLERRM;
END $$;

-- More than five conditional sections in one email draws a NOTICE (the row is still written).
INSERT INTO microtrigger.templates (name, subject, html_body, text_body) VALUES
('t200_branchy', '{{#vip}}VIP: {{/vip}}Hello',
 '{{#a}}a{{/a}}{{^b}}b{{/b}}{{#c}}c{{/c}}', '{{#d}}d{{/d}}{{#e}}e{{/e}}');
INSERT INTO microtrigger.templates (name, subject, html_body) VALUES
('t200_fine', '{{#vip}}VIP: {{/vip}}Hello', '{{#a}}a{{/a}}{{^b}}b{{/b}}{{#c}}c{{/c}}');

-- Bounded recursion: a self-including partial, or parents that include each other, fail cleanly.
SELECT microtrigger.render('{{>loop}}', '{}', '{"loop": "again {{>loop}}"}');
INSERT INTO microtrigger.templates (name, subject, html_body) VALUES
('t200_ping', 'p', 'ping {{<t200_pong}}{{/t200_pong}}'),
('t200_pong', 'p', 'pong {{<t200_ping}}{{/t200_ping}}');
SELECT microtrigger.render('{{>t200_ping}}', '{}');
-- Recursion that follows the data ends with the data.
SELECT microtrigger.render('{{>tree}}',
    '{"name": "root", "kids": [{"name": "a", "kids": [{"name": "b", "kids": []}]}]}',
    '{"tree": "{{name}}({{#kids}}{{>tree}}{{/kids}})"}');

-- Huge inputs: output past 1 MiB is a clean error, a large template is fine.
SELECT microtrigger.render('{{#rows}}{{s}}{{/rows}}',
    jsonb_build_object('s', repeat('x', 100000), 'rows', (SELECT jsonb_agg(g) FROM generate_series(1, 20) g)));
SELECT length(microtrigger.render(repeat('{{a}}-', 50000), '{"a": "yz"}')) AS big_template;
-- A runaway template with little output is stopped by the work limit.
SELECT microtrigger.render('{{#l}}{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}{{/l}}',
    jsonb_build_object('l', (SELECT jsonb_agg(g) FROM generate_series(1, 100) g)));

-- has_name: whether {{name}} finds a non-null value (for required merge tags).
SELECT n, microtrigger.has_name('{"a": {"b": 0, "c": null}, "e": "", "l": [1]}', n)
FROM unnest(ARRAY['a', 'a.b', 'a.c', 'a.x', 'e', 'l', 'l.0', 'x', '.']) n;

-- render() is STRICT: NULL data gives NULL.
SELECT microtrigger.render('x', NULL) IS NULL AS null_data;
SELECT microtrigger.render('x', '{}', '[]');
