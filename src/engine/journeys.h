/*
 * journeys.h: sequences in motion — starting a journey, advancing journeys whose next step is
 * due, and ending them early on an exit event.
 */
#ifndef MT_JOURNEYS_H
#define MT_JOURNEYS_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "condition_eval.h"
#include "engine_internal.h"

/* Loads the compiled sequences if needed (SPI connected). */
extern void mt_journeys_ensure(void);

/* Does any sequence have an exit clause? */
extern bool mt_journeys_have_exits(void);

/* Could an event of this type end a journey? */
extern bool mt_journeys_exit_types_match(const char *event_type, int len);

/* Starts a journey of the sequence for key's user at start_at (decision recorded); true when started. */
extern bool mt_journey_start(const char *sequence_name, const MtDecisionKey *key, TimestampTz start_at,
							 TimestampTz as_of);

/* Advances journeys due at as_of, up to limit (all when limit <= 0); returns how many. */
extern int	mt_run_journeys(TimestampTz as_of, int limit, MemoryContext batch_context);

/* Ends the user's active journeys whose exit matches this event (ingest; never raises). */
extern void mt_journeys_exit_on_event(int64 event_id, text *user_id, MtDocument *doc, Jsonb *params);

#endif
