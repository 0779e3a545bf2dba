-- The view status: one row per check of a setup that would otherwise silently do nothing, and a
-- NOTICE at CREATE EXTENSION for each check that fails. See docs/reference.md ("Views").

-- The checks behind microtrigger.status (a function: pg_cron's tables exist only where pg_cron is
-- installed, so they are read through dynamic SQL). Settings the caller may not read count as
-- not known rather than failing the whole view.
CREATE FUNCTION microtrigger.status_checks()
    RETURNS TABLE (check_name text, ok boolean, detail text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    served text := pg_catalog.current_setting('microtrigger.database', true);
    smtp text;
    http_port integer := coalesce(pg_catalog.current_setting('microtrigger.http_port', true), '0')::integer;
    tracking text := coalesce(pg_catalog.current_setting('microtrigger.tracking_url', true), '');
    jobs integer;
    last_run record;
    cron_host text := pg_catalog.current_setting('cron.host', true);
    cron_bgw text := pg_catalog.current_setting('cron.use_background_workers', true);
    state record;
    n bigint;
    age interval;
BEGIN
    -- worker: the background worker runs and serves this database
    check_name := 'worker';
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                WHERE a.backend_type = 'microtrigger worker' AND a.datname = pg_catalog.current_database()) THEN
        ok := true; detail := 'serving this database';
    ELSIF served IS NULL THEN
        ok := false; detail := 'microtrigger is not in shared_preload_libraries: no background worker (call run_pending() yourself)';
    ELSIF served <> pg_catalog.current_database() THEN
        ok := false; detail := pg_catalog.format('the worker serves database %I (microtrigger.database), not this one', served);
    ELSE
        ok := false; detail := 'no microtrigger worker is running for this database';
    END IF;
    RETURN NEXT;

    -- cron_jobs: pg_cron installed here, with both jobs
    check_name := 'cron_jobs';
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        ok := false; detail := 'pg_cron is not installed in this database: nothing drains the outbox (CREATE EXTENSION pg_cron, then SELECT microtrigger.schedule_jobs())';
        RETURN NEXT;
    ELSE
        EXECUTE 'SELECT pg_catalog.count(*)::integer FROM cron.job WHERE jobname IN (''microtrigger-deliver'', ''microtrigger-maintain'')'
           INTO jobs;
        ok := jobs = 2;
        detail := CASE WHEN jobs = 2 THEN 'microtrigger-deliver and microtrigger-maintain scheduled'
                       ELSE pg_catalog.format('%s of the 2 jobs scheduled (SELECT microtrigger.schedule_jobs())', jobs) END;
        RETURN NEXT;
    END IF;

    -- cron_connect: pg_cron can run the jobs (its last run of ours, else its settings)
    check_name := 'cron_connect';
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        ok := false; detail := 'pg_cron is not installed in this database';
    ELSE
        EXECUTE 'SELECT d.status, d.return_message, d.start_time FROM cron.job_run_details d'
                '  JOIN cron.job j USING (jobid)'
                ' WHERE j.jobname IN (''microtrigger-deliver'', ''microtrigger-maintain'')'
                ' ORDER BY d.start_time DESC NULLS LAST LIMIT 1' INTO last_run;
        IF last_run.status IS NOT NULL AND last_run.status = 'failed' THEN
            ok := false; detail := pg_catalog.format('the last job run failed: %s', last_run.return_message);
        ELSIF last_run.status IS NOT NULL AND last_run.status IN ('succeeded', 'running', 'starting', 'sending', 'connecting') THEN
            ok := true; detail := pg_catalog.format('the last job run: %s', last_run.status);
        ELSIF cron_bgw = 'on' THEN
            ok := true; detail := 'no run yet; cron.use_background_workers = on';
        ELSIF cron_host LIKE '/%' THEN
            ok := true; detail := pg_catalog.format('no run yet; cron.host is the socket directory %s', cron_host);
        ELSIF pg_catalog.current_setting('listen_addresses') = '' THEN
            ok := false; detail := pg_catalog.format('pg_cron connects over TCP to cron.host (%s) but listen_addresses is empty: set cron.host to the socket directory or cron.use_background_workers = on', coalesce(cron_host, 'localhost'));
        ELSE
            ok := true; detail := pg_catalog.format('no run yet; pg_cron connects to %s', coalesce(cron_host, 'localhost'));
        END IF;
    END IF;
    RETURN NEXT;

    -- smtp: a server to send through, and not in an outage
    check_name := 'smtp';
    BEGIN
        smtp := pg_catalog.current_setting('microtrigger.smtp_url');
    EXCEPTION WHEN insufficient_privilege THEN
        smtp := NULL;
    END;
    SELECT s.failures, s.last_error, s.down_since INTO state FROM microtrigger.delivery_state s;
    IF smtp IS NULL THEN
        ok := NULL; detail := 'microtrigger.smtp_url can be read by superusers only';
    ELSIF smtp = '' THEN
        ok := false; detail := 'microtrigger.smtp_url is empty: nothing is sent, outbox rows stay queued';
    ELSIF coalesce(state.failures, 0) > 0 THEN
        ok := false; detail := pg_catalog.format('%s failed connections since %s: %s', state.failures, state.down_since, state.last_error);
    ELSE
        ok := true; detail := 'microtrigger.smtp_url is set';
    END IF;
    RETURN NEXT;

    -- http: the tracking server runs when tracked links point at it
    check_name := 'http';
    IF http_port = 0 AND tracking = '' THEN
        ok := true; detail := 'off (microtrigger.http_port = 0, no tracking_url)';
    ELSIF http_port = 0 THEN
        ok := true; detail := 'microtrigger.tracking_url is set and the built-in server is off: another web tier serves it';
    ELSIF EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.backend_type = 'microtrigger http') THEN
        ok := true; detail := pg_catalog.format('listening on port %s', http_port);
    ELSE
        ok := false; detail := pg_catalog.format('microtrigger.http_port is %s but no microtrigger http worker runs', http_port);
    END IF;
    RETURN NEXT;

    -- oldest_queued: due mail that waits longer than an hour
    check_name := 'oldest_queued';
    SELECT pg_catalog.now() - pg_catalog.min(o.send_after) INTO age
      FROM microtrigger.outbox o WHERE o.status = 'queued' AND o.send_after <= pg_catalog.now();
    ok := age IS NULL OR age < interval '1 hour';
    detail := CASE WHEN age IS NULL THEN 'no due mail waits'
                   ELSE pg_catalog.format('the oldest due row waits for %s', pg_catalog.date_trunc('second', age)) END;
    RETURN NEXT;

    -- dead_rows: mail that could not be delivered in the last day
    check_name := 'dead_rows';
    SELECT pg_catalog.count(*) INTO n FROM microtrigger.outbox o
     WHERE o.status IN ('dead', 'failed') AND o.created_at > pg_catalog.now() - interval '1 day';
    ok := n = 0;
    detail := pg_catalog.format('%s dead or failed outbox rows created in the last day', n);
    RETURN NEXT;

    -- stale_dropped: firings dropped as later than max_lateness in the last day
    check_name := 'stale_dropped';
    SELECT pg_catalog.count(*) INTO n FROM microtrigger.decisions d
     WHERE d.outcome = 'stale' AND d.at > pg_catalog.now() - interval '1 day';
    ok := n = 0;
    detail := pg_catalog.format('%s emails dropped as stale (later than max_lateness) in the last day', n);
    RETURN NEXT;
END
$$;

-- One row per check: check, ok, detail.
CREATE VIEW microtrigger.status AS
    SELECT c.check_name AS "check", c.ok, c.detail FROM microtrigger.status_checks() c;

-- A setup that would silently do nothing says so at CREATE EXTENSION.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM microtrigger.status WHERE ok IS DISTINCT FROM true LOOP
        RAISE NOTICE 'microtrigger status: % is not ok: %', r."check", r.detail;
    END LOOP;
END
$$;
