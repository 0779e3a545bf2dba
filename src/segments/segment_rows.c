/*
 * segment_rows.c: the database side of segment definitions — a row of microtrigger.segments is
 * validated and compiled when written (SQLSTATE 22023 naming the segment, JSON path and reason),
 * and a new or changed definition is backfilled from the event history.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "condition_eval.h"
#include "definition_rows.h"
#include "segment_cache.h"
#include "segment_refresh.h"

PG_FUNCTION_INFO_V1(mt_validate_segment_row_sql);
PG_FUNCTION_INFO_V1(mt_backfill_segment_row_sql);

/* Every $regex of the segment's conditions must compile in PostgreSQL's engine. */
static void
check_segment_regexes(const MtSegment *segment)
{
	MtError		err = {0};
	bool		ok = true;

	for (int i = 0; ok && i < segment->n_include; i++)
		if (segment->include[i].condition)
			ok = mt_condition_check_regexes(segment->include[i].condition, &err);
	for (int i = 0; ok && i < segment->n_exclude; i++)
		if (segment->exclude[i].condition)
			ok = mt_condition_check_regexes(segment->exclude[i].condition, &err);
	if (ok && segment->profile)
		ok = mt_condition_check_regexes(segment->profile, &err);
	if (!ok)
		mt_report_invalid_definition("segment", segment->name, err.path, err.message);
}

/* The text value of a column of a trigger tuple. */
static char *
tuple_text(HeapTuple tuple, TupleDesc desc, const char *column)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, SPI_fnumber(desc, column), desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(value);
}

/*
 * BEFORE INSERT OR UPDATE row trigger on microtrigger.segments: validates and compiles the
 * definition, and stamps updated_at.
 */
Datum
mt_validate_segment_row_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	HeapTuple	tuple = mt_definition_row(fcinfo, "mt_validate_segment_row_sql", &desc);
	bool		isnull;
	char	   *name;
	Jsonb	   *definition;
	MemoryContext compile_context;
	MemoryContext old;
	MtError		err = {0};
	MtSegment  *segment;
	name = tuple_text(tuple, desc, "name");
	if (name == NULL || name[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a segment name must not be empty")));
	definition = DatumGetJsonbP(heap_getattr(tuple, SPI_fnumber(desc, "definition"), desc, &isnull));

	compile_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger segment validation",
											ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(compile_context);
	segment = mt_segment_compile_jsonb(name, definition, &err);
	if (segment == NULL)
		mt_report_invalid_definition("segment", name, err.path, err.message);
	check_segment_regexes(segment);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(compile_context);

	return PointerGetDatum(mt_stamp_updated_at(tuple, desc));
}

/* The segment's clock, or DT_NOBEGIN when it has none (SPI connected). */
static TimestampTz
segment_clock(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT as_of FROM microtrigger.segment_clock WHERE segment = $1",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not read microtrigger.segment_clock")));
	if (SPI_processed == 0)
		return DT_NOBEGIN;
	return DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * AFTER INSERT OR UPDATE row trigger on microtrigger.segments: a new segment is computed from the
 * event history at the transaction's time; a changed definition is recomputed at the segment's
 * clock, so its timeline goes on. This is a baseline: no segment_enter / segment_exit events.
 */
Datum
mt_backfill_segment_row_sql(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	char	   *name;
	TimestampTz as_of;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("microtrigger.backfill_segment_row() must be an AFTER ROW trigger")));
	desc = RelationGetDescr(trigdata->tg_relation);
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		bool		old_null,
					new_null;
		Datum		old_def = heap_getattr(trigdata->tg_trigtuple, SPI_fnumber(desc, "definition"), desc, &old_null);
		Datum		new_def = heap_getattr(tuple, SPI_fnumber(desc, "definition"), desc, &new_null);

		if (compareJsonbContainers(&DatumGetJsonbP(old_def)->root, &DatumGetJsonbP(new_def)->root) == 0)
			return PointerGetDatum(NULL);
	}
	name = tuple_text(tuple, desc, "name");
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	as_of = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? segment_clock(name) : DT_NOBEGIN;
	if (as_of == DT_NOBEGIN)
		as_of = GetCurrentTransactionStartTimestamp();
	mt_segment_refresh(name, as_of, false);
	SPI_finish();
	return PointerGetDatum(NULL);
}
