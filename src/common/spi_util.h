/*
 * spi_util.h: the SPI helpers every module shares — plans prepared once per backend, running a
 * plan, reading a result column — and their one error shape: "microtrigger could not <what>:
 * <SPI result>" with SQLSTATE XX000 (an SPI failure is a bug or a broken installation, never the
 * author's input; author errors are reported where the input is known).
 */
#ifndef MT_SPI_UTIL_H
#define MT_SPI_UTIL_H

#include "postgres.h"

#include "executor/spi.h"

/* Raises the one SPI error: what we could not do, and the SPI result code (or SPI_result). */
extern void mt_spi_failed(const char *what, int code) pg_attribute_noreturn();

/* Raises the SPI error unless ret is the expected result code. */
static inline void
mt_spi_check(int ret, int expected, const char *what)
{
	if (ret != expected)
		mt_spi_failed(what, ret);
}

extern SPIPlanPtr mt_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes);
extern SPIPlanPtr mt_kept_plan_opts(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes,
									int cursor_options);
extern void mt_execute_plan(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only,
							long limit, int expected);
/* A 1-D array datum of n elements of type (nulls: NULL for none), as a statement's parameter. */
extern Datum mt_array_param(Datum *elems, bool *nulls, int n, Oid type);

/* An int8[] or timestamptz[] parameter of 8-byte values; a text[] parameter of C strings. */
extern Datum mt_int8_array_param(const int64 *items, int n, Oid type);
extern Datum mt_text_array_param(char **items, int n);

extern char *mt_spi_text(int row, int column);
extern Datum mt_spi_datum(int row, int column, bool *isnull);

#endif
