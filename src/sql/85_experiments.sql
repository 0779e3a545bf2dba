-- Experiments: which arm each user is in, the conversions attributed to emails (or holdouts), and
-- experiment_results(), the statistics of an experiment. See docs/experiments.md.

-- A user's arm of an experiment: stable, written once on first use (arm 'holdout' gets no email).
CREATE TABLE microtrigger.assignments (
    experiment   text NOT NULL,
    user_id      text NOT NULL,
    arm          text NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment, user_id)
);

-- Goal events attributed to the email (outbox_id) or to the holdout decision (outbox_id NULL)
-- that preceded them; one row per goal event and trigger or sequence.
CREATE TABLE microtrigger.conversions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        text NOT NULL,
    event_id       bigint NOT NULL,
    converted_at   timestamptz NOT NULL,
    trigger_name   text,
    sequence_name  text,
    step           integer,
    outbox_id      bigint,
    experiment     text,
    arm            text,
    revenue        numeric,
    CONSTRAINT conversions_once_per_goal_event UNIQUE NULLS NOT DISTINCT (event_id, trigger_name, sequence_name)
);
CREATE INDEX conversions_experiment_user ON microtrigger.conversions (experiment, user_id)
    WHERE experiment IS NOT NULL;
CREATE INDEX conversions_user_time ON microtrigger.conversions (user_id, converted_at);

-- The experiment and arm an email was sent for (NULL outside experiments): what "sent" and the
-- click and open metrics of experiment_results() count, and what engagement events carry.
ALTER TABLE microtrigger.outbox ADD COLUMN IF NOT EXISTS experiment text;
ALTER TABLE microtrigger.outbox ADD COLUMN IF NOT EXISTS arm text;
CREATE INDEX IF NOT EXISTS outbox_experiment ON microtrigger.outbox (experiment, user_id)
    WHERE experiment IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('microtrigger.assignments', '');
SELECT pg_catalog.pg_extension_config_dump('microtrigger.conversions', '');

-- One row per arm: users, emails, successes of the metric ('conversion', 'click', 'open'), Wilson
-- intervals, lift against the control with its interval, the z-test, Holm, the chi-square test of
-- all arms, the always-valid p-value and revenue. SECURITY DEFINER: it reads outbox and events,
-- which authors cannot, and returns only counts and statistics.
CREATE FUNCTION microtrigger.experiment_results(experiment text, metric text DEFAULT 'conversion')
    RETURNS TABLE (arm text, users bigint, sent bigint, successes bigint, rate double precision,
                   ci_low double precision, ci_high double precision, lift double precision,
                   lift_ci_low double precision, lift_ci_high double precision, p_value double precision,
                   p_holm double precision, chi2_p double precision, always_valid_p double precision,
                   revenue numeric)
    LANGUAGE c STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_experiment_results_sql';
REVOKE ALL ON FUNCTION microtrigger.experiment_results(text, text) FROM PUBLIC;
