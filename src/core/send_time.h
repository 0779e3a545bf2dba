/*
 * send_time.h: optimal send time (docs/timing.md, "Optimal send time"). No PostgreSQL dependency:
 * the extension's side (src/common/send_time_sql.c) sums a user's events into hour-of-week bins
 * with the weights below; this module smooths those bins into the profile and picks the best hour
 * within a horizon.
 *
 * Hour of week: (ISO weekday - 1) * 24 + local hour, so Monday 00:00-00:59 is 0, Monday 23:00 is
 * 23, Tuesday 00:00 is 24, Sunday 23:00 is 167 (local time in the contact's zone).
 *
 * An event weighs by its type (a click above an open above any other, site, event) times
 * 2^(-age / half-life), age counted back from the reference time. The profile is the weighted
 * bins smoothed twice, both times keeping the total: each hour takes a quarter of each
 * neighbour's weight (Sunday 23:00 neighbours Monday 00:00), and half of every weight is
 * pooled over the seven days of its hour of day (a user who clicks at 19:00 on weekdays is
 * likely to at 19:00 on a Saturday too). The total is the history: below MT_SEND_TIME_MIN_HISTORY
 * the choice falls back to the trigger's own time.
 */
#ifndef MT_SEND_TIME_H
#define MT_SEND_TIME_H

#include <stdbool.h>

#define MT_SEND_TIME_HOURS 168

/* The weight of one event, by type, at age 0. */
#define MT_SEND_TIME_WEIGHT_CLICK 4.0	/* event_type email_click */
#define MT_SEND_TIME_WEIGHT_OPEN 2.0	/* event_type email_open */
#define MT_SEND_TIME_WEIGHT_SITE 1.0	/* any other event type */
/* An event's weight halves every 30 days back from the reference time. */
#define MT_SEND_TIME_HALF_LIFE_DAYS 30
/* Events older than this (days before the reference time) are not read: they weigh < 1/4000. */
#define MT_SEND_TIME_LOOKBACK_DAYS 365
/* The least history (total weight) for a choice: e.g. five recent page views, or a click and an open. */
#define MT_SEND_TIME_MIN_HISTORY 5.0
/* The share of every weight pooled over the seven days of its hour of day. */
#define MT_SEND_TIME_DAY_POOL 0.5

/* The outcome of a choice. */
typedef enum MtSendTimeChoice
{
	MT_SEND_TIME_CHOSEN,		/* the best hour within the horizon */
	MT_SEND_TIME_TOO_LITTLE,	/* history below MT_SEND_TIME_MIN_HISTORY: the trigger's time */
	MT_SEND_TIME_BAD_INPUT		/* start_how outside 0..167 or n_hours < 1 (a caller's bug) */
} MtSendTimeChoice;

/* The weight at age 0 of an event of that type (NULL: site activity). */
extern double mt_send_time_type_weight(const char *event_type);

/* 2^(-age / half-life): what is left of an event's weight age_seconds back (< 0 counts as 0). */
extern double mt_send_time_decay(double age_seconds);

/* The weight of an event of that type, age_seconds before the reference time (< 0 counts as 0). */
extern double mt_send_time_event_weight(const char *event_type, double age_seconds);

/* The hour of week (0..167) of a local weekday (0 = Monday) and hour (0..23); -1 when out of range. */
extern int	mt_hour_of_week(int weekday, int hour);

/*
 * The profile of the weighted bins: neighbouring hours, then the seven days of each hour of day,
 * share weight as described above; the total is kept. raw and profile may not overlap.
 */
extern void mt_send_time_smooth(const double raw[MT_SEND_TIME_HOURS], double profile[MT_SEND_TIME_HOURS]);

/* The total weight of a profile (or of the raw bins: smoothing keeps it). */
extern double mt_send_time_history(const double profile[MT_SEND_TIME_HOURS]);

/*
 * Of the n_hours hours starting at hour of week start_how (the hour of the earliest allowed
 * instant, then the following ones, wrapping from 167 to 0), the offset 0..n_hours-1 of the one
 * with the greatest weight, the earliest of equal ones, into *offset. MT_SEND_TIME_TOO_LITTLE
 * (and *offset 0) when the history is below MT_SEND_TIME_MIN_HISTORY; MT_SEND_TIME_BAD_INPUT
 * (*offset 0) when start_how is outside 0..167 or n_hours < 1. n_hours may exceed 168 (a
 * horizon of 7 days and an hour from a DST change): the hours then repeat, and ties keep the
 * earliest.
 */
extern MtSendTimeChoice mt_send_time_best(const double profile[MT_SEND_TIME_HOURS], int start_how,
										  int n_hours, int *offset);

#endif
