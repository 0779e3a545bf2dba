/*
 * segment_deltas.h: the segment part of the one ingest statement trigger (ingest_trigger.c). The trigger
 * reads each transition row once and hands it here; the segments whose clauses count it are
 * collected per user, and re-evaluated once per statement after the walk.
 */
#ifndef MT_SEGMENT_DELTAS_H
#define MT_SEGMENT_DELTAS_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "condition_eval.h"

/* The (segment, user) pairs an ingest statement's events affect. */
typedef struct MtSegmentDeltas MtSegmentDeltas;

/*
 * Starts collecting for a statement (SPI connected): loads the segment cache and clocks. NULL
 * when no segment can change: there is none, or these are segment maintenance's own events.
 */
extern MtSegmentDeltas *mt_segment_deltas_begin(void);

/* Forgets what was collected (the walk starts over). */
extern void mt_segment_deltas_reset(MtSegmentDeltas *deltas);

/* Files one event under every segment one of whose clauses counts it. */
extern void mt_segment_deltas_add(MtSegmentDeltas *deltas, const char *user_id, int user_id_len,
								  const char *event_type, int event_type_len,
								  TimestampTz occurred_at, MtDocument *doc);

/* Re-evaluates every affected (segment, user) and frees the collection (never fails the INSERT). */
extern void mt_segment_deltas_apply(MtSegmentDeltas *deltas);

#endif
