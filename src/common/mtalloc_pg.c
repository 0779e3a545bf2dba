/*
 * mtalloc_pg.c: the PostgreSQL side of mtalloc.h — palloc in CurrentMemoryContext.
 */
#include "postgres.h"

#include "mtalloc.h"

/* Zeroed allocation in the current memory context. */
void *
mt_alloc(size_t size)
{
	return palloc0(size == 0 ? 1 : size);
}

/* Resize (or allocate, for NULL) in the memory context the chunk belongs to. */
void *
mt_realloc(void *ptr, size_t size)
{
	if (ptr == NULL)
		return palloc(size == 0 ? 1 : size);
	return repalloc(ptr, size == 0 ? 1 : size);
}

/* Release a chunk; NULL is allowed. */
void
mt_free(void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

/* Copy len bytes of s into a new NUL-terminated string. */
char *
mt_strndup(const char *s, size_t len)
{
	char	   *copy = palloc(len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}
