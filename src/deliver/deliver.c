/*
 * deliver.c: draining the outbox, one batch at a time, never holding a transaction across the
 * network:
 *
 *   1. claim   (transaction 1): recover rows left `sending` too long; unless the SMTP server is
 *              in its outage backoff (microtrigger.delivery_state), refuse (cancel) due rows
 *              whose address is suppressed or whose contact unsubscribed and mark up to
 *              batch_size due rows `sending` (attempts + 1, message_id fixed if NULL) with
 *              SKIP LOCKED; commit
 *   2. send    (no writes, no locks): one SMTP session for the whole batch, a fresh connection
 *              after any failed message
 *   3. record  (one short transaction per message, right after the server's reply): `sent`, or
 *              back to `queued` with backoff, or `dead` (+ a 'bounce' suppression for a 5xx
 *              to RCPT TO), or for an unknown outcome one retry then `failed`; committing per
 *              message keeps the resend window to one message. No session at all (the server is
 *              down, TLS or AUTH fails) counts against no row: the rows go back untouched and the
 *              whole delivery backs off in microtrigger.delivery_state.
 *
 * Transactions are driven two ways: inside CALL microtrigger.deliver_loop() through SPI_commit,
 * or inside the delivery background worker (deliver_sql.c) with its own transactions. Every
 * step runs with search_path = pg_catalog, pg_temp, and every name in our SQL is qualified.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "delivery.h"
#include "html_links.h"
#include "microtrigger.h"
#include "mime.h"
#include "smtp.h"
#include "spi_util.h"

char	   *mt_smtp_url = NULL;
char	   *mt_from_address = NULL;
char	   *mt_unsubscribe_url = NULL;
char	   *mt_smtp_username = NULL;
char	   *mt_smtp_password = NULL;
char	   *mt_smtp_ca_file = NULL;
char	   *mt_unsubscribe_secret = NULL;
char	   *mt_unsubscribe_mailto = NULL;
char	   *mt_tracking_url = NULL;
bool		mt_track_opens = true;
int			mt_max_attempts = 5;
int			mt_retry_base_delay_s = 60;
int			mt_retry_max_delay_s = 6 * 3600;
int			mt_sending_timeout_s = 600;
int			mt_smtp_timeout_ms = 30000;
int			mt_smtp_connections = 1;
static int	mt_decisions_retention_s = 90 * 86400;
static int	mt_outbox_retention_s = 30 * 86400;

/* One claimed outbox row, copied out of SPI into the batch's memory. */
typedef struct ClaimedRow
{
	int64		id;
	TimestampTz send_after;		/* with id, the order in which a batch is sent */
	char	   *user_id;
	char	   *to_address;
	char	   *subject;
	char	   *preheader;
	char	   *html_body;
	char	   *text_body;
	char	   *message_id;
	int			attempts;
	int			unknown_outcomes;	/* earlier attempts whose outcome was unknown */
	char	   *unsubscribe_token;	/* made in the claim transaction: HMAC needs a resource owner */
	char	   *html_tracked;	/* html_body with tracked links and pixel (tracking_url set), or NULL */
} ClaimedRow;

/* Statements prepared once per process (SPI_keepplan). */
static SPIPlanPtr claim_plan = NULL;
static SPIPlanPtr record_sent_plan = NULL;
static SPIPlanPtr record_retry_plan = NULL;
static SPIPlanPtr record_dead_plan = NULL;
static SPIPlanPtr bounce_plan = NULL;
static SPIPlanPtr event_plan = NULL;
static SPIPlanPtr release_plan = NULL;
static SPIPlanPtr state_read_plan = NULL;
static SPIPlanPtr state_lock_plan = NULL;
static SPIPlanPtr state_down_plan = NULL;
static SPIPlanPtr state_clear_plan = NULL;

