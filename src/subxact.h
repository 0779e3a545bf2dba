/*
 * subxact.h: running a piece of work in a subtransaction, so that its failure becomes a decision
 * instead of failing the caller's statement (ingest) or blocking a queue (run_pending).
 */
#ifndef MT_SUBXACT_H
#define MT_SUBXACT_H

#include "postgres.h"

typedef void (*MtSubxactWork) (void *arg);

/*
 * Runs work(arg) in a subtransaction. When keep is true the subtransaction is committed on
 * success; when false it is always rolled back (work that must leave no trace). Returns NULL on
 * success, or the error (copied into the caller's memory context) after rolling back. A query
 * cancel or shutdown is re-thrown (after the rollback), never swallowed.
 */
extern ErrorData *mt_run_in_subtransaction(MtSubxactWork work, void *arg, bool keep);

#endif
