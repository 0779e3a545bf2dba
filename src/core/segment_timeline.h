/*
 * segment_timeline.h: a user's membership of a segment as a function of time, from the times of
 * the events each clause counts. No PostgreSQL dependency.
 *
 * A clause with window W counts, at time t, its events with t - W <= occurred_at <= t (all
 * events up to t without a window). So an event at o enters the count at o and leaves it at
 * o + W + 1 microsecond: membership is constant between those breakpoints, and the sweep finds
 * exactly when it changes.
 */
#ifndef MT_SEGMENT_TIMELINE_H
#define MT_SEGMENT_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "segment_def.h"

/* The occurred_at times (microseconds, as TimestampTz) of the events one clause counts. */
typedef struct MtClauseTimes
{
	int64_t    *times;			/* sorted by mt_segment_times_sort */
	int			n;
	int			capacity;
	int64_t		base;			/* events counted before times[0] (a clause without a window) */
} MtClauseTimes;

/* Everything membership depends on for one user: clause times and the profile. */
typedef struct MtSegmentTimes
{
	MtClauseTimes *include;		/* one per include clause */
	MtClauseTimes *exclude;		/* one per exclude clause */
	bool		profile_ok;		/* the contact matches the profile (true when there is none) */
} MtSegmentTimes;

/* One change of membership. */
typedef struct MtSegmentChange
{
	int64_t		at;
	bool		entered;		/* false: left */
} MtSegmentChange;

/* What a sweep from the stored state to a time found. */
typedef struct MtSweep
{
	bool		member;			/* at the sweep's end */
	MtSegmentChange *changes;	/* in time order; mt_alloc'd */
	int			n_changes;
	bool		has_next;		/* membership changes later, with no new event, at next_change */
	int64_t		next_change;
} MtSweep;

/* Empty times for the segment's clauses (mt_alloc'd; free with mt_segment_times_free). */
extern MtSegmentTimes *mt_segment_times_new(const MtSegment *segment);

/* Appends one event time to a clause. */
extern void mt_clause_times_add(MtClauseTimes *times, int64_t at);

/* Sorts every clause's times (call once after adding). */
extern void mt_segment_times_sort(const MtSegment *segment, MtSegmentTimes *times);

/* Frees what mt_segment_times_new made. */
extern void mt_segment_times_free(const MtSegment *segment, MtSegmentTimes *times);

/* Is the user a member at time t? */
extern bool mt_segment_member_at(const MtSegment *segment, const MtSegmentTimes *times, int64_t t);

/*
 * From the stored membership (known to hold just before `from`), the changes in [from, to] —
 * a change at `from` itself when the state there differs (a late event, a new profile) — the
 * membership at `to`, and the next time after `to` at which it changes with no new event.
 */
extern void mt_segment_sweep(const MtSegment *segment, const MtSegmentTimes *times,
							 bool stored_member, int64_t from, int64_t to, MtSweep *out);

/* Frees the changes of a sweep. */
extern void mt_sweep_free(MtSweep *sweep);

#endif
