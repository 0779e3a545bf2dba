/*
 * condition_eval.c: evaluates a compiled condition (condition_internal.h) against a jsonb
 * document directly — JsonbContainer lookups, no conversion of the document to text or json-c —
 * with MongoDB's semantics: dotted paths through objects and arrays, any-element matching of
 * arrays, null matching missing, no comparison across types, numbers compared numerically and
 * strings byte-wise.
 *
 * Evaluation never raises an error for any document (a cancel propagates as a cancel). Two things
 * are built lazily on first use and kept in the memory context that holds the compiled condition
 * (so they live exactly as long as the rule): the PostgreSQL Numeric of each number operand and
 * the compiled $regex.
 *
 * At ingest an evaluation is bounded: its $regex operators together examine at most
 * microtrigger.regex_max_input bytes of subject. A subject that would exceed that is not examined
 * and its result is unknown; results are three-valued (Kleene logic through $and, $or, $not, $nor,
 * $elemMatch, $all and the any-element rule), and a condition that is unknown at ingest is
 * re-checked in full by the worker. Unbounded evaluation (everything else) is never unknown.
 */
#include "postgres.h"

#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "condition_eval.h"
#include "condition_internal.h"

/* Strings up to this many characters are converted for the regex engine on the stack. */
#define MT_REGEX_STACK_CHARS 256

/* microtrigger.regex_max_input: bytes of subject the $regex of one ingest evaluation examine. */
int			mt_regex_max_input = 4096;

/* What a condition is evaluated over: an object container, and the event fields over it. */
typedef struct EvalContext
{
	JsonbContainer *root;		/* NULL or not an object: every field is missing */
	MtDocument *event;			/* non-NULL: user_id, event_type, ... win over root's keys */
	MemoryContext cache_cxt;	/* where the compiled condition lives: lazy caches go there */
	int64	   *regex_budget;	/* bytes of subject $regex may still examine; NULL: no limit */
} EvalContext;

/*
 * Where an operator's candidates come from: a field path over a context, or one value (an
 * element of an array under $elemMatch in its operator form).
 */
typedef struct Source
{
	const MtCondition *field;	/* path source: the field node */
	const EvalContext *ctx;
	const JsonbValue *single;	/* single-value source when field is NULL */
} Source;

/* A pending visit of a path's candidates with one operator (kind may differ from op->kind). */
typedef struct Visit
{
	const MtOp *op;
	MtOpKind	kind;
	const EvalContext *ctx;
	bool		produced;		/* some candidate (maybe "missing") was seen */
	bool		unknown;		/* some candidate could not be decided (bounded evaluation) */
} Visit;

/* A compiled regex and the callback that frees it when its memory context goes away. */
typedef struct CompiledRegex
{
	regex_t		re;
	MemoryContextCallback callback;
} CompiledRegex;

static MtTruth eval_node(const MtCondition *cond, const EvalContext *ctx);
static MtTruth op_matches_source(const MtOp *op, const Source *src);

/* A boolean as a truth value. */
static inline MtTruth
truth(bool b)
{
	return b ? MT_TRUE : MT_FALSE;
}

/* Kleene negation: unknown stays unknown. */
static inline MtTruth
truth_not(MtTruth t)
{
	return t == MT_UNKNOWN ? MT_UNKNOWN : truth(t == MT_FALSE);
}

/* Is this value an array container (not a raw scalar)? */
static inline bool
is_array_value(const JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		!JsonContainerIsScalar(v->val.binary.data);
}

/* Is this value an object container? */
static inline bool
is_object_value(const JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/* The operand number as a PostgreSQL Numeric, built once in the condition's memory context. */
static Numeric
value_numeric(const MtValue *value, MemoryContext cache_cxt)
{
	if (value->numeric == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(cache_cxt);

		/* the compiler accepted only texts numeric_in takes without an error */
		((MtValue *) value)->numeric =
			DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(value->text),
												ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		MemoryContextSwitchTo(old);
	}
	return (Numeric) value->numeric;
}

/* Numeric comparison of a jsonb number with an operand number (<0, 0, >0). */
static int
compare_numbers(const JsonbValue *v, const MtValue *value, MemoryContext cache_cxt)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(v->val.numeric),
											 NumericGetDatum(value_numeric(value, cache_cxt))));
}

