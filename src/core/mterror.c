/*
 * mterror.c: JSON-path error reporting shared by the PostgreSQL-free cores (no PostgreSQL here).
 */
#include <stdio.h>
#include <string.h>

#include "mterror.h"

/* Record the first error (path and formatted reason); always returns false. */
bool
mt_error_set(MtError *err, const char *path, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL || err->failed)
		return false;
	err->failed = true;
	snprintf(err->path, sizeof(err->path), "%s", path ? path : "$");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return false;
}

/* buf = path + "." + key; keys that are not plain identifiers are quoted as ["key"]. */
void
mt_path_key(char *buf, size_t size, const char *path, const char *key)
{
	bool		plain = key[0] != '\0';

	for (const char *c = key; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			  (*c >= '0' && *c <= '9') || *c == '_' || *c == '$'))
			plain = false;
	if (plain)
		snprintf(buf, size, "%s.%s", path, key);
	else
		snprintf(buf, size, "%s[\"%s\"]", path, key);
}

/* buf = path + "[" + index + "]". */
void
mt_path_index(char *buf, size_t size, const char *path, int index)
{
	snprintf(buf, size, "%s[%d]", path, index);
}
