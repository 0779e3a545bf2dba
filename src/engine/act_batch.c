/*
 * act_batch.c: running one batch of acting in one subtransaction (act_batch.h).
 */
#include "postgres.h"

#include "act_batch.h"
#include "act_write.h"
#include "render.h"
#include "subxact.h"

/* Runs the batch; whatever happens, its buffered writes and compiled templates do not outlive it. */
ErrorData *
mt_act_run_batch(MtSubxactWork work, void *arg)
{
	ErrorData  *volatile edata = NULL;

	PG_TRY();
	{
		edata = mt_run_in_subtransaction(work, arg, true);
	}
	PG_CATCH();
	{
		/* a cancel goes on up: the next run must not find this batch's writes kept */
		mt_write_abandon();
		mt_render_batch_end();
		PG_RE_THROW();
	}
	PG_END_TRY();
	mt_write_abandon();
	mt_render_batch_end();
	return edata;
}
