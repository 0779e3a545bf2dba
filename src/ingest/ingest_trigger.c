/*
 * ingest_trigger.c: the statement-level AFTER INSERT trigger on microtrigger.events. It reads the
 * transition table directly (COPY and multi-row INSERT are matched in one pass), asks the rule
 * cache for the triggers that may match each event, evaluates their condition, then history,
 * session and cooldown, and writes one small firing row per match. Nothing slow happens here:
 * rendering, enrichment and delivery are the worker's. An error in a rule never fails the
 * INSERT: it becomes a decision.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"

#include "condition_eval.h"
#include "engine_internal.h"
#include "event_history.h"
#include "event_row.h"
#include "journeys.h"
#include "policy.h"
#include "rule_cache.h"
#include "segment_deltas.h"
#include "subxact.h"
#include "wakeup.h"

PG_FUNCTION_INFO_V1(mt_ingest_events_sql);

/* The event being matched, as the trigger sees it. */
typedef struct IngestEvent
{
	int64		id;
	text	   *user_id;
	text	   *event_type;
	text	   *session_id;		/* NULL when SQL NULL */
	TimestampTz occurred_at;
	Jsonb	   *params;
	MtDocument	doc;
} IngestEvent;

/* Prepared plans, kept for the backend's life (SPI_keepplan). */
static SPIPlanPtr session_plan[2];	/* [replan] */
static SPIPlanPtr cooldown_plan[2];

static SPIPlanPtr insert_firing_plan;
static SPIPlanPtr rule_error_plan;

/* The PostgreSQL-free time checks (definition.h) use PostgreSQL's own range and infinities. */
StaticAssertDecl(MT_TIME_MIN == MIN_TIMESTAMP && MT_TIME_END == END_TIMESTAMP &&
				 MT_TIME_NOBEGIN == DT_NOBEGIN && MT_TIME_NOEND == DT_NOEND,
				 "definition.h's time range differs from PostgreSQL's");

/*
 * Every history clause holds at the event's time: three-valued, since ingest bounds $regex work
 * (microtrigger.regex_max_input) and a count the undecided events could move is unknown.
 */
static MtTruth
history_holds(const MtTrigger *trigger, const IngestEvent *event)
{
	MtTruth		result = MT_TRUE;

	for (int i = 0; i < trigger->n_history; i++)
	{
		int64		undecided;
		int64		count = mt_history_count_bounded(&trigger->history[i], event->user_id,
													 event->occurred_at, mt_regex_max_input,
													 &undecided);
		MtTruth		passes = mt_count_passes_between(&trigger->history[i], count, undecided);

		if (passes == MT_FALSE)
			return MT_FALSE;
		if (passes == MT_UNKNOWN)
			result = MT_UNKNOWN;
	}
	return result;
}

/* Session quality so far: page views in the session (depth) and time since its first event. */
static bool
session_holds(const MtTrigger *trigger, const IngestEvent *event)
{
	Oid			argtypes[3] = {TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[3];
	SPIPlanPtr	plan;
	bool		depth_null,
				first_null;
	int64		depth;
	TimestampTz first;

	if (event->session_id == NULL)
		return false;
	plan = mt_kept_plan_opts(&session_plan[mt_replan_growing_tables],
						"SELECT pg_catalog.count(*) FILTER (WHERE event_type = 'page_view'), pg_catalog.min(occurred_at) "
						"FROM microtrigger.events WHERE session_id = $1 AND occurred_at <= $2 AND user_id = $3 "
						"AND occurred_at > '-infinity'",
						3, argtypes, MT_GROWING_TABLE_OPTIONS);
	values[0] = PointerGetDatum(event->session_id);
	values[1] = TimestampTzGetDatum(event->occurred_at);
	values[2] = PointerGetDatum(event->user_id);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("session query failed")));
	depth = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &depth_null));
	first = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &first_null));
	if (depth < trigger->session_min_depth)
		return false;
	if (trigger->session_min_duration > 0 &&
		(first_null || event->occurred_at - first < trigger->session_min_duration))
		return false;
	return true;
}

