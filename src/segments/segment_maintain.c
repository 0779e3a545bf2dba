/*
 * segment_maintain.c: incremental membership for some users (see segment_maintain.h). Per user:
 * one query for the stored state of the affected segments, one for the user's events those
 * segments can count (from the earliest time a window reaches back to), one for the contact when
 * a profile matters; the timeline does the rest in memory. Writes happen only for what changed:
 * per-user upserts and deletes, never a table-wide lock.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "condition_eval.h"
#include "event_row.h"
#include "subxact.h"
#include "segment_cache.h"
#include "segment_maintain.h"
#include "segment_state.h"
#include "spi_util.h"
#include "segment_timeline.h"

bool		mt_segment_recording_events = false;

/* A change of one user's membership of one segment, to record as an event. */
typedef struct SegmentEvent
{
	char	   *user_id;
	const char *segment;
	TimestampTz at;
	bool		entered;
} SegmentEvent;

/* The changes collected while maintaining, recorded in one INSERT. */
typedef struct ChangeList
{
	SegmentEvent *items;
	int			n;
	int			capacity;
} ChangeList;

/* What is stored for one (segment, user). */
typedef struct StoredState
{
	bool		member;
	bool		scheduled;
	TimestampTz changes_at;
} StoredState;

/* Prepared plans, kept for the backend's life. */
static SPIPlanPtr stored_plan;
static SPIPlanPtr events_typed_plan;
static SPIPlanPtr events_any_plan;
static SPIPlanPtr contact_plan;
static SPIPlanPtr enter_plan;
static SPIPlanPtr exit_plan;
static SPIPlanPtr schedule_plan;
static SPIPlanPtr unschedule_plan;
static SPIPlanPtr record_plan;
static SPIPlanPtr error_plan;
static SPIPlanPtr postpone_plan;
static SPIPlanPtr state_read_plan;
static SPIPlanPtr state_write_plan;

/* Runs a plan and checks its result code. */
static void
run_plan(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	mt_spi_check(SPI_execute_plan(plan, values, nulls, false, 0), expected, "run a segment maintenance statement");
}

/* A new unit of work for a user: no segment yet. */
MtUserWork *
mt_user_work_new(const char *user_id, int n_segments)
{
	MtUserWork *work = palloc(sizeof(MtUserWork));

	work->user_id = pstrdup(user_id);
	work->at = palloc(sizeof(TimestampTz) * Max(n_segments, 1));
	for (int i = 0; i < n_segments; i++)
		work->at[i] = DT_NOBEGIN;
	work->fresh = NULL;
	work->n_fresh = 0;
	work->fresh_capacity = 0;
	work->contact_changed = false;
	return work;
}

/* Files a new event's time under a clause slot (see segment_maintain.h). */
void
mt_user_work_add_fresh(MtUserWork *work, int segment, int slot, TimestampTz at)
{
	if (work->n_fresh == work->fresh_capacity)
	{
		MemoryContext context = GetMemoryChunkContext(work->at);
		MemoryContext old = MemoryContextSwitchTo(context);

		work->fresh_capacity = work->fresh_capacity ? work->fresh_capacity * 2 : 4;
		work->fresh = work->fresh ? repalloc(work->fresh, sizeof(MtFreshTime) * work->fresh_capacity)
			: palloc(sizeof(MtFreshTime) * work->fresh_capacity);
		MemoryContextSwitchTo(old);
	}
	work->fresh[work->n_fresh].segment = segment;
	work->fresh[work->n_fresh].slot = slot;
	work->fresh[work->n_fresh].at = at;
	work->n_fresh++;
}

/*
 * Reads the stored membership and schedule of the (segment, user) pairs of the pass that have
 * no kept part (read_pair[u][k]) in one query; states[u][k] is user u's state for cache segment
 * k (only those pairs are filled).
 */
static StoredState **
load_stored_states(MtUserWork **users, int n_users, bool **read_pair)
{
	int			n_segments = mt_segment_cache_count();
	StoredState **states = palloc(sizeof(StoredState *) * Max(n_users, 1));
	Datum	   *segment_names = palloc(sizeof(Datum) * Max(n_users * n_segments, 1));
	Datum	   *user_ids = palloc(sizeof(Datum) * Max(n_users * n_segments, 1));
	int		   *pair_user = palloc(sizeof(int) * Max(n_users * n_segments, 1));
	int		   *pair_segment = palloc(sizeof(int) * Max(n_users * n_segments, 1));
	int			n_pairs = 0;
	Oid			argtypes[2] = {TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[2];

	for (int u = 0; u < n_users; u++)
	{
		Datum		user_id = CStringGetTextDatum(users[u]->user_id);

		states[u] = palloc0(sizeof(StoredState) * Max(n_segments, 1));
		for (int k = 0; k < n_segments; k++)
			if (read_pair[u][k])
			{
				segment_names[n_pairs] = CStringGetTextDatum(mt_segment_cache_entry(k)->segment->name);
				user_ids[n_pairs] = user_id;
				pair_user[n_pairs] = u;
				pair_segment[n_pairs++] = k;
			}
	}
	if (n_pairs == 0)
		return states;
	values[0] = PointerGetDatum(construct_array(segment_names, n_pairs, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(user_ids, n_pairs, TEXTOID, -1, false, TYPALIGN_INT));
	run_plan(mt_kept_plan(&stored_plan,
					   "SELECT p.ord::int, m.user_id IS NOT NULL, sc.changes_at "
					   "FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) WITH ORDINALITY AS p(segment, user_id, ord) "
					   "LEFT JOIN microtrigger.segment_members m ON m.segment = p.segment AND m.user_id = p.user_id "
					   "LEFT JOIN microtrigger.segment_schedule sc ON sc.segment = p.segment AND sc.user_id = p.user_id",
					   2, argtypes), values, NULL, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		unscheduled;
		int			ord = DatumGetInt32(SPI_getbinval(tuple, desc, 1, &isnull)) - 1;
		Datum		changes_at = SPI_getbinval(tuple, desc, 3, &unscheduled);
		StoredState *state = &states[pair_user[ord]][pair_segment[ord]];

		state->member = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
		state->scheduled = !unscheduled;
		if (!unscheduled)
			state->changes_at = DatumGetTimestampTz(changes_at);
	}
	SPI_freetuptable(SPI_tuptable);
	return states;
}

/* Does the contact match the segment's profile? Reads the contact once per user (cached in *doc). */
static bool
profile_matches(const MtSegment *segment, const char *user_id, Jsonb **contact, bool *loaded)
{
	if (segment->profile == NULL)
		return true;
	if (!*loaded)
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(user_id)};

		run_plan(mt_kept_plan(&contact_plan,
						   "SELECT c.attributes || pg_catalog.jsonb_build_object('user_id', c.user_id, 'email', c.email, "
						   "'timezone', c.timezone) FROM microtrigger.contacts c WHERE c.user_id = $1",
						   1, argtypes), values, NULL, SPI_OK_SELECT);
		*contact = NULL;
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				*contact = DatumGetJsonbPCopy(d);
		}
		SPI_freetuptable(SPI_tuptable);
		*loaded = true;
	}
	if (*contact == NULL)
		return false;
	{
		MtDocument	doc;

		mt_document_init_jsonb(&doc, *contact);
		return mt_condition_eval(segment->profile, &doc);
	}
}

