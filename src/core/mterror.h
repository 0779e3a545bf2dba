/*
 * mterror.h: how the PostgreSQL-free cores report a bad definition — the JSON path where it
 * was found and the reason. The PostgreSQL side turns it into SQLSTATE 22023, e.g.
 *   invalid trigger "pro_interest" at $.condition.time_spent: unknown operator "$gtt"
 */
#ifndef MT_ERROR_H
#define MT_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

typedef struct MtError
{
	bool		failed;
	char		path[512];		/* JSON path, "$" for the root, e.g. "$.history[0].within" */
	char		message[512];	/* the reason, lowercase, no trailing period */
} MtError;

/* Records the first error only (later ones are ignored); returns false for easy `return`. */
extern bool mt_error_set(MtError *err, const char *path, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Appends ".key" or "[index]" to a path into buf (truncating safely). */
extern void mt_path_key(char *buf, size_t size, const char *path, const char *key);
extern void mt_path_index(char *buf, size_t size, const char *path, int index);

#endif