/* Byte-wise string order: memcmp over the common prefix, then the shorter first. */
static int
compare_strings(const char *a, int alen, const char *b, size_t blen)
{
	int			cmp = memcmp(a, b, Min((size_t) alen, blen));

	if (cmp != 0)
		return cmp;
	return (size_t) alen < blen ? -1 : ((size_t) alen > blen ? 1 : 0);
}

/*
 * Deep equality of a document value (NULL: missing) with an operand. Objects are equal when they
 * have the same keys with equal values (jsonb does not keep key order, so order is not compared).
 */
static bool
values_equal(const MtValue *want, const JsonbValue *v, MemoryContext cache_cxt)
{
	if (v == NULL)
		return want->kind == MT_VALUE_NULL;
	switch (v->type)
	{
		case jbvNull:
			return want->kind == MT_VALUE_NULL;
		case jbvBool:
			return want->kind == MT_VALUE_BOOL && want->boolean == v->val.boolean;
		case jbvNumeric:
			return want->kind == MT_VALUE_NUMBER && compare_numbers(v, want, cache_cxt) == 0;
		case jbvString:
			return want->kind == MT_VALUE_STRING && (size_t) v->val.string.len == want->len &&
				memcmp(v->val.string.val, want->text, want->len) == 0;
		case jbvBinary:
			{
				JsonbContainer *c = v->val.binary.data;

				if (JsonContainerIsObject(c))
				{
					if (want->kind != MT_VALUE_OBJECT || JsonContainerSize(c) != (uint32) want->count)
						return false;
					for (int i = 0; i < want->count; i++)
					{
						JsonbValue	member;

						if (getKeyJsonValueFromContainer(c, want->keys[i], (int) want->key_lens[i],
														 &member) == NULL ||
							!values_equal(&want->items[i], &member, cache_cxt))
							return false;
					}
					return true;
				}
				if (want->kind != MT_VALUE_ARRAY || JsonContainerSize(c) != (uint32) want->count)
					return false;
				for (int i = 0; i < want->count; i++)
				{
					JsonbValue *element = getIthJsonbValueFromContainer(c, i);
					bool		equal = element != NULL && values_equal(&want->items[i], element, cache_cxt);

					if (element)
						pfree(element);
					if (!equal)
						return false;
				}
				return true;
			}
		default:
			return false;
	}
}

/* $gt $gte $lt $lte of a value against an operand of the same type bracket only. */
static bool
compare_matches(MtOpKind kind, const MtValue *want, const JsonbValue *v, MemoryContext cache_cxt)
{
	int			cmp;

	if (want->kind == MT_VALUE_NULL)	/* like MongoDB: $gte/$lte null are $eq null */
		return (kind == MT_OP_GTE || kind == MT_OP_LTE) && (v == NULL || v->type == jbvNull);
	if (v == NULL)
		return false;
	if (want->kind == MT_VALUE_NUMBER && v->type == jbvNumeric)
		cmp = compare_numbers(v, want, cache_cxt);
	else if (want->kind == MT_VALUE_STRING && v->type == jbvString)
		cmp = compare_strings(v->val.string.val, v->val.string.len, want->text, want->len);
	else if (want->kind == MT_VALUE_BOOL && v->type == jbvBool)
		cmp = (int) v->val.boolean - (int) want->boolean;
	else
		return false;
	switch (kind)
	{
		case MT_OP_GT:
			return cmp > 0;
		case MT_OP_GTE:
			return cmp >= 0;
		case MT_OP_LT:
			return cmp < 0;
		default:
			return cmp <= 0;
	}
}

/* The PostgreSQL regex flags for MT_REGEX_* flags, PCRE-like: "." stops at newlines unless s. */
static int
regex_cflags(int flags)
{
	int			cflags = REG_ADVANCED;

	if (flags & MT_REGEX_ICASE)
		cflags |= REG_ICASE;
	if (flags & MT_REGEX_MULTILINE)
		cflags |= REG_NLANCH;
	if (!(flags & MT_REGEX_DOTALL))
		cflags |= REG_NLSTOP;
	if (flags & MT_REGEX_EXTENDED)
		cflags |= REG_EXPANDED;
	return cflags;
}

/* Compiles a pattern into re; returns the regex engine's code (REG_OKAY on success). */
static int
compile_regex(regex_t *re, const MtOp *op)
{
	pg_wchar   *wide = palloc((op->value.len + 1) * sizeof(pg_wchar));
	int			wide_len = pg_mb2wchar_with_len(op->value.text, wide, (int) op->value.len);
	int			rc = pg_regcomp(re, wide, wide_len, regex_cflags(op->regex_flags),
								DEFAULT_COLLATION_OID);

	pfree(wide);
	return rc;
}

