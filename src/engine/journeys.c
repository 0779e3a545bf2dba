/*
 * journeys.c: sequences as journeys. A journey is a user's run through a sequence's compiled
 * step program (sequence_def.c): its position is `step` and it next acts at `next_at`. Sends are
 * keyed by (journey, step) in the outbox, so no step is sent twice; an exit event ends the
 * journey and cancels its queued emails, decided both at ingest (at once) and from the events
 * table when the journey advances (so late events count).
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

#include "event_history.h"
#include "journeys.h"
#include "jsonc_bridge.h"
#include "sequence_cache.h"
#include "sequence_def.h"
#include "subxact.h"
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
} Journey;

static SPIPlanPtr claim_plan;
static SPIPlanPtr reentry_plan;
static SPIPlanPtr start_plan;
static SPIPlanPtr exit_plan;
static SPIPlanPtr cancel_plan;
static SPIPlanPtr wait_plan;
static SPIPlanPtr complete_plan;
static SPIPlanPtr segment_plan;
static SPIPlanPtr profile_plan;
static SPIPlanPtr active_plan;
static SPIPlanPtr unschedulable_plan;

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
		mt_execute_plan(mt_kept_plan(&reentry_plan,
									 "SELECT 1 FROM microtrigger.journeys WHERE user_id = $1 AND sequence_name = $2 "
									 "AND started_at > $3 LIMIT 1", 3, argtypes), values, NULL, false, 1, SPI_OK_SELECT);
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

/* Ends a journey early and cancels its queued emails; records the decision. */
static void
exit_journey(int64 journey_id, const MtDecisionKey *key, const char *reason, TimestampTz at,
			 TimestampTz as_of)
{
	static const Oid exit_types[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
	static const Oid cancel_types[2] = {INT8OID, TEXTOID};
	Datum		values[3];
	uint64		cancelled;
	const char *keys[2] = {"reason", "cancelled_emails"};
	const char *texts[2];

	values[0] = Int64GetDatum(journey_id);
	values[1] = CStringGetTextDatum(reason);
	values[2] = TimestampTzGetDatum(at);
	mt_execute_plan(mt_kept_plan(&exit_plan,
								 "UPDATE microtrigger.journeys SET status = 'exited', exit_reason = $2, ended_at = $3, "
								 "next_at = NULL WHERE id = $1 AND status = 'active'", 3, exit_types),
					values, NULL, false, 0, SPI_OK_UPDATE);
	if (SPI_processed == 0)
		return;
	mt_execute_plan(mt_kept_plan(&cancel_plan,
								 "UPDATE microtrigger.outbox SET status = 'cancelled', last_error = $2 "
								 "WHERE journey_id = $1 AND status = 'queued'", 2, cancel_types),
					values, NULL, false, 0, SPI_OK_UPDATE);
	cancelled = SPI_processed;
	texts[0] = reason;
	texts[1] = psprintf(UINT64_FORMAT, cancelled);
	mt_record_decision(key, as_of, "journey_exited", mt_detail_object(2, keys, texts));
}

/*
 * Ends a journey whose next step would be past the last timestamp (a wait from the end of
 * time): exited, saying why in an unschedulable decision. What it queued before stays queued.
 */
static void
end_unschedulable(int64 journey_id, const MtDecisionKey *key, const char *field, TimestampTz at,
				  TimestampTz as_of)
{
	static const Oid argtypes[2] = {INT8OID, TIMESTAMPTZOID};
	Datum		values[2] = {Int64GetDatum(journey_id), TimestampTzGetDatum(at)};
	const char *keys[3] = {"field", "error", "stage"};
	const char *texts[3] = {field, mt_unschedulable_reason(field), "run_pending"};

	mt_execute_plan(mt_kept_plan(&unschedulable_plan,
								 "UPDATE microtrigger.journeys SET status = 'exited', exit_reason = 'unschedulable', "
								 "ended_at = $2, next_at = NULL WHERE id = $1", 2, argtypes),
					values, NULL, false, 0, SPI_OK_UPDATE);
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

/* Is the user in the segment now? */
static bool
in_segment(const char *segment, const char *user_id)
{
	static const Oid argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(segment), CStringGetTextDatum(user_id)};

	mt_execute_plan(mt_kept_plan(&segment_plan,
								 "SELECT 1 FROM microtrigger.segment_members WHERE segment = $1 AND user_id = $2",
								 2, argtypes), values, NULL, false, 1, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/* Does the contact (user_id, email, timezone and attributes) match the condition? */
static bool
profile_matches(const MtCondition *condition, const char *user_id)
{
	static const Oid argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(user_id)};
	bool		isnull;
	MtDocument	doc;

	mt_execute_plan(mt_kept_plan(&profile_plan,
								 "SELECT c.attributes || pg_catalog.jsonb_build_object('user_id', c.user_id, 'email', c.email, "
								 "'timezone', c.timezone) FROM microtrigger.contacts c WHERE c.user_id = $1",
								 1, argtypes), values, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	mt_document_init_jsonb(&doc, DatumGetJsonbPCopy(mt_spi_datum(0, 1, &isnull)));
	return mt_condition_eval(condition, &doc);
}

/* Does a branch arm's test hold at time t? */
static bool
arm_holds(const MtBranchArm *arm, const Journey *journey, MtDocument *source_doc, TimestampTz t)
{
	switch (arm->kind)
	{
		case MT_TEST_IN_SEGMENT:
			return in_segment(arm->segment, journey->user_id);
		case MT_TEST_HISTORY:
			return mt_count_passes(&arm->history,
								   mt_history_count(&arm->history, cstring_to_text(journey->user_id), t));
		case MT_TEST_PROFILE:
			return profile_matches(arm->condition, journey->user_id);
		case MT_TEST_EVENT:
			return source_doc != NULL && mt_condition_eval(arm->condition, source_doc);
	}
	return false;
}

/* Runs a journey from its step until a wait or the end; returns the number of emails queued. */
static int
advance_journey(const Journey *journey, TimestampTz as_of)
{
	MtSequence *sequence = lookup_sequence(journey->sequence_name);
	MtDecisionKey key = {journey->user_id, journey->trigger_name, journey->sequence_name,
	journey->source_event_id};
	TimestampTz t = journey->next_at;
	MtDocument	source_doc;
	Jsonb	   *source_params = NULL;
	bool		have_source;
	MtContact	contact;
	Jsonb	   *context = NULL;
	int			queued = 0;
	int			pc = journey->step;

	if (sequence == NULL)
	{
		exit_journey(journey->id, &key, "the sequence was deleted", t, as_of);
		return 0;
	}
	have_source = mt_load_event(journey->source_event_id, journey->user_id, &source_doc, &source_params);
	if (sequence->has_exit)
	{
		/* an exit event that occurred during the journey, however late it arrived */
		int64		exit_event = mt_first_matching_event(&sequence->exit, journey->user_id,
														 journey->started_at, t,
														 journey->source_event_id, source_params);

		if (exit_event != 0)
		{
			exit_journey(journey->id, &key, psprintf("exit event " INT64_FORMAT, exit_event), t, as_of);
			return 0;
		}
	}
	contact = mt_load_contact(journey->user_id);
	for (int guard = 0; guard <= sequence->n_steps && pc >= 0 && pc < sequence->n_steps; guard++)
	{
		const MtStep *step = &sequence->steps[pc];

		switch (step->kind)
		{
			case MT_STEP_SEND:
				{
					const char *refusal = mt_contact_refusal(&contact, &key, as_of);
					MtEmailJob	job = {0};

					if (refusal != NULL && strcmp(refusal, "unsubscribed") == 0)
					{
						exit_journey(journey->id, &key, "unsubscribed", t, as_of);
						return queued;
					}
					if (refusal == NULL && have_source)
					{
						if (context == NULL)
							context = mt_build_render_context(journey->source_event_id, journey->user_id,
															  journey->trigger_name, NULL, as_of);
						job.key = key;
						job.journey_id = journey->id;
						job.step = pc;
						job.to_address = contact.email;
						job.send_after = t;
						job.reader = lookup_sequence_owner(journey->sequence_name);
						queued += mt_queue_email(&step->send, &job, context, as_of) ? 1 : 0;
					}
					else if (!have_source)
						mt_record_decision(&key, as_of, "event_missing", NULL);
					pc++;
					break;
				}
			case MT_STEP_WAIT:
				{
					static const Oid argtypes[3] = {INT8OID, INT4OID, TIMESTAMPTZOID};
					TimestampTz next_at;
					Datum		values[3];

					if (!mt_time_add(t, step->wait, &next_at))
					{
						end_unschedulable(journey->id, &key, psprintf("%s.wait", step->path), t, as_of);
						return queued;
					}
					values[0] = Int64GetDatum(journey->id);
					values[1] = Int32GetDatum(pc + 1);
					values[2] = TimestampTzGetDatum(next_at);
					mt_execute_plan(mt_kept_plan(&wait_plan,
												 "UPDATE microtrigger.journeys SET step = $2, next_at = $3 WHERE id = $1",
												 3, argtypes), values, NULL, false, 0, SPI_OK_UPDATE);
					return queued;
				}
			case MT_STEP_BRANCH:
				{
					int			next = step->else_target;

					for (int a = 0; a < step->n_arms; a++)
						if (arm_holds(&step->arms[a], journey, have_source ? &source_doc : NULL, t))
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
				{
					static const Oid argtypes[3] = {INT8OID, INT4OID, TIMESTAMPTZOID};
					Datum		values[3] = {Int64GetDatum(journey->id), Int32GetDatum(pc), TimestampTzGetDatum(t)};

					mt_execute_plan(mt_kept_plan(&complete_plan,
												 "UPDATE microtrigger.journeys SET status = 'completed', step = $2, "
												 "ended_at = $3, next_at = NULL WHERE id = $1", 3, argtypes),
									values, NULL, false, 0, SPI_OK_UPDATE);
					mt_record_decision(&key, as_of, "journey_completed", NULL);
					return queued;
				}
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
} JourneyWork;

/* Advances the journey. */
static void
journey_work(void *arg)
{
	JourneyWork *work = arg;

	(void) advance_journey(work->journey, work->as_of);
}

/*
 * Advances one journey in a subtransaction: an unexpected error exits it with a decision. A
 * transient error (deadlock, serialization failure, lock not available) leaves the journey at its
 * step for a later run instead; returns true then.
 */
static bool
advance_journey_safely(const Journey *journey, TimestampTz as_of)
{
	JourneyWork work = {journey, as_of};
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

/*
 * Advances due journeys in batches; returns how many were advanced. A journey left for a later
 * run (a transient error) is not counted and not claimed again in this run.
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
		Datum	   *skip;
		Journey    *journeys;
		int			n;
		MemoryContext old;

		if (want <= 0)
			break;
		MemoryContextReset(batch_context);
		old = MemoryContextSwitchTo(batch_context);
		values[0] = TimestampTzGetDatum(as_of);
		values[1] = Int32GetDatum(want);
		skip = palloc(sizeof(Datum) * Max(n_deferred, 1));
		for (int i = 0; i < n_deferred; i++)
			skip[i] = Int64GetDatum(deferred[i]);
		values[2] = PointerGetDatum(construct_array(skip, n_deferred, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		mt_execute_plan(mt_kept_plan(&claim_plan,
									 "SELECT id, user_id, sequence_name, step, next_at, started_at, source_event_id, trigger_name "
									 "FROM microtrigger.journeys WHERE status = 'active' AND next_at <= $1 "
									 "AND id <> ALL ($3) "
									 "ORDER BY next_at, id LIMIT $2 FOR UPDATE SKIP LOCKED", 3, argtypes),
						values, NULL, false, 0, SPI_OK_SELECT);
		n = (int) SPI_processed;
		journeys = palloc(sizeof(Journey) * Max(n, 1));
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
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (advance_journey_safely(&journeys[i], as_of))
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
