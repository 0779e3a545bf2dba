/*
 * journeys.c: sequences as journeys. A journey is a user's run through a sequence's compiled
 * step program (sequence_def.c): its position is `step` and it next acts at `next_at`. Sends are
 * keyed by (journey, step) in the outbox, so no step is sent twice; an exit event ends the
 * journey and cancels its queued emails, decided both at ingest (at once) and from the events
 * table when the journey advances (so late events count). Due journeys are advanced in batches
 * through the stages of acting (claim, the users' locks, load with act_load.c and the exit
 * windows with event_history.c, decide here, render with the C render context, write with
 * act_write.c), one subtransaction per batch, replayed one journey per subtransaction when it
 * fails.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "act_batch.h"
#include "act_load.h"
#include "act_write.h"
#include "event_history.h"
#include "journeys.h"
#include "jsonc_bridge.h"
#include "policy.h"
#include "sequence_cache.h"
#include "sequence_def.h"
#include "render.h"
#include "render_context.h"
#include "subxact.h"
#include "user_lock.h"
#include "wakeup.h"

/* A journey claimed for advancing. */
typedef struct Journey
{
	int64		id;
	char	   *user_id;
	char	   *sequence_name;
	int			step;
	TimestampTz next_at;
	TimestampTz started_at;
	int64		source_event_id;
	char	   *trigger_name;
	bool		deferred;		/* its user's lock could not be taken now: left for a later run */
	bool		exit_known;		/* its exit window was looked up for the batch */
	int64		exit_event;		/* then: the first exit event in it, 0 when none */
} Journey;

static SPIPlanPtr claim_plan;
static SPIPlanPtr reentry_plan;
static SPIPlanPtr start_plan;
static SPIPlanPtr active_plan;

/* Loads and compiles every sequence when the cache is missing or stale (sequence_cache.c). */
void
mt_journeys_ensure(void)
{
	mt_sequence_cache_ensure();
}

/* The compiled sequence of that name, or NULL. */
static MtSequence *
lookup_sequence(const char *name)
{
	return mt_sequence_cache_lookup(name, NULL);
}

/* The owner of the compiled sequence of that name, or InvalidOid. */
static Oid
lookup_sequence_owner(const char *name)
{
	Oid			owner;

	mt_sequence_cache_lookup(name, &owner);
	return owner;
}

/* Does any sequence have an exit clause? (of those loaded by the last mt_journeys_ensure) */
bool
mt_journeys_have_exits(void)
{
	const MtSequenceSet *set = mt_sequence_cache_loaded();

	for (int i = 0; set != NULL && i < set->n; i++)
		if (set->sequences[i]->has_exit)
			return true;
	return false;
}

/* Could an event of this type end some journey? (of those loaded by the last mt_journeys_ensure) */
bool
mt_journeys_exit_types_match(const char *event_type, int len)
{
	const MtSequenceSet *set = mt_sequence_cache_loaded();

	for (int i = 0; set != NULL && i < set->n; i++)
		if (set->sequences[i]->has_exit && mt_clause_accepts_type(&set->sequences[i]->exit, event_type, len))
			return true;
	return false;
}

