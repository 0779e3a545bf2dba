-- worker_latency.sh: one immediate trigger, one absence trigger, contacts, and a wall-clock record
-- of each outbox row's insertion (outbox.created_at is run_pending's as_of: the batch's start).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS microtrigger;
CREATE SCHEMA bench;
INSERT INTO microtrigger.templates (name, subject, html_body, text_body)
VALUES ('hello', 'Hello {{user_id}}', '<p>Hello {{user_id}}, you looked at {{url}}</p>', 'Hello {{user_id}}');
INSERT INTO microtrigger.contacts (user_id, email)
SELECT 'u' || g, 'u' || g || '@example.com' FROM generate_series(1, 2000) g;
INSERT INTO microtrigger.triggers (name, definition) VALUES
 ('ping_now', '{"event": "page_view", "condition": {"url": {"$startsWith": "/pricing"}}, "cooldown": 0,
                "actions": [{"send_email": {"template": "hello"}}]}'),
 ('cart_window', '{"event": "add_to_cart", "cooldown": 0,
                   "unless": {"event": "checkout", "within": "3 seconds", "same": ["cart_id"]},
                   "actions": [{"send_email": {"template": "hello"}}]}');

CREATE TABLE bench.outbox_seen (
    outbox_id        bigint,
    trigger_name     text,
    source_event_id  bigint,
    inserted_at      timestamptz NOT NULL);
CREATE FUNCTION bench.record_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench.outbox_seen VALUES (NEW.id, NEW.trigger_name, NEW.source_event_id, clock_timestamp());
    RETURN NEW;
END $$;
CREATE TRIGGER bench_record_outbox BEFORE INSERT ON microtrigger.outbox
    FOR EACH ROW EXECUTE FUNCTION bench.record_outbox();

-- Latency of each outbox row of a trigger (ms), three ways; see docs/benchmarks.md.
--   commit_ms: commit of the worker's transaction that wrote the row (the row becomes visible)
--              minus the reference; both from track_commit_timestamp
--   insert_ms: wall clock at the row's INSERT (bench.outbox_seen) minus the reference
--   start_ms:  outbox.created_at (the worker's as_of, when it began the batch) minus the reference
-- The reference is the event's commit (immediate) or the window's deadline firings.due_at (absence).
CREATE FUNCTION bench.latencies(p_trigger text)
RETURNS TABLE (commit_ms float8, insert_ms float8, start_ms float8) LANGUAGE sql AS $$
    SELECT extract(epoch FROM pg_xact_commit_timestamp(o.xmin) - ref.t) * 1000,
           extract(epoch FROM s.inserted_at - ref.t) * 1000,
           extract(epoch FROM o.created_at - ref.t) * 1000
    FROM microtrigger.outbox o
    JOIN bench.outbox_seen s ON s.outbox_id = o.id
    JOIN microtrigger.events e ON e.id = o.source_event_id
    JOIN microtrigger.firings f ON f.trigger_name = o.trigger_name AND f.source_event_id = o.source_event_id
    CROSS JOIN LATERAL (SELECT CASE WHEN f.is_absence THEN f.due_at
                                    ELSE pg_xact_commit_timestamp(e.xmin) END AS t) ref
    WHERE o.trigger_name = p_trigger
$$;
CREATE FUNCTION bench.summary(p_trigger text)
RETURNS TABLE (n bigint, p50_commit numeric, p99_commit numeric, max_commit numeric,
               p50_insert numeric, p99_insert numeric, p50_start numeric, p99_start numeric) LANGUAGE sql AS $$
    SELECT count(*),
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY commit_ms)::numeric, 1),
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY commit_ms)::numeric, 1),
           round(max(commit_ms)::numeric, 1),
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY insert_ms)::numeric, 1),
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY insert_ms)::numeric, 1),
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY start_ms)::numeric, 1),
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY start_ms)::numeric, 1)
    FROM bench.latencies(p_trigger)
$$;
