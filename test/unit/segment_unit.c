/*
 * segment_unit.c: PostgreSQL-free unit tests of segment definitions (src/core/segment_def.c) and the
 * membership timeline (src/core/segment_timeline.c): derived index fields, validation paths,
 * randomized sweeps checked against membership evaluated point by point, and the time limits of
 * definition.c (the longest duration, checked and saturated arithmetic at the ends of time).
 * Prints "segment-unit: N passed, M failed". Built and run by test/suites/segment_unit.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "mtalloc.h"
#include "segment_def.h"
#include "segment_timeline.h"

#include "unit_check.h"

/* Compiles a segment from JSON text; NULL (and *err filled) when invalid. */
static MtSegment *
compile(const char *text, MtError *err)
{
	struct json_object *json = json_tokener_parse(text);
	MtSegment  *segment;

	memset(err, 0, sizeof(*err));
	segment = mt_segment_compile("s", json, err);
	json_object_put(json);
	return segment;
}

/* The definition is refused at path (the message is only printed on failure). */
static void
expect_error(const char *text, const char *path)
{
	MtError		err;
	MtSegment  *segment = compile(text, &err);
	char		detail[1200];

	snprintf(detail, sizeof(detail), "got %s at %s: %s", segment ? "valid" : "error", err.path, err.message);
	check(segment == NULL && strcmp(err.path, path) == 0, text, detail);
	mt_segment_free(segment);
}

/* Derived fields: types, any type, windows, anchor. */
static void
test_summary(void)
{
	MtError		err;
	MtSegment  *s = compile("{\"include\": [{\"event\": \"purchase\", \"count\": {\"$lt\": 2}},"
							" {\"event\": [\"page_view\", \"checkout\"], \"within\": 60}],"
							" \"exclude\": [{\"condition\": {\"event_type\": \"refund\"}, \"within\": \"2 minutes\"}]}", &err);

	check(s != NULL, "summary compiles", err.message);
	if (s == NULL)
		return;
	check(s->n_event_types == 4 && strcmp(s->event_types[0], "checkout") == 0 &&
		  strcmp(s->event_types[3], "refund") == 0, "distinct sorted types", NULL);
	check(!s->any_type, "types pinned by condition", NULL);
	check(s->all_history, "a clause without window", NULL);
	check(s->longest_within == 120 * 1000000LL, "longest window", NULL);
	check(s->anchor == 1, "anchor is the first clause 0 does not pass", NULL);
	mt_segment_free(s);
	s = compile("{\"include\": [{\"condition\": {\"url\": \"/x\"}}], \"profile\": {\"plan\": \"free\"}}", &err);
	check(s != NULL && s->any_type && s->profile != NULL, "any type and profile", err.message);
	mt_segment_free(s);
}

/* Validation paths. */
static void
test_errors(void)
{
	expect_error("[]", "$");
	expect_error("{}", "$");
	expect_error("{\"include\": {\"event\": \"x\"}, \"foo\": 1}", "$.foo");
	expect_error("{\"include\": [{\"event\": \"x\", \"within\": \"soon\"}]}", "$.include[0].within");
	expect_error("{\"include\": [{\"event\": \"x\"}], \"exclude\": [{\"event\": \"y\", \"count\": -1}]}", "$.exclude[0].count");
	expect_error("{\"include\": [{\"event\": \"segment_exit\"}]}", "$.include[0].event");
	expect_error("{\"include\": [{\"event\": \"x\", \"count\": 0}]}", "$.include");
	expect_error("{\"profile\": [1]}", "$.profile");
	expect_error("{\"profile\": {\"a\": {\"$nope\": 1}}}", "$.profile.a");
}

/* A small deterministic random generator (the test must not depend on libc's rand). */
static unsigned long long rng_state = 88172645463325252ULL;
static long long
next_random(long long bound)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (long long) (rng_state % (unsigned long long) bound);
}

