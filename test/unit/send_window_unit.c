/*
 * send_window_unit.c: PostgreSQL-free unit tests of send windows and quiet hours
 * (src/core/send_window.c): parsing with paths, the open test, and the next opening on fake zones
 * that change offset (New York 2024, Chatham +12:45/+13:45, a zone whose midnight does not
 * exist), checked against a brute-force minute-by-minute scan; and the timing keys of trigger
 * definitions and send_email actions (src/core/definition.c) as compiled into MtTrigger. Prints
 * "send-window-unit: N passed, M failed". Built and run by test/suites/send_window_unit.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "definition.h"
#include "mtalloc.h"
#include "send_window.h"

#include "unit_check.h"

/* A fake zone: the offset before the first change, then the offset after each change. */
typedef struct FakeZone
{
	int32_t		initial;
	int			n;
	int64_t		at[8];			/* unix seconds of each change, ascending */
	int32_t		offset[8];		/* offset from that change on */
} FakeZone;

/* 2024-03-10 07:00Z: EST -> EDT; 2024-11-03 06:00Z: EDT -> EST. */
static FakeZone new_york = {-18000, 2, {1710054000, 1730613600}, {-14400, -18000}};
/* 2024-04-06 14:00Z: +13:45 -> +12:45; 2024-09-28 14:00Z: +12:45 -> +13:45. */
static FakeZone chatham = {49500, 2, {1712412000, 1727532000}, {45900, 49500}};
static FakeZone kolkata = {19800, 0, {0}, {0}};
static FakeZone utc = {0, 0, {0}, {0}};
/* -04:00 until 2024-09-08 04:00Z (local midnight), then -03:00: 00:00-01:00 never happens. */
static FakeZone no_midnight = {-14400, 1, {1725768000}, {-10800}};

/* The fake clock: local time of s in the zone. */
static bool
fake_local(void *zone, int64_t s, MtLocalTime *out)
{
	FakeZone   *z = zone;
	int32_t		off = z->initial;
	int64_t		local,
				days,
				rem;

	for (int i = 0; i < z->n; i++)
		if (s >= z->at[i])
			off = z->offset[i];
	local = s + off;
	days = local / 86400;
	rem = local % 86400;
	if (rem < 0)
	{
		rem += 86400;
		days--;
	}
	mt_civil_from_days(days, &out->year, &out->month, &out->day);
	out->hour = (int) (rem / 3600);
	out->minute = (int) (rem % 3600 / 60);
	out->second = (int) (rem % 60);
	out->weekday = mt_weekday_of_days(days);
	out->utc_offset = off;
	return true;
}

/* A clock over a fake zone. */
static MtClock
clock_of(FakeZone *zone)
{
	MtClock		c = {fake_local, zone};

	return c;
}

