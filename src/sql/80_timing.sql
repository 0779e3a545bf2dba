-- The contact's clock and send windows, as SQL for tests and inspection (docs/timing.md).

-- The local wall time of an instant in an IANA zone, with the render context's names for it.
CREATE FUNCTION microtrigger.local_time(at timestamptz, zone text,
                                        OUT wall_time timestamp, OUT local_hour integer,
                                        OUT weekday text, OUT daypart text, OUT utc_offset interval)
    LANGUAGE c STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_local_time_sql';
COMMENT ON FUNCTION microtrigger.local_time(timestamptz, text) IS
    'The local wall time of an instant in an IANA time zone, with local_hour, weekday, daypart and the UTC offset';

-- The instant of a local wall time: a time in a spring-forward gap gives the end of the gap, an
-- ambiguous one (autumn) its first occurrence.
CREATE FUNCTION microtrigger.from_local_time(wall_time timestamp, zone text) RETURNS timestamptz
    LANGUAGE c STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_from_local_time_sql';
COMMENT ON FUNCTION microtrigger.from_local_time(timestamp, text) IS
    'The instant of a local wall time in an IANA time zone (gap: its end; ambiguous: the first)';

-- The first instant at or after `at` when a send window (a send_window object, or a quiet-hours
-- string such as '"21:00-08:00"') is open in the zone.
CREATE FUNCTION microtrigger.next_send_time(send_window jsonb, zone text, at timestamptz)
    RETURNS timestamptz
    LANGUAGE c STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_next_send_time_sql';
COMMENT ON FUNCTION microtrigger.next_send_time(jsonb, text, timestamptz) IS
    'The first instant at or after at when the send window (or quiet hours) lets mail go in the zone';

-- The device class of a user agent with uap-core's regexes: 'mobile', 'tablet', 'desktop' or
-- 'bot' (docs/timing.md, "Device").
CREATE FUNCTION microtrigger.device_of(user_agent text) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_device_of_sql';
COMMENT ON FUNCTION microtrigger.device_of(text) IS
    'mobile, tablet, desktop or bot: a user agent classified with the uap-core regexes';
