/*
 * firings.c: run_pending — the driver of acting on firings, in batches through the stages
 *   claim (here: FOR UPDATE SKIP LOCKED, then the users' locks) -> load (act_load.c: the batch's
 *   events, contacts, segments, last pages, templates and cooldown state, set-based) -> decide
 *   (here and policy.c: rule gone, event gone, recheck, absence, cooldown, consent) -> enrich
 *   (the context query as the trigger's owner) -> render (render_context.c, email_queue.c) -> write
 *   (email_queue.c, journeys.c; the firing's state here)
 * with a decision for every outcome. Each firing is one subtransaction, so a failure becomes a
 * decision and never blocks the queue. Journeys due at as_of are advanced after the firings.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "act_batch.h"
#include "act_load.h"
#include "act_write.h"
#include "attribution.h"
#include "condition_eval.h"
#include "engine.h"
#include "engine_internal.h"
#include "enrich.h"
#include "event_history.h"
#include "journeys.h"
#include "policy.h"
#include "render.h"
#include "render_context.h"
#include "rule_cache.h"
#include "segment_expiry.h"
#include "subxact.h"
#include "trigger_rows.h"
#include "user_lock.h"

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
	uint32		lock_hash;		/* names the user's lock (user_lock.h) */
	bool		deferred;		/* its user's lock could not be taken now: left for a later run */
	bool		recheck;		/* ingest could not decide the condition or history */
	bool		window_known;	/* an absence window whose cancelling event was looked up */
	int64		cancelling;		/* then: the first event that cancels it, 0 when none */
} Firing;

static SPIPlanPtr claim_plan;
static SPIPlanPtr firing_done_plan;
static SPIPlanPtr next_due_plan;
static SPIPlanPtr trigger_enabled_plan;

/* microtrigger.context_timeout: the longest a context query may run, in ms (0: no limit). */
static int	context_timeout_ms = 2000;

/* Defines the engine's settings (called from _PG_init). */
void
mt_engine_init(void)
{
	DefineCustomIntVariable("microtrigger.context_timeout",
							"Longest time a trigger's context query may run; then the decision is context_timeout.",
							"0 means no limit. Only a superuser can change it: it protects every author's triggers from one author's slow query.",
							&context_timeout_ms, 2000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
}

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

/*
 * Records that the firing cannot be scheduled (its window or delay reaches past the last
 * timestamp, e.g. after the definition changed); returns the outcome.
 */
static const char *
unschedulable(const MtDecisionKey *key, TimestampTz as_of, const char *field)
{
	const char *keys[3] = {"field", "error", "stage"};
	const char *texts[3] = {field, mt_unschedulable_reason(field), "run_pending"};

	mt_record_decision(key, as_of, "unschedulable", mt_detail_object(3, keys, texts));
	return "unschedulable";
}

/*
 * A firing whose trigger the rule cache does not have: really disabled or deleted, or only newer
 * than the cache (built earlier in this transaction, before the claim's snapshot saw the firing
 * the new trigger wrote). The table, read now, tells; a newer trigger is a transient conflict, so
 * the firing waits for the next run, whose cache has it, instead of ending trigger_disabled.
 */
static void
check_trigger_really_gone(const Firing *firing)
{
	static const Oid argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(firing->trigger_name)};

	mt_execute_plan(mt_kept_plan(&trigger_enabled_plan,
								 "SELECT 1 FROM microtrigger.triggers WHERE name = $1 AND enabled",
								 1, argtypes), values, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("trigger \"%s\" is newer than this session's rule cache", firing->trigger_name),
				 errdetail("The firing is acted on by the next run.")));
}

/* Do two plans render the same: the same local hour, weekday (and so daypart)? */
static bool
same_moment(const MtSendPlan *a, const MtSendPlan *b)
{
	if (a->has_local != b->has_local)
		return false;
	return !a->has_local || (a->local.hour == b->local.hour && a->local.weekday == b->local.weekday);
}