/*
 * An earlier or later firing of the trigger for the user within the cooldown (not yet refused).
 * Best effort, and deliberately without a lock: it sees committed firings and this transaction's
 * own, so two concurrent transactions may both write a firing. The guard is run_pending's check
 * under the user's lock (user_lock.h); a lock here would make an event INSERT wait for other
 * sessions and a large COPY exhaust the lock table.
 */
static bool
in_cooldown(const MtTrigger *trigger, const IngestEvent *event)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[4];
	SPIPlanPtr	plan;
	TimestampTz from,
				to;

	if (!mt_policy_cooldown_window(event->occurred_at, trigger->cooldown, &from, &to))
		return false;
	plan = mt_kept_plan_opts(&cooldown_plan[mt_replan_growing_tables],
						"SELECT 1 FROM microtrigger.firings WHERE trigger_name = $1 AND user_id = $2 "
						"AND event_at > $3 AND event_at < $4 AND (outcome IS NULL OR outcome = 'queued') "
						"AND NOT recheck LIMIT 1",
						4, argtypes, MT_GROWING_TABLE_OPTIONS);
	values[0] = CStringGetTextDatum(trigger->name);
	values[1] = PointerGetDatum(event->user_id);
	values[2] = TimestampTzGetDatum(from);
	values[3] = TimestampTzGetDatum(to);
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("cooldown query failed")));
	return SPI_processed > 0;
}

/*
 * Records that the trigger matched an event it cannot schedule (an event at ±infinity, or a
 * window or delay reaching past the last timestamp) instead of writing a corrupt firing.
 */
static void
record_unschedulable(const MtTrigger *trigger, const IngestEvent *event, const char *field)
{
	MtDecisionKey key = {text_to_cstring(event->user_id), trigger->name, NULL, event->id};
	const char *keys[3] = {"field", "error", "stage"};
	const char *texts[3] = {field, mt_unschedulable_reason(field), "ingest"};

	mt_record_decision(&key, GetCurrentTransactionStartTimestamp(), "unschedulable",
					   mt_detail_object(3, keys, texts));
}

/*
 * Writes the firing row: due now for an immediate trigger, at the window's end for an absence;
 * an unschedulable decision when that time or the email's (+ delay) is not a finite timestamp.
 * recheck: ingest could not decide the condition or a history clause within
 * microtrigger.regex_max_input, so the worker decides them in full on the stored event first.
 */
static void
insert_firing(const MtTrigger *trigger, const IngestEvent *event, bool recheck)
{
	Oid			argtypes[7] = {TEXTOID, INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID, BOOLOID};
	Datum		values[7];
	SPIPlanPtr	plan;
	TimestampTz due_at;
	TimestampTz send_after;
	const char *field = mt_trigger_schedule(trigger, event->occurred_at, &due_at, &send_after);

	if (field != NULL)
	{
		record_unschedulable(trigger, event, field);
		return;
	}
	plan = mt_kept_plan(&insert_firing_plan,
						"INSERT INTO microtrigger.firings "
						"(trigger_name, source_event_id, user_id, event_at, due_at, is_absence, recheck) "
						"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
						7, argtypes);
	values[0] = CStringGetTextDatum(trigger->name);
	values[1] = Int64GetDatum(event->id);
	values[2] = PointerGetDatum(event->user_id);
	values[3] = TimestampTzGetDatum(event->occurred_at);
	values[4] = TimestampTzGetDatum(due_at);
	values[5] = BoolGetDatum(trigger->has_unless);
	values[6] = BoolGetDatum(recheck);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not write a firing")));
	if (SPI_processed > 0)
		mt_wake_worker_at_commit();
}

