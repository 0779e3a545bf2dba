/*
 * ingest.h: the statement-level trigger on microtrigger.events and the per-event checks it
 * shares with the engine (history windows).
 */
#ifndef MT_INGEST_H
#define MT_INGEST_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "definition.h"

/* Counts the user's events in [at - within, at] that pass the clause (SPI connected). */
extern int64 mt_history_count(const MtClause *clause, text *user_id, TimestampTz at);

/* Set when this transaction wrote work for the worker (firings, windows); read at commit. */
extern bool mt_work_written;

#endif
