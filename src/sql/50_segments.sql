-- Segments: definitions validated when written, membership kept current incrementally (events,
-- contacts, expiring windows), refresh_segment() as the from-scratch computation. docs/segments.md.

-- When each user's membership of a segment next changes with no new event (a counted event
-- leaves its window, or a future-dated one enters). Members and non-members alike: a non-member
-- enters when the purchase that excluded them leaves its window. run_pending re-evaluates rows
-- whose time has come: an index range scan, never a sweep of all members. No foreign key: it is
-- written for every change of a check, and a check per row costs more than the write; rows of a
-- deleted or renamed segment are dropped by the trigger below (and a due one by run_pending).
CREATE TABLE microtrigger.segment_schedule (
    segment     text NOT NULL,
    user_id     text NOT NULL,
    changes_at  timestamptz NOT NULL,
    PRIMARY KEY (segment, user_id)
);
CREATE INDEX segment_schedule_due ON microtrigger.segment_schedule (changes_at);

-- The time each segment's membership is current to: the latest run_pending as_of (or refresh).
-- A late event (occurred_at before it) is judged at this time, as a fresh computation would be.
CREATE TABLE microtrigger.segment_clock (
    segment  text PRIMARY KEY REFERENCES microtrigger.segments (name) ON DELETE CASCADE ON UPDATE CASCADE,
    as_of    timestamptz NOT NULL
);

-- Per user, what maintenance needs to re-evaluate them without reading their events again: per
-- segment the stored membership and next check (as segment_members and segment_schedule hold
-- them), the profile's verdict and the times of the events each clause counts that can still
-- matter (docs/segments.md, src/segments/segment_state.h). A cache of derived state: UNLOGGED (a crash
-- empties it); a missing or emptied state is rebuilt from the events. version detects a
-- concurrent writer (the state is then stored empty). fillfactor leaves room for HOT updates.
CREATE UNLOGGED TABLE microtrigger.segment_state (
    user_id  text PRIMARY KEY,
    version  bigint NOT NULL,
    state    bytea
) WITH (fillfactor = 50);

-- Changes the kept states do not follow empty them all (rebuilt from the events at each user's
-- next pass): editing or truncating events, truncating contacts, members or the schedule.
-- refresh_segment empties them too.
CREATE FUNCTION microtrigger.segments_forget_states() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE microtrigger.segment_state SET state = NULL, version = version + 1 WHERE state IS NOT NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER segments_forget_states AFTER UPDATE OR DELETE OR TRUNCATE ON microtrigger.events
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.segments_forget_states();
CREATE TRIGGER segments_forget_states AFTER TRUNCATE ON microtrigger.contacts
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.segments_forget_states();
CREATE TRIGGER segments_forget_states AFTER TRUNCATE ON microtrigger.segment_members
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.segments_forget_states();
CREATE TRIGGER segments_forget_states AFTER TRUNCATE ON microtrigger.segment_schedule
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.segments_forget_states();

-- segment_stats counts enters and exits per segment and day without scanning every event.
CREATE INDEX events_segment_changes ON microtrigger.events ((params ->> 'segment'), occurred_at)
    WHERE event_type IN ('segment_enter', 'segment_exit');

-- segment_schedule and segment_clock are derived state and are not dumped: restoring the
-- segments rows backfills them (and the members) from the restored events.

-- Segment rows are validated and compiled when written, backfilled when created or changed, and
-- every backend's segment cache follows the table.
CREATE FUNCTION microtrigger.validate_segment_row() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_validate_segment_row_sql';
-- SECURITY DEFINER (as the two triggers below): membership is derived state that the author of
-- a segment, or an application writing events or contacts, does not write itself.
CREATE FUNCTION microtrigger.backfill_segment_row() RETURNS trigger
    LANGUAGE c SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_backfill_segment_row_sql';
CREATE TRIGGER validate BEFORE INSERT OR UPDATE ON microtrigger.segments
    FOR EACH ROW EXECUTE FUNCTION microtrigger.validate_segment_row();
CREATE TRIGGER backfill AFTER INSERT OR UPDATE ON microtrigger.segments
    FOR EACH ROW EXECUTE FUNCTION microtrigger.backfill_segment_row();
CREATE TRIGGER invalidate_segment_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON microtrigger.segments
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.invalidate_rule_cache();

