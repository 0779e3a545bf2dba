/*
 * send_window.h: send windows and quiet hours in the contact's local time (docs/timing.md).
 * No PostgreSQL dependency: local time comes from a callback (MtClock), so the rules are unit
 * tested with fake zones that change offset; the extension's clock is src/local_time.c.
 *
 * Rules:
 * - A window is open at an instant when the local wall time then lies in [start, end) and the
 *   window "opened" on an allowed day: for a window that wraps past midnight (end <= start), the
 *   part after midnight belongs to the day before.
 * - mt_send_window_next gives the first instant at or after t when the window is open. An
 *   opening that falls into a spring-forward gap happens when the gap ends (the first instant
 *   whose wall time is past the start); an ambiguous one in the autumn at its first occurrence.
 * - mt_clock_instant (local wall time -> UTC) follows the same rule: the first instant whose wall
 *   time is at or after the given one.
 */
#ifndef MT_SEND_WINDOW_H
#define MT_SEND_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "mterror.h"

struct json_object;

/* A bit per weekday, bit 0 = Monday ... bit 6 = Sunday. */
#define MT_DAYS_ALL 0x7f

typedef struct MtSendWindow
{
	int			start_minute;	/* minute of the local day it opens, 0..1439 (inclusive) */
	int			end_minute;		/* minute it closes, 1..1440 (exclusive); <= start: wraps */
	uint8_t		days;			/* days it opens on (MT_DAYS_ALL: every day) */
} MtSendWindow;

/* A local wall time with its weekday and UTC offset. */
typedef struct MtLocalTime
{
	int			year;
	int			month;			/* 1..12 */
	int			day;			/* 1..31 */
	int			hour;
	int			minute;
	int			second;
	int			weekday;		/* 0 = Monday ... 6 = Sunday */
	int32_t		utc_offset;		/* seconds east of UTC */
} MtLocalTime;

/*
 * The clock of one zone: local(zone, s, out) fills the local time of the instant s (seconds since
 * 1970-01-01 UTC); false when it cannot.
 */
typedef struct MtClock
{
	bool		(*local) (void *zone, int64_t unix_seconds, MtLocalTime *out);
	void	   *zone;
} MtClock;

typedef enum MtWindowResult
{
	MT_WINDOW_OK,
	MT_WINDOW_NEVER,			/* no opening within 3 weeks (e.g. only inside a DST gap) */
	MT_WINDOW_RANGE,			/* the instant is outside the years 1..9999 */
	MT_WINDOW_CLOCK				/* the clock callback failed */
} MtWindowResult;

/* Seconds between 1970-01-01 and 2000-01-01 (PostgreSQL's TimestampTz epoch). */
#define MT_UNIX_EPOCH_OFFSET INT64_C(946684800)

/*
 * Parses a send_window object {"hours": ["09:00", "21:00"], "days": ["mon", ...]} (either key may
 * be left out, not both); errors name the path (e.g. "$.send_window.hours[1]").
 */
extern bool mt_send_window_parse(struct json_object *json, const char *path, MtSendWindow *out,
								 MtError *err);

/*
 * Parses quiet hours "21:00-08:00" (no mail from 21:00 until 08:00) into the window when mail may
 * go, every day. An empty text (or only spaces) leaves *is_set false: no quiet hours. Errors name
 * `path` (the setting's name).
 */
extern bool mt_quiet_hours_parse(const char *text, const char *path, bool *is_set,
								 MtSendWindow *out, MtError *err);

/*
 * Parses JSON text that is a send_window object, or a JSON string in the quiet-hours form (then
 * *is_set false when it is empty); *is_set true for an object. For callers without json-c.
 */
extern bool mt_send_window_parse_text(const char *json_text, const char *path, bool *is_set,
									  MtSendWindow *out, MtError *err);

/* Is the window open at that local time? */
extern bool mt_send_window_open_at(const MtSendWindow *window, const MtLocalTime *local);

/*
 * The first instant at or after t (microseconds since 2000-01-01 UTC, as a TimestampTz) when the
 * window is open, into *out.
 */
extern MtWindowResult mt_send_window_next(const MtSendWindow *window, const MtClock *clock,
										  int64_t t, int64_t *out);

/*
 * The instant (seconds since 1970-01-01 UTC) of a local wall time: the first instant whose wall
 * time is at or after it (a time in a spring-forward gap gives the end of the gap; an ambiguous
 * one its first occurrence). MT_WINDOW_OK or why not.
 */
extern MtWindowResult mt_clock_instant(const MtClock *clock, int year, int month, int day,
									   int hour, int minute, int second, int64_t *out);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
extern int64_t mt_days_from_civil(int year, int month, int day);
extern void mt_civil_from_days(int64_t days, int *year, int *month, int *day);
/* Weekday (0 = Monday) of a day number of mt_days_from_civil. */
extern int	mt_weekday_of_days(int64_t days);

/* "mon".."sun" for 0..6. */
extern const char *mt_weekday_name(int weekday);
/* The daypart of a local hour: morning 05-12, afternoon 12-17, evening 17-22, night 22-05. */
extern const char *mt_daypart(int hour);

/* The wall time as seconds of a naive (offset-free) clock since 1970-01-01. */
extern int64_t mt_local_naive_seconds(const MtLocalTime *local);

#endif
