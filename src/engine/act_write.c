/*
 * act_write.c: the write stage of acting (act_write.h): one INSERT of the batch's outbox rows
 * (under the exactly-once keys: a taken one fails the batch, replayed one by one), one UPDATE of its journeys (and one of
 * the emails their exits cancel), one INSERT of its decisions, one UPDATE of its firings, each
 * over arrays (unnest ... WITH ORDINALITY, in the order they were made).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "act_write.h"

/* A kept decision; email >= 0: a trigger email's, completed from its outbox row when written. */
typedef struct KeptDecision
{
	TimestampTz at;
	char	   *user_id;
	char	   *trigger_name;
	char	   *sequence_name;
	int64		source_event_id;
	char	   *outcome;
	Jsonb	   *detail;
	int			email;
	int			journey;		/* >= 0: a journey exit's, completed from its cancelled emails */
} KeptDecision;

/* A kept outbox row: a trigger's email, or a journey step's (journey_id > 0). */
typedef struct KeptEmail
{
	char	   *user_id;
	char	   *to_address;
	char	   *parts[4];
	char	   *trigger_name;
	char	   *sequence_name;
	int64		journey_id;
	int			step;
	int			action_index;
	char	   *variant;
	char	   *template_name;
	int64		source_event_id;
	TimestampTz send_after;
	TimestampTz held_until;		/* 0: not held */
	int			optimal;		/* -1: not asked */
	char	   *category;
	int			priority;
	bool		transactional;
	TimestampTz created_at;
	int64		outbox_id;		/* once written */
} KeptEmail;

/* A kept change of a journey row (act_write.h). */
typedef struct KeptJourney
{
	int64		id;
	MtJourneyChange change;
	int			step;
	TimestampTz next_at;		/* MT_JOURNEY_WAIT */
	TimestampTz at;				/* when it ended */
	char	   *reason;			/* MT_JOURNEY_EXIT */
	int64		cancelled;		/* MT_JOURNEY_EXIT: its queued emails cancelled, once written */
} KeptJourney;

/* What a batch keeps. */
static struct
{
	bool		active;
	MemoryContext cxt;
	KeptDecision *decisions;
	int			n_decisions;
	int			cap_decisions;
	KeptEmail  *emails;
	int			n_emails;
	int			cap_emails;
	int64	   *firing_ids;
	char	  **firing_outcomes;
	int			n_firings;
	int			cap_firings;
	int			cap_outcomes;
	KeptJourney *journeys;
	int			n_journeys;
	int			cap_journeys;
	int64	   *cancel_ids;		/* queued outbox rows replaced by priority */
	char	  **cancel_reasons;
	int			n_cancels;
	int			cap_cancel_ids;
	int			cap_cancel_reasons;
}			kept;

static SPIPlanPtr outbox_plan;
static SPIPlanPtr decisions_plan;
static SPIPlanPtr firings_plan;
static SPIPlanPtr journeys_plan;
static SPIPlanPtr cancel_plan;
static SPIPlanPtr exit_plan;
static SPIPlanPtr exit_cancel_plan;
static SPIPlanPtr journey_plan;
static SPIPlanPtr complete_plan;
static SPIPlanPtr replace_plan;
static SPIPlanPtr replace_one_plan;


/* Grows an array of kept items to hold one more. */
static void *
grow(void *items, int n, int *cap, size_t size)
{
	if (n < *cap)
		return items;
	*cap = *cap ? *cap * 2 : 64;
	return items ? repalloc(items, size * *cap) : MemoryContextAlloc(kept.cxt, size * *cap);
}

/* A copy in the batch's memory, or NULL. */
static char *
copy(const char *s)
{
	return s ? MemoryContextStrdup(kept.cxt, s) : NULL;
}

/* Starts keeping (see act_write.h). */
void
mt_write_begin(MemoryContext cxt)
{
	memset(&kept, 0, sizeof(kept));
	kept.cxt = cxt;
	kept.active = true;
}

/* Is a batch keeping its writes? */
bool
mt_write_buffering(void)
{
	return kept.active;
}

