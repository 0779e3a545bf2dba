/*
 * segment_cache.c: compiled segments cached per backend, with an index from event type to the
 * segments whose clauses count that type. Rebuilt after any change to microtrigger.segments
 * (the def_cache.h protocol the rule cache and the sequences use too).
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "def_cache.h"
#include "jsonc_bridge.h"
#include "segment_cache.h"
#include "spi_util.h"

/* The segments that count one event type. */
typedef struct TypeIndex
{
	char	   *event_type;
	int		   *indexes;		/* this type's segments, then the any-type ones */
	int			n;
} TypeIndex;

typedef struct SegmentCache
{
	MtSegmentEntry *entries;	/* sorted by name */
	int			n_entries;
	TypeIndex  *types;			/* sorted by event_type */
	int			n_types;
	int		   *any_type;		/* segments with a clause of any type */
	int			n_any_type;
} SegmentCache;

static void *build_segments(SPITupleTable *rows, uint64 n_rows);

/* The segments, compiled (def_cache.h: rebuilt after any change to microtrigger.segments). */
static MtDefCache segments_cache = {
	.name = "microtrigger segment cache",
	.table = "segments",
	.query = "SELECT name, definition FROM microtrigger.segments ORDER BY name COLLATE \"C\"",
	.build = build_segments,
};

/* The compiled segments as they are (NULL before the first mt_segment_cache_ensure). */
#define segment_cache ((SegmentCache *) mt_def_cache_data(&segments_cache))

/* Compile a segment definition held as jsonb; the json-c tree never outlives the call. */
MtSegment *
mt_segment_compile_jsonb(const char *name, Jsonb *definition, MtError *err)
{
	struct json_object *json = mt_jsonb_to_json_c(definition);
	MtSegment  *segment = NULL;

	PG_TRY();
	{
		segment = mt_segment_compile(name, json, err);
	}
	PG_FINALLY();
	{
		mt_json_c_free(json);
	}
	PG_END_TRY();
	return segment;
}

/* qsort comparator for type index entries. */
static int
compare_type_index(const void *a, const void *b)
{
	return strcmp(((const TypeIndex *) a)->event_type, ((const TypeIndex *) b)->event_type);
}

/* Builds the event-type index over the cache's entries (in the cache context). */
static void
build_type_index(SegmentCache *cache)
{
	int			total = 0;

	cache->any_type = palloc(sizeof(int) * Max(cache->n_entries, 1));
	for (int i = 0; i < cache->n_entries; i++)
	{
		const MtSegment *segment = cache->entries[i].segment;

		if (segment->any_type)
			cache->any_type[cache->n_any_type++] = i;
		total += segment->n_event_types;
	}
	cache->types = palloc0(sizeof(TypeIndex) * Max(total, 1));
	for (int i = 0; i < cache->n_entries; i++)
	{
		const MtSegment *segment = cache->entries[i].segment;

		for (int t = 0; t < segment->n_event_types; t++)
		{
			TypeIndex  *slot = NULL;

			for (int k = 0; k < cache->n_types && slot == NULL; k++)
				if (strcmp(cache->types[k].event_type, segment->event_types[t]) == 0)
					slot = &cache->types[k];
			if (slot == NULL)
			{
				slot = &cache->types[cache->n_types++];
				slot->event_type = segment->event_types[t];
				slot->indexes = palloc(sizeof(int) * (cache->n_entries + cache->n_any_type));
			}
			/* a segment with a clause of any type is added below, once */
			if (!segment->any_type)
				slot->indexes[slot->n++] = i;
		}
	}
	for (int k = 0; k < cache->n_types; k++)
		for (int a = 0; a < cache->n_any_type; a++)
			cache->types[k].indexes[cache->types[k].n++] = cache->any_type[a];
	qsort(cache->types, cache->n_types, sizeof(TypeIndex), compare_type_index);
}