/* Memory context callback: frees a compiled regex (the engine mallocs its internals). */
static void
free_compiled_regex(void *arg)
{
	pg_regfree(&((CompiledRegex *) arg)->re);
}

/*
 * After the regex engine failed with rc: a cancel (REG_CANCEL: the engine saw a pending query
 * cancel or die) is raised as what it is, never taken for a result. Returns for other failures.
 */
static void
regex_failure_check_cancel(int rc, const MtOp *op)
{
	CHECK_FOR_INTERRUPTS();
	if (rc == REG_CANCEL)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement: $regex at %s was interrupted", op->path)));
}

/*
 * The op's compiled regex, compiled once into the condition's memory context. NULL (with *rc)
 * when the engine fails: the pattern was checked when written, so only a resource failure or a
 * cancel gets here, and the next evaluation tries again.
 */
static regex_t *
op_regex(const MtOp *op, MemoryContext cache_cxt, int *rc)
{
	MtOp	   *cache = (MtOp *) op;	/* the lazy cache field is mutable */
	CompiledRegex *compiled;

	if (op->compiled)
		return &((CompiledRegex *) op->compiled)->re;
	compiled = MemoryContextAllocZero(cache_cxt, sizeof(CompiledRegex));
	*rc = compile_regex(&compiled->re, op);
	if (*rc != REG_OKAY)
	{
		pfree(compiled);
		return NULL;
	}
	compiled->callback.func = free_compiled_regex;
	compiled->callback.arg = compiled;
	MemoryContextRegisterResetCallback(cache_cxt, &compiled->callback);
	cache->compiled = compiled;
	return &compiled->re;
}

/*
 * Does a string match the op's $regex (anywhere, as MongoDB's unanchored search does)? In a
 * bounded evaluation a subject longer than what is left of the budget is not examined: unknown.
 * A cancel raises 57014; another engine failure is unknown when bounded and an error otherwise.
 */
static MtTruth
regex_matches(const MtOp *op, const char *s, int len, const EvalContext *ctx)
{
	regex_t    *re;
	pg_wchar	stack_buf[MT_REGEX_STACK_CHARS + 1];
	pg_wchar   *wide;
	int			wide_len;
	int			rc = REG_OKAY;

	if (ctx->regex_budget != NULL)
	{
		if ((int64) len > *ctx->regex_budget)
			return MT_UNKNOWN;
		*ctx->regex_budget -= len;
	}
	re = op_regex(op, ctx->cache_cxt, &rc);
	if (re != NULL)
	{
		wide = len <= MT_REGEX_STACK_CHARS ? stack_buf
			: palloc_extended(((Size) len + 1) * sizeof(pg_wchar), MCXT_ALLOC_HUGE);
		wide_len = pg_mb2wchar_with_len(s, wide, len);
		rc = pg_regexec(re, wide, wide_len, 0, NULL, 0, NULL, 0);
		if (wide != stack_buf)
			pfree(wide);
		if (rc == REG_OKAY)
			return MT_TRUE;
		if (rc == REG_NOMATCH)
			return MT_FALSE;
	}
	regex_failure_check_cancel(rc, op);
	if (ctx->regex_budget != NULL)
		return MT_UNKNOWN;
	{
		char		message[256];

		pg_regerror(rc, re, message, sizeof(message));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("$regex at %s failed: %s", op->path, message)));
	}
	return MT_UNKNOWN;			/* not reached */
}

/* Is a document value (NULL: missing) equal to one of the values of a long $in list? */
static bool
in_index_matches(const MtInIndex *index, const JsonbValue *v, MemoryContext cache_cxt)
{
	bool		found = false;

	if (v == NULL || v->type == jbvNull)
		return index->has_null;
	switch (v->type)
	{
		case jbvBool:
			return v->val.boolean ? index->has_true : index->has_false;
		case jbvString:
			found = mt_in_index_has_string(index, v->val.string.val, (size_t) v->val.string.len);
			break;
		case jbvNumeric:
			if (index->nnumbers > 0)
			{
				char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric)));
				char		key[MT_NUMBER_KEY_MAX];
				size_t		key_len = mt_number_key(text, strlen(text), key, sizeof(key));

				pfree(text);
				/* a key that does not fit has more digits than any number of the list */
				found = key_len > 0 && mt_in_index_has_number_key(index, key, key_len);
			}
			break;
		default:
			break;
	}
	/* arrays and objects of the list, compared one by one (they are few) */
	for (int i = 0; !found && i < index->ncomposites; i++)
		found = values_equal(index->composites[i], v, cache_cxt);
	return found;
}

