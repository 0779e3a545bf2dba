/*
 * render_context.c: the render context in C. It builds exactly what the SQL of README "The render
 * context" gives —
 *   {user_id, email, event, profile, user, segments, last_page, trigger, unsubscribe_url}
 *     || contact attributes || event params || profile
 * — a later key wins, as jsonb `||` and jsonb_build_object do (pushJsonbValue keeps the last of
 * equal keys), with the unsubscribe token computed here (unsubscribe.c) instead of by SQL.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/json.h"

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

/* Pushes key: text (NULL: JSON null). */
static void
push_text(JsonbParseState **state, const char *key, const char *text)
{
	JsonbValue	v;

	push_key(state, key);
	if (text == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) text;
		v.val.string.len = strlen(text);
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Pushes key: a jsonb document. */
static void
push_jsonb(JsonbParseState **state, const char *key, Jsonb *doc)
{
	JsonbValue	v;

	push_key(state, key);
	v.type = jbvBinary;
	v.val.binary.data = &doc->root;
	v.val.binary.len = VARSIZE(doc) - VARHDRSZ;
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Pushes every top-level member of an object (later pushes of the same key win). */
static void
push_members(JsonbParseState **state, Jsonb *object)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (object == NULL || !JB_ROOT_IS_OBJECT(object))
		return;
	it = JsonbIteratorInit(&object->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(state, tok, &v);
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

/* The render context (see render_context.h). */
Jsonb *
mt_render_context_make(const MtLoadedEvent *event, const MtLoadedUser *user, const char *trigger_name,
					   Jsonb *profile, const char *key)
{
	JsonbParseState *state = NULL;
	const MtContact *contact = user && user->contact.found ? &user->contact : NULL;
	const char *base = mt_unsubscribe_url ? mt_unsubscribe_url : "";
	JsonbValue	yes;

	if (key == NULL)
		key = mt_unsubscribe_key();
	yes.type = jbvBool;
	yes.val.boolean = true;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_text(&state, "user_id", event->user_id);
	push_text(&state, "email", contact ? contact->email : NULL);
	/* event: params, then the four event fields (which win) */
	push_key(&state, "event");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_members(&state, event->params);
	push_text(&state, "user_id", event->user_id);
	push_text(&state, "event_type", event->event_type);
	push_text(&state, "session_id", event->session_id);
	push_text(&state, "occurred_at", iso_utc(event->occurred_at));
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	push_jsonb(&state, "profile", profile ? profile : empty_object());
	/* user: the attributes, then the contact's fields (which win) */
	push_key(&state, "user");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (contact)
	{
		push_members(&state, contact->attributes);
		push_text(&state, "user_id", event->user_id);
		push_text(&state, "email", contact->email);
		push_text(&state, "timezone", contact->timezone);
		push_jsonb(&state, "attributes", contact->attributes);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	push_key(&state, "segments");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; user && i < user->n_segments; i++)
	{
		push_key(&state, user->segments[i]);
		pushJsonbValue(&state, WJB_VALUE, &yes);
	}
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	push_text(&state, "last_page", user ? user->last_page : NULL);
	push_text(&state, "trigger", trigger_name);
	push_text(&state, "unsubscribe_url",
			  psprintf("%s%s", base, mt_unsubscribe_token(key, event->user_id, 0)));
	/* || attributes || params || profile */
	if (contact)
		push_members(&state, contact->attributes);
	push_members(&state, event->params);
	push_members(&state, profile);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * The render context of one event and its user, loaded in one go (see engine_internal.h); the
 * unsubscribe key is read in the caller's subtransaction, as the SQL function did.
 */
Jsonb *
mt_build_render_context(int64 event_id, const char *user_id, const char *trigger_name, Jsonb *profile,
						TimestampTz as_of)
{
	MtActRequest request = {0};
	MtActData  *data;
	MtLoadedEvent *event;

	request.event_ids = &event_id;
	request.n_event_ids = 1;
	request.user_ids = (char **) &user_id;
	request.n_user_ids = 1;
	data = mt_act_load(&request, as_of);
	event = mt_act_event(data, event_id);
	if (event == NULL)
		return NULL;
	/* the context is the event's user's (a journey's user is its starting event's) */
	return mt_render_context_make(event, mt_act_user(data, event->user_id), trigger_name, profile,
								  data->unsubscribe_key);
}
