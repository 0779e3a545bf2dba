/*
 * act_load.c: the load stage of acting (act_load.h). Each kind of row a batch needs is read by
 * one kept plan over arrays of keys, copied into the caller's memory context and sorted, so the
 * later stages find a firing's event, user and templates by binary search, without SQL.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "act_load.h"
#include "event_row.h"
#include "delivery.h"
#include "device_sql.h"
#include "subxact.h"

static SPIPlanPtr events_plan;
static SPIPlanPtr contacts_plan;
static SPIPlanPtr segments_plan;
static SPIPlanPtr last_page_plan;
static SPIPlanPtr device_plan;
static SPIPlanPtr caps_plan;
static SPIPlanPtr mails_plan;
static SPIPlanPtr templates_plan;
static SPIPlanPtr cooldown_plan;

/*
 * Runs a kept plan and comes back to cxt (SPI leaves its own memory context current). Not
 * read-only: a fresh snapshot, so what a concurrent run_pending committed before we got its
 * users' locks is seen (the cooldown).
 */
static void
run(SPIPlanPtr plan, Datum *values, MemoryContext cxt)
{
	mt_execute_plan(plan, values, NULL, false, 0, SPI_OK_SELECT);
	MemoryContextSwitchTo(cxt);
}

/* A text column as a C string, or NULL. */
static char *
text_col(uint64 row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Orders events by id. */
static int
event_cmp(const void *a, const void *b)
{
	int64		x = ((const MtLoadedEvent *) a)->id;
	int64		y = ((const MtLoadedEvent *) b)->id;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Orders users by user id. */
static int
user_cmp(const void *a, const void *b)
{
	return strcmp(((const MtLoadedUser *) a)->user_id, ((const MtLoadedUser *) b)->user_id);
}

/* Orders templates by name. */
static int
template_cmp(const void *a, const void *b)
{
	return strcmp(((const MtLoadedTemplate *) a)->name, ((const MtLoadedTemplate *) b)->name);
}

/* Orders C strings. */
static int
string_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorts and de-duplicates an array of C strings in place; returns the new count. */
static int
unique_strings(char **items, int n)
{
	int			out = 0;

	qsort(items, n, sizeof(char *), string_cmp);
	for (int i = 0; i < n; i++)
		if (out == 0 || strcmp(items[out - 1], items[i]) != 0)
			items[out++] = items[i];
	return out;
}

/* The batch's events. */
static void
load_events(MtActData *data, const MtActRequest *request, MemoryContext cxt)
{
	static const Oid argtypes[1] = {INT8ARRAYOID};
	Datum		values[1] = {mt_int8_array_param(request->event_ids, request->n_event_ids, INT8OID)};
	MtEventColumns cols;

	run(mt_kept_plan(&events_plan,
					 "SELECT id, event_type, occurred_at, session_id, params, user_id FROM microtrigger.events "
					 "WHERE id = ANY ($1)", 1, argtypes), values, cxt);
	data->events = palloc0(sizeof(MtLoadedEvent) * Max(SPI_processed, 1));
	data->n_events = (int) SPI_processed;
	mt_event_columns_init(&cols, SPI_tuptable->tupdesc);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MtLoadedEvent *e = &data->events[row];
		MtEventRow	event;

		/* copied into the batch's context: the SPI rows are freed below */
		mt_event_row_from_tuple(&event, SPI_tuptable->vals[row], SPI_tuptable->tupdesc, &cols);
		e->id = event.id;
		e->user_id = text_to_cstring(event.user_id);
		e->event_type = text_to_cstring(event.event_type);
		e->session_id = event.session_id ? text_to_cstring(event.session_id) : NULL;
		e->occurred_at = event.occurred_at;
		e->params = palloc(VARSIZE(event.params));
		memcpy(e->params, event.params, VARSIZE(event.params));
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(data->events, data->n_events, sizeof(MtLoadedEvent), event_cmp);
}

/* The batch's users: contact, consent, suppression, segments, last page. */
static void
load_users(MtActData *data, char **user_ids, int n, TimestampTz as_of, MemoryContext cxt)
{
	static const Oid argtypes[2] = {TEXTARRAYOID, TIMESTAMPTZOID};
	Datum		values[2] = {mt_text_array_param(user_ids, n), TimestampTzGetDatum(as_of)};

	data->users = palloc0(sizeof(MtLoadedUser) * Max(n, 1));
	data->n_users = n;
	for (int i = 0; i < n; i++)
		data->users[i].user_id = user_ids[i];	/* sorted by unique_strings */

	run(mt_kept_plan(&contacts_plan,
					 "SELECT c.user_id, c.email, c.unsubscribed_at IS NOT NULL, s.reason, c.timezone, c.attributes "
					 "FROM microtrigger.contacts c "
					 "LEFT JOIN microtrigger.suppressions s ON s.address = pg_catalog.lower(c.email) "
					 "WHERE c.user_id = ANY ($1)", 2, argtypes), values, cxt);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		char	   *user_id = text_col(row, 1);
		MtLoadedUser *u = mt_act_user(data, user_id);
		bool		isnull;

		if (u == NULL)
			continue;
		u->contact.found = true;
		u->contact.email = text_col(row, 2);
		u->contact.unsubscribed = DatumGetBool(mt_spi_datum(row, 3, &isnull));
		u->contact.suppressed_reason = text_col(row, 4);
		u->contact.timezone = text_col(row, 5);
		u->contact.attributes = DatumGetJsonbPCopy(mt_spi_datum(row, 6, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);

	run(mt_kept_plan(&segments_plan,
					 "SELECT user_id, segment FROM microtrigger.segment_members WHERE user_id = ANY ($1) "
					 "ORDER BY user_id, segment", 2, argtypes), values, cxt);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MtLoadedUser *u = mt_act_user(data, text_col(row, 1));

		if (u == NULL)
			continue;
		u->segments = u->segments ? repalloc(u->segments, sizeof(char *) * (u->n_segments + 1))
			: palloc(sizeof(char *));
		u->segments[u->n_segments++] = text_col(row, 2);
	}
	SPI_freetuptable(SPI_tuptable);

	run(mt_kept_plan(&last_page_plan,
					 "SELECT u.id, (SELECT p.params ->> 'url' FROM microtrigger.events p "
					 "  WHERE p.user_id = u.id AND p.event_type = 'page_view' AND p.occurred_at <= $2 "
					 "  ORDER BY p.occurred_at DESC, p.id DESC LIMIT 1) "
					 "FROM pg_catalog.unnest($1) AS u(id)", 2, argtypes), values, cxt);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MtLoadedUser *u = mt_act_user(data, text_col(row, 1));

		if (u != NULL)
			u->last_page = text_col(row, 2);
	}
	SPI_freetuptable(SPI_tuptable);

	/* the device of each user's latest event that names one (what an event without one uses) */
	run(mt_kept_plan(&device_plan,
					 "SELECT u.id, (SELECT p.params FROM microtrigger.events p "
					 "  WHERE p.user_id = u.id AND p.occurred_at <= $2 "
					 "  AND (p.params ? 'device' OR p.params ? 'user_agent') "
					 "  ORDER BY p.occurred_at DESC, p.id DESC LIMIT 1) "
					 "FROM pg_catalog.unnest($1) AS u(id)", 2, argtypes), values, cxt);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MtLoadedUser *u = mt_act_user(data, text_col(row, 1));
		bool		isnull;
		Datum		params = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2, &isnull);

		if (u != NULL && !isnull)
			u->latest_device = mt_event_device(DatumGetJsonbP(params));
	}
	SPI_freetuptable(SPI_tuptable);
}

