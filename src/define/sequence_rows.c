/*
 * sequence_rows.c: a row of microtrigger.sequences is validated and compiled when written
 * (SQLSTATE 22023 naming the sequence, the JSON path and the reason), and what it names checked.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "condition_eval.h"
#include "definition_rows.h"
#include "jsonc_bridge.h"
#include "sequence_def.h"

PG_FUNCTION_INFO_V1(mt_validate_sequence_row_sql);

/* Checks what a compiled sequence names: templates (readable by its owner), segments, regexes. */
static void
check_sequence_references(const MtSequence *sequence, Oid owner)
{
	MtError		err = {0};

	if (sequence->has_exit && sequence->exit.condition &&
		!mt_condition_check_regexes(sequence->exit.condition, &err))
		mt_report_invalid_definition("sequence", sequence->name, err.path, err.message);
	for (int i = 0; i < sequence->n_steps; i++)
	{
		const MtStep *step = &sequence->steps[i];

		if (step->kind == MT_STEP_SEND)
		{
			if (step->send.template_name)
				mt_check_template_usable("sequence", sequence->name, psprintf("%s.send_email.template", step->path),
										 step->send.template_name, owner);
			for (int v = 0; v < step->send.n_variants; v++)
			{
				mt_check_template_usable("sequence", sequence->name,
										 psprintf("%s.send_email.variants[%d].template", step->path, v),
										 step->send.variants[v].template_name, owner);
				if (!mt_condition_check_regexes(step->send.variants[v].when, &err))
					mt_report_invalid_definition("sequence", sequence->name, err.path, err.message);
			}
		}
		for (int a = 0; a < step->n_arms; a++)
		{
			const MtBranchArm *arm = &step->arms[a];

			if (arm->kind == MT_TEST_IN_SEGMENT && !mt_named_row_exists("segments", arm->segment))
				mt_report_invalid_definition("sequence", sequence->name, psprintf("%s[%d].if.in_segment", step->path, a),
										psprintf("unknown segment \"%s\"", arm->segment));
			if (arm->condition && !mt_condition_check_regexes(arm->condition, &err))
				mt_report_invalid_definition("sequence", sequence->name, err.path, err.message);
			if (arm->kind == MT_TEST_HISTORY && arm->history.condition &&
				!mt_condition_check_regexes(arm->history.condition, &err))
				mt_report_invalid_definition("sequence", sequence->name, err.path, err.message);
		}
	}
}

/* BEFORE INSERT OR UPDATE row trigger on microtrigger.sequences: validate and stamp updated_at. */
Datum
mt_validate_sequence_row_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	HeapTuple	tuple = mt_definition_row(fcinfo, "mt_validate_sequence_row_sql", &desc);
	bool		isnull;
	char	   *name;
	MemoryContext compile_context;
	MemoryContext old;
	MtError		err = {0};
	MtSequence *sequence;
	name = TextDatumGetCString(heap_getattr(tuple, SPI_fnumber(desc, "name"), desc, &isnull));
	compile_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger sequence validation",
											ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(compile_context);
	sequence = mt_sequence_compile_jsonb(name,
										 DatumGetJsonbP(heap_getattr(tuple, SPI_fnumber(desc, "definition"), desc, &isnull)),
										 &err);
	if (sequence == NULL)
		mt_report_invalid_definition("sequence", name, err.path, err.message);
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	check_sequence_references(sequence,
							  DatumGetObjectId(heap_getattr(tuple, SPI_fnumber(desc, "owner"), desc, &isnull)));
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(compile_context);

	return PointerGetDatum(mt_stamp_updated_at(tuple, desc));
}
