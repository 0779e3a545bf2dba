/*
 * template_rows.c: the BEFORE INSERT OR UPDATE row trigger on microtrigger.templates. It
 * parses every part of the email (subject, preheader, html_body, text_body) so a syntax error is
 * refused when it is written, not when an email is due; refuses a part over the size limit
 * (54000) or nested deeper than the nesting limit (22023); warns when the email branches too
 * much; and stamps updated_at.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "mustache.h"
#include "render.h"

PG_FUNCTION_INFO_V1(mt_templates_validate_sql);

/* More conditional sections than this in one email draws a NOTICE. */
#define MT_TEMPLATE_MAX_CONDITIONALS 5

static const char *const template_parts[] = {"subject", "preheader", "html_body", "text_body"};

/*
 * Parses one part of the row (NULL parts are fine); raises 22023 naming the template, the part,
 * the line and the column (54000 for a part over MTM_MAX_TEMPLATE_SIZE, judged before it is
 * detoasted); returns the part's number of conditional sections.
 */
static int
validate_part(HeapTuple tuple, TupleDesc desc, const char *template_name, const char *part,
			  MemoryContext scratch)
{
	int			attnum = SPI_fnumber(desc, part);
	bool		isnull;
	Datum		value;
	Size		raw_size;
	MemoryContext caller;
	MtmTemplate *tmpl;
	MtmError	err = {0};
	text	   *body;
	int			conditionals;

	if (attnum <= 0)
		return 0;
	value = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return 0;
	raw_size = toast_raw_datum_size(value);	/* with a normalized 4-byte header */
	if (raw_size > VARHDRSZ + MTM_MAX_TEMPLATE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("template \"%s\" in %s is too large: %zu bytes, the limit is %d bytes",
						template_name, part, (size_t) (raw_size - VARHDRSZ), MTM_MAX_TEMPLATE_SIZE),
				 errdetail("Each part of a template and each partial is at most 1 MiB, as is a rendered part.")));
	caller = MemoryContextSwitchTo(scratch);
	body = DatumGetTextPP(value);
	tmpl = mt_template_compile(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), &err);
	MemoryContextSwitchTo(caller);
	if (tmpl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid template \"%s\" in %s at line %d, column %d: %s",
						template_name, part, err.line, err.column, err.message)));
	conditionals = mtm_count_conditionals(tmpl);
	MemoryContextReset(scratch);
	return conditionals;
}

/* The trigger function: validate each part, warn about heavy branching, set updated_at. */
Datum
mt_templates_validate_sql(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	MemoryContext scratch;
	char	   *name;
	int			conditionals = 0;
	int			updated_at;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("microtrigger.templates_validate() must run as a BEFORE INSERT OR UPDATE row trigger")));

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = trigdata->tg_relation->rd_att;
	name = SPI_getvalue(tuple, desc, SPI_fnumber(desc, "name"));
	if (name == NULL)
		name = "";

	scratch = AllocSetContextCreate(CurrentMemoryContext, "microtrigger template validation",
									ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < lengthof(template_parts); i++)
		conditionals += validate_part(tuple, desc, name, template_parts[i], scratch);
	MemoryContextDelete(scratch);

	if (conditionals > MT_TEMPLATE_MAX_CONDITIONALS)
		ereport(NOTICE,
				(errcode(ERRCODE_WARNING),
				 errmsg("template \"%s\" has %d conditional sections", name, conditionals),
				 errdetail("More than %d branches fatigue readers and slow rendering.",
						   MT_TEMPLATE_MAX_CONDITIONALS),
				 errhint("Consider separate templates, chosen by the trigger or a sequence branch.")));

	updated_at = SPI_fnumber(desc, "updated_at");
	if (updated_at > 0)
	{
		Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		bool		isnull = false;

		tuple = heap_modify_tuple_by_cols(tuple, desc, 1, &updated_at, &now, &isnull);
	}
	return PointerGetDatum(tuple);
}
