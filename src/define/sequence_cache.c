/*
 * sequence_cache.c: the compiled sequences cached per backend (def_cache.h). A row that no
 * longer compiles is skipped with a warning, as the rule cache does for triggers.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/jsonb.h"

#include "def_cache.h"
#include "jsonc_bridge.h"
#include "sequence_cache.h"

static void *build_sequences(SPITupleTable *rows, uint64 n_rows);

static MtDefCache sequences_cache = {
	.name = "microtrigger sequences",
	.table = "sequences",
	.query = "SELECT name, definition, owner::oid FROM microtrigger.sequences ORDER BY name",
	.build = build_sequences,
};

/* Compiles the sequences the cache read (in the cache's context). */
static void *
build_sequences(SPITupleTable *rows, uint64 n_rows)
{
	MtSequenceSet *set = palloc0(sizeof(MtSequenceSet));

	set->sequences = palloc(sizeof(MtSequence *) * Max(n_rows, 1));
	set->owners = palloc(sizeof(Oid) * Max(n_rows, 1));
	for (uint64 row = 0; row < n_rows; row++)
	{
		bool		isnull;
		char	   *name = SPI_getvalue(rows->vals[row], rows->tupdesc, 1);
		Jsonb	   *definition = DatumGetJsonbP(SPI_getbinval(rows->vals[row], rows->tupdesc, 2, &isnull));
		MtError		err = {0};
		MtSequence *sequence = mt_sequence_compile_jsonb(name, definition, &err);

		if (sequence == NULL)
		{
			ereport(WARNING, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							  errmsg("sequence \"%s\" is skipped: invalid at %s: %s", name, err.path, err.message)));
			continue;
		}
		set->owners[set->n] = DatumGetObjectId(SPI_getbinval(rows->vals[row], rows->tupdesc, 3, &isnull));
		set->sequences[set->n++] = sequence;
	}
	return set;
}

/* The compiled sequences, rebuilt first when missing or stale. */
const MtSequenceSet *
mt_sequence_cache_ensure(void)
{
	return mt_def_cache_get(&sequences_cache);
}

/* The compiled sequences as they are. */
const MtSequenceSet *
mt_sequence_cache_loaded(void)
{
	return mt_def_cache_data(&sequences_cache);
}

/* The compiled sequence of that name and its owner, or NULL. */
MtSequence *
mt_sequence_cache_lookup(const char *name, Oid *owner)
{
	const MtSequenceSet *set = mt_def_cache_data(&sequences_cache);

	for (int i = 0; set != NULL && i < set->n; i++)
		if (strcmp(set->sequences[i]->name, name) == 0)
		{
			if (owner != NULL)
				*owner = set->owners[i];
			return set->sequences[i];
		}
	if (owner != NULL)
		*owner = InvalidOid;
	return NULL;
}
