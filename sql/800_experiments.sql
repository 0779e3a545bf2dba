SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
RESET client_min_messages;
SET TimeZone = 'UTC';
-- experiment_results() over fixed data inserted directly (assignments, outbox rows, conversions,
-- engagement events). Every figure is compared with the values scipy / statsmodels give for the
-- same rows: test/unit/gen_experiment_reference.py loads the part between BEGIN DATA and END DATA,
-- computes them independently and prints the INSERT INTO reference below.

-- BEGIN DATA
-- Experiment cart_subject: arms a and b (120 users each) and a holdout (60 users), assigned every
-- 15 minutes from 2024-03-01; arm of user i: i % 5 = 0 holdout, 1-2 a, 3-4 b. Of each arm's users
-- in order (r = 0, 1, ...), user r converts when (r * X) % N < X: exactly X of N, spread out
-- (X = 18 for a, 31 for b, 5 for the holdout), 2 hours and (i % 7) * 10 minutes after assignment.
INSERT INTO microtrigger.assignments (experiment, user_id, arm, assigned_at)
SELECT 'cart_subject', 'u' || lpad(i::text, 3, '0'),
       CASE WHEN i % 5 = 0 THEN 'holdout' WHEN i % 5 IN (1, 2) THEN 'a' ELSE 'b' END,
       timestamptz '2024-03-01 00:00+00' + i * interval '15 minutes'
FROM generate_series(1, 300) i;
CREATE TEMP TABLE arm_goal (arm text PRIMARY KEY, x int, n int);
INSERT INTO arm_goal VALUES ('a', 18, 120), ('b', 31, 120), ('holdout', 5, 60);
CREATE TEMP TABLE ordinal AS
SELECT a.user_id, a.arm, a.assigned_at, substr(a.user_id, 2)::int AS i,
       row_number() OVER (PARTITION BY a.arm ORDER BY a.user_id) - 1 AS r
FROM microtrigger.assignments a WHERE a.experiment = 'cart_subject';
-- one email per a/b user (sent), except: 3 cancelled, 1 dead (neither counts as sent), 2 queued
INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after, status, experiment, arm)
SELECT o.user_id, o.user_id || '@example.com', 'Your cart', 'x', o.assigned_at,
       CASE WHEN o.i IN (1, 3, 4) THEN 'cancelled' WHEN o.i = 6 THEN 'dead'
            WHEN o.i IN (298, 299) THEN 'queued' ELSE 'sent' END, 'cart_subject', o.arm
FROM ordinal o WHERE o.arm <> 'holdout';
-- an email of another experiment to one of these users does not count
INSERT INTO microtrigger.outbox (user_id, to_address, subject, text_body, send_after, status, experiment, arm)
VALUES ('u002', 'u002@example.com', 'Other', 'x', '2024-03-01', 'sent', 'other_test', 'a');
INSERT INTO microtrigger.events (id, user_id, event_type, occurred_at, params)
SELECT 100000 + o.i, o.user_id, 'purchase', o.assigned_at + interval '2 hours' + (o.i % 7) * interval '10 minutes', '{}'
FROM ordinal o JOIN arm_goal g USING (arm) WHERE (o.r * g.x) % g.n < g.x;
INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, trigger_name, outbox_id, experiment, arm, revenue)
SELECT e.user_id, e.id, e.occurred_at, 'cart_recovery', b.id, 'cart_subject', o.arm, 10 + o.i % 13
FROM microtrigger.events e JOIN ordinal o USING (user_id)
LEFT JOIN microtrigger.outbox b ON b.user_id = e.user_id AND b.experiment = 'cart_subject'
WHERE e.event_type = 'purchase';
-- a second purchase by one converted user of arm b: revenue adds up, successes count users once
INSERT INTO microtrigger.events (id, user_id, event_type, occurred_at, params)
VALUES (200000, 'u003', 'purchase', '2024-03-05 00:00+00', '{}');
INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, trigger_name, experiment, arm, revenue)
VALUES ('u003', 200000, '2024-03-05 00:00+00', 'cart_recovery', 'cart_subject', 'b', 99.5);
-- a conversion of a user not assigned to the experiment is not counted
INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, trigger_name, experiment, arm, revenue)
VALUES ('stranger', 200001, '2024-03-02 00:00+00', 'cart_recovery', 'cart_subject', 'a', 1000);

