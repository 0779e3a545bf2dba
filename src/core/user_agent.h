/*
 * user_agent.h: classify a user agent as mobile, tablet or desktop (or a bot) with the regexes of
 * uap-core (the database the ua-parser libraries share; Debian package uap-core installs it at
 * /usr/share/uap-core/regexes.yaml). No PostgreSQL dependency: libyaml reads the file, PCRE2
 * compiles its patterns. The rules from device family, OS and the string are in docs/timing.md
 * ("Device").
 */
#ifndef MT_USER_AGENT_H
#define MT_USER_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#define MT_UAP_REGEXES_PATH "/usr/share/uap-core/regexes.yaml"

typedef enum MtDeviceKind
{
	MT_DEVICE_DESKTOP,
	MT_DEVICE_MOBILE,
	MT_DEVICE_TABLET,
	MT_DEVICE_BOT
} MtDeviceKind;

/* The compiled device and OS parsers (opaque). */
typedef struct MtUaDb MtUaDb;

/* What a user agent was classified as. */
typedef struct MtDeviceInfo
{
	MtDeviceKind kind;
	char		family[64];		/* uap-core device family ("iPhone", "Samsung SM-T820", "Other") */
	char		os[64];			/* uap-core OS family ("iOS", "Android", "Other") */
} MtDeviceInfo;

/*
 * Loads and compiles the device_parsers and os_parsers of a regexes.yaml. Memory comes from
 * malloc (the database lives as long as the process that loads it). NULL with a message in
 * errbuf when the file cannot be read or a pattern does not compile.
 */
extern MtUaDb *mt_ua_db_load(const char *path, char *errbuf, size_t errlen);

/* Frees a loaded database (NULL allowed). */
extern void mt_ua_db_free(MtUaDb *db);

/* How many device and OS parsers the database has. */
extern int	mt_ua_db_size(const MtUaDb *db, int *n_os);

/* Classifies a user agent of len bytes (need not be NUL-terminated). */
extern void mt_ua_classify(const MtUaDb *db, const char *ua, size_t len, MtDeviceInfo *out);

/* "desktop", "mobile", "tablet" or "bot". */
extern const char *mt_device_kind_name(MtDeviceKind kind);

#endif
