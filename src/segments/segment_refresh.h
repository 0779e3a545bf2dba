/*
 * segment_refresh.h: a segment computed from scratch in SQL (refresh_segment and its oracle).
 */
#ifndef MT_SEGMENT_REFRESH_H
#define MT_SEGMENT_REFRESH_H

#include "postgres.h"

#include "utils/timestamp.h"

/*
 * Replaces the segment's membership and schedule with the from-scratch result at as_of, sets
 * its clock to as_of, returns the member count; with record_events the differences become
 * segment_enter / segment_exit events at as_of. SPI must be connected.
 */
extern int	mt_segment_refresh(const char *name, TimestampTz as_of, bool record_events);

#endif