-- Clicks: a/b users with i % 4 = 1 click their email (params outbox_id), some twice; a click naming
-- another user's email, one naming no number and one of another event type do not count.
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT b.user_id, 'email_click', b.send_after + interval '30 minutes' + k * interval '1 hour',
       jsonb_build_object('outbox_id', b.id, 'experiment', 'cart_subject', 'arm', b.arm)
FROM microtrigger.outbox b JOIN ordinal o USING (user_id), generate_series(0, 1) k
WHERE b.experiment = 'cart_subject' AND o.i % 4 = 1 AND (k = 0 OR o.i % 3 = 0);
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT 'u008', 'email_click', '2024-03-02', jsonb_build_object('outbox_id', b.id)
FROM microtrigger.outbox b WHERE b.user_id = 'u007' AND b.experiment = 'cart_subject';
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
VALUES ('u012', 'email_click', '2024-03-02', '{"outbox_id": "not a number"}'),
       ('u013', 'email_open', '2024-03-02', '{"outbox_id": "x"}');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT b.user_id, 'email_open', b.send_after + interval '10 minutes', jsonb_build_object('outbox_id', b.id)
FROM microtrigger.outbox b JOIN ordinal o USING (user_id)
WHERE b.experiment = 'cart_subject' AND o.i % 3 <> 0;

-- Experiment timing: no holdout, so the control is the first arm by name ("fast" before "slow");
-- "slow" has no conversion at all. Experiment solo: one arm only.
INSERT INTO microtrigger.assignments (experiment, user_id, arm, assigned_at)
SELECT 'timing', 't' || i, CASE WHEN i % 2 = 0 THEN 'slow' ELSE 'fast' END,
       timestamptz '2024-04-01 00:00+00' + i * interval '1 hour'
FROM generate_series(1, 40) i;
INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, sequence_name, step, experiment, arm)
SELECT 't' || i, 300000 + i, timestamptz '2024-04-01 00:30+00' + i * interval '1 hour', 'onboarding', 1, 'timing', 'fast'
FROM generate_series(1, 40, 2) i WHERE i % 3 = 0;
INSERT INTO microtrigger.assignments (experiment, user_id, arm, assigned_at)
SELECT 'solo', 's' || i, 'only', timestamptz '2024-05-01 00:00+00' + i * interval '1 minute'
FROM generate_series(1, 10) i;
INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, trigger_name, experiment, arm, revenue)
VALUES ('s1', 400001, '2024-05-01 01:00+00', 'welcome', 'solo', 'only', 5);
-- END DATA

