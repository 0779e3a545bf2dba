/*
 * render_context.c: the render context in C. It builds exactly what the SQL of README "The render
 * context" gives —
 *   {user_id, email, event, profile, user, segments, last_page, trigger, unsubscribe_url,
 *    local_hour, weekday, daypart, device}
 *     || contact attributes || event params || profile
 * — a later key wins, as jsonb `||` and jsonb_build_object do. Each object's sources (fixed
 * members, attributes, params, profile: each already in jsonb key order) are merged in key order,
 * so the sort that ends every jsonb object finds them sorted. The unsubscribe token is computed
 * here (unsubscribe.c) instead of by SQL.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/numeric.h"

#include "delivery.h"
#include "engine_internal.h"
#include "microtrigger.h"
#include "render_context.h"

/* Pushes a key. */
static void
push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

/* An empty object. */
static Jsonb *
empty_object(void)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* occurred_at as microtrigger.iso_utc() prints it: ISO 8601 in UTC with "+00:00". */
static char *
iso_utc(TimestampTz t)
{
	char	   *text = JsonEncodeDateTime(NULL, TimestampGetDatum((Timestamp) t), TIMESTAMPOID, NULL);

	return psprintf("%s+00:00", text);
}

/* One key and value of an object being built. */
typedef struct Member
{
	const char *key;
	int			key_len;
	JsonbValue	value;
	void		(*build) (JsonbParseState **state, void *arg);	/* non-NULL: pushes a nested object as the value */
	void	   *arg;
} Member;

/* The members of one source of an object, in jsonb key order (length, then bytes). */
typedef struct Members
{
	Member	   *items;
	int			n;
} Members;

/* Compares keys as jsonb orders an object's keys: shorter first, then by bytes. */
static int
key_cmp(const Member *a, const Member *b)
{
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return memcmp(a->key, b->key, a->key_len);
}

/* A member whose value is text (NULL: JSON null). */
static Member
text_member(const char *key, const char *text)
{
	Member		m;

	m.key = key;
	m.key_len = strlen(key);
	m.build = NULL;
	if (text == NULL)
		m.value.type = jbvNull;
	else
	{
		m.value.type = jbvString;
		m.value.val.string.val = (char *) text;
		m.value.val.string.len = strlen(text);
	}
	return m;
}

/* A member whose value is an integer. */
static Member
int_member(const char *key, int value)
{
	Member		m;

	m.key = key;
	m.key_len = strlen(key);
	m.build = NULL;
	m.value.type = jbvNumeric;
	m.value.val.numeric = int64_to_numeric(value);
	return m;
}

/* A member whose value is a jsonb document. */
static Member
jsonb_member(const char *key, Jsonb *doc)
{
	Member		m;

	m.key = key;
	m.key_len = strlen(key);
	m.build = NULL;
	m.value.type = jbvBinary;
	m.value.val.binary.data = &doc->root;
	m.value.val.binary.len = VARSIZE(doc) - VARHDRSZ;
	return m;
}

/* Sorts a few members into key order (insertion sort: a handful of fixed keys). */
static Members
sorted_members(Member *items, int n)
{
	Members		out = {items, n};

	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && key_cmp(&items[j - 1], &items[j]) > 0; j--)
		{
			Member		t = items[j];

			items[j] = items[j - 1];
			items[j - 1] = t;
		}
	return out;
}

/* The top-level members of an object (none for NULL or a non-object), in its stored key order. */
static Members
object_members(Jsonb *object)
{
	Members		out = {NULL, 0};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (object == NULL || !JB_ROOT_IS_OBJECT(object) || JB_ROOT_COUNT(object) == 0)
		return out;
	out.items = palloc(sizeof(Member) * JB_ROOT_COUNT(object));
	it = JsonbIteratorInit(&object->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			out.items[out.n].key = v.val.string.val;
			out.items[out.n].key_len = v.val.string.len;
			out.items[out.n].build = NULL;
		}
		else if (tok == WJB_VALUE)
			out.items[out.n++].value = v;
	return out;
}

/*
 * Pushes the members of several sources (each in key order) as one object's, merged in key order,
 * a later source winning a key several have (as jsonb `||` does). In key order, the sort that
 * ends each object (uniqueifyJsonbObject) only checks it: sorting ~20 members of every render
 * context was half the time of building it.
 */
