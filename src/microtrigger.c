/*
 * microtrigger.c: module entry. Each subsystem defines the microtrigger.* settings it reads in its
 * own *_init(); _PG_init calls them in turn, then reserves the prefix.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "condition_eval.h"
#include "delivery.h"
#include "engine.h"
#include "local_time.h"
#include "track.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Lets each subsystem define its settings (and the worker register itself when preloaded). */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	mt_worker_init();
	mt_delivery_init();
	mt_track_init();
	mt_engine_init();
	mt_condition_init();
	mt_timing_init();

	MarkGUCPrefixReserved("microtrigger");
}