/* Is needle a substring of haystack? */
static bool
contains_bytes(const char *haystack, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen == 0)
		return true;
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (haystack[i] == needle[0] && memcmp(haystack + i, needle, nlen) == 0)
			return true;
	return false;
}

static MtTruth all_ops_match(const MtOp *ops, int nops, const Source *src);

/* $elemMatch on one element: the object form's condition, or the operator form's operators. */
static MtTruth
element_matches(const MtOp *op, const JsonbValue *element, const EvalContext *ctx)
{
	if (op->sub)
	{
		EvalContext sub_ctx = {0};

		if (!is_object_value(element))
			return MT_FALSE;
		sub_ctx.root = element->val.binary.data;
		sub_ctx.cache_cxt = ctx->cache_cxt;
		sub_ctx.regex_budget = ctx->regex_budget;
		return eval_node(op->sub, &sub_ctx);
	}
	else
	{
		Source		src = {NULL, ctx, element};

		if (op->nops == 0)
			return MT_FALSE;
		return all_ops_match(op->ops, op->nops, &src);
	}
}

/*
 * Does one candidate (v NULL: missing) satisfy a simple operator? is_element: v is an element of
 * the array found at the end of the path (array-level operators then do not apply).
 */
static MtTruth
candidate_matches(const MtOp *op, MtOpKind kind, const JsonbValue *v, bool is_element,
				  const EvalContext *ctx)
{
	switch (kind)
	{
		case MT_OP_EQ:
			return truth(values_equal(&op->value, v, ctx->cache_cxt));
		case MT_OP_IN:
			if (op->in_index != NULL)
				return truth(in_index_matches(op->in_index, v, ctx->cache_cxt));
			for (int i = 0; i < op->nvalues; i++)
				if (values_equal(&op->values[i], v, ctx->cache_cxt))
					return MT_TRUE;
			return MT_FALSE;
		case MT_OP_EXISTS:
			return truth(v != NULL);
		case MT_OP_GT:
		case MT_OP_GTE:
		case MT_OP_LT:
		case MT_OP_LTE:
			return truth(compare_matches(kind, &op->value, v, ctx->cache_cxt));
		case MT_OP_REGEX:
			if (v == NULL || v->type != jbvString)
				return MT_FALSE;
			return regex_matches(op, v->val.string.val, v->val.string.len, ctx);
		case MT_OP_STARTS_WITH:
			return truth(v != NULL && v->type == jbvString && (size_t) v->val.string.len >= op->value.len &&
						 memcmp(v->val.string.val, op->value.text, op->value.len) == 0);
		case MT_OP_ENDS_WITH:
			return truth(v != NULL && v->type == jbvString && (size_t) v->val.string.len >= op->value.len &&
						 memcmp(v->val.string.val + v->val.string.len - op->value.len, op->value.text,
								op->value.len) == 0);
		case MT_OP_CONTAINS:
			return truth(v != NULL && v->type == jbvString &&
						 contains_bytes(v->val.string.val, v->val.string.len, op->value.text, op->value.len));
		case MT_OP_SIZE:
			return truth(!is_element && is_array_value(v) &&
						 JsonContainerSize(v->val.binary.data) == (uint32) op->size);
		case MT_OP_ELEM_MATCH:
			if (is_element || !is_array_value(v))
				return MT_FALSE;
			{
				JsonbContainer *c = v->val.binary.data;
				uint32		n = JsonContainerSize(c);
				bool		unknown = false;

				for (uint32 i = 0; i < n; i++)
				{
					JsonbValue *element = getIthJsonbValueFromContainer(c, i);
					MtTruth		matched = element != NULL ? element_matches(op, element, ctx) : MT_FALSE;

					if (element)
						pfree(element);
					if (matched == MT_TRUE)
						return MT_TRUE;
					if (matched == MT_UNKNOWN)
						unknown = true;
				}
				return unknown ? MT_UNKNOWN : MT_FALSE;
			}
		default:
			return MT_FALSE;		/* composites are handled by op_matches_source */
	}
}

