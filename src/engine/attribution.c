/*
 * attribution.c: goals and attribution, the last stage of run_pending (docs/goals.md).
 *
 * The goal events recorded since a watermark (events.id) are read in batches of the goal event
 * types, matched in C against the goal of every enabled trigger and every sequence, and
 * attributed set-based, one INSERT per batch: each (goal event, trigger or sequence) pair gets
 * the user's last email of that trigger or sequence whose send_after came before the event and
 * at most `within` before it (not cancelled or dead), or the user's later holdout decision in
 * the same window, as one row of microtrigger.conversions (ON CONFLICT DO NOTHING on the
 * once-per-goal-event key). The ingest trigger does no work for goals.
 *
 * Only one session attributes at a time: the one-row table attribution_state is locked FOR
 * UPDATE SKIP LOCKED, and a run that finds it locked skips the stage. Events that occurred after
 * as_of are kept in attribution_deferred and attributed by the first run whose as_of reaches them.
 *
 * The watermark never skips an event committed late. An event id is taken (nextval) before its
 * transaction commits, so a run can see id 101 committed while id 100 is still in flight. So a
 * run does not move the watermark to the highest id it scanned: it stores that id as pending_to
 * with the virtual transaction ids running after its scan, and a later run moves the watermark
 * there only once all of those transactions have ended (checked before its own scan, so what
 * they committed is visible to that scan). Until then the ids above the watermark are scanned
 * again (the conversions already written are skipped); an open transaction, e.g. an idle one,
 * holds the watermark back and makes the rescans longer, never wrong.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "attribution.h"
#include "condition_eval.h"
#include "definition.h"
#include "rule_cache.h"
#include "sequence_cache.h"
#include "spi_util.h"

#define ATTRIBUTION_BATCH 1000

/* One goal to match: a trigger's (sequence_name NULL) or a sequence's (trigger_name NULL). */
typedef struct Goal
{
	const MtGoal *goal;
	const char *trigger_name;
	const char *sequence_name;
} Goal;

/* The (goal event, trigger or sequence) pairs of a batch, as the INSERT's arrays. */
typedef struct Pairs
{
	int			n;
	int			cap;
	Datum	   *event_ids;
	Datum	   *user_ids;
	Datum	   *at;
	Datum	   *triggers;
	bool	   *triggers_null;
	Datum	   *sequences;
	bool	   *sequences_null;
	Datum	   *since;
	Datum	   *revenue;
	bool	   *revenue_null;
	/* events that occurred after as_of: kept for a later run */
	int			n_deferred;
	int			deferred_cap;
	Datum	   *deferred_ids;
	Datum	   *deferred_at;
} Pairs;

static SPIPlanPtr state_plan;
static SPIPlanPtr scan_plan;
static SPIPlanPtr due_plan;
static SPIPlanPtr insert_plan;
static SPIPlanPtr defer_plan;
static SPIPlanPtr save_plan;

/* Runs a kept plan, then makes cxt current again (SPI leaves its own context current). */
static void
run_plan(SPIPlanPtr plan, Datum *values, const char *nulls, int expected, MemoryContext cxt)
{
	mt_execute_plan(plan, values, nulls, false, 0, expected);
	MemoryContextSwitchTo(cxt);
}

/* The goals of the enabled triggers and of the sequences, and their distinct event types. */
static int
collect_goals(Goal **goals_out, Datum *types_out)
{
	MtRule	  **rules;
	int			n_rules = mt_rulecache_all(&rules);
	const MtSequenceSet *sequences = mt_sequence_cache_ensure();
	int			n_sequences = sequences ? sequences->n : 0;
	Goal	   *goals = palloc(sizeof(Goal) * Max(n_rules + n_sequences, 1));
	int			n = 0;
	Datum	   *types;
	int			n_types = 0;
	int			cap = 0;

	for (int i = 0; i < n_rules; i++)
		if (rules[i]->trigger->has_goal)
		{
			goals[n].goal = &rules[i]->trigger->goal;
			goals[n].trigger_name = rules[i]->trigger->name;
			goals[n].sequence_name = NULL;
			n++;
		}
	for (int i = 0; i < n_sequences; i++)
		if (sequences->sequences[i]->has_goal)
		{
			goals[n].goal = &sequences->sequences[i]->goal;
			goals[n].trigger_name = NULL;
			goals[n].sequence_name = sequences->sequences[i]->name;
			n++;
		}
	for (int g = 0; g < n; g++)
		cap += goals[g].goal->clause.n_event_types;
	types = palloc(sizeof(Datum) * Max(cap, 1));
	for (int g = 0; g < n; g++)
		for (int t = 0; t < goals[g].goal->clause.n_event_types; t++)
		{
			const char *type = goals[g].goal->clause.event_types[t];
			bool		seen = false;

			for (int k = 0; k < n_types && !seen; k++)
				seen = strcmp(TextDatumGetCString(types[k]), type) == 0;
			if (!seen)
				types[n_types++] = CStringGetTextDatum(type);
		}
	*goals_out = goals;
	*types_out = mt_array_param(types, NULL, n_types, TEXTOID);
	return n;
}