/*
 * Random clause times; the sweep's result must agree with membership evaluated at every time:
 * its changes alternate and each is a real change, the final state is the state at `to`, and
 * the next change is the first later time membership differs (checked at every microsecond of
 * a small time scale).
 */
static void
test_sweeps(void)
{
	MtError		err;
	MtSegment  *s = compile("{\"include\": [{\"event\": \"a\", \"within\": 0.00001, \"count\": {\"$gte\": 1, \"$lt\": 3}},"
							" {\"event\": \"b\"}], \"exclude\": [{\"event\": \"c\", \"within\": 0.000007}]}", &err);
	int			bad = 0;

	check(s != NULL, "sweep segment compiles", err.message);
	if (s == NULL)
		return;
	for (int iter = 0; iter < 3000; iter++)
	{
		MtSegmentTimes *times = mt_segment_times_new(s);
		MtSweep		sweep;
		long long	from = next_random(60);
		long long	to = from + next_random(30);
		bool		stored;
		bool		value;
		long long	t;

		for (int i = next_random(6); i > 0; i--)
			mt_clause_times_add(&times->include[0], next_random(100));
		for (int i = next_random(3); i > 0; i--)
			mt_clause_times_add(&times->include[1], next_random(100));
		for (int i = next_random(3); i > 0; i--)
			mt_clause_times_add(&times->exclude[0], next_random(100));
		mt_segment_times_sort(s, times);
		times->profile_ok = next_random(10) > 0;
		stored = next_random(2);
		mt_segment_sweep(s, times, stored, from, to, &sweep);

		value = stored;
		for (int c = 0; c < sweep.n_changes; c++)
		{
			if (sweep.changes[c].entered == value || sweep.changes[c].at < from || sweep.changes[c].at > to ||
				mt_segment_member_at(s, times, sweep.changes[c].at) != sweep.changes[c].entered ||
				(sweep.changes[c].at > from &&
				 mt_segment_member_at(s, times, sweep.changes[c].at - 1) == sweep.changes[c].entered))
				bad++;
			value = sweep.changes[c].entered;
		}
		/* between changes, membership holds still */
		for (t = from; t <= to; t++)
		{
			bool		expected = stored;

			for (int c = 0; c < sweep.n_changes && sweep.changes[c].at <= t; c++)
				expected = sweep.changes[c].entered;
			if (mt_segment_member_at(s, times, t) != expected)
				bad++;
		}
		if (sweep.member != mt_segment_member_at(s, times, to))
			bad++;
		for (t = to + 1; t < 200; t++)
			if (mt_segment_member_at(s, times, t) != sweep.member)
				break;
		if (t < 200 ? (!sweep.has_next || sweep.next_change != t) : sweep.has_next)
			bad++;
		mt_sweep_free(&sweep);
		mt_segment_times_free(s, times);
	}
	check(bad == 0, "3000 random sweeps agree with point-by-point membership", NULL);
	mt_segment_free(s);
}

/*
 * A kept state replaces a clause's events before its horizon by a count (segment_state.h): from
 * the horizon on, membership with the count is membership with the events.
 */
static void
test_base_counts(void)
{
	MtError		err;
	MtSegment  *s = compile("{\"include\": [{\"event\": \"b\", \"count\": {\"$gte\": 2, \"$lt\": 4}}]}", &err);
	int			bad = 0;

	check(s != NULL, "base-count segment compiles", err.message);
	if (s == NULL)
		return;
	for (int iter = 0; iter < 500; iter++)
	{
		MtSegmentTimes *all = mt_segment_times_new(s);
		MtSegmentTimes *kept = mt_segment_times_new(s);
		long long	horizon = next_random(50);

		for (int i = next_random(6); i > 0; i--)
		{
			long long	at = next_random(100);

			mt_clause_times_add(&all->include[0], at);
			if (at < horizon)
				kept->include[0].base++;
			else
				mt_clause_times_add(&kept->include[0], at);
		}
		mt_segment_times_sort(s, all);
		mt_segment_times_sort(s, kept);
		for (long long t = horizon; t < 120; t++)
			if (mt_segment_member_at(s, all, t) != mt_segment_member_at(s, kept, t))
				bad++;
		mt_segment_times_free(s, all);
		mt_segment_times_free(s, kept);
	}
	check(bad == 0, "500 kept base counts agree with the events they replace", NULL);
	mt_segment_free(s);
}

