-- Engagement tracking: what the tracking server (src/track/http_server.c) records, callable by
-- sites that serve tracking from their own web tier. See docs/tracking.md.

-- Records email_open for the row a genuine token names; 22023 for a forged or unknown token.
-- SECURITY DEFINER: the token is the authorisation, so a web role may call it.
CREATE FUNCTION microtrigger.record_open(token text) RETURNS void
    LANGUAGE c VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_record_open_sql';

-- Records email_click (params with url) for link `link` of the row a genuine link token names and
-- returns that link's URL, taken from the row's own html (never an open redirect); 22023 otherwise.
CREATE FUNCTION microtrigger.record_click(token text, link integer) RETURNS text
    LANGUAGE c VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_record_click_sql';
