/*
 * user_lock.c: the per-user lock of run_pending.
 *
 * Two run_pending sessions may act on firings of the same user at the same time (each claims
 * different firing rows). Without a lock, each checks the cooldown before the other commits and
 * both send; both start a journey and wait on each other's uncommitted journey row in the
 * journeys_one_active index, in whatever order their batches came, and deadlock. So before acting
 * on a firing, a session takes its user's lock, held to commit: a second session acting on the
 * same user waits for the first to commit and then sees its outcome.
 *
 * Deadlock freedom: a session waits only for a lock later in one global order than every lock it
 * holds (a claimed batch is sorted by that order, so in the usual case every lock is in order);
 * a lock out of order (a later batch of the same transaction) is only tried, and if another
 * session has it, the firing is left waiting for the next run. No cycle of waits can form.
 *
 * Bounded lock table: a transaction takes at most MAX_USER_LOCKS user locks (each with a share
 * lock on the user's bucket); after that it locks whole buckets exclusively, so a backfill of a
 * million users in one run_pending holds at most MAX_USER_LOCKS + MT_USER_LOCK_BUCKETS locks.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"

#include "subxact.h"
#include "user_lock.h"

/* User locks one transaction takes before it locks whole buckets instead. */
#define MAX_USER_LOCKS 512

/* What this transaction holds (reset when a new top-level transaction starts). */
static struct
{
	LocalTransactionId lxid;
	bool		any;			/* has taken a lock */
	uint64		max_order;		/* the latest in the order (an upper bound: aborts release) */
	int			user_locks;		/* user locks taken (an upper bound, likewise) */
}			held;

/* The hash of a user id that names its lock. */
uint32
mt_user_lock_hash(const char *user_id)
{
	return DatumGetUInt32(hash_any((const unsigned char *) user_id, (int) strlen(user_id)));
}

/* The order of a lock: by bucket, a bucket's lock before its users' locks, users by hash. */
static uint64
lock_order(uint32 bucket, bool user, uint32 hash)
{
	return ((uint64) bucket << 33) | (user ? ((uint64) 1 << 32) | hash : 0);
}

/* Where the user's lock comes in the order locks are taken. */
uint64
mt_user_lock_order(uint32 hash)
{
	return lock_order(hash % MT_USER_LOCK_BUCKETS, true, hash);
}

/* Takes one lock to the end of the transaction: waiting only when it is in order. */
static void
acquire_in_order(const LOCKTAG *tag, LOCKMODE mode, uint64 order, const char *user_id)
{
	bool		in_order = !held.any || order > held.max_order;

	if (LockHeldByMe(tag, mode))
		return;
	if (in_order)
		(void) LockAcquire(tag, mode, false, false);
	else if (LockAcquire(tag, mode, false, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR, (errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						errmsg("another run_pending is acting on user \"%s\"", user_id),
						errdetail("Its lock comes before one this transaction holds, so it is not waited for.")));
	if (in_order)
		held.max_order = order;
	held.any = true;
}

/* Takes the user's lock until the end of the transaction; see user_lock.h. */
void
mt_user_lock(const char *user_id, uint32 hash)
{
	uint32		bucket = hash % MT_USER_LOCK_BUCKETS;
	LOCKTAG		user_tag;
	LOCKTAG		bucket_tag;

	if (held.lxid != MyProc->lxid)
	{
		held.lxid = MyProc->lxid;
		held.any = false;
		held.max_order = 0;
		held.user_locks = 0;
	}
	SET_LOCKTAG_ADVISORY(user_tag, MyDatabaseId, MT_USER_LOCK_CLASS, hash, 2);
	SET_LOCKTAG_ADVISORY(bucket_tag, MyDatabaseId, MT_USER_BUCKET_CLASS, bucket, 2);
	if (LockHeldByMe(&user_tag, ExclusiveLock) || LockHeldByMe(&bucket_tag, ExclusiveLock))
		return;
	if (held.user_locks < MAX_USER_LOCKS)
	{
		/* the share lock on the bucket tells a session locking the whole bucket to wait */
		acquire_in_order(&bucket_tag, ShareLock, lock_order(bucket, false, 0), user_id);
		acquire_in_order(&user_tag, ExclusiveLock, lock_order(bucket, true, hash), user_id);
		held.user_locks++;
	}
	else
		acquire_in_order(&bucket_tag, ExclusiveLock, lock_order(bucket, false, 0), user_id);
}

/* An item of a batch, where its lock comes in the order, and where it came in the batch. */
typedef struct LockSlot
{
	MtUserLockItem *item;
	uint64		order;
	int			index;
} LockSlot;

/* Orders a batch's locks by lock order, then as claimed. */
static int
lock_slot_cmp(const void *a, const void *b)
{
	const LockSlot *x = a;
	const LockSlot *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->index - y->index;
}

/* The batch's slots in lock order, for one subtransaction. */
typedef struct LockAllWork
{
	LockSlot   *slots;
	int			n;
} LockAllWork;

/* Takes every user lock of the batch, in lock order. */
static void
lock_all_work(void *arg)
{
	LockAllWork *all = arg;

	for (int i = 0; i < all->n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (i == 0 || all->slots[i].item->hash != all->slots[i - 1].item->hash)
			mt_user_lock(all->slots[i].item->user_id, all->slots[i].item->hash);
	}
}

/* Takes one item's user lock. */
static void
lock_one_work(void *arg)
{
	MtUserLockItem *item = arg;

	mt_user_lock(item->user_id, item->hash);
}

/* Takes the user locks of a claimed batch (see user_lock.h). */
void
mt_user_lock_batch(MtUserLockItem *items, int n, const char *what)
{
	LockSlot   *slots = palloc(sizeof(LockSlot) * Max(n, 1));
	LockAllWork all = {slots, n};

	for (int i = 0; i < n; i++)
	{
		slots[i].item = &items[i];
		slots[i].order = mt_user_lock_order(items[i].hash);
		slots[i].index = i;
	}
	qsort(slots, n, sizeof(LockSlot), lock_slot_cmp);
	if (n > 0 && mt_run_in_subtransaction(lock_all_work, &all, true) == NULL)
	{
		pfree(slots);
		return;
	}
	for (int i = 0; i < n; i++)
	{
		ErrorData  *edata;

		if (i > 0 && slots[i].item->hash == slots[i - 1].item->hash)
		{
			slots[i].item->deferred = slots[i - 1].item->deferred;
			continue;
		}
		CHECK_FOR_INTERRUPTS();
		edata = mt_run_in_subtransaction(lock_one_work, slots[i].item, true);
		if (edata == NULL)
			continue;
		slots[i].item->deferred = true;
		if (!mt_error_is_transient(edata))
			ereport(WARNING, (errcode(edata->sqlerrcode),
							  errmsg("%s of user \"%s\" are left for a later run: %s",
									 what, slots[i].item->user_id, edata->message)));
	}
	pfree(slots);
}
