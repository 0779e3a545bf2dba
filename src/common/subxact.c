/*
 * subxact.c: the one place that runs work in a subtransaction and turns its error into data; and
 * the sandbox for work a user wrote (context queries): a timeout of its own, and no session-level
 * advisory lock left behind.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"

#include "subxact.h"
#include "user_lock.h"

/*
 * The sandbox's timeout. statement_timeout is armed once per top-level statement, so it cannot
 * bound one query inside run_pending: this is a USER_TIMEOUT of our own. When it fires it cancels
 * the running query exactly as a cancel request would (QueryCancelPending), and remembers that
 * the cancel is ours, so the sandbox can tell it apart from a user's cancel, which is re-thrown.
 */
static bool own_timeout_registered = false;
static TimeoutId own_timeout_id;
static bool own_timeout_armed = false;
static volatile sig_atomic_t own_timeout_fired = false;
static volatile sig_atomic_t own_timeout_alone = false;	/* no other cancel was pending */

/* What became of the sandbox's timeout, once disarmed. */
typedef enum OwnTimeoutState
{
	OWN_TIMEOUT_QUIET,			/* did not fire (or fired together with another cancel) */
	OWN_TIMEOUT_RAISED,			/* fired alone and its cancel was raised as an error */
	OWN_TIMEOUT_DROPPED			/* fired alone after the work was done; its cancel is dropped */
} OwnTimeoutState;

/* Timeout handler (signal context): cancel the running query, and remember it was us. */
static void
own_timeout_handler(void)
{
	own_timeout_alone = !QueryCancelPending;
	own_timeout_fired = true;
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
}

/* Arms the sandbox's timeout (registered on first use: timeouts are per process). */
static void
own_timeout_arm(int timeout_ms)
{
	if (!own_timeout_registered)
	{
		own_timeout_id = RegisterTimeout(USER_TIMEOUT, own_timeout_handler);
		own_timeout_registered = true;
	}
	own_timeout_fired = false;
	own_timeout_alone = false;
	own_timeout_armed = true;
	enable_timeout_after(own_timeout_id, timeout_ms);
}

/*
 * Disarms the sandbox's timeout and says what became of it. A cancel of ours that is still
 * pending (it fired after the work finished or failed for another reason) is dropped, so it
 * cannot cancel the caller later. (A user's cancel arriving in the same instant as ours cannot be
 * told apart and is taken for ours: the same window exists between statement_timeout and a cancel.)
 */
static OwnTimeoutState
own_timeout_disarm(void)
{
	disable_timeout(own_timeout_id, false);
	own_timeout_armed = false;
	if (!own_timeout_fired || !own_timeout_alone)
		return OWN_TIMEOUT_QUIET;
	if (QueryCancelPending)
	{
		QueryCancelPending = false;
		return OWN_TIMEOUT_DROPPED;
	}
	return OWN_TIMEOUT_RAISED;
}

/*
 * The subtransaction runner behind both entry points. timeout_ms > 0 arms the sandbox's timeout
 * around the work; *timed_out (may be NULL without a timeout) reports that it ended the work.
 * The subtransaction is always ended here, also for an error that must go on up (a cancel or a
 * shutdown: *rethrow), because an internal subtransaction left open when an error reaches the top
 * level leaves the session in a failed transaction block ("current transaction is aborted").
 */
static ErrorData *
run_in_subtransaction(MtSubxactWork work, void *arg, bool keep, int timeout_ms, bool *timed_out,
					  bool *rethrow)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;
	bool		timed = timeout_ms > 0 && !own_timeout_armed;	/* never nested */

	if (timed_out)
		*timed_out = false;
	*rethrow = false;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		if (timed)
			own_timeout_arm(timeout_ms);
		work(arg);
		if (timed)
			(void) own_timeout_disarm();
		if (keep)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		OwnTimeoutState state = timed ? own_timeout_disarm() : OWN_TIMEOUT_QUIET;

		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && state == OWN_TIMEOUT_RAISED)
		{
			edata->message = psprintf("canceled: it ran longer than %d ms", timeout_ms);
			if (timed_out)
				*timed_out = true;
		}
		else if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED || edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			*rethrow = true;
	}
	PG_END_TRY();
	return edata;
}

/* Runs work(arg) in a subtransaction; see subxact.h. */
ErrorData *
mt_run_in_subtransaction(MtSubxactWork work, void *arg, bool keep)
{
	bool		rethrow;
	ErrorData  *edata = run_in_subtransaction(work, arg, keep, 0, NULL, &rethrow);

	if (rethrow)
		ReThrowError(edata);
	return edata;
}

/* One advisory lock this backend holds in one mode, and how many of its holds are session-level. */
typedef struct HeldLock
{
	LOCKTAG		tag;
	LOCKMODE	mode;
	int			session_holds;
} HeldLock;

/*
 * Is this one of run_pending's own user or bucket locks (user_lock.h)? Those are only ever taken
 * at transaction level, so the sandbox leaves them out before and after each context query (a
 * batch holds hundreds of them: counting them made every query cost milliseconds); a session-level
 * hold of one, which only user code can take, is dropped by mt_release_session_user_locks at the
 * end of the batch instead.
 */
static bool
is_user_lock(const LOCKTAG *tag)
{
	return tag->locktag_field4 == 2 &&
		(tag->locktag_field2 == MT_USER_LOCK_CLASS || tag->locktag_field2 == MT_USER_BUCKET_CLASS);
}

/* The advisory locks this backend holds. */
typedef struct HeldLocks
{
	int			n;
	HeldLock   *locks;
} HeldLocks;

