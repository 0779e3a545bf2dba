SET client_min_messages = warning;
DROP EXTENSION IF EXISTS microtrigger CASCADE;
CREATE EXTENSION microtrigger;
-- The contact's clock (docs/timing.md): contacts.timezone must be an IANA time zone PostgreSQL
-- knows, spelled as in the database, and email (when not NULL) a plausible address; 22023 naming
-- the contact, the column and the value. local_time() and from_local_time() are the clock.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
\set VERBOSITY default

-- accepted zones
INSERT INTO microtrigger.contacts (user_id, email, timezone) VALUES
 ('z1', 'z1@example.com', 'America/New_York'),
 ('z2', 'z2@example.com', 'Asia/Kolkata'),
 ('z3', 'z3@example.com', 'Pacific/Chatham'),
 ('z4', NULL, 'UTC'),
 ('z5', 'ana.m+news@sub.example.co.uk', 'Etc/GMT-3'),
 ('z6', 'müller@bücher.example', 'America/Argentina/Buenos_Aires'),
 ('z7', 'z7@example.com', DEFAULT);
SELECT user_id, email, timezone FROM microtrigger.contacts ORDER BY user_id;

-- refused zones: an unknown name, abbreviations, POSIX rules, offsets, the wrong case, copies
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad1', 'Mars/Olympus_Mons');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad2', 'EST');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad3', 'UTC+3');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad4', 'EST5EDT,M3.2.0,M11.1.0');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad5', 'america/new_york');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad6', 'right/America/New_York');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad7', 'posix/Europe/Paris');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad8', '+05:30');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad9', '');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad10', 'Europe//Paris');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad11', 'GMT');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad12', 'utc');
INSERT INTO microtrigger.contacts (user_id, timezone) VALUES ('bad13', repeat('Europe/Paris', 30));

-- refused addresses
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e1', '');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e2', 'ana');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e3', 'Ana <ana@example.com>');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e4', ' ana@example.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e5', 'ana@localhost');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e6', 'ana@@example.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e7', '@example.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e8', 'ana@');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e9', 'ana..b@example.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e10', 'ana@-example.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e11', 'ana@example..com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e12', 'ana@192.168.0.1');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e13', 'ana,bob@example.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e14', repeat('a', 65) || '@example.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e15', 'a@' || repeat('b', 250) || '.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e16', 'ana@exa_mple.com');
INSERT INTO microtrigger.contacts (user_id, email) VALUES ('e17', E'ana@example.com\n');

-- UPDATE: checked when the column changes; other updates (unsubscribing) never fail on it
UPDATE microtrigger.contacts SET timezone = 'Mars/Olympus_Mons' WHERE user_id = 'z1';
UPDATE microtrigger.contacts SET email = 'not an address' WHERE user_id = 'z1';
UPDATE microtrigger.contacts SET timezone = 'Europe/Paris', email = 'z1.new@example.com' WHERE user_id = 'z1';
ALTER TABLE microtrigger.contacts DISABLE TRIGGER validate;
UPDATE microtrigger.contacts SET timezone = 'Mars/Olympus_Mons', email = 'legacy' WHERE user_id = 'z7';
ALTER TABLE microtrigger.contacts ENABLE TRIGGER validate;
UPDATE microtrigger.contacts SET unsubscribed_at = '2024-01-01 00:00:00+00' WHERE user_id = 'z7';
UPDATE microtrigger.contacts SET timezone = timezone, email = email WHERE user_id = 'z7';
UPDATE microtrigger.contacts SET timezone = 'Asia/Tokyo' WHERE user_id = 'z7';
UPDATE microtrigger.contacts SET timezone = 'Asia/Tokyo', email = 'z7@example.com' WHERE user_id = 'z7';
SELECT user_id, email, timezone, unsubscribed_at IS NOT NULL AS unsubscribed FROM microtrigger.contacts
 WHERE user_id IN ('z1', 'z7') ORDER BY user_id;
-- COPY goes through the same check
COPY microtrigger.contacts (user_id, email, timezone) FROM stdin;
c1	c1@example.com	Europe/Berlin
c2	c2@example.com	CET
\.
SELECT count(*) AS copied FROM microtrigger.contacts WHERE user_id LIKE 'c_';

