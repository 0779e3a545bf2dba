/*
 * enrich.h: the enrich stage of acting — a trigger's context query, per firing, as the trigger's
 * owner, read-only, sandboxed and bounded in time, with one kept plan per trigger.
 */
#ifndef MT_ENRICH_H
#define MT_ENRICH_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "rule_cache.h"

/*
 * Runs the trigger's context query for the user as its owner, read-only, in a subtransaction that
 * is always rolled back, for at most timeout_ms (0: no limit), releasing any session-level
 * advisory lock it took. Returns its first row as a jsonb object ({} when no row), or NULL with
 * *outcome (context_error, context_denied or context_timeout) and *error set.
 */
extern Jsonb *mt_enrich_context(const MtRule *rule, const char *user_id, int timeout_ms,
								const char **outcome, char **error);

#endif
