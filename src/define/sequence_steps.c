/*
 * sequence_steps.c: sequence_steps(sequence), the send_email steps of a compiled sequence with
 * their names, so that the program counters stored in outbox.step, journeys.step and
 * conversions.step can be named (the funnel view does; docs/reference.md "Sequences").
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "definition_rows.h"
#include "sequence_cache.h"

PG_FUNCTION_INFO_V1(mt_sequence_steps_sql);

/*
 * sequence_steps(sequence text) -> (step integer, name text, ordinal integer): one row per
 * send_email step in document order. 42704 when no sequence has that name; no rows for a stored
 * sequence that no longer compiles (the cache skips it with a WARNING).
 */
Datum
mt_sequence_steps_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const MtSequence *sequence;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("sequence_steps: SPI_connect failed")));
	mt_sequence_cache_ensure();
	sequence = mt_sequence_cache_lookup(name, NULL);
	if (sequence == NULL && !mt_named_row_exists("sequences", name))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("sequence_steps: sequence \"%s\" does not exist", name)));
	for (int i = 0; sequence != NULL && i < sequence->n_steps; i++)
	{
		const MtStep *step = &sequence->steps[i];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (step->kind != MT_STEP_SEND)
			continue;
		values[0] = Int32GetDatum(i);
		values[1] = CStringGetTextDatum(step->name);
		values[2] = Int32GetDatum(step->ordinal);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
