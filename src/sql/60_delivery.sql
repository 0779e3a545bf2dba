-- Delivery: suppressions, the unsubscribe secret, deliver() / deliver_loop(), unsubscribe, the
-- triggers that cancel queued mail, maintenance, and the pg_cron jobs. See docs/delivery.md.

-- When a row was marked sending: rows left sending longer than microtrigger.sending_timeout
-- (a crash between claim and record) are queued again by recover_sending().
ALTER TABLE microtrigger.outbox ADD COLUMN claimed_at timestamptz;
-- Attempts whose outcome was unknown (the whole message was sent, then no reply: a timeout or a
-- dropped connection). One is retried; a second ends the row as 'failed' (see docs/delivery.md).
ALTER TABLE microtrigger.outbox ADD COLUMN unknown_outcomes integer NOT NULL DEFAULT 0;
CREATE INDEX outbox_queued_address ON microtrigger.outbox (lower(to_address)) WHERE status = 'queued';

-- Addresses that must not be mailed (stored lowercased); the engine and deliver() read it.
CREATE TABLE microtrigger.suppressions (
    address     text PRIMARY KEY,
    reason      text NOT NULL CHECK (reason IN ('bounce', 'complaint', 'manual')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT suppressions_address_lowercase CHECK (address = lower(address))
);

-- The key of unsubscribe tokens when microtrigger.unsubscribe_secret is not set: random, made on
-- first use (so pg_dump's copy restores into an empty table), readable by the extension owner only.
CREATE TABLE microtrigger.delivery_secret (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret     text NOT NULL
);
REVOKE ALL ON microtrigger.delivery_secret FROM PUBLIC;

-- Whether the SMTP server can be reached, shared by every deliverer (deliver(), each deliver_loop
-- run): a failed SMTP session (no connection, TLS or AUTH failure) counts here, not against any
-- row, and nobody connects again before retry_at (retry_base_delay * 2^(failures-1), capped at
-- retry_max_delay). Cleared by the next message that reaches the server. settings is a
-- fingerprint of the SMTP settings the failures were seen with: changing them ends the backoff.
CREATE TABLE microtrigger.delivery_state (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    down_since  timestamptz,
    retry_at    timestamptz,
    failures    integer NOT NULL DEFAULT 0,
    last_error  text,
    settings    text
);
INSERT INTO microtrigger.delivery_state DEFAULT VALUES;
REVOKE ALL ON microtrigger.delivery_state FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('microtrigger.suppressions', '');
SELECT pg_catalog.pg_extension_config_dump('microtrigger.delivery_secret', '');

-- Sends one batch of due outbox rows through a background worker that commits its claim before
-- talking to the server and records each result right after; returns how many were sent.
CREATE FUNCTION microtrigger.deliver(batch integer DEFAULT 100) RETURNS integer
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_deliver_sql';

-- Drains the outbox in this backend for up to `duration`, committing between steps: the pg_cron
-- job microtrigger-deliver. Must be CALLed outside a transaction block. A procedure that commits
-- cannot carry a SET clause: it sets search_path = pg_catalog, pg_temp itself in every
-- transaction it runs (deliver.c).
CREATE PROCEDURE microtrigger.deliver_loop(duration interval DEFAULT '50 seconds', batch integer DEFAULT 100)
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'mt_deliver_loop_sql';

REVOKE ALL ON FUNCTION microtrigger.deliver(integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE microtrigger.deliver_loop(interval, integer) FROM PUBLIC;

-- The token of a one-click unsubscribe link for (user, outbox row); 0 for a link not tied to a row.
CREATE FUNCTION microtrigger.unsubscribe_token(user_id text, outbox_id bigint DEFAULT 0) RETURNS text
    LANGUAGE c VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_unsubscribe_token_sql';
REVOKE ALL ON FUNCTION microtrigger.unsubscribe_token(text, bigint) FROM PUBLIC;

-- The full one-click unsubscribe URL for (user, outbox row): microtrigger.unsubscribe_url + token.
CREATE FUNCTION microtrigger.unsubscribe_link(user_id text, outbox_id bigint DEFAULT 0) RETURNS text
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT pg_catalog.current_setting('microtrigger.unsubscribe_url') || microtrigger.unsubscribe_token(user_id, outbox_id) $$;
REVOKE ALL ON FUNCTION microtrigger.unsubscribe_link(text, bigint) FROM PUBLIC;

-- Checks a token's HMAC and marks its contact unsubscribed (idempotent); false for a forged or
-- malformed token. SECURITY DEFINER: the token is the authorisation, so a web role may call it.
CREATE FUNCTION microtrigger.unsubscribe(token text) RETURNS boolean
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_unsubscribe_sql';

-- Queues again the rows left `sending` longer than microtrigger.sending_timeout (their sender
-- died). A batch is sent in (send_after, id) order and each result committed at once, so of the
-- rows a batch left sending only the first may have been tried: it keeps the attempt its claim
-- counted (and becomes dead at microtrigger.max_attempts); the others were never tried and get
-- theirs back. Rows of one batch share claimed_at. Returns how many rows were touched.
CREATE FUNCTION microtrigger.recover_sending() RETURNS integer
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH stale AS (
        SELECT o.id, o.claimed_at, o.send_after
          FROM microtrigger.outbox o
         WHERE o.status = 'sending'
           AND o.claimed_at < clock_timestamp() - current_setting('microtrigger.sending_timeout')::interval
           FOR UPDATE),
    ranked AS (
        SELECT id, row_number() OVER (PARTITION BY claimed_at ORDER BY send_after, id) = 1 AS maybe_tried
          FROM stale),
    recovered AS (
        UPDATE microtrigger.outbox o
           SET status = CASE WHEN r.maybe_tried
                              AND o.attempts >= current_setting('microtrigger.max_attempts')::integer
                             THEN 'dead' ELSE 'queued' END,
               attempts = CASE WHEN r.maybe_tried THEN o.attempts ELSE o.attempts - 1 END,
               last_error = CASE WHEN r.maybe_tried
                                 THEN 'interrupted while sending (this message may have been in flight); '
                                      'recovered after microtrigger.sending_timeout'
                                 ELSE o.last_error END,
               claimed_at = NULL
          FROM ranked r
         WHERE o.id = r.id
        RETURNING 1)
    SELECT count(*)::integer FROM recovered
$$;
REVOKE ALL ON FUNCTION microtrigger.recover_sending() FROM PUBLIC;

-- Cancels the queued mail of a contact who has just unsubscribed.
CREATE FUNCTION microtrigger.cancel_mail_of_unsubscribed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE microtrigger.outbox
       SET status = 'cancelled', last_error = 'contact unsubscribed'
     WHERE user_id = NEW.user_id AND status = 'queued';
    RETURN NULL;
END
$$;
CREATE TRIGGER contacts_cancel_mail_of_unsubscribed
    AFTER INSERT OR UPDATE OF unsubscribed_at ON microtrigger.contacts
    FOR EACH ROW WHEN (NEW.unsubscribed_at IS NOT NULL)
    EXECUTE FUNCTION microtrigger.cancel_mail_of_unsubscribed();

-- Stores suppressed addresses lowercased, whatever case they were written in.
CREATE FUNCTION microtrigger.lowercase_suppression() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    NEW.address := lower(NEW.address);
    RETURN NEW;
END
$$;
CREATE TRIGGER suppressions_lowercase
    BEFORE INSERT OR UPDATE OF address ON microtrigger.suppressions
    FOR EACH ROW EXECUTE FUNCTION microtrigger.lowercase_suppression();

-- Cancels the queued mail to an address that has just been suppressed.
CREATE FUNCTION microtrigger.cancel_mail_to_suppressed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE microtrigger.outbox
       SET status = 'cancelled', last_error = 'address suppressed (' || NEW.reason || ')'
     WHERE lower(to_address) = NEW.address AND status = 'queued';
    RETURN NULL;
END
$$;
CREATE TRIGGER suppressions_cancel_mail
    AFTER INSERT OR UPDATE OF address ON microtrigger.suppressions
    FOR EACH ROW EXECUTE FUNCTION microtrigger.cancel_mail_to_suppressed();

-- Delivery's share of maintenance: recover stale `sending` rows, then delete old decisions and
-- finished outbox rows per microtrigger.decisions_retention / outbox_retention (0 keeps them).
CREATE FUNCTION microtrigger.delivery_maintenance() RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    recovered  integer := microtrigger.recover_sending();
    decisions_retention interval := current_setting('microtrigger.decisions_retention')::interval;
    outbox_retention interval := current_setting('microtrigger.outbox_retention')::interval;
    decisions_deleted bigint := 0;
    outbox_deleted bigint := 0;
BEGIN
    IF decisions_retention > interval '0' THEN
        DELETE FROM microtrigger.decisions WHERE at < now() - decisions_retention;
        GET DIAGNOSTICS decisions_deleted = ROW_COUNT;
    END IF;
    IF outbox_retention > interval '0' THEN
        DELETE FROM microtrigger.outbox
         WHERE status IN ('sent', 'cancelled', 'dead', 'failed')
           AND coalesce(sent_at, created_at) < now() - outbox_retention;
        GET DIAGNOSTICS outbox_deleted = ROW_COUNT;
    END IF;
    RETURN jsonb_build_object('recovered_sending', recovered,
                              'decisions_deleted', decisions_deleted,
                              'outbox_deleted', outbox_deleted);
END
$$;
REVOKE ALL ON FUNCTION microtrigger.delivery_maintenance() FROM PUBLIC;

-- Everything periodic that is not the engine's own work: the pg_cron job microtrigger-maintain.
CREATE PROCEDURE microtrigger.maintain()
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    PERFORM microtrigger.delivery_maintenance();
END
$$;
REVOKE ALL ON PROCEDURE microtrigger.maintain() FROM PUBLIC;

-- Schedules (or re-schedules) the pg_cron jobs when pg_cron is installed in this database:
-- microtrigger-deliver every minute (draining for 50 s) and microtrigger-maintain hourly.
-- Returns false when pg_cron is absent. Call it again after CREATE EXTENSION pg_cron.
CREATE FUNCTION microtrigger.schedule_jobs() RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN false;
    END IF;
    PERFORM cron.schedule('microtrigger-deliver', '* * * * *',
                          $job$CALL microtrigger.deliver_loop('50 seconds', 100)$job$);
    PERFORM cron.schedule('microtrigger-maintain', '17 * * * *',
                          $job$CALL microtrigger.maintain()$job$);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION microtrigger.schedule_jobs() FROM PUBLIC;

SELECT microtrigger.schedule_jobs();
