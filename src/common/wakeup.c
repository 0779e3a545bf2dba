/*
 * wakeup.c: how a committing backend wakes the background worker. The shared state is one latch
 * pointer behind a spinlock; a transaction that wrote work sets a flag, and the commit callback
 * sets the latch. An aborted transaction wakes no one.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "wakeup.h"

/* What backends share with the worker: where to send a wake-up. */
typedef struct MtWakeupShared
{
	slock_t		mutex;
	Latch	   *worker_latch;	/* NULL while no worker runs */
} MtWakeupShared;

static MtWakeupShared *wakeup_shared = NULL;
static shmem_request_hook_type previous_shmem_request_hook = NULL;
static shmem_startup_hook_type previous_shmem_startup_hook = NULL;
static bool wake_requested = false;

/* Reserves the shared state (shmem_request_hook). */
static void
wakeup_shmem_request(void)
{
	if (previous_shmem_request_hook)
		previous_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(MtWakeupShared)));
}

/* Creates or attaches the shared state (shmem_startup_hook). */
static void
wakeup_shmem_startup(void)
{
	bool		found;

	if (previous_shmem_startup_hook)
		previous_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wakeup_shared = ShmemInitStruct("microtrigger worker", sizeof(MtWakeupShared), &found);
	if (!found)
	{
		SpinLockInit(&wakeup_shared->mutex);
		wakeup_shared->worker_latch = NULL;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Commit callback: wake the worker when this transaction wrote work for it. */
static void
wakeup_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		if (wake_requested && wakeup_shared != NULL)
		{
			SpinLockAcquire(&wakeup_shared->mutex);
			if (wakeup_shared->worker_latch != NULL)
				SetLatch(wakeup_shared->worker_latch);
			SpinLockRelease(&wakeup_shared->mutex);
		}
		wake_requested = false;
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		wake_requested = false;
	}
}

/* The commit callback always; the shared state only while the postmaster preloads us. */
void
mt_wakeup_init(void)
{
	RegisterXactCallback(wakeup_xact_callback, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	previous_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wakeup_shmem_request;
	previous_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wakeup_shmem_startup;
}

/* Asks for a wake-up at commit. */
void
mt_wake_worker_at_commit(void)
{
	wake_requested = true;
}

/* Forgets the latch when the worker exits, so no backend sets a dead process's latch. */
static void
wakeup_detach_worker(int code, Datum arg)
{
	Latch	   *latch = (Latch *) DatumGetPointer(arg);

	if (wakeup_shared == NULL)
		return;
	SpinLockAcquire(&wakeup_shared->mutex);
	if (wakeup_shared->worker_latch == latch)
		wakeup_shared->worker_latch = NULL;
	SpinLockRelease(&wakeup_shared->mutex);
}

/* The worker's latch is where wake-ups go until the worker exits. */
void
mt_wakeup_attach_worker(Latch *latch)
{
	if (wakeup_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("microtrigger worker started without its shared memory"),
				 errhint("Add microtrigger to shared_preload_libraries.")));
	SpinLockAcquire(&wakeup_shared->mutex);
	wakeup_shared->worker_latch = latch;
	SpinLockRelease(&wakeup_shared->mutex);
	on_shmem_exit(wakeup_detach_worker, PointerGetDatum(latch));
}
