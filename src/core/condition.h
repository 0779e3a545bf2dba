/*
 * condition.h: the condition language (MongoDB query operators), compiled from JSON (json-c)
 * into a tree once. No PostgreSQL dependency: it can be unit-tested and fuzzed alone.
 * Evaluation against jsonb is in condition_eval.h.
 *
 * Memory comes from mtalloc.h: inside PostgreSQL, the current memory context.
 */
#ifndef MT_CONDITION_H
#define MT_CONDITION_H

#include <stdbool.h>
#include <stddef.h>

#include "mterror.h"

struct json_object;

/* A compiled condition: opaque outside condition*.c. */
typedef struct MtCondition MtCondition;

/*
 * Compiles a condition (a JSON object) found at `path` (for messages, e.g. "$.condition").
 * Returns NULL and fills *err (path of the offending part, reason) when it is not valid.
 */
extern MtCondition *mt_condition_compile(struct json_object *json, const char *path, MtError *err);

/*
 * Parses JSON text (len bytes, at most max_depth levels deep) with json-c and compiles it as
 * mt_condition_compile does; a JSON syntax error is reported at `path` too. For callers that
 * cannot include json-c (its json_object clashes with PostgreSQL's fmgrprotos.h).
 */
extern MtCondition *mt_condition_compile_text(const char *text, size_t len, int max_depth,
											  const char *path, MtError *err);

/* Frees a tree made by mt_condition_compile (NULL is allowed). */
extern void mt_condition_free(MtCondition *cond);

/* True when the condition is the empty object {} (matches everything). */
extern bool mt_condition_is_empty(const MtCondition *cond);

/*
 * Literal constraints, for indexing rules: calls cb for each top-level (undotted) field that every
 * matching document must hold as a string equal to, or starting with, a literal. Only
 * constraints implied by the top level (and by $and) are reported; it may report none.
 */
typedef enum MtLiteralKind
{
	MT_LITERAL_EQUALS,
	MT_LITERAL_PREFIX
} MtLiteralKind;

typedef void (*MtLiteralCallback) (void *arg, const char *field, MtLiteralKind kind,
								   const char *value, size_t len);

extern void mt_condition_literals(const MtCondition *cond, MtLiteralCallback cb, void *arg);

/*
 * The string values a condition requires of one top-level field (`event_type` for example), when
 * every matching document must hold one of them (implicit equality, $eq or $in at the top level
 * or under $and). Returns the count (0: no such constraint) and sets *values (mt_alloc'd array
 * of NUL-terminated strings; free with mt_free on each and the array).
 */
extern int	mt_condition_required_values(const MtCondition *cond, const char *field, char ***values);

#endif