CREATE TEMP TABLE reference (experiment text, metric text, pos integer, arm text, col text, want float8);
-- REFERENCE (generated by test/unit/gen_experiment_reference.py)
INSERT INTO reference VALUES
('cart_subject', 'conversion', 1, 'holdout', 'users', 60),
('cart_subject', 'conversion', 1, 'holdout', 'sent', 0),
('cart_subject', 'conversion', 1, 'holdout', 'successes', 5),
('cart_subject', 'conversion', 1, 'holdout', 'rate', 0.08333333333333333),
('cart_subject', 'conversion', 1, 'holdout', 'ci_low', 0.036120456601730744),
('cart_subject', 'conversion', 1, 'holdout', 'ci_high', 0.18068942018334413),
('cart_subject', 'conversion', 1, 'holdout', 'lift', NULL),
('cart_subject', 'conversion', 1, 'holdout', 'lift_ci_low', NULL),
('cart_subject', 'conversion', 1, 'holdout', 'lift_ci_high', NULL),
('cart_subject', 'conversion', 1, 'holdout', 'p_value', NULL),
('cart_subject', 'conversion', 1, 'holdout', 'p_holm', NULL),
('cart_subject', 'conversion', 1, 'holdout', 'chi2_p', 0.00857002100956501),
('cart_subject', 'conversion', 1, 'holdout', 'always_valid_p', NULL),
('cart_subject', 'conversion', 1, 'holdout', 'revenue', 77),
('cart_subject', 'conversion', 2, 'a', 'users', 120),
('cart_subject', 'conversion', 2, 'a', 'sent', 118),
('cart_subject', 'conversion', 2, 'a', 'successes', 18),
('cart_subject', 'conversion', 2, 'a', 'rate', 0.15),
('cart_subject', 'conversion', 2, 'a', 'ci_low', 0.09703812292584738),
('cart_subject', 'conversion', 2, 'a', 'ci_high', 0.2246752935672451),
('cart_subject', 'conversion', 2, 'a', 'lift', 0.8),
('cart_subject', 'conversion', 2, 'a', 'lift_ci_low', -0.29764308683445995),
('cart_subject', 'conversion', 2, 'a', 'lift_ci_high', 3.613039238693103),
('cart_subject', 'conversion', 2, 'a', 'p_value', 0.20659529697787327),
('cart_subject', 'conversion', 2, 'a', 'p_holm', 0.20659529697787327),
('cart_subject', 'conversion', 2, 'a', 'chi2_p', 0.00857002100956501),
('cart_subject', 'conversion', 2, 'a', 'always_valid_p', 0.941691646107212),
('cart_subject', 'conversion', 2, 'a', 'revenue', 284),
('cart_subject', 'conversion', 3, 'b', 'users', 120),
('cart_subject', 'conversion', 3, 'b', 'sent', 118),
('cart_subject', 'conversion', 3, 'b', 'successes', 31),
('cart_subject', 'conversion', 3, 'b', 'rate', 0.25833333333333336),
('cart_subject', 'conversion', 3, 'b', 'ci_low', 0.18837396318660649),
('cart_subject', 'conversion', 3, 'b', 'ci_high', 0.3432853005824337),
('cart_subject', 'conversion', 3, 'b', 'lift', 2.1000000000000005),
('cart_subject', 'conversion', 3, 'b', 'lift_ci_low', 0.2701267057955079),
('cart_subject', 'conversion', 3, 'b', 'lift_ci_high', 6.566174269189192),
('cart_subject', 'conversion', 3, 'b', 'p_value', 0.005657597815064355),
('cart_subject', 'conversion', 3, 'b', 'p_holm', 0.01131519563012871),
('cart_subject', 'conversion', 3, 'b', 'chi2_p', 0.00857002100956501),
('cart_subject', 'conversion', 3, 'b', 'always_valid_p', 0.5557205670410852),
('cart_subject', 'conversion', 3, 'b', 'revenue', 597.5),
('cart_subject', 'click', 1, 'holdout', 'users', 60),
('cart_subject', 'click', 1, 'holdout', 'sent', 0),
('cart_subject', 'click', 1, 'holdout', 'successes', 0),
('cart_subject', 'click', 1, 'holdout', 'rate', 0.0),
('cart_subject', 'click', 1, 'holdout', 'ci_low', 0.0),
('cart_subject', 'click', 1, 'holdout', 'ci_high', 0.060171852142089886),
('cart_subject', 'click', 1, 'holdout', 'lift', NULL),
('cart_subject', 'click', 1, 'holdout', 'lift_ci_low', NULL),
('cart_subject', 'click', 1, 'holdout', 'lift_ci_high', NULL),
('cart_subject', 'click', 1, 'holdout', 'p_value', NULL),
('cart_subject', 'click', 1, 'holdout', 'p_holm', NULL),
('cart_subject', 'click', 1, 'holdout', 'chi2_p', 8.481823524646911e-05),
('cart_subject', 'click', 1, 'holdout', 'always_valid_p', NULL),
('cart_subject', 'click', 1, 'holdout', 'revenue', 77),
('cart_subject', 'click', 2, 'a', 'users', 120),
('cart_subject', 'click', 2, 'a', 'sent', 118),
('cart_subject', 'click', 2, 'a', 'successes', 30),
('cart_subject', 'click', 2, 'a', 'rate', 0.25),
('cart_subject', 'click', 2, 'a', 'ci_low', 0.18109821656809566),
('cart_subject', 'click', 2, 'a', 'ci_high', 0.33441136664125615),
('cart_subject', 'click', 2, 'a', 'lift', NULL),
('cart_subject', 'click', 2, 'a', 'lift_ci_low', NULL),
('cart_subject', 'click', 2, 'a', 'lift_ci_high', NULL),
('cart_subject', 'click', 2, 'a', 'p_value', 2.2090496998585445e-05),
('cart_subject', 'click', 2, 'a', 'p_holm', 4.418099399717089e-05),
('cart_subject', 'click', 2, 'a', 'chi2_p', 8.481823524646911e-05),
('cart_subject', 'click', 2, 'a', 'always_valid_p', 0.01901614189655492),
('cart_subject', 'click', 2, 'a', 'revenue', 284),
('cart_subject', 'click', 3, 'b', 'users', 120),
('cart_subject', 'click', 3, 'b', 'sent', 118),
('cart_subject', 'click', 3, 'b', 'successes', 30),
('cart_subject', 'click', 3, 'b', 'rate', 0.25),
('cart_subject', 'click', 3, 'b', 'ci_low', 0.18109821656809566),
('cart_subject', 'click', 3, 'b', 'ci_high', 0.33441136664125615),
('cart_subject', 'click', 3, 'b', 'lift', NULL),
('cart_subject', 'click', 3, 'b', 'lift_ci_low', NULL),
('cart_subject', 'click', 3, 'b', 'lift_ci_high', NULL),
('cart_subject', 'click', 3, 'b', 'p_value', 2.2090496998585445e-05),
('cart_subject', 'click', 3, 'b', 'p_holm', 4.418099399717089e-05),
('cart_subject', 'click', 3, 'b', 'chi2_p', 8.481823524646911e-05),
('cart_subject', 'click', 3, 'b', 'always_valid_p', 0.01901614189655492),
('cart_subject', 'click', 3, 'b', 'revenue', 597.5),
('cart_subject', 'open', 1, 'holdout', 'users', 60),
('cart_subject', 'open', 1, 'holdout', 'sent', 0),
('cart_subject', 'open', 1, 'holdout', 'successes', 0),
('cart_subject', 'open', 1, 'holdout', 'rate', 0.0),
('cart_subject', 'open', 1, 'holdout', 'ci_low', 0.0),
('cart_subject', 'open', 1, 'holdout', 'ci_high', 0.060171852142089886),
('cart_subject', 'open', 1, 'holdout', 'lift', NULL),
('cart_subject', 'open', 1, 'holdout', 'lift_ci_low', NULL),
('cart_subject', 'open', 1, 'holdout', 'lift_ci_high', NULL),
('cart_subject', 'open', 1, 'holdout', 'p_value', NULL),
('cart_subject', 'open', 1, 'holdout', 'p_holm', NULL),
('cart_subject', 'open', 1, 'holdout', 'chi2_p', 2.4399411245812416e-19),
('cart_subject', 'open', 1, 'holdout', 'always_valid_p', NULL),
('cart_subject', 'open', 1, 'holdout', 'revenue', 77),
('cart_subject', 'open', 2, 'a', 'users', 120),
('cart_subject', 'open', 2, 'a', 'sent', 118),
('cart_subject', 'open', 2, 'a', 'successes', 80),
('cart_subject', 'open', 2, 'a', 'rate', 0.6666666666666666),
('cart_subject', 'open', 2, 'a', 'ci_low', 0.5783110162063498),
('cart_subject', 'open', 2, 'a', 'ci_high', 0.7446825949874156),
('cart_subject', 'open', 2, 'a', 'lift', NULL),
('cart_subject', 'open', 2, 'a', 'lift_ci_low', NULL),
('cart_subject', 'open', 2, 'a', 'lift_ci_high', NULL),
('cart_subject', 'open', 2, 'a', 'p_value', 2.1519736712498913e-17),
('cart_subject', 'open', 2, 'a', 'p_holm', 4.3039473424997826e-17),
('cart_subject', 'open', 2, 'a', 'chi2_p', 2.4399411245812416e-19),
('cart_subject', 'open', 2, 'a', 'always_valid_p', 4.2193977160944584e-10),
('cart_subject', 'open', 2, 'a', 'revenue', 284),
('cart_subject', 'open', 3, 'b', 'users', 120),
('cart_subject', 'open', 3, 'b', 'sent', 118),
('cart_subject', 'open', 3, 'b', 'successes', 80),
('cart_subject', 'open', 3, 'b', 'rate', 0.6666666666666666),
('cart_subject', 'open', 3, 'b', 'ci_low', 0.5783110162063498),
('cart_subject', 'open', 3, 'b', 'ci_high', 0.7446825949874156),
('cart_subject', 'open', 3, 'b', 'lift', NULL),
('cart_subject', 'open', 3, 'b', 'lift_ci_low', NULL),
('cart_subject', 'open', 3, 'b', 'lift_ci_high', NULL),
('cart_subject', 'open', 3, 'b', 'p_value', 2.1519736712498913e-17),
('cart_subject', 'open', 3, 'b', 'p_holm', 4.3039473424997826e-17),
('cart_subject', 'open', 3, 'b', 'chi2_p', 2.4399411245812416e-19),
('cart_subject', 'open', 3, 'b', 'always_valid_p', 6.097292669746484e-10),
('cart_subject', 'open', 3, 'b', 'revenue', 597.5),
('timing', 'conversion', 1, 'fast', 'users', 20),
('timing', 'conversion', 1, 'fast', 'sent', 0),
('timing', 'conversion', 1, 'fast', 'successes', 7),
('timing', 'conversion', 1, 'fast', 'rate', 0.35),
('timing', 'conversion', 1, 'fast', 'ci_low', 0.18119182410108203),
('timing', 'conversion', 1, 'fast', 'ci_high', 0.5671457233147638),
('timing', 'conversion', 1, 'fast', 'lift', NULL),
('timing', 'conversion', 1, 'fast', 'lift_ci_low', NULL),
('timing', 'conversion', 1, 'fast', 'lift_ci_high', NULL),
('timing', 'conversion', 1, 'fast', 'p_value', NULL),
('timing', 'conversion', 1, 'fast', 'p_holm', NULL),
('timing', 'conversion', 1, 'fast', 'chi2_p', 0.00358116403312374),
('timing', 'conversion', 1, 'fast', 'always_valid_p', NULL),
('timing', 'conversion', 1, 'fast', 'revenue', 0),
('timing', 'conversion', 2, 'slow', 'users', 20),
('timing', 'conversion', 2, 'slow', 'sent', 0),
('timing', 'conversion', 2, 'slow', 'successes', 0),
('timing', 'conversion', 2, 'slow', 'rate', 0.0),
('timing', 'conversion', 2, 'slow', 'ci_low', 0.0),
('timing', 'conversion', 2, 'slow', 'ci_high', 0.1611251580528194),
('timing', 'conversion', 2, 'slow', 'lift', -1.0),
('timing', 'conversion', 2, 'slow', 'lift_ci_low', NULL),
('timing', 'conversion', 2, 'slow', 'lift_ci_high', NULL),
('timing', 'conversion', 2, 'slow', 'p_value', 0.003581164033123739),
('timing', 'conversion', 2, 'slow', 'p_holm', 0.003581164033123739),
('timing', 'conversion', 2, 'slow', 'chi2_p', 0.00358116403312374),
('timing', 'conversion', 2, 'slow', 'always_valid_p', 0.8473541632615375),
('timing', 'conversion', 2, 'slow', 'revenue', 0),
('solo', 'conversion', 1, 'only', 'users', 10),
('solo', 'conversion', 1, 'only', 'sent', 0),
('solo', 'conversion', 1, 'only', 'successes', 1),
('solo', 'conversion', 1, 'only', 'rate', 0.1),
('solo', 'conversion', 1, 'only', 'ci_low', 0.017876213095072924),
('solo', 'conversion', 1, 'only', 'ci_high', 0.40415002679523854),
('solo', 'conversion', 1, 'only', 'lift', NULL),
('solo', 'conversion', 1, 'only', 'lift_ci_low', NULL),
('solo', 'conversion', 1, 'only', 'lift_ci_high', NULL),
('solo', 'conversion', 1, 'only', 'p_value', NULL),
('solo', 'conversion', 1, 'only', 'p_holm', NULL),
('solo', 'conversion', 1, 'only', 'chi2_p', NULL),
('solo', 'conversion', 1, 'only', 'always_valid_p', NULL),
('solo', 'conversion', 1, 'only', 'revenue', 5);
-- END REFERENCE

