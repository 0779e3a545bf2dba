/*
 * segment_state.h: per user, what segment maintenance needs to re-evaluate them without reading
 * their events again — one row of microtrigger.segment_state (UNLOGGED: a cache of derived
 * state; a crash empties it and a missing part is rebuilt from the events).
 *
 * A part per segment holds the stored membership and next check (as segment_members and
 * segment_schedule have them), the profile's verdict, a horizon H and, per clause, the times
 * of the user's events the clause counts that can still matter at or after H: a windowed
 * clause keeps the times from H - within on; a clause without a window keeps a count of its
 * events before H and the times from H on. A part answers for a sweep that starts at or after
 * H; anything else reads the events as before.
 *
 * Encoding (bytea): a format byte, then per part: name length (1 byte), name, flags (1 byte:
 * member, scheduled, profile known, profile matched), next check, horizon (8 bytes each), the
 * number of clause slots (1 byte: includes then excludes), per slot a count of times (4 bytes),
 * the base count (4 bytes) and the times (8 bytes each).
 */
#ifndef MT_SEGMENT_STATE_H
#define MT_SEGMENT_STATE_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "segment_cache.h"
#include "segment_timeline.h"

/* How far before its evaluation time a new part answers: an event this late still uses it. */
#define MT_STATE_MARGIN (INT64CONST(3) * USECS_PER_DAY)

/* One segment's part of a user's state, decoded (pointing into the encoded state). */
typedef struct MtStatePart
{
	bool		member;
	bool		scheduled;
	TimestampTz changes_at;
	bool		profile_known;
	bool		profile_ok;
	TimestampTz horizon;		/* answers for sweeps from here on */
	int			n_slots;
	const char *slots;			/* the encoded slots */
	const char *raw;			/* the whole encoded part, to carry it over */
	int			raw_len;
} MtStatePart;

/*
 * Decodes a state (NULL: none) into parts[k] for cache index k (NULL where there is none or
 * its shape does not fit the cached definition); parts of unknown segments are dropped.
 */
extern void mt_segment_state_decode(bytea *state, MtStatePart **parts);

/* Adds a part's clause times and base counts to times (from mt_segment_times_new). */
extern void mt_segment_state_times(const MtStatePart *part, const MtSegment *segment,
								   MtSegmentTimes *times);

/* Starts an encoded state. */
extern void mt_segment_state_begin(StringInfo buf);

/* Appends a freshly evaluated part, keeping of times what matters from horizon on. */
extern void mt_segment_state_add(StringInfo buf, const MtSegment *segment, bool member,
								 bool scheduled, TimestampTz changes_at, bool profile_known,
								 bool profile_ok, TimestampTz horizon, const MtSegmentTimes *times);

/* Appends a part of an old state unchanged. */
extern void mt_segment_state_carry(StringInfo buf, const MtStatePart *part);

#endif
