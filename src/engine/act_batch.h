/*
 * act_batch.h: the frame every batch of acting runs in — firings and journey steps alike. The
 * batch's work runs in one subtransaction with its writes buffered (act_write.c) and its
 * templates compiled once (render.c); when it fails, everything it buffered is dropped with it,
 * and the caller replays the batch one item per subtransaction.
 */
#ifndef MT_ACT_BATCH_H
#define MT_ACT_BATCH_H

#include "postgres.h"

#include "subxact.h"

/*
 * Runs work(arg) as one batch. NULL when it committed; else the error (the batch rolled back,
 * nothing of it written). A cancel or shutdown goes on up, after dropping what was buffered.
 */
extern ErrorData *mt_act_run_batch(MtSubxactWork work, void *arg);

#endif
