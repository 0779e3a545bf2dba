/*
 * local_time.c: the contact's clock with PostgreSQL's tz library (local_time.h), the timing
 * settings (microtrigger.quiet_hours, microtrigger.max_lateness), and the SQL functions that
 * expose them for tests and inspection: local_time(), from_local_time(), next_send_time().
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "definition.h"
#include "local_time.h"

PG_FUNCTION_INFO_V1(mt_local_time_sql);
PG_FUNCTION_INFO_V1(mt_from_local_time_sql);
PG_FUNCTION_INFO_V1(mt_next_send_time_sql);

/* microtrigger.quiet_hours and microtrigger.max_lateness, as set, and as parsed by their checks. */
static char *quiet_hours_text = NULL;
static char *max_lateness_text = NULL;
static bool quiet_hours_set = false;
static MtSendWindow quiet_hours_window;
static MtDuration max_lateness_value = 86400 * MT_USECS_PER_SEC;

/* Can a character appear in an Area/Location zone name? */
static bool
zone_name_char(char c)
{
	return isalnum((unsigned char) c) || c == '_' || c == '-' || c == '+' || c == '/';
}

/* Why `name` is not a time zone a contact may have, or NULL. */
const char *
mt_zone_problem(const char *name, const char **hint)
{
	size_t		len = strlen(name);
	pg_tz	   *tz;
	bool		slash = false;

	*hint = "Use an IANA time zone name such as America/New_York, Europe/Paris or Asia/Kolkata, or UTC; "
		"abbreviations (EST, CET) and offsets (UTC+3) are not time zones: they do not follow daylight saving time.";
	if (strcmp(name, "UTC") == 0)
		return NULL;
	if (len == 0 || len > TZ_STRLEN_MAX || !isalpha((unsigned char) name[0]) || name[len - 1] == '/')
		return "is not an IANA time zone";
	for (size_t i = 0; i < len; i++)
	{
		if (!zone_name_char(name[i]) || (name[i] == '/' && name[i + 1] == '/'))
			return "is not an IANA time zone";
		if (name[i] == '/')
			slash = true;
	}
	if (!slash)
		return "is not an IANA time zone";
	if (pg_strncasecmp(name, "posix/", 6) == 0 || pg_strncasecmp(name, "right/", 6) == 0)
	{
		*hint = "Use the name without the posix/ or right/ prefix.";
		return "is not an IANA time zone";
	}
	tz = pg_tzset(name);
	if (tz == NULL || !pg_tz_acceptable(tz))
	{
		*hint = "The names PostgreSQL knows are listed in pg_timezone_names.";
		return "is not a time zone PostgreSQL knows";
	}
	if (strcmp(pg_get_timezone_name(tz), name) != 0)
	{
		*hint = psprintf("It is spelled %s.", pg_get_timezone_name(tz));
		return "is not spelled as in the IANA database";
	}
	return NULL;
}

/* The zone of that name, or 22023. */
pg_tz *
mt_zone_lookup(const char *name, const char *what)
{
	const char *hint;
	const char *problem = mt_zone_problem(name, &hint);
	pg_tz	   *tz;

	if (problem != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s \"%s\" %s", what, name, problem), errhint("%s", hint)));
	tz = pg_tzset(name);
	if (tz == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s \"%s\" is not a time zone PostgreSQL knows", what, name)));
	return tz;
}

/* The clock callback over a pg_tz: pg_localtime of the instant. */
static bool
pg_zone_local(void *zone, int64_t unix_seconds, MtLocalTime *out)
{
	pg_time_t	t = (pg_time_t) unix_seconds;
	struct pg_tm *tm = pg_localtime(&t, (const pg_tz *) zone);

	if (tm == NULL)
		return false;
	out->year = tm->tm_year + 1900;
	out->month = tm->tm_mon + 1;
	out->day = tm->tm_mday;
	out->hour = tm->tm_hour;
	out->minute = tm->tm_min;
	out->second = tm->tm_sec;
	out->weekday = (tm->tm_wday + 6) % 7;
	out->utc_offset = (int32_t) tm->tm_gmtoff;
	return true;
}

