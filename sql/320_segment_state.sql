-- Segments, the kept per-user state (microtrigger.segment_state): what it must not get wrong.
-- Statements in one transaction (the state kept in memory after the row's second write), a
-- rolled-back savepoint, edited history, a contact change, a truncated contacts table, a lost
-- state, late events older than the state's horizon, and the schedule of a deleted or renamed
-- segment (segment_schedule has no foreign key). After each step run_pending(T) brings every
-- segment to T and agrees(T) compares every membership with segment_members_at(segment, T).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.agrees(as_of timestamptz) RETURNS boolean LANGUAGE sql AS $$
    SELECT NOT EXISTS (
        (SELECT segment, user_id FROM microtrigger.segment_members
         EXCEPT SELECT s.name, m FROM microtrigger.segments s, microtrigger.segment_members_at(s.name, as_of) m)
        UNION ALL
        (SELECT s.name, m FROM microtrigger.segments s, microtrigger.segment_members_at(s.name, as_of) m
         EXCEPT SELECT segment, user_id FROM microtrigger.segment_members))
$$;
CREATE FUNCTION pg_temp.members(p_user text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(segment, ',' ORDER BY segment), '-') FROM microtrigger.segment_members WHERE user_id = p_user
$$;

INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES
    ('k1', 'k1@example.com', '{"plan": "free"}'),
    ('k2', 'k2@example.com', '{"plan": "free"}'),
    ('k3', 'k3@example.com', '{"plan": "free"}');
INSERT INTO microtrigger.segments (name, definition) VALUES
 ('k_views', '{"include": [{"event": "page_view", "within": "2 days", "count": {"$gte": 2}}],
              "exclude": [{"event": "purchase", "within": "1 day"}]}'),
 ('k_readers', '{"include": [{"event": "whitepaper_download"}]}'),
 ('k_free', '{"include": [{"event": "page_view", "within": "5 days"}], "profile": {"plan": "free"}}');
SELECT microtrigger.refresh_segment(name, '2026-11-01') FROM microtrigger.segments ORDER BY name;

-- Several statements in one transaction: from the second write of a user's row on, the state is
-- kept in memory and the row is stored empty; a savepoint rolled back takes its events away.
BEGIN;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'page_view', '2026-11-01 10:00');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'whitepaper_download', '2026-11-01 11:00');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'page_view', '2026-11-01 12:00');
SELECT pg_temp.members('k1') AS k1_three_statements;
SAVEPOINT s;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'purchase', '2026-11-01 13:00');
SELECT pg_temp.members('k1') AS k1_purchased;
ROLLBACK TO SAVEPOINT s;
-- the purchase and the exit are gone: a purchase at 14:00 makes k1 leave at 14:00 (judged with
-- the state kept before the savepoint, not the one the rolled-back statement left)
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'purchase', '2026-11-01 14:00');
SELECT pg_temp.members('k1') AS k1_after_rollback;
SELECT event_type, occurred_at FROM microtrigger.events
WHERE user_id = 'k1' AND params ->> 'segment' = 'k_views' ORDER BY id;
SELECT state IS NULL AS row_emptied FROM microtrigger.segment_state WHERE user_id = 'k1';
COMMIT;
-- the next transaction rebuilds the emptied row from the events
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'page_view', '2026-11-01 15:00');
SELECT state IS NOT NULL AS row_rebuilt FROM microtrigger.segment_state WHERE user_id = 'k1';
SELECT microtrigger.run_pending('2026-11-01 16:00');
SELECT pg_temp.members('k1') AS k1, pg_temp.agrees('2026-11-01 16:00') AS agrees;

-- Edited history: deleting the download empties the kept states, so a later event of that user
-- is judged without it (refresh_segment brings the membership itself back in line).
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k2', 'whitepaper_download', '2026-11-01 10:00');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k2', 'whitepaper_download', '2026-11-01 10:30');
SELECT pg_temp.members('k2') AS k2_reader;
DELETE FROM microtrigger.events WHERE user_id = 'k2' AND event_type = 'whitepaper_download';
SELECT microtrigger.refresh_segment('k_readers', '2026-11-01 16:00') AS readers;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k2', 'page_view', '2026-11-01 16:00');
SELECT microtrigger.run_pending('2026-11-01 16:00');
SELECT pg_temp.members('k2') AS k2_not_a_reader, pg_temp.agrees('2026-11-01 16:00') AS agrees;
-- the same from a DELETE alone: a new download is counted once, not with the deleted one
INSERT INTO microtrigger.segments (name, definition) VALUES
 ('k_two_reads', '{"include": [{"event": "whitepaper_download", "count": {"$gte": 2}}]}');
