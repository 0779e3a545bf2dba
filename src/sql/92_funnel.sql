-- The view funnel: per trigger or sequence step, variant and arm, candidates -> queued -> sent ->
-- opened -> clicked -> converted, with unsubscribes, bounces and the rate of each stage; and
-- sequence_steps(), the names of a sequence's send_email steps. See docs/tracking.md ("Funnel").

-- The send_email steps of a sequence: the program counter (what outbox.step, journeys.step and
-- conversions.step hold), its name (send_email.name, default email_1, email_2, ...) and its
-- ordinal. SECURITY DEFINER: the sequence cache is always read with the extension's rights, so
-- one caller's rights never shape what the backend's cache holds.
CREATE FUNCTION microtrigger.sequence_steps(sequence text)
    RETURNS TABLE (step integer, name text, ordinal integer)
    LANGUAGE c STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp ROWS 5
    AS 'MODULE_PATHNAME', 'mt_sequence_steps_sql';
REVOKE ALL ON FUNCTION microtrigger.sequence_steps(text) FROM PUBLIC;

-- The engagement events of outbox rows: the funnel reads them through this index when they are a
-- small share of events (else a sequential scan is cheaper), and so can a lookup of one email's
-- engagement. Partial, so no other event pays for it at ingest.
CREATE INDEX events_outbox_engagement ON microtrigger.events ((params ->> 'outbox_id'))
    WHERE event_type IN ('email_open', 'email_click', 'email_unsubscribe', 'email_bounced');

