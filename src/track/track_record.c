/*
 * track_record.c: one tracking hit, verified and recorded: microtrigger.record_open(token),
 * record_click(token, link), and what the HTTP server calls for /o, /c and /u. A hit is one event
 * in microtrigger.events (email_open, email_click, email_unsubscribe) with params outbox_id,
 * trigger, sequence, step, variant, experiment, arm (null until experiments exist) and, for a
 * click, url. Nothing is recorded for a token whose MAC is wrong.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "delivery.h"
#include "html_links.h"
#include "spi_util.h"
#include "track.h"

PG_FUNCTION_INFO_V1(mt_record_open_sql);
PG_FUNCTION_INFO_V1(mt_record_click_sql);

static SPIPlanPtr row_plan = NULL;
static SPIPlanPtr event_plan = NULL;
static SPIPlanPtr unsubscribe_plan = NULL;

/* Prepares a statement once per process. */
static SPIPlanPtr
prepare_once(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			mt_spi_failed("prepare a tracking statement", SPI_result);
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/* The event type of a hit. */
static const char *
hit_event_type(MtHitKind kind)
{
	switch (kind)
	{
		case MT_HIT_OPEN:
			return "email_open";
		case MT_HIT_CLICK:
			return "email_click";
		case MT_HIT_UNSUBSCRIBE:
			return "email_unsubscribe";
	}
	return "email_open";
}

/* True when token is a genuine row token. */
bool
mt_track_token_valid(const char *token)
{
	int64		outbox_id;
	char	   *user_id;

	return mt_token_verify(mt_unsubscribe_key(), token, 0, &outbox_id, &user_id);
}

/* Verifies and records one hit; see track.h. */
bool
mt_track_record(MtHitKind kind, const char *token, int link, char **url)
{
	MemoryContext caller = CurrentMemoryContext;
	int64		outbox_id;
	char	   *user_id;
	char	   *key;
	char	   *link_url = NULL;
	Oid			row_types[2] = {INT8OID, TEXTOID};
	Datum		row_values[2];
	Oid			event_types[4] = {TEXTOID, TEXTOID, INT8OID, TEXTOID};
	Datum		event_values[4];
	char		event_nulls[4] = {' ', ' ', ' ', 'n'};
	bool		has_row;
	int			rc;

	if (url)
		*url = NULL;
	if (token == NULL || strlen(token) > 1024 || (kind == MT_HIT_CLICK && link < 1))
		return false;
	key = mt_unsubscribe_key();
	if (!mt_token_verify(key, token, kind == MT_HIT_CLICK ? link : 0, &outbox_id, &user_id))
		return false;

	/* the row the token names; an unsubscribe token may name none (outbox_id 0) */
	row_values[0] = Int64GetDatum(outbox_id);
	row_values[1] = CStringGetTextDatum(user_id);
	rc = SPI_execute_plan(prepare_once(&row_plan,
									   "SELECT html_body FROM microtrigger.outbox WHERE id = $1 AND user_id = $2",
									   2, row_types), row_values, NULL, true, 1);
	mt_spi_check(rc, SPI_OK_SELECT, "read the outbox row of a tracking token");
	has_row = SPI_processed > 0;
	if (kind == MT_HIT_CLICK && has_row)
	{
		bool		isnull;
		Datum		html = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			char	   *body = TextDatumGetCString(html);

			/* only a URL of the row's own html: the route is never an open redirect */
			link_url = mt_html_tracked_link(body, strlen(body), NULL, link);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	if (!has_row && kind != MT_HIT_UNSUBSCRIBE)
		return false;
	if (kind == MT_HIT_CLICK && link_url == NULL)
		return false;

	if (kind == MT_HIT_UNSUBSCRIBE)
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(user_id)};

		rc = SPI_execute_plan(prepare_once(&unsubscribe_plan,
										   "UPDATE microtrigger.contacts"
										   "   SET unsubscribed_at = coalesce(unsubscribed_at, pg_catalog.now())"
										   " WHERE user_id = $1", 1, types), values, NULL, false, 0);
		mt_spi_check(rc, SPI_OK_UPDATE, "record an unsubscribe");
	}

	event_values[0] = CStringGetTextDatum(user_id);
	event_values[1] = CStringGetTextDatum(hit_event_type(kind));
	event_values[2] = Int64GetDatum(outbox_id);
	if (link_url)
	{
		event_values[3] = CStringGetTextDatum(link_url);
		event_nulls[3] = ' ';
	}
	rc = SPI_execute_plan(prepare_once(&event_plan,
									   "INSERT INTO microtrigger.events (user_id, event_type, params)"
									   " SELECT $1, $2, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
									   "        'url', $4::text))"
									   "     || pg_catalog.jsonb_build_object('outbox_id', o.id, 'trigger', o.trigger_name,"
									   "        'sequence', o.sequence_name, 'step', o.step, 'variant', o.variant,"
									   "        'experiment', NULL::text, 'arm', NULL::text)"
									   "   FROM (SELECT $3::bigint AS k) k"
									   "   LEFT JOIN microtrigger.outbox o ON o.id = k.k",
									   4, event_types), event_values, event_nulls, false, 0);
	mt_spi_check(rc, SPI_OK_INSERT, "record a tracking event");
	if (url && link_url)
		*url = MemoryContextStrdup(caller, link_url);
	return true;
}

/* Raises the error of a token that does not verify. */
static void
invalid_token(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid tracking token for %s", what),
			 errdetail("The token is malformed or forged, its outbox row is gone, or the link is not a tracked link of that email.")));
}

/* microtrigger.record_open(token text) RETURNS void: records email_open for a genuine token. */
Datum
mt_record_open_sql(PG_FUNCTION_ARGS)
{
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		ok;

	SPI_connect();
	ok = mt_track_record(MT_HIT_OPEN, token, 0, NULL);
	SPI_finish();
	if (!ok)
		invalid_token("record_open");
	PG_RETURN_VOID();
}

/*
 * microtrigger.record_click(token text, link integer) RETURNS text: records email_click and
 * returns the link's URL (to redirect to) for a genuine token of that link.
 */
Datum
mt_record_click_sql(PG_FUNCTION_ARGS)
{
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			link = PG_GETARG_INT32(1);
	char	   *url = NULL;
	MemoryContext function_memory = CurrentMemoryContext;
	bool		ok;

	SPI_connect();
	ok = mt_track_record(MT_HIT_CLICK, token, link, &url);
	if (ok)
		url = MemoryContextStrdup(function_memory, url);	/* SPI_finish frees SPI's memory */
	SPI_finish();
	if (!ok)
		invalid_token(psprintf("record_click (link %d)", link));
	PG_RETURN_TEXT_P(cstring_to_text(url));
}