/* Keeps a decision. */
void
mt_write_decision(const MtDecisionKey *key, TimestampTz as_of, const char *outcome, Jsonb *detail)
{
	KeptDecision *d;

	kept.decisions = grow(kept.decisions, kept.n_decisions, &kept.cap_decisions, sizeof(KeptDecision));
	d = &kept.decisions[kept.n_decisions++];
	d->at = as_of;
	d->user_id = copy(key->user_id);
	d->trigger_name = copy(key->trigger_name);
	d->sequence_name = copy(key->sequence_name);
	d->source_event_id = key->source_event_id;
	d->outcome = copy(outcome);
	d->detail = NULL;
	if (detail)
	{
		d->detail = MemoryContextAlloc(kept.cxt, VARSIZE(detail));
		memcpy(d->detail, detail, VARSIZE(detail));
	}
	d->email = -1;
	d->journey = -1;
}

/* Keeps a trigger email and its decision. */
void
mt_write_email(const MtEmailJob *job, const char *subject, const char *preheader, const char *html,
			   const char *text, const char *variant, const char *template_name, TimestampTz as_of)
{
	KeptEmail  *e;

	kept.emails = grow(kept.emails, kept.n_emails, &kept.cap_emails, sizeof(KeptEmail));
	e = &kept.emails[kept.n_emails];
	e->user_id = copy(job->key.user_id);
	e->to_address = copy(job->to_address);
	e->parts[0] = copy(subject);
	e->parts[1] = copy(preheader);
	e->parts[2] = copy(html);
	e->parts[3] = copy(text);
	e->trigger_name = copy(job->key.trigger_name);
	e->sequence_name = copy(job->key.sequence_name);
	e->journey_id = job->journey_id;
	e->step = job->step;
	e->action_index = job->action_index;
	e->variant = copy(variant);
	e->template_name = copy(template_name);
	e->source_event_id = job->key.source_event_id;
	e->send_after = job->send_after;
	e->held_until = job->held_until;
	e->optimal = job->optimal;
	e->category = copy(job->category ? job->category : MT_CATEGORY_DEFAULT);
	e->priority = job->category ? job->priority : MT_PRIORITY_DEFAULT;
	e->transactional = job->transactional;
	e->created_at = as_of;
	e->outbox_id = 0;
	mt_write_decision(&job->key, as_of, "queued", NULL);
	kept.decisions[kept.n_decisions - 1].email = kept.n_emails;
	kept.n_emails++;
}

/* Cancels a replaced queued email, or keeps that (see act_write.h). */
void
mt_write_cancel(int64 outbox_id, const char *reason)
{
	static const Oid argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(outbox_id), CStringGetTextDatum(reason)};

	if (kept.active)
	{
		kept.cancel_ids = grow(kept.cancel_ids, kept.n_cancels, &kept.cap_cancel_ids, sizeof(int64));
		kept.cancel_reasons = grow(kept.cancel_reasons, kept.n_cancels, &kept.cap_cancel_reasons, sizeof(char *));
		kept.cancel_ids[kept.n_cancels] = outbox_id;
		kept.cancel_reasons[kept.n_cancels++] = copy(reason);
		return;
	}
	mt_execute_plan(mt_kept_plan(&replace_one_plan,
								 "UPDATE microtrigger.outbox SET status = 'cancelled', last_error = $2 "
								 "WHERE id = $1 AND status = 'queued'", 2, argtypes),
					values, NULL, false, 0, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						errmsg("outbox row " INT64_FORMAT " to be replaced by priority is no longer queued", outbox_id)));
}

