/*
 * trigger_rows.h: validation of microtrigger.triggers rows, shared with the engine.
 */
#ifndef MT_TRIGGER_ROWS_H
#define MT_TRIGGER_ROWS_H

/* Sets search_path for a context query (pg_catalog, public); pop with AtEOXact_GUC(true, level). */
extern int	mt_context_search_path_push(void);

#endif
