/*
 * event_history.h: questions about one user's events in a time window (history counts, the first
 * event that cancels an absence or ends a journey), shared by ingest, the engine and journeys.
 */
#ifndef MT_EVENT_HISTORY_H
#define MT_EVENT_HISTORY_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "condition_eval.h"
#include "definition.h"

/*
 * 1 while the statistics show events or firings nearly empty: queries over them are then
 * replanned at every call (a kept generic plan would seq-scan a table a COPY is filling).
 */
extern int	mt_replan_growing_tables;

/* The cursor options for queries over events and firings. */
#define MT_GROWING_TABLE_OPTIONS (mt_replan_growing_tables ? CURSOR_OPT_CUSTOM_PLAN : 0)

/* Looks at the statistics of events and firings and sets mt_replan_growing_tables. */
extern void mt_event_window_check_statistics(void);

/* Counts the user's events in [at - within, at] that pass the clause (SPI connected). */
extern int64 mt_history_count(const MtClause *clause, text *user_id, TimestampTz at);

/*
 * The same count as ingest makes it: conditions evaluated with at most regex_max_input bytes of
 * $regex subject each; the events they could not decide are counted in *undecided.
 */
extern int64 mt_history_count_bounded(const MtClause *clause, text *user_id, TimestampTz at,
									  int regex_max_input, int64 *undecided);

/* Does the clause's count pass for every count in [count, count + undecided]? (three-valued) */
extern MtTruth mt_count_passes_between(const MtClause *clause, int64 count, int64 undecided);

/* The first event in [from, to] the clause accepts (see event_history.c); 0 when none. */
extern int64 mt_first_matching_event(const MtClause *clause, const char *user_id, TimestampTz from,
									 TimestampTz to, int64 exclude_event_id, Jsonb *source_params);

/* Are two top-level param values present and equal? (the `same` of absence windows and exits) */
extern bool mt_same_param(Jsonb *a, Jsonb *b, const char *key);

/* One window of a batch: the first event of user_id in [from, to] the clause accepts. */
typedef struct MtWindowQuery
{
	const MtClause *clause;
	const char *user_id;
	TimestampTz from;
	TimestampTz to;
	int64		exclude_event_id;
	Jsonb	   *source_params;	/* what `same` compares with (NULL: nothing is the same) */
	int64		match;			/* out: that event's id, 0 when none */
} MtWindowQuery;

/*
 * Answers every window of a batch as mt_first_matching_event would, with one query per distinct
 * clause instead of one per window (SPI connected).
 */
extern void mt_first_matching_events(MtWindowQuery *queries, int n);

#endif
