SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- Send windows and quiet hours (docs/timing.md): next_send_time(window, zone, at) is the first
-- instant at or after `at` when the window is open in the zone's local time, DST-correct; fixed
-- clocks in America/New_York (both changes of 2024), Asia/Kolkata (+05:30), Pacific/Chatham
-- (+12:45 / +13:45), wrapping windows and days lists. The setting microtrigger.quiet_hours.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

CREATE TEMP TABLE cases (what text, w jsonb, z text, at timestamptz);
INSERT INTO cases VALUES
 ('inside: unchanged', '{"hours": ["09:00", "21:00"]}', 'UTC', '2024-06-14 12:00:00.5+00'),
 ('start inclusive', '{"hours": ["09:00", "21:00"]}', 'UTC', '2024-06-14 09:00+00'),
 ('end exclusive', '{"hours": ["09:00", "21:00"]}', 'UTC', '2024-06-14 21:00+00'),
 ('before the start', '{"hours": ["09:00", "21:00"]}', 'UTC', '2024-06-14 08:59:59.9+00'),
 ('NY 09:00 EDT on the spring change', '{"hours": ["09:00", "21:00"]}', 'America/New_York', '2024-03-10 05:00+00'),
 ('NY 09:00 EST the day before', '{"hours": ["09:00", "21:00"]}', 'America/New_York', '2024-03-09 05:00+00'),
 ('NY 09:00 EST on the autumn change', '{"hours": ["09:00", "21:00"]}', 'America/New_York', '2024-11-03 04:00+00'),
 ('NY 21:00 EDT is closed', '{"hours": ["09:00", "21:00"]}', 'America/New_York', '2024-11-02 01:00+00'),
 ('NY opening in the gap: 03:00 EDT', '{"hours": ["02:30", "05:00"]}', 'America/New_York', '2024-03-10 06:00+00'),
 ('NY window inside the gap: next day', '{"hours": ["02:00", "02:30"]}', 'America/New_York', '2024-03-10 06:00+00'),
 ('NY ambiguous start: the first 01:30', '{"hours": ["01:30", "05:00"]}', 'America/New_York', '2024-11-03 04:00+00'),
 ('NY end in the repeated hour reopens', '{"hours": ["00:00", "01:30"]}', 'America/New_York', '2024-11-03 05:45+00'),
 ('NY weekdays: friday night to monday', '{"hours": ["09:00", "21:00"], "days": ["mon","tue","wed","thu","fri"]}', 'America/New_York', '2024-03-09 02:00+00'),
 ('Kolkata 09:00 IST', '{"hours": ["09:00", "21:00"]}', 'Asia/Kolkata', '2024-06-14 00:00+00'),
 ('Kolkata 21:00 IST closed', '{"hours": ["09:00", "21:00"]}', 'Asia/Kolkata', '2024-06-14 15:30+00'),
 ('Kolkata wrap 22:00-06:30', '{"hours": ["22:00", "06:30"]}', 'Asia/Kolkata', '2024-06-14 01:00+00'),
 ('Chatham 09:00 the day clocks go back', '{"hours": ["09:00", "21:00"]}', 'Pacific/Chatham', '2024-04-06 12:00+00'),
 ('Chatham 09:00 the day clocks go forward', '{"hours": ["09:00", "21:00"]}', 'Pacific/Chatham', '2024-09-28 12:00+00'),
 ('Chatham opening in the gap: 03:45', '{"hours": ["03:00", "04:00"]}', 'Pacific/Chatham', '2024-09-28 13:00+00'),
 ('wrap friday 18-02: saturday 01:00 open', '{"hours": ["18:00", "02:00"], "days": ["fri"]}', 'UTC', '2024-06-15 01:00+00'),
 ('wrap friday 18-02: friday 01:00 closed', '{"hours": ["18:00", "02:00"], "days": ["fri"]}', 'UTC', '2024-06-14 01:00+00'),
 ('wrap friday 18-02: saturday 02:00 to next friday', '{"hours": ["18:00", "02:00"], "days": ["fri"]}', 'UTC', '2024-06-15 02:00+00'),
 ('days only: sunday', '{"days": ["sun"]}', 'Europe/Paris', '2024-06-14 12:00+00'),
 ('end 24:00', '{"hours": ["20:00", "24:00"]}', 'UTC', '2024-06-14 23:59:59+00'),
 ('quiet hours 21:00-08:00 at 22:00 NY', '"21:00-08:00"', 'America/New_York', '2024-07-01 02:00+00'),
 ('quiet hours 21:00-08:00 at noon NY', '"21:00-08:00"', 'America/New_York', '2024-07-01 16:00+00'),
 ('quiet hours empty: unchanged', '""', 'America/New_York', '2024-07-01 02:00+00'),
 ('infinity: unchanged', '{"hours": ["09:00", "21:00"]}', 'UTC', 'infinity');