/* Writes the kept cancellations of replaced emails (all still queued, or the batch fails). */
static void
flush_cancels(void)
{
	static const Oid argtypes[2] = {INT8ARRAYOID, TEXTARRAYOID};
	int			n = kept.n_cancels;
	Datum	   *ids;
	Datum	   *reasons;
	Datum		values[2];

	if (n == 0)
		return;
	ids = palloc(sizeof(Datum) * n);
	reasons = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		ids[i] = Int64GetDatum(kept.cancel_ids[i]);
		reasons[i] = CStringGetTextDatum(kept.cancel_reasons[i]);
	}
	values[0] = mt_array_param(ids, NULL, n, INT8OID);
	values[1] = mt_array_param(reasons, NULL, n, TEXTOID);
	mt_execute_plan(mt_kept_plan_opts(&replace_plan,
									  "UPDATE microtrigger.outbox o SET status = 'cancelled', last_error = r.reason "
									  "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS r(id, reason) "
									  "WHERE o.id = r.id AND o.id = ANY ($1) AND o.status = 'queued'",
									  2, argtypes, CURSOR_OPT_CUSTOM_PLAN), values, NULL, false, 0, SPI_OK_UPDATE);
	if (SPI_processed != (uint64) n)
		ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						errmsg("%d of the batch's emails replaced by priority were no longer queued", n - (int) SPI_processed)));
}

/* Keeps a firing's final state. */
void
mt_write_firing(int64 firing_id, const char *outcome)
{
	kept.firing_ids = grow(kept.firing_ids, kept.n_firings, &kept.cap_firings, sizeof(int64));
	kept.firing_outcomes = grow(kept.firing_outcomes, kept.n_firings, &kept.cap_outcomes, sizeof(char *));
	kept.firing_ids[kept.n_firings] = firing_id;
	kept.firing_outcomes[kept.n_firings] = copy(outcome);
	kept.n_firings++;
}

/* Writes one journey's change at once (not in a batch). */
static void
write_journey_now(int64 journey_id, MtJourneyChange change, int step, TimestampTz next_at,
				  TimestampTz at, const char *reason, const MtDecisionKey *key, TimestampTz as_of)
{
	static const Oid argtypes[3] = {INT8OID, INT4OID, TIMESTAMPTZOID};
	static const Oid exit_types[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3] = {Int64GetDatum(journey_id), Int32GetDatum(step), TimestampTzGetDatum(next_at)};

	switch (change)
	{
		case MT_JOURNEY_WAIT:
			mt_execute_plan(mt_kept_plan(&journey_plan,
										 "UPDATE microtrigger.journeys SET step = $2, next_at = $3 WHERE id = $1",
										 3, argtypes), values, NULL, false, 0, SPI_OK_UPDATE);
			return;
		case MT_JOURNEY_COMPLETE:
			values[2] = TimestampTzGetDatum(at);
			mt_execute_plan(mt_kept_plan(&complete_plan,
										 "UPDATE microtrigger.journeys SET status = 'completed', step = $2, "
										 "ended_at = $3, next_at = NULL WHERE id = $1", 3, argtypes),
							values, NULL, false, 0, SPI_OK_UPDATE);
			return;
		case MT_JOURNEY_UNSCHEDULABLE:
			reason = "unschedulable";
			/* FALLTHROUGH */
		case MT_JOURNEY_EXIT:
			{
				const char *keys[2] = {"reason", "cancelled_emails"};
				const char *texts[2] = {reason, NULL};

				values[1] = CStringGetTextDatum(reason);
				values[2] = TimestampTzGetDatum(at);
				mt_execute_plan(mt_kept_plan(&exit_plan,
											 "UPDATE microtrigger.journeys SET status = 'exited', exit_reason = $2, ended_at = $3, "
											 "next_at = NULL WHERE id = $1 AND status = 'active'", 3, exit_types),
								values, NULL, false, 0, SPI_OK_UPDATE);
				if (SPI_processed == 0 || change == MT_JOURNEY_UNSCHEDULABLE)
					return;
				mt_execute_plan(mt_kept_plan(&cancel_plan,
											 "UPDATE microtrigger.outbox SET status = 'cancelled', last_error = $2 "
											 "WHERE journey_id = $1 AND status = 'queued'", 2, exit_types),
								values, NULL, false, 0, SPI_OK_UPDATE);
				texts[1] = psprintf(UINT64_FORMAT, SPI_processed);
				mt_record_decision(key, as_of, "journey_exited", mt_detail_object(2, keys, texts));
				return;
			}
	}
}