/* A string member of a jsonb object (NULL: missing or not a string), palloc'd. */
static char *
string_param(Jsonb *params, const char *key, int *len)
{
	JsonbValue	k;
	JsonbValue *v;

	if (params == NULL || !JB_ROOT_IS_OBJECT(params))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&params->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	*len = v->val.string.len;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The device of an event's params (see act_load.h). */
const char *
mt_event_device(Jsonb *params)
{
	int			len;
	char	   *device = string_param(params, "device", &len);
	const char *kind;

	if (device != NULL)
		return device;
	if ((device = string_param(params, "user_agent", &len)) == NULL)
		return NULL;
	kind = mt_device_classify(device, len);
	return strcmp(kind, "bot") == 0 ? NULL : kind;
}

/* An event's device, else its user's latest (see act_load.h). */
const char *
mt_act_device(const MtLoadedEvent *event, const MtLoadedUser *user)
{
	const char *device = mt_event_device(event->params);

	return device != NULL ? device : user ? user->latest_device : NULL;
}

/* The templates the batch's actions name (every one; the reader is checked when used). */
static void
load_templates(MtActData *data, char **names, int n, MemoryContext cxt)
{
	static const Oid argtypes[1] = {TEXTARRAYOID};
	Datum		values[1] = {mt_text_array_param(names, n)};

	if (n == 0)
		return;
	run(mt_kept_plan(&templates_plan,
					 "SELECT name, owner::pg_catalog.oid, subject, preheader, html_body, text_body, required "
					 "FROM microtrigger.templates WHERE name = ANY ($1)", 1, argtypes), values, cxt);
	data->templates = palloc0(sizeof(MtLoadedTemplate) * Max(SPI_processed, 1));
	data->n_templates = (int) SPI_processed;
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MtLoadedTemplate *t = &data->templates[row];
		bool		isnull;
		Datum		required;

		t->name = text_col(row, 1);
		t->owner = DatumGetObjectId(mt_spi_datum(row, 2, &isnull));
		t->cxt = cxt;
		for (int p = 0; p < 4; p++)
			t->parts[p] = text_col(row, 3 + p);
		required = mt_spi_datum(row, 7, &isnull);
		t->required = isnull ? NULL : DatumGetArrayTypePCopy(required);
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(data->templates, data->n_templates, sizeof(MtLoadedTemplate), template_cmp);
}

/*
 * The queued firings inside the cooldown windows of the batch's firings: one probe of the
 * firings_cooldown index per window (OFFSET 0 keeps it one: statistics taken before the run
 * show no queued firing, and a join planned from them scans every firing for every window).
 */
static void
load_cooldowns(MtActData *data, const MtActRequest *request, MemoryContext cxt)
{
	static const Oid argtypes[4] = {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		values[4];

	data->queued_cap = 16;
	data->queued = palloc(sizeof(MtQueuedFiring) * data->queued_cap);
	if (request->n_cooldowns == 0)
		return;
	values[0] = mt_text_array_param(request->cd_triggers, request->n_cooldowns);
	values[1] = mt_text_array_param(request->cd_users, request->n_cooldowns);
	values[2] = mt_int8_array_param(request->cd_from, request->n_cooldowns, TIMESTAMPTZOID);
	values[3] = mt_int8_array_param(request->cd_to, request->n_cooldowns, TIMESTAMPTZOID);
	run(mt_kept_plan(&cooldown_plan,
					 "SELECT DISTINCT f.trigger_name, f.user_id, f.id, f.event_at "
					 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
					 "pg_catalog.unnest($4)) AS w(trigger_name, user_id, lo, hi) "
					 "CROSS JOIN LATERAL (SELECT f.trigger_name, f.user_id, f.id, f.event_at "
					 "  FROM microtrigger.firings f WHERE f.trigger_name = w.trigger_name AND f.user_id = w.user_id "
					 "  AND f.event_at > w.lo AND f.event_at < w.hi AND f.outcome = 'queued' OFFSET 0) f",
					 4, argtypes), values, cxt);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;

		mt_act_note_queued(data, text_col(row, 1), text_col(row, 2),
						   DatumGetInt64(mt_spi_datum(row, 3, &isnull)),
						   DatumGetTimestampTz(mt_spi_datum(row, 4, &isnull)));
	}
	SPI_freetuptable(SPI_tuptable);
}

/* The frequency_caps rows (few: read whole for every batch). */
static void
load_caps(MtActData *data, MemoryContext cxt)
{
	run(mt_kept_plan(&caps_plan,
					 "SELECT name, max_emails, per, category FROM microtrigger.frequency_caps ORDER BY name",
					 0, NULL), NULL, cxt);
	data->caps = palloc0(sizeof(MtCapRule) * Max(SPI_processed, 1));
	data->n_caps = (int) SPI_processed;
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MtCapRule  *c = &data->caps[row];
		bool		isnull;
		char	   *per = text_col(row, 3);

		c->name = text_col(row, 1);
		c->max_emails = DatumGetInt32(mt_spi_datum(row, 2, &isnull));
		c->category = text_col(row, 4);
		if (strcmp(per, "day") == 0 || strcmp(per, "week") == 0 || strcmp(per, "month") == 0)
			c->calendar = per[0];
		else
		{
			MtDuration	d = 0;

			(void) mt_parse_duration_text(per, &d);		/* (the table's CHECK read it) */
			c->rolling = Max(d, USECS_PER_SEC);
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/* How far back an email can count against a cap: a month (and a day), or the longest interval. */
static int64
caps_lookback(const MtActData *data)
{
	int64		back = 0;

	for (int i = 0; i < data->n_caps; i++)
		back = Max(back, data->caps[i].calendar ? 32 * USECS_PER_DAY : data->caps[i].rolling);
	return back;
}

/*
 * The users' emails that caps and signals count: not cancelled or dead, and going (the later of
 * send_after and created_at, the as_of that queued it: an email queued late goes when it is
 * queued) less than the lookback before as_of (or later), or of one of the batch's events.
 */
static void
load_mails(MtActData *data, MemoryContext cxt)
{
	static const Oid argtypes[3] = {TEXTARRAYOID, TIMESTAMPTZOID, INT8ARRAYOID};
	int64		back = caps_lookback(data);
	Datum		values[3];

	for (int i = 0; i < data->n_users; i++)
		data->users[i].n_mails = 0;
	values[0] = data->mail_users;
	values[1] = TimestampTzGetDatum(data->n_caps > 0 ? mt_time_add_saturated(data->as_of, -back) : DT_NOEND);
	values[2] = data->mail_events;
	run(mt_kept_plan(&mails_plan,
					 "SELECT o.user_id, o.id, GREATEST(o.send_after, o.created_at), o.category, o.priority, o.transactional, "
					 "o.status = 'queued', o.source_event_id, o.trigger_name, o.sequence_name "
					 "FROM microtrigger.outbox o WHERE o.user_id = ANY ($1) "
					 "AND o.status NOT IN ('cancelled', 'dead') "
					 "AND (GREATEST(o.send_after, o.created_at) > $2 OR o.source_event_id = ANY ($3)) ORDER BY o.id",
					 3, argtypes), values, cxt);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MtLoadedUser *u = mt_act_user(data, text_col(row, 1));
		MtUserMail	m = {0};
		bool		isnull;
		Datum		d;

		if (u == NULL)
			continue;
		m.outbox_id = DatumGetInt64(mt_spi_datum(row, 2, &isnull));
		m.send_after = DatumGetTimestampTz(mt_spi_datum(row, 3, &isnull));
		m.category = text_col(row, 4);
		m.priority = DatumGetInt32(mt_spi_datum(row, 5, &isnull));
		m.transactional = DatumGetBool(mt_spi_datum(row, 6, &isnull));
		m.queued = DatumGetBool(mt_spi_datum(row, 7, &isnull));
		d = mt_spi_datum(row, 8, &isnull);
		m.source_event_id = isnull ? 0 : DatumGetInt64(d);
		m.trigger_name = text_col(row, 9);
		m.sequence_name = text_col(row, 10);
		mt_act_note_mail(data, u, &m);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* Reads the users' mails again (see act_load.h). */
void
mt_act_reload_mails(MtActData *data)
{
	if (data->n_users > 0)
		load_mails(data, CurrentMemoryContext);
}

/* Notes an email for a user (see act_load.h). */
MtUserMail *
mt_act_note_mail(MtActData *data, MtLoadedUser *user, const MtUserMail *mail)
{
	/* in the batch's memory (where the user is), not a firing's scratch context */
	MemoryContext old = MemoryContextSwitchTo(data->cxt);
	MtUserMail *m;

	if (user->n_mails == user->mails_cap)
	{
		user->mails_cap = user->mails_cap ? user->mails_cap * 2 : 4;
		user->mails = user->mails ? repalloc(user->mails, sizeof(MtUserMail) * user->mails_cap)
			: palloc(sizeof(MtUserMail) * user->mails_cap);
	}
	m = &user->mails[user->n_mails++];
	*m = *mail;
	m->category = pstrdup(mail->category);
	m->trigger_name = mail->trigger_name ? pstrdup(mail->trigger_name) : NULL;
	m->sequence_name = mail->sequence_name ? pstrdup(mail->sequence_name) : NULL;
	MemoryContextSwitchTo(old);
	return m;
}

/* Reads (or makes) the unsubscribe key into the batch's data. */
static void
load_key(void *arg)
{
	MtActData  *data = arg;
	MemoryContext cxt = CurrentMemoryContext;
	char	   *key = mt_unsubscribe_key();

	MemoryContextSwitchTo(cxt);
	data->unsubscribe_key = pstrdup(key);
}

/* Loads what the request names (see act_load.h). */
MtActData *
mt_act_load(const MtActRequest *request, TimestampTz as_of)
{
	MemoryContext cxt = CurrentMemoryContext;
	MtActData  *data = palloc0(sizeof(MtActData));
	char	  **users = palloc(sizeof(char *) * Max(request->n_user_ids, 1));
	char	  **names = palloc(sizeof(char *) * Max(request->n_template_names, 1));
	int			n_users;
	int			n_names;

	memcpy(users, request->user_ids, sizeof(char *) * request->n_user_ids);
	n_users = unique_strings(users, request->n_user_ids);
	memcpy(names, request->template_names, sizeof(char *) * request->n_template_names);
	n_names = unique_strings(names, request->n_template_names);
	if (request->n_event_ids > 0)
		load_events(data, request, cxt);
	data->as_of = as_of;
	data->cxt = cxt;
	if (n_users > 0)
	{
		load_users(data, users, n_users, as_of, cxt);
		load_caps(data, cxt);
		data->mail_users = mt_text_array_param(users, n_users);
		data->mail_events = mt_int8_array_param(request->event_ids, request->n_event_ids, INT8OID);
		load_mails(data, cxt);
	}
	load_templates(data, names, n_names, cxt);
	load_cooldowns(data, request, cxt);
	if (!request->want_key || n_users == 0)
		return data;			/* (an empty batch must not wait on another session's new key) */
	/* the key, made on first use: kept only if that commits (else each firing asks, and fails, itself) */
	if (mt_run_in_subtransaction(load_key, data, true) != NULL)
		data->unsubscribe_key = NULL;
	MemoryContextSwitchTo(cxt);
	return data;
}

/* The loaded event with this id, or NULL. */
MtLoadedEvent *
mt_act_event(const MtActData *data, int64 id)
{
	MtLoadedEvent key = {0};

	key.id = id;
	return bsearch(&key, data->events, data->n_events, sizeof(MtLoadedEvent), event_cmp);
}

/* The loaded user with this id, or NULL. */
MtLoadedUser *
mt_act_user(const MtActData *data, const char *user_id)
{
	MtLoadedUser key = {0};

	key.user_id = (char *) user_id;
	return bsearch(&key, data->users, data->n_users, sizeof(MtLoadedUser), user_cmp);
}

/* The loaded template with this name, or NULL. */
MtLoadedTemplate *
mt_act_template(const MtActData *data, const char *name)
{
	MtLoadedTemplate key = {0};

	key.name = (char *) name;
	return bsearch(&key, data->templates, data->n_templates, sizeof(MtLoadedTemplate), template_cmp);
}

/* Remembers a queued firing for the cooldown (see act_load.h). */
void
mt_act_note_queued(MtActData *data, const char *trigger_name, const char *user_id, int64 firing_id,
				   TimestampTz event_at)
{
	MtQueuedFiring *q;

	if (data->n_queued == data->queued_cap)
	{
		data->queued_cap *= 2;
		data->queued = repalloc(data->queued, sizeof(MtQueuedFiring) * data->queued_cap);
	}
	q = &data->queued[data->n_queued++];
	q->trigger_name = pstrdup(trigger_name);
	q->user_id = pstrdup(user_id);
	q->firing_id = firing_id;
	q->event_at = event_at;
}

/* Adds a template name to the request (growing its array); NULL adds nothing. */
static void
want_template(MtActRequest *request, const char *name)
{
	if (name == NULL)
		return;
	if (request->n_template_names == request->template_cap)
	{
		request->template_cap = request->template_cap ? request->template_cap * 2 : 16;
		request->template_names = request->template_names
			? repalloc(request->template_names, sizeof(char *) * request->template_cap)
			: palloc(sizeof(char *) * request->template_cap);
	}
	request->template_names[request->n_template_names++] = (char *) name;
}

/* Adds the templates a send_email action may use: its own and its variants'. */
void
mt_act_want_action_templates(MtActRequest *request, const MtAction *action)
{
	want_template(request, action->template_name);
	for (int v = 0; v < action->n_variants; v++)
		want_template(request, action->variants[v].template_name);
}
