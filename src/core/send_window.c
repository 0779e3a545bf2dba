/*
 * send_window.c: parse send windows and quiet hours, and find when a window next opens in a
 * zone given by a clock callback (send_window.h). No PostgreSQL dependency.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "send_window.h"

#define PATH_LEN 512
#define SECS_PER_DAY INT64_C(86400)
/* 0001-01-01 and 10000-01-01 as seconds since 1970: the instants this module works on. */
#define MT_CIVIL_MIN INT64_C(-62135596800)
#define MT_CIVIL_END INT64_C(253402300800)
/* How many days past the instant to look for an opening (a weekly window over a DST gap). */
#define SEARCH_DAYS 22

static const char *const weekday_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* Floor division of a by b (b > 0). */
static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t		q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Days since 1970-01-01 of a Gregorian date (H. Hinnant's days_from_civil). */
int64_t
mt_days_from_civil(int year, int month, int day)
{
	int64_t		y = (int64_t) year - (month <= 2);
	int64_t		era = floor_div(y, 400);
	int64_t		yoe = y - era * 400;
	int64_t		mp = (month + 9) % 12;
	int64_t		doy = (153 * mp + 2) / 5 + day - 1;
	int64_t		doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* The Gregorian date of a day number (H. Hinnant's civil_from_days). */
void
mt_civil_from_days(int64_t days, int *year, int *month, int *day)
{
	int64_t		z = days + 719468;
	int64_t		era = floor_div(z, 146097);
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;
	int64_t		m = mp < 10 ? mp + 3 : mp - 9;

	*day = (int) (doy - (153 * mp + 2) / 5 + 1);
	*month = (int) m;
	*year = (int) (yoe + era * 400 + (m <= 2));
}

/* Weekday of a day number, 0 = Monday (1970-01-01 was a Thursday). */
int
mt_weekday_of_days(int64_t days)
{
	int64_t		w = (days + 3) % 7;

	return (int) (w < 0 ? w + 7 : w);
}

/* The three-letter name of a weekday. */
const char *
mt_weekday_name(int weekday)
{
	return (weekday >= 0 && weekday < 7) ? weekday_names[weekday] : "?";
}

/* The daypart of an hour of the local day. */
const char *
mt_daypart(int hour)
{
	if (hour >= 5 && hour < 12)
		return "morning";
	if (hour >= 12 && hour < 17)
		return "afternoon";
	if (hour >= 17 && hour < 22)
		return "evening";
	return "night";
}

/* A local wall time on a naive clock (seconds since 1970-01-01 00:00 of that wall clock). */
int64_t
mt_local_naive_seconds(const MtLocalTime *local)
{
	return mt_days_from_civil(local->year, local->month, local->day) * SECS_PER_DAY +
		local->hour * 3600 + local->minute * 60 + local->second;
}

/*
 * "H:MM" or "HH:MM" into minutes of the day; allow_24 admits "24:00" (an end). Reads up to
 * `len` bytes of s exactly. False when the text is not such a time.
 */
static bool
parse_clock(const char *s, size_t len, bool allow_24, int *minutes)
{
	int			h = 0,
				m = 0;
	size_t		colon;

	if (len < 4 || len > 5)
		return false;
	colon = len - 3;
	if (s[colon] != ':')
		return false;
	for (size_t i = 0; i < len; i++)
		if (i != colon && !isdigit((unsigned char) s[i]))
			return false;
	for (size_t i = 0; i < colon; i++)
		h = h * 10 + (s[i] - '0');
	m = (s[colon + 1] - '0') * 10 + (s[colon + 2] - '0');
	if (m > 59)
		return false;
	if (h == 24 && m == 0 && allow_24)
	{
		*minutes = 1440;
		return true;
	}
	if (h > 23)
		return false;
	*minutes = h * 60 + m;
	return true;
}

/* hours: ["HH:MM", "HH:MM"], start inclusive, end exclusive (may wrap). */
static bool
parse_hours(struct json_object *value, const char *path, MtSendWindow *out, MtError *err)
{
	int			minutes[2];

	if (!json_object_is_type(value, json_type_array) || json_object_array_length(value) != 2)
		return mt_error_set(err, path, "hours must be an array of two times, e.g. [\"09:00\", \"21:00\"]");
	for (int i = 0; i < 2; i++)
	{
		struct json_object *item = json_object_array_get_idx(value, (size_t) i);
		char		child[PATH_LEN];

		mt_path_index(child, sizeof(child), path, i);
		if (!json_object_is_type(item, json_type_string) ||
			!parse_clock(json_object_get_string(item), (size_t) json_object_get_string_len(item),
						 i == 1, &minutes[i]))
			return mt_error_set(err, child, "%s must be a time of day \"HH:MM\" (00:00 to 23:59%s)",
								i == 0 ? "the start" : "the end", i == 1 ? ", or 24:00" : "");
	}
	if (minutes[0] == minutes[1] || (minutes[0] == 0 && minutes[1] == 1440))
		return mt_error_set(err, path, "the start and end are the same time: leave hours out for a window open all day");
	out->start_minute = minutes[0];
	out->end_minute = minutes[1];
	return true;
}

/* days: a non-empty array of "mon".."sun", each at most once. */
static bool
parse_days(struct json_object *value, const char *path, MtSendWindow *out, MtError *err)
{
	int			n;

	if (!json_object_is_type(value, json_type_array) || json_object_array_length(value) == 0)
		return mt_error_set(err, path, "days must be a non-empty array of weekdays (\"mon\" ... \"sun\")");
	n = (int) json_object_array_length(value);
	out->days = 0;
	for (int i = 0; i < n; i++)
	{
		struct json_object *item = json_object_array_get_idx(value, (size_t) i);
		char		child[PATH_LEN];
		int			day = -1;

		mt_path_index(child, sizeof(child), path, i);
		if (json_object_is_type(item, json_type_string))
			for (int d = 0; d < 7; d++)
				if (strcmp(json_object_get_string(item), weekday_names[d]) == 0)
					day = d;
		if (day < 0)
			return mt_error_set(err, child, "a day must be one of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"");
		if (out->days & (1 << day))
			return mt_error_set(err, child, "\"%s\" is listed twice", weekday_names[day]);
		out->days |= (uint8_t) (1 << day);
	}
	return true;
}

/* Parse a send_window object. */
bool
mt_send_window_parse(struct json_object *json, const char *path, MtSendWindow *out, MtError *err)
{
	struct json_object *value;
	char		child[PATH_LEN];
	bool		any = false;

	out->start_minute = 0;
	out->end_minute = 1440;
	out->days = MT_DAYS_ALL;
	if (!json_object_is_type(json, json_type_object))
		return mt_error_set(err, path, "send_window must be an object such as {\"hours\": [\"09:00\", \"21:00\"]}");
	{
		json_object_object_foreach(json, key, unused)
		{
			(void) unused;
			if (strcmp(key, "hours") != 0 && strcmp(key, "days") != 0)
			{
				mt_path_key(child, sizeof(child), path, key);
				return mt_error_set(err, child, "unknown key \"%s\" in send_window (use hours and days)", key);
			}
		}
	}
	if (json_object_object_get_ex(json, "hours", &value))
	{
		mt_path_key(child, sizeof(child), path, "hours");
		if (!parse_hours(value, child, out, err))
			return false;
		any = true;
	}
	if (json_object_object_get_ex(json, "days", &value))
	{
		mt_path_key(child, sizeof(child), path, "days");
		if (!parse_days(value, child, out, err))
			return false;
		any = true;
	}
	if (!any)
		return mt_error_set(err, path, "send_window needs hours or days");
	return true;
}

/* Parse quiet hours "HH:MM-HH:MM" into the complementary window. */
bool
mt_quiet_hours_parse(const char *text, const char *path, bool *is_set, MtSendWindow *out,
					 MtError *err)
{
	const char *p = text;
	const char *dash;
	const char *a_end,
			   *b,
			   *b_end;
	int			quiet_start,
				quiet_end;

	*is_set = false;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return true;
	dash = strchr(p, '-');
	if (dash == NULL)
		return mt_error_set(err, path, "quiet hours must be \"HH:MM-HH:MM\" (no mail from the first time until the second), e.g. \"21:00-08:00\"");
	a_end = dash;
	while (a_end > p && a_end[-1] == ' ')
		a_end--;
	b = dash + 1;
	while (*b == ' ')
		b++;
	b_end = b + strlen(b);
	while (b_end > b && b_end[-1] == ' ')
		b_end--;
	if (!parse_clock(p, (size_t) (a_end - p), false, &quiet_start) ||
		!parse_clock(b, (size_t) (b_end - b), true, &quiet_end))
		return mt_error_set(err, path, "quiet hours must be \"HH:MM-HH:MM\" (no mail from the first time until the second), e.g. \"21:00-08:00\"");
	if (quiet_end == 1440)
		quiet_end = 0;
	if (quiet_start == quiet_end)
		return mt_error_set(err, path, "quiet hours start and end at the same time");
	/* mail may go from the end of the quiet hours until their start */
	out->start_minute = quiet_end;
	out->end_minute = quiet_start == 0 ? 1440 : quiet_start;
	out->days = MT_DAYS_ALL;
	*is_set = true;
	return true;
}

/* A send_window object or a quiet-hours string, from JSON text. */
bool
mt_send_window_parse_text(const char *json_text, const char *path, bool *is_set,
						  MtSendWindow *out, MtError *err)
{
	struct json_object *json = json_tokener_parse(json_text);
	bool		ok;

	*is_set = true;
	if (json == NULL)
		return mt_error_set(err, path, "send_window must be an object such as {\"hours\": [\"09:00\", \"21:00\"]}");
	if (json_object_is_type(json, json_type_string))
		ok = mt_quiet_hours_parse(json_object_get_string(json), path, is_set, out, err);
	else
		ok = mt_send_window_parse(json, path, out, err);
	json_object_put(json);
	return ok;
}

/* Is the window open at a local time? */
bool
mt_send_window_open_at(const MtSendWindow *window, const MtLocalTime *local)
{
	int			minute = local->hour * 60 + local->minute;
	int			opened_on;

	if (window->start_minute < window->end_minute)
	{
		if (minute < window->start_minute || minute >= window->end_minute)
			return false;
		opened_on = local->weekday;
	}
	else if (minute >= window->start_minute)
		opened_on = local->weekday;
	else if (minute < window->end_minute)
		opened_on = (local->weekday + 6) % 7;
	else
		return false;
	return (window->days & (1 << opened_on)) != 0;
}

/* The clock's local time of s, within the supported years. */
static MtWindowResult
clock_local(const MtClock *clock, int64_t s, MtLocalTime *out)
{
	if (s < MT_CIVIL_MIN || s >= MT_CIVIL_END)
		return MT_WINDOW_RANGE;
	return clock->local(clock->zone, s, out) ? MT_WINDOW_OK : MT_WINDOW_CLOCK;
}

/*
 * The instants whose wall time is the naive wall time, ascending, into out[0..*n) (two when it is
 * ambiguous); in a gap, the one instant the gap ends. 
 */
static MtWindowResult
instants_of_naive(const MtClock *clock, int64_t naive, int64_t out[3], int *n)
{
	int64_t		probes[3] = {naive - SECS_PER_DAY, naive, naive + SECS_PER_DAY};
	int64_t		lo,
				hi;
	int32_t		min_off = INT32_MAX,
				max_off = INT32_MIN;
	MtLocalTime lt;
	MtWindowResult r;

	*n = 0;
	for (int i = 0; i < 3; i++)
	{
		int64_t		candidate;
		bool		seen = false;

		if ((r = clock_local(clock, probes[i], &lt)) != MT_WINDOW_OK)
			return r;
		if (lt.utc_offset < min_off)
			min_off = lt.utc_offset;
		if (lt.utc_offset > max_off)
			max_off = lt.utc_offset;
		candidate = naive - lt.utc_offset;
		if ((r = clock_local(clock, candidate, &lt)) != MT_WINDOW_OK)
			return r;
		if (mt_local_naive_seconds(&lt) != naive)
			continue;
		for (int j = 0; j < *n; j++)
			seen = seen || out[j] == candidate;
		if (seen)
			continue;
		/* insert in order */
		{
			int			j = *n;

			while (j > 0 && out[j - 1] > candidate)
			{
				out[j] = out[j - 1];
				j--;
			}
			out[j] = candidate;
			(*n)++;
		}
	}
	if (*n > 0)
		return MT_WINDOW_OK;
	/* in a gap: the wall time jumps past naive somewhere in (naive - max_off, naive - min_off] */
	lo = naive - max_off;
	hi = naive - min_off;
	while (hi - lo > 1)
	{
		int64_t		mid = lo + (hi - lo) / 2;

		if ((r = clock_local(clock, mid, &lt)) != MT_WINDOW_OK)
			return r;
		if (mt_local_naive_seconds(&lt) >= naive)
			hi = mid;
		else
			lo = mid;
	}
	out[0] = hi;
	*n = 1;
	return MT_WINDOW_OK;
}

/* First instant whose wall time is at or after a naive wall time. */
static MtWindowResult
instant_of_naive(const MtClock *clock, int64_t naive, int64_t *out)
{
	int64_t		all[3];
	int			n;
	MtWindowResult r = instants_of_naive(clock, naive, all, &n);

	if (r == MT_WINDOW_OK)
		*out = all[0];
	return r;
}

/* The instant of a local wall time. */
MtWindowResult
mt_clock_instant(const MtClock *clock, int year, int month, int day, int hour, int minute,
				 int second, int64_t *out)
{
	if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59)
		return MT_WINDOW_RANGE;
	return instant_of_naive(clock, mt_days_from_civil(year, month, day) * SECS_PER_DAY +
							hour * 3600 + minute * 60 + second, out);
}

/*
 * The first instant in (from, to] where the UTC offset differs from the one at `from`, if the
 * offsets at the two ends differ (one change in between is assumed); *found false otherwise.
 */
static MtWindowResult
offset_change(const MtClock *clock, int64_t from, int64_t to, bool *found, int64_t *at)
{
	MtLocalTime a,
				b;
	MtWindowResult r;

	*found = false;
	if ((r = clock_local(clock, from, &a)) != MT_WINDOW_OK ||
		(r = clock_local(clock, to, &b)) != MT_WINDOW_OK)
		return r;
	if (a.utc_offset == b.utc_offset)
		return MT_WINDOW_OK;
	while (to - from > 1)
	{
		int64_t		mid = from + (to - from) / 2;

		if ((r = clock_local(clock, mid, &b)) != MT_WINDOW_OK)
			return r;
		if (b.utc_offset == a.utc_offset)
			from = mid;
		else
			to = mid;
	}
	*found = true;
	*at = to;
	return MT_WINDOW_OK;
}

/*
 * The window opens either when the wall clock reaches its start on an allowed day, or when a
 * change of UTC offset makes the wall clock jump into it: the first of those after s, up to
 * `limit`, into *out (*found false when there is none).
 */
static MtWindowResult
first_opening(const MtSendWindow *window, const MtClock *clock, int64_t s, bool *found,
			  int64_t *out)
{
	MtLocalTime lt;
	MtWindowResult r;
	int64_t		base;
	int64_t		scan_from = s;

	*found = false;
	if ((r = clock_local(clock, s, &lt)) != MT_WINDOW_OK)
		return r;
	base = mt_days_from_civil(lt.year, lt.month, lt.day);
	for (int k = 0; k <= SEARCH_DAYS; k++)
	{
		int64_t		day = base + k;
		int64_t		candidates[3];
		int			n_candidates;

		if (!(window->days & (1 << mt_weekday_of_days(day))))
			continue;
		/* the start may be reached twice on a day the clock falls back: both are openings */
		if ((r = instants_of_naive(clock, day * SECS_PER_DAY + window->start_minute * 60,
								   candidates, &n_candidates)) != MT_WINDOW_OK)
			return r;
		for (int c = 0; c < n_candidates; c++)
		{
			int64_t		candidate = candidates[c];
			bool		changed;
			int64_t		change_at;

			if (candidate <= s)
				continue;
			/* offset changes before the candidate may jump the wall clock into the window */
			while (scan_from < candidate)
			{
				if ((r = offset_change(clock, scan_from, candidate, &changed, &change_at)) != MT_WINDOW_OK)
					return r;
				if (!changed)
					break;
				if ((r = clock_local(clock, change_at, &lt)) != MT_WINDOW_OK)
					return r;
				if (mt_send_window_open_at(window, &lt))
				{
					*out = change_at;
					*found = true;
					return MT_WINDOW_OK;
				}
				scan_from = change_at;
			}
			scan_from = candidate;
			if ((r = clock_local(clock, candidate, &lt)) != MT_WINDOW_OK)
				return r;
			if (mt_send_window_open_at(window, &lt))
			{
				*out = candidate;
				*found = true;
				return MT_WINDOW_OK;
			}
		}
	}
	return MT_WINDOW_OK;
}

/* The first instant at or after t when the window is open. */
MtWindowResult
mt_send_window_next(const MtSendWindow *window, const MtClock *clock, int64_t t, int64_t *out)
{
	int64_t		s = floor_div(t, 1000000) + MT_UNIX_EPOCH_OFFSET;
	int64_t		opening = 0;
	bool		found;
	MtLocalTime lt;
	MtWindowResult r;

	if (t < (MT_CIVIL_MIN - MT_UNIX_EPOCH_OFFSET) * 1000000 ||
		t >= (MT_CIVIL_END - MT_UNIX_EPOCH_OFFSET - SECS_PER_DAY * (SEARCH_DAYS + 2)) * 1000000)
		return MT_WINDOW_RANGE;
	if ((r = clock_local(clock, s, &lt)) != MT_WINDOW_OK)
		return r;
	if (mt_send_window_open_at(window, &lt))
	{
		*out = t;
		return MT_WINDOW_OK;
	}
	if ((r = first_opening(window, clock, s, &found, &opening)) != MT_WINDOW_OK)
		return r;
	if (!found)
		return MT_WINDOW_NEVER;
	*out = (opening - MT_UNIX_EPOCH_OFFSET) * 1000000;
	return MT_WINDOW_OK;
}