/* Writes or keeps a journey's change (see act_write.h). */
void
mt_write_journey(int64 journey_id, MtJourneyChange change, int step, TimestampTz next_at,
				 TimestampTz at, const char *reason, const MtDecisionKey *key, TimestampTz as_of)
{
	KeptJourney *j;

	if (!kept.active)
	{
		write_journey_now(journey_id, change, step, next_at, at, reason, key, as_of);
		return;
	}
	kept.journeys = grow(kept.journeys, kept.n_journeys, &kept.cap_journeys, sizeof(KeptJourney));
	j = &kept.journeys[kept.n_journeys];
	j->id = journey_id;
	j->change = change;
	j->step = step;
	j->next_at = next_at;
	j->at = at;
	j->reason = copy(change == MT_JOURNEY_UNSCHEDULABLE ? "unschedulable" : reason);
	j->cancelled = 0;
	if (change == MT_JOURNEY_EXIT)
	{
		mt_write_decision(key, as_of, "journey_exited", NULL);
		kept.decisions[kept.n_decisions - 1].journey = kept.n_journeys;
	}
	kept.n_journeys++;
}

/* A text datum, or a null. */
static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s == NULL;
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * Writes the kept outbox rows and learns their ids. No ON CONFLICT: every key is expected free,
 * and one that is taken fails the batch (to be replayed one by one); checking every unique index
 * for every row first cost more than the rare replay.
 */
static void
flush_emails(void)
{
#define EMAIL_COLS 18
	static const Oid argtypes[EMAIL_COLS] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID,
		TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT4ARRAYOID,
	TEXTARRAYOID, INT4ARRAYOID, BOOLARRAYOID};
	int			n = kept.n_emails;
	Datum		values[EMAIL_COLS];
	Datum	   *cols[EMAIL_COLS];
	bool	   *nulls[EMAIL_COLS];
	Oid			types[EMAIL_COLS] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
	TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, INT8OID, INT4OID, TEXTOID, INT4OID, BOOLOID};

	if (n == 0)
		return;
	for (int c = 0; c < EMAIL_COLS; c++)
	{
		cols[c] = palloc(sizeof(Datum) * n);
		nulls[c] = palloc0(sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		KeptEmail  *e = &kept.emails[i];

		cols[0][i] = text_or_null(e->user_id, &nulls[0][i]);
		cols[1][i] = text_or_null(e->to_address, &nulls[1][i]);
		for (int p = 0; p < 4; p++)
			cols[2 + p][i] = text_or_null(e->parts[p], &nulls[2 + p][i]);
		cols[6][i] = text_or_null(e->trigger_name, &nulls[6][i]);
		cols[7][i] = Int32GetDatum(e->action_index);
		cols[8][i] = text_or_null(e->variant, &nulls[8][i]);
		cols[9][i] = Int64GetDatum(e->source_event_id);
		nulls[9][i] = e->source_event_id == 0;
		cols[10][i] = TimestampTzGetDatum(e->send_after);
		cols[11][i] = TimestampTzGetDatum(e->created_at);
		cols[12][i] = text_or_null(e->sequence_name, &nulls[12][i]);
		cols[13][i] = Int64GetDatum(e->journey_id);
		nulls[13][i] = e->journey_id == 0;
		cols[14][i] = Int32GetDatum(e->step);
		nulls[14][i] = e->journey_id == 0;
		cols[15][i] = CStringGetTextDatum(e->category);
		cols[16][i] = Int32GetDatum(e->priority);
		cols[17][i] = BoolGetDatum(e->transactional);
	}
	for (int c = 0; c < EMAIL_COLS; c++)
		values[c] = mt_array_param(cols[c], nulls[c], n, types[c]);
	mt_execute_plan(mt_kept_plan(&outbox_plan,
								 "INSERT INTO microtrigger.outbox (user_id, to_address, subject, preheader, html_body, text_body, "
								 "trigger_name, action_index, variant, source_event_id, send_after, created_at, "
								 "sequence_name, journey_id, step, category, priority, transactional) "
								 "SELECT r.user_id, r.to_address, r.subject, r.preheader, r.html_body, r.text_body, "
								 "r.trigger_name, r.action_index, r.variant, r.source_event_id, r.send_after, r.created_at, "
								 "r.sequence_name, r.journey_id, r.step, r.category, r.priority, r.transactional "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), "
								 "pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11), "
								 "pg_catalog.unnest($12), pg_catalog.unnest($13), pg_catalog.unnest($14), pg_catalog.unnest($15), "
								 "pg_catalog.unnest($16), pg_catalog.unnest($17), pg_catalog.unnest($18)) "
								 "WITH ORDINALITY AS r(user_id, to_address, subject, preheader, "
								 "html_body, text_body, trigger_name, action_index, variant, source_event_id, send_after, "
								 "created_at, sequence_name, journey_id, step, category, priority, transactional, ord) ORDER BY r.ord "
								 "RETURNING id, trigger_name, source_event_id, action_index, journey_id, step",
								 EMAIL_COLS, argtypes), values, NULL, false, 0, SPI_OK_INSERT_RETURNING);
	for (uint64 row = 0, from = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(mt_spi_datum(row, 1, &isnull));
		char	   *trigger_name = mt_spi_text(row, 2);
		Datum		event = mt_spi_datum(row, 3, &isnull);
		int64		event_id = isnull ? 0 : DatumGetInt64(event);
		int			action = DatumGetInt32(mt_spi_datum(row, 4, &isnull));
		Datum		journey = mt_spi_datum(row, 5, &isnull);
		int64		journey_id = isnull ? 0 : DatumGetInt64(journey);
		Datum		step = mt_spi_datum(row, 6, &isnull);
		int			step_no = isnull ? 0 : DatumGetInt32(step);

		/* rows come back in the order they were kept: look from after the last one found */
		for (int k = 0; k < n; k++)
		{
			int			i = (int) ((from + k) % n);
			KeptEmail  *e = &kept.emails[i];

			if (e->outbox_id != 0 || e->journey_id != journey_id)
				continue;
			if (journey_id != 0 ? e->step == step_no
				: (e->source_event_id == event_id && e->action_index == action &&
				   trigger_name != NULL && e->trigger_name != NULL && strcmp(e->trigger_name, trigger_name) == 0))
			{
				e->outbox_id = id;
				from = i + 1;
				break;
			}
		}
	}
	for (int i = 0; i < n; i++)
		if (kept.emails[i].outbox_id == 0)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
							errmsg("the outbox row of user \"%s\" was not returned by its insert",
								   kept.emails[i].user_id)));
