/*
 * enrich.c: the enrich stage of acting (enrich.h). The context query is prepared once per trigger
 * (as its owner, under the fixed search_path, inside the sandbox) and the plan kept for the
 * backend: the plan cache re-plans it when what it depends on changes, and it is prepared again
 * when the trigger's query text or owner changes. Only the execution is per firing.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "enrich.h"
#include "subxact.h"
#include "trigger_rows.h"

/* A kept plan of one trigger's context query. */
typedef struct KeptContextPlan
{
	char	   *trigger_name;
	char	   *context_sql;	/* the text it was prepared from */
	Oid			owner;			/* the role it was prepared as */
	SPIPlanPtr	plan;
	struct KeptContextPlan *next;
} KeptContextPlan;

static KeptContextPlan *kept_plans;

/* The context query's inputs and result, for the subtransaction. */
typedef struct ContextQuery
{
	const MtRule *rule;
	const char *user_id;
	MemoryContext result_context;
	Jsonb	   *result;
} ContextQuery;

/* The kept plan of the trigger's context query, prepared now if it has none or an outdated one. */
static SPIPlanPtr
context_plan(const MtRule *rule)
{
	const char *name = rule->trigger->name;
	const char *sql = rule->trigger->context_sql;
	KeptContextPlan *kept;
	Oid			argtypes[1] = {TEXTOID};
	SPIPlanPtr	plan;
	char	   *wrapped;

	for (kept = kept_plans; kept != NULL; kept = kept->next)
		if (strcmp(kept->trigger_name, name) == 0)
			break;
	if (kept != NULL && kept->plan != NULL && kept->owner == rule->owner &&
		strcmp(kept->context_sql, sql) == 0)
		return kept->plan;
	wrapped = psprintf("SELECT pg_catalog.to_jsonb(q) FROM (\n%s\n) q LIMIT 1", sql);
	plan = SPI_prepare(wrapped, 1, argtypes);
	if (plan == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the context query of trigger \"%s\" could not be prepared: %s",
							   name, SPI_result_code_string(SPI_result))));
	SPI_keepplan(plan);
	if (kept == NULL)
	{
		kept = MemoryContextAllocZero(TopMemoryContext, sizeof(KeptContextPlan));
		kept->trigger_name = MemoryContextStrdup(TopMemoryContext, name);
		kept->next = kept_plans;
		kept_plans = kept;
	}
	else
	{
		if (kept->plan != NULL)
			SPI_freeplan(kept->plan);
		pfree(kept->context_sql);
	}
	kept->context_sql = MemoryContextStrdup(TopMemoryContext, sql);
	kept->owner = rule->owner;
	kept->plan = plan;
	return plan;
}

/* Runs the context query as the owner, read-only, with the fixed search_path. */
static void
context_query_work(void *arg)
{
	ContextQuery *query = arg;
	Oid			saved_user;
	int			saved_security;
	bool		saved_read_only = XactReadOnly;
	Datum		values[1] = {CStringGetTextDatum(query->user_id)};

	GetUserIdAndSecContext(&saved_user, &saved_security);
	PG_TRY();
	{
		int			nestlevel;
		int			ret;

		SetUserIdAndSecContext(query->rule->owner, saved_security | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		nestlevel = mt_context_search_path_push();
		XactReadOnly = true;
		ret = SPI_execute_plan(context_plan(query->rule), values, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("the context query is not a SELECT")));
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			MemoryContext inner = MemoryContextSwitchTo(query->result_context);

			query->result = DatumGetJsonbPCopy(row);
			MemoryContextSwitchTo(inner);
		}
		AtEOXact_GUC(false, nestlevel);
	}
	PG_FINALLY();
	{
		XactReadOnly = saved_read_only;
		SetUserIdAndSecContext(saved_user, saved_security);
	}
	PG_END_TRY();
}

/* Runs the trigger's context query for the user (see enrich.h). */
Jsonb *
mt_enrich_context(const MtRule *rule, const char *user_id, int timeout_ms, const char **outcome,
				  char **error)
{
	ContextQuery query = {rule, user_id, CurrentMemoryContext, NULL};
	bool		timed_out;
	ErrorData  *edata = mt_run_sandboxed(context_query_work, &query, timeout_ms, &timed_out);

	*error = NULL;
	*outcome = NULL;
	if (edata != NULL)
	{
		if (timed_out)
		{
			*outcome = "context_timeout";
			*error = psprintf("the context query ran longer than microtrigger.context_timeout (%d ms)",
							  timeout_ms);
		}
		else
		{
			*outcome = edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE ? "context_denied" : "context_error";
			*error = edata->message;
		}
		return NULL;
	}
	if (query.result == NULL)
	{
		JsonbParseState *state = NULL;

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		query.result = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	}
	return query.result;
}
