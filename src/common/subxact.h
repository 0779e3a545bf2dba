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
 * cancel or shutdown is re-thrown, never swallowed.
 */
extern ErrorData *mt_run_in_subtransaction(MtSubxactWork work, void *arg, bool keep);

/*
 * Runs work(arg) that a user wrote (a context query) so that it can neither stall nor mark the
 * caller: in a subtransaction that is always rolled back, cancelled after timeout_ms (0: no limit)
 * by a timeout of its own, and afterwards releasing every session-level advisory lock it took
 * (those the session held before are kept, with their counts). Returns NULL on success, else the
 * error; *timed_out tells that the error is this timeout. A cancel that is not this timeout (a
 * user's cancel, the caller's statement_timeout) and a shutdown are re-thrown.
 */
extern ErrorData *mt_run_sandboxed(MtSubxactWork work, void *arg, int timeout_ms, bool *timed_out);

/*
 * Drops every session-level hold of run_pending's user and bucket locks (user_lock.h): only user
 * code (a context query) can take one, and mt_run_sandboxed does not count those locks, for speed.
 * run_pending calls it after each batch.
 */
extern void mt_release_session_user_locks(void);

/* Is this error one that a later retry can succeed at (deadlock, serialization, lock not available)? */
extern bool mt_error_is_transient(const ErrorData *edata);

#endif