-- One row per (trigger_name | sequence_name, step, variant, experiment, arm). A trigger's email is
-- step 'email' (its first action; a later send_email action is 'actions[i]'); a sequence's rows
-- have trigger_name NULL and the step's name, or '#pc' for a program counter the sequence no
-- longer has. Candidates are the decisions about that email: every outcome but the journey
-- bookkeeping ones, a firing that did not fire (no_match, cancelled_by_event, trigger_disabled,
-- event_missing), duplicate and the ingest errors; a queued decision counts where its
-- outbox row does, any other where its own detail puts it (a sequence's non-queued decisions do
-- not record their step yet: step NULL). Rates are of the previous stage (queued/candidates,
-- sent/queued) or of sent (opened, clicked, converted, unsubscribed), bounced/queued; NULL on 0.
CREATE VIEW microtrigger.funnel AS
WITH steps AS (
    SELECT s.name AS sequence_name, st.step, st.name
      FROM microtrigger.sequences s
     CROSS JOIN LATERAL microtrigger.sequence_steps(s.name) st
),
-- per outbox row named by engagement events (params.outbox_id must be digits: anyone who
-- ingests may write such events)
engagement AS (
    SELECT (e.params ->> 'outbox_id')::bigint AS outbox_id,
           pg_catalog.bool_or(e.event_type = 'email_open') AS opened,
           pg_catalog.bool_or(e.event_type = 'email_click') AS clicked,
           pg_catalog.bool_or(e.event_type = 'email_unsubscribe') AS unsubscribed,
           pg_catalog.bool_or(e.event_type = 'email_bounced') AS bounced
      FROM microtrigger.events e
     WHERE e.event_type IN ('email_open', 'email_click', 'email_unsubscribe', 'email_bounced')
       AND e.params ->> 'outbox_id' ~ '^[0-9]{1,18}$'
     GROUP BY 1
),
-- every row counted, with the parts of its key: an outbox row (queued and what became of it), a
-- decision about an email (a candidate; a queued one keyed by its outbox row), a conversion (keyed
-- by its email, else its own columns: a holdout, or the outbox row deleted)
counted AS (
    SELECT o.trigger_name, o.sequence_name, o.step AS pc, o.action_index, o.variant, o.experiment, o.arm,
           0 AS candidates, 1 AS queued, (o.status = 'sent')::integer AS sent,
           coalesce(g.opened, false)::integer AS opened, coalesce(g.clicked, false)::integer AS clicked,
           0 AS converted, coalesce(g.unsubscribed, false)::integer AS unsubscribed,
           coalesce(g.bounced, false)::integer AS bounced, NULL::numeric AS revenue
      FROM microtrigger.outbox o
      LEFT JOIN engagement g ON g.outbox_id = o.id
    UNION ALL
    SELECT coalesce(o.trigger_name, d.trigger_name), coalesce(o.sequence_name, d.sequence_name),
           CASE WHEN o.id IS NOT NULL THEN o.step
                WHEN d.detail ->> 'step' ~ '^[0-9]{1,9}$' THEN (d.detail ->> 'step')::integer END,
           coalesce(o.action_index, 0),
           CASE WHEN o.id IS NOT NULL THEN o.variant ELSE d.detail ->> 'variant' END,
           CASE WHEN o.id IS NOT NULL THEN o.experiment ELSE d.detail ->> 'experiment' END,
           CASE WHEN o.id IS NOT NULL THEN o.arm ELSE d.detail ->> 'arm' END,
           1, 0, 0, 0, 0, 0, 0, 0, NULL
      FROM microtrigger.decisions d
      LEFT JOIN microtrigger.outbox o
             ON d.outcome = 'queued' AND d.detail ->> 'outbox_id' ~ '^[0-9]{1,18}$'
            AND o.id = (d.detail ->> 'outbox_id')::bigint
     WHERE d.outcome NOT IN ('duplicate', 'no_match', 'cancelled_by_event', 'trigger_disabled',
                             'event_missing', 'rule_error', 'segment_error', 'journey_started',
                             'already_in_journey', 'reentry_blocked', 'sequence_missing',
                             'journey_exited', 'journey_completed')
       AND (d.trigger_name IS NOT NULL OR d.sequence_name IS NOT NULL)
    UNION ALL
    SELECT coalesce(o.trigger_name, c.trigger_name), coalesce(o.sequence_name, c.sequence_name),
           CASE WHEN o.id IS NOT NULL THEN o.step ELSE c.step END, coalesce(o.action_index, 0),
           o.variant,
           CASE WHEN o.id IS NOT NULL THEN o.experiment ELSE c.experiment END,
           CASE WHEN o.id IS NOT NULL THEN o.arm ELSE c.arm END,
           0, 0, 0, 0, 0, 1, 0, 0, c.revenue
      FROM microtrigger.conversions c
      LEFT JOIN microtrigger.outbox o ON o.id = c.outbox_id
),
-- summed by the raw key first (few groups), then named
raw AS (
    SELECT CASE WHEN sequence_name IS NULL THEN trigger_name END AS trigger_name, sequence_name,
           CASE WHEN sequence_name IS NOT NULL THEN pc END AS pc,
           CASE WHEN sequence_name IS NULL THEN action_index END AS action_index,
           variant, experiment, arm,
           pg_catalog.sum(candidates) AS candidates, pg_catalog.sum(queued) AS queued,
           pg_catalog.sum(sent) AS sent, pg_catalog.sum(opened) AS opened,
           pg_catalog.sum(clicked) AS clicked, pg_catalog.sum(converted) AS converted,
           pg_catalog.sum(unsubscribed) AS unsubscribed, pg_catalog.sum(bounced) AS bounced,
           pg_catalog.sum(revenue) AS revenue
      FROM counted
     GROUP BY 1, 2, 3, 4, 5, 6, 7
),
totals AS (
    SELECT r.trigger_name, r.sequence_name,
           CASE WHEN r.sequence_name IS NOT NULL THEN coalesce(st.name, '#' || r.pc::text)
                WHEN r.action_index > 0 THEN 'actions[' || r.action_index::text || ']'
                ELSE 'email' END AS step,
           r.variant, r.experiment, r.arm,
           pg_catalog.sum(r.candidates)::bigint AS candidates, pg_catalog.sum(r.queued)::bigint AS queued,
           pg_catalog.sum(r.sent)::bigint AS sent, pg_catalog.sum(r.opened)::bigint AS opened,
           pg_catalog.sum(r.clicked)::bigint AS clicked, pg_catalog.sum(r.converted)::bigint AS converted,
           pg_catalog.sum(r.unsubscribed)::bigint AS unsubscribed, pg_catalog.sum(r.bounced)::bigint AS bounced,
           pg_catalog.sum(r.revenue) AS revenue
      FROM raw r
      LEFT JOIN steps st ON st.sequence_name = r.sequence_name AND st.step = r.pc
     GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT trigger_name, sequence_name, step, variant, experiment, arm,
       candidates, queued, sent, opened, clicked, converted, unsubscribed, bounced, revenue,
       pg_catalog.round(queued::numeric / NULLIF(candidates, 0), 4) AS queue_rate,
       pg_catalog.round(sent::numeric / NULLIF(queued, 0), 4) AS send_rate,
       pg_catalog.round(opened::numeric / NULLIF(sent, 0), 4) AS open_rate,
       pg_catalog.round(clicked::numeric / NULLIF(sent, 0), 4) AS click_rate,
       pg_catalog.round(converted::numeric / NULLIF(sent, 0), 4) AS conversion_rate,
       pg_catalog.round(unsubscribed::numeric / NULLIF(sent, 0), 4) AS unsubscribe_rate,
       pg_catalog.round(bounced::numeric / NULLIF(queued, 0), 4) AS bounce_rate
  FROM totals;