/* Defines the delivery GUCs; called from _PG_init. */
void
mt_delivery_init(void)
{
	DefineCustomStringVariable("microtrigger.smtp_url",
							   "SMTP server that deliver() sends through (smtp:// or smtps://); empty sends nothing.",
							   NULL, &mt_smtp_url, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.from_address",
							   "From: address of every email.",
							   NULL, &mt_from_address, "microtrigger <noreply@localhost>",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.unsubscribe_url",
							   "Base URL of the one-click unsubscribe link; the token is appended.",
							   NULL, &mt_unsubscribe_url, "https://example.invalid/unsubscribe?token=",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.tracking_url",
							   "Public base URL of the tracking server (e.g. https://t.example.com); empty: links are not tracked.",
							   NULL, &mt_tracking_url, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("microtrigger.track_opens",
							 "Adds the open pixel to tracked emails (with microtrigger.tracking_url set).",
							 NULL, &mt_track_opens, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.smtp_username",
							   "User name for SMTP AUTH; empty sends without AUTH.",
							   NULL, &mt_smtp_username, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.smtp_password",
							   "Password for SMTP AUTH.",
							   NULL, &mt_smtp_password, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.smtp_ca_file",
							   "PEM file of the certificate authorities that verify the SMTP server; empty uses the system's.",
							   NULL, &mt_smtp_ca_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.unsubscribe_secret",
							   "Key of the HMAC-SHA256 in unsubscribe tokens; empty uses the secret made at CREATE EXTENSION.",
							   NULL, &mt_unsubscribe_secret, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, NULL, NULL, NULL);
	DefineCustomStringVariable("microtrigger.unsubscribe_mailto",
							   "Address for the mailto: entry of List-Unsubscribe; empty leaves it out.",
							   NULL, &mt_unsubscribe_mailto, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.max_attempts",
							"Attempts before an outbox row that keeps failing becomes dead.",
							NULL, &mt_max_attempts, 5, 1, 100,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.retry_base_delay",
							"Wait after the first failed attempt; it doubles with each further attempt.",
							NULL, &mt_retry_base_delay_s, 60, 0, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.retry_max_delay",
							"Longest wait between two attempts.",
							NULL, &mt_retry_max_delay_s, 6 * 3600, 0, 7 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.sending_timeout",
							"Time after which a row left sending (by a crash) is queued again.",
							NULL, &mt_sending_timeout_s, 600, 1, 7 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.smtp_timeout",
							"Longest time one message may take on the SMTP connection.",
							NULL, &mt_smtp_timeout_ms, 30000, 100, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.smtp_connections",
							"SMTP connections one deliver() or deliver_loop() call sends over at once, each by its own process with its own batches.",
							NULL, &mt_smtp_connections, 1, 1, MT_MAX_SMTP_CONNECTIONS,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.decisions_retention",
							"Age after which microtrigger.maintain() deletes decisions; 0 keeps them.",
							NULL, &mt_decisions_retention_s, 90 * 86400, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("microtrigger.outbox_retention",
							"Age after which microtrigger.maintain() deletes sent, cancelled, dead and failed outbox rows; 0 keeps them.",
							NULL, &mt_outbox_retention_s, 30 * 86400, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
}

/*
 * Makes the current transaction resolve names with search_path = pg_catalog, pg_temp (as SET LOCAL
 * would), whatever the caller's search_path: deliver_loop runs as the pg_cron superuser, and no
 * function or operator planted in a writable schema may ever run in its place.
 */
void
mt_delivery_safe_search_path(void)
{
	(void) set_config_option("search_path", MT_SAFE_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * Makes the current transaction's commit wait for its WAL flush (as SET LOCAL synchronous_commit
 * = on would), whatever the session's setting: a claim lost in a crash would be claimed again
 * under a new Message-ID after its message went out, and a lost `sent` would send it again.
 */
static void
durable_commit(void)
{
	(void) set_config_option("synchronous_commit", "on", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * Opens the transaction of one step (worker mode); inside CALL one is always open already.
 * Either way the step runs with the safe search_path. The current memory context is the step's:
 * it must outlive the transaction, and it is current again after step_commit.
 */
static void
step_begin(MtDeliveryRun *run)
{
	run->step_memory = CurrentMemoryContext;
	if (!run->in_procedure)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_connect() != SPI_OK_CONNECT)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not connect to SPI")));
	}
	mt_delivery_safe_search_path();
	durable_commit();
	MemoryContextSwitchTo(run->step_memory);
}

/* Commits the transaction of one step; the step's memory context is current again after it. */
static void
step_commit(MtDeliveryRun *run)
{
	if (run->in_procedure)
		SPI_commit();			/* commits and starts the next transaction at once */
	else
	{
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	MemoryContextSwitchTo(run->step_memory);
}

/* Prepares a statement once per process. */
static SPIPlanPtr
prepare_once(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		MemoryContext current = CurrentMemoryContext;
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		MemoryContextSwitchTo(current); /* SPI leaves its own context current */
		if (p == NULL)
			mt_spi_failed("prepare a delivery statement", SPI_result);
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/* Runs a prepared statement and checks its result code; the caller's memory context stays current. */
static void
execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	MemoryContext current = CurrentMemoryContext;
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	MemoryContextSwitchTo(current); /* SPI leaves its own context current */
	mt_spi_check(rc, expected, "run a delivery statement");
}

/* A text column of the current SPI result row, copied into the current context; NULL stays NULL. */
static char *
column_text(HeapTuple tuple, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Queues again, or kills on the last attempt, the rows left `sending` after sending_timeout. */
static void
recover_stale_rows(void)
{
	MemoryContext current = CurrentMemoryContext;
	int			rc = SPI_execute("SELECT microtrigger.recover_sending()", false, 0);

	MemoryContextSwitchTo(current);
	mt_spi_check(rc, SPI_OK_SELECT, "recover rows left sending");
}

/*
 * A fingerprint of the SMTP settings (URL, credentials, CA file): an outage backoff belongs to
 * the settings it was seen with, so fixing them (e.g. a wrong password) ends it at once.
 */
static char *
smtp_settings_fingerprint(void)
{
	StringInfoData buf;
	uint64		hash;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s\n%s\n%s\n%s", mt_smtp_url ? mt_smtp_url : "",
					 mt_smtp_username ? mt_smtp_username : "", mt_smtp_password ? mt_smtp_password : "",
					 mt_smtp_ca_file ? mt_smtp_ca_file : "");
	hash = hash_bytes_extended((const unsigned char *) buf.data, buf.len, UINT64CONST(0x6d74736d7470));
	pfree(buf.data);
	return psprintf("%016llx", (unsigned long long) hash);
}

/*
 * Reads the shared outage state: true while a failed connection's backoff (under the current
 * settings) is still running, so nobody connects. Notes whether failures are on record, to clear
 * them after the next message that reaches the server.
 */
static bool
smtp_backing_off(MtDeliveryRun *run, const char *settings)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(settings)};
	bool		backing_off = false;
	bool		isnull;

	execute_plan(prepare_once(&state_read_plan,
							  "SELECT failures > 0 OR retry_at IS NOT NULL,"
							  "       retry_at IS NOT NULL AND retry_at > pg_catalog.clock_timestamp()"
							  "       AND settings IS NOT DISTINCT FROM $1"
							  "  FROM microtrigger.delivery_state", 1, argtypes),
				 values, NULL, SPI_OK_SELECT);
	run->state_on_record = false;
	if (SPI_processed > 0)
	{
		run->state_on_record = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		backing_off = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return backing_off;
}

/* Orders claimed rows by (send_after, id): the order a batch is sent in. */
static int
compare_claimed_rows(const void *a, const void *b)
{
	const ClaimedRow *x = a;
	const ClaimedRow *y = b;

	if (x->send_after != y->send_after)
		return x->send_after < y->send_after ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* What the link rewriter of one row needs. */
typedef struct TrackContext
{
	const char *key;
	const ClaimedRow *row;
	const char *base;			/* tracking_url without its trailing slashes */
} TrackContext;

/* The click link of link n of a row: {tracking_url}/c/{token}/{n}. */
static char *
click_link(void *arg, int number, const char *url)
{
	TrackContext *track = arg;

	return psprintf("%s/c/%s/%d", track->base, mt_link_token(track->key, track->row->user_id, track->row->id, number),
					number);
}

/*
 * The row's html_body with its links tracked and the open pixel added, when
 * microtrigger.tracking_url is set (else NULL). The unsubscribe links (unsubscribe_url, and the
 * tracking server's own /u/) are left alone; so are mailto:, anchors and data-mt-notrack links.
 */
static char *
tracked_html(const ClaimedRow *row, const char *key)
{
	TrackContext track;
	const char *exclude[3];
	size_t		len;
	char	   *base;

	if (mt_tracking_url == NULL || mt_tracking_url[0] == '\0' || row->html_body == NULL ||
		row->html_body[0] == '\0')
		return NULL;
	len = strlen(mt_tracking_url);
	while (len > 0 && mt_tracking_url[len - 1] == '/')
		len--;
	base = pnstrdup(mt_tracking_url, len);
	track.key = key;
	track.row = row;
	track.base = base;
	exclude[0] = psprintf("%s/u/", base);
	exclude[1] = mt_unsubscribe_url;
	exclude[2] = NULL;
	return mt_html_track_links(row->html_body, strlen(row->html_body), exclude, click_link, &track,
							   mt_track_opens ? psprintf("%s/o/%s", base, row->unsubscribe_token) : NULL, NULL);
}

/*
 * Step 1: claims up to batch_size due rows (after recovering stale ones and cancelling those
 * whose address is suppressed or whose contact unsubscribed). Rows land in batch memory. While
 * the server is in its outage backoff nothing is claimed and run->server_down is set.
 */
static ClaimedRow *
claim_rows(MtDeliveryRun *run, const char *message_id_domain, const char *settings,
		   MemoryContext batch_memory, int *count)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	SPIPlanPtr	plan;
	ClaimedRow *rows;
	MemoryContext caller_memory;

	recover_stale_rows();
	if (smtp_backing_off(run, settings))
	{
		run->server_down = true;
		*count = 0;
		return NULL;
	}
	plan = prepare_once(&claim_plan,
						"WITH due AS ("
						"    SELECT o.id,"
						"           EXISTS (SELECT 1 FROM microtrigger.suppressions s"
						"                    WHERE s.address = pg_catalog.lower(o.to_address)) AS suppressed,"
						"           EXISTS (SELECT 1 FROM microtrigger.contacts c"
						"                    WHERE c.user_id = o.user_id AND c.unsubscribed_at IS NOT NULL) AS unsubscribed"
						"      FROM microtrigger.outbox o"
						"     WHERE o.status = 'queued' AND o.send_after <= pg_catalog.clock_timestamp()"
						"     ORDER BY o.send_after, o.id"
						"     LIMIT $1"
						"       FOR UPDATE OF o SKIP LOCKED),"
						" refused AS ("
						"    UPDATE microtrigger.outbox o"
						"       SET status = 'cancelled',"
						"           last_error = CASE WHEN due.suppressed THEN 'refused at send time: address suppressed'"
						"                             ELSE 'refused at send time: contact unsubscribed' END"
						"      FROM due WHERE o.id = due.id AND (due.suppressed OR due.unsubscribed))"
						", claim AS (SELECT pg_catalog.clock_timestamp() AS at)"  /* one time: the batch's key */
						" UPDATE microtrigger.outbox o"
						"    SET status = 'sending', attempts = o.attempts + 1, claimed_at = (SELECT at FROM claim),"
						"        message_id = coalesce(o.message_id,"
						"            pg_catalog.format('<%s.%s@%s>', o.id,"
						"                pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), $2::text))"
						"   FROM due"
						"  WHERE o.id = due.id AND NOT (due.suppressed OR due.unsubscribed)"
						" RETURNING o.id, o.user_id, o.to_address, o.subject, o.preheader, o.html_body,"
						"           o.text_body, o.message_id, o.attempts, o.unknown_outcomes, o.send_after",
						2, argtypes);
	values[0] = Int32GetDatum(run->batch_size);
	values[1] = CStringGetTextDatum(message_id_domain);
	execute_plan(plan, values, NULL, SPI_OK_UPDATE_RETURNING);

	caller_memory = MemoryContextSwitchTo(batch_memory);
	*count = (int) SPI_processed;
	rows = palloc0(sizeof(ClaimedRow) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		rows[i].id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		rows[i].user_id = column_text(t, d, 2);
		rows[i].to_address = column_text(t, d, 3);
		rows[i].subject = column_text(t, d, 4);
		rows[i].preheader = column_text(t, d, 5);
		rows[i].html_body = column_text(t, d, 6);
		rows[i].text_body = column_text(t, d, 7);
		rows[i].message_id = column_text(t, d, 8);
		rows[i].attempts = DatumGetInt32(SPI_getbinval(t, d, 9, &isnull));
		rows[i].unknown_outcomes = DatumGetInt32(SPI_getbinval(t, d, 10, &isnull));
		rows[i].send_after = DatumGetTimestampTz(SPI_getbinval(t, d, 11, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	/* the order recover_sending() assumes: after a crash only the first row left may have been tried */
	qsort(rows, *count, sizeof(ClaimedRow), compare_claimed_rows);
	if (*count > 0)
	{
		char	   *key = mt_unsubscribe_key();	/* restores batch_memory as current */

		for (int i = 0; i < *count; i++)
		{
			rows[i].unsubscribe_token = mt_unsubscribe_token(key, rows[i].user_id, rows[i].id);
			rows[i].html_tracked = tracked_html(&rows[i], key);
		}
	}
	MemoryContextSwitchTo(caller_memory);
	return rows;
}

/* Seconds to wait before attempt number attempts + 1: base * 2^(attempts-1), capped. */
static double
retry_delay_seconds(int attempts)
{
	double		delay = (double) mt_retry_base_delay_s * pow(2.0, Max(attempts - 1, 0));

	return Min(delay, (double) mt_retry_max_delay_s);
}

/* Records `sent`; a row that had an attempt of unknown outcome says so (the server may have two). */
static void
record_sent(int64 id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	execute_plan(prepare_once(&record_sent_plan,
							  "UPDATE microtrigger.outbox"
							  "   SET status = 'sent', sent_at = pg_catalog.clock_timestamp(), claimed_at = NULL,"
							  "       last_error = CASE WHEN unknown_outcomes > 0 THEN 'sent; an earlier attempt''s"
							  " outcome was unknown, so the recipient may get two copies (with the same Message-ID)' END"
							  " WHERE id = $1 AND status = 'sending'", 1, argtypes),
				 values, NULL, SPI_OK_UPDATE);
}

/*
 * Records a failure worth retrying: queued again after the backoff delay; unknown counts an
 * attempt whose outcome is unknown.
 */
static void
record_retry(int64 id, double delay_s, const char *error, bool unknown)
{
	Oid			argtypes[4] = {INT8OID, FLOAT8OID, TEXTOID, INT4OID};
	Datum		values[4] = {Int64GetDatum(id), Float8GetDatum(delay_s), CStringGetTextDatum(error),
	Int32GetDatum(unknown ? 1 : 0)};

	execute_plan(prepare_once(&record_retry_plan,
							  "UPDATE microtrigger.outbox"
							  "   SET status = 'queued',"
							  "       send_after = pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $2),"
							  "       last_error = $3, claimed_at = NULL, unknown_outcomes = unknown_outcomes + $4"
							  " WHERE id = $1 AND status = 'sending'", 4, argtypes),
				 values, NULL, SPI_OK_UPDATE);
}

/*
 * Records a final failure: `dead` (not delivered) or `failed` (outcome unknown, not retried
 * again), with its error; unknown counts an attempt whose outcome is unknown.
 */
static void
record_final(int64 id, const char *status, const char *error, bool unknown)
{
	Oid			argtypes[4] = {INT8OID, TEXTOID, TEXTOID, INT4OID};
	Datum		values[4] = {Int64GetDatum(id), CStringGetTextDatum(status), CStringGetTextDatum(error),
	Int32GetDatum(unknown ? 1 : 0)};

	execute_plan(prepare_once(&record_dead_plan,
							  "UPDATE microtrigger.outbox"
							  "   SET status = $2, last_error = $3, claimed_at = NULL,"
							  "       unknown_outcomes = unknown_outcomes + $4"
							  " WHERE id = $1 AND status = 'sending'", 4, argtypes),
				 values, NULL, SPI_OK_UPDATE);
}

/* Records a permanent failure: dead with its error. */
static void
record_dead(int64 id, const char *error)
{
	record_final(id, "dead", error, false);
}

/* Suppresses an address the server rejected (its trigger cancels the address's queued mail). */
static void
record_bounce(const char *address)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(address)};

	execute_plan(prepare_once(&bounce_plan,
							  "INSERT INTO microtrigger.suppressions (address, reason)"
							  " VALUES (pg_catalog.lower($1), 'bounce') ON CONFLICT (address) DO NOTHING", 1, argtypes),
				 values, NULL, SPI_OK_INSERT);
}

/*
 * Records the delivery event of a row (email_sent, email_bounced) in the transaction that records
 * its outcome, so triggers, sequences and segments can react; detail (may be NULL) is the
 * server's reply of a bounce.
 */
static void
record_delivery_event(int64 id, const char *event_type, const char *detail)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3] = {Int64GetDatum(id), CStringGetTextDatum(event_type),
	detail ? CStringGetTextDatum(detail) : (Datum) 0};
	char		nulls[3] = {' ', ' ', detail ? ' ' : 'n'};

	execute_plan(prepare_once(&event_plan,
							  "INSERT INTO microtrigger.events (user_id, event_type, params)"
							  " SELECT o.user_id, $2, pg_catalog.jsonb_build_object('outbox_id', o.id,"
							  "        'trigger', o.trigger_name, 'sequence', o.sequence_name, 'step', o.step,"
							  "        'variant', o.variant, 'experiment', NULL::text, 'arm', NULL::text)"
							  "     || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('reply', $3::text))"
							  "   FROM microtrigger.outbox o WHERE o.id = $1", 3, argtypes),
				 values, nulls, SPI_OK_INSERT);
}

/*
 * Gives claimed rows from index `from` on back to the queue as they were, their attempt not
 * counted; the row with id tried_id (0: none) gets error as its last_error.
 */
static void
release_rows(ClaimedRow *rows, int from, int count, int64 tried_id, const char *error)
{
	Oid			argtypes[3] = {INT8ARRAYOID, INT8OID, TEXTOID};
	Datum	   *ids;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', error ? ' ' : 'n'};

	if (from >= count)
		return;
	ids = palloc(sizeof(Datum) * (count - from));
	for (int i = from; i < count; i++)
		ids[i - from] = Int64GetDatum(rows[i].id);
	values[0] = PointerGetDatum(construct_array(ids, count - from, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = Int64GetDatum(tried_id);
	values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
	execute_plan(prepare_once(&release_plan,
							  "UPDATE microtrigger.outbox"
							  "   SET status = 'queued', attempts = attempts - 1, claimed_at = NULL,"
							  "       last_error = CASE WHEN id = $2 THEN $3 ELSE last_error END"
							  " WHERE id = ANY ($1) AND status = 'sending'", 3, argtypes),
				 values, nulls, SPI_OK_UPDATE);
}

/*
 * Records in microtrigger.delivery_state that no session could be made: failures + 1 and the
 * next connection not before now + retry_base_delay * 2^(failures-1) (capped at retry_max_delay).
 * A failure seen while another deliverer's backoff already runs (two senders, one outage) is
 * not counted twice; failures under other SMTP settings start over at one.
 */
static void
record_server_down(const char *settings, const char *error)
{
	Oid			lock_types[1] = {TEXTOID};
	Datum		lock_values[1] = {CStringGetTextDatum(settings)};
	Oid			argtypes[4] = {INT4OID, FLOAT8OID, TEXTOID, TEXTOID};
	Datum		values[4];
	int			failures = 1;
	bool		isnull;

	execute_plan(prepare_once(&state_lock_plan,
							  "SELECT failures, settings IS NOT DISTINCT FROM $1,"
							  "       retry_at IS NOT NULL AND retry_at > pg_catalog.clock_timestamp()"
							  "  FROM microtrigger.delivery_state FOR UPDATE", 1, lock_types),
				 lock_values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		int			recorded = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		bool		same_settings = DatumGetBool(SPI_getbinval(t, d, 2, &isnull));
		bool		waiting = DatumGetBool(SPI_getbinval(t, d, 3, &isnull));

		if (same_settings && recorded > 0 && waiting)
		{
			SPI_freetuptable(SPI_tuptable);
			return;				/* another deliverer recorded this outage a moment ago */
		}
		if (same_settings && recorded > 0)
			failures = recorded + 1;
	}
	SPI_freetuptable(SPI_tuptable);
	values[0] = Int32GetDatum(failures);
	values[1] = Float8GetDatum(retry_delay_seconds(failures));
	values[2] = CStringGetTextDatum(error);
	values[3] = CStringGetTextDatum(settings);
	execute_plan(prepare_once(&state_down_plan,
							  "INSERT INTO microtrigger.delivery_state AS s"
							  "       (singleton, down_since, retry_at, failures, last_error, settings)"
							  " VALUES (true, pg_catalog.clock_timestamp(),"
							  "         pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => $2), $1, $3, $4)"
							  " ON CONFLICT (singleton) DO UPDATE"
							  "    SET down_since = CASE WHEN $1 = 1 THEN EXCLUDED.down_since"
							  "                          ELSE coalesce(s.down_since, EXCLUDED.down_since) END,"
							  "        retry_at = EXCLUDED.retry_at, failures = $1, last_error = $3, settings = $4",
							  4, argtypes),
				 values, NULL, SPI_OK_INSERT);
}

/* Clears microtrigger.delivery_state: a message reached the server, the outage is over. */
static void
record_server_up(void)
{
	execute_plan(prepare_once(&state_clear_plan,
							  "UPDATE microtrigger.delivery_state"
							  "   SET down_since = NULL, retry_at = NULL, failures = 0, last_error = NULL, settings = NULL"
							  " WHERE failures <> 0 OR retry_at IS NOT NULL", 0, NULL),
				 NULL, NULL, SPI_OK_UPDATE);
}

/*
 * Records an attempt whose outcome is unknown (the whole message went out, no reply came): the
 * server may have delivered it, so it is retried once (same Message-ID); a second unknown
 * outcome, or one on the last attempt, ends the row as `failed` rather than risk more copies.
 */
static void
record_unknown(const ClaimedRow *row, const char *detail)
{
	if (row->unknown_outcomes > 0)
		record_final(row->id, "failed",
					 psprintf("outcome unknown twice, not retried again (the server may have accepted it): %s",
							  detail), true);
	else if (row->attempts >= mt_max_attempts)
		record_final(row->id, "failed",
					 psprintf("outcome unknown on the last attempt, not retried (the server may have accepted it): %s",
							  detail), true);
	else
		record_retry(row->id, retry_delay_seconds(row->attempts),
					 psprintf("outcome unknown, retried once with the same Message-ID (the server may have accepted it): %s",
							  detail), true);
}

/*
 * Records one send result in the current transaction; returns true when the message was sent.
 * (MT_SMTP_UNREACHABLE is not this row's result: the batch releases its rows instead.)
 */
static bool
record_result(const ClaimedRow *row, const MtSmtpResult *result)
{
	switch (result->outcome)
	{
		case MT_SMTP_SENT:
			record_sent(row->id);
			record_delivery_event(row->id, "email_sent", NULL);
			return true;
		case MT_SMTP_REJECTED_RECIPIENT:
			record_dead(row->id, result->detail);
			record_bounce(row->to_address);
			record_delivery_event(row->id, "email_bounced", result->detail);
			return false;
		case MT_SMTP_REJECTED_MESSAGE:
			record_dead(row->id, result->detail);
			record_delivery_event(row->id, "email_bounced", result->detail);
			return false;
		case MT_SMTP_UNKNOWN:
			record_unknown(row, result->detail);
			return false;
		case MT_SMTP_RETRY:
		case MT_SMTP_UNREACHABLE:
			if (row->attempts >= mt_max_attempts)
				record_dead(row->id, psprintf("gave up after %d attempts: %s", row->attempts, result->detail));
			else
				record_retry(row->id, retry_delay_seconds(row->attempts), result->detail, false);
			return false;
	}
	return false;
}

/* True when a cancel or termination request is waiting: libcurl then aborts the transfer. */
static bool
delivery_interrupted(void)
{
	return InterruptPending && (QueryCancelPending || ProcDiePending);
}

/* The SMTP session of the run, opened on first use and reused for every later message. */
static MtSmtpSession *
run_session(MtDeliveryRun *run)
{
	if (run->smtp == NULL)
	{
		MtSmtpConfig config = {0};
		char		error[256];

		config.url = mt_smtp_url;
		config.username = mt_smtp_username;
		config.password = mt_smtp_password;
		config.ca_file = mt_smtp_ca_file;
		config.timeout_ms = mt_smtp_timeout_ms;
		config.connect_timeout_ms = Min(mt_smtp_timeout_ms, 10000);
		config.interrupted = delivery_interrupted;
		run->smtp = mt_smtp_open(&config, error, sizeof(error));
		if (run->smtp == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not set up libcurl for SMTP: %s", error)));
	}
	return run->smtp;
}

/* Builds the RFC 5322 message of one row, with its unsubscribe links. */
static char *
build_message(const ClaimedRow *row, size_t *len)
{
	MtMailMessage msg = {0};
	const char *token = row->unsubscribe_token;

	msg.from = mt_from_address;
	msg.to = row->to_address;
	msg.subject = row->subject;
	msg.preheader = row->preheader;
	msg.html_body = row->html_body;
	msg.html_part = row->html_tracked;
	msg.text_body = row->text_body;
	msg.message_id = row->message_id;
	msg.boundary_seed = row->message_id;
	msg.date = time(NULL);
	if (mt_unsubscribe_url && mt_unsubscribe_url[0] != '\0')
		msg.unsubscribe_https = psprintf("%s%s", mt_unsubscribe_url, token);
	if (mt_unsubscribe_mailto && mt_unsubscribe_mailto[0] != '\0')
		msg.unsubscribe_mailto = psprintf("mailto:%s?subject=unsubscribe%%20%s", mt_unsubscribe_mailto, token);
	return mt_mime_build(&msg, len);
}

/* Milliseconds of a batch's lease in which messages may still be started. */
static long
lease_ms(void)
{
	long		timeout_ms = (long) mt_sending_timeout_s * 1000L;

	/* a message started before this still finishes (smtp_timeout) before the lease ends */
	if (timeout_ms > 2L * mt_smtp_timeout_ms)
		return timeout_ms - mt_smtp_timeout_ms;
	return timeout_ms / 2;
}

/* One batch: claim and commit, then send and record each message in its own transaction. */
int
mt_deliver_batch(MtDeliveryRun *run)
{
	MemoryContext batch_memory;
	MemoryContext message_memory;
	MemoryContext caller_memory = CurrentMemoryContext;
	char		envelope_from[512];
	const char *domain;
	ClaimedRow *rows;
	int			count;
	int			sent = 0;
	TimestampTz claim_start;
	char	   *settings;

	run->claimed = 0;
	run->server_down = false;
	if (mt_smtp_url == NULL || mt_smtp_url[0] == '\0')
		return 0;
	if (!mt_mime_extract_address(mt_from_address, envelope_from, sizeof(envelope_from)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("microtrigger.from_address \"%s\" holds no valid address", mt_from_address),
				 errhint("Use the form 'Name <user@example.com>' or 'user@example.com'.")));
	domain = strchr(envelope_from, '@') + 1;

	batch_memory = AllocSetContextCreate(run->memory, "microtrigger delivery batch", ALLOCSET_DEFAULT_SIZES);
	message_memory = AllocSetContextCreate(batch_memory, "microtrigger delivery message", ALLOCSET_DEFAULT_SIZES);

	claim_start = GetCurrentTimestamp();
	MemoryContextSwitchTo(batch_memory);
	settings = smtp_settings_fingerprint();
	step_begin(run);
	rows = claim_rows(run, domain, settings, batch_memory, &count);
	step_commit(run);
	run->claimed = count;

	for (int i = 0; i < count; i++)
	{
		const ClaimedRow *row = &rows[i];
		char		to_address[512];
		MtSmtpResult result;
		char	   *data;
		size_t		len;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(message_memory);
		MemoryContextSwitchTo(message_memory);

		/* past the lease no message is started: recovery could queue it again meanwhile */
		if (TimestampDifferenceExceeds(claim_start, GetCurrentTimestamp(), (int) lease_ms()))
		{
			step_begin(run);
			release_rows(rows, i, count, 0, NULL);
			step_commit(run);
			break;
		}
		if (!mt_mime_extract_address(row->to_address, to_address, sizeof(to_address)))
		{
			step_begin(run);
			record_dead(row->id, "invalid recipient address");
			step_commit(run);
			continue;
		}

		/* step 2: the network, with no write and no lock of ours pending */
		data = build_message(row, &len);
		mt_smtp_send(run_session(run), envelope_from, to_address, data, len, &result);
		CHECK_FOR_INTERRUPTS();

		/* step 3: the result, committed at once */
		step_begin(run);
		if (result.outcome == MT_SMTP_UNREACHABLE)
		{
			/* not this message's fault: every row goes back as it was, the whole run backs off */
			release_rows(rows, i, count, row->id,
						 psprintf("not sent, no SMTP session (not counted as an attempt; delivery backs off): %s",
								  result.detail));
			record_server_down(settings, result.detail);
			run->server_down = true;
		}
		else
		{
			if (run->state_on_record)
			{
				record_server_up();		/* the server answered: the outage is over */
				run->state_on_record = false;
			}
			if (record_result(row, &result))
				sent++;
		}
		step_commit(run);
		if (run->server_down)
			break;
	}
	MemoryContextSwitchTo(caller_memory);
	MemoryContextDelete(batch_memory);
	run->sent += sent;
	return sent;
}

/* Closes the SMTP session (QUIT); safe to call more than once. */
void
mt_delivery_run_end(MtDeliveryRun *run)
{
	if (run->smtp != NULL)
	{
		mt_smtp_close(run->smtp);
		run->smtp = NULL;
	}
}
