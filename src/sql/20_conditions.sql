-- The condition language (MongoDB query operators): the same evaluator the triggers use.

-- Does the document match the condition? An invalid condition raises SQLSTATE 22023.
CREATE FUNCTION microtrigger.matches(condition jsonb, document jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mt_matches_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION microtrigger.matches(jsonb, jsonb) IS
    'evaluates a condition (MongoDB query operators) against a JSON document';

-- Does the event match the condition? The event document is params' keys at the top level plus
-- user_id, event_type, session_id and occurred_at (ISO 8601 in UTC), which win over params.
CREATE FUNCTION microtrigger.event_matches(condition jsonb, event microtrigger.events)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mt_event_matches_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION microtrigger.event_matches(jsonb, microtrigger.events) IS
    'evaluates a condition against an event as trigger conditions see it';
