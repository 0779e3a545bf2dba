/*
 * device_sql.h: the device classification (user_agent.h) for C callers of the extension, on the
 * backend's database of uap-core regexes (loaded once, on first use).
 */
#ifndef MT_DEVICE_SQL_H
#define MT_DEVICE_SQL_H

#include "postgres.h"

/* "mobile", "tablet", "desktop" or "bot" for a user agent of len bytes (58P01 without uap-core). */
extern const char *mt_device_classify(const char *ua, size_t len);

#endif
