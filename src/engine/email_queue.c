/*
 * email_queue.c: queuing one email — choosing its variant, loading its template, checking required
 * names, rendering every part, inserting the outbox row under its exactly-once key, and recording
 * the decision.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "utils/acl.h"

#include "act_load.h"
#include "act_write.h"
#include "engine_internal.h"
#include "render.h"

static SPIPlanPtr outbox_plan;

/* One email's parts, as a template row or an inline action gives them. */
typedef struct EmailParts
{
	MtLoadedTemplate *loaded;	/* the batch's row, with its compiled parts; NULL: read by SQL */
	char	   *template_name;	/* NULL for inline */
	char	   *subject;
	char	   *preheader;
	char	   *html_body;
	char	   *text_body;
	ArrayType  *required;
} EmailParts;

/* What loading a template found. */
typedef enum TemplateFound
{
	TEMPLATE_FOUND,
	TEMPLATE_MISSING,
	TEMPLATE_DENIED				/* it belongs to a role the reader is not a member of */
} TemplateFound;

/* Takes a template from the batch's loaded rows, if `reader` may use it (as pg_has_role MEMBER). */
static TemplateFound
loaded_template(MtActData *loaded, const char *name, Oid reader, EmailParts *parts)
{
	MtLoadedTemplate *t = mt_act_template(loaded, name);

	if (t == NULL)
		return TEMPLATE_MISSING;
	if (!is_member_of_role(reader, t->owner))
		return TEMPLATE_DENIED;
	parts->loaded = t;
	parts->template_name = t->name;
	parts->subject = t->parts[0];
	parts->preheader = t->parts[1];
	parts->html_body = t->parts[2];
	parts->text_body = t->parts[3];
	parts->required = t->required;
	return TEMPLATE_FOUND;
}

/*
 * Loads one template by name, if `reader` may use it: the batch loader (act_load.c) for a single
 * name, for emails built outside a batch (journey steps, a replayed firing).
 */
static TemplateFound
load_template(const char *name, Oid reader, EmailParts *parts)
{
	MtActRequest request = {0};

	request.template_names = (char **) &name;
	request.n_template_names = 1;
	return loaded_template(mt_act_load(&request, 0), name, reader, parts);
}

/* The first required name missing from the render context, or NULL. */
static char *
first_missing_name(ArrayType *required, Jsonb *context)
{
	Datum	   *names;
	bool	   *nulls;
	int			n;

	if (required == NULL)
		return NULL;
	deconstruct_array(required, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *name;

		if (nulls[i])
			continue;
		name = TextDatumGetCString(names[i]);
		if (!mt_render_has_name(context, name))
			return name;
	}
	return NULL;
}

/*
 * Renders part `index` of the email (0 subject .. 3 text_body); NULL text stays NULL. A loaded
 * template's part is compiled once per batch. On failure sets *error (first one wins).
 */
static char *
render_part(const EmailParts *parts, int index, Jsonb *context, MtRenderMode mode, Oid reader,
			const char *part, char **error)
{
	const char *texts[4] = {parts->subject, parts->preheader, parts->html_body, parts->text_body};
	const char *text = texts[index];
	MtLoadedTemplate *t = parts->loaded;
	char	   *message = NULL;
	char	   *result;

	if (text == NULL || *error != NULL)
		return NULL;
	if (t != NULL && !t->compiled[index])
	{
		MemoryContext caller = MemoryContextSwitchTo(t->cxt);
		MtmError	err = {0};

		t->tmpl[index] = mt_template_compile(text, strlen(text), &err);
		t->compiled[index] = true;
		MemoryContextSwitchTo(caller);
	}
	if (t != NULL && t->tmpl[index] != NULL)
		result = mt_render_compiled(t->tmpl[index], context, NULL, mode, reader, &message);
	else						/* inline, or it does not compile: this reports why */
		result = mt_render_jsonb(text, context, NULL, mode, reader, &message);
	if (result == NULL)
		*error = psprintf("%s: %s", part, message ? message : "render failed");
	return result;
}

/* Inserts the outbox row; returns its id, or 0 when its key already had one. */
static int64
insert_outbox(const MtEmailJob *job, const char *subject, const char *preheader, const char *html,
			  const char *text, const char *variant, TimestampTz as_of)
{
	static const Oid argtypes[18] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT4OID, TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, INT8OID, INT4OID,
	TEXTOID, INT4OID, BOOLOID};
	Datum		values[18];
	char		nulls[18];
	const char *texts[7] = {job->key.user_id, job->to_address, subject, preheader, html, text,
	job->key.trigger_name};
	bool		isnull;

	memset(nulls, ' ', sizeof(nulls));
	for (int i = 0; i < 7; i++)
	{
		values[i] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
		nulls[i] = texts[i] ? ' ' : 'n';
	}
	values[7] = Int32GetDatum(job->action_index);
	values[8] = variant ? CStringGetTextDatum(variant) : (Datum) 0;
	nulls[8] = variant ? ' ' : 'n';
	values[9] = Int64GetDatum(job->key.source_event_id);
	nulls[9] = job->key.source_event_id ? ' ' : 'n';
	values[10] = TimestampTzGetDatum(job->send_after);
	values[11] = TimestampTzGetDatum(as_of);
	values[12] = job->key.sequence_name ? CStringGetTextDatum(job->key.sequence_name) : (Datum) 0;
	nulls[12] = job->key.sequence_name ? ' ' : 'n';
	values[13] = Int64GetDatum(job->journey_id);
	nulls[13] = job->journey_id ? ' ' : 'n';
	values[14] = Int32GetDatum(job->step);
	nulls[14] = job->journey_id ? ' ' : 'n';
	values[15] = CStringGetTextDatum(job->category ? job->category : MT_CATEGORY_DEFAULT);
	values[16] = Int32GetDatum(job->category ? job->priority : MT_PRIORITY_DEFAULT);
	values[17] = BoolGetDatum(job->transactional);
	mt_execute_plan(mt_kept_plan(&outbox_plan,
								 "INSERT INTO microtrigger.outbox (user_id, to_address, subject, preheader, html_body, text_body, "
								 "trigger_name, action_index, variant, source_event_id, send_after, created_at, "
								 "sequence_name, journey_id, step, category, priority, transactional) "
								 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) "
								 "ON CONFLICT DO NOTHING RETURNING id", 18, argtypes),
					values, nulls, false, 0, SPI_OK_INSERT_RETURNING);
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt64(mt_spi_datum(0, 1, &isnull));
}

