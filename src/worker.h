/*
 * worker.h: the background worker that acts on time, and the commit-time wake-up the ingest
 * trigger uses to reach it.
 */
#ifndef MT_WORKER_H
#define MT_WORKER_H

/* Called from _PG_init: the worker's settings (database, naptime, batch_size), shared memory, the
 * worker's registration (when preloaded), the commit hook. */
extern void mt_worker_init(void);

/* Asks for the worker to be woken when the current transaction commits. */
extern void mt_wake_worker_at_commit(void);

#endif