/* Starts a journey unless one is active or re-entry is too soon; records the decision. */
bool
mt_journey_start(const char *sequence_name, const MtDecisionKey *trigger_key, TimestampTz start_at,
				 TimestampTz as_of)
{
	MtSequence *sequence;
	MtDecisionKey key = *trigger_key;
	Datum		values[6];
	char		nulls[6] = "      ";
	bool		isnull;

	mt_journeys_ensure();
	key.sequence_name = sequence_name;
	if ((sequence = lookup_sequence(sequence_name)) == NULL)
	{
		mt_record_decision(&key, as_of, "sequence_missing", NULL);
		return false;
	}
	if (sequence->reentry > 0)
	{
		static const Oid argtypes[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};

		values[0] = CStringGetTextDatum(key.user_id);
		values[1] = CStringGetTextDatum(sequence_name);
		values[2] = TimestampTzGetDatum(mt_time_add_saturated(start_at, -sequence->reentry));
		/* planned at every call: journeys grows during the run (a plan kept from its empty look
		 * would scan it for every start instead of using journeys_reentry) */
		mt_execute_plan(mt_kept_plan_opts(&reentry_plan,
										  "SELECT 1 FROM microtrigger.journeys WHERE user_id = $1 AND sequence_name = $2 "
										  "AND started_at > $3 LIMIT 1", 3, argtypes, CURSOR_OPT_CUSTOM_PLAN),
						values, NULL, false, 1, SPI_OK_SELECT);
		if (SPI_processed > 0)
		{
			mt_record_decision(&key, as_of, "reentry_blocked", NULL);
			return false;
		}
	}
	{
		static const Oid argtypes[6] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, TEXTOID};

		values[0] = CStringGetTextDatum(key.user_id);
		values[1] = CStringGetTextDatum(sequence_name);
		values[2] = TimestampTzGetDatum(start_at);
		values[3] = TimestampTzGetDatum(start_at);
		values[4] = Int64GetDatum(key.source_event_id);
		values[5] = key.trigger_name ? CStringGetTextDatum(key.trigger_name) : (Datum) 0;
		nulls[5] = key.trigger_name ? ' ' : 'n';
		mt_execute_plan(mt_kept_plan(&start_plan,
									 "INSERT INTO microtrigger.journeys (user_id, sequence_name, status, step, next_at, started_at, "
									 "source_event_id, trigger_name) VALUES ($1, $2, 'active', 0, $3, $4, $5, $6) "
									 "ON CONFLICT DO NOTHING RETURNING id", 6, argtypes),
						values, nulls, false, 0, SPI_OK_INSERT_RETURNING);
	}
	if (SPI_processed == 0)
	{
		mt_record_decision(&key, as_of, "already_in_journey", NULL);
		return false;
	}
	mt_record_decision(&key, as_of, "journey_started",
					   mt_detail1("journey_id", psprintf(INT64_FORMAT, DatumGetInt64(mt_spi_datum(0, 1, &isnull)))));
	mt_wake_worker_at_commit();
	return true;
}

/* Ends a journey early and cancels its queued emails; records the decision (act_write.c). */
static void
exit_journey(int64 journey_id, const MtDecisionKey *key, const char *reason, TimestampTz at,
			 TimestampTz as_of)
{
	mt_write_journey(journey_id, MT_JOURNEY_EXIT, 0, 0, at, reason, key, as_of);
}

/*
 * Ends a journey whose next step would be past the last timestamp (a wait from the end of
 * time): exited, saying why in an unschedulable decision. What it queued before stays queued.
 */
static void
end_unschedulable(int64 journey_id, const MtDecisionKey *key, const char *field, TimestampTz at,
				  TimestampTz as_of)
{
	const char *keys[3] = {"field", "error", "stage"};
	const char *texts[3] = {field, mt_unschedulable_reason(field), "run_pending"};

	mt_write_journey(journey_id, MT_JOURNEY_UNSCHEDULABLE, 0, 0, at, NULL, key, as_of);
	mt_record_decision(key, as_of, "unschedulable", mt_detail_object(3, keys, texts));
}

/* Does the exit clause match this event of the journey's user (type checked by the caller)? */
static bool
exit_matches(const MtSequence *sequence, MtDocument *doc, Jsonb *params, Jsonb *source_params)
{
	if (sequence->exit.condition != NULL && !mt_condition_eval(sequence->exit.condition, doc))
		return false;
	for (int i = 0; i < sequence->exit.n_same; i++)
		if (source_params == NULL || !mt_same_param(source_params, params, sequence->exit.same[i]))
			return false;
	return true;
}

/* Is the user in the segment (as the batch loaded the user's memberships)? */
static bool
in_segment(const char *segment, const MtLoadedUser *user)
{
	for (int i = 0; user != NULL && i < user->n_segments; i++)
		if (strcmp(user->segments[i], segment) == 0)
			return true;
	return false;
}

/*
 * Does the contact match the condition? It sees the contact's attributes with user_id, email
 * and timezone over them (as `attributes || jsonb_build_object(...)`), as loaded for the batch.
 */