/* Grows the pair arrays to hold one more. */
static void
pairs_reserve(Pairs *p)
{
	if (p->n < p->cap)
		return;
	p->cap = p->cap ? p->cap * 2 : 256;
#define GROW(field, type) p->field = p->field ? repalloc(p->field, sizeof(type) * p->cap) : palloc(sizeof(type) * p->cap)
	GROW(event_ids, Datum);
	GROW(user_ids, Datum);
	GROW(at, Datum);
	GROW(triggers, Datum);
	GROW(triggers_null, bool);
	GROW(sequences, Datum);
	GROW(sequences_null, bool);
	GROW(since, Datum);
	GROW(revenue, Datum);
	GROW(revenue_null, bool);
#undef GROW
}

/* Keeps an event that occurred after as_of for a later run. */
static void
pairs_defer(Pairs *p, int64 event_id, TimestampTz occurred_at)
{
	if (p->n_deferred == p->deferred_cap)
	{
		p->deferred_cap = p->deferred_cap ? p->deferred_cap * 2 : 64;
		p->deferred_ids = p->deferred_ids ? repalloc(p->deferred_ids, sizeof(Datum) * p->deferred_cap)
			: palloc(sizeof(Datum) * p->deferred_cap);
		p->deferred_at = p->deferred_at ? repalloc(p->deferred_at, sizeof(Datum) * p->deferred_cap)
			: palloc(sizeof(Datum) * p->deferred_cap);
	}
	p->deferred_ids[p->n_deferred] = Int64GetDatum(event_id);
	p->deferred_at[p->n_deferred] = TimestampTzGetDatum(occurred_at);
	p->n_deferred++;
}

/*
 * The revenue of a goal event as numeric text: the param named `name` when it is a JSON number,
 * or a string that is a plain decimal number (mt_goal_revenue_valid); else NULL.
 */
static char *
revenue_text(Jsonb *params, const char *name)
{
	JsonbValue	key;
	JsonbValue *value;

	if (!JB_ROOT_IS_OBJECT(params))
		return NULL;
	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = (int) strlen(name);
	value = findJsonbValueFromContainer(&params->root, JB_FOBJECT, &key);
	if (value == NULL)
		return NULL;
	if (value->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(value->val.numeric)));
	if (value->type == jbvString && mt_goal_revenue_valid(value->val.string.val, (size_t) value->val.string.len))
		return pnstrdup(value->val.string.val, value->val.string.len);
	return NULL;
}

/*
 * Matches the events of SPI_tuptable (id, user_id, event_type, occurred_at, session_id, params;
 * user_id NULL for an event that is gone) against every goal into *p; those after as_of are
 * deferred. Returns the last event id read (0 when none).
 */
