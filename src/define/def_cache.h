/*
 * def_cache.h: the one protocol of the per-backend caches of compiled definitions (the rule
 * cache of triggers, the sequences, the segments).
 *
 * A cache is a static MtDefCache naming its table, the query that reads it and a build
 * function that compiles the rows. mt_def_cache_get() returns the compiled data, rebuilding it
 * first when it is missing or stale. Any change to the table (relcache invalidation, sent by
 * the table's statement triggers and by DDL) marks it stale. While pinned (a statement holds
 * pointers into it) it is not rebuilt; a pin is tied to its subtransaction level, so an error
 * that unwinds the holder drops it, and the end of the transaction drops every pin.
 */
#ifndef MT_DEF_CACHE_H
#define MT_DEF_CACHE_H

#include "postgres.h"

#include "executor/spi.h"

/* Compiles the rows the query read (SPI_tuptable) into the cache's data; runs in its context. */
typedef void *(*MtDefCacheBuild) (SPITupleTable *rows, uint64 n_rows);

typedef struct MtDefCache
{
	/* what the cache holds: set in the static initializer */
	const char *name;			/* its memory context's identifier, e.g. "microtrigger rule cache" */
	const char *table;			/* the table in schema microtrigger whose changes invalidate it */
	const char *query;			/* what build reads */
	MtDefCacheBuild build;

	/* its state: zero-initialised, kept by def_cache.c */
	bool		registered;
	bool		valid;
	Oid			relid;
	MemoryContext context;
	void	   *data;
	int			pin_count;
	int			pin_capacity;
	int		   *pin_levels;		/* the subtransaction level of each pin */
	struct MtDefCache *next;	/* the list of registered caches */
} MtDefCache;

/* The compiled data, rebuilt first when missing, or stale and not pinned. */
extern void *mt_def_cache_get(MtDefCache *cache);

/* The compiled data as it is (NULL before the first mt_def_cache_get). */
static inline void *
mt_def_cache_data(const MtDefCache *cache)
{
	return cache->data;
}

/* Keeps the data from being rebuilt while the caller holds pointers into it; then unpin. */
extern void mt_def_cache_pin(MtDefCache *cache);
extern void mt_def_cache_unpin(MtDefCache *cache);

#endif
