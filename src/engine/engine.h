/*
 * engine.h: run_pending — the work due at a time: firings and closing absence windows, acted on
 * through policy, enrichment, rendering and the outbox, with a decision for every outcome.
 */
#ifndef MT_ENGINE_H
#define MT_ENGINE_H

#include "postgres.h"

#include "utils/timestamp.h"

/*
 * Does up to `limit` units of work due at as_of in the current transaction (SPI must not be
 * connected); returns how many were done. limit <= 0: all that is due.
 */
extern int	mt_run_pending(TimestampTz as_of, int limit);

/* Defines the engine's settings (microtrigger.context_timeout); called from _PG_init. */
extern void mt_engine_init(void);

/* The earliest time any work becomes due, or DT_NOEND when none (used by the worker to sleep). */
extern TimestampTz mt_next_due(void);

#endif