static int64
match_events(const Goal *goals, int n_goals, TimestampTz as_of, Pairs *p)
{
	int64		last = 0;

	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(mt_spi_datum((int) row, 1, &isnull));
		char	   *user_id;
		char	   *event_type;
		char	   *session_id;
		TimestampTz occurred_at;
		Jsonb	   *params;
		MtDocument	doc;

		last = id;
		(void) mt_spi_datum((int) row, 2, &isnull);
		if (isnull)
			continue;			/* a deferred event that was deleted since */
		occurred_at = DatumGetTimestampTz(mt_spi_datum((int) row, 4, &isnull));
		if (!mt_time_is_finite(occurred_at))
			continue;			/* on no timeline: no window reaches it */
		if (occurred_at > as_of)
		{
			pairs_defer(p, id, occurred_at);
			continue;
		}
		user_id = mt_spi_text((int) row, 2);
		event_type = mt_spi_text((int) row, 3);
		session_id = mt_spi_text((int) row, 5);
		params = DatumGetJsonbP(mt_spi_datum((int) row, 6, &isnull));
		mt_document_init_event(&doc, params, user_id, (int) strlen(user_id), event_type,
							   (int) strlen(event_type), session_id,
							   session_id ? (int) strlen(session_id) : 0, occurred_at);
		for (int g = 0; g < n_goals; g++)
		{
			const MtGoal *goal = goals[g].goal;
			char	   *revenue;

			if (!mt_clause_accepts_type(&goal->clause, event_type, (int) strlen(event_type)) ||
				(goal->clause.condition != NULL && !mt_condition_eval(goal->clause.condition, &doc)))
				continue;
			pairs_reserve(p);
			p->event_ids[p->n] = Int64GetDatum(id);
			p->user_ids[p->n] = CStringGetTextDatum(user_id);
			p->at[p->n] = TimestampTzGetDatum(occurred_at);
			p->triggers_null[p->n] = goals[g].trigger_name == NULL;
			p->triggers[p->n] = goals[g].trigger_name ? CStringGetTextDatum(goals[g].trigger_name) : (Datum) 0;
			p->sequences_null[p->n] = goals[g].sequence_name == NULL;
			p->sequences[p->n] = goals[g].sequence_name ? CStringGetTextDatum(goals[g].sequence_name) : (Datum) 0;
			p->since[p->n] = TimestampTzGetDatum(mt_time_add_saturated(occurred_at, -goal->clause.within));
			revenue = goal->revenue ? revenue_text(params, goal->revenue) : NULL;
			p->revenue_null[p->n] = revenue == NULL;
			p->revenue[p->n] = revenue ? CStringGetTextDatum(revenue) : (Datum) 0;
			p->n++;
		}
	}
	return last;
}

/*
 * Writes the batch: one conversion per pair that has an email or a holdout decision in its
 * window (the latest of them), and the deferred events. Returns the conversions written.
 */
