/*
 * condition_sql.c: the SQL face of the condition language — microtrigger.matches(condition,
 * document) and microtrigger.event_matches(condition, event). The compiled condition is cached
 * in fn_extra (a child context of fn_mcxt), keyed on the condition's bytes, so a query over many
 * rows compiles it once.
 */
#include "postgres.h"

#include "executor/executor.h"
#include "fmgr.h"
#include "access/htup_details.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "condition_eval.h"
#include "event_row.h"

PG_FUNCTION_INFO_V1(mt_matches_sql);
PG_FUNCTION_INFO_V1(mt_event_matches_sql);

/* Deepest nesting of a condition's JSON that is accepted. */
#define MT_CONDITION_MAX_DEPTH 64

/* One compiled condition cached for a call site. */
typedef struct MatchesCache
{
	MemoryContext context;		/* holds this struct's condition copy and the compiled tree */
	Jsonb	   *condition;		/* the bytes it was compiled from */
	MtCondition *compiled;
} MatchesCache;

/*
 * Compiles a jsonb condition into the current memory context: jsonb → text → json-c (once) →
 * tree, then every $regex through PostgreSQL's engine. Raises 22023 when it is not valid.
 */
static MtCondition *
compile_jsonb_condition(Jsonb *condition)
{
	char	   *text = JsonbToCString(NULL, &condition->root, VARSIZE(condition));
	MtError		err = {0};
	MtCondition *compiled;

	compiled = mt_condition_compile_text(text, strlen(text), MT_CONDITION_MAX_DEPTH, "$", &err);
	pfree(text);
	if (compiled == NULL || !mt_condition_check_regexes(compiled, &err))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid condition at %s: %s", err.path, err.message)));
	return compiled;
}

/* The compiled condition for this call site, compiled again only when the condition changes. */
static MtCondition *
cached_condition(FunctionCallInfo fcinfo, Jsonb *condition)
{
	MatchesCache *cache = (MatchesCache *) fcinfo->flinfo->fn_extra;
	MemoryContext context;
	MemoryContext old;

	if (cache != NULL && VARSIZE(cache->condition) == VARSIZE(condition) &&
		memcmp(cache->condition, condition, VARSIZE(condition)) == 0)
		return cache->compiled;

	if (cache != NULL)
	{
		fcinfo->flinfo->fn_extra = NULL;
		MemoryContextDelete(cache->context);
	}
	context = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "microtrigger condition",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(context);
	PG_TRY();
	{
		cache = palloc0(sizeof(MatchesCache));
		cache->context = context;
		cache->condition = palloc(VARSIZE(condition));
		memcpy(cache->condition, condition, VARSIZE(condition));
		cache->compiled = compile_jsonb_condition(condition);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = cache;
	return cache->compiled;
}

/* matches(condition jsonb, document jsonb) → does the document match the condition? */
Datum
mt_matches_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *condition = PG_GETARG_JSONB_P(0);
	Jsonb	   *document = PG_GETARG_JSONB_P(1);
	MtCondition *compiled = cached_condition(fcinfo, condition);
	MtDocument	doc;
	bool		result;

	mt_document_init_jsonb(&doc, document);
	result = mt_condition_eval(compiled, &doc);
	PG_FREE_IF_COPY(document, 1);
	PG_RETURN_BOOL(result);
}

/*
 * event_matches(condition jsonb, event microtrigger.events) → does the event document (params'
 * keys plus user_id, event_type, session_id, occurred_at, which win) match? The evaluator the
 * ingest trigger uses, callable over the events table.
 */
Datum
mt_event_matches_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *condition = PG_GETARG_JSONB_P(0);
	HeapTupleHeader event = PG_GETARG_HEAPTUPLEHEADER(1);
	MtCondition *compiled = cached_condition(fcinfo, condition);
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(event), HeapTupleHeaderGetTypMod(event));
	HeapTupleData tuple;
	MtEventColumns cols;
	MtEventRow	row;
	bool		no_time;
	MtDocument	doc;

	tuple.t_len = HeapTupleHeaderGetDatumLength(event);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = event;
	mt_event_columns_init(&cols, desc);
	mt_event_row_from_tuple(&row, &tuple, desc, &cols);
	no_time = cols.occurred_at == 0 || heap_attisnull(&tuple, cols.occurred_at, desc);
	ReleaseTupleDesc(desc);
	if (no_time || row.user_id == NULL || row.event_type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an event needs user_id, event_type and occurred_at")));

	mt_event_row_document(&doc, &row);
	PG_RETURN_BOOL(mt_condition_eval(compiled, &doc));
}
