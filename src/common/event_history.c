/*
 * event_history.c: questions about one user's events in a time window, asked by ingest (history
 * clauses), the engine (does an event cancel an absence window?) and journeys (history branches,
 * exit events): counts through the (user_id, event_type, occurred_at) index, conditions evaluated
 * here on each event's jsonb.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "event_history.h"
#include "event_row.h"
#include "spi_util.h"

static SPIPlanPtr history_count_plan[2][2];	/* [replan][has types] */
static SPIPlanPtr history_rows_plan[2][2];
static SPIPlanPtr window_rows_plan;
static SPIPlanPtr windows_rows_plan[2];	/* [has types] */

/*
 * Whether this statement replans its queries over events and firings at every call: when
 * the planner's statistics say a table is (nearly) empty, a kept generic plan would seq-scan
 * it while the COPY fills it. Otherwise kept generic plans are used (planning is then free).
 */
int			mt_replan_growing_tables = 0;

/* Do the planner's statistics show fewer than `rows` rows in microtrigger.<table>? */
static bool
stats_show_few_rows(const char *table, double rows)
{
	Oid			relid = get_relname_relid(table, get_namespace_oid("microtrigger", false));
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		few = false;

	if (HeapTupleIsValid(tuple))
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tuple);

		/* reltuples -1: never analyzed, the planner then assumes a few pages and uses the index */
		few = form->reltuples >= 0 && form->reltuples < rows;
		ReleaseSysCache(tuple);
	}
	return few;
}

/* Sets mt_replan_growing_tables from the statistics of events and firings (once per statement). */
void
mt_event_window_check_statistics(void)
{
	mt_replan_growing_tables = stats_show_few_rows("firings", 10000) ||
		stats_show_few_rows("events", 100000) ? 1 : 0;
}

/* A text[] of the clause's event types. */
static Datum
event_types_array(const MtClause *clause)
{
	Datum	   *items = palloc(sizeof(Datum) * clause->n_event_types);

	for (int i = 0; i < clause->n_event_types; i++)
		items[i] = CStringGetTextDatum(clause->event_types[i]);
	return PointerGetDatum(construct_array(items, clause->n_event_types, TEXTOID, -1, false, TYPALIGN_INT));
}

/* Counts the user's events in [at - within, at] of the clause's types that pass its condition. */
int64
mt_history_count(const MtClause *clause, text *user_id, TimestampTz at)
{
	return mt_history_count_bounded(clause, user_id, at, -1, NULL);
}

/*
 * As mt_history_count, with each event's condition evaluated as ingest does (regex_max_input,
 * see mt_condition_eval_bounded): returns the events that surely pass and sets *undecided to
 * those that could not be decided (0 with a negative regex_max_input).
 */