static bool
profile_matches(const MtCondition *condition, const MtLoadedUser *user)
{
	JsonbParseState *state = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	const MtContact *contact = user ? &user->contact : NULL;
	const char *keys[3] = {"user_id", "email", "timezone"};
	const char *texts[3];
	MtDocument	doc;

	if (contact == NULL || !contact->found)
		return false;
	texts[0] = user->user_id;
	texts[1] = contact->email;
	texts[2] = contact->timezone;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (contact->attributes != NULL && JB_ROOT_IS_OBJECT(contact->attributes))
	{
		it = JsonbIteratorInit(&contact->attributes->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_KEY || tok == WJB_VALUE)
				pushJsonbValue(&state, tok, &v);
	}
	for (int i = 0; i < 3; i++)
	{
		v.type = jbvString;
		v.val.string.val = (char *) keys[i];
		v.val.string.len = strlen(keys[i]);
		pushJsonbValue(&state, WJB_KEY, &v);
		if (texts[i] == NULL)
			v.type = jbvNull;
		else
		{
			v.type = jbvString;
			v.val.string.val = (char *) texts[i];
			v.val.string.len = strlen(texts[i]);
		}
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	mt_document_init_jsonb(&doc, JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
	return mt_condition_eval(condition, &doc);
}

/* Does a branch arm's test hold at time t? */
static bool
arm_holds(const MtBranchArm *arm, const Journey *journey, const MtLoadedUser *user,
		  MtDocument *source_doc, TimestampTz t)
{
	switch (arm->kind)
	{
		case MT_TEST_IN_SEGMENT:
			return in_segment(arm->segment, user);
		case MT_TEST_HISTORY:
			return mt_count_passes(&arm->history,
								   mt_history_count(&arm->history, cstring_to_text(journey->user_id), t));
		case MT_TEST_PROFILE:
			return profile_matches(arm->condition, user);
		case MT_TEST_EVENT:
			return source_doc != NULL && mt_condition_eval(arm->condition, source_doc);
	}
	return false;
}

/*
 * Runs a journey from its step until a wait or the end, on what the load stage read for its
 * batch (data); returns the number of emails queued. Its writes are kept while the batch keeps
 * them (act_write.c), else written at once.
 */
static int
advance_journey(const Journey *journey, TimestampTz as_of, MtActData *data)
{
	MtSequence *sequence = lookup_sequence(journey->sequence_name);
	MtDecisionKey key = {journey->user_id, journey->trigger_name, journey->sequence_name,
	journey->source_event_id};
	TimestampTz t = journey->next_at;
	MtDocument	source_doc;
	MtLoadedEvent *event = NULL;
	MtLoadedUser *user;
	MtContact	no_contact = {0};
	const MtContact *contact;
	Jsonb	   *context;
	int			queued = 0;
	int			pc = journey->step;

	if (sequence == NULL)
	{
		exit_journey(journey->id, &key, "the sequence was deleted", t, as_of);
		return 0;
	}
	if (journey->source_event_id != 0 && (event = mt_act_event(data, journey->source_event_id)) != NULL)
		mt_document_init_event(&source_doc, event->params, journey->user_id, strlen(journey->user_id),
							   event->event_type, strlen(event->event_type), event->session_id,
							   event->session_id ? strlen(event->session_id) : 0, event->occurred_at);
	if (sequence->has_exit)
	{
		/* an exit event that occurred during the journey, however late it arrived */
		int64		exit_event = journey->exit_known ? journey->exit_event
			: mt_first_matching_event(&sequence->exit, journey->user_id, journey->started_at, t,
									  journey->source_event_id, event ? event->params : NULL);

		if (exit_event != 0)
		{
			exit_journey(journey->id, &key, psprintf("exit event " INT64_FORMAT, exit_event), t, as_of);
			return 0;
		}
	}
	user = mt_act_user(data, journey->user_id);
	contact = user ? &user->contact : &no_contact;
	for (int guard = 0; guard <= sequence->n_steps && pc >= 0 && pc < sequence->n_steps; guard++)
	{
		const MtStep *step = &sequence->steps[pc];

		switch (step->kind)
		{
			case MT_STEP_SEND:
				{
					const char *refusal = mt_contact_refusal(contact, &key, as_of);
					MtEmailJob	job = {0};

					if (refusal != NULL && strcmp(refusal, "unsubscribed") == 0)
					{
						exit_journey(journey->id, &key, "unsubscribed", t, as_of);
						return queued;
					}
					if (refusal == NULL && event != NULL)
					{
						MtTiming	timing;
						MtSendPlan	plan;
						MtFatigue	verdict;
						int64		written = 0;

						/* when it goes (optimal, window), and rendered for that moment; the
						 * context is the event's user's (a journey's user is its starting event's) */
						mt_timing_merge(NULL, &step->send.timing, &timing);
						mt_policy_send_plan(&timing, contact, journey->user_id, t, as_of, &plan);
						context = mt_render_context_make(event, mt_act_user(data, event->user_id),
														 journey->trigger_name, NULL,
														 data->unsubscribe_key,
														 plan.has_local ? &plan.local : NULL,
														 mt_act_device(event, mt_act_user(data, event->user_id)));
						/* fatigue: frequency caps by priority (a capped step is skipped) */
						mt_policy_fatigue(data, user, &timing, NULL, 0, &plan, &verdict);
						if (verdict.capped)
						{
							mt_policy_record_capped(&verdict, &key, as_of);
							pc++;
							break;
						}
						job.key = key;
						job.journey_id = journey->id;
						job.step = pc;
						job.to_address = contact->email;
						job.send_after = plan.send_after;
						job.held_until = plan.held_until;
						job.optimal = plan.optimal;
						job.category = timing.category ? timing.category : MT_CATEGORY_DEFAULT;
						job.priority = timing.has_priority ? timing.priority : MT_PRIORITY_DEFAULT;
						job.transactional = timing.transactional;
						job.written_id = &written;
						job.reader = lookup_sequence_owner(journey->sequence_name);
						job.loaded = data;
						if (mt_queue_email(&step->send, &job, context, as_of))
						{
							mt_policy_after_queued(data, user, &verdict, &timing, &key, written, &plan, as_of);
							queued++;
							/* the next wait counts from when this one goes */
							t = plan.send_after;
						}
					}
					else if (event == NULL)
						mt_record_decision(&key, as_of, "event_missing", NULL);
					pc++;
					break;
				}
			case MT_STEP_WAIT:
				{
					TimestampTz next_at;

					if (!mt_time_add(t, step->wait, &next_at))
					{
						end_unschedulable(journey->id, &key, psprintf("%s.wait", step->path), t, as_of);
						return queued;
					}
					mt_write_journey(journey->id, MT_JOURNEY_WAIT, pc + 1, next_at, 0, NULL, &key, as_of);
					return queued;
				}
			case MT_STEP_BRANCH:
				{
					int			next = step->else_target;

					for (int a = 0; a < step->n_arms; a++)
						if (arm_holds(&step->arms[a], journey, user, event ? &source_doc : NULL, t))
						{
							next = step->arms[a].target;
							break;
						}
					pc = next;
					break;
				}
			case MT_STEP_JUMP:
				pc = step->target;
				break;
			case MT_STEP_END:
				mt_write_journey(journey->id, MT_JOURNEY_COMPLETE, pc, 0, t, NULL, &key, as_of);
				mt_record_decision(&key, as_of, "journey_completed", NULL);
				return queued;
		}
	}
	ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
					errmsg("journey " INT64_FORMAT " of sequence \"%s\" did not reach a wait or its end",
						   journey->id, journey->sequence_name)));
	return queued;
}

