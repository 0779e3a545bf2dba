/*
 * engine.c: acting on firings. For each firing due at as_of (claimed FOR UPDATE SKIP LOCKED):
 * absence check when its window closes, policy (contact, consent, cooldown), the context query
 * as the trigger's owner, the render context, variants, required names, rendering, and an
 * outbox row keyed by (trigger, event, action) — with a decision for every outcome. Each firing
 * is one subtransaction, so a failure becomes a decision and never blocks the queue.
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

#include "condition_eval.h"
#include "engine.h"
#include "render.h"
#include "rulecache.h"
#include "segments.h"
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
} Firing;

/* The contact of the firing's user. */
typedef struct Contact
{
	bool		found;
	char	   *email;
	bool		unsubscribed;
	char	   *suppressed_reason;	/* NULL: not suppressed */
} Contact;

/* Prepared plans kept for the backend's life. */
static SPIPlanPtr claim_plan;
static SPIPlanPtr event_plan;
static SPIPlanPtr absence_plan;
static SPIPlanPtr contact_plan;
static SPIPlanPtr cooldown_plan;
static SPIPlanPtr render_context_plan;
static SPIPlanPtr template_plan;
static SPIPlanPtr outbox_plan;
static SPIPlanPtr decision_plan;
static SPIPlanPtr firing_done_plan;
static SPIPlanPtr next_due_plan;

/* Prepares a plan once for the backend and keeps it. */
static SPIPlanPtr
kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

		if (plan == NULL)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
							errmsg("could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result))));
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

/* Runs a kept plan and checks the result code. */
static void
execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, long limit, int expected)
{
	int			ret = SPI_execute_plan(plan, values, nulls, read_only, limit);

	if (ret != expected)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("microtrigger engine query failed: %s", SPI_result_code_string(ret))));
}

/* A text column of the current SPI row, or NULL. */
static char *
spi_text(int row, int column)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

/* A binary column of the current SPI row. */
static Datum
spi_datum(int row, int column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, isnull);
}

/* Records a decision about a firing (or one of its actions). */
static void
record_decision(const Firing *firing, TimestampTz as_of, const char *outcome, Jsonb *detail)
{
	static const Oid argtypes[6] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, INT8OID};
	Datum		values[6];
	char		nulls[6] = "      ";
	SPIPlanPtr	plan = kept_plan(&decision_plan,
								 "INSERT INTO microtrigger.decisions (at, user_id, trigger_name, outcome, detail, source_event_id) "
								 "VALUES ($1, $2, $3, $4, coalesce($5, '{}'), $6)", 6, argtypes);

	values[0] = TimestampTzGetDatum(as_of);
	values[1] = CStringGetTextDatum(firing->user_id);
	values[2] = CStringGetTextDatum(firing->trigger_name);
	values[3] = CStringGetTextDatum(outcome);
	values[4] = detail ? JsonbPGetDatum(detail) : (Datum) 0;
	if (detail == NULL)
		nulls[4] = 'n';
	values[5] = Int64GetDatum(firing->source_event_id);
	execute_plan(plan, values, nulls, false, 0, SPI_OK_INSERT);
}

/* Builds a jsonb detail object from key/value text pairs (values NULL are left out). */
static Jsonb *
detail_object(int npairs, const char **keys, const char **texts)
{
	JsonbParseState *state = NULL;
	JsonbValue	k,
				v;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < npairs; i++)
	{
		if (texts[i] == NULL)
			continue;
		k.type = jbvString;
		k.val.string.val = (char *) keys[i];
		k.val.string.len = strlen(keys[i]);
		v.type = jbvString;
		v.val.string.val = (char *) texts[i];
		v.val.string.len = strlen(texts[i]);
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* A detail with one key. */
static Jsonb *
detail1(const char *key, const char *text)
{
	return detail_object(1, &key, &text);
}

/* Marks the firing done with its outcome. */
static void
finish_firing(const Firing *firing, const char *outcome)
{
	static const Oid argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(firing->id), CStringGetTextDatum(outcome)};

	execute_plan(kept_plan(&firing_done_plan,
						   "UPDATE microtrigger.firings SET state = 'done', outcome = $2 WHERE id = $1",
						   2, argtypes), values, NULL, false, 0, SPI_OK_UPDATE);
}

