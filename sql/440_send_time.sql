SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- Optimal send time (docs/timing.md, "Optimal send time"): send_time_profile(user, as_of) is the
-- user's engagement by local hour of week (0 = Monday 00:00 in the contact's zone), clicks and
-- opens above site activity, halved every 30 days; optimal_send_time(user, from, within, as_of)
-- picks the best local hour within the horizon, DST-correct, or falls back to `from` with too
-- little history. Fixed clocks only (as_of is always given).
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

INSERT INTO microtrigger.contacts (user_id, email, timezone) VALUES
 ('kol', 'kol@example.com', 'Asia/Kolkata'),
 ('few', 'few@example.com', 'Asia/Kolkata'),
 ('old', 'old@example.com', 'UTC'),
 ('ny_spring', 'nys@example.com', 'America/New_York'),
 ('ny_autumn', 'nya@example.com', 'America/New_York'),
 ('ny_gap', 'nyg@example.com', 'America/New_York'),
 ('mix', 'mix@example.com', 'Europe/Paris');

-- kol: clicks and opens at 19:00 IST (13:30 UTC) on 10 days, site activity at 12:00 IST (06:30
-- UTC) on 5 days and at 09:00 IST on 2
INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params)
SELECT 'kol', t, '2024-06-01 13:30+00'::timestamptz + d * interval '1 day' + interval '5 minutes',
       jsonb_build_object('outbox_id', d)
FROM generate_series(0, 9) d, (VALUES ('email_open'), ('email_click')) v(t);
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'kol', 'page_view', '2024-06-03 06:30+00'::timestamptz + d * interval '1 day' + interval '10 minutes'
FROM generate_series(0, 4) d;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'kol', 'page_view', '2024-06-05 03:30+00'::timestamptz + d * interval '1 day' FROM generate_series(0, 1) d;

-- the profile: 168 rows, its total is the history; the best hours are 19:00 IST, Friday 19:00 is
-- hour 115 ((5 - 1) * 24 + 19), neighbours and the other days share weight
SELECT count(*) AS hours, min(hour_of_week), max(hour_of_week), round(sum(weight)::numeric, 3) AS history
FROM microtrigger.send_time_profile('kol', '2024-06-14 04:00+00');
SELECT hour_of_week, hour_of_week / 24 AS iso_day_minus_1, hour_of_week % 24 AS local_hour,
       round(weight::numeric, 4) AS weight
FROM microtrigger.send_time_profile('kol', '2024-06-14 04:00+00') ORDER BY weight DESC, hour_of_week LIMIT 5;
-- the hours 17:00 to 21:00 of Friday: 19:00 is the peak, 18:00 and 20:00 get a neighbour's share
SELECT hour_of_week, round(weight::numeric, 4) AS weight
FROM microtrigger.send_time_profile('kol', '2024-06-14 04:00+00') WHERE hour_of_week BETWEEN 113 AND 117
ORDER BY hour_of_week;

-- from Friday 09:30 IST with 24 hours: Friday 19:00 IST (13:30 UTC)
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'Asia/Kolkata')).wall_time AS local, o.optimal,
       round(o.history::numeric, 3) AS history
FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '24 hours', '2024-06-14 04:00+00') o;
-- from Friday 20:10 IST: 19:00 is passed, the best within 24 hours is Saturday 19:00 IST
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'Asia/Kolkata')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('kol', '2024-06-14 14:40+00', '24 hours', '2024-06-14 14:40+00') o;
-- a horizon that does not reach 19:00 (6 hours from 09:30 IST, to 15:30): the best within it,
-- 12:00 IST (06:30 UTC), where the site activity is
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'Asia/Kolkata')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '6 hours', '2024-06-14 04:00+00') o;
-- from 19:20 IST, the hour of `from` is the best: `from` itself, not 19:00
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'Asia/Kolkata')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('kol', '2024-06-14 13:50+00', '2 hours', '2024-06-14 13:50+00') o;
-- the horizon's end is inclusive: 09:30 IST + 9.5 hours is 19:00 exactly
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'Asia/Kolkata')).wall_time AS local
FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '9 hours 30 minutes', '2024-06-14 04:00+00') o;
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'Asia/Kolkata')).wall_time AS local
FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '9 hours 29 minutes', '2024-06-14 04:00+00') o;
-- events after as_of are not read: as of 2024-06-03 07:00 only the first two days' 19:00 events
-- and one page view count
SELECT round(o.history::numeric, 3) AS history, o.optimal,
       (microtrigger.local_time(o.send_at, 'Asia/Kolkata')).wall_time AS local
FROM microtrigger.optimal_send_time('kol', '2024-06-03 07:00+00', '24 hours', '2024-06-03 07:00+00') o;

-- too little history: three page views (3 < 5) fall back to `from`
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'few', 'page_view', '2024-06-10 13:30+00'::timestamptz + d * interval '1 day' FROM generate_series(0, 2) d;
SELECT o.send_at, o.optimal, round(o.history::numeric, 3) AS history
FROM microtrigger.optimal_send_time('few', '2024-06-14 04:00+00', '24 hours', '2024-06-14 04:00+00') o;
-- old history decays: 40 page views 300 days before as_of weigh 40 / 2^10
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'old', 'page_view', '2023-08-19 19:00+00'::timestamptz + d * interval '1 minute' FROM generate_series(0, 39) d;
SELECT o.send_at, o.optimal, round(o.history::numeric, 4) AS history
FROM microtrigger.optimal_send_time('old', '2024-06-14 04:00+00', '24 hours', '2024-06-14 04:00+00') o;
-- the same as of a day after them: chosen, 19:00 UTC
SELECT o.send_at, o.optimal, round(o.history::numeric, 3) AS history
FROM microtrigger.optimal_send_time('old', '2023-08-20 04:00+00', '24 hours', '2023-08-20 04:00+00') o;
-- a user without a contacts row or events: UTC, no history
SELECT o.send_at, o.optimal, o.history FROM microtrigger.optimal_send_time('nobody', '2024-06-14 04:00+00', '24 hours', '2024-06-14 04:00+00') o;
SELECT count(*), sum(weight) FROM microtrigger.send_time_profile('nobody', '2024-06-14 04:00+00');