/* A journey and the clock, for the subtransaction. */
typedef struct JourneyWork
{
	const Journey *journey;
	TimestampTz as_of;
	MtActData  *data;
} JourneyWork;

/* Advances the journey. */
static void
journey_work(void *arg)
{
	JourneyWork *work = arg;

	(void) advance_journey(work->journey, work->as_of, work->data);
}

/*
 * Advances one journey in a subtransaction: an unexpected error exits it with a decision. A
 * transient error (deadlock, serialization failure, lock not available) leaves the journey at its
 * step for a later run instead; returns true then.
 */
static bool
advance_journey_safely(const Journey *journey, TimestampTz as_of, MtActData *data)
{
	JourneyWork work = {journey, as_of, data};
	ErrorData  *edata = mt_run_in_subtransaction(journey_work, &work, true);

	if (edata != NULL && mt_error_is_transient(edata))
	{
		ereport(DEBUG1, (errmsg("journey " INT64_FORMAT " is left for a later run: %s", journey->id, edata->message)));
		return true;
	}
	if (edata != NULL)
	{
		MtDecisionKey key = {journey->user_id, journey->trigger_name, journey->sequence_name,
		journey->source_event_id};

		exit_journey(journey->id, &key, psprintf("error: %s", edata->message), journey->next_at, as_of);
	}
	return false;
}

