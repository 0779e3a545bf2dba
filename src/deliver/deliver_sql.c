/*
 * deliver_sql.c: the SQL entry points of delivery.
 *
 * A SQL function cannot commit, yet delivery must commit its claim before it talks to the
 * network and its result right after. So:
 *
 *   microtrigger.deliver(batch)  (function) hands one batch to a short-lived background worker
 *       that runs claim / send / record in transactions of its own, waits for it and returns
 *       how many were sent. It works anywhere, even inside a transaction block; the caller's
 *       transaction holds no outbox row, so its COMMIT or ROLLBACK changes nothing about
 *       delivery. The worker sees committed rows only.
 *   CALL microtrigger.deliver_loop(duration, batch)  (procedure) drains in the calling backend,
 *       committing between steps (SPI_commit), for up to `duration`, sleeping briefly when
 *       nothing is due or the SMTP server is down: the pg_cron job microtrigger-deliver.
 *
 * Neither trusts the caller's search_path: the worker replaces it after taking the caller's
 * settings, and every step of a batch (deliver.c) sets pg_catalog, pg_temp for its transaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "delivery.h"
#include "microtrigger.h"

PG_FUNCTION_INFO_V1(mt_deliver_sql);
PG_FUNCTION_INFO_V1(mt_deliver_loop_sql);

PGDLLEXPORT void mt_delivery_worker_main(Datum main_arg);

/* What one delivery worker reports back. */
typedef struct DeliverySlot
{
	int			batch_size;		/* rows per batch of this worker */
	bool		finished;
	int			sent;
	int			sqlerrcode;
	char		error[1024];
} DeliverySlot;

/* What the calling backend and its delivery workers share (in a DSM segment). */
typedef struct DeliveryShared
{
	Oid			database;
	Oid			authenticated_user;
	Oid			current_user;
	int			security_context;
	TimestampTz deadline;		/* 0: one batch (deliver()); else batches until then (deliver_loop) */
	volatile bool stop;			/* set by the caller: no further batch */
	DeliverySlot slots[MT_MAX_SMTP_CONNECTIONS];
	/* the caller's settings, so SET in the session applies to the workers too */
	Size		guc_state_size;
	char		guc_state[FLEXIBLE_ARRAY_MEMBER];
} DeliveryShared;

/* The workers one call started, and their shared memory. */
typedef struct DeliveryWorkers
{
	dsm_segment *segment;
	DeliveryShared *shared;
	int			count;
	BackgroundWorkerHandle *handles[MT_MAX_SMTP_CONNECTIONS];
} DeliveryWorkers;

/* Closes the run's SMTP session when its memory goes away, on success or on error. */
static void
close_session_callback(void *arg)
{
	mt_delivery_run_end((MtDeliveryRun *) arg);
}

/* Sets up a run whose memory (and SMTP session) lives under parent. */
static void
delivery_run_init(MtDeliveryRun *run, bool in_procedure, int batch_size, MemoryContext parent)
{
	MemoryContextCallback *callback;

	memset(run, 0, sizeof(*run));
	run->in_procedure = in_procedure;
	run->batch_size = batch_size;
	run->memory = AllocSetContextCreate(parent, "microtrigger delivery run", ALLOCSET_DEFAULT_SIZES);
	callback = MemoryContextAlloc(run->memory, sizeof(MemoryContextCallback));
	callback->func = close_session_callback;
	callback->arg = run;
	MemoryContextRegisterResetCallback(run->memory, callback);
}

/* Refuses a batch size below one. */
static void
check_batch_size(int batch_size)
{
	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch must be at least 1, not %d", batch_size)));
}

/*
 * Starts up to count delivery workers as the caller, worker i with batches of sizes[i] rows:
 * one batch each when deadline is 0, else batches until deadline. Stops at the first worker
 * the postmaster cannot start (max_worker_processes); returns how many started.
 */