-- clicks weigh more than site activity: 6 page views at 10:00 Paris and 2 clicks at 20:00 pick
-- 20:00 (2 x 4 > 6 x 1); with 10 page views the site activity wins
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'mix', 'page_view', '2024-06-10 08:00+00'::timestamptz + d * interval '1 day' FROM generate_series(0, 2) d
UNION ALL
SELECT 'mix', 'page_view', '2024-06-10 08:30+00'::timestamptz + d * interval '1 day' FROM generate_series(0, 2) d
UNION ALL
SELECT 'mix', 'email_click', '2024-06-10 18:00+00'::timestamptz + d * interval '1 day' FROM generate_series(0, 1) d;
SELECT (microtrigger.local_time(o.send_at, 'Europe/Paris')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('mix', '2024-06-14 05:00+00', '24 hours', '2024-06-14 05:00+00') o;
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'mix', 'page_view', '2024-06-12 08:15+00'::timestamptz + d * interval '1 minute' FROM generate_series(0, 3) d;
SELECT (microtrigger.local_time(o.send_at, 'Europe/Paris')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('mix', '2024-06-14 05:00+00', '24 hours', '2024-06-14 05:00+00') o;

-- DST in America/New_York. ny_spring clicks at 09:00 EST (14:00 UTC) on weekdays of February;
-- on Sunday 2024-03-10 (clocks go forward at 02:00) 09:00 local is 13:00 UTC (EDT)
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'ny_spring', 'email_click', g + interval '14 hours'
FROM generate_series('2024-02-19'::timestamptz, '2024-03-08', '1 day') g WHERE extract(isodow FROM g) < 6;
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'America/New_York')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('ny_spring', '2024-03-10 05:00+00', '24 hours', '2024-03-10 05:00+00') o;
-- ny_autumn clicks at 09:00 EDT (13:00 UTC) in October; on 2024-11-03 (clocks go back) 09:00 EST is 14:00 UTC
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'ny_autumn', 'email_click', g + interval '13 hours'
FROM generate_series('2024-10-14'::timestamptz, '2024-11-01', '1 day') g WHERE extract(isodow FROM g) < 6;
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'America/New_York')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('ny_autumn', '2024-11-03 04:30+00', '24 hours', '2024-11-03 04:30+00') o;
-- ny_gap is busiest at 02:00 local; 2024-03-10 02:00 does not exist: the end of the gap, 03:00 EDT
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'ny_gap', 'email_open', g + interval '7 hours 10 minutes'
FROM generate_series('2024-02-19'::timestamptz, '2024-03-08', '1 day') g;
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'America/New_York')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('ny_gap', '2024-03-10 05:00+00', '24 hours', '2024-03-10 05:00+00') o;
-- and on the next night 02:00 EDT (06:00 UTC)
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'America/New_York')).wall_time AS local, o.optimal
FROM microtrigger.optimal_send_time('ny_gap', '2024-03-10 12:00+00', '24 hours', '2024-03-10 12:00+00') o;
-- ny_one is busiest at 01:00 local; on 2024-11-03 01:00 happens twice: the first (EDT, 05:00 UTC)
INSERT INTO microtrigger.contacts (user_id, email, timezone) VALUES ('ny_one', 'ny1@example.com', 'America/New_York');
INSERT INTO microtrigger.events (user_id, event_type, occurred_at)
SELECT 'ny_one', 'email_click', g + interval '5 hours 20 minutes'
FROM generate_series('2024-10-14'::timestamptz, '2024-11-01', '1 day') g;
SELECT o.send_at, (microtrigger.local_time(o.send_at, 'America/New_York')).utc_offset, o.optimal
FROM microtrigger.optimal_send_time('ny_one', '2024-11-03 04:00+00', '24 hours', '2024-11-03 04:00+00') o;
-- the profile is in local time across the change: EST clicks at 14:00 UTC are hour 9 of each day
SELECT hour_of_week % 24 AS local_hour, round(sum(weight)::numeric, 3) AS weight
FROM microtrigger.send_time_profile('ny_spring', '2024-03-10 05:00+00')
GROUP BY 1 ORDER BY 2 DESC LIMIT 3;

-- bad input: the horizon must be 1 hour to 7 days; as_of must be finite
SELECT * FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '59 minutes', '2024-06-14 04:00+00');
SELECT * FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '7 days 1 second', '2024-06-14 04:00+00');
SELECT * FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '-3 days', '2024-06-14 04:00+00');
SELECT o.send_at FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '7 days', '2024-06-14 04:00+00') o;
SELECT * FROM microtrigger.send_time_profile('kol', 'infinity');
SELECT * FROM microtrigger.optimal_send_time('kol', '2024-06-14 04:00+00', '1 day', '-infinity');
-- `from` infinity: unchanged, not optimal
SELECT o.send_at, o.optimal FROM microtrigger.optimal_send_time('kol', 'infinity', '1 day', '2024-06-14 04:00+00') o;
