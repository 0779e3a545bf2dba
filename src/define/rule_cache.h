/*
 * rule_cache.h: the backend-local cache of compiled, enabled triggers, indexed by event type and
 * by the literal equalities and prefixes in their conditions, so that the cost of matching one
 * event does not grow with the number of triggers. Invalidated by relcache invalidation of
 * microtrigger.triggers (sent by a statement trigger on that table).
 */
#ifndef MT_RULE_CACHE_H
#define MT_RULE_CACHE_H

#include "postgres.h"

#include "condition_eval.h"
#include "definition.h"

typedef struct MtRule
{
	MtTrigger  *trigger;
	Oid			owner;			/* triggers.owner: the role the context query runs as */
} MtRule;

typedef void (*MtRuleCallback) (MtRule *rule, void *arg);

/* Loads the cache if needed (uses SPI: the caller must be connected). */
extern void mt_rulecache_ensure(void);

/*
 * While pinned, the cache is not rebuilt (an invalidation waits for the next unpinned use), so
 * rules held by a caller stay valid. Pins are dropped when the (sub)transaction they were taken
 * in aborts — an error caught by a savepoint leaves nothing pinned — and at the transaction's end.
 */
extern void mt_rulecache_pin(void);
extern void mt_rulecache_unpin(void);

/* True when no trigger is enabled (after mt_rulecache_ensure). */
extern bool mt_rulecache_is_empty(void);

/*
 * Calls cb for every rule that may match the event document: those for its type and for any
 * type, narrowed by the literal index. A rule not reported cannot match; a reported one must
 * still be evaluated.
 */
extern void mt_rulecache_candidates(MtDocument *doc, MtRuleCallback cb, void *arg);

/* Every enabled rule, sorted by trigger name; returns how many (after mt_rulecache_ensure). */
extern int	mt_rulecache_all(MtRule ***rules);

/* The enabled rule of that name, or NULL. */
extern MtRule *mt_rulecache_lookup(const char *name);

/*
 * For a firing that ingest could not decide (firings.recheck): evaluates the rule's condition on
 * the stored event and its history clauses at event_at, in full (SPI connected). Returns the
 * first failing clause ("condition", "history"), or NULL when the rule matches.
 */
extern const char *mt_rule_recheck(const MtRule *rule, MtDocument *doc, const char *user_id,
								   TimestampTz event_at);


#endif
