/*
 * segment_timeline.c: membership over time from clause event times (see segment_timeline.h).
 * Counting at a time is two binary searches per clause; a sweep visits the breakpoints once.
 */
#include <stdlib.h>
#include <string.h>

#include "mtalloc.h"
#include "segment_timeline.h"

/* Empty clause times for every clause of the segment. */
MtSegmentTimes *
mt_segment_times_new(const MtSegment *segment)
{
	MtSegmentTimes *times = mt_alloc(sizeof(MtSegmentTimes));

	times->include = mt_alloc(sizeof(MtClauseTimes) * (size_t) (segment->n_include + 1));
	times->exclude = mt_alloc(sizeof(MtClauseTimes) * (size_t) (segment->n_exclude + 1));
	times->profile_ok = true;
	return times;
}

/* Appends a time, growing the array geometrically. */
void
mt_clause_times_add(MtClauseTimes *times, int64_t at)
{
	if (times->n == times->capacity)
	{
		times->capacity = times->capacity ? times->capacity * 2 : 8;
		times->times = mt_realloc(times->times, sizeof(int64_t) * (size_t) times->capacity);
	}
	times->times[times->n++] = at;
}

/* qsort comparator for int64 times. */
static int
compare_times(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/* Sorts every clause's times. */
void
mt_segment_times_sort(const MtSegment *segment, MtSegmentTimes *times)
{
	for (int i = 0; i < segment->n_include; i++)
		if (times->include[i].n > 1)
			qsort(times->include[i].times, (size_t) times->include[i].n, sizeof(int64_t), compare_times);
	for (int i = 0; i < segment->n_exclude; i++)
		if (times->exclude[i].n > 1)
			qsort(times->exclude[i].times, (size_t) times->exclude[i].n, sizeof(int64_t), compare_times);
}

/* Frees the clause arrays and the struct. */
void
mt_segment_times_free(const MtSegment *segment, MtSegmentTimes *times)
{
	if (times == NULL)
		return;
	for (int i = 0; i < segment->n_include; i++)
		mt_free(times->include[i].times);
	for (int i = 0; i < segment->n_exclude; i++)
		mt_free(times->exclude[i].times);
	mt_free(times->include);
	mt_free(times->exclude);
	mt_free(times);
}

/* Number of sorted times strictly below t. */
static int
count_below(const MtClauseTimes *times, int64_t t)
{
	int			lo = 0,
				hi = times->n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (times->times[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The clause's count at t: its events in [t - within, t] (or up to t without a window, with the
 * base count of earlier events). A window reaching back past the first timestamp starts at
 * -infinity.
 */
static int64_t
clause_count_at(const MtClause *clause, const MtClauseTimes *times, int64_t t)
{
	int			upto = t == INT64_MAX ? times->n : count_below(times, t + 1);

	if (!clause->has_within)
		return times->base + upto;
	return upto - count_below(times, mt_time_add_saturated(t, -clause->within));
}

/* Is the user a member at t: every include holds, no exclude holds, the profile matches. */
bool
mt_segment_member_at(const MtSegment *segment, const MtSegmentTimes *times, int64_t t)
{
	if (!times->profile_ok)
		return false;
	for (int i = 0; i < segment->n_include; i++)
		if (!mt_count_passes(&segment->include[i], clause_count_at(&segment->include[i], &times->include[i], t)))
			return false;
	for (int i = 0; i < segment->n_exclude; i++)
		if (mt_count_passes(&segment->exclude[i], clause_count_at(&segment->exclude[i], &times->exclude[i], t)))
			return false;
	return true;
}

/*
 * Adds a clause's breakpoints (entering at o, leaving at o + within + 1). An event leaving its
 * window past the last timestamp never leaves it: no breakpoint, so no change is ever scheduled
 * at a time a row cannot store.
 */
static void
add_breakpoints(const MtClause *clause, const MtClauseTimes *times, MtClauseTimes *points)
{
	for (int i = 0; i < times->n; i++)
	{
		int64_t		leaves;

		mt_clause_times_add(points, times->times[i]);
		if (clause->has_within && mt_time_add(times->times[i], clause->within + 1, &leaves))
			mt_clause_times_add(points, leaves);
	}
}

/* Records one change. */
static void
add_change(MtSweep *out, int64_t at, bool entered)
{
	out->changes = mt_realloc(out->changes, sizeof(MtSegmentChange) * (size_t) (out->n_changes + 1));
	out->changes[out->n_changes].at = at;
	out->changes[out->n_changes].entered = entered;
	out->n_changes++;
}

/* Sweeps the breakpoints from the stored state through [from, to] and on to the next change. */
void
mt_segment_sweep(const MtSegment *segment, const MtSegmentTimes *times, bool stored_member,
				 int64_t from, int64_t to, MtSweep *out)
{
	MtClauseTimes points = {0};
	bool		value = stored_member;
	bool		now;
	int			i;

	memset(out, 0, sizeof(*out));
	if (to < from)
		from = to;
	for (int c = 0; c < segment->n_include; c++)
		add_breakpoints(&segment->include[c], &times->include[c], &points);
	for (int c = 0; c < segment->n_exclude; c++)
		add_breakpoints(&segment->exclude[c], &times->exclude[c], &points);
	if (points.n > 1)
		qsort(points.times, (size_t) points.n, sizeof(int64_t), compare_times);

	now = mt_segment_member_at(segment, times, from);
	if (now != value)
		add_change(out, from, now);
	value = now;
	for (i = 0; i < points.n && points.times[i] <= to; i++)
	{
		if (points.times[i] <= from || (i > 0 && points.times[i] == points.times[i - 1]))
			continue;
		now = mt_segment_member_at(segment, times, points.times[i]);
		if (now != value)
			add_change(out, points.times[i], now);
		value = now;
	}
	out->member = value;
	for (; i < points.n; i++)
	{
		if (i > 0 && points.times[i] == points.times[i - 1])
			continue;
		if (mt_segment_member_at(segment, times, points.times[i]) != value)
		{
			out->has_next = true;
			out->next_change = points.times[i];
			break;
		}
	}
	mt_free(points.times);
}

/* Frees a sweep's changes. */
void
mt_sweep_free(MtSweep *sweep)
{
	mt_free(sweep->changes);
	sweep->changes = NULL;
	sweep->n_changes = 0;
}
