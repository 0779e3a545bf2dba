-- Optimal send time (docs/timing.md, "Optimal send time"): a user's engagement by local hour of
-- week, and the instant it chooses within a horizon. Both read events and contacts with the
-- caller's rights.

-- The user's profile: 168 rows, hour_of_week 0 (Monday 00:00 local) .. 167 (Sunday 23:00), with
-- the weight of its events (clicks > opens > site activity, halved every 30 days back from as_of),
-- smoothed over neighbouring hours and over the days of each hour of day.
CREATE FUNCTION microtrigger.send_time_profile(user_id text, as_of timestamptz DEFAULT pg_catalog.now())
    RETURNS TABLE (hour_of_week integer, weight double precision)
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_send_time_profile_sql';
COMMENT ON FUNCTION microtrigger.send_time_profile(text, timestamptz) IS
    'The user''s engagement by local hour of week (0 = Monday 00:00), which optimal send time uses';

-- The instant an email that may go from from_at is sent with send_time "optimal": the best local
-- hour of the user's profile (as of as_of) within the horizon, or from_at with too little history.
CREATE FUNCTION microtrigger.optimal_send_time(user_id text, from_at timestamptz,
                                               within interval DEFAULT '24 hours',
                                               as_of timestamptz DEFAULT pg_catalog.now(),
                                               OUT send_at timestamptz, OUT optimal boolean,
                                               OUT history double precision)
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_optimal_send_time_sql';
COMMENT ON FUNCTION microtrigger.optimal_send_time(text, timestamptz, interval, timestamptz) IS
    'When send_time "optimal" sends: the best local hour within the horizon, or from_at with too little history';
