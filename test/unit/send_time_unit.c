/*
 * send_time_unit.c: PostgreSQL-free unit tests of optimal send time (src/core/send_time.c): event
 * weights and their half-life, the hour of week, smoothing (keeps the total, shares with the
 * neighbours, wraps from Sunday 23:00 to Monday 00:00, pools over the days), and the choice of
 * the best hour: within the horizon only, ties to the earliest, wrapping, too little history,
 * bad input. Prints "send-time-unit: N passed, M failed". Built and run by
 * test/suites/send_time_unit.sh.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "send_time.h"

#include "unit_check.h"

/* Are two doubles equal up to rounding? */
static int
near_eq(double a, double b)
{
	return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b) + 1e-12);
}

/* Event weights by type and age. */
static void
test_weights(void)
{
	double		day = 86400.0;

	check(mt_send_time_type_weight("email_click") > mt_send_time_type_weight("email_open"),
		  "a click weighs more than an open", NULL);
	check(mt_send_time_type_weight("email_open") > mt_send_time_type_weight("page_view"),
		  "an open weighs more than site activity", NULL);
	check(mt_send_time_type_weight(NULL) == MT_SEND_TIME_WEIGHT_SITE, "no type is site activity", NULL);
	check(mt_send_time_type_weight("email_clicks") == MT_SEND_TIME_WEIGHT_SITE, "types match exactly", NULL);
	check(near_eq(mt_send_time_event_weight("page_view", 0), 1.0), "age 0: the type's weight", NULL);
	check(near_eq(mt_send_time_event_weight("email_click", MT_SEND_TIME_HALF_LIFE_DAYS * day),
				  MT_SEND_TIME_WEIGHT_CLICK / 2), "one half-life: half", NULL);
	check(near_eq(mt_send_time_event_weight("email_open", 2 * MT_SEND_TIME_HALF_LIFE_DAYS * day),
				  MT_SEND_TIME_WEIGHT_OPEN / 4), "two half-lives: a quarter", NULL);
	check(near_eq(mt_send_time_event_weight("page_view", -day), 1.0), "a future event counts as age 0", NULL);
	check(mt_send_time_event_weight("page_view", MT_SEND_TIME_LOOKBACK_DAYS * day) < 1.0 / 4000,
		  "an event at the lookback weighs < 1/4000", NULL);
}

/* The hour of week. */
static void
test_hour_of_week(void)
{
	check(mt_hour_of_week(0, 0) == 0, "Monday 00:00 is 0", NULL);
	check(mt_hour_of_week(0, 19) == 19, "Monday 19:00 is 19", NULL);
	check(mt_hour_of_week(1, 0) == 24, "Tuesday 00:00 is 24", NULL);
	check(mt_hour_of_week(6, 23) == 167, "Sunday 23:00 is 167", NULL);
	check(mt_hour_of_week(7, 0) == -1 && mt_hour_of_week(0, 24) == -1 && mt_hour_of_week(-1, 3) == -1,
		  "out of range: -1", NULL);
}

/* Smoothing keeps the total, shares with neighbours and days, wraps at the end of the week. */
static void
test_smooth(void)
{
	double		raw[MT_SEND_TIME_HOURS] = {0};
	double		p[MT_SEND_TIME_HOURS];
	double		pool = MT_SEND_TIME_DAY_POOL;

	raw[19] = 8.0;				/* Monday 19:00 */
	mt_send_time_smooth(raw, p);
	check(near_eq(mt_send_time_history(p), 8.0), "smoothing keeps the total", NULL);
	check(near_eq(p[19], (1 - pool) * 4.0 + pool * 4.0 / 7), "the hour keeps half, before pooling", NULL);
	check(near_eq(p[18], (1 - pool) * 2.0 + pool * 2.0 / 7) && near_eq(p[20], p[18]),
		  "each neighbour gets a quarter", NULL);
	check(near_eq(p[19 + 24 * 5], pool * 4.0 / 7), "Saturday 19:00 gets a pooled share", NULL);
	check(p[21] == 0 && p[19 + 24 * 5 + 2] == 0, "two hours away gets nothing", NULL);
	check(p[19] > p[18] && p[18] > p[19 + 24 * 5], "the hour itself stays the best", NULL);

	memset(raw, 0, sizeof(raw));
	raw[167] = 4.0;				/* Sunday 23:00 */
	mt_send_time_smooth(raw, p);
	check(near_eq(p[0], (1 - pool) * 1.0 + pool * 1.0 / 7), "Sunday 23:00 neighbours Monday 00:00", NULL);
	check(near_eq(p[166], p[0]), "and Sunday 22:00", NULL);
	check(near_eq(mt_send_time_history(p), 4.0), "the total is kept across the wrap", NULL);
}

