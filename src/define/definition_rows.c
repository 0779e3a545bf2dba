/*
 * definition_rows.c: the parts the validation triggers of triggers, templates, sequences and
 * segments share, and the one owner rule of all four.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "definition_rows.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(mt_check_definition_owner_sql);

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
		mt_spi_failed(psprintf("read microtrigger.%s", table), ret);
	return SPI_processed > 0;
}

/* The role a definition row names in its owner column. */
static Oid
row_owner(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		owner = heap_getattr(tuple, SPI_fnumber(desc, "owner"), desc, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(owner);
}

/* Raises 42501 unless the current user is a member of the row's owner. */
static void
require_owner_member(const char *kind, HeapTuple tuple, TupleDesc desc, const char *verb)
{
	Oid			owner = row_owner(tuple, desc);
	char	   *name = SPI_getvalue(tuple, desc, SPI_fnumber(desc, "name"));

	if (OidIsValid(owner) && is_member_of_role(GetUserId(), owner))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s %s \"%s\" owned by role \"%s\"", verb, kind,
					name ? name : "", OidIsValid(owner) ? GetUserNameFromId(owner, true) : "(none)"),
			 errdetail("Only members of a definition's owner may write it; its queries and templates are used as that role.")));
}

/*
 * BEFORE INSERT OR UPDATE OR DELETE row trigger on triggers, templates, sequences and segments:
 * a role writes a row only when it is a member of its owner, the old owner as well as the new one
 * (so an UPDATE cannot take a row over, and disabling counts as changing). TG_ARGV[0] names the
 * kind for messages.
 */
Datum
mt_check_definition_owner_sql(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	const char *kind;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("microtrigger.check_definition_owner() must be a BEFORE ROW trigger with one argument")));
	desc = RelationGetDescr(trigdata->tg_relation);
	kind = trigdata->tg_trigger->tgargs[0];
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		require_owner_member(kind, trigdata->tg_trigtuple, desc, "create");
		return PointerGetDatum(trigdata->tg_trigtuple);
	}
	require_owner_member(kind, trigdata->tg_trigtuple, desc,
						 TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? "delete" : "change");
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_trigtuple);
	require_owner_member(kind, trigdata->tg_newtuple, desc, "give");
	return PointerGetDatum(trigdata->tg_newtuple);
}

/*
 * Checks that a definition owned by `owner` may use the template `template_name` (named at `path`):
 * it must exist and belong to a role `owner` is a member of. Raises the "invalid <kind>" error.
 */
void
mt_check_template_usable(const char *kind, const char *name, const char *path,
						 const char *template_name, Oid owner)
{
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		values[2] = {CStringGetTextDatum(template_name), ObjectIdGetDatum(owner)};
	int			ret = SPI_execute_with_args("SELECT pg_catalog.pg_has_role($2, t.owner, 'MEMBER') "
											"FROM microtrigger.templates t WHERE t.name = $1",
											2, argtypes, values, NULL, true, 1);
	bool		isnull;

	mt_spi_check(ret, SPI_OK_SELECT, "read microtrigger.templates");
	if (SPI_processed == 0)
		mt_report_invalid_definition(kind, name, path, psprintf("unknown template \"%s\"", template_name));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		mt_report_invalid_definition(kind, name, path,
									 psprintf("template \"%s\" belongs to a role that the owner \"%s\" is not a member of",
											  template_name, GetUserNameFromId(owner, true)));
}