/* Decides and acts on one firing; returns the outcome written on the firing row. */
static const char *
process_firing(const Firing *firing, TimestampTz as_of, MtActData *data)
{
	MtRule	   *rule = mt_rulecache_lookup(firing->trigger_name);
	MtDecisionKey key = firing_key(firing);
	MtDocument	event_doc;
	Jsonb	   *source_params;
	MtLoadedEvent *event;
	MtLoadedUser *user;
	MtContact	no_contact = {0};
	const MtContact *contact;
	const char *refusal;
	Jsonb	   *profile = NULL;
	Jsonb	   *context = NULL;
	MtSendPlan	context_plan = {0};
	const char *device;
	TimestampTz trigger_time;
	TimestampTz send_after;
	bool		acted = false;
	bool		capped = false;
	bool		needs_email = false;

	if (rule == NULL)
	{
		check_trigger_really_gone(firing);
		mt_record_decision(&key, as_of, "trigger_disabled",
						   mt_detail1("reason", "the trigger was disabled or deleted before it acted"));
		return "trigger_disabled";
	}
	if ((event = mt_act_event(data, firing->source_event_id)) == NULL)
	{
		mt_record_decision(&key, as_of, "event_missing", NULL);
		return "event_missing";
	}
	source_params = event->params;
	mt_document_init_event(&event_doc, source_params, firing->user_id, strlen(firing->user_id),
						   event->event_type, strlen(event->event_type), event->session_id,
						   event->session_id ? strlen(event->session_id) : 0, event->occurred_at);
	if (!mt_time_is_finite(firing->event_at))
		return unschedulable(&key, as_of, "occurred_at");
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
		TimestampTz window_end;
		int64		cancelling;

		if (!mt_time_add(firing->event_at, rule->trigger->unless.within, &window_end))
			return unschedulable(&key, as_of, "$.unless.within");
		cancelling = firing->window_known ? firing->cancelling
			: mt_first_matching_event(&rule->trigger->unless, firing->user_id, firing->event_at,
									  window_end, firing->source_event_id, source_params);

		if (cancelling != 0)
		{
			mt_record_decision(&key, as_of, "cancelled_by_event",
							   mt_detail1("cancelled_by", psprintf(INT64_FORMAT, cancelling)));
			return "cancelled_by_event";
		}
	}
	trigger_time = firing->is_absence ? firing->due_at : firing->event_at;
	if (!mt_time_add(trigger_time, rule->trigger->delay, &send_after))
		return unschedulable(&key, as_of, "$.delay");
	/* acted on too long after its trigger time (a backfill, a long outage): nobody is mailed */
	if (mt_policy_stale(&rule->trigger->timing, trigger_time, &key, as_of))
		return "stale";
	if (mt_policy_in_cooldown(data, rule->trigger, firing->user_id, firing->id, firing->event_at))
	{
		mt_record_decision(&key, as_of, "cooldown", NULL);
		return "cooldown";
	}
	for (int a = 0; a < rule->trigger->n_actions; a++)
		if (rule->trigger->actions[a].kind == MT_ACTION_SEND_EMAIL)
			needs_email = true;
	user = mt_act_user(data, firing->user_id);
	contact = user ? &user->contact : &no_contact;
	if (needs_email && (refusal = mt_contact_refusal(contact, &key, as_of)) != NULL)
		return refusal;
	if (rule->trigger->context_sql)
	{
		char	   *error;
		const char *outcome;

		profile = mt_enrich_context(rule, firing->user_id, context_timeout_ms, &outcome, &error);
		if (profile == NULL)
		{
			mt_record_decision(&key, as_of, outcome, mt_detail1("error", error));
			return outcome;
		}
	}
	device = mt_act_device(event, mt_act_user(data, event->user_id));
	for (int a = 0; a < rule->trigger->n_actions; a++)
	{
		const MtAction *action = &rule->trigger->actions[a];

		if (action->kind == MT_ACTION_SEND_EMAIL)
		{
			MtEmailJob	job = {0};
			MtTiming	timing;
			MtSendPlan	plan;
			MtFatigue	verdict;
			int64		written = 0;

			/* its own timing over the trigger's: stale, then when it goes (optimal, window) */
			mt_timing_merge(&rule->trigger->timing, &action->timing, &timing);
			if (action->timing.has_max_lateness &&
				mt_policy_stale(&timing, trigger_time, &key, as_of))
				continue;
			mt_policy_send_plan(&timing, contact, firing->user_id, send_after, as_of, &plan);
			/* rendered for the moment it will be sent (the same for most actions: kept) */
			if (context == NULL || !same_moment(&plan, &context_plan))
			{
				context = mt_render_context_make(event, mt_act_user(data, event->user_id),
												 firing->trigger_name, profile, data->unsubscribe_key,
												 plan.has_local ? &plan.local : NULL, device);
				context_plan = plan;
			}
			/* fatigue: one email per signal, frequency caps by priority */
			mt_policy_fatigue(data, user, &timing, firing->trigger_name, firing->source_event_id, &plan,
							  &verdict);
			if (verdict.capped)
			{
				mt_policy_record_capped(&verdict, &key, as_of);
				capped = true;
				continue;
			}
			job.key = key;
			job.action_index = a;
			job.to_address = contact->email;
			job.send_after = plan.send_after;
			job.held_until = plan.held_until;
			job.optimal = plan.optimal;
			job.category = timing.category ? timing.category : MT_CATEGORY_DEFAULT;
			job.priority = timing.has_priority ? timing.priority : MT_PRIORITY_DEFAULT;
			job.transactional = timing.transactional;
			job.written_id = &written;
			job.reader = rule->owner;
			job.loaded = data;
			if (mt_queue_email(action, &job, context, as_of))
			{
				acted = true;
				mt_policy_after_queued(data, user, &verdict, &timing, &key, written, &plan, as_of);
			}
		}
		else
			acted |= mt_journey_start(action->sequence_name, &key, send_after, as_of);
	}
	return acted ? "queued" : capped ? "capped" : "not_queued";
}

