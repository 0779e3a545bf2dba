/*
 * engine.c: run_pending — acting on firings. For each firing due at as_of (claimed FOR UPDATE
 * SKIP LOCKED): the absence check when its window closes, policy (contact, consent, cooldown),
 * the context query as the trigger's owner, the render context, then its actions (emails through
 * email.c, journeys through journeys.c) — with a decision for every outcome. Each firing is one
 * subtransaction, so a failure becomes a decision and never blocks the queue. Journeys due at
 * as_of are advanced after the firings.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "condition_eval.h"
#include "engine.h"
#include "engine_internal.h"
#include "event_window.h"
#include "journeys.h"
#include "rulecache.h"
#include "segments.h"
#include "subxact.h"
#include "trigger_rows.h"

PG_FUNCTION_INFO_V1(mt_run_pending_sql);

/* A firing row claimed for processing. */
typedef struct Firing
{
	int64		id;
	char	   *trigger_name;
	int64		source_event_id;
	char	   *user_id;
	TimestampTz event_at;
	TimestampTz due_at;
	bool		is_absence;
	bool		recheck;		/* ingest could not decide the condition or history */
} Firing;

static SPIPlanPtr claim_plan;
static SPIPlanPtr cooldown_plan;
static SPIPlanPtr firing_done_plan;
static SPIPlanPtr next_due_plan;

/* The decision key of a firing. */
static MtDecisionKey
firing_key(const Firing *firing)
{
	MtDecisionKey key = {firing->user_id, firing->trigger_name, NULL, firing->source_event_id};

	return key;
}

/* Marks the firing done with its outcome. */
static void
finish_firing(const Firing *firing, const char *outcome)
{
	static const Oid argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(firing->id), CStringGetTextDatum(outcome)};

	mt_execute_plan(mt_kept_plan(&firing_done_plan,
								 "UPDATE microtrigger.firings SET state = 'done', outcome = $2 WHERE id = $1",
								 2, argtypes), values, NULL, false, 0, SPI_OK_UPDATE);
}