/* Loads the firing's source event into an event document; false when the event is gone. */
static bool
load_event(const Firing *firing, MtDocument *doc, Jsonb **params_out)
{
	static const Oid argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(firing->source_event_id)};
	bool		isnull;
	char	   *event_type;
	char	   *session_id;
	TimestampTz occurred_at;
	Jsonb	   *params;

	execute_plan(kept_plan(&event_plan,
						   "SELECT event_type, occurred_at, session_id, params FROM microtrigger.events WHERE id = $1",
						   1, argtypes), values, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	event_type = spi_text(0, 1);
	occurred_at = DatumGetTimestampTz(spi_datum(0, 2, &isnull));
	session_id = spi_text(0, 3);
	params = DatumGetJsonbPCopy(spi_datum(0, 4, &isnull));
	mt_document_init_event(doc, params, firing->user_id, strlen(firing->user_id),
						   event_type, strlen(event_type),
						   session_id, session_id ? strlen(session_id) : 0, occurred_at);
	*params_out = params;
	return true;
}

/* The value of a top-level param, or NULL when missing. */
static JsonbValue *
param_value(Jsonb *params, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&params->root, JB_FOBJECT, &k);
}

/* Are two top-level param values present and equal? */
static bool
same_param(Jsonb *a, Jsonb *b, const char *key)
{
	JsonbValue *va = param_value(a, key);
	JsonbValue *vb = param_value(b, key);
	Jsonb	   *ja,
			   *jb;

	if (va == NULL || vb == NULL)
		return false;
	ja = JsonbValueToJsonb(va);
	jb = JsonbValueToJsonb(vb);
	return compareJsonbContainers(&ja->root, &jb->root) == 0;
}

/*
 * The absence check at the window's end: the first event of the user inside the window
 * (by occurred_at, whatever its arrival order) that passes the unless clause; 0 when none.
 */
