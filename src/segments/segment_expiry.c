/*
 * segment_expiry.c: segment expiry for run_pending. Memberships whose stored next change has come are
 * found with an index range scan on segment_schedule (changes_at <= as_of), claimed FOR UPDATE
 * SKIP LOCKED so concurrent run_pending calls share the work, and re-evaluated at as_of.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "segment_cache.h"
#include "segment_maintain.h"
#include "segment_expiry.h"
#include "spi_util.h"

#define EXPIRY_BATCH 500
#define RETRY_AFTER_ERROR (INT64CONST(3600) * USECS_PER_SEC)

static SPIPlanPtr advance_plan;
static SPIPlanPtr claim_plan;
static SPIPlanPtr next_due_plan;
static SPIPlanPtr forget_plan;

/*
 * Moves every segment's clock forward to as_of. A clock another run_pending holds is skipped:
 * that one is moving it too, and a late clock only delays, never loses, a re-evaluation.
 */
static void
advance_clocks(TimestampTz as_of)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(as_of)};
	int			ret;

	ret = SPI_execute_plan(mt_kept_plan(&advance_plan,
									 "UPDATE microtrigger.segment_clock c SET as_of = $1 "
									 "FROM (SELECT segment FROM microtrigger.segment_clock WHERE as_of < $1 "
									 "      FOR UPDATE SKIP LOCKED) due WHERE c.segment = due.segment",
									 1, argtypes), values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not advance the segment clocks")));
}

/* qsort comparator: work by user id. */
static int
compare_work(const void *a, const void *b)
{
	return strcmp((*(MtUserWork *const *) a)->user_id, (*(MtUserWork *const *) b)->user_id);
}

/*
 * Claims up to `want` due (segment, user) checks and groups them by user; checks of segments
 * that no longer exist are dropped. Returns the number of rows claimed.
 */
static int
claim_due(TimestampTz as_of, int want, MtUserWork ***users, int *n_users)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2] = {TimestampTzGetDatum(as_of), Int32GetDatum(want)};
	int			ret;
	uint64		claimed;
	MtUserWork **array;

	ret = SPI_execute_plan(mt_kept_plan(&claim_plan,
									 "SELECT user_id, segment FROM microtrigger.segment_schedule "
									 "WHERE changes_at <= $1 ORDER BY changes_at LIMIT $2 FOR UPDATE SKIP LOCKED",
									 2, argtypes), values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not read the segment schedule")));
	claimed = SPI_processed;
	array = palloc(sizeof(MtUserWork *) * Max(claimed, 1));
	*n_users = 0;
	for (uint64 row = 0; row < claimed; row++)
	{
		char	   *user_id = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1);
		char	   *segment = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2);
		MtSegmentEntry *entry = mt_segment_cache_lookup(segment);
		MtUserWork *work = NULL;

		if (entry == NULL)
			continue;
		for (int u = 0; u < *n_users && work == NULL; u++)
			if (strcmp(array[u]->user_id, user_id) == 0)
				work = array[u];
		if (work == NULL)
			work = array[(*n_users)++] = mt_user_work_new(user_id, mt_segment_cache_count());
		work->at[entry->index] = Max(as_of, entry->clock);
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(array, *n_users, sizeof(MtUserWork *), compare_work);
	*users = array;
	return (int) claimed;
}

/* Drops due checks whose segment is not in the cache (deleted, or no longer compiles). */
static void
forget_unknown_checks(TimestampTz as_of)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, TEXTARRAYOID};
	Datum		values[2];
	Datum	   *names = palloc(sizeof(Datum) * Max(mt_segment_cache_count(), 1));

	for (int k = 0; k < mt_segment_cache_count(); k++)
		names[k] = CStringGetTextDatum(mt_segment_cache_entry(k)->segment->name);
	values[0] = TimestampTzGetDatum(as_of);
	values[1] = PointerGetDatum(construct_array(names, mt_segment_cache_count(), TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(mt_kept_plan(&forget_plan,
								   "DELETE FROM microtrigger.segment_schedule "
								   "WHERE changes_at <= $1 AND segment <> ALL ($2)", 2, argtypes),
						 values, NULL, false, 0) != SPI_OK_DELETE)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not clean the segment schedule")));
}

/* Re-evaluates the memberships due at as_of (see segment_expiry.h). */
int
mt_segments_run_pending(TimestampTz as_of, int limit)
{
	int			done = 0;
	MemoryContext batch_context;
	MemoryContext old;

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	mt_segment_cache_ensure();
	if (mt_segment_cache_count() == 0)
	{
		SPI_finish();
		return 0;
	}
	advance_clocks(as_of);
	mt_segment_cache_read_clocks();
	forget_unknown_checks(as_of);
	batch_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger segment expiry",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int			want = limit > 0 ? Min(limit - done, EXPIRY_BATCH) : EXPIRY_BATCH;
		MtUserWork **users;
		int			n_users;
		int			claimed;

		if (want <= 0)
			break;
		MemoryContextReset(batch_context);
		old = MemoryContextSwitchTo(batch_context);
		claimed = claim_due(as_of, want, &users, &n_users);
		mt_segment_maintain_users(users, n_users, "run_pending",
								  mt_time_add_saturated(as_of, RETRY_AFTER_ERROR));
		MemoryContextSwitchTo(old);
		done += claimed;
		if (claimed < want)
			break;
	}
	MemoryContextDelete(batch_context);
	SPI_finish();
	return done;
}

/* The earliest stored next change of any membership, or DT_NOEND. */
TimestampTz
mt_segments_next_due(void)
{
	TimestampTz result = DT_NOEND;
	bool		isnull;
	Datum		value;

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	if (SPI_execute_plan(mt_kept_plan(&next_due_plan,
								   "SELECT pg_catalog.min(changes_at) FROM microtrigger.segment_schedule", 0, NULL),
						 NULL, NULL, true, 1) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not read the segment schedule")));
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		result = DatumGetTimestampTz(value);
	SPI_finish();
	return result;
}