/* A claimed batch of journeys and what it loaded, for its subtransaction. */
typedef struct JourneyBatchWork
{
	const Journey *journeys;
	int			n;
	TimestampTz as_of;
	MtActData  *data;
	MemoryContext cxt;
} JourneyBatchWork;

/* Advances every journey of the batch (not left for later), then writes them all. */
static void
journey_batch_work(void *arg)
{
	JourneyBatchWork *work = arg;
	MemoryContext batch = CurrentMemoryContext;
	/* what one journey builds lives until the next one (its writes are kept in work->cxt) */
	MemoryContext scratch = AllocSetContextCreate(work->cxt, "microtrigger journey step",
												  ALLOCSET_DEFAULT_SIZES);

	mt_write_begin(work->cxt);
	mt_render_batch_begin(work->cxt);
	for (int i = 0; i < work->n; i++)
	{
		if (work->journeys[i].deferred)
			continue;
		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(scratch);
		(void) advance_journey(&work->journeys[i], work->as_of, work->data);
		MemoryContextSwitchTo(batch);
		MemoryContextReset(scratch);
	}
	mt_write_flush();
}

/*
 * Advances a claimed batch in one subtransaction, its writes one statement each; false when it
 * failed and was rolled back (then each journey is replayed in a subtransaction of its own, so
 * one poison journey ends with its own error).
 */
static bool
run_journey_batch(const Journey *journeys, int n, TimestampTz as_of, MtActData *data, MemoryContext cxt)
{
	JourneyBatchWork work = {journeys, n, as_of, data, cxt};
	ErrorData  *edata = mt_act_run_batch(journey_batch_work, &work);

	if (edata == NULL)
		return true;
	ereport(DEBUG1, (errmsg("a batch of %d journeys is replayed one by one: %s", n, edata->message)));
	mt_act_reload_mails(data);	/* what the rolled-back batch noted for the caps is gone */
	return false;
}

/*
 * The load stage for a claimed batch of journeys (those not left for later): their starting
 * events, users and the templates of their sequences' send steps (act_load.c); then the exit window of each, looked up for the batch at once.
 */
static MtActData *
load_journeys(Journey *journeys, int n, TimestampTz as_of)
{
	MtActRequest request = {0};
	MtActData  *data;
	MtWindowQuery *windows = palloc(sizeof(MtWindowQuery) * Max(n, 1));
	Journey   **of = palloc(sizeof(Journey *) * Max(n, 1));
	const char **seen = palloc(sizeof(char *) * Max(n, 1));
	int			n_seen = 0;
	int			m = 0;

	request.event_ids = palloc(sizeof(int64) * Max(n, 1));
	request.user_ids = palloc(sizeof(char *) * Max(n, 1));
	request.want_key = true;
	for (int i = 0; i < n; i++)
	{
		const Journey *j = &journeys[i];
		MtSequence *sequence;
		bool		known = false;

		if (j->deferred)
			continue;
		if (j->source_event_id != 0)
			request.event_ids[request.n_event_ids++] = j->source_event_id;
		request.user_ids[request.n_user_ids++] = j->user_id;
		if ((sequence = lookup_sequence(j->sequence_name)) == NULL)
			continue;
		for (int k = 0; k < n_seen && !known; k++)
			known = strcmp(seen[k], sequence->name) == 0;
		if (known)
			continue;
		seen[n_seen++] = sequence->name;
		for (int s = 0; s < sequence->n_steps; s++)
		{
			const MtAction *send = &sequence->steps[s].send;

			if (sequence->steps[s].kind != MT_STEP_SEND)
				continue;
			mt_act_want_action_templates(&request, send);
		}
	}
	data = mt_act_load(&request, as_of);
	for (int i = 0; i < n; i++)
	{
		Journey    *j = &journeys[i];
		MtSequence *sequence;
		MtLoadedEvent *event;

		if (j->deferred || (sequence = lookup_sequence(j->sequence_name)) == NULL || !sequence->has_exit)
			continue;
		event = j->source_event_id != 0 ? mt_act_event(data, j->source_event_id) : NULL;
		windows[m].clause = &sequence->exit;
		windows[m].user_id = j->user_id;
		windows[m].from = j->started_at;
		windows[m].to = j->next_at;
		windows[m].exclude_event_id = j->source_event_id;
		windows[m].source_params = event ? event->params : NULL;
		of[m++] = j;
	}
	mt_first_matching_events(windows, m);
	for (int i = 0; i < m; i++)
	{
		of[i]->exit_known = true;
		of[i]->exit_event = windows[i].match;
	}
	return data;
}