static int64
find_cancelling_event(const MtTrigger *trigger, const Firing *firing, Jsonb *source_params)
{
	static const Oid argtypes[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
	const MtClause *unless = &trigger->unless;
	Datum		values[4];

	values[0] = CStringGetTextDatum(firing->user_id);
	values[1] = TimestampTzGetDatum(firing->event_at);
	values[2] = TimestampTzGetDatum(firing->event_at + unless->within);
	values[3] = Int64GetDatum(firing->source_event_id);
	execute_plan(kept_plan(&absence_plan,
						   "SELECT id, event_type, occurred_at, session_id, params FROM microtrigger.events "
						   "WHERE user_id = $1 AND occurred_at >= $2 AND occurred_at <= $3 AND id <> $4 "
						   "ORDER BY occurred_at, id", 4, argtypes),
				 values, NULL, false, 0, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		char	   *type = spi_text(row, 2);
		char	   *session = spi_text(row, 4);
		Jsonb	   *params = DatumGetJsonbP(spi_datum(row, 5, &isnull));
		MtDocument	doc;
		bool		same = true;

		if (!mt_clause_accepts_type(unless, type, strlen(type)))
			continue;
		for (int i = 0; same && i < unless->n_same; i++)
			same = same_param(source_params, params, unless->same[i]);
		if (!same)
			continue;
		if (unless->condition != NULL)
		{
			mt_document_init_event(&doc, params, firing->user_id, strlen(firing->user_id),
								   type, strlen(type), session, session ? strlen(session) : 0,
								   DatumGetTimestampTz(spi_datum(row, 3, &isnull)));
			if (!mt_condition_eval(unless->condition, &doc))
				continue;
		}
		return DatumGetInt64(spi_datum(row, 1, &isnull));
	}
	return 0;
}

/* The contact, its consent and suppression. */
static Contact
load_contact(const char *user_id)
{
	static const Oid argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(user_id)};
	Contact		contact = {0};

	execute_plan(kept_plan(&contact_plan,
						   "SELECT c.email, c.unsubscribed_at IS NOT NULL, "
						   "  (SELECT s.reason FROM microtrigger.suppressions s WHERE s.address = lower(c.email)) "
						   "FROM microtrigger.contacts c WHERE c.user_id = $1", 1, argtypes),
				 values, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return contact;
	contact.found = true;
	contact.email = spi_text(0, 1);
	contact.unsubscribed = strcmp(spi_text(0, 2), "t") == 0;
	contact.suppressed_reason = spi_text(0, 3);
	return contact;
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
	execute_plan(kept_plan(&cooldown_plan,
						   "SELECT 1 FROM microtrigger.firings WHERE trigger_name = $1 AND user_id = $2 "
						   "AND id <> $3 AND outcome = 'queued' AND event_at > $4 AND event_at < $5 LIMIT 1",
						   5, argtypes), values, NULL, false, 1, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * Runs the trigger's context query as its owner, read-only, in a subtransaction that is always
 * rolled back. Returns its first row as a jsonb object ({} when no row), or NULL with *error set;
 * *denied tells a privilege failure apart.
 */
static Jsonb *
run_context_query(const MtRule *rule, const char *user_id, char **error, bool *denied)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	Oid			saved_user;
	int			saved_security;
	bool		saved_read_only = XactReadOnly;
	Jsonb	   *result = NULL;
	char	   *sql = psprintf("SELECT to_jsonb(q) FROM (\n%s\n) q LIMIT 1", rule->trigger->context_sql);

	*error = NULL;
	*denied = false;
	GetUserIdAndSecContext(&saved_user, &saved_security);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(user_id)};
		int			nestlevel;
		int			ret;

		SetUserIdAndSecContext(rule->owner, saved_security | SECURITY_LOCAL_USERID_CHANGE |
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
			MemoryContext inner = MemoryContextSwitchTo(caller_context);

			result = DatumGetJsonbPCopy(row);
			MemoryContextSwitchTo(inner);
		}
		AtEOXact_GUC(false, nestlevel);
		XactReadOnly = saved_read_only;
		SetUserIdAndSecContext(saved_user, saved_security);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		XactReadOnly = saved_read_only;
		SetUserIdAndSecContext(saved_user, saved_security);
		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED || edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		*error = edata->message;
		*denied = edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE;
		return NULL;
	}
	PG_END_TRY();
	if (result == NULL)
	{
		JsonbParseState *state = NULL;

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		result = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	}
	return result;
}

/* The render context of API.md, built in SQL by microtrigger.render_context(). */
static Jsonb *
build_render_context(const Firing *firing, Jsonb *profile, TimestampTz as_of)
{
	static const Oid argtypes[4] = {INT8OID, TEXTOID, JSONBOID, TIMESTAMPTZOID};
	Datum		values[4];
	char		nulls[4] = "    ";
	bool		isnull;

	values[0] = Int64GetDatum(firing->source_event_id);
	values[1] = CStringGetTextDatum(firing->trigger_name);
	values[2] = profile ? JsonbPGetDatum(profile) : (Datum) 0;
	if (!profile)
		nulls[2] = 'n';
	values[3] = TimestampTzGetDatum(as_of);
	execute_plan(kept_plan(&render_context_plan,
						   "SELECT microtrigger.render_context($1, $2, $3, $4)", 4, argtypes),
				 values, nulls, false, 1, SPI_OK_SELECT);
	return DatumGetJsonbPCopy(spi_datum(0, 1, &isnull));
}