/* A firing and the clock, for the subtransaction. */
typedef struct FiringWork
{
	const Firing *firing;
	TimestampTz as_of;
	MtActData  *data;
	const char *outcome;
} FiringWork;

/* Decides, acts and marks the firing done (its user's lock is held: see lock_batch). */
static void
firing_work(void *arg)
{
	FiringWork *work = arg;

	work->outcome = process_firing(work->firing, work->as_of, work->data);
	finish_firing(work->firing, work->outcome);
}

/*
 * Processes one firing in a subtransaction: an unexpected error becomes an "error" decision. A
 * transient error (deadlock, serialization failure, lock not available) leaves the firing waiting
 * for a later run instead; returns true then.
 */
static bool
process_firing_safely(const Firing *firing, TimestampTz as_of, MtActData *data)
{
	FiringWork	work = {firing, as_of, data, NULL};
	ErrorData  *edata = mt_run_in_subtransaction(firing_work, &work, true);

	/* committed: later firings of the batch see it in the cooldown */
	if (edata == NULL && strcmp(work.outcome, "queued") == 0)
		mt_act_note_queued(data, firing->trigger_name, firing->user_id, firing->id, firing->event_at);
	if (edata != NULL && mt_error_is_transient(edata))
	{
		ereport(DEBUG1, (errmsg("firing " INT64_FORMAT " is left for a later run: %s", firing->id, edata->message)));
		return true;
	}
	if (edata != NULL)
	{
		MtDecisionKey key = firing_key(firing);

		mt_record_decision(&key, as_of, "error", mt_detail1("error", edata->message));
		finish_firing(firing, "error");
	}
	return false;
}

/* A claimed batch and what it loaded, for its subtransaction. */
typedef struct BatchWork
{
	const Firing *firings;
	int			n;
	TimestampTz as_of;
	MtActData  *data;
	MemoryContext cxt;
} BatchWork;

/* Decides and acts on every firing of the batch (not left for later), then writes them all. */
static void
batch_work(void *arg)
{
	BatchWork  *work = arg;
	MemoryContext batch = CurrentMemoryContext;
	/* what one firing builds (its render context, its rendered parts) lives until the next one:
	 * kept for the whole batch it was tens of MB, given back and faulted in again every batch */
	MemoryContext scratch = AllocSetContextCreate(work->cxt, "microtrigger firing",
												  ALLOCSET_DEFAULT_SIZES);

	mt_write_begin(work->cxt);
	mt_render_batch_begin(work->cxt);
	for (int i = 0; i < work->n; i++)
	{
		const Firing *firing = &work->firings[i];
		const char *outcome;

		if (firing->deferred)
			continue;
		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(scratch);
		outcome = process_firing(firing, work->as_of, work->data);
		MemoryContextSwitchTo(batch);
		/* (an outcome is a literal: it outlives the scratch context) */
		mt_write_firing(firing->id, outcome);
		if (strcmp(outcome, "queued") == 0)
			mt_act_note_queued(work->data, firing->trigger_name, firing->user_id, firing->id,
							   firing->event_at);
		MemoryContextReset(scratch);
	}
	mt_write_flush();
}

