/*
 * send_time_sql.c: optimal send time on the PostgreSQL side (send_time_sql.h) and its SQL
 * functions send_time_profile() and optimal_send_time().
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "local_time.h"
#include "send_time_sql.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(mt_send_time_profile_sql);
PG_FUNCTION_INFO_V1(mt_optimal_send_time_sql);

/* The contact's zone, or UTC. */
char *
mt_contact_zone(const char *user_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char	   *zone = NULL;

	values[0] = CStringGetTextDatum(user_id);
	mt_spi_check(SPI_connect(), SPI_OK_CONNECT, "connect to SPI");
	mt_execute_plan(mt_kept_plan(&plan, "SELECT c.timezone FROM microtrigger.contacts c WHERE c.user_id = $1",
								 1, types), values, NULL, true, 1, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		char	   *found = mt_spi_text(0, 1);

		if (found != NULL)
			zone = strcpy(SPI_palloc(strlen(found) + 1), found);
	}
	mt_spi_check(SPI_finish(), SPI_OK_FINISH, "finish SPI");
	return zone != NULL ? zone : pstrdup("UTC");
}

/*
 * The weighted bins of the user's events, smoothed into the profile. The query returns each
 * event's instant and type weight; the local hour (pg_localtime) and the decay are computed here,
 * which is several times cheaper per event than timezone() and date_part() in SQL.
 */
void
mt_send_time_profile_load(const char *user_id, const char *zone, TimestampTz as_of,
						  double profile[MT_SEND_TIME_HOURS])
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID, FLOAT8OID, FLOAT8OID};
	Datum		values[6];
	double		raw[MT_SEND_TIME_HOURS] = {0};
	MtClock		clock = mt_zone_clock(mt_zone_lookup(zone, "the contact's timezone"));

	values[0] = CStringGetTextDatum(user_id);
	values[1] = TimestampTzGetDatum(as_of);
	values[2] = TimestampTzGetDatum(as_of - MT_SEND_TIME_LOOKBACK_DAYS * USECS_PER_DAY);
	values[3] = Float8GetDatum(MT_SEND_TIME_WEIGHT_CLICK);
	values[4] = Float8GetDatum(MT_SEND_TIME_WEIGHT_OPEN);
	values[5] = Float8GetDatum(MT_SEND_TIME_WEIGHT_SITE);
	mt_spi_check(SPI_connect(), SPI_OK_CONNECT, "connect to SPI");
	mt_execute_plan(mt_kept_plan(&plan,
								 "SELECT e.occurred_at, CASE e.event_type WHEN 'email_click' THEN $4 "
								 "                      WHEN 'email_open' THEN $5 ELSE $6 END "
								 "FROM microtrigger.events e "
								 "WHERE e.user_id = $1 AND e.occurred_at <= $2 AND e.occurred_at > $3",
								 6, types), values, NULL, true, 0, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		null_at,
					null_weight;
		TimestampTz at = DatumGetTimestampTz(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &null_at));
		double		weight = DatumGetFloat8(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &null_weight));
		int64		s;
		MtLocalTime lt;
		int			how;

		if (null_at || null_weight || TIMESTAMP_NOT_FINITE(at))
			continue;
		s = (at >= 0 ? at / USECS_PER_SEC : -((-at + USECS_PER_SEC - 1) / USECS_PER_SEC)) + MT_UNIX_EPOCH_OFFSET;
		if (!clock.local(clock.zone, s, &lt) || (how = mt_hour_of_week(lt.weekday, lt.hour)) < 0)
			continue;
		raw[how] += weight * mt_send_time_decay((double) (as_of - at) / USECS_PER_SEC);
	}
	mt_spi_check(SPI_finish(), SPI_OK_FINISH, "finish SPI");
	mt_send_time_smooth(raw, profile);
}