/* A user's rows in a chunk's read of events (prefetch_events). */
typedef struct UserRows
{
	uint64		first;			/* NO_ROW: none */
	const uint64 *next;			/* the next row of the same user, by row */
} UserRows;

#define NO_ROW PG_UINT64_MAX

/* Adds the event types of a segment to a distinct list (sets *any_type instead when it takes all). */
static void
add_types(const MtSegment *segment, char **types, int *n_types, bool *any_type)
{
	*any_type |= segment->any_type;
	for (int t = 0; t < segment->n_event_types && !*any_type; t++)
	{
		bool		seen = false;

		for (int k = 0; k < *n_types && !seen; k++)
			seen = strcmp(types[k], segment->event_types[t]) == 0;
		if (!seen)
			types[(*n_types)++] = segment->event_types[t];
	}
}

/*
 * Files the user's rows of a chunk's read (from `since` on) under every clause of the affected
 * segments that counts them.
 */
static void
file_clause_times(const char *user_id, int *affected, int n_affected, TimestampTz since,
				  MtSegmentTimes **times, SPITupleTable *table, const UserRows *rows)
{
	MtEventColumns cols;

	mt_event_columns_init(&cols, table->tupdesc);
	for (uint64 row = rows->first; row != NO_ROW; row = rows->next[row])
	{
		MtEventRow	event;
		TimestampTz occurred;
		MtDocument	doc;

		mt_event_row_from_tuple(&event, table->vals[row], table->tupdesc, &cols);
		occurred = event.occurred_at;
		if (!mt_time_is_finite(occurred))
			continue;			/* an event at ±infinity is on no timeline: it counts in no window */
		if (occurred < since)
			continue;			/* read for another user of the chunk */
		mt_event_row_document(&doc, &event);
		for (int a = 0; a < n_affected; a++)
		{
			const MtSegment *segment = mt_segment_cache_entry(affected[a])->segment;

			for (int c = 0; c < segment->n_include; c++)
				if (mt_segment_clause_counts(&segment->include[c], &doc))
					mt_clause_times_add(&times[a]->include[c], occurred);
			for (int c = 0; c < segment->n_exclude; c++)
				if (mt_segment_clause_counts(&segment->exclude[c], &doc))
					mt_clause_times_add(&times[a]->exclude[c], occurred);
		}
	}
}

/* Rows to write at the end of a pass: (segment, user[, time]) per kind of write. */
typedef struct WriteList
{
	Datum	   *segments;
	Datum	   *users;
	Datum	   *times;
	int			n;
	int			capacity;
} WriteList;

/* The writes of a pass, done in four statements at its end. */
typedef struct PassWrites
{
	WriteList	enter;			/* upsert segment_members (entered_at) */
	WriteList	exit;			/* delete from segment_members */
	WriteList	schedule;		/* upsert segment_schedule (changes_at) */
	WriteList	unschedule;		/* delete from segment_schedule */
} PassWrites;

/* Appends one row to a write list (in the list's memory context). */
static void
add_write(WriteList *list, MemoryContext context, const char *segment, const char *user_id, TimestampTz at)
{
	MemoryContext old = MemoryContextSwitchTo(context);

	if (list->n == list->capacity)
	{
		list->capacity = list->capacity ? list->capacity * 2 : 64;
		list->segments = list->segments ? repalloc(list->segments, sizeof(Datum) * list->capacity)
			: palloc(sizeof(Datum) * list->capacity);
		list->users = list->users ? repalloc(list->users, sizeof(Datum) * list->capacity)
			: palloc(sizeof(Datum) * list->capacity);
		list->times = list->times ? repalloc(list->times, sizeof(Datum) * list->capacity)
			: palloc(sizeof(Datum) * list->capacity);
	}
	list->segments[list->n] = CStringGetTextDatum(segment);
	list->users[list->n] = CStringGetTextDatum(user_id);
	list->times[list->n] = TimestampTzGetDatum(at);
	list->n++;
	MemoryContextSwitchTo(old);
}

/*
 * Files the writes one (segment, user) evaluated at `at` needs where the new state differs from
 * the stored one. A stored next check that is still ahead and not later than the new next change
 * is kept: checking early is harmless (run_pending finds no change and stores the exact time),
 * and an active user's every event would otherwise move it — one write per event per segment.
 */