-- What a user sees (rounded here; the comparison below is to 1e-9 relative, unrounded).
SELECT arm, users, sent, successes, round(rate::numeric, 4) AS rate, round(ci_low::numeric, 4) AS ci_low,
       round(ci_high::numeric, 4) AS ci_high, round(lift::numeric, 4) AS lift,
       round(lift_ci_low::numeric, 4) AS lift_lo, round(lift_ci_high::numeric, 4) AS lift_hi,
       round(p_value::numeric, 6) AS p_value, round(p_holm::numeric, 6) AS p_holm,
       round(chi2_p::numeric, 6) AS chi2_p, round(always_valid_p::numeric, 6) AS always_valid_p, revenue
FROM microtrigger.experiment_results('cart_subject');
SELECT arm, users, sent, successes, round(rate::numeric, 4) AS rate, round(p_value::numeric, 8) AS p_value,
       round(chi2_p::numeric, 8) AS chi2_p, round(always_valid_p::numeric, 6) AS always_valid_p
FROM microtrigger.experiment_results('cart_subject', 'click');
SELECT arm, users, successes, round(rate::numeric, 4) AS rate, round(always_valid_p::numeric, 6) AS always_valid_p
FROM microtrigger.experiment_results('cart_subject', 'open');
-- no holdout: the control is "fast", the first arm by name; "slow" has no success (lift -1, no interval)
SELECT arm, users, successes, round(ci_high::numeric, 4) AS ci_high, lift, lift_ci_low, lift_ci_high,
       round(p_value::numeric, 6) AS p_value, round(always_valid_p::numeric, 6) AS always_valid_p, revenue
