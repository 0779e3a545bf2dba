/*
 * worker.c: the microtrigger background worker. It serves microtrigger.database, running the
 * same code as run_pending(now()) in short transactions (one per batch), then sleeps exactly
 * until the earliest due time, bounded by microtrigger.naptime. A commit that wrote firings or
 * windows sets its latch, so an immediate trigger is acted on within milliseconds.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "engine.h"
#include "microtrigger.h"
#include "wakeup.h"
#include "worker.h"

PGDLLEXPORT void mt_worker_main(Datum arg);

/* The worker's settings, defined by mt_worker_init(). */
static char *mt_database = NULL;	/* microtrigger.database: the database the worker serves */
static int	mt_naptime_ms = 10000;	/* microtrigger.naptime: the worker's longest sleep */
static int	mt_batch_size = 200;	/* microtrigger.batch_size: firings per run_pending transaction */

/* The worker's settings, the wake-up (wakeup.c), the worker itself (only when preloaded). */
void
mt_worker_init(void)
{
	BackgroundWorker worker;

	/*
	 * A PGC_POSTMASTER setting can only be defined while the postmaster loads the library; a
	 * backend that loads it later (CREATE EXTENSION without shared_preload_libraries) would die
	 * with FATAL. There no worker runs, so the setting only informs: PGC_SIGHUP.
	 */
	DefineCustomStringVariable("microtrigger.database",
							   "Database the microtrigger background worker serves.",
							   NULL, &mt_database, "postgres",
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							   0, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.naptime",
							"Longest time the worker sleeps when nothing is due.",
							NULL, &mt_naptime_ms, 10000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.batch_size",
							"Firings acted on per run_pending transaction by the worker.",
							NULL, &mt_batch_size, 200, 1, 100000,
							PGC_SUSET, 0, NULL, NULL, NULL);

	mt_wakeup_init();
	if (!process_shared_preload_libraries_in_progress)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "microtrigger");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mt_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "microtrigger worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "microtrigger worker");
	RegisterBackgroundWorker(&worker);
}

/* Is the extension installed in this database? (inside a transaction) */
static bool
extension_installed(void)
{
	bool		installed;

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'microtrigger'", true, 1) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not read pg_extension")));
	installed = SPI_processed > 0;
	SPI_finish();
	return installed;
}

/* One batch of due work in its own transaction; returns the number of firings acted on. */
static int
run_one_batch(bool *installed)
{
	int			done = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "microtrigger: run_pending");
	*installed = extension_installed();
	if (*installed)
		done = mt_run_pending(GetCurrentTimestamp(), mt_batch_size);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return done;
}

/* How long to sleep: until the earliest due time, at most naptime. */
static long
sleep_ms(void)
{
	TimestampTz next;
	TimestampTz now;
	long		ms = mt_naptime_ms;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	next = mt_next_due();
	PopActiveSnapshot();
	CommitTransactionCommand();
	now = GetCurrentTimestamp();
	if (next != DT_NOEND)
	{
		/* due already but not claimable (another session holds it): retry soon, not at once */
		long		until = next <= now ? 50 : (long) ((next - now + 999) / 1000);

		ms = Min(ms, until);
	}
	return Max(ms, 1);
}

/* The worker's entry point. */
void
mt_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(mt_database, NULL, 0);
	/* the worker runs as a superuser: names resolve in pg_catalog only, never in a writable schema */
	SetConfigOption("search_path", MT_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);

	mt_wakeup_attach_worker(MyLatch);
	ereport(LOG, (errmsg("microtrigger worker started for database \"%s\"", mt_database)));

	for (;;)
	{
		bool		installed = false;
		long		timeout;
		int			done;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* act until a batch comes back short: the backlog is drained */
		do
		{
			done = run_one_batch(&installed);
			CHECK_FOR_INTERRUPTS();
		} while (installed && done >= mt_batch_size);

		timeout = installed ? sleep_ms() : mt_naptime_ms;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
