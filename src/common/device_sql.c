/*
 * device_sql.c: the SQL face of the device classification (user_agent.h): device_of(user_agent),
 * with uap-core's regexes loaded once per backend on first use.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "device_sql.h"
#include "user_agent.h"

PG_FUNCTION_INFO_V1(mt_device_of_sql);

/*
 * The compiled regexes of this backend. malloc'd by the core and kept for the backend's life on
 * purpose: loading them costs tens of milliseconds, and they never change while it runs.
 */
static MtUaDb *ua_db = NULL;

/* The backend's database, loaded on first use (58P01 when uap-core is missing). */
static MtUaDb *
device_db(void)
{
	char		err[512];

	if (ua_db == NULL && (ua_db = mt_ua_db_load(MT_UAP_REGEXES_PATH, err, sizeof(err))) == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FILE),
						errmsg("cannot load the user-agent regexes: %s", err),
						errhint("Install the Debian package uap-core.")));
	return ua_db;
}

/* The device of a user agent (see device_sql.h). */
const char *
mt_device_classify(const char *ua, size_t len)
{
	MtDeviceInfo info;

	mt_ua_classify(device_db(), ua, len, &info);
	return mt_device_kind_name(info.kind);
}

/* device_of(user_agent text): 'mobile', 'tablet', 'desktop' or 'bot'. */
Datum
mt_device_of_sql(PG_FUNCTION_ARGS)
{
	text	   *ua = PG_GETARG_TEXT_PP(0);
	MtDeviceInfo info;

	mt_ua_classify(device_db(), VARDATA_ANY(ua), VARSIZE_ANY_EXHDR(ua), &info);
	PG_RETURN_TEXT_P(cstring_to_text(mt_device_kind_name(info.kind)));
}
