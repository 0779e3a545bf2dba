/*
 * local_time.h: the contact's clock on the PostgreSQL side (docs/timing.md). Time zones are
 * looked up with PostgreSQL's own tz library (pg_tzset) under the rule of mt_zone_problem; an
 * instant's local fields come from pg_localtime, and a local wall time goes back to UTC with the
 * rule of send_window.h (a time in a spring-forward gap: the end of the gap; an ambiguous one:
 * its first occurrence). The window arithmetic itself is the PostgreSQL-free src/send_window.c.
 */
#ifndef MT_LOCAL_TIME_H
#define MT_LOCAL_TIME_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"

#include "send_window.h"

/*
 * NULL when `name` is a time zone contacts may have, else why not (a phrase such as "is not an
 * IANA time zone"), with *hint set to advice for the user. Accepted: "UTC" and the Area/Location
 * names of the IANA database that PostgreSQL loads (pg_timezone_names), spelled as there;
 * refused: abbreviations (EST), POSIX rules (UTC+3, EST5EDT), the posix/ and right/ copies.
 */
extern const char *mt_zone_problem(const char *name, const char **hint);

/* The zone of that name (raises 22023 naming `what` when mt_zone_problem refuses it). */
extern pg_tz *mt_zone_lookup(const char *name, const char *what);

/* A clock (send_window.h) over a zone. */
extern MtClock mt_zone_clock(pg_tz *tz);

/* The local time of a finite instant in a zone (raises 22008 when out of range). */
extern void mt_local_time_of(TimestampTz t, pg_tz *tz, MtLocalTime *out);

/*
 * The instant of a local wall time (a timestamp without time zone read as wall time in tz):
 * gap -> end of the gap, ambiguous -> first occurrence; fractions of a second are kept.
 */
extern TimestampTz mt_local_to_utc(Timestamp wall, pg_tz *tz);

/* The next instant at or after t when the window is open in tz (raises when there is none). */
extern TimestampTz mt_window_next(const MtSendWindow *window, pg_tz *tz, TimestampTz t);

/* Defines microtrigger.quiet_hours and microtrigger.max_lateness (called from _PG_init). */
extern void mt_timing_init(void);

/* microtrigger.quiet_hours as the window when mail may go; false when it is empty (off). */
extern bool mt_quiet_hours_window(MtSendWindow *out);

/* microtrigger.max_lateness in microseconds (default 1 day). */
extern int64 mt_default_max_lateness(void);

#endif
