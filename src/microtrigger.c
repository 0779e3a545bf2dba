/*
 * microtrigger.c: module entry — the microtrigger.* settings and, when preloaded, the worker.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "engine.h"
#include "condition_eval.h"
#include "microtrigger.h"
#include "worker.h"

PG_MODULE_MAGIC;

char	   *mt_database = NULL;
char	   *mt_smtp_url = NULL;
char	   *mt_from_address = NULL;
char	   *mt_unsubscribe_url = NULL;
int			mt_naptime_ms = 10000;
int			mt_batch_size = 200;

void		_PG_init(void);

/* Defines the GUCs and, when loaded through shared_preload_libraries, registers the worker. */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

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
	DefineCustomStringVariable("microtrigger.smtp_url",
							   "SMTP server that deliver() sends through (smtp:// or smtps://); empty sends nothing.",
							   NULL, &mt_smtp_url, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.from_address",
							   "From: address of every email.",
							   NULL, &mt_from_address, "microtrigger <noreply@localhost>",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.unsubscribe_url",
							   "Base URL of the one-click unsubscribe link; the token is appended.",
							   NULL, &mt_unsubscribe_url, "https://example.invalid/unsubscribe?token=",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.naptime",
							"Longest time the worker sleeps when nothing is due.",
							NULL, &mt_naptime_ms, 10000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.batch_size",
							"Firings acted on per run_pending transaction by the worker.",
							NULL, &mt_batch_size, 200, 1, 100000,
							PGC_SUSET, 0, NULL, NULL, NULL);

	mt_delivery_define_gucs();
	mt_engine_init();
	mt_condition_define_gucs();

	MarkGUCPrefixReserved("microtrigger");

	mt_worker_init();
}