/* The checked and the saturated time arithmetic at both ends of the finite range. */
static void
test_time_arithmetic(void)
{
	int64_t		out = 42;
	const int64_t day = 86400 * MT_USECS_PER_SEC;

	check(mt_time_add(0, day, &out) && out == day, "an ordinary add", NULL);
	check(mt_time_add(MT_TIME_END - 1 - day, day, &out) && out == MT_TIME_END - 1, "the last timestamp", NULL);
	out = 42;
	check(!mt_time_add(MT_TIME_END - day, day, &out) && out == 42, "past the last timestamp is refused", NULL);
	check(mt_time_add(MT_TIME_MIN + day, -day, &out) && out == MT_TIME_MIN, "the first timestamp", NULL);
	check(!mt_time_add(MT_TIME_MIN, -1, &out), "before the first timestamp is refused", NULL);
	check(!mt_time_add(MT_TIME_NOEND, 0, &out) && !mt_time_add(MT_TIME_NOBEGIN, day, &out),
		  "±infinity is refused", NULL);
	check(!mt_time_add(MT_TIME_END - 1, INT64_MAX, &out) && !mt_time_add(MT_TIME_MIN, INT64_MIN, &out),
		  "int64 overflow is refused", NULL);
	check(mt_time_add_saturated(MT_TIME_END - day, day) == MT_TIME_NOEND &&
		  mt_time_add_saturated(MT_TIME_MIN, -1) == MT_TIME_NOBEGIN &&
		  mt_time_add_saturated(MT_TIME_END - 1, INT64_MAX) == MT_TIME_NOEND &&
		  mt_time_add_saturated(MT_TIME_MIN, INT64_MIN) == MT_TIME_NOBEGIN,
		  "saturating past either end gives ±infinity", NULL);
	check(mt_time_add_saturated(MT_TIME_NOBEGIN, day) == MT_TIME_NOBEGIN &&
		  mt_time_add_saturated(MT_TIME_NOEND, -day) == MT_TIME_NOEND &&
		  mt_time_add_saturated(5, -3) == 2, "infinity stays, finite adds", NULL);
	check(mt_time_is_finite(MT_TIME_MIN) && mt_time_is_finite(MT_TIME_END - 1) &&
		  !mt_time_is_finite(MT_TIME_END) && !mt_time_is_finite(MT_TIME_MIN - 1), "the finite range", NULL);
}

/* Compiles a trigger from JSON text; NULL (and *err filled) when invalid. */
static MtTrigger *
compile_trigger(const char *text, MtError *err)
{
	struct json_object *json = json_tokener_parse(text);
	MtTrigger  *trigger;

	memset(err, 0, sizeof(*err));
	trigger = mt_trigger_compile("t", json, err);
	json_object_put(json);
	return trigger;
}