/* Visits one candidate: true stops the walk (a match); an unknown one is remembered. */
static inline bool
visit_candidate(Visit *visit, const JsonbValue *v, bool is_element)
{
	MtTruth		result;

	visit->produced = true;
	result = candidate_matches(visit->op, visit->kind, v, is_element, visit->ctx);
	if (result == MT_UNKNOWN)
		visit->unknown = true;
	return result == MT_TRUE;
}

/* Visits the value at the end of a path: an array's elements, then the array itself. */
static bool
visit_leaf(Visit *visit, const JsonbValue *v)
{
	if (is_array_value(v))
	{
		JsonbContainer *c = v->val.binary.data;
		uint32		n = JsonContainerSize(c);

		for (uint32 i = 0; i < n; i++)
		{
			JsonbValue *element = getIthJsonbValueFromContainer(c, i);
			bool		matched = element != NULL && visit_candidate(visit, element, true);

			if (element)
				pfree(element);
			if (matched)
				return true;
		}
	}
	return visit_candidate(visit, v, false);
}

/*
 * Walks the rest of a field's path (steps[step..]) from v, the value at steps[step-1], visiting
 * every candidate: objects by key; arrays by index (digits-only steps) and by each object element;
 * a scalar or an object without the key yields "missing". Returns true at the first match.
 */
static bool
walk_path(Visit *visit, const MtCondition *field, int step, const JsonbValue *v, bool from_index)
{
	const MtPathStep *s;
	JsonbContainer *c;

	if (step == field->nsteps)
		return visit_leaf(visit, v);
	s = &field->steps[step];
	if (v->type != jbvBinary)
		return visit_candidate(visit, NULL, false);
	c = v->val.binary.data;
	if (JsonContainerIsObject(c))
	{
		JsonbValue	child;

		if (getKeyJsonValueFromContainer(c, s->name, s->len, &child) != NULL)
			return walk_path(visit, field, step + 1, &child, false);
		/* an object element met while indexing an array by position just has no such key */
		return from_index ? false : visit_candidate(visit, NULL, false);
	}
	if (s->is_index)
	{
		JsonbValue *element = getIthJsonbValueFromContainer(c, (uint32) s->index);

		if (element != NULL)
		{
			bool		matched = walk_path(visit, field, step + 1, element, false);

			pfree(element);
			if (matched)
				return true;
		}
	}
	/* the step applies to each object element (arrays nested in arrays are not entered) */
	{
		uint32		n = JsonContainerSize(c);

		for (uint32 i = 0; i < n; i++)
		{
			JsonbValue *element = getIthJsonbValueFromContainer(c, i);
			bool		matched = false;

			if (element != NULL && is_object_value(element))
				matched = walk_path(visit, field, step, element, s->is_index);
			if (element)
				pfree(element);
			if (matched)
				return true;
		}
	}
	return false;
}

/* Looks up a top-level field: an event field first (for events), then the root object. */
static bool
lookup_top(const EvalContext *ctx, const MtPathStep *s, JsonbValue *out)
{
	MtDocument *event = ctx->event;

	if (event != NULL)
	{
		if (s->len == 7 && memcmp(s->name, "user_id", 7) == 0)
		{
			out->type = jbvString;
			out->val.string.val = (char *) event->user_id;
			out->val.string.len = event->user_id_len;
			return true;
		}
		if (s->len == 10 && memcmp(s->name, "event_type", 10) == 0)
		{
			out->type = jbvString;
			out->val.string.val = (char *) event->event_type;
			out->val.string.len = event->event_type_len;
			return true;
		}
		if (s->len == 10 && memcmp(s->name, "session_id", 10) == 0)
		{
			if (event->session_id == NULL)
				out->type = jbvNull;
			else
			{
				out->type = jbvString;
				out->val.string.val = (char *) event->session_id;
				out->val.string.len = event->session_id_len;
			}
			return true;
		}
		if (s->len == 11 && memcmp(s->name, "occurred_at", 11) == 0)
		{
			if (event->occurred_at_text[0] == '\0')
			{
				/* as to_jsonb(timestamptz) prints it with TimeZone = UTC */
				const int	utc = 0;
				char	   *text = JsonEncodeDateTime(NULL, TimestampTzGetDatum(event->occurred_at),
													  TIMESTAMPTZOID, &utc);

				strlcpy(event->occurred_at_text, text, sizeof(event->occurred_at_text));
				pfree(text);
			}
			out->type = jbvString;
			out->val.string.val = event->occurred_at_text;
			out->val.string.len = strlen(event->occurred_at_text);
			return true;
		}
	}
	if (ctx->root == NULL || !JsonContainerIsObject(ctx->root))
		return false;
	return getKeyJsonValueFromContainer(ctx->root, s->name, s->len, out) != NULL;
}

