-- The demo's templates, sequence and triggers: the seed's micro-moments as SQL rows, plus a small
-- CRM schema the triggers join to.
CREATE SCHEMA crm;
CREATE TABLE crm.plans (name text PRIMARY KEY, price int);
INSERT INTO crm.plans VALUES ('Starter', 19), ('Pro', 49), ('Enterprise', 199);
CREATE TABLE crm.customer_profile (user_id text PRIMARY KEY, lifecycle_stage text, company_size int);
INSERT INTO crm.customer_profile
SELECT 'user' || u, (ARRAY['lead', 'trial', 'customer'])[1 + u % 3], (ARRAY[3, 12, 80, 400, 2500])[1 + u % 5]
FROM generate_series(1, 20000) u;
INSERT INTO microtrigger.templates (name, subject, preheader, html_body, text_body) VALUES
('layout', '{{$subject}}Acme{{/subject}}', NULL,
 '<html><body style="font-family:sans-serif"><header><b>Acme</b></header>{{$body}}{{/body}}<footer><p>You get this because you visited acme.example. <a href="{{unsubscribe_url}}">Unsubscribe</a></p></footer></body></html>',
 '{{$body}}{{/body}}

--
Unsubscribe: {{unsubscribe_url}}'),
('compare_plans', 'Still comparing plans, {{first_name}}?', 'You spent {{time_spent}} seconds on {{url}}',
 '{{<layout}}{{$body}}<p>Hi {{first_name}},</p><p>You spent {{time_spent}} seconds on <a href="https://acme.example{{url}}">our pricing</a>. Here is how the plans compare:</p><ul>{{#plans}}<li><b>{{name}}</b>: ${{price}}/month</li>{{/plans}}</ul>{{#company_size}}<p>Teams of {{company_size}} at {{company}} usually pick Pro.</p>{{/company_size}}{{/body}}{{/layout}}',
 '{{<layout}}{{$body}}Hi {{first_name}}, you spent {{time_spent}} seconds on {{url}}. Starter 19, Pro 49, Enterprise 199.{{/body}}{{/layout}}'),
('cart_recovery_2', 'Still thinking about {{plan}}, {{first_name}}?', 'Teams your size pick {{plan}}',
 '{{<layout}}{{$body}}<p>Hi {{first_name}}, your {{plan}} cart is still here. Questions? Just reply.</p>{{/body}}{{/layout}}',
 'Hi {{first_name}}, your {{plan}} cart is still here. Questions? Just reply.'),
('cart_recovery', 'Your {{plan}} plan is waiting, {{first_name}}', 'Pick up where you left off',
 '{{<layout}}{{$body}}<p>Hi {{first_name}}, you left the <b>{{plan}}</b> plan (${{price}}/month) in your cart.</p><p><a href="https://acme.example/cart/{{cart_id}}">Finish checkout</a></p>{{/body}}{{/layout}}',
 '{{<layout}}{{$body}}Hi {{first_name}}, you left the {{plan}} plan (${{price}}/month) in your cart: https://acme.example/cart/{{cart_id}}{{/body}}{{/layout}}'),
('whitepaper_followup', 'More on "{{whitepaper_title}}"', NULL,
 '{{<layout}}{{$body}}<p>You explored {{whitepaper_title}}. Here is a case study, and a 20-minute demo if you want one.</p>{{/body}}{{/layout}}',
 'You explored {{whitepaper_title}}. Here is a case study, and a 20-minute demo if you want one.'),
('demo_form_nudge', 'Your demo request is one click away', NULL,
 '{{<layout}}{{$body}}<p>Hi {{first_name}}, you started our {{form}} form. <a href="https://acme.example/demo">Finish it in 30 seconds</a>.</p>{{/body}}{{/layout}}',
 'Hi {{first_name}}, you started our {{form}} form: https://acme.example/demo'),
('pricing_regular', 'Back on pricing, {{first_name}}?', NULL,
 '{{<layout}}{{$body}}<p>Third look at pricing this week. Your last page was {{last_page}}. Want a call?</p>{{/body}}{{/layout}}',
 'Third look at pricing this week. Your last page was {{last_page}}. Want a call?');

-- the seed's friction signal: a 2-email recovery sequence a day apart, ended by a purchase
INSERT INTO microtrigger.sequences (name, definition) VALUES ('cart_recovery', '{
  "steps": [{"send_email": {"template": "cart_recovery"}}, {"wait": "1 day"},
            {"send_email": {"template": "cart_recovery_2"}}],
  "exit": {"event": "purchase"}, "reentry": "3 days"}');

INSERT INTO microtrigger.triggers (name, definition) VALUES
-- > 90 s on pricing -> compare plans, enriched from the CRM tables
('pricing_intent', '{"event": "page_view",
   "condition": {"url": {"$startsWith": "/pricing"}, "time_spent": {"$gt": 90}},
   "context": "SELECT p.lifecycle_stage, p.company_size, (SELECT jsonb_agg(jsonb_build_object(''name'', name, ''price'', price) ORDER BY price) FROM crm.plans) AS plans FROM (SELECT $1 AS user_id) u LEFT JOIN crm.customer_profile p USING (user_id)",
   "delay": "10 minutes", "cooldown": "3 days",
   "actions": [{"send_email": {"template": "compare_plans"}}]}'),
-- the seed's pro-plan rule, verbatim
('pro_plan_interest', '{"condition": {"page_url": {"$startsWith": "/product/pro-plan"}, "time_spent": {"gt": 60}, "cart_abandoned": true},
   "actions": [{"send_email": {"subject": "Questions about Pro, {{first_name}}?",
     "content": "<p>Hi {{first_name}}, you spent {{time_spent}} seconds on the Pro plan. Reply to this email and a human answers.</p>",
     "text": "Hi {{first_name}}, you spent {{time_spent}} seconds on the Pro plan. Reply to this email and a human answers."}}]}'),
-- cart added and no checkout of the same cart within 30 minutes
('cart_abandoned', '{"event": "add_to_cart",
   "unless": {"event": "checkout", "within": "30 minutes", "same": ["cart_id"]},
   "actions": [{"start_sequence": "cart_recovery"}]}'),
-- whitepaper downloaded -> case study
('whitepaper_followup', '{"event": "whitepaper_download", "delay": "1 hour",
   "actions": [{"send_email": {"template": "whitepaper_followup"}}]}'),
-- demo form started and not submitted within 20 minutes
('demo_form_abandoned', '{"event": "form_start", "condition": {"form": "demo_request"},
   "unless": {"event": "form_submit", "within": "20 minutes", "same": "form"},
   "actions": [{"send_email": {"template": "demo_form_nudge"}}]}'),
-- third pricing view in 7 days
('pricing_regular', '{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}},
   "history": [{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}}, "within": "7 days", "count": {"$gte": 3}}],
   "cooldown": "7 days",
   "actions": [{"send_email": {"template": "pricing_regular"}}]}');

-- Fatigue (issue 11): at most 2 marketing emails per local day and 1 per 4 hours; quiet hours
-- (microtrigger.quiet_hours = '21:00-08:00') are set in postgresql.conf by run.sh.
INSERT INTO microtrigger.frequency_caps (name, max_emails, per) VALUES
 ('two_a_day', 2, 'day'), ('one_per_4_hours', 1, '4 hours');