/* Has the trigger queued an email for the user within its cooldown around this firing? */
static bool
cooldown_active(const MtTrigger *trigger, const Firing *firing)
{
	static const Oid argtypes[5] = {TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[5];

	if (trigger->cooldown <= 0)
		return false;
	values[0] = CStringGetTextDatum(firing->trigger_name);
	values[1] = CStringGetTextDatum(firing->user_id);
	values[2] = Int64GetDatum(firing->id);
	values[3] = TimestampTzGetDatum(firing->event_at - trigger->cooldown);
	values[4] = TimestampTzGetDatum(firing->event_at + trigger->cooldown);
	mt_execute_plan(mt_kept_plan(&cooldown_plan,
								 "SELECT 1 FROM microtrigger.firings WHERE trigger_name = $1 AND user_id = $2 "
								 "AND id <> $3 AND outcome = 'queued' AND event_at > $4 AND event_at < $5 LIMIT 1",
								 5, argtypes), values, NULL, false, 1, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/* The context query's inputs and result, for the subtransaction. */
typedef struct ContextQuery
{
	const MtRule *rule;
	const char *user_id;
	MemoryContext result_context;
	Jsonb	   *result;
} ContextQuery;

/* Runs the context query as the owner, read-only, with the fixed search_path. */
static void
context_query_work(void *arg)
{
	ContextQuery *query = arg;
	Oid			saved_user;
	int			saved_security;
	bool		saved_read_only = XactReadOnly;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(query->user_id)};
	char	   *sql = psprintf("SELECT to_jsonb(q) FROM (\n%s\n) q LIMIT 1", query->rule->trigger->context_sql);

	GetUserIdAndSecContext(&saved_user, &saved_security);
	PG_TRY();
	{
		int			nestlevel;
		int			ret;

		SetUserIdAndSecContext(query->rule->owner, saved_security | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		nestlevel = mt_context_search_path_push();
		XactReadOnly = true;
		ret = SPI_execute_with_args(sql, 1, argtypes, values, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("the context query is not a SELECT")));
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			MemoryContext inner = MemoryContextSwitchTo(query->result_context);

			query->result = DatumGetJsonbPCopy(row);
			MemoryContextSwitchTo(inner);
		}
		AtEOXact_GUC(false, nestlevel);
	}
	PG_FINALLY();
	{
		XactReadOnly = saved_read_only;
		SetUserIdAndSecContext(saved_user, saved_security);
	}
	PG_END_TRY();
}

/*
 * Runs the trigger's context query as its owner, read-only, in a subtransaction that is always
 * rolled back. Returns its first row as a jsonb object ({} when no row), or NULL with *error set;
 * *denied tells a privilege failure apart.
 */
static Jsonb *
run_context_query(const MtRule *rule, const char *user_id, char **error, bool *denied)
{
	ContextQuery query = {rule, user_id, CurrentMemoryContext, NULL};
	ErrorData  *edata = mt_run_in_subtransaction(context_query_work, &query, false);

	*error = NULL;
	*denied = false;
	if (edata != NULL)
	{
		*error = edata->message;
		*denied = edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE;
		return NULL;
	}
	if (query.result == NULL)
	{
		JsonbParseState *state = NULL;

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		query.result = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	}
	return query.result;
}

/* Decides and acts on one firing; returns the outcome written on the firing row. */
static const char *
process_firing(const Firing *firing, TimestampTz as_of)
{
	MtRule	   *rule = mt_rulecache_lookup(firing->trigger_name);
	MtDecisionKey key = firing_key(firing);
	MtDocument	event_doc;
	Jsonb	   *source_params;
	MtContact	contact;
	const char *refusal;
	Jsonb	   *profile = NULL;
	Jsonb	   *context;
	TimestampTz trigger_time;
	bool		acted = false;
	bool		needs_email = false;

	if (rule == NULL)
	{
		mt_record_decision(&key, as_of, "trigger_disabled",
						   mt_detail1("reason", "the trigger was disabled or deleted before it acted"));
		return "trigger_disabled";
	}
	if (!mt_load_event(firing->source_event_id, firing->user_id, &event_doc, &source_params))
	{
		mt_record_decision(&key, as_of, "event_missing", NULL);
		return "event_missing";
	}
	if (firing->recheck)
	{
		/* what ingest left undecided (microtrigger.regex_max_input) is decided here, in full */
		const char *failed = mt_rule_recheck(rule, &event_doc, firing->user_id, firing->event_at);

		if (failed != NULL)
		{
			mt_record_decision(&key, as_of, "no_match", mt_detail1("failed_clause", failed));
			return "no_match";
		}
	}
	if (firing->is_absence)
	{
		/* decided at the window's end, from every event that occurred inside it */
		int64		cancelling = mt_first_matching_event(&rule->trigger->unless, firing->user_id,
														 firing->event_at,
														 firing->event_at + rule->trigger->unless.within,
														 firing->source_event_id, source_params);

		if (cancelling != 0)
		{
			mt_record_decision(&key, as_of, "cancelled_by_event",
							   mt_detail1("cancelled_by", psprintf(INT64_FORMAT, cancelling)));
			return "cancelled_by_event";
		}
	}
	trigger_time = firing->is_absence ? firing->due_at : firing->event_at;
	if (cooldown_active(rule->trigger, firing))
	{
		mt_record_decision(&key, as_of, "cooldown", NULL);
		return "cooldown";
	}
	for (int a = 0; a < rule->trigger->n_actions; a++)
		if (rule->trigger->actions[a].kind == MT_ACTION_SEND_EMAIL)
			needs_email = true;
	contact = mt_load_contact(firing->user_id);
	if (needs_email && (refusal = mt_contact_refusal(&contact, &key, as_of)) != NULL)
		return refusal;
	if (rule->trigger->context_sql)
	{
		char	   *error;
		bool		denied;

		profile = run_context_query(rule, firing->user_id, &error, &denied);
		if (profile == NULL)
		{
			mt_record_decision(&key, as_of, denied ? "context_denied" : "context_error",
							   mt_detail1("error", error));
			return denied ? "context_denied" : "context_error";
		}
	}
	context = mt_build_render_context(firing->source_event_id, firing->trigger_name, profile, as_of);
	for (int a = 0; a < rule->trigger->n_actions; a++)
	{
		const MtAction *action = &rule->trigger->actions[a];

		if (action->kind == MT_ACTION_SEND_EMAIL)
		{
			MtEmailJob	job = {0};

			job.key = key;
			job.action_index = a;
			job.to_address = contact.email;
			job.send_after = trigger_time + rule->trigger->delay;
			acted |= mt_queue_email(action, &job, context, as_of);
		}
		else
			acted |= mt_journey_start(action->sequence_name, &key, trigger_time + rule->trigger->delay,
									  as_of);
	}
	return acted ? "queued" : "not_queued";
}

/* A firing and the clock, for the subtransaction. */
typedef struct FiringWork
{
	const Firing *firing;
	TimestampTz as_of;
} FiringWork;

/* Decides, acts and marks the firing done. */
static void
firing_work(void *arg)
{
	FiringWork *work = arg;

	finish_firing(work->firing, process_firing(work->firing, work->as_of));
}

/* Processes one firing in a subtransaction: an unexpected error becomes an "error" decision. */
static void
process_firing_safely(const Firing *firing, TimestampTz as_of)
{
	FiringWork	work = {firing, as_of};
	ErrorData  *edata = mt_run_in_subtransaction(firing_work, &work, true);

	if (edata != NULL)
	{
		MtDecisionKey key = firing_key(firing);

		mt_record_decision(&key, as_of, "error", mt_detail1("error", edata->message));
		finish_firing(firing, "error");
	}
}

/* Claims up to limit due firings; returns them in a palloc'd array. */
static int
claim_firings(TimestampTz as_of, int limit, Firing **out)
{
	static const Oid argtypes[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2] = {TimestampTzGetDatum(as_of), Int32GetDatum(limit)};
	Firing	   *firings;

	mt_execute_plan(mt_kept_plan(&claim_plan,
								 "SELECT id, trigger_name, source_event_id, user_id, event_at, due_at, is_absence, recheck "
								 "FROM microtrigger.firings WHERE state = 'waiting' AND due_at <= $1 "
								 "ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED", 2, argtypes),
					values, NULL, false, 0, SPI_OK_SELECT);
	firings = palloc(sizeof(Firing) * Max(SPI_processed, 1));
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		Firing	   *f = &firings[row];

		f->id = DatumGetInt64(mt_spi_datum(row, 1, &isnull));
		f->trigger_name = mt_spi_text(row, 2);
		f->source_event_id = DatumGetInt64(mt_spi_datum(row, 3, &isnull));
		f->user_id = mt_spi_text(row, 4);
		f->event_at = DatumGetTimestampTz(mt_spi_datum(row, 5, &isnull));
		f->due_at = DatumGetTimestampTz(mt_spi_datum(row, 6, &isnull));
		f->is_absence = DatumGetBool(mt_spi_datum(row, 7, &isnull));
		f->recheck = DatumGetBool(mt_spi_datum(row, 8, &isnull));
	}
	*out = firings;
	return (int) SPI_processed;
}