/*
 * Acts on a claimed batch in one subtransaction, its writes one statement each; false when it
 * failed and was rolled back (then each firing is replayed in a subtransaction of its own, so
 * one poison firing becomes its own `error` decision).
 */
static bool
run_batch(const Firing *firings, int n, TimestampTz as_of, MtActData *data, MemoryContext cxt)
{
	BatchWork	work = {firings, n, as_of, data, cxt};
	int			noted = data->n_queued;
	ErrorData  *edata = mt_act_run_batch(batch_work, &work);

	if (edata == NULL)
		return true;
	ereport(DEBUG1, (errmsg("a batch of %d firings is replayed one by one: %s", n, edata->message)));
	data->n_queued = noted;		/* what the rolled-back batch noted for the cooldown is gone */
	mt_act_reload_mails(data);	/* and for the caps */
	return false;
}

/*
 * Takes the user locks of a claimed batch before acting on any of it (user_lock.h): a concurrent
 * run_pending acting on the same user waits, then sees this one's outcome, so the cooldown holds
 * and one journey starts. A lock that cannot be taken now leaves its user's firings waiting for a
 * later run.
 */
static void
lock_batch(Firing *firings, int n)
{
	MtUserLockItem *items = palloc(sizeof(MtUserLockItem) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		items[i].user_id = firings[i].user_id;
		items[i].hash = firings[i].lock_hash;
		items[i].deferred = false;
	}
	mt_user_lock_batch(items, n, "firings");
	for (int i = 0; i < n; i++)
		firings[i].deferred = items[i].deferred;
	pfree(items);
}

/*
 * Claims up to limit due firings, not those left for a later run (skip, an int8[]); returns them
 * in a palloc'd array, in due order.
 */
static int
claim_firings(TimestampTz as_of, int limit, Datum skip, Firing **out)
{
	static const Oid argtypes[3] = {TIMESTAMPTZOID, INT4OID, INT8ARRAYOID};
	Datum		values[3] = {TimestampTzGetDatum(as_of), Int32GetDatum(limit), skip};
	MemoryContext cxt = CurrentMemoryContext;
	Firing	   *firings;
	int			n;

	mt_execute_plan(mt_kept_plan(&claim_plan,
								 "SELECT id, trigger_name, source_event_id, user_id, event_at, due_at, is_absence, recheck "
								 "FROM microtrigger.firings WHERE state = 'waiting' AND due_at <= $1 "
								 "AND id <> ALL ($3) "
								 "ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED", 3, argtypes),
					values, NULL, false, 0, SPI_OK_SELECT);
	/* back to the batch's context: SPI leaves its own current, which lives until SPI_finish */
	MemoryContextSwitchTo(cxt);
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
		f->lock_hash = mt_user_lock_hash(f->user_id);
		f->deferred = false;
		f->recheck = DatumGetBool(mt_spi_datum(row, 8, &isnull));
		f->window_known = false;
		f->cancelling = 0;
	}
	*out = firings;
	n = (int) SPI_processed;
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * The load stage for a claimed batch: what its firings (those not left for later) need, in a
 * few statements (act_load.c), after their users' locks, so the cooldown state is current.
 */
static MtActData *
load_batch(const Firing *firings, int n, TimestampTz as_of)
{
	MtActRequest request = {0};

	request.event_ids = palloc(sizeof(int64) * Max(n, 1));
	request.user_ids = palloc(sizeof(char *) * Max(n, 1));
	request.cd_triggers = palloc(sizeof(char *) * Max(n, 1));
	request.cd_users = palloc(sizeof(char *) * Max(n, 1));
	request.cd_from = palloc(sizeof(TimestampTz) * Max(n, 1));
	request.cd_to = palloc(sizeof(TimestampTz) * Max(n, 1));
	request.want_key = true;
	for (int i = 0; i < n; i++)
	{
		const Firing *f = &firings[i];
		MtRule	   *rule;
		int			c = request.n_cooldowns;

		if (f->deferred)
			continue;
		request.event_ids[request.n_event_ids++] = f->source_event_id;
		request.user_ids[request.n_user_ids++] = f->user_id;
		if ((rule = mt_rulecache_lookup(f->trigger_name)) == NULL)
			continue;
		if (mt_policy_cooldown_window(f->event_at, rule->trigger->cooldown, &request.cd_from[c],
									  &request.cd_to[c]))
		{
			request.cd_triggers[c] = f->trigger_name;
			request.cd_users[c] = f->user_id;
			request.n_cooldowns++;
		}
		for (int a = 0; a < rule->trigger->n_actions; a++)
			mt_act_want_action_templates(&request, &rule->trigger->actions[a]);
	}
	return mt_act_load(&request, as_of);
}