/* Durations are at most 10 years; a firing's times are checked against the last timestamp. */
static void
test_duration_limit_and_schedule(void)
{
	MtError		err;
	MtTrigger  *t;
	int64_t		due = 0,
				send = 0;
	const int64_t day = 86400 * MT_USECS_PER_SEC;
	MtSegment  *s = compile("{\"include\": [{\"event\": \"x\", \"within\": \"10 years\"}]}", &err);

	check(s != NULL && s->longest_within == MT_DURATION_MAX, "a 10-year window is the longest", err.message);
	mt_segment_free(s);
	expect_error("{\"include\": [{\"event\": \"x\", \"within\": \"10 years 1 second\"}]}", "$.include[0].within");
	expect_error("{\"include\": [{\"event\": \"x\", \"within\": 315576000.5}]}", "$.include[0].within");

	t = compile_trigger("{\"event\": \"e\", \"delay\": \"3653 days\", \"actions\": [{\"start_sequence\": \"q\"}]}", &err);
	check(t == NULL && strcmp(err.path, "$.delay") == 0, "a delay over 10 years is refused at $.delay", err.path);
	mt_trigger_free(t);

	t = compile_trigger("{\"event\": \"e\", \"unless\": {\"event\": \"x\", \"within\": \"2 days\"}, "
						"\"delay\": \"1 day\", \"actions\": [{\"start_sequence\": \"q\"}]}", &err);
	check(t != NULL, "schedule trigger compiles", err.message);
	if (t == NULL)
		return;
	check(mt_trigger_schedule(t, 0, &due, &send) == NULL && due == 2 * day && send == 3 * day,
		  "due at the window's end, sent a delay later", NULL);
	check(mt_trigger_schedule(t, MT_TIME_END - 3 * day - 1, &due, &send) == NULL && send == MT_TIME_END - 1,
		  "an email at the last timestamp", NULL);
	check(mt_trigger_schedule(t, MT_TIME_END - 3 * day, &due, &send) != NULL &&
		  strcmp(mt_trigger_schedule(t, MT_TIME_END - 3 * day, &due, &send), "$.delay") == 0,
		  "the delay past the last timestamp is named", NULL);
	check(strcmp(mt_trigger_schedule(t, MT_TIME_END - day, &due, &send), "$.unless.within") == 0,
		  "the window past the last timestamp is named", NULL);
	check(strcmp(mt_trigger_schedule(t, MT_TIME_NOEND, &due, &send), "occurred_at") == 0 &&
		  strcmp(mt_trigger_schedule(t, MT_TIME_NOBEGIN, &due, &send), "occurred_at") == 0,
		  "an event at ±infinity is named by occurred_at", NULL);
	mt_trigger_free(t);
}

/*
 * A window at the end of time: an event on the last day never leaves a 30-day window (it would
 * past the last timestamp), so nothing is scheduled; before the fix o + within + 1 overflowed.
 * And a window at the beginning reaches back to -infinity without overflowing.
 */
static void
test_timeline_at_the_ends(void)
{
	MtError		err;
	MtSegment  *s = compile("{\"include\": [{\"event\": \"a\", \"within\": \"10 years\"}]}", &err);
	MtSegmentTimes *times;
	MtSweep		sweep;
	const int64_t day = 86400 * MT_USECS_PER_SEC;
	int64_t		last_day = MT_TIME_END - day;

	check(s != NULL, "end segment compiles", err.message);
	if (s == NULL)
		return;
	times = mt_segment_times_new(s);
	mt_clause_times_add(&times->include[0], last_day);
	mt_clause_times_add(&times->include[0], MT_TIME_MIN);
	mt_segment_times_sort(s, times);
	mt_segment_sweep(s, times, false, last_day - day, last_day, &sweep);
	check(sweep.member && sweep.n_changes == 1 && sweep.changes[0].at == last_day,
		  "enters on the last day", NULL);
	check(!sweep.has_next, "never leaves: no change past the last timestamp", NULL);
	check(mt_segment_member_at(s, times, MT_TIME_END - 1), "a member at the last timestamp", NULL);
	mt_sweep_free(&sweep);
	mt_segment_sweep(s, times, false, MT_TIME_MIN, MT_TIME_MIN + day, &sweep);
	check(sweep.member && sweep.n_changes == 1 && sweep.changes[0].at == MT_TIME_MIN && sweep.has_next &&
		  sweep.next_change == MT_TIME_MIN + MT_DURATION_MAX + 1,
		  "at the first timestamp: in, and out 10 years later", NULL);
	mt_sweep_free(&sweep);
	mt_segment_times_free(s, times);
	mt_segment_free(s);
}

/* Runs every test and prints the tally. */
int
main(void)
{
	test_summary();
	test_errors();
	test_sweeps();
	test_base_counts();
	test_time_arithmetic();
	test_duration_limit_and_schedule();
	test_timeline_at_the_ends();
	printf("segment-unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
