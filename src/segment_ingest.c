/*
 * segment_ingest.c: the two triggers that keep segments current as data lands.
 *
 * - An AFTER INSERT statement trigger on microtrigger.events reads the transition table (its own
 *   read pointer), asks the segment cache which segments each event's type can change, keeps
 *   those whose clauses count the event, and re-evaluates each affected (segment, user) once per
 *   statement at max(segment clock, the user's latest such event).
 * - An AFTER row trigger on microtrigger.contacts re-evaluates the user for segments with a
 *   profile, at the segment's clock.
 *
 * Neither ever fails the statement because of a segment (segment_maintain.c catches).
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "segment_cache.h"
#include "segment_maintain.h"

PG_FUNCTION_INFO_V1(mt_segments_ingest_events);
PG_FUNCTION_INFO_V1(mt_segments_contact_changed);

/* An affected user, keyed by the user id's pointer (hashed by content). */
typedef struct AffectedUser
{
	char	   *user_id;		/* key */
	MtUserWork *work;
} AffectedUser;

/* Hash of a key that is a pointer to a C string. */
static uint32
user_key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

/* Equality of two keys that are pointers to C strings (0 when equal). */
static int
user_key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* A hash table of affected users in the current memory context. */
static HTAB *
affected_users_create(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(AffectedUser);
	ctl.hash = user_key_hash;
	ctl.match = user_key_match;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("microtrigger segment users", 256, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/* The work entry of a user, made (in context) on first sight. */
static MtUserWork *
affected_user(HTAB *users, const char *user_id, MemoryContext context)
{
	bool		found;
	AffectedUser *entry = hash_search(users, &user_id, HASH_ENTER, &found);

	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(context);

		entry->work = mt_user_work_new(user_id, mt_segment_cache_count());
		entry->user_id = entry->work->user_id;	/* the key must outlive the caller's string */
		MemoryContextSwitchTo(old);
	}
	return entry->work;
}

/* qsort comparator: users by id, for a deterministic order of writes and events. */
static int
compare_work(const void *a, const void *b)
{
	return strcmp((*(MtUserWork *const *) a)->user_id, (*(MtUserWork *const *) b)->user_id);
}

/* The table's users as a sorted array. */
static MtUserWork **
sorted_users(HTAB *users, int *n)
{
	HASH_SEQ_STATUS status;
	AffectedUser *entry;
	MtUserWork **array = palloc(sizeof(MtUserWork *) * Max(hash_get_num_entries(users), 1));

	*n = 0;
	hash_seq_init(&status, users);
	while ((entry = hash_seq_search(&status)) != NULL)
		array[(*n)++] = entry->work;
	qsort(array, *n, sizeof(MtUserWork *), compare_work);
	return array;
}

/* Column numbers of events, looked up by name once per statement. */
typedef struct EventColumns
{
	int			user_id,
				event_type,
				occurred_at,
				session_id,
				params;
} EventColumns;

/* Files one transition-table row under every segment one of whose clauses counts it. */
static void
consider_event(TupleTableSlot *slot, const EventColumns *cols, HTAB *users, MemoryContext context)
{
	bool		isnull;
	text	   *type = DatumGetTextPP(slot_getattr(slot, cols->event_type, &isnull));
	const int  *candidates;
	int			n_candidates;
	text	   *user_id;
	text	   *session_id = NULL;
	Datum		session;
	TimestampTz occurred_at;
	MtDocument	doc;
	MtUserWork *work = NULL;
	char	   *user_cstring;

	mt_segment_cache_for_type(VARDATA_ANY(type), VARSIZE_ANY_EXHDR(type), &candidates, &n_candidates);
	if (n_candidates == 0)
		return;
	user_id = DatumGetTextPP(slot_getattr(slot, cols->user_id, &isnull));
	occurred_at = DatumGetTimestampTz(slot_getattr(slot, cols->occurred_at, &isnull));
	if (TIMESTAMP_NOT_FINITE(occurred_at))
		return;					/* an event at ±infinity is on no timeline: it counts in no segment */
	session = slot_getattr(slot, cols->session_id, &isnull);
	if (!isnull)
		session_id = DatumGetTextPP(session);
	mt_document_init_event(&doc, DatumGetJsonbP(slot_getattr(slot, cols->params, &isnull)),
						   VARDATA_ANY(user_id), VARSIZE_ANY_EXHDR(user_id),
						   VARDATA_ANY(type), VARSIZE_ANY_EXHDR(type),
						   session_id ? VARDATA_ANY(session_id) : NULL,
						   session_id ? VARSIZE_ANY_EXHDR(session_id) : 0, occurred_at);
	for (int i = 0; i < n_candidates; i++)
	{
		MtSegmentEntry *entry = mt_segment_cache_entry(candidates[i]);
		TimestampTz at = Max(entry->clock, occurred_at);

		if (!mt_segment_counts_event(entry->segment, &doc))
			continue;
		if (work == NULL)
		{
			user_cstring = text_to_cstring(user_id);
			work = affected_user(users, user_cstring, context);
		}
		work->at[entry->index] = Max(work->at[entry->index], at);
	}
}

/*
 * AFTER INSERT ... REFERENCING NEW TABLE ... FOR EACH STATEMENT on microtrigger.events: keeps
 * every segment the new events can change current for the users who did them.
 */
Datum
mt_segments_ingest_events(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Tuplestorestate *rows;
	TupleDesc	desc;
	TupleTableSlot *slot;
	EventColumns cols;
	MemoryContext statement_context;
	MemoryContext row_context;
	MemoryContext old;
	HTAB	   *users;
	MtUserWork **work;
	int			n_users;
	int			read_pointer;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) || trigdata->tg_newtable == NULL)
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("mt_segments_ingest_events must be an AFTER INSERT statement trigger with a NEW TABLE")));
	if (mt_segment_recording_events)
		return PointerGetDatum(NULL);	/* our own segment_enter / segment_exit rows */

	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	mt_segment_cache_ensure();
	if (mt_segment_cache_count() == 0)
	{
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	mt_segment_cache_read_clocks();

	desc = RelationGetDescr(trigdata->tg_relation);
	cols.user_id = SPI_fnumber(desc, "user_id");
	cols.event_type = SPI_fnumber(desc, "event_type");
	cols.occurred_at = SPI_fnumber(desc, "occurred_at");
	cols.session_id = SPI_fnumber(desc, "session_id");
	cols.params = SPI_fnumber(desc, "params");

	statement_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger segment ingest",
											  ALLOCSET_DEFAULT_SIZES);
	row_context = AllocSetContextCreate(statement_context, "microtrigger segment ingest row",
										ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(statement_context);
	users = affected_users_create();

	rows = trigdata->tg_newtable;
	read_pointer = tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(rows, read_pointer);
	tuplestore_rescan(rows);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(row_context);
		MemoryContextSwitchTo(row_context);
		consider_event(slot, &cols, users, statement_context);
		MemoryContextSwitchTo(statement_context);
	}
	ExecDropSingleTupleTableSlot(slot);

	work = sorted_users(users, &n_users);
	mt_segment_maintain_users(work, n_users, "ingest", 0);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(statement_context);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* Adds the user (a text datum) with every segment that has a profile, at its clock. */
