/*
 * wakeup.h: the commit-time wake-up of the background worker. A transaction that wrote work for
 * the worker (firings, windows, journey steps) asks for it; the commit sets the worker's latch.
 * It depends on nothing of the extension, so ingest and the engine can use it without reaching
 * up to the worker.
 */
#ifndef MT_WAKEUP_H
#define MT_WAKEUP_H

#include "postgres.h"

#include "storage/latch.h"

/* Called from mt_worker_init(): the commit callback, and the shared state when preloaded. */
extern void mt_wakeup_init(void);

/* Asks for the worker to be woken when the current transaction commits. */
extern void mt_wake_worker_at_commit(void);

/* The worker announces its latch (and forgets it when it exits). */
extern void mt_wakeup_attach_worker(Latch *latch);

#endif