/* A clock over a zone. */
MtClock
mt_zone_clock(pg_tz *tz)
{
	MtClock		clock = {pg_zone_local, tz};

	return clock;
}

/* Raises the error of a failed window or clock computation. */
static void
report_window_result(MtWindowResult r, const char *what)
{
	if (r == MT_WINDOW_RANGE)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("%s: the time is out of range (years 1 to 9999 only)", what)));
	if (r == MT_WINDOW_CLOCK)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("%s: the time zone library cannot convert this time", what)));
	if (r == MT_WINDOW_NEVER)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: the send window does not open within three weeks", what)));
}

/* The local time of an instant. */
void
mt_local_time_of(TimestampTz t, pg_tz *tz, MtLocalTime *out)
{
	int64_t		s;

	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("local time: the time must be finite, not infinity or -infinity")));
	s = (t >= 0 ? t / USECS_PER_SEC : -((-t + USECS_PER_SEC - 1) / USECS_PER_SEC)) + MT_UNIX_EPOCH_OFFSET;
	if (s < INT64_C(-62135596800) || s >= INT64_C(253402300800) || !pg_zone_local(tz, s, out))
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("local time: the time is out of range (years 1 to 9999 only)")));
}

/* The instant of a local wall time. */
TimestampTz
mt_local_to_utc(Timestamp wall, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	MtClock		clock = mt_zone_clock(tz);
	int64_t		s;
	MtWindowResult r;

	if (TIMESTAMP_NOT_FINITE(wall))
		return wall;
	if (timestamp2tm(wall, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	r = mt_clock_instant(&clock, tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
						 tm.tm_sec, &s);
	report_window_result(r, "from_local_time");
	return (s - MT_UNIX_EPOCH_OFFSET) * USECS_PER_SEC + fsec;
}

/* The next instant at or after t when the window is open. */
TimestampTz
mt_window_next(const MtSendWindow *window, pg_tz *tz, TimestampTz t)
{
	MtClock		clock = mt_zone_clock(tz);
	int64_t		out = 0;

	report_window_result(mt_send_window_next(window, &clock, t, &out), "next_send_time");
	return (TimestampTz) out;
}

/* check_hook of microtrigger.quiet_hours: "HH:MM-HH:MM" or empty. */
static bool
check_quiet_hours(char **newval, void **extra, GucSource source)
{
	MtError		err = {0};
	bool		is_set;
	MtSendWindow window;

	if (!mt_quiet_hours_parse(*newval ? *newval : "", "microtrigger.quiet_hours", &is_set, &window, &err))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("%s.", err.message);
		return false;
	}
	return true;
}

/* assign_hook of microtrigger.quiet_hours: keeps the parsed window. */
static void
assign_quiet_hours(const char *newval, void *extra)
{
	MtError		err = {0};

	if (!mt_quiet_hours_parse(newval ? newval : "", "microtrigger.quiet_hours", &quiet_hours_set,
							  &quiet_hours_window, &err))
		quiet_hours_set = false;
}

/* check_hook of microtrigger.max_lateness: a positive duration. */
static bool
check_max_lateness(char **newval, void **extra, GucSource source)
{
	MtDuration	d;

	if (*newval == NULL || !mt_parse_duration_text(*newval, &d) || d <= 0 || d > MT_DURATION_MAX)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("microtrigger.max_lateness must be a duration such as '1 day' or '6 hours', more than 0 and at most 10 years.");
		return false;
	}
	return true;
}

/* assign_hook of microtrigger.max_lateness: keeps the parsed duration. */
static void
assign_max_lateness(const char *newval, void *extra)
{
	MtDuration	d;

	if (newval != NULL && mt_parse_duration_text(newval, &d) && d > 0)
		max_lateness_value = d;
}

