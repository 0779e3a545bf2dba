/*
 * act_write.c: the write stage of acting (act_write.h): one INSERT of the batch's outbox rows
 * (ON CONFLICT DO NOTHING, under the exactly-once keys), one INSERT of its decisions, one UPDATE
 * of its firings, each over arrays (unnest ... WITH ORDINALITY, in the order they were made).
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
} KeptDecision;

/* A kept outbox row (a trigger's email: journey steps are not acted on in batches). */
typedef struct KeptEmail
{
	char	   *user_id;
	char	   *to_address;
	char	   *parts[4];
	char	   *trigger_name;
	int			action_index;
	char	   *variant;
	char	   *template_name;
	int64		source_event_id;
	TimestampTz send_after;
	TimestampTz created_at;
	bool		duplicate;		/* expected to find its key taken */
	int64		outbox_id;		/* once written */
} KeptEmail;

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
}			kept;

static SPIPlanPtr outbox_plan;
static SPIPlanPtr decisions_plan;
static SPIPlanPtr firings_plan;

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
}

/* Keeps a trigger email and its decision. */
void
mt_write_email(const MtEmailJob *job, const char *subject, const char *preheader, const char *html,
			   const char *text, const char *variant, const char *template_name, bool duplicate,
			   TimestampTz as_of)
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
	e->action_index = job->action_index;
	e->variant = copy(variant);
	e->template_name = copy(template_name);
	e->source_event_id = job->key.source_event_id;
	e->send_after = job->send_after;
	e->created_at = as_of;
	e->duplicate = duplicate;
	e->outbox_id = 0;
	mt_write_decision(&job->key, as_of, duplicate ? "duplicate" : "queued", NULL);
	kept.decisions[kept.n_decisions - 1].email = kept.n_emails;
	kept.n_emails++;
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

/* A 1-D array of n datums, with nulls. */
static Datum
array_of(Datum *elems, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		byval;
	char		align;

	get_typlenbyvalalign(type, &typlen, &byval, &align);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type, typlen, byval, align));
}

/* A text datum, or a null. */
static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s == NULL;
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* Writes the kept outbox rows and learns their ids; fails when a key was not as expected. */
static void
flush_emails(void)
{
	static const Oid argtypes[12] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID,
	TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};
	int			n = kept.n_emails;
	Datum		values[12];
	Datum	   *cols[12];
	bool	   *nulls[12];
	Oid			types[12] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
	TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};

	if (n == 0)
		return;
	for (int c = 0; c < 12; c++)
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
	}
	for (int c = 0; c < 12; c++)
		values[c] = array_of(cols[c], nulls[c], n, types[c]);
	mt_execute_plan(mt_kept_plan(&outbox_plan,
								 "INSERT INTO microtrigger.outbox (user_id, to_address, subject, preheader, html_body, text_body, "
								 "trigger_name, action_index, variant, source_event_id, send_after, created_at) "
								 "SELECT r.user_id, r.to_address, r.subject, r.preheader, r.html_body, r.text_body, "
								 "r.trigger_name, r.action_index, r.variant, r.source_event_id, r.send_after, r.created_at "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), "
								 "pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11), "
								 "pg_catalog.unnest($12)) WITH ORDINALITY AS r(user_id, to_address, subject, preheader, "
								 "html_body, text_body, trigger_name, action_index, variant, source_event_id, send_after, "
								 "created_at, ord) ORDER BY r.ord "
								 "ON CONFLICT DO NOTHING RETURNING id, trigger_name, source_event_id, action_index",
								 12, argtypes), values, NULL, false, 0, SPI_OK_INSERT_RETURNING);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(mt_spi_datum(row, 1, &isnull));
		char	   *trigger_name = mt_spi_text(row, 2);
		int64		event_id = DatumGetInt64(mt_spi_datum(row, 3, &isnull));
		int			action = DatumGetInt32(mt_spi_datum(row, 4, &isnull));

		for (int i = 0; i < n; i++)
		{
			KeptEmail  *e = &kept.emails[i];

			if (e->outbox_id == 0 && e->source_event_id == event_id && e->action_index == action &&
				strcmp(e->trigger_name, trigger_name) == 0)
			{
				e->outbox_id = id;
				break;
			}
		}
	}
	for (int i = 0; i < n; i++)
		if ((kept.emails[i].outbox_id != 0) == kept.emails[i].duplicate)
			ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							errmsg("the outbox key of trigger \"%s\", event " INT64_FORMAT ", action %d changed while acting",
								   kept.emails[i].trigger_name, kept.emails[i].source_event_id,
								   kept.emails[i].action_index)));
}

/* The detail of a kept email's decision, now that its outbox id is known. */
static Jsonb *
email_detail(const KeptEmail *e)
{
	const char *keys[4] = {"outbox_id", "template", "variant", "send_after"};
	const char *vals[4] = {
		e->outbox_id ? psprintf(INT64_FORMAT, e->outbox_id) : NULL,
		e->template_name,
		e->variant,
		DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(e->send_after)))
	};

	return mt_detail_object(4, keys, vals);
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
		Jsonb	   *detail = d->email >= 0 ? email_detail(&kept.emails[d->email]) : d->detail;

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
		values[c] = array_of(cols[c], nulls[c], n, types[c]);
	mt_execute_plan(mt_kept_plan(&decisions_plan,
								 "INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome, detail, source_event_id, sequence_name) "
								 "SELECT r.at, r.user_id, r.trigger_name, r.outcome, coalesce(r.detail, '{}'), r.source_event_id, r.sequence_name "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7)) "
								 "WITH ORDINALITY AS r(at, user_id, trigger_name, outcome, detail, source_event_id, sequence_name, ord) "
								 "ORDER BY r.ord", 7, argtypes), values, NULL, false, 0, SPI_OK_INSERT);
}

/* Writes the kept firing states. */
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
	values[0] = array_of(ids, NULL, n, INT8OID);
	values[1] = array_of(outcomes, NULL, n, TEXTOID);
	mt_execute_plan(mt_kept_plan(&firings_plan,
								 "UPDATE microtrigger.firings f SET state = 'done', outcome = r.outcome "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS r(id, outcome) "
								 "WHERE f.id = r.id", 2, argtypes), values, NULL, false, 0, SPI_OK_UPDATE);
}

/* Writes what the batch kept and stops keeping. */
void
mt_write_flush(void)
{
	kept.active = false;
	flush_emails();
	flush_decisions();
	flush_firings();
	memset(&kept, 0, sizeof(kept));
}

/* Stops keeping, dropping what was kept. */
void
mt_write_abandon(void)
{
	memset(&kept, 0, sizeof(kept));
}
