/*
 * act_write.h: the write stage of acting. While a batch of firings or journeys is acted on in one
 * subtransaction, its decisions, outbox rows and firing states are kept here and written at the
 * batch's end with one statement each (in the order they were made, so ids keep that order).
 * Outside a batch (a replayed firing or journey step, ingest) everything is written at once.
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
 * Keeps an email's outbox row (a trigger's or a journey step's) and its "queued" decision, whose
 * detail gets the outbox id when written. Its exactly-once key is expected free: when it is
 * taken the flush fails (unique_violation) and the batch is replayed one by one, where the
 * duplicate is decided as outside a batch.
 */
extern void mt_write_email(const MtEmailJob *job, const char *subject, const char *preheader,
						   const char *html, const char *text, const char *variant,
						   const char *template_name, TimestampTz as_of);

/*
 * The detail of an email's queued decision: outbox_id (0: none, a duplicate), template, variant,
 * send_after, step (-1: a trigger's email), held_until (0: not held), optimal (-1: not asked).
 */
extern Jsonb *mt_email_detail(int64 outbox_id, const char *template_name, const char *variant,
							  TimestampTz send_after, int step, TimestampTz held_until, int optimal);

/*
 * Cancels a queued outbox row a capped-by-priority replacement lost (reason: its last_error), or
 * keeps that for the batch's one UPDATE. A row that is no longer queued (delivery took it
 * meanwhile) is a serialization failure: the firing or batch is acted on again later.
 */
extern void mt_write_cancel(int64 outbox_id, const char *reason);

/* Keeps a firing's final state. */
extern void mt_write_firing(int64 firing_id, const char *outcome);

/* How a journey row changes when it is advanced or ended. */
typedef enum MtJourneyChange
{
	MT_JOURNEY_WAIT,			/* at step, until next_at */
	MT_JOURNEY_COMPLETE,		/* completed at step, at `at` */
	MT_JOURNEY_EXIT,			/* exited for `reason` at `at`; its queued emails cancelled */
	MT_JOURNEY_UNSCHEDULABLE	/* exited as unschedulable at `at`; what it queued stays queued */
} MtJourneyChange;

/*
 * Writes a journey's change, or keeps it while a batch does (one UPDATE of the batch's journeys,
 * one of their cancelled emails). An exit records its journey_exited decision (key, as_of) with
 * the number of emails it cancelled; outside a batch an exit of a journey that is no longer
 * active does nothing. step and next_at are used by WAIT and COMPLETE only.
 */
extern void mt_write_journey(int64 journey_id, MtJourneyChange change, int step, TimestampTz next_at,
							 TimestampTz at, const char *reason, const MtDecisionKey *key,
							 TimestampTz as_of);

/*
 * Writes what the batch kept (outbox, journeys, their cancelled emails, decisions, firings: one
 * statement each) and stops keeping.
 */
extern void mt_write_flush(void);

/* Stops keeping, dropping what was kept (the batch failed and is rolled back). */
extern void mt_write_abandon(void);

#endif