/* The instant of the best local hour within the horizon, or `from`. */
void
mt_optimal_send_time(const char *user_id, const char *zone, TimestampTz from, int64 within,
					 TimestampTz as_of, MtSendTimeResult *out)
{
	double		profile[MT_SEND_TIME_HOURS];
	TimestampTz candidates[MT_SEND_TIME_WITHIN_MAX / USECS_PER_HOUR + 3];
	int			n = 1;
	int			offset = 0;
	pg_tz	   *tz;
	MtLocalTime lt;
	struct pg_tm tm = {0};
	Timestamp	wall0;
	TimestampTz limit;

	if (within < MT_SEND_TIME_WITHIN_MIN || within > MT_SEND_TIME_WITHIN_MAX)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("optimal send time for user \"%s\": within must be from 1 hour to 7 days", user_id)));
	out->send_at = from;
	out->optimal = false;
	out->history = 0;
	if (zone == NULL)
		zone = mt_contact_zone(user_id);
	tz = mt_zone_lookup(zone, "the contact's timezone");
	mt_send_time_profile_load(user_id, zone, as_of, profile);
	out->history = mt_send_time_history(profile);
	if (TIMESTAMP_NOT_FINITE(from))
		return;
	/* the candidates: `from`, then the start of each following local wall hour up to the limit */
	mt_local_time_of(from, tz, &lt);
	tm.tm_year = lt.year;
	tm.tm_mon = lt.month;
	tm.tm_mday = lt.day;
	tm.tm_hour = lt.hour;
	if (tm2timestamp(&tm, 0, NULL, &wall0) != 0 || pg_add_s64_overflow(from, within, &limit))
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("optimal send time for user \"%s\": the time is out of range", user_id)));
	candidates[0] = from;
	for (int k = 1; k < lengthof(candidates); k++)
	{
		TimestampTz at = mt_local_to_utc(wall0 + k * USECS_PER_HOUR, tz);

		if (at > limit)
			break;
		candidates[k] = at;
		n = k + 1;
	}
	if (mt_send_time_best(profile, mt_hour_of_week(lt.weekday, lt.hour), n, &offset) != MT_SEND_TIME_CHOSEN)
		return;
	out->send_at = candidates[offset];
	out->optimal = true;
}

/*
 * send_time_profile(user_id text, as_of timestamptz): the user's profile, 168 rows
 * (hour_of_week 0..167, weight), in the contact's zone.
 */
Datum
mt_send_time_profile_sql(PG_FUNCTION_ARGS)
{
	char	   *user_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	double		profile[MT_SEND_TIME_HOURS];

	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("send_time_profile: as_of must be finite, not infinity or -infinity")));
	mt_send_time_profile_load(user_id, mt_contact_zone(user_id), as_of, profile);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (int h = 0; h < MT_SEND_TIME_HOURS; h++)
	{
		Datum		values[2] = {Int32GetDatum(h), Float8GetDatum(profile[h])};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * optimal_send_time(user_id text, from_at timestamptz, within interval, as_of timestamptz):
 * (send_at, optimal, history) of mt_optimal_send_time, in the contact's zone.
 */
Datum
mt_optimal_send_time_sql(PG_FUNCTION_ARGS)
{
	char	   *user_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz from = PG_GETARG_TIMESTAMPTZ(1);
	Interval   *within = PG_GETARG_INTERVAL_P(2);
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(3);
	int64		usecs = within->time;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	MtSendTimeResult r;

	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("optimal_send_time: as_of must be finite, not infinity or -infinity")));
	/* a day is 24 hours and a month 30 days here, as in definitions' durations */
	if (within->month > 12 * 10 || within->month < 0 || within->day > 36525 || within->day < -36525)
		usecs = -1;
	else
		usecs += ((int64) within->month * DAYS_PER_MONTH + within->day) * USECS_PER_DAY;
	if (usecs < MT_SEND_TIME_WITHIN_MIN || usecs > MT_SEND_TIME_WITHIN_MAX)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("optimal_send_time: within must be from 1 hour to 7 days, not %s",
							   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(within))))));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("optimal_send_time must return a record")));
	mt_optimal_send_time(user_id, NULL, from, usecs, as_of, &r);
	values[0] = TimestampTzGetDatum(r.send_at);
	values[1] = BoolGetDatum(r.optimal);
	values[2] = Float8GetDatum(r.history);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
