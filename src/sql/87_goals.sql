-- Goals and attribution (docs/goals.md): the state of the attribution stage of run_pending, which
-- writes microtrigger.conversions (85_experiments.sql) from the goal events.

-- One row: every event with id <= watermark has been attributed (or never will commit).
-- pending_to is the highest id the last run scanned; the watermark moves there once the
-- transactions that were running after that scan (pending_vxids, virtual transaction ids) ended.
-- Locked FOR UPDATE SKIP LOCKED while attributing: one session attributes at a time.
CREATE TABLE microtrigger.attribution_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark      bigint NOT NULL DEFAULT 0,
    pending_to     bigint,
    pending_vxids  bigint[] NOT NULL DEFAULT '{}'
);
INSERT INTO microtrigger.attribution_state DEFAULT VALUES;

-- Goal-typed events past the watermark that occurred after the as_of of the run that read them:
-- attributed by the first run whose as_of reaches occurred_at.
CREATE TABLE microtrigger.attribution_deferred (
    event_id     bigint PRIMARY KEY,
    occurred_at  timestamptz NOT NULL
);
CREATE INDEX attribution_deferred_time ON microtrigger.attribution_deferred (occurred_at);
SELECT pg_catalog.pg_extension_config_dump('microtrigger.attribution_deferred', '');