static int
start_workers(DeliveryWorkers *workers, int count, const int *sizes, TimestampTz deadline)
{
	Size		guc_size = EstimateGUCStateSpace();
	DeliveryShared *shared;

	workers->segment = dsm_create(offsetof(DeliveryShared, guc_state) + guc_size, 0);
	shared = workers->shared = dsm_segment_address(workers->segment);
	memset(shared, 0, offsetof(DeliveryShared, guc_state));
	shared->database = MyDatabaseId;
	shared->authenticated_user = GetAuthenticatedUserId();
	GetUserIdAndSecContext(&shared->current_user, &shared->security_context);
	shared->deadline = deadline;
	shared->guc_state_size = guc_size;
	SerializeGUCState(guc_size, shared->guc_state);

	workers->count = 0;
	for (int i = 0; i < count && i < MT_MAX_SMTP_CONNECTIONS; i++)
	{
		BackgroundWorker worker;

		shared->slots[i].batch_size = sizes[i];
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = BGW_NEVER_RESTART;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "microtrigger");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "mt_delivery_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "microtrigger deliver for PID %d", MyProcPid);
		snprintf(worker.bgw_type, BGW_MAXLEN, "microtrigger deliver");
		worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(workers->segment));
		memcpy(worker.bgw_extra, &i, sizeof(i));
		worker.bgw_notify_pid = MyProcPid;
		if (!RegisterDynamicBackgroundWorker(&worker, &workers->handles[i]))
			break;
		workers->count++;
	}
	return workers->count;
}

/*
 * Waits until every started worker has exited (even when interrupted: they hold claimed rows
 * and the shared memory), then raises the first error one of them reported; returns the sum of
 * what they sent.
 */
static int
wait_workers(DeliveryWorkers *workers)
{
	DeliveryShared *shared = workers->shared;
	int			sent = 0;

	for (int i = 0; i < workers->count; i++)
		if (WaitForBackgroundWorkerShutdown(workers->handles[i]) == BGWH_POSTMASTER_DIED)
			ereport(FATAL,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("postmaster exited during delivery")));
	for (int i = 0; i < workers->count; i++)
	{
		DeliverySlot *slot = &shared->slots[i];

		if (slot->finished)
		{
			sent += slot->sent;
			continue;
		}
		if (slot->error[0] != '\0')
			ereport(ERROR,
					(errcode(slot->sqlerrcode ? slot->sqlerrcode : ERRCODE_INTERNAL_ERROR),
					 errmsg("%s", slot->error)));
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the delivery worker stopped before finishing its batch"),
				 errdetail("Rows it claimed are queued again after microtrigger.sending_timeout.")));
	}
	dsm_detach(workers->segment);
	workers->segment = NULL;
	return sent;
}

/* Splits total rows over count senders as evenly as possible. */
static void
split_batch(int total, int count, int *sizes)
{
	for (int i = 0; i < count; i++)
		sizes[i] = total / count + (i < total % count ? 1 : 0);
}

/*
 * microtrigger.deliver(batch integer DEFAULT 100) RETURNS integer: one batch, claimed, sent and
 * recorded by background workers in transactions of their own (microtrigger.smtp_connections of
 * them, each with its share of the batch and its own SMTP connection); returns how many were sent.
 */
Datum
mt_deliver_sql(PG_FUNCTION_ARGS)
{
	int			batch_size = PG_GETARG_INT32(0);
	int			count;
	int			sizes[MT_MAX_SMTP_CONNECTIONS] = {0};
	DeliveryWorkers workers;

	check_batch_size(batch_size);
	if (mt_smtp_url == NULL || mt_smtp_url[0] == '\0')
		PG_RETURN_INT32(0);		/* nothing is sent: rows stay queued */

	count = Min(mt_smtp_connections, batch_size);
	split_batch(batch_size, count, sizes);
	if (start_workers(&workers, count, sizes, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a delivery worker"),
				 errhint("Raise max_worker_processes, or drain with CALL microtrigger.deliver_loop().")));
	PG_RETURN_INT32(wait_workers(&workers));
}