/*
 * Chooses the email of a send_email action: the first variant whose condition holds, else the
 * action's template or inline parts; loads the template as `reader` may. On TEMPLATE_MISSING or
 * TEMPLATE_DENIED *unusable names the template.
 */
static TemplateFound
choose_email(const MtAction *action, Jsonb *context, Oid reader, MtActData *loaded, EmailParts *parts,
			 const char **variant, const char **unusable)
{
	MtDocument	doc;
	TemplateFound found;

	*variant = NULL;
	mt_document_init_jsonb(&doc, context);
	for (int v = 0; v < action->n_variants; v++)
		if (mt_condition_eval(action->variants[v].when, &doc))
		{
			*variant = action->variants[v].template_name;
			break;
		}
	if (*variant == NULL && action->template_name == NULL)
	{
		memset(parts, 0, sizeof(*parts));
		parts->subject = action->subject;
		parts->preheader = action->preheader;
		parts->html_body = action->content;
		parts->text_body = action->text;
		return TEMPLATE_FOUND;
	}
	found = loaded ? loaded_template(loaded, *variant ? *variant : action->template_name, reader, parts)
		: load_template(*variant ? *variant : action->template_name, reader, parts);
	if (found != TEMPLATE_FOUND)
	{
		*unusable = *variant ? *variant : action->template_name;
		return found;
	}
	if (*variant == NULL)
		*variant = action->template_name;
	return TEMPLATE_FOUND;
}

/* Chooses, checks, renders and queues one send_email action; true when an email was queued. */
bool
mt_queue_email(const MtAction *action, const MtEmailJob *job, Jsonb *context, TimestampTz as_of)
{
	EmailParts	parts;
	const char *variant;
	const char *unusable = NULL;
	TemplateFound found;
	char	   *missing;
	char	   *error = NULL;
	char	   *subject,
			   *preheader,
			   *html,
			   *text;
	int64		outbox_id;

	found = choose_email(action, context, job->reader, job->loaded, &parts, &variant, &unusable);
	if (found == TEMPLATE_MISSING)
	{
		mt_record_decision(&job->key, as_of, "template_missing", mt_detail1("template", unusable));
		return false;
	}
	if (found == TEMPLATE_DENIED)
	{
		const char *keys[2] = {"template", "reason"};
		const char *vals[2] = {unusable, "the template belongs to a role the trigger's or sequence's owner is not a member of"};

		mt_record_decision(&job->key, as_of, "template_denied", mt_detail_object(2, keys, vals));
		return false;
	}
	if ((missing = first_missing_name(parts.required, context)) != NULL)
	{
		const char *keys[2] = {"missing", "template"};
		const char *vals[2] = {missing, parts.template_name};

		mt_record_decision(&job->key, as_of, "missing_data", mt_detail_object(2, keys, vals));
		return false;
	}
	subject = render_part(&parts, 0, context, MT_RENDER_HEADER, job->reader, "subject", &error);
	preheader = render_part(&parts, 1, context, MT_RENDER_HEADER, job->reader, "preheader", &error);
	html = render_part(&parts, 2, context, MT_RENDER_HTML, job->reader, "html_body", &error);
	text = render_part(&parts, 3, context, MT_RENDER_TEXT, job->reader, "text_body", &error);
	if (error != NULL)
	{
		const char *keys[2] = {"error", "template"};
		const char *vals[2] = {error, parts.template_name};

		mt_record_decision(&job->key, as_of, "render_error", mt_detail_object(2, keys, vals));
		return false;
	}
	if (mt_write_buffering() && job->loaded != NULL)
	{
		/*
		 * a batch: written with the batch's other emails, expecting its key free (a key taken
		 * fails the batch, which is then replayed by this function's other path, one by one)
		 */
		mt_write_email(job, subject, preheader, html, text, variant, parts.template_name, as_of);
		if (job->written_id)
			*job->written_id = 0;
		return true;
	}
	outbox_id = insert_outbox(job, subject, preheader, html, text, variant, as_of);
	if (job->written_id)
		*job->written_id = outbox_id;
	mt_record_decision(&job->key, as_of, outbox_id ? "queued" : "duplicate",
					   mt_email_detail(outbox_id, parts.template_name, variant, job->send_after,
									   job->journey_id ? job->step : -1, job->held_until, job->optimal));
	return outbox_id != 0;
}