static void
plan_writes(PassWrites *writes, MemoryContext context, const char *segment, const char *user_id,
			const StoredState *stored, const MtSweep *sweep, TimestampTz at, StoredState *result)
{
	bool		keep_check = stored->scheduled && stored->changes_at > at &&
		(!sweep->has_next || stored->changes_at <= sweep->next_change);

	result->member = sweep->member;
	result->scheduled = keep_check ? true : sweep->has_next;
	result->changes_at = keep_check ? stored->changes_at : sweep->next_change;
	if (sweep->member && sweep->n_changes > 0)
		add_write(&writes->enter, context, segment, user_id, sweep->changes[sweep->n_changes - 1].at);
	else if (!sweep->member && stored->member)
		add_write(&writes->exit, context, segment, user_id, 0);
	if (keep_check)
		return;
	if (sweep->has_next && (!stored->scheduled || stored->changes_at != sweep->next_change))
		add_write(&writes->schedule, context, segment, user_id, sweep->next_change);
	else if (!sweep->has_next && stored->scheduled)
		add_write(&writes->unschedule, context, segment, user_id, 0);
}

/* Runs one write statement over a list: $1 segments, $2 users, $3 times. */
static void
run_write(SPIPlanPtr *slot, const char *sql, WriteList *list, int expected)
{
	Oid			argtypes[3] = {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		values[3];

	if (list->n == 0)
		return;
	values[0] = PointerGetDatum(construct_array(list->segments, list->n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(list->users, list->n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(list->times, list->n, TIMESTAMPTZOID, sizeof(TimestampTz),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	run_plan(mt_kept_plan(slot, sql, 3, argtypes), values, NULL, expected);
}

/*
 * Writes a pass's results: per-row upserts and deletes by key (each (segment, user) appears once
 * in a pass), in four statements instead of one per row. A delete finds its rows with one index
 * lookup per key (the LATERAL subquery cannot be flattened into a join the planner could turn
 * around into a scan of the whole table per key) and deletes them by ctid.
 */
static void
flush_writes(PassWrites *writes)
{
	run_write(&enter_plan,
			  "INSERT INTO microtrigger.segment_members (segment, user_id, entered_at) "
			  "SELECT * FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::timestamptz[])) "
			  "ON CONFLICT (segment, user_id) DO UPDATE SET entered_at = EXCLUDED.entered_at",
			  &writes->enter, SPI_OK_INSERT);
	run_write(&exit_plan,
			  "DELETE FROM microtrigger.segment_members m WHERE m.ctid = ANY (ARRAY("
			  "SELECT l.ctid FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) AS x(segment, user_id), "
			  "LATERAL (SELECT i.ctid FROM microtrigger.segment_members i WHERE i.segment = x.segment AND i.user_id = x.user_id OFFSET 0) l)) "
			  "AND $3 IS NOT NULL",
			  &writes->exit, SPI_OK_DELETE);
	run_write(&schedule_plan,
			  "INSERT INTO microtrigger.segment_schedule (segment, user_id, changes_at) "
			  "SELECT * FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::timestamptz[])) "
			  "ON CONFLICT (segment, user_id) DO UPDATE SET changes_at = EXCLUDED.changes_at",
			  &writes->schedule, SPI_OK_INSERT);
	run_write(&unschedule_plan,
			  "DELETE FROM microtrigger.segment_schedule s WHERE s.ctid = ANY (ARRAY("
			  "SELECT l.ctid FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) AS x(segment, user_id), "
			  "LATERAL (SELECT i.ctid FROM microtrigger.segment_schedule i WHERE i.segment = x.segment AND i.user_id = x.user_id OFFSET 0) l)) "
			  "AND $3 IS NOT NULL",
			  &writes->unschedule, SPI_OK_DELETE);
}

/* Appends a change (the list lives in the caller's long-lived context). */
static void
add_change(ChangeList *list, MemoryContext context, const char *user_id, const char *segment,
		   TimestampTz at, bool entered)
{
	MemoryContext old = MemoryContextSwitchTo(context);

	if (list->n == list->capacity)
	{
		list->capacity = list->capacity ? list->capacity * 2 : 64;
		list->items = list->items ? repalloc(list->items, sizeof(SegmentEvent) * list->capacity)
			: palloc(sizeof(SegmentEvent) * list->capacity);
	}
	list->items[list->n].user_id = pstrdup(user_id);
	list->items[list->n].segment = pstrdup(segment);
	list->items[list->n].at = at;
	list->items[list->n].entered = entered;
	list->n++;
	MemoryContextSwitchTo(old);
}

/* A user's kept state (segment_state.h) as read at the start of a pass. */
typedef struct KeptState
{
	int64		version;		/* of the row; 0: no row */
	bytea	   *state;			/* NULL: none */
	bool		ours;			/* the row was written by this transaction */
	bool		row_empty;		/* the row holds no state */
	MtStatePart **parts;		/* decoded, by cache index */
} KeptState;

/*
 * Within one transaction a user's row is written at most twice: a second write of a row this
 * transaction already wrote stores it empty and keeps the state here instead (every further
 * statement of the transaction reads it from here), so a long transaction of small statements
 * does not pile up row versions that no one can prune until it ends. An entry is used only
 * while the row still has the version it was kept at (anything that empties states moves it);
 * all entries are dropped when a subtransaction rolls back, and with the transaction.
 */
typedef struct TxState
{
	char	   *user_id;		/* key */
	int64		version;
	bytea	   *state;
} TxState;

#define TX_STATES_MAX 200000	/* beyond that many users, a transaction reads their events */

static HTAB *tx_states = NULL;
static bool tx_callbacks_registered = false;

/* Forgets the transaction's kept states (end of transaction, or a subtransaction rolled back). */
static void
tx_states_forget(void)
{
	tx_states = NULL;			/* its memory goes with TopTransactionContext */
}

/* Transaction callback: the kept states end with the transaction. */
static void
tx_states_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		tx_states_forget();
}

/* Subtransaction callback: a rollback may undo writes the kept states build on. */
static void
tx_states_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && tx_states != NULL)
	{
		HASH_SEQ_STATUS status;
		TxState    *entry;

		/* the table lives in TopTransactionContext: drop the entries (not the memory) */
		hash_seq_init(&status, tx_states);
		while ((entry = hash_seq_search(&status)) != NULL)
			entry->version = -1;
	}
}

/* Hash of a key that is a pointer to a C string. */
static uint32
tx_key_hash(const void *key, Size keysize)
{
	const char *str = *(const char *const *) key;

	return hash_bytes((const unsigned char *) str, (int) strlen(str));
}

/* Equality of two keys that are pointers to C strings (0 when equal). */
static int
tx_key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The transaction's kept state of a user, or NULL. */
static TxState *
tx_state_find(const char *user_id)
{
	if (tx_states == NULL)
		return NULL;
	return hash_search(tx_states, &user_id, HASH_FIND, NULL);
}

/* Keeps a user's state for the rest of the transaction (at most TX_STATES_MAX users). */
static void
tx_state_keep(const char *user_id, int64 version, bytea *state)
{
	MemoryContext old;
	TxState    *entry;
	bool		found;

	if (!tx_callbacks_registered)
	{
		RegisterXactCallback(tx_states_xact_callback, NULL);
		RegisterSubXactCallback(tx_states_subxact_callback, NULL);
		tx_callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	if (tx_states == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(TxState);
		ctl.hash = tx_key_hash;
		ctl.match = tx_key_match;
		ctl.hcxt = TopTransactionContext;
		tx_states = hash_create("microtrigger segment states", 1024, &ctl,
								HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	entry = hash_search(tx_states, &user_id, HASH_FIND, NULL);
	if (entry == NULL && hash_get_num_entries(tx_states) < TX_STATES_MAX)
	{
		char	   *key = pstrdup(user_id);

		entry = hash_search(tx_states, &key, HASH_ENTER, &found);
		entry->user_id = key;
		entry->state = NULL;
	}
	if (entry != NULL)
	{
		if (entry->state != NULL)
			pfree(entry->state);
		entry->version = version;
		entry->state = (bytea *) pg_detoast_datum_copy((struct varlena *) state);
	}
	MemoryContextSwitchTo(old);
}

/* The kept states a pass writes, in one statement at its end. */
typedef struct StateWrites
{
	Datum	   *users;
	Datum	   *versions;
	Datum	   *states;
	char	   *nulls;			/* 'n': store the row empty */
	int			n;
} StateWrites;

/* Where a sweep of a segment from its stored state to `at` starts: the stored check when it has passed. */
static TimestampTz
sweep_start(const StoredState *stored, TimestampTz at)
{
	return stored->scheduled && stored->changes_at < at ? stored->changes_at : at;
}

/* The stored state a kept part holds. */
static StoredState
part_stored(const MtStatePart *part)
{
	StoredState stored;

	stored.member = part->member;
	stored.scheduled = part->scheduled;
	stored.changes_at = part->changes_at;
	return stored;
}

/*
 * Re-evaluates one user for every segment of its work, files the writes, appends the membership
 * changes and the user's new kept state. A segment with a kept part that answers for the sweep
 * takes its stored state and clause times from it, plus the statement's new events; the others
 * are read (stored state from segment_members/segment_schedule, events from microtrigger.events).
 * Returns the number of segments evaluated.
 */
static int
maintain_user(const MtUserWork *work, const KeptState *kept, const bool *read_pair,
			  const StoredState *stored_by_segment, SPITupleTable *rows_table, const UserRows *rows,
			  PassWrites *writes, ChangeList *changes, StateWrites *state_writes,
			  MemoryContext pass_context)
{
	int			n_segments = mt_segment_cache_count();
	int		   *affected = palloc(sizeof(int) * Max(n_segments, 1));
	int		   *read = palloc(sizeof(int) * Max(n_segments, 1));
	int		   *position = palloc(sizeof(int) * Max(n_segments, 1));
	int			n_affected = 0;
	int			n_read = 0;
	TimestampTz *from;
	TimestampTz *complete;
	StoredState *stored;
	StoredState *result;
	TimestampTz since = DT_NOEND;
	MtSegmentTimes **times;
	MtSegmentTimes **read_times;
	bool	   *profile_known;
	Jsonb	   *contact = NULL;
	bool		contact_loaded = false;
	StringInfoData state;
	MemoryContext old;

	for (int k = 0; k < n_segments; k++)
	{
		position[k] = -1;
		if (work->at[k] != DT_NOBEGIN)
		{
			position[k] = n_affected;
			affected[n_affected++] = k;
		}
	}
	if (n_affected == 0)
		return 0;
	from = palloc(sizeof(TimestampTz) * n_affected);
	complete = palloc(sizeof(TimestampTz) * n_affected);
	stored = palloc(sizeof(StoredState) * n_affected);
	result = palloc(sizeof(StoredState) * n_affected);
	times = palloc(sizeof(MtSegmentTimes *) * n_affected);
	read_times = palloc(sizeof(MtSegmentTimes *) * n_affected);
	profile_known = palloc0(sizeof(bool) * n_affected);

	/* sweep from the stored state's end (when it has passed) and read back as far as windows reach */
	for (int a = 0; a < n_affected; a++)
	{
		int			k = affected[a];
		const MtSegment *segment = mt_segment_cache_entry(k)->segment;
		const MtStatePart *part = kept->parts[k];
		TimestampTz at = work->at[k];

		times[a] = mt_segment_times_new(segment);
		if (!read_pair[k])
		{
			stored[a] = part_stored(part);
			from[a] = sweep_start(&stored[a], at);
			complete[a] = part->horizon;
			mt_segment_state_times(part, segment, times[a]);
			if (segment->profile != NULL && part->profile_known && !work->contact_changed)
			{
				profile_known[a] = true;
				times[a]->profile_ok = part->profile_ok;
			}
			continue;
		}
		stored[a] = stored_by_segment[k];
		from[a] = sweep_start(&stored[a], at);
		complete[a] = segment->all_history ? DT_NOBEGIN : from[a];
		if (segment->all_history)
			since = DT_NOBEGIN;
		else if (since != DT_NOBEGIN)
			since = Min(since, mt_time_add_saturated(from[a], -segment->longest_within));
		read[n_read] = k;
		read_times[n_read++] = times[a];
	}
	/* the statement's new events: already in the table for the segments read from it */
	for (int f = 0; f < work->n_fresh; f++)
	{
		const MtFreshTime *fresh = &work->fresh[f];
		int			a = position[fresh->segment];
		const MtSegment *segment = mt_segment_cache_entry(fresh->segment)->segment;

		if (a < 0 || read_pair[fresh->segment])
			continue;
		mt_clause_times_add(fresh->slot < segment->n_include ? &times[a]->include[fresh->slot]
							: &times[a]->exclude[fresh->slot - segment->n_include], fresh->at);
	}
	if (n_read > 0)
		file_clause_times(work->user_id, read, n_read, since, read_times, rows_table, rows);

	mt_segment_state_begin(&state);
	for (int a = 0; a < n_affected; a++)
	{
		int			k = affected[a];
		const MtSegmentEntry *entry = mt_segment_cache_entry(k);
		const MtSegment *segment = entry->segment;
		MtSweep		sweep;

		mt_segment_times_sort(segment, times[a]);
		if (!profile_known[a])
			times[a]->profile_ok = profile_matches(segment, work->user_id, &contact, &contact_loaded);
		mt_segment_sweep(segment, times[a], stored[a].member, from[a], work->at[k], &sweep);
		plan_writes(writes, pass_context, segment->name, work->user_id, &stored[a],
					&sweep, work->at[k], &result[a]);
		for (int c = 0; c < sweep.n_changes; c++)
			add_change(changes, pass_context, work->user_id, segment->name,
					   sweep.changes[c].at, sweep.changes[c].entered);
	}
	/* the new kept state: fresh parts for the segments evaluated, the others carried over */
	for (int k = 0; k < n_segments; k++)
	{
		int			a = position[k];

		if (a < 0)
		{
			if (kept->parts[k] != NULL)
				mt_segment_state_carry(&state, kept->parts[k]);
			continue;
		}
		{
			const MtSegmentEntry *entry = mt_segment_cache_entry(k);
			TimestampTz horizon = Max(complete[a], mt_time_add_saturated(work->at[k], -MT_STATE_MARGIN));

			if (entry->clock != DT_NOBEGIN)
				horizon = Max(horizon, Min(entry->clock, work->at[k]));
			mt_segment_state_add(&state, entry->segment, result[a].member, result[a].scheduled,
								 result[a].changes_at, entry->segment->profile != NULL,
								 times[a]->profile_ok, horizon, times[a]);
		}
	}
	SET_VARSIZE(state.data, state.len);
	if (kept->ours && kept->row_empty)
	{
		/* emptied by an earlier write of this transaction: the state lives in memory only */
		tx_state_keep(work->user_id, kept->version, (bytea *) state.data);
		return n_affected;
	}
	old = MemoryContextSwitchTo(pass_context);
	state_writes->users[state_writes->n] = CStringGetTextDatum(work->user_id);
	state_writes->versions[state_writes->n] = Int64GetDatum(kept->version);
	state_writes->nulls[state_writes->n] = kept->ours ? 'n' : ' ';
	state_writes->states[state_writes->n] = kept->ours ? (Datum) 0 :
		PointerGetDatum(pg_detoast_datum_copy((struct varlena *) state.data));
	state_writes->n++;
	MemoryContextSwitchTo(old);
	if (kept->ours)				/* the second write of the row in this transaction: empty it */
		tx_state_keep(work->user_id, kept->version + 1, (bytea *) state.data);
	return n_affected;
}

/* Order changes by time, then segment, user, and exits before enters. */
static int
compare_changes(const void *a, const void *b)
{
	const SegmentEvent *x = a;
	const SegmentEvent *y = b;
	int			c;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if ((c = strcmp(x->segment, y->segment)) != 0)
		return c;
	if ((c = strcmp(x->user_id, y->user_id)) != 0)
		return c;
	return (int) x->entered - (int) y->entered;
}

/*
 * Records the changes as segment_enter / segment_exit events (params {"segment": name},
 * occurred_at = when membership changed) in one INSERT, so triggers react to them. The events
 * trigger of this module skips them.
 */
static void
record_changes(ChangeList *changes, int first)
{
	int			n = changes->n - first;
	Oid			argtypes[4] = {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	Datum	   *users,
			   *types,
			   *times,
			   *segments;
	SegmentEvent *items = changes->items + first;

	if (n <= 0)
		return;
	qsort(items, n, sizeof(SegmentEvent), compare_changes);
	users = palloc(sizeof(Datum) * n);
	types = palloc(sizeof(Datum) * n);
	times = palloc(sizeof(Datum) * n);
	segments = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		users[i] = CStringGetTextDatum(items[i].user_id);
		types[i] = CStringGetTextDatum(items[i].entered ? MT_SEGMENT_ENTER_EVENT : MT_SEGMENT_EXIT_EVENT);
		times[i] = TimestampTzGetDatum(items[i].at);
		segments[i] = CStringGetTextDatum(items[i].segment);
	}
	values[0] = PointerGetDatum(construct_array(users, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(types, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(times, n, TIMESTAMPTZOID, sizeof(TimestampTz),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_array(segments, n, TEXTOID, -1, false, TYPALIGN_INT));
	mt_segment_recording_events = true;
	PG_TRY();
	{
		run_plan(mt_kept_plan(&record_plan,
						   "INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) "
						   "SELECT u, t, a, pg_catalog.jsonb_build_object('segment', s) "
						   "FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::timestamptz[]), pg_catalog.unnest($4::text[])) "
						   "WITH ORDINALITY AS x(u, t, a, s, ord) ORDER BY ord",
						   4, argtypes), values, NULL, SPI_OK_INSERT);
	}
	PG_FINALLY();
	{
		mt_segment_recording_events = false;
	}
	PG_END_TRY();
}

/* The names of the segments a user's work covers, as a text[]. */
static Datum
work_segment_names(const MtUserWork *work)
{
	int			n_segments = mt_segment_cache_count();
	char	  **names = palloc(sizeof(char *) * Max(n_segments, 1));
	int			n = 0;

	for (int k = 0; k < n_segments; k++)
		if (work->at[k] != DT_NOBEGIN)
			names[n++] = mt_segment_cache_entry(k)->segment->name;
	return mt_text_array_param(names, n);
}

/* Records that maintaining a user failed, instead of failing the statement. */
static void
record_error(const MtUserWork *work, const char *stage, const char *message)
{
	Oid			argtypes[4] = {TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(work->user_id);
	values[1] = work_segment_names(work);
	values[2] = CStringGetTextDatum(stage);
	values[3] = CStringGetTextDatum(message);
	run_plan(mt_kept_plan(&error_plan,
					   "INSERT INTO microtrigger.decisions (at, user_id, outcome, detail) "
					   "VALUES (pg_catalog.now(), $1, 'segment_error', pg_catalog.jsonb_build_object('segments', pg_catalog.to_jsonb($2::text[]), "
					   "'stage', $3::text, 'error', $4::text))", 4, argtypes),
			 values, NULL, SPI_OK_INSERT);
}

/* After a failure in run_pending: the user's due checks wait until postpone_to, not a hot loop. */
static void
postpone_checks(const MtUserWork *work, TimestampTz postpone_to)
{
	Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, TIMESTAMPTZOID};
	Datum		values[3];

	values[0] = CStringGetTextDatum(work->user_id);
	values[1] = work_segment_names(work);
	values[2] = TimestampTzGetDatum(postpone_to);
	run_plan(mt_kept_plan(&postpone_plan,
					   "UPDATE microtrigger.segment_schedule SET changes_at = $3 "
					   "WHERE user_id = $1 AND segment = ANY ($2) AND changes_at < $3", 3, argtypes),
			 values, NULL, SPI_OK_UPDATE);
}

/* A function returning int, run by mt_run_in_subtransaction. */
typedef struct IntWork
{
	int			(*fn) (void *);
	void	   *arg;
	int			result;
} IntWork;

/* Calls the function and keeps its result. */
static void
int_work(void *arg)
{
	IntWork    *work = arg;

	work->result = work->fn(work->arg);
}

/*
 * Runs fn in a subtransaction; on an error (other than a cancel) rolls it back and returns the
 * message, else NULL.
 */
static char *
in_subtransaction(int (*fn) (void *), void *arg, int *result)
{
	IntWork		work = {fn, arg, 0};
	ErrorData  *edata = mt_run_in_subtransaction(int_work, &work, true);

	*result = work.result;
	return edata ? edata->message : NULL;
}

/* The arguments of one maintenance pass over some users. */
typedef struct MaintainPass
{
	MtUserWork **users;
	int			n_users;
	MemoryContext user_context; /* reset per user */
	MemoryContext changes_context;
	ChangeList	changes;
} MaintainPass;

/* qsort comparator: user positions by the users' ids (qsort_arg). */
static int
compare_positions(const void *a, const void *b, void *arg)
{
	MtUserWork **users = arg;

	return strcmp(users[*(const int *) a]->user_id, users[*(const int *) b]->user_id);
}

/*
 * Reads the kept states of the pass's users in one query (in the current memory context) and
 * decodes them.
 */
static KeptState *
load_kept_states(MtUserWork **users, int n_users)
{
	KeptState  *kept = palloc0(sizeof(KeptState) * n_users);
	Datum	   *ids = palloc(sizeof(Datum) * n_users);
	int		   *order = palloc(sizeof(int) * n_users);
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1];
	int			n_segments = mt_segment_cache_count();

	for (int u = 0; u < n_users; u++)
	{
		ids[u] = CStringGetTextDatum(users[u]->user_id);
		order[u] = u;
	}
	qsort_arg(order, n_users, sizeof(int), compare_positions, users);
	values[0] = PointerGetDatum(construct_array(ids, n_users, TEXTOID, -1, false, TYPALIGN_INT));
	run_plan(mt_kept_plan(&state_read_plan,
					   "SELECT user_id, version, state, xmin FROM microtrigger.segment_state WHERE user_id = ANY ($1)",
					   1, argtypes), values, NULL, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *id = TextDatumGetCString(SPI_getbinval(tuple, desc, 1, &isnull));
		int			lo = 0,
					hi = n_users;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;
			int			c = strcmp(users[order[mid]]->user_id, id);

			if (c == 0)
			{
				Datum		state;

				KeptState  *k = &kept[order[mid]];
				TxState    *mine;

				k->version = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
				state = SPI_getbinval(tuple, desc, 3, &isnull);
				k->row_empty = isnull;
				if (!isnull)
					k->state = DatumGetByteaPCopy(state);
				k->ours = TransactionIdIsCurrentTransactionId(DatumGetTransactionId(SPI_getbinval(tuple, desc, 4, &isnull)));
				if (k->ours && (mine = tx_state_find(id)) != NULL && mine->version == k->version)
					k->state = mine->state;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	for (int u = 0; u < n_users; u++)
	{
		kept[u].parts = palloc(sizeof(MtStatePart *) * Max(n_segments, 1));
		mt_segment_state_decode(kept[u].state, kept[u].parts);
	}
	return kept;
}

/*
 * Which (segment, user) pairs of the pass are read from the tables: those with no kept part, or
 * whose sweep would start before the part's horizon.
 */
static bool **
pairs_to_read(MtUserWork **users, int n_users, KeptState *kept)
{
	int			n_segments = mt_segment_cache_count();
	bool	  **read_pair = palloc(sizeof(bool *) * n_users);

	for (int u = 0; u < n_users; u++)
	{
		read_pair[u] = palloc0(sizeof(bool) * Max(n_segments, 1));
		for (int k = 0; k < n_segments; k++)
		{
			const MtStatePart *part = kept[u].parts[k];
			StoredState stored;

			if (users[u]->at[k] == DT_NOBEGIN)
				continue;
			if (part != NULL)
			{
				stored = part_stored(part);
				if (sweep_start(&stored, users[u]->at[k]) >= part->horizon)
					continue;
			}
			read_pair[u][k] = true;
		}
	}
	return read_pair;
}

/*
 * Writes the pass's kept states in one statement. A row another transaction changed since it
 * was read (its version moved) is stored empty instead: that writer's events are not in this
 * state, so the next pass reads the user's events again.
 */
static void
flush_states(StateWrites *writes)
{
	Oid			argtypes[3] = {TEXTARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};
	Datum		values[3];

	if (writes->n == 0)
		return;
	values[0] = PointerGetDatum(construct_array(writes->users, writes->n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(writes->versions, writes->n, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	{
		bool	   *nulls = palloc(sizeof(bool) * writes->n);
		int			dims[1] = {writes->n};
		int			lbs[1] = {1};

		for (int i = 0; i < writes->n; i++)
			nulls[i] = writes->nulls[i] == 'n';
		values[2] = PointerGetDatum(construct_md_array(writes->states, nulls, 1, dims, lbs, BYTEAOID, -1, false, TYPALIGN_INT));
	}
	run_plan(mt_kept_plan(&state_write_plan,
					   "INSERT INTO microtrigger.segment_state AS s (user_id, version, state) "
					   "SELECT x.u, x.v + 1, x.st FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::int8[]), "
					   "pg_catalog.unnest($3::bytea[])) AS x(u, v, st) "
					   "ON CONFLICT (user_id) DO UPDATE SET version = s.version + 1, "
					   "state = CASE WHEN s.version = EXCLUDED.version - 1 THEN EXCLUDED.state END",
					   3, argtypes), values, NULL, SPI_OK_INSERT);
}

#define READ_CHUNK 500			/* users whose events one query reads */

/*
 * Reads, in one query, the events that users[from, to) need read for their pairs without a kept
 * part (the union of their types, from the earliest time any of them needs); rows[u - from] lists
 * each user's rows of the returned table (NULL when no user needs a read). Rows are assigned to
 * users in C: an ORDER BY would sort a chunk's rows, params and all, beyond work_mem.
 */
static SPITupleTable *
prefetch_events(MtUserWork **users, int from, int to, bool **read_pair, StoredState **stored,
				UserRows *rows)
{
	int			n_segments = mt_segment_cache_count();
	char	  **types = palloc(sizeof(char *) * Max(n_segments * 8, 1));
	int			n_types = 0;
	int			type_capacity = Max(n_segments * 8, 1);
	bool		any_type = false;
	TimestampTz since = DT_NOEND;
	Datum	   *ids = palloc(sizeof(Datum) * (to - from));
	int		   *order = palloc(sizeof(int) * (to - from));
	int			n_ids = 0;
	Oid			argtypes[3] = {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZOID};
	Datum		values[3];
	SPIPlanPtr	plan;
	SPITupleTable *table;
	uint64		n_rows;

	for (int u = from; u < to; u++)
	{
		bool		reads = false;

		rows[u - from].first = NO_ROW;
		rows[u - from].next = NULL;
		for (int k = 0; k < n_segments; k++)
		{
			const MtSegment *segment = mt_segment_cache_entry(k)->segment;

			if (!read_pair[u][k])
				continue;
			reads = true;
			if (n_types + segment->n_event_types > type_capacity)
			{
				type_capacity = (n_types + segment->n_event_types) * 2;
				types = repalloc(types, sizeof(char *) * type_capacity);
			}
			add_types(segment, types, &n_types, &any_type);
			if (segment->all_history)
				since = DT_NOBEGIN;
			else if (since != DT_NOBEGIN)
				since = Min(since, mt_time_add_saturated(sweep_start(&stored[u][k], users[u]->at[k]),
														 -segment->longest_within));
		}
		if (reads)
		{
			order[n_ids] = u;
			ids[n_ids++] = CStringGetTextDatum(users[u]->user_id);
		}
	}
	if (n_ids == 0)
		return NULL;
	qsort_arg(order, n_ids, sizeof(int), compare_positions, users);
	values[0] = PointerGetDatum(construct_array(ids, n_ids, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = mt_text_array_param(types, n_types);
	values[2] = TimestampTzGetDatum(since);
	if (any_type)
		plan = mt_kept_plan(&events_any_plan,
						 "SELECT user_id, event_type, occurred_at, session_id, params FROM microtrigger.events "
						 "WHERE user_id = ANY ($1) AND occurred_at >= $3 "
						 "AND event_type NOT IN ('segment_enter', 'segment_exit') AND $2 IS NOT NULL",
						 3, argtypes);
	else
		plan = mt_kept_plan(&events_typed_plan,
						 "SELECT user_id, event_type, occurred_at, session_id, params FROM microtrigger.events "
						 "WHERE user_id = ANY ($1) AND event_type = ANY ($2) AND occurred_at >= $3",
						 3, argtypes);
	run_plan(plan, values, NULL, SPI_OK_SELECT);
	table = SPI_tuptable;
	n_rows = SPI_processed;
	/* each row to its user: a list per user, threaded through next (no ORDER BY: no sort) */
	{
		uint64	   *next = palloc(sizeof(uint64) * Max(n_rows, 1));

		for (int i = 0; i < n_ids; i++)
			rows[order[i] - from].next = next;
		for (uint64 row = 0; row < n_rows; row++)
		{
			bool		isnull;
			char	   *id = TextDatumGetCString(SPI_getbinval(table->vals[row], table->tupdesc, 1, &isnull));
			int			lo = 0,
						hi = n_ids;

			next[row] = NO_ROW;
			while (lo < hi)
			{
				int			mid = (lo + hi) / 2;
				int			c = strcmp(users[order[mid]]->user_id, id);

				if (c == 0)
				{
					UserRows   *mine = &rows[order[mid] - from];

					next[row] = mine->first;
					mine->first = row;
					break;
				}
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			pfree(id);
		}
	}
	return table;
}

/*
 * Makes the pass's queries index lookups by key, whatever the sizes (until AtEOXact_GUC with
 * the returned level, or the subtransaction's end): they look up a few hundred keys given as
 * arrays, and a custom plan that sees 500 keys against a small table hashes the whole table —
 * segment_members and segment_schedule grow into the tens of thousands of rows.
 */
static int
plan_by_key(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("enable_hashjoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_mergejoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * Maintains every user of the pass: one read of the kept states, one of the stored states of
 * the pairs without a kept part, per such user one read of events (and of the contact when a
 * profile verdict is not kept), then all writes and all changes at once. Returns the pairs
 * evaluated.
 */
static int
maintain_pass(void *arg)
{
	MaintainPass *pass = arg;
	int			evaluated = 0;
	int			first = pass->changes.n;
	PassWrites	writes = {0};
	StateWrites state_writes = {0};
	StoredState **stored;
	KeptState  *kept;
	bool	  **read_pair;
	MemoryContext old = MemoryContextSwitchTo(pass->changes_context);
	int			guc_level = plan_by_key();

	kept = load_kept_states(pass->users, pass->n_users);
	read_pair = pairs_to_read(pass->users, pass->n_users, kept);
	stored = load_stored_states(pass->users, pass->n_users, read_pair);
	state_writes.users = palloc(sizeof(Datum) * pass->n_users);
	state_writes.versions = palloc(sizeof(Datum) * pass->n_users);
	state_writes.states = palloc(sizeof(Datum) * pass->n_users);
	state_writes.nulls = palloc(sizeof(char) * pass->n_users);
	MemoryContextSwitchTo(old);
	for (int from = 0; from < pass->n_users; from += READ_CHUNK)
	{
		int			to = Min(pass->n_users, from + READ_CHUNK);
		UserRows   *rows;
		SPITupleTable *table;

		old = MemoryContextSwitchTo(pass->changes_context);
		rows = palloc(sizeof(UserRows) * (to - from));
		table = prefetch_events(pass->users, from, to, read_pair, stored, rows);
		MemoryContextSwitchTo(old);
		for (int u = from; u < to; u++)
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(pass->user_context);
			old = MemoryContextSwitchTo(pass->user_context);
			evaluated += maintain_user(pass->users[u], &kept[u], read_pair[u], stored[u], table,
									   &rows[u - from], &writes, &pass->changes, &state_writes,
									   pass->changes_context);
			MemoryContextSwitchTo(old);
		}
		if (table != NULL)
			SPI_freetuptable(table);
	}
	MemoryContextReset(pass->user_context);
	old = MemoryContextSwitchTo(pass->user_context);
	flush_writes(&writes);
	flush_states(&state_writes);
	AtEOXact_GUC(true, guc_level);
	/* the segment events go through the ingest trigger, which plans as the user configured */
	record_changes(&pass->changes, first);
	MemoryContextSwitchTo(old);
	MemoryContextReset(pass->user_context);
	return evaluated;
}

/*
 * Maintains the users: all in one subtransaction (the common case costs one); if that fails,
 * again one user per subtransaction, so one bad user costs a decision, not the others' updates.
 */
int
mt_segment_maintain_users(MtUserWork **users, int n_users, const char *stage, TimestampTz postpone_to)
{
	MaintainPass pass = {0};
	int			evaluated = 0;
	char	   *error;

	if (n_users == 0)
		return 0;
	pass.users = users;
	pass.n_users = n_users;
	pass.user_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger segment user",
											  ALLOCSET_DEFAULT_SIZES);
	pass.changes_context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger segment changes",
												 ALLOCSET_DEFAULT_SIZES);
	error = in_subtransaction(maintain_pass, &pass, &evaluated);
	if (error != NULL)
	{
		evaluated = 0;
		for (int u = 0; u < n_users; u++)
		{
			int			one = 0;

			MemoryContextReset(pass.changes_context);
			memset(&pass.changes, 0, sizeof(pass.changes));
			pass.users = &users[u];
			pass.n_users = 1;
			error = in_subtransaction(maintain_pass, &pass, &one);
			evaluated += one;
			if (error != NULL)
			{
				record_error(users[u], stage, error);
				if (strcmp(stage, "run_pending") == 0)
					postpone_checks(users[u], postpone_to);
			}
		}
	}
	MemoryContextDelete(pass.user_context);
	MemoryContextDelete(pass.changes_context);
	return evaluated;
}