FROM microtrigger.experiment_results('timing');
-- one arm: nothing to compare against
SELECT arm, users, sent, successes, rate, round(ci_low::numeric, 6) AS ci_low, round(ci_high::numeric, 6) AS ci_high,
       lift, lift_ci_low, lift_ci_high, p_value, p_holm, chi2_p, always_valid_p, revenue
FROM microtrigger.experiment_results('solo');

-- Every figure against scipy / statsmodels, in the same row order: no row means all agree.
CREATE TEMP TABLE got AS
SELECT r.experiment, r.metric, x.ordinality::integer AS pos, x.arm, c.key AS col, (c.value #>> '{}')::float8 AS got
FROM (SELECT DISTINCT experiment, metric FROM reference) r,
     LATERAL (SELECT t.ordinality, t.arm, to_jsonb(t) - 'arm' - 'ordinality' AS j
              FROM microtrigger.experiment_results(r.experiment, r.metric) WITH ORDINALITY t) x,
     LATERAL jsonb_each(x.j) c;
SELECT count(*) AS figures, count(want) AS defined FROM reference;
SELECT coalesce(r.experiment, g.experiment) AS experiment, coalesce(r.metric, g.metric) AS metric,
       coalesce(r.pos, g.pos) AS pos, r.arm AS want_arm, g.arm AS got_arm, coalesce(r.col, g.col) AS col, r.want, g.got
FROM reference r FULL JOIN got g USING (experiment, metric, pos, col)
WHERE r.arm IS DISTINCT FROM g.arm
   OR NOT coalesce((r.want IS NULL AND g.got IS NULL) OR r.want = g.got
                   OR abs(g.got - r.want) <= 1e-9 * abs(r.want), false)
ORDER BY 1, 2, 3, 6;

-- The always-valid p-value never increases as data accrues: day 5 brings 100 users to arm b of
-- whom 5 convert and 50 holdout users of whom 13 do, so that b and the holdout end at the same rate
-- (36 of 220, 18 of 110): the evidence of the latest look (p_value) weakens, always_valid_p does
-- not rise. Then strong evidence for arm a (day 6) lowers it.
CREATE TEMP TABLE before AS SELECT arm, p_value, always_valid_p FROM microtrigger.experiment_results('cart_subject');
INSERT INTO microtrigger.assignments (experiment, user_id, arm, assigned_at)
SELECT 'cart_subject', 'd5_' || i, CASE WHEN i <= 100 THEN 'b' ELSE 'holdout' END,
       timestamptz '2024-03-05 00:00+00' + i * interval '1 minute'
FROM generate_series(1, 150) i;
INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, trigger_name, experiment, arm)
SELECT 'd5_' || i, 500000 + i, timestamptz '2024-03-05 00:00:30+00' + i * interval '1 minute', 'cart_recovery',
       'cart_subject', CASE WHEN i <= 100 THEN 'b' ELSE 'holdout' END
