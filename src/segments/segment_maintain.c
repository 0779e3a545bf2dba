/*
 * segment_maintain.c: incremental membership for some users (see segment_maintain.h). Per user:
 * one query for the stored state of the affected segments, one for the user's events those
 * segments can count (from the earliest time a window reaches back to), one for the contact when
 * a profile matters; the timeline does the rest in memory. Writes happen only for what changed:
 * per-user upserts and deletes, never a table-wide lock.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "condition_eval.h"
#include "subxact.h"
#include "segment_cache.h"
#include "segment_maintain.h"
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

/* Runs a plan and checks its result code. */
static void
run_plan(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	mt_spi_check(SPI_execute_plan(plan, values, nulls, false, 0), expected, "run a segment maintenance statement");
}

/* A text[] datum of C strings. */
static Datum
text_array(char **items, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		datums[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(datums, n, TEXTOID, -1, false, TYPALIGN_INT));
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
	return work;
}

/*
 * Reads the stored membership and schedule of every (segment, user) pair of the pass in one
 * query; states[u][k] is user u's state for cache segment k (only affected ones are filled).
 */
static StoredState **
load_stored_states(MtUserWork **users, int n_users)
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
			if (users[u]->at[k] != DT_NOBEGIN)
			{
				segment_names[n_pairs] = CStringGetTextDatum(mt_segment_cache_entry(k)->segment->name);
				user_ids[n_pairs] = user_id;
				pair_user[n_pairs] = u;
				pair_segment[n_pairs++] = k;
			}
	}
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

/*
 * Reads the user's events that the affected segments may count, from `since` on (all of them
 * when since is DT_NOBEGIN), and files each one's time under every clause that counts it.
 */