/* The delivery worker: connects as the caller, takes its settings, runs one batch. */
void
mt_delivery_worker_main(Datum main_arg)
{
	dsm_segment *segment;
	DeliveryShared *shared;
	DeliverySlot *slot;
	MtDeliveryRun run;
	int			index;

	pqsignal(SIGTERM, die);		/* a termination request aborts the transfer, then exits */
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "microtrigger deliver");
	segment = dsm_attach(DatumGetUInt32(main_arg));
	if (segment == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the delivery worker's shared memory")));
	dsm_pin_mapping(segment);	/* kept until the process exits, across transactions */
	shared = dsm_segment_address(segment);
	memcpy(&index, MyBgworkerEntry->bgw_extra, sizeof(index));
	slot = &shared->slots[index];

	BackgroundWorkerInitializeConnectionByOid(shared->database, shared->authenticated_user, 0);
	StartTransactionCommand();
	RestoreGUCState(shared->guc_state);
	/* the caller's settings, but never its search_path (e.g. a writable schema first) */
	(void) set_config_option("search_path", MT_SAFE_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
	CommitTransactionCommand();
	SetUserIdAndSecContext(shared->current_user, shared->security_context);
	pgstat_report_activity(STATE_RUNNING, "microtrigger.deliver()");

	delivery_run_init(&run, false, slot->batch_size, TopMemoryContext);
	PG_TRY();
	{
		mt_deliver_batch(&run);
		/* deliver_loop's helpers: more batches until the deadline, napping when nothing is due */
		while (shared->deadline != 0 && !shared->stop && GetCurrentTimestamp() < shared->deadline)
		{
			if (run.claimed == 0 || run.server_down)
			{
				long		nap_ms = Min(1000L, (long) ((shared->deadline - GetCurrentTimestamp()) / 1000));

				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 Max(nap_ms, 1L), PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
				if (shared->stop || GetCurrentTimestamp() >= shared->deadline)
					break;
			}
			mt_deliver_batch(&run);
		}
	}
	PG_CATCH();
	{
		MemoryContext error_memory = MemoryContextSwitchTo(TopMemoryContext);
		ErrorData  *edata = CopyErrorData();

		MemoryContextSwitchTo(error_memory);
		strlcpy(slot->error, edata->message ? edata->message : "delivery failed", sizeof(slot->error));
		slot->sqlerrcode = edata->sqlerrcode;
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextDelete(run.memory);	/* closes the SMTP session */
	slot->sent = run.sent;
	slot->finished = true;
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Milliseconds in an interval (months as 30 days). */
static int64
interval_ms(const Interval *span)
{
	return ((int64) span->month * DAYS_PER_MONTH + span->day) * (USECS_PER_DAY / 1000) + span->time / 1000;
}

/*
 * CALL microtrigger.deliver_loop(duration interval DEFAULT '50 seconds', batch integer DEFAULT 100):
 * drains the outbox for up to duration, committing between steps; sleeps a second when nothing
 * is due or the SMTP server is down (its backoff is shared through microtrigger.delivery_state).
 */
Datum
mt_deliver_loop_sql(PG_FUNCTION_ARGS)
{
	int64		duration_ms = interval_ms(PG_GETARG_INTERVAL_P(0));
	int			batch_size = PG_GETARG_INT32(1);
	bool		nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	TimestampTz start = GetCurrentTimestamp();
	MtDeliveryRun run;
	DeliveryWorkers helpers = {0};

	check_batch_size(batch_size);
	if (!nonatomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("deliver_loop() must be called with CALL outside a transaction block"),
				 errhint("Inside a transaction block, use SELECT microtrigger.deliver().")));
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not connect to SPI")));
	delivery_run_init(&run, true, batch_size, CurrentMemoryContext);

	/* microtrigger.smtp_connections > 1: helpers send beside this backend until the same end */
	helpers.count = 0;
	if (mt_smtp_connections > 1 && mt_smtp_url != NULL && mt_smtp_url[0] != '\0')
	{
		int			sizes[MT_MAX_SMTP_CONNECTIONS] = {0};

		for (int i = 0; i < mt_smtp_connections - 1; i++)
			sizes[i] = batch_size;
		start_workers(&helpers, mt_smtp_connections - 1, sizes,
					  TimestampTzPlusMilliseconds(start, duration_ms));
		dsm_pin_mapping(helpers.segment);	/* the loop commits: keep it past each transaction */
	}
	PG_TRY();
	{
		for (;;)
		{
			long		elapsed_ms;

			if (mt_smtp_url == NULL || mt_smtp_url[0] == '\0')
				break;
			mt_deliver_batch(&run);
			elapsed_ms = (long) ((GetCurrentTimestamp() - start) / 1000);
			if (elapsed_ms >= duration_ms)
				break;
			if (run.claimed == 0 || run.server_down)
			{
				long		nap_ms = Min(1000L, (long) (duration_ms - elapsed_ms));

				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 nap_ms, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		if (helpers.count > 0)
			helpers.shared->stop = true;	/* they finish their batch and exit */
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (helpers.count > 0)
	{
		helpers.shared->stop = true;
		run.sent += wait_workers(&helpers);
	}
	else if (helpers.segment != NULL)
		dsm_detach(helpers.segment);
	ereport(DEBUG1, (errmsg_internal("microtrigger.deliver_loop sent %d messages", run.sent)));
	MemoryContextDelete(run.memory);	/* closes the SMTP session */
	SPI_finish();
	PG_RETURN_VOID();
}