/* Unix seconds of a UTC date and time. */
static int64_t
utc_s(int y, int mo, int d, int h, int mi)
{
	return mt_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

/* Microseconds since 2000 (TimestampTz) of unix seconds. */
static int64_t
ts(int64_t unix_seconds)
{
	return (unix_seconds - MT_UNIX_EPOCH_OFFSET) * 1000000;
}

/* Parses a window from JSON text; *err filled when refused. */
static bool
parse(const char *text, MtSendWindow *w, MtError *err)
{
	struct json_object *json = json_tokener_parse(text);
	bool		ok;

	memset(err, 0, sizeof(*err));
	ok = mt_send_window_parse(json, "$.send_window", w, err);
	json_object_put(json);
	return ok;
}

/* The window text parses to (start, end, days). */
static void
expect_window(const char *text, int start, int end, int days)
{
	MtSendWindow w;
	MtError		err;
	char		detail[700];
	bool		ok = parse(text, &w, &err);

	snprintf(detail, sizeof(detail), "got %s %d-%d days %x: %s", ok ? "ok" : "error",
			 w.start_minute, w.end_minute, w.days, err.message);
	check(ok && w.start_minute == start && w.end_minute == end && w.days == days, text, detail);
}

/* The window text is refused at path with message. */
static void
expect_refused(const char *text, const char *path, const char *message)
{
	MtSendWindow w;
	MtError		err;
	char		detail[1200];
	bool		ok = parse(text, &w, &err);

	snprintf(detail, sizeof(detail), "got %s at %s: %s", ok ? "ok" : "error", err.path, err.message);
	check(!ok && strcmp(err.path, path) == 0 && strcmp(err.message, message) == 0, text, detail);
}

/* Parsing and its messages. */
static void
test_parse(void)
{
	expect_window("{\"hours\": [\"09:00\", \"21:00\"]}", 540, 1260, MT_DAYS_ALL);
	expect_window("{\"hours\": [\"9:30\", \"24:00\"], \"days\": [\"mon\", \"sun\"]}", 570, 1440, 0x41);
	expect_window("{\"hours\": [\"18:00\", \"02:00\"]}", 1080, 120, MT_DAYS_ALL);
	expect_window("{\"days\": [\"sat\"]}", 0, 1440, 0x20);
	expect_refused("[]", "$.send_window", "send_window must be an object such as {\"hours\": [\"09:00\", \"21:00\"]}");
	expect_refused("{}", "$.send_window", "send_window needs hours or days");
	expect_refused("{\"hour\": 1}", "$.send_window.hour", "unknown key \"hour\" in send_window (use hours and days)");
	expect_refused("{\"hours\": \"09:00-21:00\"}", "$.send_window.hours",
				   "hours must be an array of two times, e.g. [\"09:00\", \"21:00\"]");
	expect_refused("{\"hours\": [\"09:00\"]}", "$.send_window.hours",
				   "hours must be an array of two times, e.g. [\"09:00\", \"21:00\"]");
	expect_refused("{\"hours\": [\"25:00\", \"21:00\"]}", "$.send_window.hours[0]",
				   "the start must be a time of day \"HH:MM\" (00:00 to 23:59)");
	expect_refused("{\"hours\": [\"24:00\", \"21:00\"]}", "$.send_window.hours[0]",
				   "the start must be a time of day \"HH:MM\" (00:00 to 23:59)");
	expect_refused("{\"hours\": [\"09:00\", \"9:5\"]}", "$.send_window.hours[1]",
				   "the end must be a time of day \"HH:MM\" (00:00 to 23:59, or 24:00)");
	expect_refused("{\"hours\": [\"09:00\", 21]}", "$.send_window.hours[1]",
				   "the end must be a time of day \"HH:MM\" (00:00 to 23:59, or 24:00)");
	expect_refused("{\"hours\": [\"09:00\", \"09:60\"]}", "$.send_window.hours[1]",
				   "the end must be a time of day \"HH:MM\" (00:00 to 23:59, or 24:00)");
	expect_refused("{\"hours\": [\"09:00\", \" 9:00\"]}", "$.send_window.hours[1]",
				   "the end must be a time of day \"HH:MM\" (00:00 to 23:59, or 24:00)");
	expect_refused("{\"hours\": [\"09:00\", \"09:00\"]}", "$.send_window.hours",
				   "the start and end are the same time: leave hours out for a window open all day");
	expect_refused("{\"hours\": [\"00:00\", \"24:00\"]}", "$.send_window.hours",
				   "the start and end are the same time: leave hours out for a window open all day");
	expect_refused("{\"days\": []}", "$.send_window.days",
				   "days must be a non-empty array of weekdays (\"mon\" ... \"sun\")");
	expect_refused("{\"days\": [\"mon\", \"Tue\"]}", "$.send_window.days[1]",
				   "a day must be one of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"");
	expect_refused("{\"days\": [\"mon\", \"fri\", \"mon\"]}", "$.send_window.days[2]", "\"mon\" is listed twice");
}

/* Quiet hours "HH:MM-HH:MM". */
static void
test_quiet_hours(void)
{
	MtSendWindow w;
	MtError		err = {0};
	bool		set = true;
	const char *bad = "quiet hours must be \"HH:MM-HH:MM\" (no mail from the first time until the second), e.g. \"21:00-08:00\"";

	check(mt_quiet_hours_parse("", "microtrigger.quiet_hours", &set, &w, &err) && !set, "empty is off", NULL);
	check(mt_quiet_hours_parse("  ", "microtrigger.quiet_hours", &set, &w, &err) && !set, "spaces are off", NULL);
	check(mt_quiet_hours_parse("21:00-08:00", "q", &set, &w, &err) && set &&
		  w.start_minute == 480 && w.end_minute == 1260 && w.days == MT_DAYS_ALL, "21:00-08:00 = window 08-21", NULL);
	check(mt_quiet_hours_parse(" 22:30 - 7:15 ", "q", &set, &w, &err) && set &&
		  w.start_minute == 435 && w.end_minute == 1350, "spaces around", NULL);
	check(mt_quiet_hours_parse("00:00-06:00", "q", &set, &w, &err) && set &&
		  w.start_minute == 360 && w.end_minute == 1440, "00:00-06:00 = window 06-24", NULL);
	check(mt_quiet_hours_parse("22:00-24:00", "q", &set, &w, &err) && set &&
		  w.start_minute == 0 && w.end_minute == 1320, "22:00-24:00 = window 00-22", NULL);
	check(mt_quiet_hours_parse("01:00-05:00", "q", &set, &w, &err) && set &&
		  w.start_minute == 300 && w.end_minute == 60, "01:00-05:00 = window 05-01 (wraps)", NULL);
	memset(&err, 0, sizeof(err));
	check(!mt_quiet_hours_parse("21:00", "microtrigger.quiet_hours", &set, &w, &err) &&
		  strcmp(err.path, "microtrigger.quiet_hours") == 0 && strcmp(err.message, bad) == 0, "no dash", err.message);
	memset(&err, 0, sizeof(err));
	check(!mt_quiet_hours_parse("9pm-8am", "q", &set, &w, &err) && strcmp(err.message, bad) == 0, "9pm-8am", err.message);
	memset(&err, 0, sizeof(err));
	check(!mt_quiet_hours_parse("24:00-08:00", "q", &set, &w, &err) && strcmp(err.message, bad) == 0, "24:00 start", err.message);
	memset(&err, 0, sizeof(err));
	check(!mt_quiet_hours_parse("08:00-08:00", "q", &set, &w, &err) &&
		  strcmp(err.message, "quiet hours start and end at the same time") == 0, "same", err.message);
	memset(&err, 0, sizeof(err));
	check(!mt_quiet_hours_parse("00:00-24:00", "q", &set, &w, &err) &&
		  strcmp(err.message, "quiet hours start and end at the same time") == 0, "all day", err.message);
}

/* next(window text, zone, t) == expected (unix seconds). */
static void
expect_next(const char *what, const char *window_text, FakeZone *zone, int64_t t, int64_t expected)
{
	MtSendWindow w;
	MtError		err;
	MtClock		c = clock_of(zone);
	int64_t		got = 0;
	MtWindowResult r;
	char		detail[200];

	if (!parse(window_text, &w, &err))
	{
		check(0, what, err.message);
		return;
	}
	r = mt_send_window_next(&w, &c, ts(t), &got);
	snprintf(detail, sizeof(detail), "result %d, got %lld, expected %lld (diff %lld s)", (int) r,
			 (long long) (got / 1000000 + MT_UNIX_EPOCH_OFFSET), (long long) expected,
			 (long long) (got / 1000000 + MT_UNIX_EPOCH_OFFSET - expected));
	check(r == MT_WINDOW_OK && got == ts(expected), what, detail);
}

/* Plain cases in UTC and fixed offsets. */
static void
test_next_plain(void)
{
	const char *day = "{\"hours\": [\"09:00\", \"21:00\"]}";
	const char *wrap = "{\"hours\": [\"18:00\", \"02:00\"], \"days\": [\"fri\"]}";
	const char *weekdays = "{\"hours\": [\"09:00\", \"21:00\"], \"days\": [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]}";
	MtSendWindow w;
	MtError		err;
	MtClock		c = clock_of(&utc);
	int64_t		got;

	/* 2024-06-14 is a Friday */
	expect_next("inside: unchanged", day, &utc, utc_s(2024, 6, 14, 12, 0), utc_s(2024, 6, 14, 12, 0));
	expect_next("start is inclusive", day, &utc, utc_s(2024, 6, 14, 9, 0), utc_s(2024, 6, 14, 9, 0));
	expect_next("before the start", day, &utc, utc_s(2024, 6, 14, 3, 0), utc_s(2024, 6, 14, 9, 0));
	expect_next("end is exclusive", day, &utc, utc_s(2024, 6, 14, 21, 0), utc_s(2024, 6, 15, 9, 0));
	expect_next("friday night to monday", weekdays, &utc, utc_s(2024, 6, 14, 22, 0), utc_s(2024, 6, 17, 9, 0));
	expect_next("saturday to monday", weekdays, &utc, utc_s(2024, 6, 15, 10, 0), utc_s(2024, 6, 17, 9, 0));
	expect_next("wrap: friday 23:00 open", wrap, &utc, utc_s(2024, 6, 14, 23, 0), utc_s(2024, 6, 14, 23, 0));
	expect_next("wrap: saturday 01:59 still open (opened friday)", wrap, &utc, utc_s(2024, 6, 15, 1, 59),
				utc_s(2024, 6, 15, 1, 59));
	expect_next("wrap: saturday 02:00 closed until next friday", wrap, &utc, utc_s(2024, 6, 15, 2, 0),
				utc_s(2024, 6, 21, 18, 0));
	expect_next("wrap: friday 01:00 closed (thursday not allowed)", wrap, &utc, utc_s(2024, 6, 14, 1, 0),
				utc_s(2024, 6, 14, 18, 0));
	/* Kolkata +05:30: 09:00 IST is 03:30Z */
	expect_next("kolkata 09:00", day, &kolkata, utc_s(2024, 6, 14, 0, 0), utc_s(2024, 6, 14, 3, 30));
	expect_next("kolkata after 21:00 IST", day, &kolkata, utc_s(2024, 6, 14, 15, 31), utc_s(2024, 6, 15, 3, 30));
	expect_next("kolkata 20:59 IST open", day, &kolkata, utc_s(2024, 6, 14, 15, 29), utc_s(2024, 6, 14, 15, 29));

	/* fractions of a second: inside keeps t; before an opening gives the opening exactly */
	parse(day, &w, &err);
	check(mt_send_window_next(&w, &c, ts(utc_s(2024, 6, 14, 8, 59)) + 59500000, &got) == MT_WINDOW_OK &&
		  got == ts(utc_s(2024, 6, 14, 9, 0)), "08:59:59.5 -> 09:00:00", NULL);
	check(mt_send_window_next(&w, &c, ts(utc_s(2024, 6, 14, 9, 0)) + 1, &got) == MT_WINDOW_OK &&
		  got == ts(utc_s(2024, 6, 14, 9, 0)) + 1, "09:00:00.000001 unchanged", NULL);
	/* out of range */
	check(mt_send_window_next(&w, &c, INT64_MAX, &got) == MT_WINDOW_RANGE, "infinity is out of range", NULL);
	check(mt_send_window_next(&w, &c, INT64_MIN, &got) == MT_WINDOW_RANGE, "-infinity is out of range", NULL);
	check(mt_send_window_next(&w, &c, ts(utc_s(9999, 12, 30, 0, 0)), &got) == MT_WINDOW_RANGE,
		  "9999-12-30 is out of range", NULL);
}

/* Daylight saving changes. */
static void
test_next_dst(void)
{
	const char *day = "{\"hours\": [\"09:00\", \"21:00\"]}";

	/* New York: 09:00 local on both change days is 09:00 local */
	expect_next("NY spring day 09:00 EDT", day, &new_york, utc_s(2024, 3, 10, 5, 0), utc_s(2024, 3, 10, 13, 0));
	expect_next("NY day before 09:00 EST", day, &new_york, utc_s(2024, 3, 9, 5, 0), utc_s(2024, 3, 9, 14, 0));
	expect_next("NY autumn day 09:00 EST", day, &new_york, utc_s(2024, 11, 3, 4, 0), utc_s(2024, 11, 3, 14, 0));
	expect_next("NY day before autumn 09:00 EDT", day, &new_york, utc_s(2024, 11, 2, 4, 0), utc_s(2024, 11, 2, 13, 0));
	expect_next("NY from 21:00 EST sat to 09:00 EDT sun", day, &new_york, utc_s(2024, 3, 10, 2, 0),
				utc_s(2024, 3, 10, 13, 0));
	/* an opening inside the spring gap opens when the gap ends (03:00 EDT = 07:00Z) */
	expect_next("NY opening in the gap", "{\"hours\": [\"02:30\", \"05:00\"]}", &new_york,
				utc_s(2024, 3, 10, 6, 0), utc_s(2024, 3, 10, 7, 0));
	/* a window entirely inside the gap does not open that day: next day 02:00 EDT */
	expect_next("NY window inside the gap", "{\"hours\": [\"02:00\", \"02:30\"]}", &new_york,
				utc_s(2024, 3, 10, 6, 0), utc_s(2024, 3, 11, 6, 0));
	/* an ambiguous opening takes the first 01:30 (EDT, 05:30Z) */
	expect_next("NY ambiguous opening: first", "{\"hours\": [\"01:30\", \"05:00\"]}", &new_york,
				utc_s(2024, 11, 3, 4, 0), utc_s(2024, 11, 3, 5, 30));
	/* after the first 01:30 has passed, the start is reached again at 01:30 EST (06:30Z) */
	expect_next("NY ambiguous opening: the second after the first", "{\"hours\": [\"01:30\", \"02:30\"]}",
				&new_york, utc_s(2024, 11, 3, 6, 0), utc_s(2024, 11, 3, 6, 30));
	/* a window ending in the repeated hour opens again when the clock falls back (01:00 EST) */
	expect_next("NY repeated hour reopens", "{\"hours\": [\"00:00\", \"01:30\"]}", &new_york,
				utc_s(2024, 11, 3, 5, 45), utc_s(2024, 11, 3, 6, 0));
	/* wrapping window over the spring change: 22:00-06:00 */
	expect_next("NY wrap over spring", "{\"hours\": [\"22:00\", \"06:00\"]}", &new_york,
				utc_s(2024, 3, 10, 10, 0), utc_s(2024, 3, 11, 2, 0));
	/* Chatham: +13:45 until 2024-04-06 14:00Z, then +12:45; 09:00 local both days */
	expect_next("Chatham 09:00 the day of the autumn change", day, &chatham, utc_s(2024, 4, 6, 12, 0),
				utc_s(2024, 4, 6, 20, 15));
	expect_next("Chatham 09:00 the day before", day, &chatham, utc_s(2024, 4, 5, 12, 0),
				utc_s(2024, 4, 5, 19, 15));
	expect_next("Chatham 09:00 after the spring change", day, &chatham, utc_s(2024, 9, 28, 12, 0),
				utc_s(2024, 9, 28, 19, 15));
	/* no local midnight on 2024-09-08: a window from 00:00 opens at 01:00 (04:00Z) */
	expect_next("no midnight: opens at the jump", "{\"hours\": [\"00:00\", \"08:00\"]}", &no_midnight,
				utc_s(2024, 9, 8, 3, 0), utc_s(2024, 9, 8, 4, 0));
	expect_next("no midnight: day-only window", "{\"days\": [\"sun\"]}", &no_midnight,
				utc_s(2024, 9, 7, 12, 0), utc_s(2024, 9, 8, 4, 0));
}

/* mt_clock_instant: local wall time -> UTC. */
static void
test_clock_instant(void)
{
	MtClock		ny = clock_of(&new_york);
	MtClock		ch = clock_of(&chatham);
	int64_t		got = 0;

	check(mt_clock_instant(&ny, 2024, 3, 10, 9, 0, 0, &got) == MT_WINDOW_OK && got == utc_s(2024, 3, 10, 13, 0),
		  "NY 09:00 spring day", NULL);
	check(mt_clock_instant(&ny, 2024, 3, 10, 2, 30, 0, &got) == MT_WINDOW_OK && got == utc_s(2024, 3, 10, 7, 0),
		  "NY 02:30 in the gap -> end of gap", NULL);
	check(mt_clock_instant(&ny, 2024, 3, 10, 1, 59, 59, &got) == MT_WINDOW_OK && got == utc_s(2024, 3, 10, 7, 0) - 1,
		  "NY 01:59:59 before the gap", NULL);
	check(mt_clock_instant(&ny, 2024, 11, 3, 1, 30, 0, &got) == MT_WINDOW_OK && got == utc_s(2024, 11, 3, 5, 30),
		  "NY 01:30 ambiguous -> first (EDT)", NULL);
	check(mt_clock_instant(&ny, 2024, 11, 3, 2, 0, 0, &got) == MT_WINDOW_OK && got == utc_s(2024, 11, 3, 7, 0),
		  "NY 02:00 after fall back (EST)", NULL);
	check(mt_clock_instant(&ch, 2024, 9, 29, 3, 0, 0, &got) == MT_WINDOW_OK && got == utc_s(2024, 9, 28, 14, 0),
		  "Chatham 03:00 in the gap -> 03:45 CHADT", NULL);
	check(mt_clock_instant(&ch, 2024, 4, 7, 3, 0, 0, &got) == MT_WINDOW_OK && got == utc_s(2024, 4, 6, 13, 15),
		  "Chatham 03:00 ambiguous -> first (+13:45)", NULL);
	check(mt_clock_instant(&ny, 2024, 2, 30, 9, 0, 0, &got) == MT_WINDOW_OK && got == utc_s(2024, 3, 1, 14, 0),
		  "Feb 30 counts on into March (callers validate dates)", NULL);
	check(mt_clock_instant(&ny, 0, 1, 1, 0, 0, 0, &got) == MT_WINDOW_RANGE, "year 0 out of range", NULL);
	check(mt_clock_instant(&ny, 2024, 1, 1, 24, 0, 0, &got) == MT_WINDOW_RANGE, "hour 24 out of range", NULL);
}

/* Calendar helpers. */
static void
test_calendar(void)
{
	int			y,
				m,
				d,
				bad = 0;

	check(mt_days_from_civil(1970, 1, 1) == 0, "1970-01-01 is day 0", NULL);
	check(mt_days_from_civil(2000, 3, 1) == 11017, "2000-03-01", NULL);
	check(mt_weekday_of_days(mt_days_from_civil(2024, 6, 14)) == 4, "2024-06-14 is a friday", NULL);
	check(mt_weekday_of_days(mt_days_from_civil(1, 1, 1)) == 0, "0001-01-01 is a monday", NULL);
	check(mt_weekday_of_days(mt_days_from_civil(1969, 12, 31)) == 2, "1969-12-31 is a wednesday", NULL);
	for (int64_t day = -800000; day < 3000000; day += 97)
	{
		mt_civil_from_days(day, &y, &m, &d);
		if (mt_days_from_civil(y, m, d) != day)
			bad++;
	}
	check(bad == 0, "civil round trip", NULL);
	check(strcmp(mt_daypart(4), "night") == 0 && strcmp(mt_daypart(5), "morning") == 0 &&
		  strcmp(mt_daypart(11), "morning") == 0 && strcmp(mt_daypart(12), "afternoon") == 0 &&
		  strcmp(mt_daypart(17), "evening") == 0 && strcmp(mt_daypart(21), "evening") == 0 &&
		  strcmp(mt_daypart(22), "night") == 0 && strcmp(mt_daypart(0), "night") == 0, "dayparts", NULL);
	check(strcmp(mt_weekday_name(0), "mon") == 0 && strcmp(mt_weekday_name(6), "sun") == 0, "weekday names", NULL);
}

/* A small deterministic generator (xorshift). */
static uint64_t
next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* The first open instant at or after s by scanning t, then every minute boundary, for 9 days. */
static int64_t
brute_next(const MtSendWindow *w, const MtClock *c, int64_t s)
{
	MtLocalTime lt;

	c->local(c->zone, s, &lt);
	if (mt_send_window_open_at(w, &lt))
		return s;
	for (int64_t t = (s / 60 + 1) * 60; t < s + 9 * 86400; t += 60)
	{
		c->local(c->zone, t, &lt);
		if (mt_send_window_open_at(w, &lt))
			return t;
	}
	return -1;
}

/* Random windows and instants around the changes agree with the brute-force scan. */
static void
test_against_brute_force(void)
{
	FakeZone   *zones[] = {&new_york, &chatham, &no_midnight, &kolkata};
	int64_t		around[] = {1710054000, 1730613600, 1712412000, 1727532000, 1725768000};
	uint64_t	state = 0x9e3779b97f4a7c15ULL;
	int			bad = 0;
	char		detail[200] = "";

	for (int i = 0; i < 600; i++)
	{
		MtSendWindow w;
		FakeZone   *z = zones[next_random(&state) % 4];
		MtClock		c = clock_of(z);
		int64_t		s = around[next_random(&state) % 5] - 2 * 86400 + (int64_t) (next_random(&state) % (4 * 86400));
		int64_t		got,
					want;

		w.start_minute = (int) (next_random(&state) % 96) * 15;
		w.end_minute = 15 + (int) (next_random(&state) % 96) * 15;
		if (w.end_minute == w.start_minute || (w.start_minute == 0 && w.end_minute == 1440))
			w.end_minute = (w.start_minute + 90) % 1440 + 15;
		w.days = (uint8_t) (next_random(&state) % 127 + 1);
		want = brute_next(&w, &c, s);
		if (mt_send_window_next(&w, &c, ts(s), &got) != MT_WINDOW_OK ||
			got / 1000000 + MT_UNIX_EPOCH_OFFSET != want)
		{
			if (bad++ == 0)
				snprintf(detail, sizeof(detail), "window %d-%d days %x at %lld: got %lld want %lld",
						 w.start_minute, w.end_minute, w.days, (long long) s,
						 (long long) (got / 1000000 + MT_UNIX_EPOCH_OFFSET), (long long) want);
		}
	}
	check(bad == 0, "600 random windows agree with a minute-by-minute scan", detail);
}

/* Compiles a trigger from JSON text; NULL with *err filled when refused. */
static MtTrigger *
compile_trigger(const char *text, MtError *err)
{
	struct json_object *json = json_tokener_parse(text);
	MtTrigger  *t;

	memset(err, 0, sizeof(*err));
	t = mt_trigger_compile("t", json, err);
	json_object_put(json);
	return t;
}

/* The trigger text is refused at path with message. */
static void
expect_trigger_refused(const char *text, const char *path, const char *message)
{
	MtError		err;
	MtTrigger  *t = compile_trigger(text, &err);
	char		detail[1200];

	snprintf(detail, sizeof(detail), "got %s at %s: %s", t ? "valid" : "error", err.path, err.message);
	check(t == NULL && strcmp(err.path, path) == 0 && strcmp(err.message, message) == 0, text, detail);
	mt_trigger_free(t);
}

/* Timing keys on triggers and send_email actions. */
static void
test_timing_keys(void)
{
	MtError		err;
	MtTrigger  *t;
	MtTiming	merged;

	t = compile_trigger("{\"event\": \"x\", \"actions\": [{\"send_email\": {\"template\": \"a\"}}]}", &err);
	check(t && !t->timing.has_priority && !t->timing.has_transactional && !t->timing.category &&
		  !t->timing.has_send_window && !t->timing.has_send_time && !t->timing.has_max_lateness,
		  "no timing keys: nothing set", err.message);
	mt_timing_merge(t ? &t->timing : NULL, t ? &t->actions[0].timing : NULL, &merged);
	check(!merged.has_priority && merged.category == NULL, "merge of nothing", NULL);
	mt_trigger_free(t);

	t = compile_trigger("{\"event\": \"x\", \"priority\": 80, \"category\": \"promo\", \"max_lateness\": \"6 hours\","
						"\"send_window\": {\"hours\": [\"09:00\", \"21:00\"], \"days\": [\"mon\"]},"
						"\"send_time\": {\"optimal\": true, \"within\": \"12 hours\"},"
						"\"actions\": [{\"send_email\": {\"template\": \"a\", \"priority\": 10, \"transactional\": false,"
						"\"send_window\": {\"hours\": [\"18:00\", \"02:00\"]}}}]}", &err);
	check(t && t->timing.has_priority && t->timing.priority == 80 && t->timing.category &&
		  strcmp(t->timing.category, "promo") == 0 && t->timing.has_max_lateness &&
		  t->timing.max_lateness == INT64_C(21600000000) && t->timing.has_send_window &&
		  t->timing.send_window.start_minute == 540 && t->timing.send_window.days == 1 &&
		  t->timing.has_send_time && t->timing.send_time == MT_SEND_TIME_OPTIMAL &&
		  t->timing.send_time_within == INT64_C(43200000000), "trigger timing keys compiled", err.message);
	if (t)
	{
		mt_timing_merge(&t->timing, &t->actions[0].timing, &merged);
		check(merged.priority == 10 && merged.has_transactional && !merged.transactional &&
			  strcmp(merged.category, "promo") == 0 && merged.send_window.start_minute == 1080 &&
			  merged.send_window.days == MT_DAYS_ALL && merged.send_time == MT_SEND_TIME_OPTIMAL &&
			  merged.max_lateness == INT64_C(21600000000), "action keys override the trigger's", NULL);
	}
	mt_trigger_free(t);

	t = compile_trigger("{\"event\": \"x\", \"send_time\": \"optimal\", \"transactional\": true,"
						"\"actions\": [{\"send_email\": {\"template\": \"a\"}}]}", &err);
	check(t == NULL, "optimal + transactional refused", NULL);
	mt_trigger_free(t);
	t = compile_trigger("{\"event\": \"x\", \"send_time\": \"optimal\", \"priority\": 0,"
						"\"actions\": [{\"send_email\": {\"template\": \"a\"}}]}", &err);
	check(t && t->timing.send_time_within == MT_OPTIMAL_WITHIN_DEFAULT && t->timing.priority == 0,
		  "\"optimal\": a 24-hour horizon; priority 0", err.message);
	mt_trigger_free(t);
	t = compile_trigger("{\"event\": \"x\", \"send_time\": {\"optimal\": false}, \"transactional\": true,"
						"\"actions\": [{\"send_email\": {\"template\": \"a\"}}]}", &err);
	check(t && t->timing.send_time == MT_SEND_TIME_TRIGGER && t->timing.transactional,
		  "optimal false + transactional", err.message);
	mt_trigger_free(t);

#define T_(keys) "{\"event\": \"x\", " keys ", \"actions\": [{\"send_email\": {\"template\": \"a\"}}]}"
	expect_trigger_refused(T_("\"priority\": 101"), "$.priority", "priority must be an integer from 0 to 100 (default 50), not 101");
	expect_trigger_refused(T_("\"priority\": -1"), "$.priority", "priority must be an integer from 0 to 100 (default 50), not -1");
	expect_trigger_refused(T_("\"priority\": 5.5"), "$.priority", "priority must be an integer from 0 to 100 (default 50), not 5.5");
	expect_trigger_refused(T_("\"priority\": \"high\""), "$.priority", "priority must be an integer from 0 to 100 (default 50), not a string");
	expect_trigger_refused(T_("\"transactional\": \"yes\""), "$.transactional", "transactional must be true or false, not a string");
	expect_trigger_refused(T_("\"category\": \"\""), "$.category", "category must not be empty");
	expect_trigger_refused(T_("\"category\": 3"), "$.category", "category must be a string, not a number");
	expect_trigger_refused(T_("\"max_lateness\": 0"), "$.max_lateness", "max_lateness must be more than 0");
	expect_trigger_refused(T_("\"max_lateness\": \"soon\""), "$.max_lateness",
						   "bad duration \"soon\" (use e.g. \"30 minutes\", \"1 day\" or a number of seconds)");
	expect_trigger_refused(T_("\"send_time\": \"best\""), "$.send_time",
						   "send_time must be \"optimal\" or {\"optimal\": true, \"within\": \"24 hours\"}");
	expect_trigger_refused(T_("\"send_time\": {\"within\": \"1 day\"}"), "$.send_time",
						   "send_time must be \"optimal\" or {\"optimal\": true, \"within\": \"24 hours\"}");
	expect_trigger_refused(T_("\"send_time\": {\"optimal\": \"yes\"}"), "$.send_time.optimal", "optimal must be true or false, not a string");
	expect_trigger_refused(T_("\"send_time\": {\"optimal\": false, \"within\": \"1 day\"}"), "$.send_time.within",
						   "within is the horizon of an optimal send time: it needs \"optimal\": true");
	expect_trigger_refused(T_("\"send_time\": {\"optimal\": true, \"within\": \"30 minutes\"}"), "$.send_time.within",
						   "within must be from 1 hour to 7 days");
	expect_trigger_refused(T_("\"send_time\": {\"optimal\": true, \"within\": \"8 days\"}"), "$.send_time.within",
						   "within must be from 1 hour to 7 days");
	expect_trigger_refused(T_("\"send_time\": {\"optimal\": true, \"horizon\": 1}"), "$.send_time.horizon",
						   "unknown key \"horizon\" in send_time");
	expect_trigger_refused(T_("\"send_window\": {\"hours\": [\"09:00\", \"25:00\"]}"), "$.send_window.hours[1]",
						   "the end must be a time of day \"HH:MM\" (00:00 to 23:59, or 24:00)");
	expect_trigger_refused(T_("\"send_window\": {\"days\": [\"mon\"]}, \"transactional\": true"), "$",
						   "a transactional email is exempt from send windows: leave out send_window or transactional");
	expect_trigger_refused("{\"event\": \"x\", \"actions\": [{\"send_email\": {\"template\": \"a\", \"send_window\": {\"days\": [\"xyz\"]}}}]}",
						   "$.actions[0].send_email.send_window.days[0]",
						   "a day must be one of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"");
	expect_trigger_refused("{\"event\": \"x\", \"actions\": [{\"send_email\": {\"template\": \"a\", \"priority\": 200}}]}",
						   "$.actions[0].send_email.priority", "priority must be an integer from 0 to 100 (default 50), not 200");
	expect_trigger_refused(T_("\"sendwindow\": {}"), "$.sendwindow", "unknown key \"sendwindow\" in a trigger definition");
#undef T_
}

/* Runs every test. */
int
main(void)
{
	test_parse();
	test_quiet_hours();
	test_next_plain();
	test_next_dst();
	test_clock_instant();
	test_calendar();
	test_against_brute_force();
	test_timing_keys();
	printf("send-window-unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