static void
load_clause_times(const char *user_id, int *affected, int n_affected, TimestampTz since,
				  MtSegmentTimes **times)
{
	Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, TIMESTAMPTZOID};
	Datum		values[3];
	bool		any_type = false;
	char	  **types;
	int			n_types = 0;
	int			capacity = 0;
	SPIPlanPtr	plan;

	for (int a = 0; a < n_affected; a++)
	{
		const MtSegment *segment = mt_segment_cache_entry(affected[a])->segment;

		any_type |= segment->any_type;
		capacity += segment->n_event_types;
	}
	types = palloc(sizeof(char *) * Max(capacity, 1));
	for (int a = 0; a < n_affected && !any_type; a++)
	{
		const MtSegment *segment = mt_segment_cache_entry(affected[a])->segment;

		for (int t = 0; t < segment->n_event_types; t++)
		{
			bool		seen = false;

			for (int k = 0; k < n_types && !seen; k++)
				seen = strcmp(types[k], segment->event_types[t]) == 0;
			if (!seen)
				types[n_types++] = segment->event_types[t];
		}
	}
	values[0] = CStringGetTextDatum(user_id);
	values[1] = text_array(types, n_types);
	values[2] = TimestampTzGetDatum(since);
	if (any_type)
		plan = mt_kept_plan(&events_any_plan,
						 "SELECT event_type, occurred_at, session_id, params FROM microtrigger.events "
						 "WHERE user_id = $1 AND occurred_at >= $3 "
						 "AND event_type NOT IN ('segment_enter', 'segment_exit') AND $2 IS NOT NULL",
						 3, argtypes);
	else
		plan = mt_kept_plan(&events_typed_plan,
						 "SELECT event_type, occurred_at, session_id, params FROM microtrigger.events "
						 "WHERE user_id = $1 AND event_type = ANY ($2) AND occurred_at >= $3",
						 3, argtypes);
	run_plan(plan, values, NULL, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull,
					session_null;
		text	   *type = DatumGetTextPP(SPI_getbinval(tuple, desc, 1, &isnull));
		TimestampTz occurred = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 2, &isnull));
		Datum		session = SPI_getbinval(tuple, desc, 3, &session_null);
		text	   *session_text = session_null ? NULL : DatumGetTextPP(session);
		Jsonb	   *params;
		MtDocument	doc;

		if (!mt_time_is_finite(occurred))
			continue;			/* an event at ±infinity is on no timeline: it counts in no window */
		params = DatumGetJsonbP(SPI_getbinval(tuple, desc, 4, &isnull));
		mt_document_init_event(&doc, params, user_id, (int) strlen(user_id),
							   VARDATA_ANY(type), VARSIZE_ANY_EXHDR(type),
							   session_text ? VARDATA_ANY(session_text) : NULL,
							   session_text ? VARSIZE_ANY_EXHDR(session_text) : 0, occurred);
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
	SPI_freetuptable(SPI_tuptable);
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
			const StoredState *stored, const MtSweep *sweep, TimestampTz at)
{
	bool		keep_check = stored->scheduled && stored->changes_at > at &&
		(!sweep->has_next || stored->changes_at <= sweep->next_change);

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
 * in a pass), in four statements instead of one per row.
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
			  "DELETE FROM microtrigger.segment_members m USING ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) AS x(segment, user_id) "
			  "WHERE m.segment = x.segment AND m.user_id = x.user_id AND $3 IS NOT NULL",
			  &writes->exit, SPI_OK_DELETE);
	run_write(&schedule_plan,
			  "INSERT INTO microtrigger.segment_schedule (segment, user_id, changes_at) "
			  "SELECT * FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::timestamptz[])) "
			  "ON CONFLICT (segment, user_id) DO UPDATE SET changes_at = EXCLUDED.changes_at",
			  &writes->schedule, SPI_OK_INSERT);
	run_write(&unschedule_plan,
			  "DELETE FROM microtrigger.segment_schedule s USING ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) AS x(segment, user_id) "
			  "WHERE s.segment = x.segment AND s.user_id = x.user_id AND $3 IS NOT NULL",
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

/*
 * Re-evaluates one user for every segment of its work from the stored states, files the writes
 * and appends the membership changes. Returns the number of segments evaluated.
 */
static int
maintain_user(const MtUserWork *work, const StoredState *stored_by_segment, PassWrites *writes,
			  ChangeList *changes, MemoryContext pass_context)
{
	int			n_segments = mt_segment_cache_count();
	int		   *affected = palloc(sizeof(int) * Max(n_segments, 1));
	int			n_affected = 0;
	TimestampTz *from;
	TimestampTz since = DT_NOEND;
	MtSegmentTimes **times;
	Jsonb	   *contact = NULL;
	bool		contact_loaded = false;

	for (int k = 0; k < n_segments; k++)
		if (work->at[k] != DT_NOBEGIN)
			affected[n_affected++] = k;
	if (n_affected == 0)
		return 0;
	from = palloc(sizeof(TimestampTz) * n_affected);
	times = palloc(sizeof(MtSegmentTimes *) * n_affected);

	/* sweep from the stored state's end (when it has passed) and read back as far as windows reach */
	for (int a = 0; a < n_affected; a++)
	{
		const MtSegment *segment = mt_segment_cache_entry(affected[a])->segment;
		const StoredState *stored = &stored_by_segment[affected[a]];
		TimestampTz at = work->at[affected[a]];

		from[a] = stored->scheduled && stored->changes_at < at ? stored->changes_at : at;
		if (segment->all_history)
			since = DT_NOBEGIN;
		else if (since != DT_NOBEGIN)
			since = Min(since, mt_time_add_saturated(from[a], -segment->longest_within));
		times[a] = mt_segment_times_new(segment);
	}
	load_clause_times(work->user_id, affected, n_affected, since, times);

	for (int a = 0; a < n_affected; a++)
	{
		const MtSegment *segment = mt_segment_cache_entry(affected[a])->segment;
		MtSweep		sweep;

		mt_segment_times_sort(segment, times[a]);
		times[a]->profile_ok = profile_matches(segment, work->user_id, &contact, &contact_loaded);
		mt_segment_sweep(segment, times[a], stored_by_segment[affected[a]].member, from[a],
						 work->at[affected[a]], &sweep);
		plan_writes(writes, pass_context, segment->name, work->user_id, &stored_by_segment[affected[a]],
					&sweep, work->at[affected[a]]);
		for (int c = 0; c < sweep.n_changes; c++)
			add_change(changes, pass_context, work->user_id, segment->name,
					   sweep.changes[c].at, sweep.changes[c].entered);
	}
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
	return text_array(names, n);
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

/*
 * Maintains every user of the pass: one read of the stored states, per user one read of events
 * (and of the contact when a profile matters), then all writes and all changes at once.
 * Returns the pairs evaluated.
 */
static int
maintain_pass(void *arg)
{
	MaintainPass *pass = arg;
	int			evaluated = 0;
	int			first = pass->changes.n;
	PassWrites	writes = {0};
	StoredState **stored;
	MemoryContext old = MemoryContextSwitchTo(pass->changes_context);

	stored = load_stored_states(pass->users, pass->n_users);
	MemoryContextSwitchTo(old);
	for (int u = 0; u < pass->n_users; u++)
	{
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(pass->user_context);
		old = MemoryContextSwitchTo(pass->user_context);
		evaluated += maintain_user(pass->users[u], stored[u], &writes, &pass->changes, pass->changes_context);
		MemoryContextSwitchTo(old);
	}
	MemoryContextReset(pass->user_context);
	old = MemoryContextSwitchTo(pass->user_context);
	flush_writes(&writes);
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
