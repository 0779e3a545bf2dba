-- The engine: definitions validated when written, events matched as they land, run_pending.

-- Trigger rows are validated and compiled when written; the rule caches follow the table.
CREATE FUNCTION microtrigger.validate_trigger_row() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_validate_trigger_row_sql';
CREATE FUNCTION microtrigger.invalidate_rule_cache() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_invalidate_rule_cache_sql';
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON microtrigger.triggers
    FOR EACH ROW EXECUTE FUNCTION microtrigger.validate_trigger_row();
CREATE TRIGGER invalidate_rule_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON microtrigger.triggers
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.invalidate_rule_cache();

-- Events are matched in one pass per statement (INSERT, multi-row INSERT or COPY): each row is
-- read once and handed to the rules, the journey exits and the segments (50_segments.sql).
-- SECURITY DEFINER: an application that may only INSERT into events still has its events matched
-- (the firings, decisions, journey exits and segment membership are written with the
-- extension's rights); it runs no SQL an author wrote.
CREATE FUNCTION microtrigger.ingest_events() RETURNS trigger
    LANGUAGE c SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_ingest_events_sql';
CREATE TRIGGER ingest AFTER INSERT ON microtrigger.events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.ingest_events();

-- Records one event; the same as an INSERT into events. SECURITY DEFINER so that RETURNING id
-- needs no SELECT on events: EXECUTE on track is the right to add events (grant_ingest).
CREATE FUNCTION microtrigger.track(user_id text, event_type text, params jsonb DEFAULT '{}',
                                   occurred_at timestamptz DEFAULT now(), session_id text DEFAULT NULL)
RETURNS bigint LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO microtrigger.events (user_id, event_type, occurred_at, session_id, params)
    VALUES (track.user_id, track.event_type, coalesce(track.occurred_at, pg_catalog.now()), track.session_id,
            coalesce(track.params, '{}'))
    RETURNING id
$$;

-- A timestamp as ISO 8601 text in UTC, as conditions and templates see occurred_at.
CREATE FUNCTION microtrigger.iso_utc(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT (pg_catalog.to_jsonb(pg_catalog.timezone('UTC', t)) #>> '{}') || '+00:00'
$$;

-- The event document of API.md: params at the top level, plus the four event fields (which win).
CREATE FUNCTION microtrigger.event_document(e microtrigger.events) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT e.params || pg_catalog.jsonb_build_object('user_id', e.user_id, 'event_type', e.event_type,
                                          'session_id', e.session_id,
                                          'occurred_at', microtrigger.iso_utc(e.occurred_at))
$$;

-- Does all work due at as_of; returns the number of actions taken.
CREATE FUNCTION microtrigger.run_pending(as_of timestamptz DEFAULT now()) RETURNS integer
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_run_pending_sql';

-- The recent decisions for a user, newest first.
CREATE FUNCTION microtrigger.explain(user_id text, max_rows integer DEFAULT 100)
RETURNS TABLE (at timestamptz, trigger_name text, sequence_name text, outcome text, detail jsonb,
               source_event_id bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT d.at, d.trigger_name, d.sequence_name, d.outcome, d.detail, d.source_event_id
    FROM microtrigger.decisions d
    WHERE d.user_id = explain.user_id
    ORDER BY d.at DESC, d.id DESC
    LIMIT explain.max_rows
$$;

-- Sequences are validated and compiled when written; the sequence caches follow the table.
CREATE FUNCTION microtrigger.validate_sequence_row() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_validate_sequence_row_sql';
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON microtrigger.sequences
    FOR EACH ROW EXECUTE FUNCTION microtrigger.validate_sequence_row();
CREATE TRIGGER invalidate_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON microtrigger.sequences
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.invalidate_rule_cache();
