/*
 * mtalloc_std.c: mtalloc.h over malloc/free, for unit tests and fuzz targets (no PostgreSQL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtalloc.h"

/* Zeroed allocation; aborts on exhaustion, as palloc would raise an error. */
void *
mt_alloc(size_t size)
{
	void	   *p = calloc(1, size == 0 ? 1 : size);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		abort();
	}
	return p;
}

/* Resize or allocate; aborts on exhaustion. */
void *
mt_realloc(void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size == 0 ? 1 : size);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		abort();
	}
	return p;
}

/* Release; NULL is allowed. */
void
mt_free(void *ptr)
{
	free(ptr);
}

/* Copy len bytes of s into a new NUL-terminated string. */
char *
mt_strndup(const char *s, size_t len)
{
	char	   *copy = mt_alloc(len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}
