/*
 * definition_rows.c: the parts the validation triggers of triggers, sequences and segments share.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "definition_rows.h"

/* The new row of a BEFORE INSERT OR UPDATE ROW trigger call. */
HeapTuple
mt_definition_row(FunctionCallInfo fcinfo, const char *function, TupleDesc *desc)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("%s must be a BEFORE ROW trigger", function)));
	*desc = RelationGetDescr(trigdata->tg_relation);
	return TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
}

/* Raises the standard "invalid <kind>" error with the JSON path. */
void
mt_report_invalid_definition(const char *kind, const char *name, const char *path, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\" at %s: %s", kind, name, path, message)));
	pg_unreachable();
}

/* Returns the row with updated_at set to the start of the transaction. */
HeapTuple
mt_stamp_updated_at(HeapTuple tuple, TupleDesc desc)
{
	int			attnum = SPI_fnumber(desc, "updated_at");
	Datum		value[1] = {TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};
	bool		isnull[1] = {false};

	return heap_modify_tuple_by_cols(tuple, desc, 1, &attnum, value, isnull);
}

/* Does a row named `name` exist in microtrigger.<table>? */
bool
mt_named_row_exists(const char *table, const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	char	   *sql = psprintf("SELECT 1 FROM microtrigger.%s WHERE name = $1", table);
	int			ret = SPI_execute_with_args(sql, 1, argtypes, values, NULL, true, 1);

	if (ret != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not read microtrigger.%s: %s", table, SPI_result_code_string(ret))));
	return SPI_processed > 0;
}
