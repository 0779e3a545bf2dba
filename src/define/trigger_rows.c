/*
 * trigger_rows.c: the database side of trigger definitions — a row of microtrigger.triggers is
 * validated and compiled when written (SQLSTATE 22023 naming the trigger, JSON path and reason),
 * its owner checked, and the rule caches of every backend invalidated when the table changes.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "condition_eval.h"
#include "definition_rows.h"
#include "jsonc_bridge.h"
#include "trigger_rows.h"

PG_FUNCTION_INFO_V1(mt_validate_trigger_row_sql);
PG_FUNCTION_INFO_V1(mt_invalidate_rule_cache_sql);

/* Every $regex of every condition of the trigger must compile in PostgreSQL's engine. */
static void
check_trigger_regexes(const MtTrigger *trigger)
{
	MtError		err = {0};
	bool		ok = mt_condition_check_regexes(trigger->condition, &err);

	for (int i = 0; ok && i < trigger->n_history; i++)
		if (trigger->history[i].condition)
			ok = mt_condition_check_regexes(trigger->history[i].condition, &err);
	if (ok && trigger->has_unless && trigger->unless.condition)
		ok = mt_condition_check_regexes(trigger->unless.condition, &err);
	for (int a = 0; ok && a < trigger->n_actions; a++)
		for (int v = 0; ok && v < trigger->actions[a].n_variants; v++)
			ok = mt_condition_check_regexes(trigger->actions[a].variants[v].when, &err);
	if (!ok)
		mt_report_invalid_definition("trigger", trigger->name, err.path, err.message);
}

/* Templates (readable by the owner) and sequences named by the actions must exist. */
static void
check_action_references(const MtTrigger *trigger, Oid owner)
{
	for (int a = 0; a < trigger->n_actions; a++)
	{
		const MtAction *action = &trigger->actions[a];
		char		path[128];

		if (action->template_name)
		{
			snprintf(path, sizeof(path), "$.actions[%d].send_email.template", a);
			mt_check_template_usable("trigger", trigger->name, path, action->template_name, owner);
		}
		for (int v = 0; v < action->n_variants; v++)
		{
			snprintf(path, sizeof(path), "$.actions[%d].send_email.variants[%d].template", a, v);
			mt_check_template_usable("trigger", trigger->name, path, action->variants[v].template_name, owner);
		}
		if (action->sequence_name && !mt_named_row_exists("sequences", action->sequence_name))
		{
			snprintf(path, sizeof(path), "$.actions[%d].start_sequence", a);
			mt_report_invalid_definition("trigger", trigger->name, path,
						   psprintf("unknown sequence \"%s\"", action->sequence_name));
		}
	}
}

/*
 * The context query must parse as one SELECT taking the user id as $1 (text), with the
 * search_path it will run under. Parse errors become "invalid trigger ... at $.context".
 */
static void
check_context_query(const MtTrigger *trigger)
{
	Oid			argtypes[1] = {TEXTOID};
	int			nestlevel = mt_context_search_path_push();
	MemoryContext caller = CurrentMemoryContext;
	SPIPlanPtr	plan = NULL;
	List	   *sources;
	CachedPlanSource *source;

	PG_TRY();
	{
		plan = SPI_prepare(trigger->context_sql, 1, argtypes);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		mt_report_invalid_definition("trigger", trigger->name, "$.context", edata->message);
	}
	PG_END_TRY();
	if (plan == NULL)
		mt_report_invalid_definition("trigger", trigger->name, "$.context", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	if (list_length(sources) != 1)
		mt_report_invalid_definition("trigger", trigger->name, "$.context", "the context query must be one SELECT statement");
	source = linitial(sources);
	if (source->commandTag != CMDTAG_SELECT || source->raw_parse_tree == NULL ||
		!IsA(source->raw_parse_tree->stmt, SelectStmt) ||
		((SelectStmt *) source->raw_parse_tree->stmt)->intoClause != NULL)
		mt_report_invalid_definition("trigger", trigger->name, "$.context", "the context query must be one SELECT statement");
	SPI_freeplan(plan);
	AtEOXact_GUC(true, nestlevel);
}

/* Sets the search_path context queries run under; returns the GUC nest level to pop. */
int
mt_context_search_path_push(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, public", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * BEFORE INSERT OR UPDATE row trigger on microtrigger.triggers: checks the owner, validates and
 * compiles the definition, checks what it names, and stamps updated_at.
 */
Datum
mt_validate_trigger_row_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	HeapTuple	tuple = mt_definition_row(fcinfo, "mt_validate_trigger_row_sql", &desc);
	bool		isnull;
	char	   *name;
	Jsonb	   *definition;
	Oid			owner;
	MemoryContext compile_context;
	MemoryContext old;
	MtError		err = {0};
	MtTrigger  *trigger;

	name = TextDatumGetCString(heap_getattr(tuple, SPI_fnumber(desc, "name"), desc, &isnull));
	if (name[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a trigger name must not be empty")));
	/* who may write the row is checked by the check_owner trigger (mt_check_definition_owner_sql) */
	owner = DatumGetObjectId(heap_getattr(tuple, SPI_fnumber(desc, "owner"), desc, &isnull));
	definition = DatumGetJsonbP(heap_getattr(tuple, SPI_fnumber(desc, "definition"), desc, &isnull));

	compile_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger trigger validation",
											ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(compile_context);
	trigger = mt_trigger_compile_jsonb(name, definition, &err);
	if (trigger == NULL)
		mt_report_invalid_definition("trigger", name, err.path, err.message);
	check_trigger_regexes(trigger);
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	check_action_references(trigger, owner);
	if (trigger->context_sql)
		check_context_query(trigger);
	SPI_finish();
	if (trigger->n_branches > 5)
		ereport(NOTICE,
				(errmsg("trigger \"%s\" has %d conditional branches in one email", name, trigger->n_branches),
				 errdetail("More than 5 branches fatigues readers and slows rendering; consider splitting the trigger.")));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(compile_context);

	return PointerGetDatum(mt_stamp_updated_at(tuple, desc));
}

/*
 * AFTER ... FOR EACH STATEMENT trigger on the definition tables: the rule caches of all backends
 * are rebuilt when this transaction commits (and in this backend, at the next command).
 */
Datum
mt_invalidate_rule_cache_sql(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("microtrigger.invalidate_rule_cache() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}