-- The schedule of a segment that is renamed follows it, and that of one deleted or truncated
-- goes with it (what ON UPDATE / ON DELETE CASCADE did).
CREATE FUNCTION microtrigger.segments_drop_schedule() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM microtrigger.segment_schedule;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM microtrigger.segment_schedule WHERE segment = OLD.name;
    ELSIF OLD.name IS DISTINCT FROM NEW.name AND OLD.definition IS DISTINCT FROM NEW.definition THEN
        -- the backfill trigger (before this one) scheduled the new definition under the new name
        DELETE FROM microtrigger.segment_schedule WHERE segment = OLD.name;
    ELSIF OLD.name IS DISTINCT FROM NEW.name THEN
        UPDATE microtrigger.segment_schedule SET segment = NEW.name WHERE segment = OLD.name;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER drop_schedule AFTER UPDATE OF name OR DELETE ON microtrigger.segments
    FOR EACH ROW EXECUTE FUNCTION microtrigger.segments_drop_schedule();
CREATE TRIGGER drop_schedule_truncate AFTER TRUNCATE ON microtrigger.segments
    FOR EACH STATEMENT EXECUTE FUNCTION microtrigger.segments_drop_schedule();

-- New events: the ingest trigger on events (40_engine.sql) hands each row to the segments too.

-- Contacts: a profile may have changed.
CREATE FUNCTION microtrigger.segments_contact_changed() RETURNS trigger
    LANGUAGE c SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_segments_contact_changed_sql';
CREATE TRIGGER segments_contact_added AFTER INSERT OR DELETE ON microtrigger.contacts
    FOR EACH ROW EXECUTE FUNCTION microtrigger.segments_contact_changed();
CREATE TRIGGER segments_contact_changed AFTER UPDATE ON microtrigger.contacts
    FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.email IS DISTINCT FROM NEW.email
          OR OLD.timezone IS DISTINCT FROM NEW.timezone OR OLD.attributes IS DISTINCT FROM NEW.attributes)
    EXECUTE FUNCTION microtrigger.segments_contact_changed();

-- Recomputes a segment from the event history and contacts at as_of (set-based SQL built from its
-- definition), replaces its membership, records the differences as segment_enter/segment_exit
-- events at as_of, and returns its member count.
CREATE FUNCTION microtrigger.refresh_segment(name text, as_of timestamptz DEFAULT now())
RETURNS integer
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_refresh_segment_sql';

COMMENT ON FUNCTION microtrigger.refresh_segment(text, timestamptz) IS
    'recomputes a segment from the event history at as_of and replaces its membership; returns its member count';

-- Who is a member at as_of, computed from scratch; changes nothing.
CREATE FUNCTION microtrigger.segment_members_at(name text, as_of timestamptz)
RETURNS SETOF text
    LANGUAGE c STABLE STRICT SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'mt_segment_members_at_sql';

COMMENT ON FUNCTION microtrigger.segment_members_at(text, timestamptz) IS
    'the members of a segment at as_of, computed from the event history without changing anything';

-- Is the user a current member of the segment?
CREATE FUNCTION microtrigger.in_segment(user_id text, name text) RETURNS boolean
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM microtrigger.segment_members m
                   WHERE m.segment = in_segment.name AND m.user_id = in_segment.user_id)
$$;

-- For operators: each segment's size, and its enters and exits per day (UTC) from the
-- segment_enter / segment_exit events. A segment with no such event has one row with day NULL.
CREATE VIEW microtrigger.segment_stats AS
SELECT s.name AS segment,
       coalesce(m.members, 0) AS members,
       d.day,
       coalesce(d.enters, 0) AS enters,
       coalesce(d.exits, 0) AS exits
FROM microtrigger.segments s
LEFT JOIN (SELECT segment, count(*) AS members FROM microtrigger.segment_members GROUP BY segment) m
       ON m.segment = s.name
LEFT JOIN (SELECT e.params ->> 'segment' AS segment,
                  (e.occurred_at AT TIME ZONE 'UTC')::date AS day,
                  count(*) FILTER (WHERE e.event_type = 'segment_enter') AS enters,
                  count(*) FILTER (WHERE e.event_type = 'segment_exit') AS exits
           FROM microtrigger.events e
           WHERE e.event_type IN ('segment_enter', 'segment_exit')
           GROUP BY 1, 2) d
       ON d.segment = s.name;

COMMENT ON VIEW microtrigger.segment_stats IS
    'each segment''s size, and its enters and exits per day (UTC)';