SELECT microtrigger.refresh_segment('k_two_reads', '2026-11-01 16:00');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k2', 'whitepaper_download', '2026-11-01 16:30');
DELETE FROM microtrigger.events WHERE user_id = 'k2' AND event_type = 'whitepaper_download';
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k2', 'whitepaper_download', '2026-11-01 17:00');
SELECT pg_temp.members('k2') AS k2_one_download;

-- A contact change is kept: after k3 leaves the free plan, a new view does not bring k3 back.
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k3', 'page_view', '2026-11-01 17:00');
SELECT microtrigger.run_pending('2026-11-01 17:30');
SELECT pg_temp.members('k3') AS k3_free;
-- (judged at the clock, 17:30, from the kept state: the verdict is the new contact's)
UPDATE microtrigger.contacts SET attributes = '{"plan": "pro"}' WHERE user_id = 'k3';
SELECT pg_temp.members('k3') AS k3_now_pro;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k3', 'page_view', '2026-11-01 18:00');
SELECT pg_temp.members('k3') AS k3_pro;
-- and so is a truncated contacts table (no row trigger fires): without a contact, no profile
UPDATE microtrigger.contacts SET attributes = '{"plan": "free"}' WHERE user_id = 'k3';
SELECT pg_temp.members('k3') AS k3_free_again;
TRUNCATE microtrigger.contacts;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k3', 'page_view', '2026-11-01 19:00');
SELECT pg_temp.members('k3') AS k3_no_contact;
-- (members nobody re-evaluates keep their membership after a TRUNCATE, as before: the contacts
-- come back, their row triggers re-evaluate them)
INSERT INTO microtrigger.contacts (user_id, email, attributes) VALUES
    ('k1', 'k1@example.com', '{"plan": "free"}'),
    ('k2', 'k2@example.com', '{"plan": "free"}'),
    ('k3', 'k3@example.com', '{"plan": "free"}');
SELECT microtrigger.run_pending('2026-11-01 20:00');
SELECT pg_temp.agrees('2026-11-01 20:00') AS agrees;

-- A lost state (an UNLOGGED table is emptied by a crash) is rebuilt from the events.
TRUNCATE microtrigger.segment_state;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'purchase', '2026-11-01 21:00');
SELECT pg_temp.members('k1') AS k1_purchased;
SELECT count(*) AS states FROM microtrigger.segment_state WHERE state IS NOT NULL;
-- Late events, older than the state's horizon (3 days before the user's last evaluation): read
-- from the events, judged exactly as before.
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'page_view', '2026-11-06 09:00');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k1', 'page_view', '2026-11-02 09:00'), ('k1', 'page_view', '2026-11-02 10:00');
SELECT microtrigger.run_pending('2026-11-06 10:00');
SELECT pg_temp.members('k1') AS k1, pg_temp.agrees('2026-11-06 10:00') AS agrees;
SELECT microtrigger.run_pending('2026-11-20');
SELECT pg_temp.agrees('2026-11-20') AS agrees_later;

-- The schedule of a renamed segment follows it; that of a deleted one goes with it.
INSERT INTO microtrigger.events (user_id, event_type, occurred_at) VALUES ('k2', 'page_view', '2026-11-20 10:00'), ('k2', 'page_view', '2026-11-20 11:00');
SELECT segment, count(*) FROM microtrigger.segment_schedule GROUP BY 1 ORDER BY 1;
UPDATE microtrigger.segments SET name = 'k_recent' WHERE name = 'k_free';
DELETE FROM microtrigger.segments WHERE name = 'k_views';
SELECT segment, count(*) FROM microtrigger.segment_schedule GROUP BY 1 ORDER BY 1;
-- renamed with a new definition: scheduled afresh under the new name
UPDATE microtrigger.segments SET name = 'k_latest', definition = '{"include": [{"event": "page_view", "within": "4 days"}]}'
WHERE name = 'k_recent';
SELECT segment, user_id, changes_at FROM microtrigger.segment_schedule ORDER BY 1, 2;
-- and the renamed segment's memberships still expire
SELECT microtrigger.run_pending('2026-12-01');
SELECT pg_temp.agrees('2026-12-01') AS agrees, (SELECT count(*) FROM microtrigger.segment_members) AS members;
SELECT count(*) AS segment_errors FROM microtrigger.decisions WHERE outcome = 'segment_error';
