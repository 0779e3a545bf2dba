/*
 * mtalloc.h: the allocator used by the PostgreSQL-free cores (conditions, definitions, Mustache).
 *
 * Inside the extension these map to palloc in CurrentMemoryContext (src/common/mtalloc_pg.c), so a
 * compiled rule lives and dies with the memory context it was built in; unit tests and fuzz
 * targets link test/unit/mtalloc_std.c instead (malloc/free). mt_alloc never returns NULL.
 */
#ifndef MT_ALLOC_H
#define MT_ALLOC_H

#include <stddef.h>

/* zeroed memory of at least size bytes */
extern void *mt_alloc(size_t size);
/* grows or shrinks ptr (which may be NULL) to size bytes */
extern void *mt_realloc(void *ptr, size_t size);
/* releases ptr (which may be NULL) */
extern void mt_free(void *ptr);
/* a copy of the first len bytes of s, NUL-terminated */
extern char *mt_strndup(const char *s, size_t len);

#endif
