/*
 * act_write.h: the write stage of acting. While a batch of firings is acted on in one
 * subtransaction, its decisions, outbox rows and firing states are kept here and written at the
 * batch's end with one statement each (in the order they were made, so ids keep that order).
 * Outside a batch (a replayed firing, journeys, ingest) everything is written at once, as before.
 */
#ifndef MT_ACT_WRITE_H
#define MT_ACT_WRITE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "engine_internal.h"

/* Starts keeping the writes of a batch (in cxt). */
extern void mt_write_begin(MemoryContext cxt);

/* Is a batch keeping its writes? */
extern bool mt_write_buffering(void);

/* Keeps a decision (mt_record_decision does, while buffering). */
extern void mt_write_decision(const MtDecisionKey *key, TimestampTz as_of, const char *outcome,
							  Jsonb *detail);

/*
 * Keeps a trigger email's outbox row and its decision: "queued" (with the outbox id, known when
 * written) unless `duplicate` says its exactly-once key has a row already (then "duplicate"). The
 * flush checks that the insert found what was expected, and fails the batch when it did not.
 */
extern void mt_write_email(const MtEmailJob *job, const char *subject, const char *preheader,
						   const char *html, const char *text, const char *variant,
						   const char *template_name, bool duplicate, TimestampTz as_of);

/* Keeps a firing's final state. */
extern void mt_write_firing(int64 firing_id, const char *outcome);

/* Writes what the batch kept (outbox, decisions, firings: one statement each) and stops keeping. */
extern void mt_write_flush(void);

/* Stops keeping, dropping what was kept (the batch failed and is rolled back). */
extern void mt_write_abandon(void);

#endif
