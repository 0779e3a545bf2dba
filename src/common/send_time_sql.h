/*
 * send_time_sql.h: optimal send time on the PostgreSQL side (docs/timing.md, "Optimal send
 * time"): a user's profile from microtrigger.events in the contact's zone, and the instant
 * chosen within a horizon, DST-correct (local_time.h). The weights, smoothing and the choice are
 * the PostgreSQL-free src/core/send_time.c. For the policy stage: mt_optimal_send_time.
 */
#ifndef MT_SEND_TIME_SQL_H
#define MT_SEND_TIME_SQL_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"

#include "send_time.h"

/* What optimal send time chose for one email. */
typedef struct MtSendTimeResult
{
	TimestampTz send_at;		/* `from`, or the start of the best local hour after it */
	bool		optimal;		/* false: too little history (send_at is `from`) */
	double		history;		/* the user's total weight (MT_SEND_TIME_MIN_HISTORY needed) */
} MtSendTimeResult;

/* The shortest and longest horizon (as the trigger key send_time.within allows). */
#define MT_SEND_TIME_WITHIN_MIN USECS_PER_HOUR
#define MT_SEND_TIME_WITHIN_MAX (7 * USECS_PER_DAY)

/* The contact's timezone, "UTC" for a user without a contacts row (palloc'd). */
extern char *mt_contact_zone(const char *user_id);

/*
 * The user's profile (send_time.h) as of `as_of`: the events at or before as_of and less than
 * MT_SEND_TIME_LOOKBACK_DAYS older, by local hour of week in `zone` (a contact's timezone).
 * Runs one query (connects to SPI itself; callers may be connected already).
 */
extern void mt_send_time_profile_load(const char *user_id, const char *zone, TimestampTz as_of,
									  double profile[MT_SEND_TIME_HOURS]);

/*
 * The instant to send an email that may go from `from` (the earliest allowed instant) until
 * from + within (MT_SEND_TIME_WITHIN_MIN..MAX, else 22023): `from` itself when its local hour
 * is the best, else the start of the best local hour after it (a best hour a spring-forward
 * change skips starts at the end of the gap), the earliest of equal ones; `from` when the user
 * has too little history. zone NULL: the contact's (mt_contact_zone). The profile is as of as_of.
 */
extern void mt_optimal_send_time(const char *user_id, const char *zone, TimestampTz from,
								 int64 within, TimestampTz as_of, MtSendTimeResult *out);

#endif
