/*
 * segment_expiry.h: what run_pending and the worker call for segments — windows that expire at as_of,
 * and the earliest time one will.
 */
#ifndef MT_SEGMENT_EXPIRY_H
#define MT_SEGMENT_EXPIRY_H

#include "postgres.h"

#include "utils/timestamp.h"

/*
 * Advances every segment's clock to as_of and re-evaluates the memberships whose next change
 * (segment_schedule.changes_at) has come, up to `limit` of them (all when limit <= 0); records
 * segment_enter / segment_exit events at the times membership changed. Returns how many were
 * re-evaluated. SPI may or may not be connected.
 */
extern int	mt_segments_run_pending(TimestampTz as_of, int limit);

/* The earliest time a membership changes with no new event, or DT_NOEND. */
extern TimestampTz mt_segments_next_due(void);

#endif
