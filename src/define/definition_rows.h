/*
 * definition_rows.h: what the validation triggers of the definition tables (triggers,
 * sequences, segments) share — the BEFORE ROW protocol, the "invalid <kind>" error, the
 * updated_at stamp, and looking up a named row.
 */
#ifndef MT_DEFINITION_ROWS_H
#define MT_DEFINITION_ROWS_H

#include "postgres.h"

#include "access/htup.h"
#include "fmgr.h"

/* The row being written by a BEFORE INSERT OR UPDATE ROW trigger (raises otherwise). */
extern HeapTuple mt_definition_row(FunctionCallInfo fcinfo, const char *function, TupleDesc *desc);

/* Raises SQLSTATE 22023: invalid <kind> "<name>" at <path>: <message>. */
extern void mt_report_invalid_definition(const char *kind, const char *name, const char *path,
										 const char *message) pg_attribute_noreturn();

/* The row with updated_at set to the transaction's start. */
extern HeapTuple mt_stamp_updated_at(HeapTuple tuple, TupleDesc desc);

/* Does a row named `name` exist in microtrigger.<table> (SPI connected)? */
extern bool mt_named_row_exists(const char *table, const char *name);

/*
 * Raises the "invalid <kind>" error at path unless the template exists and belongs to a role that
 * `owner` is a member of (SPI connected).
 */
extern void mt_check_template_usable(const char *kind, const char *name, const char *path,
									 const char *template_name, Oid owner);

#endif