/* Takes the user locks of a claimed batch of journeys (user_lock.h); marks those left for later. */
static void
lock_journeys(Journey *journeys, int n)
{
	MtUserLockItem *items = palloc(sizeof(MtUserLockItem) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		items[i].user_id = journeys[i].user_id;
		items[i].hash = mt_user_lock_hash(journeys[i].user_id);
		items[i].deferred = false;
	}
	mt_user_lock_batch(items, n, "journeys");
	for (int i = 0; i < n; i++)
		journeys[i].deferred = items[i].deferred;
	pfree(items);
}

/*
 * Advances due journeys in batches through the stages of acting: claim (FOR UPDATE SKIP LOCKED),
 * the users' locks, load, then decide, render and write the batch in one subtransaction (a
 * failed batch is replayed one journey per subtransaction); returns how many were advanced. A
 * journey left for a later run (its lock, a transient error) is not counted and not claimed
 * again in this run.
 */
int
mt_run_journeys(TimestampTz as_of, int limit, MemoryContext batch_context)
{
	static const Oid argtypes[3] = {TIMESTAMPTZOID, INT4OID, INT8ARRAYOID};
	int			done = 0;
	int64	   *deferred = palloc(sizeof(int64) * 16);
	int			n_deferred = 0;
	int			deferred_cap = 16;

	mt_journeys_ensure();
	for (;;)
	{
		int			want = limit > 0 ? Min(limit - done, 500) : 500;
		Datum		values[3];
		Journey    *journeys;
		MtActData  *data;
		bool		batched;
		int			n;
		MemoryContext old;

		if (want <= 0)
			break;
		MemoryContextReset(batch_context);
		old = MemoryContextSwitchTo(batch_context);
		values[0] = TimestampTzGetDatum(as_of);
		values[1] = Int32GetDatum(want);
		values[2] = mt_int8_array_param(deferred, n_deferred, INT8OID);
		mt_execute_plan(mt_kept_plan(&claim_plan,
									 "SELECT id, user_id, sequence_name, step, next_at, started_at, source_event_id, trigger_name "
									 "FROM microtrigger.journeys WHERE status = 'active' AND next_at <= $1 "
									 "AND id <> ALL ($3) "
									 "ORDER BY next_at, id LIMIT $2 FOR UPDATE SKIP LOCKED", 3, argtypes),
						values, NULL, false, 0, SPI_OK_SELECT);
		MemoryContextSwitchTo(batch_context);
		n = (int) SPI_processed;
		journeys = palloc0(sizeof(Journey) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		source;

			journeys[i].id = DatumGetInt64(mt_spi_datum(i, 1, &isnull));
			journeys[i].user_id = mt_spi_text(i, 2);
			journeys[i].sequence_name = mt_spi_text(i, 3);
			journeys[i].step = DatumGetInt32(mt_spi_datum(i, 4, &isnull));
			journeys[i].next_at = DatumGetTimestampTz(mt_spi_datum(i, 5, &isnull));
			journeys[i].started_at = DatumGetTimestampTz(mt_spi_datum(i, 6, &isnull));
			source = mt_spi_datum(i, 7, &isnull);
			journeys[i].source_event_id = isnull ? 0 : DatumGetInt64(source);
			journeys[i].trigger_name = mt_spi_text(i, 8);
		}
		SPI_freetuptable(SPI_tuptable);
		lock_journeys(journeys, n);
		data = load_journeys(journeys, n, as_of);
		MemoryContextSwitchTo(batch_context);
		/* the batch at once; only if that fails, each journey in a subtransaction of its own */
		batched = n > 0 && run_journey_batch(journeys, n, as_of, data, batch_context);
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (journeys[i].deferred || (!batched && advance_journey_safely(&journeys[i], as_of, data)))
			{
				if (n_deferred == deferred_cap)
				{
					deferred_cap *= 2;
					deferred = repalloc(deferred, sizeof(int64) * deferred_cap);
				}
				deferred[n_deferred++] = journeys[i].id;
			}
			else
				done++;
		}
		MemoryContextSwitchTo(old);
		if (n < want)
			break;
	}
	pfree(deferred);
	return done;
}

