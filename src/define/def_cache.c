/*
 * def_cache.c: the protocol of the caches of compiled definitions (def_cache.h): one relcache
 * callback and one pair of transaction callbacks for every cache, registered the first time any
 * cache is used.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "def_cache.h"
#include "spi_util.h"

static MtDefCache *all_caches = NULL;
static bool callbacks_registered = false;

/* Relcache callback: a change to a cache's table (or a full reset) marks that cache stale. */
static void
def_cache_invalidate(Datum arg, Oid relid)
{
	for (MtDefCache *cache = all_caches; cache != NULL; cache = cache->next)
		if (relid == InvalidOid || relid == cache->relid)
			cache->valid = false;
}

/* At the end of a transaction no statement holds a cache: every pin goes. */
static void
def_cache_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		for (MtDefCache *cache = all_caches; cache != NULL; cache = cache->next)
			cache->pin_count = 0;
}

/* A subtransaction that aborts drops the pins taken inside it (the error unwound their holders). */
static void
def_cache_subxact_callback(SubXactEvent event, SubTransactionId subid, SubTransactionId parent,
						   void *arg)
{
	int			level;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	level = GetCurrentTransactionNestLevel();	/* the aborting subtransaction's */
	for (MtDefCache *cache = all_caches; cache != NULL; cache = cache->next)
		while (cache->pin_count > 0 && cache->pin_levels[cache->pin_count - 1] >= level)
			cache->pin_count--;
}

/* Registers the callbacks once per backend, and the cache in the list once. */
static void
def_cache_register(MtDefCache *cache)
{
	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(def_cache_invalidate, (Datum) 0);
		RegisterXactCallback(def_cache_xact_callback, NULL);
		RegisterSubXactCallback(def_cache_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (!cache->registered)
	{
		cache->next = all_caches;
		all_caches = cache;
		cache->registered = true;
	}
}

/*
 * Reads and compiles the table into a new context. The context hangs under the caller's until
 * the build succeeded, so an error frees it with the transaction; then it moves under
 * CacheMemoryContext and replaces the old one.
 */
static void
def_cache_rebuild(MtDefCache *cache)
{
	MemoryContext fresh = AllocSetContextCreate(CurrentMemoryContext, "microtrigger definition cache",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	void	   *data;
	int			ret;

	MemoryContextSetIdentifier(fresh, cache->name);
	cache->relid = get_relname_relid(cache->table, get_namespace_oid("microtrigger", false));
	cache->valid = true;		/* an invalidation while building marks it stale again */
	ret = SPI_execute(cache->query, true, 0);
	if (ret != SPI_OK_SELECT)
		mt_spi_failed(psprintf("read microtrigger.%s", cache->table), ret);
	old = MemoryContextSwitchTo(fresh);
	data = cache->build(SPI_tuptable, SPI_processed);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);

	MemoryContextSetParent(fresh, CacheMemoryContext);
	if (cache->context != NULL)
		MemoryContextDelete(cache->context);
	cache->context = fresh;
	cache->data = data;
}

/* The compiled data, rebuilt first when missing, or stale and not pinned (inside SPI). */
void *
mt_def_cache_get(MtDefCache *cache)
{
	def_cache_register(cache);
	if (cache->context == NULL || (!cache->valid && cache->pin_count == 0))
		def_cache_rebuild(cache);
	return cache->data;
}

/* Keeps the data from being rebuilt, until the matching unpin (or the holder's error). */
void
mt_def_cache_pin(MtDefCache *cache)
{
	def_cache_register(cache);
	if (cache->pin_count == cache->pin_capacity)
	{
		int			capacity = cache->pin_capacity ? cache->pin_capacity * 2 : 8;

		cache->pin_levels = cache->pin_levels
			? repalloc(cache->pin_levels, sizeof(int) * capacity)
			: MemoryContextAlloc(TopMemoryContext, sizeof(int) * capacity);
		cache->pin_capacity = capacity;
	}
	cache->pin_levels[cache->pin_count++] = GetCurrentTransactionNestLevel();
}

/* Releases a pin. */
void
mt_def_cache_unpin(MtDefCache *cache)
{
	if (cache->pin_count > 0)
		cache->pin_count--;
}