/*
 * How many of this backend's holds of a lock it holds are session-level. The local lock table is
 * private to lock.c, so this asks it: acquiring a lock one already holds only counts it up, and
 * returns its local entry, whose session-level owner (NULL) has the count; then it is undone.
 */
static int
session_holds(const LOCKTAG *tag, LOCKMODE mode)
{
	LOCALLOCK  *locallock = NULL;
	int			holds = 0;

	if (LockAcquireExtended(tag, mode, true, true, true, &locallock) == LOCKACQUIRE_NOT_AVAIL)
		return 0;
	for (int i = 0; i < locallock->numLockOwners; i++)
		if (locallock->lockOwners[i].owner == NULL)
			holds = (int) locallock->lockOwners[i].nLocks - 1;
	LockRelease(tag, mode, true);
	return holds;
}

/*
 * The advisory locks this backend holds now (without run_pending's user locks when skip_user_locks),
 * from its own lists of held locks in shared memory; with count, their session-level holds counted.
 */
static HeldLocks
advisory_locks_held(bool count, bool skip_user_locks)
{
	HeldLocks	held = {0, NULL};
	int			capacity = 0;

	for (int partition = 0; partition < NUM_LOCK_PARTITIONS; partition++)
	{
		SHM_QUEUE  *list = &MyProc->myProcLocks[partition];
		LWLock	   *partition_lock = LockHashPartitionLockByIndex(partition);
		PROCLOCK   *proclock;

		if (SHMQueueEmpty(list))
			continue;
		LWLockAcquire(partition_lock, LW_SHARED);
		for (proclock = (PROCLOCK *) SHMQueueNext(list, list, offsetof(PROCLOCK, procLink));
			 proclock != NULL;
			 proclock = (PROCLOCK *) SHMQueueNext(list, &proclock->procLink, offsetof(PROCLOCK, procLink)))
		{
			const LOCKTAG *tag = &proclock->tag.myLock->tag;

			if (tag->locktag_type != LOCKTAG_ADVISORY || tag->locktag_lockmethodid != USER_LOCKMETHOD ||
				(skip_user_locks && is_user_lock(tag)))
				continue;
			for (LOCKMODE mode = 1; mode < MAX_LOCKMODES; mode++)
			{
				if ((proclock->holdMask & LOCKBIT_ON(mode)) == 0)
					continue;
				if (held.n == capacity)
				{
					capacity = capacity ? capacity * 2 : 8;
					held.locks = held.locks ? repalloc(held.locks, sizeof(HeldLock) * capacity)
						: palloc(sizeof(HeldLock) * capacity);
				}
				held.locks[held.n].tag = *tag;
				held.locks[held.n].mode = mode;
				held.locks[held.n].session_holds = 0;
				held.n++;
			}
		}
		LWLockRelease(partition_lock);
	}
	/* counting asks the lock manager, which takes the partition locks itself */
	for (int i = 0; count && i < held.n; i++)
		held.locks[i].session_holds = session_holds(&held.locks[i].tag, held.locks[i].mode);
	return held;
}

/* Orders held locks by tag, then mode (for bsearch). */
static int
held_lock_cmp(const void *a, const void *b)
{
	const HeldLock *x = a;
	const HeldLock *y = b;
	int			c = memcmp(&x->tag, &y->tag, sizeof(LOCKTAG));

	if (c != 0)
		return c;
	return x->mode - y->mode;
}

/* Releases the session-level advisory holds taken since `before` was counted. */
static void
release_session_locks_since(const HeldLocks *before)
{
	HeldLocks	now = advisory_locks_held(false, true);

	for (int i = 0; i < now.n; i++)
	{
		int			kept = 0;
		int			holds;
		HeldLock   *found = before->n == 0 ? NULL :
			bsearch(&now.locks[i], before->locks, before->n, sizeof(HeldLock), held_lock_cmp);

		if (found != NULL)
			kept = found->session_holds;
		holds = session_holds(&now.locks[i].tag, now.locks[i].mode);
		for (int k = kept; k < holds; k++)
			LockRelease(&now.locks[i].tag, now.locks[i].mode, true);
	}
	if (now.locks)
		pfree(now.locks);
}

/* Runs user-written work rolled back, bounded in time, leaving no session lock; see subxact.h. */
ErrorData *
mt_run_sandboxed(MtSubxactWork work, void *arg, int timeout_ms, bool *timed_out)
{
	HeldLocks	before = advisory_locks_held(true, true);
	bool		rethrow;
	ErrorData  *edata;

	if (before.n > 0)
		qsort(before.locks, before.n, sizeof(HeldLock), held_lock_cmp);
	edata = run_in_subtransaction(work, arg, false, timeout_ms, timed_out, &rethrow);

	/* also before a cancel goes on up: the locks the work took must not outlive it */
	release_session_locks_since(&before);
	if (before.locks)
		pfree(before.locks);
	if (rethrow)
		ReThrowError(edata);
	return edata;
}

/* Drops every session-level hold of a run_pending user lock (see subxact.h). */
void
mt_release_session_user_locks(void)
{
	HeldLocks	now = advisory_locks_held(false, false);

	for (int i = 0; i < now.n; i++)
	{
		int			holds;

		if (!is_user_lock(&now.locks[i].tag))
			continue;
		holds = session_holds(&now.locks[i].tag, now.locks[i].mode);
		for (int k = 0; k < holds; k++)
			LockRelease(&now.locks[i].tag, now.locks[i].mode, true);
	}
	if (now.locks)
		pfree(now.locks);
}

/* Is this error one that a later retry can succeed at? */
bool
mt_error_is_transient(const ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
		edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
		edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
}