static int
write_pairs(Pairs *p, MemoryContext cxt)
{
	static const Oid argtypes[7] = {INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID};
	static const Oid defer_types[2] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID};
	int			written = 0;

	if (p->n > 0)
	{
		Datum		values[7];

		values[0] = mt_array_param(p->event_ids, NULL, p->n, INT8OID);
		values[1] = mt_array_param(p->user_ids, NULL, p->n, TEXTOID);
		values[2] = mt_array_param(p->at, NULL, p->n, TIMESTAMPTZOID);
		values[3] = mt_array_param(p->triggers, p->triggers_null, p->n, TEXTOID);
		values[4] = mt_array_param(p->sequences, p->sequences_null, p->n, TEXTOID);
		values[5] = mt_array_param(p->since, NULL, p->n, TIMESTAMPTZOID);
		values[6] = mt_array_param(p->revenue, p->revenue_null, p->n, TEXTOID);
		run_plan(mt_kept_plan(&insert_plan,
							  "INSERT INTO microtrigger.conversions (user_id, event_id, converted_at, trigger_name, "
							  "sequence_name, step, outbox_id, experiment, arm, revenue) "
							  "SELECT g.user_id, g.event_id, g.at, g.trigger_name, g.sequence_name, t.step, t.outbox_id, "
							  "t.experiment, t.arm, CAST(g.revenue AS pg_catalog.numeric) "
							  "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
							  "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) "
							  "AS g(event_id, user_id, at, trigger_name, sequence_name, since, revenue) "
							  "CROSS JOIN LATERAL ("
							  " SELECT c.step, c.outbox_id, c.experiment, c.arm FROM ("
							  "  (SELECT o.send_after AS touch_at, o.step, o.id AS outbox_id, o.experiment, o.arm "
							  "   FROM microtrigger.outbox o "
							  "   WHERE o.user_id = g.user_id AND o.send_after < g.at AND o.send_after >= g.since "
							  "   AND o.status IN ('queued', 'sending', 'sent', 'failed') "
							  "   AND CASE WHEN g.sequence_name IS NULL "
							  "       THEN o.journey_id IS NULL AND o.trigger_name = g.trigger_name "
							  "       ELSE o.sequence_name = g.sequence_name END "
							  "   ORDER BY o.send_after DESC, o.id DESC LIMIT 1) "
							  "  UNION ALL "
							  "  (SELECT d.at, NULL::pg_catalog.int4, NULL::pg_catalog.int8, d.detail ->> 'experiment', "
							  "   COALESCE((SELECT a.arm FROM microtrigger.assignments a "
							  "             WHERE a.experiment = d.detail ->> 'experiment' AND a.user_id = d.user_id), 'holdout') "
							  "   FROM microtrigger.decisions d "
							  "   WHERE d.user_id = g.user_id AND d.outcome = 'holdout' AND d.at < g.at AND d.at >= g.since "
							  "   AND CASE WHEN g.sequence_name IS NULL "
							  "       THEN d.sequence_name IS NULL AND d.trigger_name = g.trigger_name "
							  "       ELSE d.sequence_name = g.sequence_name END "
							  "   ORDER BY d.at DESC, d.id DESC LIMIT 1)"
							  " ) c ORDER BY c.touch_at DESC, c.outbox_id DESC NULLS LAST LIMIT 1"
							  ") t "
							  "WHERE NOT EXISTS (SELECT 1 FROM microtrigger.conversions x WHERE x.event_id = g.event_id "
							  " AND x.trigger_name IS NOT DISTINCT FROM g.trigger_name "
							  " AND x.sequence_name IS NOT DISTINCT FROM g.sequence_name) "
							  "ON CONFLICT ON CONSTRAINT conversions_once_per_goal_event DO NOTHING",
							  7, argtypes),
				 values, NULL, SPI_OK_INSERT, cxt);
		written = (int) SPI_processed;
	}
	if (p->n_deferred > 0)
	{
		Datum		values[2];

		values[0] = mt_array_param(p->deferred_ids, NULL, p->n_deferred, INT8OID);
		values[1] = mt_array_param(p->deferred_at, NULL, p->n_deferred, TIMESTAMPTZOID);
		run_plan(mt_kept_plan(&defer_plan,
							  "INSERT INTO microtrigger.attribution_deferred (event_id, occurred_at) "
							  "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) "
							  "ON CONFLICT (event_id) DO NOTHING", 2, defer_types),
				 values, NULL, SPI_OK_INSERT, cxt);
	}
	return written;
}

/* An int8[] of the virtual transactions running in this database now (not this one). */
static Datum
running_vxids(void)
{
	int			n;
	VirtualTransactionId *vxids = GetCurrentVirtualXIDs(InvalidTransactionId, false, false, 0, &n);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum((int64) (((uint64) (uint32) vxids[i].backendId << 32) |
										  (uint64) vxids[i].localTransactionId));
	return mt_array_param(elems, NULL, n, INT8OID);
}

/* Have all the virtual transactions of the array ended (a check that never waits)? */
static bool
vxids_ended(ArrayType *array)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(array, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		uint64		v = (uint64) DatumGetInt64(elems[i]);
		VirtualTransactionId vxid;

		vxid.backendId = (BackendId) (int32) (uint32) (v >> 32);
		vxid.localTransactionId = (LocalTransactionId) (uint32) v;
		if (VirtualTransactionIdIsValid(vxid) && !VirtualXactLock(vxid, false))
			return false;
	}
	return true;
}

