/*
 * sequence_cache.h: the compiled sequences of this backend (the def_cache.h protocol: rebuilt
 * after any change to microtrigger.sequences).
 */
#ifndef MT_SEQUENCE_CACHE_H
#define MT_SEQUENCE_CACHE_H

#include "postgres.h"

#include "sequence_def.h"

/* Every valid sequence, by name, with its owner (whose templates its emails use). */
typedef struct MtSequenceSet
{
	MtSequence **sequences;
	Oid		   *owners;
	int			n;
} MtSequenceSet;

/* The compiled sequences, read and compiled first when missing or stale (inside SPI). */
extern const MtSequenceSet *mt_sequence_cache_ensure(void);

/* The compiled sequences as they are, without reading the table (NULL before the first ensure). */
extern const MtSequenceSet *mt_sequence_cache_loaded(void);

/* The compiled sequence of that name and its owner, or NULL (after an ensure). */
extern MtSequence *mt_sequence_cache_lookup(const char *name, Oid *owner);

#endif