FROM generate_series(1, 150) i WHERE i <= 5 OR i BETWEEN 101 AND 113;
SELECT arm, users, successes FROM microtrigger.experiment_results('cart_subject') ORDER BY 1;
SELECT b.arm, a.p_value > b.p_value AS latest_evidence_weaker, a.always_valid_p <= b.always_valid_p AS not_increased,
       round(b.always_valid_p::numeric, 6) AS before, round(a.always_valid_p::numeric, 6) AS after
FROM before b JOIN microtrigger.experiment_results('cart_subject') a USING (arm) WHERE b.arm <> 'holdout' ORDER BY 1;
INSERT INTO microtrigger.assignments (experiment, user_id, arm, assigned_at)
SELECT 'cart_subject', 'd6_' || i, CASE WHEN i <= 2000 THEN 'a' ELSE 'holdout' END,
       timestamptz '2024-03-06 00:00+00' + i * interval '1 second'
FROM generate_series(1, 3000) i;
INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, trigger_name, experiment, arm)
SELECT 'd6_' || i, 600000 + i, timestamptz '2024-03-06 12:00+00' + i * interval '1 second', 'cart_recovery',
       'cart_subject', 'a'
FROM generate_series(1, 2000, 2) i;
SELECT b.arm, a.always_valid_p < b.always_valid_p AS lower, a.always_valid_p < 0.001 AS below_0_001
FROM before b JOIN microtrigger.experiment_results('cart_subject') a USING (arm) WHERE b.arm = 'a';

