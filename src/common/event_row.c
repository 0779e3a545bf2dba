/*
 * event_row.c: decoding a row of microtrigger.events (event_row.h).
 */
#include "postgres.h"

#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "event_row.h"

/* The 1-based number of a column by name, 0 when the descriptor has none. */
static int
column_number(TupleDesc desc, const char *name)
{
	int			attnum = SPI_fnumber(desc, name);

	return attnum > 0 ? attnum : 0;
}

/* Finds the events columns of a descriptor by name. */
void
mt_event_columns_init(MtEventColumns *cols, TupleDesc desc)
{
	cols->id = column_number(desc, "id");
	cols->user_id = column_number(desc, "user_id");
	cols->event_type = column_number(desc, "event_type");
	cols->occurred_at = column_number(desc, "occurred_at");
	cols->session_id = column_number(desc, "session_id");
	cols->params = column_number(desc, "params");
}

/* An empty params object, made once per backend. */
static Jsonb *
empty_params(void)
{
	static Jsonb *empty = NULL;

	if (empty == NULL)
	{
		JsonbParseState *state = NULL;
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		empty = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
		MemoryContextSwitchTo(old);
	}
	return empty;
}

/* Fills the row from the column values one getter gives (a tuple's or a slot's). */
#define DECODE_EVENT(row, cols, GET) \
	do { \
		bool		isnull_; \
		Datum		d_; \
		(row)->id = 0; \
		(row)->user_id = (row)->event_type = (row)->session_id = NULL; \
		(row)->occurred_at = DT_NOBEGIN; \
		(row)->params = NULL; \
		if ((cols)->id > 0 && !((d_ = GET((cols)->id, &isnull_)), isnull_)) \
			(row)->id = DatumGetInt64(d_); \
		if ((cols)->user_id > 0 && !((d_ = GET((cols)->user_id, &isnull_)), isnull_)) \
			(row)->user_id = DatumGetTextPP(d_); \
		if ((cols)->event_type > 0 && !((d_ = GET((cols)->event_type, &isnull_)), isnull_)) \
			(row)->event_type = DatumGetTextPP(d_); \
		if ((cols)->session_id > 0 && !((d_ = GET((cols)->session_id, &isnull_)), isnull_)) \
			(row)->session_id = DatumGetTextPP(d_); \
		if ((cols)->occurred_at > 0 && !((d_ = GET((cols)->occurred_at, &isnull_)), isnull_)) \
			(row)->occurred_at = DatumGetTimestampTz(d_); \
		if ((cols)->params > 0 && !((d_ = GET((cols)->params, &isnull_)), isnull_)) \
			(row)->params = DatumGetJsonbP(d_); \
		if ((row)->params == NULL) \
			(row)->params = empty_params(); \
	} while (0)

/* Decodes a heap tuple of the descriptor. */
void
mt_event_row_from_tuple(MtEventRow *row, HeapTuple tuple, TupleDesc desc, const MtEventColumns *cols)
{
#define TUPLE_GET(attnum, isnull) heap_getattr(tuple, (attnum), desc, (isnull))
	DECODE_EVENT(row, cols, TUPLE_GET);
#undef TUPLE_GET
}

/* Decodes a slot (a transition-table row). */
void
mt_event_row_from_slot(MtEventRow *row, TupleTableSlot *slot, const MtEventColumns *cols)
{
#define SLOT_GET(attnum, isnull) slot_getattr(slot, (attnum), (isnull))
	DECODE_EVENT(row, cols, SLOT_GET);
#undef SLOT_GET
}

/* A text's bytes and length, or (NULL, 0). */
#define TEXT_PTR(t) ((t) ? VARDATA_ANY(t) : NULL)
#define TEXT_LEN(t) ((t) ? (int) VARSIZE_ANY_EXHDR(t) : 0)

/* The event document of the row. */
void
mt_event_row_document(MtDocument *doc, const MtEventRow *row)
{
	mt_document_init_event(doc, row->params,
						   TEXT_PTR(row->user_id), TEXT_LEN(row->user_id),
						   TEXT_PTR(row->event_type), TEXT_LEN(row->event_type),
						   TEXT_PTR(row->session_id), TEXT_LEN(row->session_id),
						   row->occurred_at);
}
