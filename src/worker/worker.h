/*
 * worker.h: the background worker that acts on time (woken at commit through wakeup.h).
 */
#ifndef MT_WORKER_H
#define MT_WORKER_H

/* Called from _PG_init: the worker's settings (database, naptime, batch_size), the wake-up, the
 * worker's registration (when preloaded). */
extern void mt_worker_init(void);

#endif