int64
mt_history_count_bounded(const MtClause *clause, text *user_id, TimestampTz at,
						 int regex_max_input, int64 *undecided)
{
	Oid			argtypes[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID};
	Datum		values[4];
	int			typed = clause->n_event_types > 0 ? 1 : 0;
	int64		count = 0;

	if (undecided != NULL)
		*undecided = 0;
	values[0] = PointerGetDatum(user_id);
	/* from the first finite timestamp at the earliest: an event at -infinity is in no window */
	values[1] = TimestampTzGetDatum(Max(mt_time_add_saturated(at, -clause->within), MIN_TIMESTAMP));
	values[2] = TimestampTzGetDatum(at);
	if (typed)
		values[3] = event_types_array(clause);

	if (clause->condition == NULL || mt_condition_is_empty(clause->condition))
	{
		SPIPlanPtr	plan = mt_kept_plan_opts(&history_count_plan[mt_replan_growing_tables][typed], typed
										? "SELECT pg_catalog.count(*) FROM microtrigger.events WHERE user_id = $1 "
										"AND event_type = ANY ($4) AND occurred_at >= $2 AND occurred_at <= $3"
										: "SELECT pg_catalog.count(*) FROM microtrigger.events WHERE user_id = $1 "
										"AND occurred_at >= $2 AND occurred_at <= $3",
										typed ? 4 : 3, argtypes, MT_GROWING_TABLE_OPTIONS);
		bool		isnull;

		mt_spi_check(SPI_execute_plan(plan, values, NULL, false, 1), SPI_OK_SELECT, "count a history window");
		return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	/* with a condition: read the window's events and evaluate each one here */
	{
		SPIPlanPtr	plan = mt_kept_plan_opts(&history_rows_plan[mt_replan_growing_tables][typed], typed
										? "SELECT event_type, occurred_at, session_id, params FROM microtrigger.events "
										"WHERE user_id = $1 AND event_type = ANY ($4) AND occurred_at >= $2 AND occurred_at <= $3"
										: "SELECT event_type, occurred_at, session_id, params FROM microtrigger.events "
										"WHERE user_id = $1 AND occurred_at >= $2 AND occurred_at <= $3",
										typed ? 4 : 3, argtypes, MT_GROWING_TABLE_OPTIONS);

		MtEventColumns cols;

		mt_spi_check(SPI_execute_plan(plan, values, NULL, false, 0), SPI_OK_SELECT, "read a history window");
		mt_event_columns_init(&cols, SPI_tuptable->tupdesc);
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			MtEventRow	event;
			MtDocument	doc;

			mt_event_row_from_tuple(&event, SPI_tuptable->vals[row], SPI_tuptable->tupdesc, &cols);
			event.user_id = user_id;	/* the query's parameter: not selected */
			mt_event_row_document(&doc, &event);
			/* without somewhere to count the undecided, decide everything */
			switch (mt_condition_eval_bounded(clause->condition, &doc,
											  undecided != NULL ? regex_max_input : -1))
			{
				case MT_TRUE:
					count++;
					break;
				case MT_UNKNOWN:
					(*undecided)++;
					break;
				case MT_FALSE:
					break;
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}
	return count;
}

/*
 * Does the clause's count pass when `count` events surely pass and `undecided` more may? True or
 * false when it does for every count in [count, count + undecided]; unknown otherwise.
 */
MtTruth
mt_count_passes_between(const MtClause *clause, int64 count, int64 undecided)
{
	bool		first = mt_count_passes(clause, count);

	for (int64 k = 1; k <= undecided; k++)
		if (mt_count_passes(clause, count + k) != first)
			return MT_UNKNOWN;
	return first ? MT_TRUE : MT_FALSE;
}

/*
 * The first event of the user in [from, to] (by occurred_at, whatever its arrival order), other
 * than exclude_event_id, that the clause accepts: its type, its condition, and the params named
 * by `same` equal to those of source_params. 0 when there is none.
 */
int64
mt_first_matching_event(const MtClause *clause, const char *user_id, TimestampTz from,
						TimestampTz to, int64 exclude_event_id, Jsonb *source_params)
{
	static const Oid argtypes[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
	Datum		values[4];
	MtEventColumns cols;

	values[0] = CStringGetTextDatum(user_id);
	values[1] = TimestampTzGetDatum(from);
	values[2] = TimestampTzGetDatum(to);
	values[3] = Int64GetDatum(exclude_event_id);
	mt_execute_plan(mt_kept_plan(&window_rows_plan,
								 "SELECT id, user_id, event_type, occurred_at, session_id, params FROM microtrigger.events "
								 "WHERE user_id = $1 AND occurred_at >= $2 AND occurred_at <= $3 AND id <> $4 "
								 "ORDER BY occurred_at, id", 4, argtypes),
					values, NULL, false, 0, SPI_OK_SELECT);
	mt_event_columns_init(&cols, SPI_tuptable->tupdesc);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MtEventRow	event;
		const char *type;
		int			type_len;
		bool		same = true;

		mt_event_row_from_tuple(&event, SPI_tuptable->vals[row], SPI_tuptable->tupdesc, &cols);
		if (!mt_event_row_type(&event, &type, &type_len) || !mt_clause_accepts_type(clause, type, type_len))
			continue;
		for (int i = 0; same && i < clause->n_same; i++)
			same = source_params != NULL && mt_same_param(source_params, event.params, clause->same[i]);
		if (!same)
			continue;
		if (clause->condition != NULL)
		{
			MtDocument	doc;

			mt_event_row_document(&doc, &event);
			if (!mt_condition_eval(clause->condition, &doc))
				continue;
		}
		return event.id;
	}
	return 0;
}

/* The value of a top-level param, or NULL when missing. */
static JsonbValue *
param_value(Jsonb *params, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&params->root, JB_FOBJECT, &k);
}

/* Are two top-level param values present and equal? */
bool
mt_same_param(Jsonb *a, Jsonb *b, const char *key)
{
	JsonbValue *va = param_value(a, key);
	JsonbValue *vb = param_value(b, key);
	Jsonb	   *ja,
			   *jb;

	if (va == NULL || vb == NULL)
		return false;
	ja = JsonbValueToJsonb(va);
	jb = JsonbValueToJsonb(vb);
	return compareJsonbContainers(&ja->root, &jb->root) == 0;
}

/* Orders window queries by clause, then as given. */
static int
window_clause_cmp(const void *a, const void *b)
{
	const MtWindowQuery *qa = *(const MtWindowQuery *const *) a;
	const MtWindowQuery *qb = *(const MtWindowQuery *const *) b;

	if (qa->clause != qb->clause)
		return qa->clause < qb->clause ? -1 : 1;
	return qa < qb ? -1 : qa > qb ? 1 : 0;
}

/*
 * Answers the windows of one clause with one query: every event of their users inside them (of
 * the clause's types, when it names any: the whole (user_id, event_type, occurred_at) index key),
 * in window order and then by occurred_at, id; the first the clause accepts answers each window.
 */
static void
first_matching_for_clause(MtWindowQuery **queries, int n)
{
	static const Oid argtypes[5] = {TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID,
	INT8ARRAYOID, TEXTARRAYOID};
	const MtClause *clause = queries[0]->clause;
	int			typed = clause->n_event_types > 0 ? 1 : 0;
	Datum	   *users = palloc(sizeof(Datum) * n);
	Datum	   *los = palloc(sizeof(Datum) * n);
	Datum	   *his = palloc(sizeof(Datum) * n);
	Datum	   *excls = palloc(sizeof(Datum) * n);
	Datum		values[5];
	MtEventColumns cols;

	for (int i = 0; i < n; i++)
	{
		users[i] = CStringGetTextDatum(queries[i]->user_id);
		los[i] = TimestampTzGetDatum(queries[i]->from);
		his[i] = TimestampTzGetDatum(queries[i]->to);
		excls[i] = Int64GetDatum(queries[i]->exclude_event_id);
	}
	values[0] = PointerGetDatum(construct_array(users, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(los, n, TIMESTAMPTZOID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(his, n, TIMESTAMPTZOID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_array(excls, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = typed ? event_types_array(clause) : (Datum) 0;
	mt_execute_plan(mt_kept_plan(&windows_rows_plan[typed], typed
								 ? "SELECT w.ord, e.id, e.user_id, e.event_type, e.occurred_at, e.session_id, e.params "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4)) WITH ORDINALITY AS w(user_id, lo, hi, excl, ord) "
								 "JOIN microtrigger.events e ON e.user_id = w.user_id AND e.event_type = ANY ($5) "
								 "AND e.occurred_at >= w.lo AND e.occurred_at <= w.hi AND e.id <> w.excl "
								 "ORDER BY w.ord, e.occurred_at, e.id"
								 : "SELECT w.ord, e.id, e.user_id, e.event_type, e.occurred_at, e.session_id, e.params "
								 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4)) WITH ORDINALITY AS w(user_id, lo, hi, excl, ord) "
								 "JOIN microtrigger.events e ON e.user_id = w.user_id "
								 "AND e.occurred_at >= w.lo AND e.occurred_at <= w.hi AND e.id <> w.excl "
								 "ORDER BY w.ord, e.occurred_at, e.id",
								 typed ? 5 : 4, argtypes),
					values, NULL, false, 0, SPI_OK_SELECT);
	mt_event_columns_init(&cols, SPI_tuptable->tupdesc);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		MtWindowQuery *q = queries[DatumGetInt64(mt_spi_datum(row, 1, &isnull)) - 1];
		MtEventRow	event;
		const char *type;
		int			type_len;
		bool		same = true;

		if (q->match != 0)
			continue;
		mt_event_row_from_tuple(&event, SPI_tuptable->vals[row], SPI_tuptable->tupdesc, &cols);
		if (!mt_event_row_type(&event, &type, &type_len) || !mt_clause_accepts_type(clause, type, type_len))
			continue;
		for (int i = 0; same && i < clause->n_same; i++)
			same = q->source_params != NULL && mt_same_param(q->source_params, event.params, clause->same[i]);
		if (!same)
			continue;
		if (clause->condition != NULL)
		{
			MtDocument	doc;

			mt_event_row_document(&doc, &event);
			if (!mt_condition_eval(clause->condition, &doc))
				continue;
		}
		q->match = event.id;
	}
	SPI_freetuptable(SPI_tuptable);
}

/* Answers a batch of windows, one query per distinct clause (see event_window.h). */
void
mt_first_matching_events(MtWindowQuery *queries, int n)
{
	MemoryContext cxt = CurrentMemoryContext;
	MtWindowQuery **order = palloc(sizeof(MtWindowQuery *) * Max(n, 1));
	int			start = 0;

	for (int i = 0; i < n; i++)
	{
		queries[i].match = 0;
		order[i] = &queries[i];
	}
	qsort(order, n, sizeof(MtWindowQuery *), window_clause_cmp);
	for (int i = 1; i <= n; i++)
		if (i == n || order[i]->clause != order[start]->clause)
		{
			first_matching_for_clause(&order[start], i - start);
			MemoryContextSwitchTo(cxt); /* SPI leaves its own current */
			start = i;
		}
	pfree(order);
}
