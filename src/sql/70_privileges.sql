-- Least privilege: what a trigger author and an ingesting application need, as two functions,
-- and nothing more for PUBLIC. See docs/reference.md "Roles".

-- Functions that act with the extension's rights, or run the engine, are not for PUBLIC.
REVOKE ALL ON FUNCTION microtrigger.track(text, text, jsonb, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.run_pending(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.refresh_segment(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.ingest_events() FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.segments_contact_changed() FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.backfill_segment_row() FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.refuse_removal_in_use() FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.cancel_mail_of_unsubscribed() FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.cancel_mail_to_suppressed() FROM PUBLIC;

-- A trigger author: writes the triggers, templates, sequences and segments it owns (the
-- check_owner triggers enforce "owns"), reads decisions, journeys and segment membership, and
-- uses the authoring functions. It cannot read events, contacts or the outbox, nor add events.
CREATE FUNCTION microtrigger.grant_author(role regrole) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA microtrigger TO %s', role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON microtrigger.triggers, microtrigger.templates, '
                   'microtrigger.sequences, microtrigger.segments TO %s', role);
    EXECUTE format('GRANT SELECT ON microtrigger.decisions, microtrigger.journeys, '
                   'microtrigger.segment_members, microtrigger.segment_stats TO %s', role);
    -- experiments: who is in which arm, the conversions, and the statistics (src/sql/85_experiments.sql)
    EXECUTE format('GRANT SELECT ON microtrigger.assignments, microtrigger.conversions TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION microtrigger.experiment_results(text, text) TO %s', role);
    -- the frequency caps every email counts against: read, not written (they bind every author)
    EXECUTE format('GRANT SELECT ON microtrigger.frequency_caps TO %s', role);
    EXECUTE format('GRANT SELECT ON microtrigger.funnel TO %1$s; GRANT EXECUTE ON FUNCTION microtrigger.sequence_steps(text) TO %1$s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION microtrigger.matches(jsonb, jsonb), '
                   'microtrigger.render(text, jsonb, jsonb), microtrigger.render_email(text, jsonb), '
                   'microtrigger.has_name(jsonb, text), microtrigger.explain(text, integer), '
                   'microtrigger.in_segment(text, text) TO %s', role);
END
$$;

-- An ingesting application: adds events (INSERT or COPY into events, or track()), nothing else.
-- Matching its events writes firings, decisions, journey exits and segment membership with the
-- extension's rights (the ingest triggers are SECURITY DEFINER), so none of that is granted.
CREATE FUNCTION microtrigger.grant_ingest(role regrole) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA microtrigger TO %s', role);
    EXECUTE format('GRANT INSERT ON microtrigger.events TO %s', role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION microtrigger.track(text, text, jsonb, timestamptz, text) TO %s', role);
END
$$;
REVOKE ALL ON FUNCTION microtrigger.grant_author(regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION microtrigger.grant_ingest(regrole) FROM PUBLIC;