#undef EMAIL_COLS
}

/* The detail of a kept email's decision, now that its outbox id is known. */
static Jsonb *
email_detail(const KeptEmail *e)
{
	return mt_email_detail(e->outbox_id, e->template_name, e->variant, e->send_after,
						   e->journey_id ? e->step : -1, e->held_until, e->optimal);
}

/* The detail of a queued (or duplicate: outbox_id 0) email's decision (see act_write.h). */
Jsonb *
mt_email_detail(int64 outbox_id, const char *template_name, const char *variant, TimestampTz send_after,
				int step, TimestampTz held_until, int optimal)
{
	const char *keys[7] = {"outbox_id", "template", "variant", "send_after", "step", "held_until", "optimal"};
	const char *vals[7] = {
		outbox_id ? psprintf(INT64_FORMAT, outbox_id) : NULL,
		template_name,
		variant,
		DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(send_after))),
		step >= 0 ? psprintf("%d", step) : NULL,
		held_until ? DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(held_until))) : NULL,
		optimal < 0 ? NULL : optimal ? "true" : "false"
	};

	return mt_detail_object(7, keys, vals);
}

/* The detail of a kept journey exit's decision, now that its cancelled emails are counted. */
static Jsonb *
exit_detail(const KeptJourney *j)
{
	const char *keys[2] = {"reason", "cancelled_emails"};
	const char *texts[2] = {j->reason, psprintf(INT64_FORMAT, j->cancelled)};

	return mt_detail_object(2, keys, texts);
}

