/*
 * unsubscribe.c: one-click unsubscribe tokens and microtrigger.unsubscribe(token).
 *
 * A token is base64url("<outbox id>:<user id>") "." base64url(the first 16 bytes of
 * HMAC-SHA256(key, "mt1:" payload)): 128 bits of MAC keep the link short and unforgeable.
 * The key is microtrigger.unsubscribe_secret when set, else a random secret made on first use in
 * microtrigger.delivery_secret (readable by its owner only), so links work out of the box and
 * nobody without the key can forge one.
 */
#include "postgres.h"

#include <errno.h>

#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "delivery.h"
#include "mime.h"
#include "spi_util.h"

#define TOKEN_MAC_BYTES 16

PG_FUNCTION_INFO_V1(mt_unsubscribe_sql);
PG_FUNCTION_INFO_V1(mt_unsubscribe_token_sql);

/*
 * The HMAC key: the GUC when set, else the installation secret, created on first use (not by the
 * install script, so that pg_dump's copy of the row restores into an empty table). Caller is in SPI.
 */
char *
mt_unsubscribe_key(void)
{
	MemoryContext caller_memory = CurrentMemoryContext;
	char	   *key;
	int			rc;

	if (mt_unsubscribe_secret != NULL && mt_unsubscribe_secret[0] != '\0')
		return pstrdup(mt_unsubscribe_secret);
	rc = SPI_execute("SELECT secret FROM microtrigger.delivery_secret", false, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 0)
	{
		rc = SPI_execute("INSERT INTO microtrigger.delivery_secret (secret)"
						 " SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to("
						 "        pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text"
						 "        || pg_catalog.gen_random_uuid()::text, 'UTF8')), 'hex')"
						 " ON CONFLICT (singleton) DO NOTHING", false, 0);
		mt_spi_check(rc, SPI_OK_INSERT, "create the unsubscribe secret");
		rc = SPI_execute("SELECT secret FROM microtrigger.delivery_secret", false, 1);
	}
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no unsubscribe secret is configured"),
				 errhint("Set microtrigger.unsubscribe_secret.")));
	/* SPI calls leave SPI's own context current: the key belongs to the caller's */
	MemoryContextSwitchTo(caller_memory);
	key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	return key;
}

/*
 * HMAC-SHA256 of domain payload under key, into digest. The domain separates the kinds of token:
 * "mt1:" for a row's token (unsubscribe, open), "mt1c:<n>:" for its link n.
 */
static void
token_mac_in(const char *key, const char *domain, const char *payload, uint8 *digest)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) key, strlen(key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) domain, strlen(domain)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) payload, strlen(payload)) < 0 ||
		pg_hmac_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		const char *reason = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the unsubscribe token: %s", reason)));
	}
	pg_hmac_free(ctx);
}

/* The MAC domain of link n (0: the row's own token). */
static char *
token_domain(int link)
{
	return link > 0 ? psprintf("mt1c:%d:", link) : pstrdup("mt1:");
}

/* The token for (user, outbox row) under key. */
char *
mt_unsubscribe_token(const char *key, const char *user_id, int64 outbox_id)
{
	return mt_link_token(key, user_id, outbox_id, 0);
}

/* The token of link number link (0: the row's own token) of (user, outbox row) under key. */
char *
mt_link_token(const char *key, const char *user_id, int64 outbox_id, int link)
{
	char	   *payload = psprintf(INT64_FORMAT ":%s", outbox_id, user_id);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *payload64;
	char	   *mac64;

	token_mac_in(key, token_domain(link), payload, digest);
	payload64 = mt_base64_encode((const unsigned char *) payload, strlen(payload), true);
	mac64 = mt_base64_encode(digest, TOKEN_MAC_BYTES, true);
	return psprintf("%s.%s", payload64, mac64);
}

/* Compares two byte strings in time that does not depend on where they differ. */
static bool
equal_in_constant_time(const uint8 *a, const uint8 *b, size_t len)
{
	uint8		diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/*
 * Checks a token of link number link (0: the row's own token): true when it is well formed and
 * its MAC is right; then *outbox_id and *user_id (palloc'd) say what it names.
 */
bool
mt_token_verify(const char *key, const char *token, int link, int64 *outbox_id, char **user_id)
{
	const char *dot = strchr(token, '.');
	char	   *payload64;
	unsigned char *payload;
	unsigned char *mac;
	size_t		payload_len;
	size_t		mac_len;
	uint8		expected[PG_SHA256_DIGEST_LENGTH];
	char	   *colon;
	char	   *end;
	long long	id;

	if (dot == NULL || link < 0)
		return false;
	payload64 = pnstrdup(token, dot - token);
	payload = mt_base64url_decode(payload64, &payload_len);
	mac = mt_base64url_decode(dot + 1, &mac_len);
	if (payload == NULL || mac == NULL || mac_len != TOKEN_MAC_BYTES ||
		memchr(payload, '\0', payload_len) != NULL)
		return false;
	token_mac_in(key, token_domain(link), (const char *) payload, expected);
	if (!equal_in_constant_time(expected, mac, TOKEN_MAC_BYTES))
		return false;
	colon = strchr((char *) payload, ':');
	if (colon == NULL || colon == (char *) payload)
		return false;
	errno = 0;
	id = strtoll((char *) payload, &end, 10);
	if (end != colon || errno != 0 || id < 0)
		return false;
	*outbox_id = (int64) id;
	*user_id = pstrdup(colon + 1);
	return true;
}

/*
 * microtrigger.unsubscribe(token text) RETURNS boolean: true when the token is genuine and its
 * contact exists; sets contacts.unsubscribed_at once (a second call keeps the first time). The
 * trigger on contacts then cancels the contact's queued mail.
 */
Datum
mt_unsubscribe_sql(PG_FUNCTION_ARGS)
{
	char	   *token;
	char	   *key;
	char	   *user_id;
	int64		outbox_id;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		found;
	int			rc;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SPI_connect();
	key = mt_unsubscribe_key();
	if (!mt_token_verify(key, token, 0, &outbox_id, &user_id))
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	values[0] = CStringGetTextDatum(user_id);
	rc = SPI_execute_with_args("UPDATE microtrigger.contacts"
							   "   SET unsubscribed_at = coalesce(unsubscribed_at, pg_catalog.now())"
							   " WHERE user_id = $1",
							   1, argtypes, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not record the unsubscribe: SPI error %d", rc)));
	found = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(found);
}

/* microtrigger.unsubscribe_token(user_id text, outbox_id bigint) RETURNS text (superuser only). */
Datum
mt_unsubscribe_token_sql(PG_FUNCTION_ARGS)
{
	char	   *user_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		outbox_id = PG_GETARG_INT64(1);
	MemoryContext caller_memory = CurrentMemoryContext;
	char	   *key;
	char	   *token;

	SPI_connect();
	key = mt_unsubscribe_key();
	token = mt_unsubscribe_token(key, user_id, outbox_id);
	/* the token was palloc'd in SPI memory: copy it out before SPI_finish frees that */
	token = MemoryContextStrdup(caller_memory, token);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(token));
}
