/*
 * user_lock.h: serializing what run_pending does for one user across concurrent run_pending
 * sessions (the cooldown check, starting a journey), with transaction-level advisory locks in a
 * key space of our own, taken in one global order so that sessions do not deadlock each other.
 */
#ifndef MT_USER_LOCK_H
#define MT_USER_LOCK_H

#include "postgres.h"

/*
 * The advisory lock classes (the first key of the two-key form, pg_locks.classid): one lock per
 * user (objid = the hash of the user id), and one per bucket of users (objid = hash % buckets).
 */
#define MT_USER_LOCK_CLASS		1836348007	/* 'mtrg' */
#define MT_USER_BUCKET_CLASS	1836348008
#define MT_USER_LOCK_BUCKETS	512

/* The hash of a user id that names its lock. */
extern uint32 mt_user_lock_hash(const char *user_id);

/* Where the user's lock comes in the order locks are taken (sort a batch by it). */
extern uint64 mt_user_lock_order(uint32 hash);

/*
 * Takes the user's lock until the end of the transaction. It waits only for a lock later in the
 * order than every lock this transaction took; one out of order is only tried, and when another
 * session holds it the error is 55P03 lock_not_available (retry in a later run).
 */
extern void mt_user_lock(const char *user_id, uint32 hash);

/* One user lock a claimed batch needs. */
typedef struct MtUserLockItem
{
	const char *user_id;
	uint32		hash;			/* mt_user_lock_hash(user_id) */
	bool		deferred;		/* out: its lock could not be taken now */
} MtUserLockItem;

/*
 * Takes the user locks of a claimed batch (firings or journeys: `what`, for the warning), held to
 * commit, in lock order (so two sessions cannot deadlock each other), while the batch is still
 * acted on in its own order. All in one subtransaction; only if that fails, each in a
 * subtransaction of its own: a lock that cannot be taken now (55P03, or a deadlock with someone
 * else) marks its items deferred, to be left for a later run.
 */
extern void mt_user_lock_batch(MtUserLockItem *items, int n, const char *what);

#endif