-- Authors read assignments and conversions and may call experiment_results (it reads outbox and
-- events with the extension's rights); PUBLIC may not.
CREATE ROLE mt_exp_author;
CREATE ROLE mt_exp_nobody;
SELECT microtrigger.grant_author('mt_exp_author');
GRANT USAGE ON SCHEMA microtrigger TO mt_exp_nobody;
SET ROLE mt_exp_author;
SELECT count(*) AS assignments FROM microtrigger.assignments WHERE experiment = 'timing';
SELECT count(*) AS conversions FROM microtrigger.conversions WHERE experiment = 'timing';
SELECT arm, users, successes FROM microtrigger.experiment_results('timing');
RESET ROLE;
SET ROLE mt_exp_nobody;
\set VERBOSITY terse
SELECT arm FROM microtrigger.experiment_results('timing');
SELECT count(*) FROM microtrigger.assignments;
RESET ROLE;

-- Bad input: 22023 naming what is wrong.
CREATE FUNCTION pg_temp.err(experiment text, metric text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM microtrigger.experiment_results(experiment, metric);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.err('cart_subject', 'revenue');
SELECT pg_temp.err('no_such_test', 'conversion');
SELECT pg_temp.err(NULL, 'conversion');
SELECT pg_temp.err('cart_subject', NULL);
\set VERBOSITY default
SELECT * FROM microtrigger.experiment_results('cart_subject', 'clicks');

DROP OWNED BY mt_exp_author;
DROP ROLE mt_exp_author;
DROP OWNED BY mt_exp_nobody;
DROP ROLE mt_exp_nobody;
