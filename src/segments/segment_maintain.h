/*
 * segment_maintain.h: re-evaluating some users' membership of some segments, incrementally —
 * the common core of the events trigger, the contacts trigger and run_pending's expiry.
 *
 * For each (segment, user) the stored state is: membership (segment_members) and the time it
 * next changes with no new event (segment_schedule.changes_at, none when it never does). It
 * holds from when it was computed until changes_at. A re-evaluation at time `at` sweeps the
 * user's timeline from min(changes_at, at) to `at`, records each change as a segment_enter or
 * segment_exit event at the time it happened, and stores the state at `at` and its next change.
 */
#ifndef MT_SEGMENT_MAINTAIN_H
#define MT_SEGMENT_MAINTAIN_H

#include "postgres.h"

#include "utils/timestamp.h"

/* A new event's time, counted by one clause slot (includes, then excludes) of a segment. */
typedef struct MtFreshTime
{
	int			segment;		/* cache index */
	int			slot;
	TimestampTz at;
} MtFreshTime;

/*
 * One user's work: for each cached segment (by index), the time to evaluate at; the times of
 * the statement's new events per clause (added to a kept state, segment_state.h); whether the
 * contact changed (a kept profile verdict is not used).
 */
typedef struct MtUserWork
{
	char	   *user_id;
	TimestampTz *at;			/* DT_NOBEGIN: this segment is not re-evaluated */
	MtFreshTime *fresh;
	int			n_fresh;
	int			fresh_capacity;
	bool		contact_changed;
} MtUserWork;

/* A new MtUserWork (in the current memory context) with no segment to evaluate. */
extern MtUserWork *mt_user_work_new(const char *user_id, int n_segments);

/* Files a new event's time under a clause slot of a segment (in the work's memory context). */
extern void mt_user_work_add_fresh(MtUserWork *work, int segment, int slot, TimestampTz at);

/*
 * Re-evaluates the users (SPI connected, segment cache loaded with clocks) and writes the
 * results. A failure never escapes: a user whose evaluation fails gets a segment_error decision
 * (stage names where: "ingest", "contacts", "run_pending"), and in run_pending their due checks
 * are postponed by an hour instead of being retried at once. Returns the number of (segment,
 * user) pairs evaluated.
 */
extern int	mt_segment_maintain_users(MtUserWork **users, int n_users, const char *stage,
									  TimestampTz postpone_to);

/* True while segment maintenance inserts its own events (the events trigger skips them). */
extern bool mt_segment_recording_events;

#endif