/* Ends the user's active journeys whose exit matches the event. */
static void
exit_on_event(int64 event_id, text *user_id, MtDocument *doc, Jsonb *params)
{
	static const Oid argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2] = {PointerGetDatum(user_id), TimestampTzGetDatum(doc->occurred_at)};
	char	   *user = text_to_cstring(user_id);
	uint64		n;
	Journey    *journeys;

	mt_execute_plan(mt_kept_plan(&active_plan,
								 "SELECT j.id, j.sequence_name, j.trigger_name, j.source_event_id, e.params "
								 "FROM microtrigger.journeys j LEFT JOIN microtrigger.events e ON e.id = j.source_event_id "
								 "WHERE j.user_id = $1 AND j.status = 'active' AND j.started_at <= $2 "
								 "ORDER BY j.id FOR UPDATE OF j", 2, argtypes), values, NULL, false, 0, SPI_OK_SELECT);
	n = SPI_processed;
	journeys = palloc(sizeof(Journey) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		source_params = mt_spi_datum(i, 5, &isnull);
		MtSequence *sequence;

		journeys[i].id = DatumGetInt64(mt_spi_datum(i, 1, &isnull));
		journeys[i].sequence_name = mt_spi_text(i, 2);
		journeys[i].trigger_name = mt_spi_text(i, 3);
		journeys[i].source_event_id = DatumGetInt64(mt_spi_datum(i, 4, &isnull));
		sequence = lookup_sequence(journeys[i].sequence_name);
		if (sequence == NULL || !sequence->has_exit ||
			!mt_clause_accepts_type(&sequence->exit, doc->event_type, doc->event_type_len) ||
			!exit_matches(sequence, doc, params, isnull ? NULL : DatumGetJsonbPCopy(source_params)))
			journeys[i].id = 0;
	}
	for (uint64 i = 0; i < n; i++)
	{
		MtDecisionKey key = {user, journeys[i].trigger_name, journeys[i].sequence_name,
		journeys[i].source_event_id};

		if (journeys[i].id != 0)
			exit_journey(journeys[i].id, &key, psprintf("exit event " INT64_FORMAT, event_id),
						 doc->occurred_at, doc->occurred_at);
	}
}

/* An ingested event, for the subtransaction. */
typedef struct ExitWork
{
	int64		event_id;
	text	   *user_id;
	MtDocument *doc;
	Jsonb	   *params;
} ExitWork;

/* Ends the journeys the event exits. */
static void
exit_work(void *arg)
{
	ExitWork   *work = arg;

	exit_on_event(work->event_id, work->user_id, work->doc, work->params);
}

/* Ingest's entry: exit matching journeys in a subtransaction; a failure becomes a decision. */
void
mt_journeys_exit_on_event(int64 event_id, text *user_id, MtDocument *doc, Jsonb *params)
{
	ExitWork	work = {event_id, user_id, doc, params};
	ErrorData  *edata = mt_run_in_subtransaction(exit_work, &work, true);

	if (edata != NULL)
	{
		MtDecisionKey key = {text_to_cstring(user_id), NULL, NULL, event_id};

		mt_record_decision(&key, doc->occurred_at, "rule_error", mt_detail1("error", edata->message));
	}
}