/* Acts on up to limit due firings (all when limit <= 0); returns how many. */
static int
run_firings(TimestampTz as_of, int limit, MemoryContext batch_context)
{
	int			done = 0;

	for (;;)
	{
		Firing	   *firings;
		int			n;
		int			want = limit > 0 ? Min(limit - done, 500) : 500;
		MemoryContext old;

		if (want <= 0)
			break;
		MemoryContextReset(batch_context);
		old = MemoryContextSwitchTo(batch_context);
		n = claim_firings(as_of, want, &firings);
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			process_firing_safely(&firings[i], as_of);
			SPI_freetuptable(SPI_tuptable);
		}
		MemoryContextSwitchTo(old);
		done += n;
		if (n < want)
			break;
	}
	return done;
}

/* Does the work due at as_of: firings, then journeys (each up to limit; all when limit <= 0). */
int
mt_run_pending(TimestampTz as_of, int limit)
{
	int			done;
	MemoryContext batch_context;

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	mt_rulecache_ensure();
	/* segment windows first: their enter/exit events may fire triggers acted on below */
	done = mt_segments_run_pending(as_of, limit);
	mt_rulecache_ensure();
	mt_rulecache_pin();
	batch_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger run_pending batch",
										  ALLOCSET_DEFAULT_SIZES);
	done += run_firings(as_of, limit, batch_context);
	done += mt_run_journeys(as_of, limit, batch_context);
	MemoryContextDelete(batch_context);
	mt_rulecache_unpin();
	SPI_finish();
	return done;
}

/* The earliest due time of any waiting work, or DT_NOEND. */
TimestampTz
mt_next_due(void)
{
	TimestampTz result = DT_NOEND;
	bool		isnull;
	Datum		value;

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	mt_execute_plan(mt_kept_plan(&next_due_plan,
								 "SELECT least((SELECT min(due_at) FROM microtrigger.firings WHERE state = 'waiting'), "
								 "(SELECT min(next_at) FROM microtrigger.journeys WHERE status = 'active'))", 0, NULL),
					NULL, NULL, false, 1, SPI_OK_SELECT);
	value = mt_spi_datum(0, 1, &isnull);
	if (!isnull)
		result = DatumGetTimestampTz(value);
	SPI_finish();
	return Min(result, mt_segments_next_due());
}

/* SQL: microtrigger.run_pending(as_of timestamptz DEFAULT now()) RETURNS integer. */
Datum
mt_run_pending_sql(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = PG_ARGISNULL(0) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(0);

	PG_RETURN_INT32(mt_run_pending(as_of, 0));
}