/*
 * The load stage's last part: the cancelling event of every absence window the batch closes,
 * looked up for the whole batch at once (one query per distinct clause, event_history.c).
 */
static void
check_windows(Firing *firings, int n, const MtActData *data)
{
	MtWindowQuery *queries = palloc(sizeof(MtWindowQuery) * Max(n, 1));
	Firing	  **of = palloc(sizeof(Firing *) * Max(n, 1));
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		Firing	   *f = &firings[i];
		MtRule	   *rule;
		MtLoadedEvent *event;
		TimestampTz window_end;

		if (f->deferred || !f->is_absence || !mt_time_is_finite(f->event_at) ||
			(rule = mt_rulecache_lookup(f->trigger_name)) == NULL ||
			(event = mt_act_event(data, f->source_event_id)) == NULL ||
			!mt_time_add(f->event_at, rule->trigger->unless.within, &window_end))
			continue;
		queries[m].clause = &rule->trigger->unless;
		queries[m].user_id = f->user_id;
		queries[m].from = f->event_at;
		queries[m].to = window_end;
		queries[m].exclude_event_id = f->source_event_id;
		queries[m].source_params = event->params;
		of[m++] = f;
	}
	mt_first_matching_events(queries, m);
	for (int i = 0; i < m; i++)
	{
		of[i]->window_known = true;
		of[i]->cancelling = queries[i].match;
	}
}

/*
 * Acts on up to limit due firings (all when limit <= 0); returns how many. A firing left for a
 * later run (a transient error) is not counted and not claimed again in this run.
 */
static int
run_firings(TimestampTz as_of, int limit, MemoryContext batch_context)
{
	int			done = 0;
	int64	   *deferred = palloc(sizeof(int64) * 16);
	int			n_deferred = 0;
	int			deferred_cap = 16;

	for (;;)
	{
		Firing	   *firings;
		MtActData  *data;
		bool		batched;
		int			n;
		int			want = limit > 0 ? Min(limit - done, 500) : 500;
		MemoryContext old;

		if (want <= 0)
			break;
		MemoryContextReset(batch_context);
		old = MemoryContextSwitchTo(batch_context);
		n = claim_firings(as_of, want, mt_int8_array_param(deferred, n_deferred, INT8OID), &firings);
		lock_batch(firings, n);
		data = load_batch(firings, n, as_of);
		check_windows(firings, n, data);
		/* the batch at once; only if that fails, each firing in a subtransaction of its own */
		batched = n > 0 && run_batch(firings, n, as_of, data, batch_context);
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (firings[i].deferred || (!batched && process_firing_safely(&firings[i], as_of, data)))
			{
				if (n_deferred == deferred_cap)
				{
					deferred_cap *= 2;
					deferred = repalloc(deferred, sizeof(int64) * deferred_cap);
				}
				deferred[n_deferred++] = firings[i].id;
			}
			else
				done++;
			if (!batched)
				SPI_freetuptable(SPI_tuptable);
		}
		mt_release_session_user_locks();
		MemoryContextSwitchTo(old);
		if (n < want)
			break;
	}
	pfree(deferred);
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
	/* goal events since the last run: conversions (attribution.c; not counted as actions) */
	mt_attribute_goals(as_of);
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
								 "SELECT least((SELECT pg_catalog.min(due_at) FROM microtrigger.firings WHERE state = 'waiting'), "
								 "(SELECT pg_catalog.min(next_at) FROM microtrigger.journeys WHERE status = 'active'))", 0, NULL),
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

	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("run_pending: as_of must be a finite timestamp, not %s",
							   as_of == DT_NOBEGIN ? "-infinity" : "infinity")));
	PG_RETURN_INT32(mt_run_pending(as_of, 0));
}