SELECT what, microtrigger.next_send_time(w, z, at) AS next,
       (microtrigger.local_time(microtrigger.next_send_time(w, z, at), z)).wall_time AS local_wall
FROM cases WHERE at <> 'infinity' ORDER BY what;
SELECT microtrigger.next_send_time(w, z, at) FROM cases WHERE at = 'infinity';

-- every answer is open and nothing earlier is: a scan of every 15 minutes over the New York
-- changes agrees with next_send_time for eight windows
CREATE TEMP TABLE windows (w jsonb);
INSERT INTO windows VALUES ('{"hours": ["09:00", "21:00"]}'), ('{"hours": ["02:30", "05:00"]}'),
 ('{"hours": ["01:30", "02:30"]}'), ('{"hours": ["22:00", "02:15"]}'), ('{"hours": ["00:00", "01:30"]}'),
 ('{"days": ["sun"]}'), ('{"hours": ["01:00", "03:00"], "days": ["sun", "mon"]}'), ('"01:15-23:45"');
CREATE TEMP TABLE grid AS
SELECT g AS at FROM generate_series('2024-03-08 00:00+00'::timestamptz, '2024-03-13 00:00+00', '15 minutes') g
UNION ALL
SELECT g FROM generate_series('2024-11-01 00:00+00'::timestamptz, '2024-11-06 00:00+00', '15 minutes') g;
CREATE TEMP TABLE answers AS
SELECT w, at, microtrigger.next_send_time(w, 'America/New_York', at) AS next FROM windows, grid;
-- open at `next`: next_send_time(next) = next; and not open at any grid instant in [at, next)
SELECT count(*) AS answers,
       count(*) FILTER (WHERE microtrigger.next_send_time(w, 'America/New_York', next) <> next) AS not_open,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM grid g WHERE g.at >= a.at AND g.at < a.next
                                        AND microtrigger.next_send_time(a.w, 'America/New_York', g.at) = g.at)) AS missed_earlier,
       count(*) FILTER (WHERE next > at + interval '8 days') AS too_far
FROM answers a;

-- errors name the path
SELECT microtrigger.next_send_time('{"hours": ["9", "21:00"]}', 'UTC', '2024-01-01');
SELECT microtrigger.next_send_time('{"hours": ["09:00", "21:00"], "days": ["monday"]}', 'UTC', '2024-01-01');
SELECT microtrigger.next_send_time('{"hour": ["09:00", "21:00"]}', 'UTC', '2024-01-01');
SELECT microtrigger.next_send_time('[1]', 'UTC', '2024-01-01');
SELECT microtrigger.next_send_time('"21:00"', 'UTC', '2024-01-01');
SELECT microtrigger.next_send_time('{"hours": ["09:00", "21:00"]}', 'EST', '2024-01-01');
SELECT microtrigger.next_send_time('{"hours": ["09:00", "21:00"]}', 'UTC', '9999-12-31');

-- the settings are checked when set
SHOW microtrigger.quiet_hours;
SET microtrigger.quiet_hours = '21:00-08:00';
SHOW microtrigger.quiet_hours;
SET microtrigger.quiet_hours = '9pm-8am';
SET microtrigger.quiet_hours = '08:00-08:00';
RESET microtrigger.quiet_hours;
SHOW microtrigger.max_lateness;
SET microtrigger.max_lateness = '6 hours';
SET microtrigger.max_lateness = '0';
SET microtrigger.max_lateness = 'soon';
RESET microtrigger.max_lateness;