/* Writes the kept decisions, in order. */
static void
flush_decisions(void)
{
	static const Oid argtypes[7] = {TIMESTAMPTZARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	JSONBARRAYOID, INT8ARRAYOID, TEXTARRAYOID};
	Oid			types[7] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, INT8OID, TEXTOID};
	int			n = kept.n_decisions;
	Datum		values[7];
	Datum	   *cols[7];
	bool	   *nulls[7];

	if (n == 0)
		return;
	for (int c = 0; c < 7; c++)
	{
		cols[c] = palloc(sizeof(Datum) * n);
		nulls[c] = palloc0(sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		KeptDecision *d = &kept.decisions[i];
		Jsonb	   *detail = d->email >= 0 ? email_detail(&kept.emails[d->email])
			: d->journey >= 0 ? exit_detail(&kept.journeys[d->journey]) : d->detail;

		cols[0][i] = TimestampTzGetDatum(d->at);
		cols[1][i] = text_or_null(d->user_id, &nulls[1][i]);
		cols[2][i] = text_or_null(d->trigger_name, &nulls[2][i]);
		cols[3][i] = text_or_null(d->outcome, &nulls[3][i]);
		cols[4][i] = detail ? JsonbPGetDatum(detail) : (Datum) 0;
		nulls[4][i] = detail == NULL;
		cols[5][i] = Int64GetDatum(d->source_event_id);
		nulls[5][i] = d->source_event_id == 0;
		cols[6][i] = text_or_null(d->sequence_name, &nulls[6][i]);
	}
	for (int c = 0; c < 7; c++)
		values[c] = mt_array_param(cols[c], nulls[c], n, types[c]);
	mt_execute_plan(mt_kept_plan(&decisions_plan,
								 "INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome, detail, source_event_id, sequence_name) "
								 "SELECT r.at, r.user_id, r.trigger_name, r.outcome, coalesce(r.detail, '{}'), r.source_event_id, r.sequence_name "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) "
								 "WITH ORDINALITY AS r(at, user_id, trigger_name, outcome, detail, source_event_id, sequence_name, ord) "
								 "ORDER BY r.ord", 7, argtypes), values, NULL, false, 0, SPI_OK_INSERT);
}

/*
 * Writes the kept firing states (`f.id = ANY ($1)` as well: the rows are found by the primary
 * key however the join to the arrays is planned, never by a scan of every firing).
 */
static void
flush_firings(void)
{
	static const Oid argtypes[2] = {INT8ARRAYOID, TEXTARRAYOID};
	int			n = kept.n_firings;
	Datum		values[2];
	Datum	   *outcomes;
	Datum	   *ids;

	if (n == 0)
		return;
	ids = palloc(sizeof(Datum) * n);
	outcomes = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		ids[i] = Int64GetDatum(kept.firing_ids[i]);
		outcomes[i] = CStringGetTextDatum(kept.firing_outcomes[i]);
	}
	values[0] = mt_array_param(ids, NULL, n, INT8OID);
	values[1] = mt_array_param(outcomes, NULL, n, TEXTOID);
	mt_execute_plan(mt_kept_plan_opts(&firings_plan,
								 "UPDATE microtrigger.firings f SET state = 'done', outcome = r.outcome "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS r(id, outcome) "
								 "WHERE f.id = r.id AND f.id = ANY ($1)", 2, argtypes, CURSOR_OPT_CUSTOM_PLAN), values, NULL, false, 0, SPI_OK_UPDATE);
}

/*
 * Writes the kept journey changes (all of the batch's journeys are claimed and active: one that
 * is not fails the batch) and cancels the queued emails of those that exited, counting them.
 */
