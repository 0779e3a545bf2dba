/*
 * event_row.h: the one decoder of a row of microtrigger.events. Ingest's transition rows, the
 * history and window queries, segment maintenance and event_matches() all read an event through
 * it, into the same struct, and build the event document (condition_eval.h) from that.
 */
#ifndef MT_EVENT_ROW_H
#define MT_EVENT_ROW_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/tuptable.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "condition_eval.h"

/* One event; texts point into the tuple (or a detoasted copy), NULL when absent or SQL NULL. */
typedef struct MtEventRow
{
	int64		id;				/* 0 when the row has no id column */
	text	   *user_id;
	text	   *event_type;
	text	   *session_id;
	TimestampTz occurred_at;
	Jsonb	   *params;			/* never NULL after decoding: '{}' stands in */
} MtEventRow;

/* Where an events row's columns are in a tuple descriptor (1-based; 0: not there). */
typedef struct MtEventColumns
{
	int			id;
	int			user_id;
	int			event_type;
	int			occurred_at;
	int			session_id;
	int			params;
} MtEventColumns;

/* Finds the columns by their names (id, user_id, event_type, occurred_at, session_id, params). */
extern void mt_event_columns_init(MtEventColumns *cols, TupleDesc desc);

/* Decodes a heap tuple (an SPI row, a composite datum) or a slot (a transition-table row). */
extern void mt_event_row_from_tuple(MtEventRow *row, HeapTuple tuple, TupleDesc desc,
									const MtEventColumns *cols);
extern void mt_event_row_from_slot(MtEventRow *row, TupleTableSlot *slot, const MtEventColumns *cols);

/* The event's type as a C string of its length (not NUL-terminated); false when missing. */
static inline bool
mt_event_row_type(const MtEventRow *row, const char **type, int *len)
{
	if (row->event_type == NULL)
		return false;
	*type = VARDATA_ANY(row->event_type);
	*len = VARSIZE_ANY_EXHDR(row->event_type);
	return true;
}

/* The event document of the row: params' keys plus the event fields, which win. */
extern void mt_event_row_document(MtDocument *doc, const MtEventRow *row);

#endif