-- local_time: the local wall time, hour, weekday, daypart and offset of an instant
SELECT z, (microtrigger.local_time(t, z)).*
FROM (VALUES ('America/New_York', '2024-03-10 06:59:59+00'::timestamptz),
             ('America/New_York', '2024-03-10 07:00:00+00'),
             ('America/New_York', '2024-11-03 05:30:00+00'),
             ('America/New_York', '2024-11-03 06:30:00+00'),
             ('Asia/Kolkata', '2024-06-14 03:30:00.25+00'),
             ('Pacific/Chatham', '2024-04-06 13:59:59+00'),
             ('Pacific/Chatham', '2024-04-06 14:00:00+00'),
             ('Pacific/Chatham', '2024-09-28 14:00:00+00'),
             ('UTC', '1999-12-31 23:59:59.999999+00'),
             ('UTC', '2024-06-16 04:59:59+00'),
             ('UTC', '2024-06-16 05:00:00+00')) AS v(z, t);
-- the same wall time as PostgreSQL's AT TIME ZONE gives, every 7 hours over two years
SELECT count(*) AS instants, count(*) FILTER (WHERE (microtrigger.local_time(t, z)).wall_time <> t AT TIME ZONE z) AS differ
FROM generate_series('2024-01-01 00:00:00+00'::timestamptz, '2025-12-31 00:00:00+00', '7 hours 13 minutes') t,
     (VALUES ('America/New_York'), ('Asia/Kolkata'), ('Pacific/Chatham'), ('Europe/London'), ('Australia/Lord_Howe')) z(z);
SELECT microtrigger.local_time('infinity', 'UTC');
SELECT microtrigger.local_time('2024-01-01', 'EST');

-- from_local_time: a wall time to the instant (gap: its end; ambiguous: the first occurrence)
SELECT w, z, microtrigger.from_local_time(w, z) AS utc
FROM (VALUES ('2024-03-10 09:00'::timestamp, 'America/New_York'),
             ('2024-03-09 09:00', 'America/New_York'),
             ('2024-03-10 02:30', 'America/New_York'),
             ('2024-03-10 01:59:59.5', 'America/New_York'),
             ('2024-11-03 01:30', 'America/New_York'),
             ('2024-11-03 09:00', 'America/New_York'),
             ('2024-06-14 09:00', 'Asia/Kolkata'),
             ('2024-09-29 03:00', 'Pacific/Chatham'),
             ('2024-04-07 03:00', 'Pacific/Chatham'),
             ('2024-04-07 09:00', 'Pacific/Chatham'),
             ('2024-04-07 02:00', 'Australia/Lord_Howe'),
             ('infinity', 'UTC')) AS v(w, z);
-- outside the gaps and overlaps it agrees with PostgreSQL's AT TIME ZONE, every 7 hours over two years
SELECT count(*) AS walls, count(*) FILTER (WHERE microtrigger.from_local_time(w, z) <> w AT TIME ZONE z) AS differ
FROM generate_series('2024-01-01 00:00:00'::timestamp, '2025-12-31 00:00:00', '7 hours 13 minutes') w,
     (VALUES ('America/New_York'), ('Asia/Kolkata'), ('Pacific/Chatham'), ('Europe/London')) z(z)
WHERE (microtrigger.local_time(w AT TIME ZONE z, z)).wall_time = w
  AND (microtrigger.local_time((w AT TIME ZONE z) - interval '1 hour', z)).utc_offset
    = (microtrigger.local_time((w AT TIME ZONE z) + interval '1 hour', z)).utc_offset;
-- and it always gives an instant whose wall time is the one asked, or the end of the gap
SELECT count(*) FILTER (WHERE (microtrigger.local_time(microtrigger.from_local_time(w, 'America/New_York'), 'America/New_York')).wall_time
                              NOT IN (w, '2024-03-10 03:00:00')) AS wrong
FROM generate_series('2024-03-09 00:00:00'::timestamp, '2024-03-11 00:00:00', '10 minutes') w;
SELECT microtrigger.from_local_time('2024-01-01', 'Mars/Olympus_Mons');

DROP EXTENSION microtrigger CASCADE;
