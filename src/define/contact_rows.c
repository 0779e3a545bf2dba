/*
 * contact_rows.c: the BEFORE INSERT OR UPDATE row trigger of microtrigger.contacts. A contact's
 * timezone must be a time zone of mt_zone_problem (local_time.h) and its email, when not NULL,
 * a plausible address; otherwise 22023 naming the contact, the column and the value
 * (docs/timing.md, "The contact's clock"). An UPDATE checks only the columns it changes, so a
 * contact stored before a rule tightened can still be unsubscribed.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "definition_rows.h"
#include "local_time.h"

PG_FUNCTION_INFO_V1(mt_validate_contact_row_sql);

/* Longest address (RFC 5321 forward-path limit) and local part. */
#define EMAIL_MAX 254
#define LOCAL_PART_MAX 64
#define LABEL_MAX 63

/* May the byte appear in the local part of an address (unquoted, UTF-8 allowed)? */
static bool
local_part_byte(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if (c <= 0x20 || c == 0x7f)
		return false;
	return strchr("\"(),:;<>@[\\]", c) == NULL;
}

/* May the byte appear in a domain label (letters, digits, hyphen; UTF-8 for IDN)? */
static bool
label_byte(unsigned char c)
{
	return c >= 0x80 || isalnum(c) || c == '-';
}

/*
 * NULL when the text is a plausible address "local@domain.tld", else why not. Plausible: at most
 * 254 bytes, no spaces or control characters, one @; a local part of 1 to 64 bytes without
 * quotes, brackets or separators, no leading, trailing or double dot; a domain of two or more
 * dot-separated labels of letters, digits and inner hyphens (UTF-8 allowed), the last not all
 * digits. Display names ("Ana <ana@example.com>") and IP literals are refused.
 */
static const char *
email_problem(const char *email)
{
	size_t		len = strlen(email);
	const char *at = strrchr(email, '@');
	const char *domain;
	size_t		local_len;
	int			labels = 0;
	bool		last_all_digits = true;

	if (len == 0)
		return "is empty (use NULL for a contact without an address)";
	if (len > EMAIL_MAX)
		return "is longer than 254 bytes";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) email[i] <= 0x20 || email[i] == 0x7f)
			return "contains a space or a control character";
	if (at == NULL)
		return "has no @";
	if (memchr(email, '@', (size_t) (at - email)) != NULL)
		return "has more than one @";
	local_len = (size_t) (at - email);
	if (local_len == 0)
		return "has nothing before the @";
	if (local_len > LOCAL_PART_MAX)
		return "has more than 64 bytes before the @";
	if (email[0] == '.' || at[-1] == '.' || strstr(email, "..") != NULL)
		return "has a dot at the start or end of a part, or two dots in a row";
	for (size_t i = 0; i < local_len; i++)
		if (!local_part_byte((unsigned char) email[i]))
			return "has a character an address does not have before the @ (quotes, brackets, commas, ...)";
	domain = at + 1;
	if (*domain == '\0')
		return "has no domain after the @";
	for (const char *label = domain;;)
	{
		const char *end = strchr(label, '.');
		size_t		n = end ? (size_t) (end - label) : strlen(label);

		if (n == 0 || n > LABEL_MAX)
			return "has a domain that is not a host name (empty or overlong label)";
		if (label[0] == '-' || label[n - 1] == '-')
			return "has a domain label that starts or ends with a hyphen";
		last_all_digits = true;
		for (size_t i = 0; i < n; i++)
		{
			if (!label_byte((unsigned char) label[i]))
				return "has a character a domain name does not have";
			if (!isdigit((unsigned char) label[i]))
				last_all_digits = false;
		}
		labels++;
		if (end == NULL)
			break;
		label = end + 1;
	}
	if (labels < 2)
		return "has a domain without a dot (e.g. example.com)";
	if (last_all_digits)
		return "has a domain that ends in a number (IP addresses are not accepted)";
	return NULL;
}

/* The value as shown in a message: at most 80 bytes (whole characters), then "...". */
static char *
clipped(const char *value)
{
	int			len = (int) strlen(value);
	int			keep = pg_mbcliplen(value, len, 80);

	return keep < len ? psprintf("%.*s...", keep, value) : pstrdup(value);
}

/* The text of a column, or NULL. */
static char *
column_text(HeapTuple tuple, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(value);
}

/* Did an UPDATE change the column (always true for an INSERT)? */
static bool
column_changed(TriggerData *trigdata, TupleDesc desc, int attnum)
{
	char	   *before,
			   *after;
	bool		changed;

	if (!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return true;
	before = column_text(trigdata->tg_trigtuple, desc, attnum);
	after = column_text(trigdata->tg_newtuple, desc, attnum);
	changed = (before == NULL) != (after == NULL) || (before && strcmp(before, after) != 0);
	return changed;
}

/* The user_id of the row, for messages. */
static char *
row_user(HeapTuple tuple, TupleDesc desc)
{
	char	   *user_id = column_text(tuple, desc, SPI_fnumber(desc, "user_id"));

	return user_id ? user_id : "(null)";
}

/* BEFORE INSERT OR UPDATE row trigger on microtrigger.contacts: timezone and email. */
Datum
mt_validate_contact_row_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	HeapTuple	tuple = mt_definition_row(fcinfo, "mt_validate_contact_row_sql", &desc);
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	int			tz_att = SPI_fnumber(desc, "timezone");
	int			email_att = SPI_fnumber(desc, "email");

	if (tz_att <= 0 || email_att <= 0)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("microtrigger.validate_contact_row() needs the columns timezone and email")));
	if (column_changed(trigdata, desc, tz_att))
	{
		char	   *zone = column_text(tuple, desc, tz_att);
		const char *hint;
		const char *problem = zone ? mt_zone_problem(zone, &hint) : NULL;

		if (problem != NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("contact \"%s\": timezone \"%s\" %s", clipped(row_user(tuple, desc)), clipped(zone), problem),
							errhint("%s", hint)));
	}
	if (column_changed(trigdata, desc, email_att))
	{
		char	   *email = column_text(tuple, desc, email_att);
		const char *problem = email ? email_problem(email) : NULL;

		if (problem != NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("contact \"%s\": email \"%s\" is not a plausible address: it %s",
								   clipped(row_user(tuple, desc)), clipped(email), problem),
							errhint("Store the bare address, e.g. ana@example.com, or NULL.")));
	}
	return PointerGetDatum(tuple);
}