/* Compiles the segments the cache read, with their event-type index (in the cache's context). */
static void *
build_segments(SPITupleTable *rows, uint64 n_rows)
{
	SegmentCache *cache = palloc0(sizeof(SegmentCache));

	cache->entries = palloc0(sizeof(MtSegmentEntry) * Max(n_rows, 1));
	for (uint64 row = 0; row < n_rows; row++)
	{
		bool		isnull;
		char	   *name = SPI_getvalue(rows->vals[row], rows->tupdesc, 1);
		Jsonb	   *definition = DatumGetJsonbP(SPI_getbinval(rows->vals[row], rows->tupdesc, 2, &isnull));
		MtError		err = {0};
		MtSegment  *segment = mt_segment_compile_jsonb(name, definition, &err);

		if (segment == NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segment \"%s\" is skipped: invalid at %s: %s", name, err.path, err.message)));
			continue;
		}
		cache->entries[cache->n_entries].segment = segment;
		cache->entries[cache->n_entries].index = cache->n_entries;
		cache->entries[cache->n_entries].clock = DT_NOBEGIN;
		cache->n_entries++;
	}
	build_type_index(cache);
	return cache;
}

/* Loads the cache when it is missing or was invalidated. */
void
mt_segment_cache_ensure(void)
{
	mt_def_cache_get(&segments_cache);
}

/* Number of cached segments. */
int
mt_segment_cache_count(void)
{
	return segment_cache ? segment_cache->n_entries : 0;
}

/* The entry at an index. */
MtSegmentEntry *
mt_segment_cache_entry(int index)
{
	return &segment_cache->entries[index];
}

/* The segment of that name (binary search over the sorted entries), or NULL. */
MtSegmentEntry *
mt_segment_cache_lookup(const char *name)
{
	int			lo = 0,
				hi = mt_segment_cache_count();

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(segment_cache->entries[mid].segment->name, name);

		if (c == 0)
			return &segment_cache->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Reads every segment's clock into the cache. */
void
mt_segment_cache_read_clocks(void)
{
	int			ret;

	for (int i = 0; i < mt_segment_cache_count(); i++)
		segment_cache->entries[i].clock = DT_NOBEGIN;
	ret = SPI_execute("SELECT segment, as_of FROM microtrigger.segment_clock", true, 0);
	mt_spi_check(ret, SPI_OK_SELECT, "read microtrigger.segment_clock");
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		char	   *name = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1);
		MtSegmentEntry *entry = mt_segment_cache_lookup(name);

		if (entry != NULL)
			entry->clock = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[row],
															 SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
}

/* The segments an event of this type may change (binary search over the type index). */
void
mt_segment_cache_for_type(const char *event_type, int len, const int **indexes, int *n)
{
	int			lo = 0,
				hi;

	*indexes = NULL;
	*n = 0;
	if (segment_cache == NULL || mt_segment_is_own_event(event_type, len))
		return;
	hi = segment_cache->n_types;
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		const char *type = segment_cache->types[mid].event_type;
		int			type_len = (int) strlen(type);
		int			c = memcmp(type, event_type, Min(type_len, len));

		if (c == 0)
			c = (type_len > len) - (type_len < len);
		if (c == 0)
		{
			*indexes = segment_cache->types[mid].indexes;
			*n = segment_cache->types[mid].n;
			return;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*indexes = segment_cache->any_type;
	*n = segment_cache->n_any_type;
}

/* Does the clause count the event: a type it takes, and its condition (if any) holds? */
bool
mt_segment_clause_counts(const MtClause *clause, MtDocument *doc)
{
	if (mt_segment_is_own_event(doc->event_type, doc->event_type_len))
		return false;
	if (!mt_clause_accepts_type(clause, doc->event_type, doc->event_type_len))
		return false;
	return clause->condition == NULL || mt_condition_eval(clause->condition, doc);
}

/* Does some include or exclude clause of the segment count the event? */
bool
mt_segment_counts_event(const MtSegment *segment, MtDocument *doc)
{
	for (int i = 0; i < segment->n_include; i++)
		if (mt_segment_clause_counts(&segment->include[i], doc))
			return true;
	for (int i = 0; i < segment->n_exclude; i++)
		if (mt_segment_clause_counts(&segment->exclude[i], doc))
			return true;
	return false;
}