static void
push_merged(JsonbParseState **state, Members *sources, int n_sources)
{
	int			at[4] = {0, 0, 0, 0};

	Assert(n_sources <= 4);
	for (;;)
	{
		int			best = -1;

		for (int s = 0; s < n_sources; s++)
			if (at[s] < sources[s].n &&
				(best < 0 || key_cmp(&sources[s].items[at[s]], &sources[best].items[at[best]]) <= 0))
				best = s;		/* <= : of equal keys, the later source */
		if (best < 0)
			return;
		{
			const Member *m = &sources[best].items[at[best]];
			JsonbValue	k;

			k.type = jbvString;
			k.val.string.val = (char *) m->key;
			k.val.string.len = m->key_len;
			pushJsonbValue(state, WJB_KEY, &k);
			if (m->build != NULL)
				m->build(state, m->arg);
			else
				pushJsonbValue(state, WJB_VALUE, (JsonbValue *) &m->value);
			for (int s = 0; s < n_sources; s++)
				while (at[s] < sources[s].n && key_cmp(&sources[s].items[at[s]], m) == 0 && s != best)
					at[s]++;
			at[best]++;
		}
	}
}

/* A member whose value is a nested object that build(state, arg) pushes. */
static Member
nested_member(const char *key, void (*build) (JsonbParseState **state, void *arg), void *arg)
{
	Member		m;

	m.key = key;
	m.key_len = strlen(key);
	m.build = build;
	m.arg = arg;
	return m;
}

/* What the nested objects of one render context are built from. */
typedef struct ContextParts
{
	const MtLoadedEvent *event;
	const MtLoadedUser *user;
	const MtContact *contact;
	Members		params;
	Members		attributes;
} ContextParts;

/* event: the params, then the four event fields (which win). */
static void
push_event_object(JsonbParseState **state, void *arg)
{
	ContextParts *parts = arg;
	Member		e[4];
	Members		sources[2];

	e[0] = text_member("user_id", parts->event->user_id);
	e[1] = text_member("event_type", parts->event->event_type);
	e[2] = text_member("session_id", parts->event->session_id);
	e[3] = text_member("occurred_at", iso_utc(parts->event->occurred_at));
	sources[0] = parts->params;
	sources[1] = sorted_members(e, 4);
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	push_merged(state, sources, 2);
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* user: the attributes, then the contact's fields (which win); empty without a contact. */
static void
push_user_object(JsonbParseState **state, void *arg)
{
	ContextParts *parts = arg;

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	if (parts->contact)
	{
		Member		u[4];
		Members		sources[2];

		u[0] = text_member("user_id", parts->event->user_id);
		u[1] = text_member("email", parts->contact->email);
		u[2] = text_member("timezone", parts->contact->timezone);
		u[3] = jsonb_member("attributes", parts->contact->attributes);
		sources[0] = parts->attributes;
		sources[1] = sorted_members(u, 4);
		push_merged(state, sources, 2);
	}
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* segments: {name: true} for each of the user's segments. */
static void
push_segments_object(JsonbParseState **state, void *arg)
{
	ContextParts *parts = arg;
	JsonbValue	yes;

	yes.type = jbvBool;
	yes.val.boolean = true;
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; parts->user && i < parts->user->n_segments; i++)
	{
		push_key(state, parts->user->segments[i]);
		pushJsonbValue(state, WJB_VALUE, &yes);
	}
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/* The render context (see render_context.h). */
Jsonb *
mt_render_context_make(const MtLoadedEvent *event, const MtLoadedUser *user, const char *trigger_name,
					   Jsonb *profile, const char *key, const MtLocalTime *local, const char *device)
{
	JsonbParseState *state = NULL;
	const char *base = mt_unsubscribe_url ? mt_unsubscribe_url : "";
	ContextParts parts;
	Member		fixed[13];
	Members		sources[4];

	if (key == NULL)
		key = mt_unsubscribe_key();
	parts.event = event;
	parts.user = user;
	parts.contact = user && user->contact.found ? &user->contact : NULL;
	parts.params = object_members(event->params);
	parts.attributes = object_members(parts.contact ? parts.contact->attributes : NULL);
	fixed[0] = text_member("user_id", event->user_id);
	fixed[1] = text_member("email", parts.contact ? parts.contact->email : NULL);
	fixed[2] = nested_member("event", push_event_object, &parts);
	fixed[3] = jsonb_member("profile", profile ? profile : empty_object());
	fixed[4] = nested_member("user", push_user_object, &parts);
	fixed[5] = nested_member("segments", push_segments_object, &parts);
	fixed[6] = text_member("last_page", user ? user->last_page : NULL);
	fixed[7] = text_member("trigger", trigger_name);
	fixed[8] = text_member("unsubscribe_url",
						   psprintf("%s%s", base, mt_unsubscribe_token(key, event->user_id, 0)));
	fixed[9] = local ? int_member("local_hour", local->hour) : text_member("local_hour", NULL);
	fixed[10] = text_member("weekday", local ? mt_weekday_name(local->weekday) : NULL);
	fixed[11] = text_member("daypart", local ? mt_daypart(local->hour) : NULL);
	fixed[12] = text_member("device", device);
	/* {the thirteen} || attributes || params || profile: a later source wins a key */
	sources[0] = sorted_members(fixed, 13);
	sources[1] = parts.attributes;
	sources[2] = parts.params;
	sources[3] = object_members(profile);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_merged(&state, sources, 4);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}