static MtUserWork *
profile_work(Datum user_id)
{
	char	   *id = TextDatumGetCString(user_id);
	MtUserWork *work = NULL;

	for (int k = 0; k < mt_segment_cache_count(); k++)
	{
		MtSegmentEntry *entry = mt_segment_cache_entry(k);

		if (entry->segment->profile == NULL)
			continue;
		if (work == NULL)
			work = mt_user_work_new(id, mt_segment_cache_count());
		/* a segment has a clock from its creation; the transaction's time is only a fallback */
		work->at[k] = entry->clock != DT_NOBEGIN ? entry->clock : GetCurrentTransactionStartTimestamp();
	}
	return work;
}

/*
 * AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW on microtrigger.contacts: the profile of
 * the user (both users when user_id changed) may have changed.
 */
Datum
mt_segments_contact_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			attnum;
	MtUserWork *work[2];
	int			n = 0;
	bool		isnull;
	MemoryContext context;
	MemoryContext old;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("mt_segments_contact_changed must be an AFTER ROW trigger")));
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	mt_segment_cache_ensure();
	if (mt_segment_cache_count() == 0)
	{
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	mt_segment_cache_read_clocks();
	context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger segment contact",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	desc = RelationGetDescr(trigdata->tg_relation);
	attnum = SPI_fnumber(desc, "user_id");
	{
		Datum		first = heap_getattr(trigdata->tg_trigtuple, attnum, desc, &isnull);

		if ((work[n] = profile_work(first)) != NULL)
			n++;
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		{
			Datum		second = heap_getattr(trigdata->tg_newtuple, attnum, desc, &isnull);

			if (n > 0 && strcmp(TextDatumGetCString(first), TextDatumGetCString(second)) != 0 &&
				(work[n] = profile_work(second)) != NULL)
				n++;
		}
	}
	mt_segment_maintain_users(work, n, "contacts", 0);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	SPI_finish();
	return PointerGetDatum(NULL);
}