/* Records that a rule failed on an event, instead of failing the INSERT. */
static void
record_rule_error(const MtTrigger *trigger, const IngestEvent *event, const char *message)
{
	Oid			argtypes[4] = {TEXTOID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[4];
	SPIPlanPtr	plan = mt_kept_plan(&rule_error_plan,
									"INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome, detail, source_event_id) "
									"VALUES (pg_catalog.now(), $1, $2, 'rule_error', pg_catalog.jsonb_build_object('error', $4::text, 'stage', 'ingest'), $3)",
									4, argtypes);

	values[0] = PointerGetDatum(event->user_id);
	values[1] = CStringGetTextDatum(trigger->name);
	values[2] = Int64GetDatum(event->id);
	values[3] = CStringGetTextDatum(message);
	SPI_execute_plan(plan, values, NULL, false, 0);
}

/* A matched rule and its event, for the subtransaction. */
typedef struct MatchWork
{
	MtRule	   *rule;
	IngestEvent *event;
	bool		undecided;		/* the condition is unknown at ingest (not false) */
} MatchWork;

/*
 * The checks after a condition matched (or could not be decided): history, session, cooldown,
 * then the firing — marked for re-check when the condition or the history is undecided.
 */
static void
check_and_fire(void *arg)
{
	MatchWork  *work = arg;
	const MtTrigger *trigger = work->rule->trigger;
	MtTruth		history;

	if (!mt_time_is_finite(work->event->occurred_at))
	{
		record_unschedulable(trigger, work->event, "occurred_at");	/* on no timeline */
		return;
	}
	history = history_holds(trigger, work->event);
	if (history != MT_FALSE &&
		(!trigger->has_session || session_holds(trigger, work->event)) &&
		(trigger->has_unless || !in_cooldown(trigger, work->event)))
		insert_firing(trigger, work->event, work->undecided || history == MT_UNKNOWN);
}

/*
 * Whether each match runs in its own subtransaction. A statement is first matched in one
 * subtransaction for all its events (cheap); only if that fails is it matched again carefully,
 * one subtransaction per match, so the failing rule becomes a rule_error decision and the
 * others still fire.
 */
static bool careful_matching = false;

/*
 * Finishes a match: history, session, cooldown, firing. In careful mode an error becomes a
 * rule_error decision, so a failing rule never fails the INSERT (a cancel still stops it).
 */
static void
finish_match(MtRule *rule, IngestEvent *event, bool undecided)
{
	MatchWork	work = {rule, event, undecided};
	ErrorData  *edata;

	if (!careful_matching)
	{
		check_and_fire(&work);
		return;
	}
	edata = mt_run_in_subtransaction(check_and_fire, &work, true);
	if (edata != NULL)
	{
		record_rule_error(rule->trigger, event, edata->message);
		FreeErrorData(edata);
	}
}

/*
 * Rule-cache callback: evaluate the condition with bounded $regex work, and unless it is surely
 * false do the rest (an undecided condition is re-checked by the worker).
 */
static void
consider_rule(MtRule *rule, void *arg)
{
	IngestEvent *event = arg;
	MtTruth		matched = mt_condition_eval_bounded(rule->trigger->condition, &event->doc,
													mt_regex_max_input);

	if (matched != MT_FALSE)
		finish_match(rule, event, matched == MT_UNKNOWN);
}

/* Reads one transition-table row into an IngestEvent (pointers into the slot's tuple). */
static void
read_event(TupleTableSlot *slot, const MtEventColumns *cols, IngestEvent *event)
{
	MtEventRow	row;

	mt_event_row_from_slot(&row, slot, cols);
	event->id = row.id;
	event->user_id = row.user_id;
	event->event_type = row.event_type;
	event->session_id = row.session_id;
	event->occurred_at = row.occurred_at;
	event->params = row.params;
	mt_event_row_document(&event->doc, &row);
}

/* One pass over the transition table. */
typedef struct IngestPass
{
	Tuplestorestate *rows;
	TupleTableSlot *slot;
	MtEventColumns cols;
	MemoryContext row_context;
	bool		rules;			/* some rule or journey exit may match */
	MtSegmentDeltas *segments;	/* NULL: no segment can change */
} IngestPass;

/*
 * Reads every event of the statement once (from the start of the transition table) and hands it
 * to the rules, the journey exits and the segment deltas. A second walk (careful mode) starts
 * the segment collection over, so each event is filed once whichever walk completes.
 */
static void
match_events(void *arg)
{
	IngestPass *pass = arg;

	if (pass->segments != NULL)
		mt_segment_deltas_reset(pass->segments);
	tuplestore_rescan(pass->rows);
	while (tuplestore_gettupleslot(pass->rows, true, false, pass->slot))
	{
		IngestEvent event;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(pass->row_context);
		old = MemoryContextSwitchTo(pass->row_context);
		read_event(pass->slot, &pass->cols, &event);
		if (pass->rules)
		{
			mt_rulecache_candidates(&event.doc, consider_rule, &event);
			if (mt_time_is_finite(event.occurred_at) &&
				mt_journeys_exit_types_match(VARDATA_ANY(event.event_type), VARSIZE_ANY_EXHDR(event.event_type)))
				mt_journeys_exit_on_event(event.id, event.user_id, &event.doc, event.params);
		}
		if (pass->segments != NULL)
			mt_segment_deltas_add(pass->segments, VARDATA_ANY(event.user_id), VARSIZE_ANY_EXHDR(event.user_id),
								  VARDATA_ANY(event.event_type), VARSIZE_ANY_EXHDR(event.event_type),
								  event.occurred_at, &event.doc);
		MemoryContextSwitchTo(old);
	}
}

/*
 * AFTER INSERT ... REFERENCING NEW TABLE ... FOR EACH STATEMENT on microtrigger.events, the one
 * ingest trigger: match every inserted event against the enabled triggers and journey exits,
 * then keep the segments it can change current (segment_deltas.h). The rules come first, as
 * when they were two triggers; segment_enter / segment_exit events that maintenance records
 * come back through this trigger for the rules only.
 */
Datum
mt_ingest_events_sql(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			read_pointer;
	IngestPass	pass;
	ErrorData  *edata;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) || trigdata->tg_newtable == NULL)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("microtrigger.ingest_events() must be an AFTER INSERT statement trigger with a NEW TABLE")));

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	mt_rulecache_ensure();
	mt_journeys_ensure();
	pass.rules = !mt_rulecache_is_empty() || mt_journeys_have_exits();
	pass.segments = mt_segment_deltas_begin();
	if (!pass.rules && pass.segments == NULL)
	{
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	mt_rulecache_pin();
	mt_event_window_check_statistics();

	desc = RelationGetDescr(trigdata->tg_relation);
	mt_event_columns_init(&pass.cols, desc);

	pass.rows = trigdata->tg_newtable;
	read_pointer = tuplestore_alloc_read_pointer(pass.rows, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(pass.rows, read_pointer);
	pass.slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	pass.row_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger ingest row",
											 ALLOCSET_DEFAULT_SIZES);
	careful_matching = false;
	edata = mt_run_in_subtransaction(match_events, &pass, true);
	if (edata != NULL)
	{
		/* something failed: match again, each match in its own subtransaction */
		FreeErrorData(edata);
		careful_matching = true;
		match_events(&pass);
		careful_matching = false;
	}
	ExecDropSingleTupleTableSlot(pass.slot);
	MemoryContextDelete(pass.row_context);
	mt_rulecache_unpin();
	/* after the rules (their cache unpinned): segment events recorded here re-enter this trigger */
	if (pass.segments != NULL)
		mt_segment_deltas_apply(pass.segments);
	SPI_finish();
	return PointerGetDatum(NULL);
}
