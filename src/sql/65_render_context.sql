-- The render context (after 60_delivery.sql, whose unsubscribe_link it uses).

-- The device an event's params name (API.md "render context"): the `device` param when it is a
-- string, else the `user_agent` param classified (device_of, 80_timing.sql), a bot being none.
CREATE FUNCTION microtrigger.event_device(p_params jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jsonb_typeof(p_params -> 'device') = 'string' THEN p_params ->> 'device'
                WHEN jsonb_typeof(p_params -> 'user_agent') = 'string'
                THEN nullif(microtrigger.device_of(p_params ->> 'user_agent'), 'bot') END
$$;

-- The data an email of this event is rendered with, for inspection: run_pending builds the same
-- in C (render_context.c; regress 118_render_context_c keeps them equal). A name resolves from the
-- first of: the context query's row, the event's params, the contact's attributes, then the fixed
-- names below. local_hour, weekday and daypart are of the moment of sending (the later of
-- p_send_at and p_as_of) in the contact's zone; device is the event's (its `device` param, else
-- its `user_agent` classified, a bot being none), else that of the user's latest event up to
-- p_as_of with either param.
CREATE FUNCTION microtrigger.render_context(p_event_id bigint, p_trigger text, p_profile jsonb,
                                            p_as_of timestamptz, p_send_at timestamptz DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
-- plpgsql, not sql: its plan is prepared once per session instead of at every call
BEGIN
    RETURN (SELECT jsonb_build_object(
               'user_id', e.user_id,
               'email', c.email,
               'event', microtrigger.event_document(e),
               'profile', coalesce(p_profile, '{}'),
               'user', CASE WHEN c.user_id IS NULL THEN '{}'::jsonb
                            ELSE c.attributes || jsonb_build_object(
                                'user_id', c.user_id, 'email', c.email, 'timezone', c.timezone,
                                'attributes', c.attributes) END,
               'segments', coalesce((SELECT jsonb_object_agg(m.segment, true)
                                     FROM microtrigger.segment_members m
                                     WHERE m.user_id = e.user_id), '{}'),
               'last_page', (SELECT p.params ->> 'url' FROM microtrigger.events p
                             WHERE p.user_id = e.user_id AND p.event_type = 'page_view'
                               AND p.occurred_at <= p_as_of
                             ORDER BY p.occurred_at DESC, p.id DESC LIMIT 1),
               'trigger', p_trigger,
               'unsubscribe_url', microtrigger.unsubscribe_link(e.user_id),
               'local_hour', lt.local_hour, 'weekday', lt.weekday, 'daypart', lt.daypart,
               'device', coalesce(microtrigger.event_device(e.params),
                                  (SELECT microtrigger.event_device(p.params) FROM microtrigger.events p
                                   WHERE p.user_id = e.user_id AND p.occurred_at <= p_as_of
                                     AND (p.params ? 'device' OR p.params ? 'user_agent')
                                   ORDER BY p.occurred_at DESC, p.id DESC LIMIT 1)))
           || coalesce(c.attributes, '{}')
           || e.params
           || coalesce(p_profile, '{}')
    FROM microtrigger.events e
    LEFT JOIN microtrigger.contacts c ON c.user_id = e.user_id
    CROSS JOIN LATERAL microtrigger.local_time(greatest(p_as_of, p_send_at),
                                               coalesce(c.timezone, 'UTC')) lt
    WHERE e.id = p_event_id);
END
$$;