/* One email's parts, as a template row or an inline action gives them. */
typedef struct EmailParts
{
	char	   *template_name;	/* NULL for inline */
	char	   *subject;
	char	   *preheader;
	char	   *html_body;
	char	   *text_body;
	ArrayType  *required;
} EmailParts;

/* Loads a template by name; false when there is none. */
static bool
load_template(const char *name, EmailParts *parts)
{
	static const Oid argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Datum		required;

	execute_plan(kept_plan(&template_plan,
						   "SELECT subject, preheader, html_body, text_body, required FROM microtrigger.templates WHERE name = $1",
						   1, argtypes), values, NULL, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	parts->template_name = pstrdup(name);
	parts->subject = spi_text(0, 1);
	parts->preheader = spi_text(0, 2);
	parts->html_body = spi_text(0, 3);
	parts->text_body = spi_text(0, 4);
	required = spi_datum(0, 5, &isnull);
	parts->required = isnull ? NULL : DatumGetArrayTypePCopy(required);
	return true;
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

/* Renders one part; NULL text stays NULL. On failure sets *error (first one wins). */
static char *
render_part(const char *text, Jsonb *context, MtRenderMode mode, const char *part, char **error)
{
	char	   *message = NULL;
	char	   *result;

	if (text == NULL || *error != NULL)
		return NULL;
	result = mt_render_jsonb(text, context, NULL, mode, &message);
	if (result == NULL)
		*error = psprintf("%s: %s", part, message ? message : "render failed");
	return result;
}

/* Inserts the outbox row; returns its id, or 0 when the key already had one. */
static int64
insert_outbox(const Firing *firing, int action_index, const char *to_address, const EmailParts *parts,
			  const char *subject, const char *preheader, const char *html, const char *text,
			  const char *variant, TimestampTz send_after, TimestampTz as_of)
{
	static const Oid argtypes[12] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	INT4OID, TEXTOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[12];
	char		nulls[12];
	const char *texts[7] = {firing->user_id, to_address, subject, preheader, html, text, firing->trigger_name};
	bool		isnull;

	memset(nulls, ' ', sizeof(nulls));
	for (int i = 0; i < 7; i++)
	{
		values[i] = texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0;
		if (!texts[i])
			nulls[i] = 'n';
	}
	values[7] = Int32GetDatum(action_index);
	values[8] = variant ? CStringGetTextDatum(variant) : (Datum) 0;
	if (!variant)
		nulls[8] = 'n';
	values[9] = Int64GetDatum(firing->source_event_id);
	values[10] = TimestampTzGetDatum(send_after);
	values[11] = TimestampTzGetDatum(as_of);
	execute_plan(kept_plan(&outbox_plan,
						   "INSERT INTO microtrigger.outbox (user_id, to_address, subject, preheader, html_body, text_body, "
						   "trigger_name, action_index, variant, source_event_id, send_after, created_at) "
						   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
						   "ON CONFLICT DO NOTHING RETURNING id", 12, argtypes),
				 values, nulls, false, 0, SPI_OK_INSERT_RETURNING);
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt64(spi_datum(0, 1, &isnull));
}

/* Chooses the email of a send_email action: the first variant whose condition holds, else its own. */
static bool
choose_email(const MtAction *action, Jsonb *context, EmailParts *parts, const char **variant,
			 const char **missing_template)
{
	MtDocument	doc;

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
		return true;
	}
	if (!load_template(*variant ? *variant : action->template_name, parts))
	{
		*missing_template = *variant ? *variant : action->template_name;
		return false;
	}
	if (*variant == NULL)
		*variant = action->template_name;
	return true;
}

/* Performs one send_email action; returns true when an email was queued. */
static bool
send_email_action(const MtRule *rule, const Firing *firing, int action_index, Jsonb *context,
				  const char *to_address, TimestampTz trigger_time, TimestampTz as_of)
{
	const MtAction *action = &rule->trigger->actions[action_index];
	EmailParts	parts;
	const char *variant;
	const char *missing_template = NULL;
	char	   *missing;
	char	   *error = NULL;
	char	   *subject,
			   *preheader,
			   *html,
			   *text;
	TimestampTz send_after = trigger_time + rule->trigger->delay;
	int64		outbox_id;

	if (!choose_email(action, context, &parts, &variant, &missing_template))
	{
		record_decision(firing, as_of, "template_missing", detail1("template", missing_template));
		return false;
	}
	if ((missing = first_missing_name(parts.required, context)) != NULL)
	{
		const char *keys[2] = {"missing", "template"};
		const char *vals[2] = {missing, parts.template_name};

		record_decision(firing, as_of, "missing_data", detail_object(2, keys, vals));
		return false;
	}
	subject = render_part(parts.subject, context, MT_RENDER_HEADER, "subject", &error);
	preheader = render_part(parts.preheader, context, MT_RENDER_HEADER, "preheader", &error);
	html = render_part(parts.html_body, context, MT_RENDER_HTML, "html_body", &error);
	text = render_part(parts.text_body, context, MT_RENDER_TEXT, "text_body", &error);
	if (error != NULL)
	{
		const char *keys[2] = {"error", "template"};
		const char *vals[2] = {error, parts.template_name};

		record_decision(firing, as_of, "render_error", detail_object(2, keys, vals));
		return false;
	}
	outbox_id = insert_outbox(firing, action_index, to_address, &parts, subject, preheader, html, text,
							  variant, send_after, as_of);
	{
		const char *keys[4] = {"outbox_id", "template", "variant", "send_after"};
		const char *vals[4] = {
			outbox_id ? psprintf(INT64_FORMAT, outbox_id) : NULL,
			parts.template_name,
			variant,
			DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(send_after)))
		};

		record_decision(firing, as_of, outbox_id ? "queued" : "duplicate", detail_object(4, keys, vals));
	}
	return outbox_id != 0;
}