/* The best hour within a horizon. */
static void
test_best(void)
{
	double		raw[MT_SEND_TIME_HOURS] = {0};
	double		p[MT_SEND_TIME_HOURS];
	int			off = -1;
	MtSendTimeChoice r;

	/* clicks on Monday and Tuesday at 19:00 */
	raw[19] = 10;
	raw[24 + 19] = 10;
	mt_send_time_smooth(raw, p);
	r = mt_send_time_best(p, 10, 24, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 9, "from Monday 10:00, 24 h: Monday 19:00 (+9)", NULL);
	r = mt_send_time_best(p, 20, 24, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 23, "from Monday 20:00, 24 h: Tuesday 19:00 (+23)", NULL);
	/* a horizon that does not reach 19:00: the best within it (18:00 has a neighbour's share) */
	r = mt_send_time_best(p, 10, 9, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 8, "a horizon to 18:59 picks 18:00", NULL);
	r = mt_send_time_best(p, 10, 3, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 0, "nothing better in 10:00-12:59: the first hour", NULL);
	r = mt_send_time_best(p, 19, 1, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 0, "a one-hour horizon: offset 0", NULL);

	/* ties: two equal peaks, the earliest wins; wrapping from Sunday into Monday */
	memset(raw, 0, sizeof(raw));
	raw[3] = 5;					/* Monday 03:00 */
	raw[24 * 6 + 3] = 5;		/* Sunday 03:00 */
	mt_send_time_smooth(raw, p);
	r = mt_send_time_best(p, 24 * 6, 48, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 3, "equal peaks: the earliest (Sunday 03:00)", NULL);
	r = mt_send_time_best(p, 24 * 6 + 12, 24, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 15, "wraps from Sunday 12:00 to Monday 03:00", NULL);
	r = mt_send_time_best(p, 0, 24 * 7 + 12, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 3, "more than a week of hours: the first of the repeats", NULL);

	/* too little history */
	memset(raw, 0, sizeof(raw));
	raw[19] = MT_SEND_TIME_MIN_HISTORY * 0.99;
	mt_send_time_smooth(raw, p);
	off = -1;
	r = mt_send_time_best(p, 10, 24, &off);
	check(r == MT_SEND_TIME_TOO_LITTLE && off == 0, "below the least history: too little, offset 0", NULL);
	raw[19] = MT_SEND_TIME_MIN_HISTORY;
	mt_send_time_smooth(raw, p);
	r = mt_send_time_best(p, 10, 24, &off);
	check(r == MT_SEND_TIME_CHOSEN && off == 9, "at the least history: chosen", NULL);
	memset(p, 0, sizeof(p));
	r = mt_send_time_best(p, 10, 24, &off);
	check(r == MT_SEND_TIME_TOO_LITTLE, "no history at all: too little", NULL);
	p[5] = NAN;
	r = mt_send_time_best(p, 10, 24, &off);
	check(r == MT_SEND_TIME_TOO_LITTLE && off == 0, "a NaN history is too little", NULL);

	/* bad input */
	raw[19] = 100;
	mt_send_time_smooth(raw, p);
	check(mt_send_time_best(p, -1, 24, &off) == MT_SEND_TIME_BAD_INPUT && off == 0, "start -1: bad input", NULL);
	check(mt_send_time_best(p, 168, 24, &off) == MT_SEND_TIME_BAD_INPUT, "start 168: bad input", NULL);
	check(mt_send_time_best(p, 0, 0, &off) == MT_SEND_TIME_BAD_INPUT, "no hours: bad input", NULL);
}

/* Runs the tests. */
int
main(void)
{
	test_weights();
	test_hour_of_week();
	test_smooth();
	test_best();
	printf("send-time-unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
