/*
 * subxact.c: the one place that runs work in a subtransaction and turns its error into data.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "subxact.h"

/*
 * Runs work(arg) in a subtransaction; see subxact.h. The subtransaction is always ended here,
 * also for an error that goes on up (a cancel or a shutdown): an internal subtransaction left open
 * when an error reaches the top level leaves the session in a failed transaction block, so every
 * later statement failed with "current transaction is aborted" until a ROLLBACK.
 */
ErrorData *
mt_run_in_subtransaction(MtSubxactWork work, void *arg, bool keep)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;
	volatile bool rethrow = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		work(arg);
		if (keep)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		rethrow = edata->sqlerrcode == ERRCODE_QUERY_CANCELED || edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN;
	}
	PG_END_TRY();
	if (rethrow)
		ReThrowError(edata);
	return edata;
}
