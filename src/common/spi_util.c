/*
 * spi_util.c: the SPI helpers every module shares, with one error shape (spi_util.h).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "spi_util.h"

/* The one SPI error: what could not be done, and the SPI result code's name. */
void
mt_spi_failed(const char *what, int code)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("microtrigger could not %s: %s", what, SPI_result_code_string(code))));
}

/* Prepares a plan once for the backend and keeps it (generic plans after a few calls). */
SPIPlanPtr
mt_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
	return mt_kept_plan_opts(slot, sql, nargs, argtypes, 0);
}

/*
 * Prepares a plan once and keeps it, with cursor options: CURSOR_OPT_CUSTOM_PLAN replans at every
 * call, for queries over tables that grow inside one statement (a COPY's events and firings),
 * where a generic plan made when the table looked empty would seq-scan it for every match.
 */
SPIPlanPtr
mt_kept_plan_opts(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes, int cursor_options)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes, cursor_options);

		if (plan == NULL)
			mt_spi_failed("prepare a statement", SPI_result);
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

/* Runs a kept plan and checks the result code. */
void
mt_execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, long limit, int expected)
{
	mt_spi_check(SPI_execute_plan(plan, values, nulls, read_only, limit), expected, "run a statement");
}

/* A text column of the current SPI row, or NULL. */
char *
mt_spi_text(int row, int column)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column);
}

/* A binary column of the current SPI row. */
Datum
mt_spi_datum(int row, int column, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, isnull);
}

/* A 1-D array datum of n elements of type, with nulls (NULL: none). */
Datum
mt_array_param(Datum *elems, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		byval;
	char		align;

	get_typlenbyvalalign(type, &typlen, &byval, &align);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type, typlen, byval, align));
}

/* An int8[] or timestamptz[] parameter of 8-byte values. */
Datum
mt_int8_array_param(const int64 *items, int n, Oid type)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(items[i]);
	return PointerGetDatum(construct_array(elems, n, type, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* A text[] parameter of C strings. */
Datum
mt_text_array_param(char **items, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
