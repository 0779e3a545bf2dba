/*
 * segment_cache.h: the backend-local cache of compiled segments, indexed by the event types their
 * clauses count, so an event meets only the segments it can change. Invalidated by relcache
 * invalidation of microtrigger.segments (sent by a statement trigger on that table).
 */
#ifndef MT_SEGMENT_CACHE_H
#define MT_SEGMENT_CACHE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "condition_eval.h"
#include "segment_def.h"

/* One cached segment. */
typedef struct MtSegmentEntry
{
	MtSegment  *segment;
	int			index;			/* position in the cache: per-user arrays are indexed by it */
	TimestampTz clock;			/* segment_clock.as_of, read per statement; DT_NOBEGIN: none */
} MtSegmentEntry;

/* Loads the cache if needed (uses SPI: the caller must be connected). */
extern void mt_segment_cache_ensure(void);

/* Number of cached segments and the entry at an index. */
extern int	mt_segment_cache_count(void);
extern MtSegmentEntry *mt_segment_cache_entry(int index);

/* The segment of that name, or NULL. */
extern MtSegmentEntry *mt_segment_cache_lookup(const char *name);

/* Reads every segment's clock (segment_clock.as_of) into the cache (SPI connected). */
extern void mt_segment_cache_read_clocks(void);

/*
 * The segments whose clauses may count an event of this type (its type's and those with a clause
 * of any type): sets *entries to an array of *n indexes. Never segment events.
 */
extern void mt_segment_cache_for_type(const char *event_type, int len, const int **indexes, int *n);

/* Does the event count for some clause of the segment (type and condition)? */
extern bool mt_segment_counts_event(const MtSegment *segment, MtDocument *doc);

/* Does the clause count the event (type and condition)? */
extern bool mt_segment_clause_counts(const MtClause *clause, MtDocument *doc);

/* Compiles a definition held as jsonb; NULL with *err filled when it is not valid. */
extern MtSegment *mt_segment_compile_jsonb(const char *name, Jsonb *definition, MtError *err);

#endif