static void
flush_journeys(void)
{
	static const Oid argtypes[6] = {INT8ARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID,
	TIMESTAMPTZARRAYOID, TEXTARRAYOID};
	static const Oid cancel_types[2] = {INT8ARRAYOID, TEXTARRAYOID};
	Oid			types[6] = {INT8OID, TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	int			n = kept.n_journeys;
	int			n_exits = 0;
	Datum		values[6];
	Datum	   *cols[6];
	bool	   *nulls[6];

	if (n == 0)
		return;
	for (int c = 0; c < 6; c++)
	{
		cols[c] = palloc(sizeof(Datum) * n);
		nulls[c] = palloc0(sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		KeptJourney *j = &kept.journeys[i];
		bool		ends = j->change != MT_JOURNEY_WAIT;
		bool		exits = j->change == MT_JOURNEY_EXIT || j->change == MT_JOURNEY_UNSCHEDULABLE;

		cols[0][i] = Int64GetDatum(j->id);
		cols[1][i] = CStringGetTextDatum(!ends ? "active" : exits ? "exited" : "completed");
		cols[2][i] = Int32GetDatum(j->step);
		nulls[2][i] = exits;	/* an exit keeps its step */
		cols[3][i] = TimestampTzGetDatum(j->next_at);
		nulls[3][i] = ends;
		cols[4][i] = TimestampTzGetDatum(j->at);
		nulls[4][i] = !ends;
		cols[5][i] = text_or_null(exits ? j->reason : NULL, &nulls[5][i]);
		if (j->change == MT_JOURNEY_EXIT)
			n_exits++;
	}
	for (int c = 0; c < 6; c++)
		values[c] = mt_array_param(cols[c], nulls[c], n, types[c]);
	mt_execute_plan(mt_kept_plan_opts(&journeys_plan,
								 "UPDATE microtrigger.journeys j SET status = r.status, step = coalesce(r.step, j.step), "
								 "next_at = r.next_at, ended_at = r.ended_at, exit_reason = r.exit_reason "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6)) "
								 "AS r(id, status, step, next_at, ended_at, exit_reason) "
								 "WHERE j.id = r.id AND j.id = ANY ($1) AND j.status = 'active'", 6, argtypes, CURSOR_OPT_CUSTOM_PLAN),
					values, NULL, false, 0, SPI_OK_UPDATE);
	if (SPI_processed != (uint64) n)
		ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						errmsg("%d of the batch's %d journeys were no longer active", n - (int) SPI_processed, n)));
	if (n_exits == 0)
		return;
	{
		Datum	   *ids = palloc(sizeof(Datum) * n_exits);
		Datum	   *reasons = palloc(sizeof(Datum) * n_exits);
		int			m = 0;

		for (int i = 0; i < n; i++)
			if (kept.journeys[i].change == MT_JOURNEY_EXIT)
			{
				ids[m] = Int64GetDatum(kept.journeys[i].id);
				reasons[m++] = CStringGetTextDatum(kept.journeys[i].reason);
			}
		values[0] = mt_array_param(ids, NULL, m, INT8OID);
		values[1] = mt_array_param(reasons, NULL, m, TEXTOID);
		mt_execute_plan(mt_kept_plan_opts(&exit_cancel_plan,
									 "UPDATE microtrigger.outbox o SET status = 'cancelled', last_error = r.reason "
									 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS r(id, reason) "
									 "WHERE o.journey_id = r.id AND o.journey_id = ANY ($1) AND o.status = 'queued' "
									 "RETURNING o.journey_id",
									 2, cancel_types, CURSOR_OPT_CUSTOM_PLAN), values, NULL, false, 0, SPI_OK_UPDATE_RETURNING);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(mt_spi_datum(row, 1, &isnull));

			for (int i = 0; i < n; i++)
				if (kept.journeys[i].id == id)
				{
					kept.journeys[i].cancelled++;
					break;
				}
		}
	}
}

/*
 * (The UPDATEs above join arrays to tables that grow during the run, so they are planned at
 * every call: a plan kept from statistics taken before the run, when the table looked empty,
 * rescans the arrays for every row, quadratic in the batch.)
 */

/* Writes what the batch kept and stops keeping. */
void
mt_write_flush(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	/* each in the batch's context: SPI leaves its own current, which lives until SPI_finish */
	kept.active = false;
	flush_emails();
	MemoryContextSwitchTo(cxt);
	flush_cancels();
	MemoryContextSwitchTo(cxt);
	flush_journeys();
	MemoryContextSwitchTo(cxt);
	flush_decisions();
	MemoryContextSwitchTo(cxt);
	flush_firings();
	MemoryContextSwitchTo(cxt);
	memset(&kept, 0, sizeof(kept));
}

/* Stops keeping, dropping what was kept. */
void
mt_write_abandon(void)
{
	memset(&kept, 0, sizeof(kept));
}
