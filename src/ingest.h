/*
 * ingest.h: the statement-level trigger on microtrigger.events.
 */
#ifndef MT_INGEST_H
#define MT_INGEST_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "definition.h"

/* Set when this transaction wrote work for the worker (firings, windows); read at commit. */
extern bool mt_work_written;

#endif
