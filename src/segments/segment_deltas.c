/*
 * segment_deltas.c: keeping segments current as data lands.
 *
 * - The ingest statement trigger on microtrigger.events (ingest_trigger.c) hands each transition row
 *   here; the segment cache says which segments the event's type can change, those whose clauses
 *   count the event are kept, and each affected (segment, user) is re-evaluated once per
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
#include "segment_deltas.h"
#include "segment_maintain.h"

PG_FUNCTION_INFO_V1(mt_segments_contact_changed_sql);

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

/* The (segment, user) pairs of one statement (segment_deltas.h). */
struct MtSegmentDeltas
{
	MemoryContext context;		/* the collection */
	HTAB	   *users;			/* AffectedUser by user id */
};

/* Starts collecting (see segment_deltas.h). */
MtSegmentDeltas *
mt_segment_deltas_begin(void)
{
	MtSegmentDeltas *deltas;

	if (mt_segment_recording_events)
		return NULL;			/* our own segment_enter / segment_exit rows */
	mt_segment_cache_ensure();
	if (mt_segment_cache_count() == 0)
		return NULL;
	mt_segment_cache_read_clocks();
	deltas = palloc(sizeof(MtSegmentDeltas));
	deltas->context = AllocSetContextCreate(CurrentMemoryContext, "microtrigger segment ingest",
											ALLOCSET_DEFAULT_SIZES);
	mt_segment_deltas_reset(deltas);
	return deltas;
}

/* Forgets what was collected. */
void
mt_segment_deltas_reset(MtSegmentDeltas *deltas)
{
	MemoryContext old;

	MemoryContextReset(deltas->context);
	old = MemoryContextSwitchTo(deltas->context);
	deltas->users = affected_users_create();
	MemoryContextSwitchTo(old);
}

/*
 * Files one event under every segment one of whose clauses counts it, to be re-evaluated at
 * max(segment clock, occurred_at), and its time under each clause that counts it (added to the
 * user's kept state). An event at ±infinity is on no timeline: it counts in none.
 */
void
mt_segment_deltas_add(MtSegmentDeltas *deltas, const char *user_id, int user_id_len,
					  const char *event_type, int event_type_len, TimestampTz occurred_at,
					  MtDocument *doc)
{
	const int  *candidates;
	int			n_candidates;
	MtUserWork *work = NULL;

	if (TIMESTAMP_NOT_FINITE(occurred_at))
		return;
	mt_segment_cache_for_type(event_type, event_type_len, &candidates, &n_candidates);
	for (int i = 0; i < n_candidates; i++)
	{
		MtSegmentEntry *entry = mt_segment_cache_entry(candidates[i]);
		const MtSegment *segment = entry->segment;
		TimestampTz at = Max(entry->clock, occurred_at);

		for (int slot = 0; slot < segment->n_include + segment->n_exclude; slot++)
		{
			const MtClause *clause = slot < segment->n_include ? &segment->include[slot]
				: &segment->exclude[slot - segment->n_include];

			if (!mt_segment_clause_counts(clause, doc))
				continue;
			if (work == NULL)
			{
				char	   *id = pnstrdup(user_id, user_id_len);

				work = affected_user(deltas->users, id, deltas->context);
			}
			work->at[entry->index] = Max(work->at[entry->index], at);
			mt_user_work_add_fresh(work, entry->index, slot, occurred_at);
		}
	}
}

/* Re-evaluates the collected users in id order, then frees the collection. */
void
mt_segment_deltas_apply(MtSegmentDeltas *deltas)
{
	MemoryContext old = MemoryContextSwitchTo(deltas->context);
	int			n_users;
	MtUserWork **work = sorted_users(deltas->users, &n_users);

	mt_segment_maintain_users(work, n_users, "ingest", 0);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(deltas->context);
	pfree(deltas);
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
		{
			work = mt_user_work_new(id, mt_segment_cache_count());
			work->contact_changed = true;
		}
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
mt_segments_contact_changed_sql(PG_FUNCTION_ARGS)
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
						errmsg("microtrigger.segments_contact_changed() must be an AFTER ROW trigger")));
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