/*
 * Does any candidate of the source satisfy op (as kind)? Nothing at all counts as missing. True
 * when one does; else unknown when one could not be decided; else false.
 */
static MtTruth
source_any(const MtOp *op, MtOpKind kind, const Source *src)
{
	Visit		visit = {op, kind, src->ctx, false, false};
	JsonbValue	top;
	bool		matched;

	if (src->field == NULL)
		return candidate_matches(op, kind, src->single, false, src->ctx);
	if (lookup_top(src->ctx, &src->field->steps[0], &top))
		matched = walk_path(&visit, src->field, 1, &top, false);
	else
		matched = visit_candidate(&visit, NULL, false);
	if (!matched && !visit.produced)
		matched = visit_candidate(&visit, NULL, false);
	if (matched)
		return MT_TRUE;
	return visit.unknown ? MT_UNKNOWN : MT_FALSE;
}

/* Do all the operators hold over the source? Kleene AND: false wins over unknown. */
static MtTruth
all_ops_match(const MtOp *ops, int nops, const Source *src)
{
	bool		unknown = false;

	for (int i = 0; i < nops; i++)
	{
		MtTruth		result = op_matches_source(&ops[i], src);

		if (result == MT_FALSE)
			return MT_FALSE;
		if (result == MT_UNKNOWN)
			unknown = true;
	}
	return unknown ? MT_UNKNOWN : MT_TRUE;
}

/* Does one operator hold over a source (a field path or a single value)? */
static MtTruth
op_matches_source(const MtOp *op, const Source *src)
{
	switch (op->kind)
	{
		case MT_OP_NE:
			return truth_not(source_any(op, MT_OP_EQ, src));
		case MT_OP_NIN:
			return truth_not(source_any(op, MT_OP_IN, src));
		case MT_OP_EXISTS:
			return op->exists ? source_any(op, MT_OP_EXISTS, src)
				: truth_not(source_any(op, MT_OP_EXISTS, src));
		case MT_OP_NOT:
			return truth_not(all_ops_match(op->ops, op->nops, src));
		case MT_OP_ALL:
			return op->nops > 0 ? all_ops_match(op->ops, op->nops, src) : MT_FALSE;
		default:
			return source_any(op, op->kind, src);
	}
}

/* Kleene OR of a node's children: true wins over unknown. */
static MtTruth
any_child_matches(const MtCondition *cond, const EvalContext *ctx)
{
	bool		unknown = false;

	for (int i = 0; i < cond->nchildren; i++)
	{
		MtTruth		result = eval_node(cond->children[i], ctx);

		if (result == MT_TRUE)
			return MT_TRUE;
		if (result == MT_UNKNOWN)
			unknown = true;
	}
	return unknown ? MT_UNKNOWN : MT_FALSE;
}

/* Evaluates a node: logical nodes over their children, field nodes over their operators. */
static MtTruth
eval_node(const MtCondition *cond, const EvalContext *ctx)
{
	switch (cond->kind)
	{
		case MT_NODE_AND:
			{
				bool		unknown = false;

				for (int i = 0; i < cond->nchildren; i++)
				{
					MtTruth		result = eval_node(cond->children[i], ctx);

					if (result == MT_FALSE)
						return MT_FALSE;
					if (result == MT_UNKNOWN)
						unknown = true;
				}
				return unknown ? MT_UNKNOWN : MT_TRUE;
			}
		case MT_NODE_OR:
			return any_child_matches(cond, ctx);
		case MT_NODE_NOR:
			return truth_not(any_child_matches(cond, ctx));
		case MT_NODE_FIELD:
			{
				Source		src = {cond, ctx, NULL};

				return all_ops_match(cond->ops, cond->nops, &src);
			}
	}
	return MT_FALSE;
}

/* A document over a jsonb value (any type at the top; only objects have fields). */
void
mt_document_init_jsonb(MtDocument *doc, Jsonb *jb)
{
	memset(doc, 0, sizeof(*doc));
	doc->root = jb ? &jb->root : NULL;
}