/* Decides and acts on one firing; returns the outcome written on the firing row. */
static const char *
process_firing(const Firing *firing, TimestampTz as_of)
{
	MtRule	   *rule = mt_rulecache_lookup(firing->trigger_name);
	MtDocument	event_doc;
	Jsonb	   *source_params;
	Contact		contact;
	Jsonb	   *profile = NULL;
	Jsonb	   *context;
	TimestampTz trigger_time;
	bool		queued = false;

	if (rule == NULL)
	{
		record_decision(firing, as_of, "trigger_disabled",
						detail1("reason", "the trigger was disabled or deleted before it acted"));
		return "trigger_disabled";
	}
	if (!load_event(firing, &event_doc, &source_params))
	{
		record_decision(firing, as_of, "event_missing", NULL);
		return "event_missing";
	}
	if (firing->is_absence)
	{
		int64		cancelling = find_cancelling_event(rule->trigger, firing, source_params);

		if (cancelling != 0)
		{
			record_decision(firing, as_of, "cancelled_by_event",
							detail1("cancelled_by", psprintf(INT64_FORMAT, cancelling)));
			return "cancelled_by_event";
		}
	}
	trigger_time = firing->is_absence ? firing->due_at : firing->event_at;

	contact = load_contact(firing->user_id);
	if (!contact.found)
	{
		record_decision(firing, as_of, "no_contact", detail1("reason", "no row in microtrigger.contacts"));
		return "no_contact";
	}
	if (contact.unsubscribed)
	{
		record_decision(firing, as_of, "unsubscribed", NULL);
		return "unsubscribed";
	}
	if (contact.email == NULL || contact.email[0] == '\0')
	{
		record_decision(firing, as_of, "no_email", NULL);
		return "no_email";
	}
	if (contact.suppressed_reason != NULL)
	{
		record_decision(firing, as_of, "suppressed", detail1("reason", contact.suppressed_reason));
		return "suppressed";
	}
	if (cooldown_active(rule->trigger, firing))
	{
		record_decision(firing, as_of, "cooldown", NULL);
		return "cooldown";
	}
	if (rule->trigger->context_sql)
	{
		char	   *error;
		bool		denied;

		profile = run_context_query(rule, firing->user_id, &error, &denied);
		if (profile == NULL)
		{
			record_decision(firing, as_of, denied ? "context_denied" : "context_error", detail1("error", error));
			return denied ? "context_denied" : "context_error";
		}
	}
	context = build_render_context(firing, profile, as_of);
	for (int a = 0; a < rule->trigger->n_actions; a++)
	{
		const MtAction *action = &rule->trigger->actions[a];

		if (action->kind == MT_ACTION_SEND_EMAIL)
			queued |= send_email_action(rule, firing, a, context, contact.email, trigger_time, as_of);
		else
			record_decision(firing, as_of, "sequence_not_supported",
							detail1("sequence", action->sequence_name));
	}
	return queued ? "queued" : "not_queued";
}

