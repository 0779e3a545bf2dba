/*
 * condition_eval.h: evaluates compiled conditions against jsonb directly (no conversion to text
 * or json-c per document), with MongoDB's semantics.
 */
#ifndef MT_CONDITION_EVAL_H
#define MT_CONDITION_EVAL_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "condition.h"

/*
 * The document a condition sees. For a plain jsonb document only `root` is set. For an event,
 * the keys of params are at the top level, plus user_id, event_type, session_id and
 * occurred_at (ISO 8601 text), which win over a param of the same name.
 */
typedef struct MtDocument
{
	JsonbContainer *root;		/* top-level container (an object for events); NULL = {} */
	bool		is_event;		/* the four event fields below are present */
	const char *user_id;
	int			user_id_len;
	const char *event_type;
	int			event_type_len;
	const char *session_id;		/* NULL: session_id is JSON null */
	int			session_id_len;
	TimestampTz occurred_at;
	char		occurred_at_text[64];	/* formatted on first use; "" until then */
} MtDocument;

/* A document over a jsonb value (any type at the top). */
extern void mt_document_init_jsonb(MtDocument *doc, Jsonb *jb);

/* An event document; strings need not be NUL-terminated; session_id may be NULL. */
extern void mt_document_init_event(MtDocument *doc, Jsonb *params,
								   const char *user_id, int user_id_len,
								   const char *event_type, int event_type_len,
								   const char *session_id, int session_id_len,
								   TimestampTz occurred_at);

/*
 * Does the document match the condition? Decided in full; never raises an error for any
 * document (a cancel propagates, and a failure of the regex engine itself is an error).
 * The condition must have been compiled inside PostgreSQL (mt_alloc = palloc): on first use, its
 * number operands (as Numeric) and compiled $regex are cached in the memory context it was
 * compiled in, and released when that context is reset or deleted.
 */
extern bool mt_condition_eval(const MtCondition *cond, MtDocument *doc);

/* A three-valued result: what a bounded evaluation could not decide is unknown. */
typedef enum MtTruth
{
	MT_FALSE = 0,
	MT_TRUE = 1,
	MT_UNKNOWN = 2
} MtTruth;

/*
 * Evaluates as ingest does: the $regex operators together examine at most regex_max_input bytes
 * of subject (negative: no limit, never unknown); a subject beyond that is not examined and its
 * result is unknown, combined by Kleene logic. Never raises an error except a cancel (57014).
 */
extern MtTruth mt_condition_eval_bounded(const MtCondition *cond, MtDocument *doc,
										 int regex_max_input);

/* microtrigger.regex_max_input (bytes; -1: no limit), defined by mt_condition_init(). */
extern int	mt_regex_max_input;
extern void mt_condition_init(void);

/*
 * Checks that every $regex of the condition compiles in PostgreSQL's regex engine; on failure
 * fills *err with the path and the reason and returns false. Called when a definition is written.
 */
extern bool mt_condition_check_regexes(const MtCondition *cond, MtError *err);

#endif