/* An event document: params' keys plus the four event fields, which win. */
void
mt_document_init_event(MtDocument *doc, Jsonb *params,
					   const char *user_id, int user_id_len,
					   const char *event_type, int event_type_len,
					   const char *session_id, int session_id_len,
					   TimestampTz occurred_at)
{
	mt_document_init_jsonb(doc, params);
	doc->is_event = true;
	doc->user_id = user_id;
	doc->user_id_len = user_id_len;
	doc->event_type = event_type;
	doc->event_type_len = event_type_len;
	doc->session_id = session_id;
	doc->session_id_len = session_id_len;
	doc->occurred_at = occurred_at;
}

/* Evaluates with a $regex budget (NULL: none). */
static MtTruth
evaluate(const MtCondition *cond, MtDocument *doc, int64 *regex_budget)
{
	EvalContext ctx;

	if (cond == NULL)
		return MT_FALSE;
	ctx.root = doc->root;
	ctx.event = doc->is_event ? doc : NULL;
	/* the condition was palloc'd (mtalloc_pg.c): its context holds the lazy caches */
	ctx.cache_cxt = GetMemoryChunkContext((void *) cond);
	ctx.regex_budget = regex_budget;
	return eval_node(cond, &ctx);
}

/* Does the document match the condition? Decided in full; never an error for any document. */
bool
mt_condition_eval(const MtCondition *cond, MtDocument *doc)
{
	return evaluate(cond, doc, NULL) == MT_TRUE;
}

/* Evaluates with at most regex_max_input bytes of $regex subject (negative: no limit). */
MtTruth
mt_condition_eval_bounded(const MtCondition *cond, MtDocument *doc, int regex_max_input)
{
	int64		budget = regex_max_input;

	return evaluate(cond, doc, regex_max_input < 0 ? NULL : &budget);
}

/* Defines microtrigger.regex_max_input; called from _PG_init. */
void
mt_condition_init(void)
{
	DefineCustomIntVariable("microtrigger.regex_max_input",
							"Bytes of subject the $regex operators of one condition examine at ingest; "
							"what they cannot examine is decided by the worker (-1: no limit).",
							NULL, &mt_regex_max_input, 4096, -1, PG_INT32_MAX,
							PGC_USERSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
}

static bool check_node_regexes(const MtCondition *cond, MtError *err);

/* Checks the $regex operators of a list of operators, recursively. */
static bool
check_ops_regexes(const MtOp *ops, int nops, MtError *err)
{
	for (int i = 0; i < nops; i++)
	{
		const MtOp *op = &ops[i];

		if (op->kind == MT_OP_REGEX)
		{
			regex_t		re;
			int			rc = compile_regex(&re, op);
			long		info;

			if (rc != REG_OKAY)
			{
				char		message[256];

				regex_failure_check_cancel(rc, op);
				pg_regerror(rc, &re, message, sizeof(message));
				return mt_error_set(err, op->path, "invalid $regex: %s", message);
			}
			info = re.re_info;
			pg_regfree(&re);
			/* the engine's own account, behind the compiler's textual check */
			if (info & REG_UBACKREF)
				return mt_error_set(err, op->path, "%s", MT_REGEX_BACKREF_MESSAGE);
			if (info & REG_ULOOKAROUND)
			{
				MtRegexFeatures features;

				/* lookbehind is linear; unless the scan accounts for every constraint as one, refuse */
				mt_regex_scan(op->value.text, op->value.len, op->regex_flags, &features);
				if (features.lookaheads > 0 || features.lookbehinds == 0)
					return mt_error_set(err, op->path, "%s", MT_REGEX_LOOKAHEAD_MESSAGE);
			}
		}
		if (!check_ops_regexes(op->ops, op->nops, err))
			return false;
		if (op->sub && !check_node_regexes(op->sub, err))
			return false;
	}
	return true;
}

/* Checks the $regex operators of a node and its children. */
static bool
check_node_regexes(const MtCondition *cond, MtError *err)
{
	for (int i = 0; i < cond->nchildren; i++)
		if (!check_node_regexes(cond->children[i], err))
			return false;
	return check_ops_regexes(cond->ops, cond->nops, err);
}

/* Compiles every $regex with PostgreSQL's engine; reports the first bad one with its path. */
bool
mt_condition_check_regexes(const MtCondition *cond, MtError *err)
{
	if (cond == NULL)
		return true;
	return check_node_regexes(cond, err);
}