/* Processes one firing in a subtransaction: an unexpected error becomes an "error" decision. */
static void
process_firing_safely(const Firing *firing, TimestampTz as_of)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		finish_firing(firing, process_firing(firing, as_of));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED || edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		record_decision(firing, as_of, "error", detail1("error", edata->message));
		finish_firing(firing, "error");
	}
	PG_END_TRY();
}

/* Claims up to limit due firings; returns them in a palloc'd array. */
static int
claim_firings(TimestampTz as_of, int limit, Firing **out)
{
	static const Oid argtypes[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2] = {TimestampTzGetDatum(as_of), Int32GetDatum(limit)};
	Firing	   *firings;

	execute_plan(kept_plan(&claim_plan,
						   "SELECT id, trigger_name, source_event_id, user_id, event_at, due_at, is_absence "
						   "FROM microtrigger.firings WHERE state = 'waiting' AND due_at <= $1 "
						   "ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED", 2, argtypes),
				 values, NULL, false, 0, SPI_OK_SELECT);
	firings = palloc(sizeof(Firing) * Max(SPI_processed, 1));
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		Firing	   *f = &firings[row];

		f->id = DatumGetInt64(spi_datum(row, 1, &isnull));
		f->trigger_name = spi_text(row, 2);
		f->source_event_id = DatumGetInt64(spi_datum(row, 3, &isnull));
		f->user_id = spi_text(row, 4);
		f->event_at = DatumGetTimestampTz(spi_datum(row, 5, &isnull));
		f->due_at = DatumGetTimestampTz(spi_datum(row, 6, &isnull));
		f->is_absence = DatumGetBool(spi_datum(row, 7, &isnull));
	}
	*out = firings;
	return (int) SPI_processed;
}

/* Does the work due at as_of, up to limit firings (all when limit <= 0). */
int
mt_run_pending(TimestampTz as_of, int limit)
{
	int			done = 0;
	MemoryContext batch_context;
	MemoryContext old;

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	mt_rulecache_ensure();
	done += mt_segments_run_pending(as_of, limit);
	batch_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger run_pending batch",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		Firing	   *firings;
		int			n;
		int			want = limit > 0 ? Min(limit - done, 500) : 500;

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
	MemoryContextDelete(batch_context);
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
	execute_plan(kept_plan(&next_due_plan,
						   "SELECT min(due_at) FROM microtrigger.firings WHERE state = 'waiting'", 0, NULL),
				 NULL, NULL, false, 1, SPI_OK_SELECT);
	value = spi_datum(0, 1, &isnull);
	if (!isnull)
		result = DatumGetTimestampTz(value);
	SPI_finish();
	result = Min(result, mt_segments_next_due());
	return result;
}

/* SQL: microtrigger.run_pending(as_of timestamptz DEFAULT now()) RETURNS integer. */
Datum
mt_run_pending_sql(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = PG_ARGISNULL(0) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(0);

	PG_RETURN_INT32(mt_run_pending(as_of, 0));
}