/* Defines the timing settings (called from _PG_init). */
void
mt_timing_init(void)
{
	DefineCustomStringVariable("microtrigger.quiet_hours",
							   "Hours of the contact's local day when no non-transactional email is sent, e.g. '21:00-08:00'.",
							   "Empty: no quiet hours. A trigger's or step's own send_window replaces them.",
							   &quiet_hours_text, "", PGC_USERSET, 0,
							   check_quiet_hours, assign_quiet_hours, NULL);
	DefineCustomStringVariable("microtrigger.max_lateness",
							   "Default of the trigger key max_lateness: a firing acted on later than this after its trigger time is dropped as stale.",
							   "A duration such as '1 day'.",
							   &max_lateness_text, "1 day", PGC_USERSET, 0,
							   check_max_lateness, assign_max_lateness, NULL);
}

/* The quiet hours as a window when mail may go; false when none are set. */
bool
mt_quiet_hours_window(MtSendWindow *out)
{
	if (quiet_hours_set)
		*out = quiet_hours_window;
	return quiet_hours_set;
}

/* microtrigger.max_lateness in microseconds. */
MtDuration
mt_default_max_lateness(void)
{
	return max_lateness_value;
}

/*
 * local_time(at timestamptz, zone text): the local wall time of an instant and the render
 * context's names for it (local_hour, weekday, daypart) with the UTC offset then.
 */
Datum
mt_local_time_sql(PG_FUNCTION_ARGS)
{
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	char	   *zone = text_to_cstring(PG_GETARG_TEXT_PP(1));
	pg_tz	   *tz = mt_zone_lookup(zone, "time zone");
	MtLocalTime lt;
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false};
	struct pg_tm tm = {0};
	Timestamp	wall;
	Interval   *offset = palloc0(sizeof(Interval));
	int64		fraction = at % USECS_PER_SEC;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("local_time must return a record")));
	mt_local_time_of(at, tz, &lt);
	tm.tm_year = lt.year;
	tm.tm_mon = lt.month;
	tm.tm_mday = lt.day;
	tm.tm_hour = lt.hour;
	tm.tm_min = lt.minute;
	tm.tm_sec = lt.second;
	if (fraction < 0)
		fraction += USECS_PER_SEC;
	if (tm2timestamp(&tm, (fsec_t) fraction, NULL, &wall) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
	offset->time = (int64) lt.utc_offset * USECS_PER_SEC;
	values[0] = TimestampGetDatum(wall);
	values[1] = Int32GetDatum(lt.hour);
	values[2] = CStringGetTextDatum(mt_weekday_name(lt.weekday));
	values[3] = CStringGetTextDatum(mt_daypart(lt.hour));
	values[4] = IntervalPGetDatum(offset);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* from_local_time(wall timestamp, zone text): the instant of a local wall time. */
Datum
mt_from_local_time_sql(PG_FUNCTION_ARGS)
{
	Timestamp	wall = PG_GETARG_TIMESTAMP(0);
	char	   *zone = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_TIMESTAMPTZ(mt_local_to_utc(wall, mt_zone_lookup(zone, "time zone")));
}

/*
 * next_send_time(send_window jsonb, zone text, at timestamptz): the first instant at or after
 * `at` when the window is open in the zone. The window is a send_window object, or a JSON string
 * in the form of microtrigger.quiet_hours ("21:00-08:00": the hours mail may not go).
 */
Datum
mt_next_send_time_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *window_jsonb = PG_GETARG_JSONB_P(0);
	char	   *zone = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(2);
	pg_tz	   *tz = mt_zone_lookup(zone, "time zone");
	char	   *text = JsonbToCString(NULL, &window_jsonb->root, VARSIZE(window_jsonb));
	MtSendWindow window;
	MtError		err = {0};
	bool		is_set = true;

	if (TIMESTAMP_NOT_FINITE(at))
		PG_RETURN_TIMESTAMPTZ(at);
	if (!mt_send_window_parse_text(text, "$", &is_set, &window, &err))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid send window at %s: %s", err.path, err.message)));
	if (!is_set)
		PG_RETURN_TIMESTAMPTZ(at);
	PG_RETURN_TIMESTAMPTZ(mt_window_next(&window, tz, at));
}