/* Attributes the goal events since the watermark that occurred by as_of. */
int
mt_attribute_goals(TimestampTz as_of)
{
	static const Oid scan_types[4] = {INT8OID, INT8OID, TEXTARRAYOID, INT4OID};
	static const Oid due_types[2] = {TIMESTAMPTZOID, INT4OID};
	static const Oid save_types[3] = {INT8OID, INT8OID, INT8ARRAYOID};
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(outer, "microtrigger attribution", ALLOCSET_DEFAULT_SIZES);
	MemoryContext batch = AllocSetContextCreate(cxt, "microtrigger attribution batch", ALLOCSET_DEFAULT_SIZES);
	Goal	   *goals;
	Datum		types;
	int			n_goals;
	int64		watermark;
	int64		pending_to = 0;
	bool		has_pending;
	bool		pending_done;
	int64		top;
	bool		isnull;
	int			written = 0;

	MemoryContextSwitchTo(cxt);
	run_plan(mt_kept_plan(&state_plan,
						  "SELECT s.watermark, s.pending_to, s.pending_vxids, "
						  "COALESCE((SELECT pg_catalog.max(e.id) FROM microtrigger.events e), 0) "
						  "FROM microtrigger.attribution_state s FOR UPDATE OF s SKIP LOCKED", 0, NULL),
			 NULL, NULL, SPI_OK_SELECT, cxt);
	if (SPI_processed == 0)
	{
		/* another session is attributing (or the row is gone): it, or a later run, does it */
		MemoryContextSwitchTo(outer);
		MemoryContextDelete(cxt);
		return 0;
	}
	watermark = DatumGetInt64(mt_spi_datum(0, 1, &isnull));
	pending_to = DatumGetInt64(mt_spi_datum(0, 2, &has_pending));
	has_pending = !has_pending;
	/* before the scans below: what those transactions committed, the scans see */
	pending_done = !has_pending ||
		vxids_ended(DatumGetArrayTypeP(mt_spi_datum(0, 3, &isnull)));
	top = DatumGetInt64(mt_spi_datum(0, 4, &isnull));
	SPI_freetuptable(SPI_tuptable);

	n_goals = collect_goals(&goals, &types);
	if (n_goals > 0)
	{
		/* the events above the watermark, up to the highest id at the start */
		int64		from = watermark;

		for (;;)
		{
			Datum		values[4] = {Int64GetDatum(from), Int64GetDatum(top), types,
			Int32GetDatum(ATTRIBUTION_BATCH)};
			Pairs		pairs = {0};
			uint64		n;

			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(batch);
			MemoryContextSwitchTo(batch);
			run_plan(mt_kept_plan(&scan_plan,
								  "SELECT e.id, e.user_id, e.event_type, e.occurred_at, e.session_id, e.params "
								  "FROM microtrigger.events e WHERE e.id > $1 AND e.id <= $2 AND e.event_type = ANY ($3) "
								  "ORDER BY e.id LIMIT $4", 4, scan_types),
					 values, NULL, SPI_OK_SELECT, batch);
			n = SPI_processed;
			from = Max(from, match_events(goals, n_goals, as_of, &pairs));
			SPI_freetuptable(SPI_tuptable);
			written += write_pairs(&pairs, batch);
			if (n < ATTRIBUTION_BATCH)
				break;
		}
	}
	/* the deferred events whose time has come (with no goal left, they are only dropped) */
	for (;;)
	{
		Datum		values[2] = {TimestampTzGetDatum(as_of), Int32GetDatum(ATTRIBUTION_BATCH)};
		Pairs		pairs = {0};
		uint64		n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(batch);
		MemoryContextSwitchTo(batch);
		run_plan(mt_kept_plan(&due_plan,
							  "WITH due AS (SELECT d.event_id FROM microtrigger.attribution_deferred d "
							  "  WHERE d.occurred_at <= $1 ORDER BY d.event_id LIMIT $2), "
							  "gone AS (DELETE FROM microtrigger.attribution_deferred d USING due "
							  "  WHERE d.event_id = due.event_id RETURNING d.event_id) "
							  "SELECT g.event_id, e.user_id, e.event_type, e.occurred_at, e.session_id, e.params "
							  "FROM gone g LEFT JOIN microtrigger.events e ON e.id = g.event_id ORDER BY g.event_id",
							  2, due_types),
				 values, NULL, SPI_OK_SELECT, batch);
		n = SPI_processed;
		if (n_goals > 0)
			match_events(goals, n_goals, as_of, &pairs);
		SPI_freetuptable(SPI_tuptable);
		written += write_pairs(&pairs, batch);
		if (n < ATTRIBUTION_BATCH)
			break;
	}
	MemoryContextSwitchTo(cxt);
	if (pending_done)
	{
		/* the last pending mark is safe now; this run's top waits for the transactions running now */
		Datum		values[3] = {Int64GetDatum(has_pending ? Max(watermark, pending_to) : watermark),
		Int64GetDatum(top), running_vxids()};

		run_plan(mt_kept_plan(&save_plan,
							  "UPDATE microtrigger.attribution_state SET watermark = $1, pending_to = $2, pending_vxids = $3",
							  3, save_types),
				 values, NULL, SPI_OK_UPDATE, cxt);
	}
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(cxt);
	return written;
}
