/*
 * segment_refresh.c: a segment computed from scratch, set-based, in SQL built from its compiled
 * definition — the oracle incremental maintenance must equal, the backfill of a new or changed
 * segment, and the repair tool. Conditions are evaluated by microtrigger.event_matches() and
 * matches(), the same evaluator the incremental path runs in C.
 *
 * For each clause, one GROUP BY over events gives per user: the count at as_of, the oldest
 * counted event (it leaves the window first) and the first event after as_of (it enters later);
 * so the same query yields membership and a safe time for the next check (the earliest moment
 * any count can change). Users considered are those with an event of an anchor clause (an
 * include clause that needs an event), or the contacts when there is none.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "condition_eval.h"
#include "segment_cache.h"
#include "segment_maintain.h"
#include "segment_refresh.h"

PG_FUNCTION_INFO_V1(mt_refresh_segment_sql);
PG_FUNCTION_INFO_V1(mt_segment_members_at_sql);

/* The parameters of the query being built. */
typedef struct QueryParams
{
	Oid		   *types;
	Datum	   *values;
	int			n;
	int			capacity;
} QueryParams;

/* Adds a parameter; returns its number ($n). */
static int
add_param(QueryParams *params, Oid type, Datum value)
{
	if (params->n == params->capacity)
	{
		params->capacity = params->capacity ? params->capacity * 2 : 16;
		params->types = params->types ? repalloc(params->types, sizeof(Oid) * params->capacity)
			: palloc(sizeof(Oid) * params->capacity);
		params->values = params->values ? repalloc(params->values, sizeof(Datum) * params->capacity)
			: palloc(sizeof(Datum) * params->capacity);
	}
	params->types[params->n] = type;
	params->values[params->n] = value;
	return ++params->n;
}

/* The value under a key of a jsonb object container, or NULL. */
static JsonbValue *
object_field(JsonbContainer *container, const char *key)
{
	JsonbValue	k;

	if (container == NULL || !JsonContainerIsObject(container))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(container, JB_FOBJECT, &k);
}

/* The container of a binary jsonb value (an object or array), or NULL. */
static JsonbContainer *
binary_container(JsonbValue *value)
{
	return value != NULL && value->type == jbvBinary ? value->val.binary.data : NULL;
}

/* The "condition" of definition[key][index] (or of definition[key] when it is one object). */
static Jsonb *
clause_condition_json(Jsonb *definition, const char *key, int index)
{
	JsonbContainer *list = binary_container(object_field(&definition->root, key));
	JsonbContainer *clause = list;
	JsonbValue *condition;

	if (list != NULL && JsonContainerIsArray(list))
		clause = binary_container(getIthJsonbValueFromContainer(list, index));
	condition = object_field(clause, "condition");
	return condition ? JsonbValueToJsonb(condition) : NULL;
}

/* A text[] datum of a clause's event types. */
static Datum
types_array(const MtClause *clause)
{
	Datum	   *items = palloc(sizeof(Datum) * Max(clause->n_event_types, 1));

	for (int i = 0; i < clause->n_event_types; i++)
		items[i] = CStringGetTextDatum(clause->event_types[i]);
	return PointerGetDatum(construct_array(items, clause->n_event_types, TEXTOID, -1, false, TYPALIGN_INT));
}

/* An interval datum of exactly `usecs` microseconds (no days or months: no calendar arithmetic). */
static Datum
exact_interval(MtDuration usecs)
{
	Interval   *interval = palloc0(sizeof(Interval));

	interval->time = usecs;
	return IntervalPGetDatum(interval);
}

/*
 * SQL for one clause's per-user aggregate at as_of ($1), as CTE `alias`; *within_param is its
 * window's $n and *last_param that of the last `oldest` whose leaving time (oldest + within +
 * 1 microsecond) is still a timestamp. Events at ±infinity are on no timeline: never counted.
 */
static void
append_clause_cte(StringInfo sql, QueryParams *params, const MtClause *clause, Jsonb *condition,
				  const char *alias, TimestampTz as_of, int *within_param, int *last_param)
{
	appendStringInfo(sql,
					 "%s AS (SELECT e.user_id, pg_catalog.count(*) FILTER (WHERE e.occurred_at <= $1) AS n, "
					 "pg_catalog.min(e.occurred_at) FILTER (WHERE e.occurred_at <= $1) AS oldest, "
					 "pg_catalog.min(e.occurred_at) FILTER (WHERE e.occurred_at > $1) AS next_in "
					 "FROM microtrigger.events e WHERE pg_catalog.isfinite(e.occurred_at) AND ", alias);
	if (clause->n_event_types > 0)
		appendStringInfo(sql, "e.event_type = ANY ($%d)", add_param(params, TEXTARRAYOID, types_array(clause)));
	else
		appendStringInfoString(sql, "e.event_type NOT IN ('segment_enter', 'segment_exit')");
	*within_param = 0;
	*last_param = 0;
	if (clause->has_within)
	{
		*within_param = add_param(params, INTERVALOID, exact_interval(clause->within));
		*last_param = add_param(params, TIMESTAMPTZOID,
								TimestampTzGetDatum(END_TIMESTAMP - 1 - (clause->within + 1)));
		/* the window's start, computed here: as_of - within may be before the first timestamp */
		appendStringInfo(sql, " AND e.occurred_at >= $%d",
						 add_param(params, TIMESTAMPTZOID,
								   TimestampTzGetDatum(mt_time_add_saturated(as_of, -clause->within))));
	}
	if (condition != NULL && clause->condition != NULL && !mt_condition_is_empty(clause->condition))
		appendStringInfo(sql, " AND microtrigger.event_matches($%d, e)",
						 add_param(params, JSONBOID, JsonbPGetDatum(condition)));
	appendStringInfoString(sql, " GROUP BY e.user_id)");
}

/* SQL that is true when the clause's count (in CTE alias) passes every term. */
static void
append_count_test(StringInfo sql, const MtClause *clause, const char *alias)
{
	static const char *const ops[] = {"=", "<>", ">", ">=", "<", "<="};

	appendStringInfoChar(sql, '(');
	for (int i = 0; i < clause->n_count; i++)
		appendStringInfo(sql, "%scoalesce(%s.n, 0) %s " INT64_FORMAT, i > 0 ? " AND " : "",
						 alias, ops[clause->count[i].op], (int64) clause->count[i].value);
	if (clause->n_count == 0)
		appendStringInfoString(sql, "true");
	appendStringInfoChar(sql, ')');
}

/*
 * Builds the CTEs of a from-scratch computation at $1 (as_of) ending with
 * `fresh (user_id, member, changes_at)`, one row per user considered.
 */
static void
build_fresh_query(const MtSegment *segment, Jsonb *definition, TimestampTz as_of, StringInfo sql,
				  QueryParams *params)
{
	int			n_clauses = segment->n_include + segment->n_exclude;
	int		   *within = palloc0(sizeof(int) * Max(n_clauses, 1));
	int		   *last = palloc0(sizeof(int) * Max(n_clauses, 1));
	StringInfoData member;
	StringInfoData changes;
	int			n_changes = 0;

	initStringInfo(&member);
	initStringInfo(&changes);
	appendStringInfoString(sql, "WITH ");
	for (int c = 0; c < n_clauses; c++)
	{
		bool		is_include = c < segment->n_include;
		int			i = is_include ? c : c - segment->n_include;
		const MtClause *clause = is_include ? &segment->include[i] : &segment->exclude[i];
		char		alias[32];

		snprintf(alias, sizeof(alias), "%s%d", is_include ? "i" : "x", i);
		append_clause_cte(sql, params, clause,
						  clause_condition_json(definition, is_include ? "include" : "exclude", i),
						  alias, as_of, &within[c], &last[c]);
		appendStringInfoString(sql, ", ");

		appendStringInfoString(&member, member.len > 0 ? " AND " : "");
		if (!is_include)
			appendStringInfoString(&member, "NOT ");
		append_count_test(&member, clause, alias);

		if (within[c] > 0)
			appendStringInfo(&changes, "%sCASE WHEN %s.oldest <= $%d THEN %s.oldest + $%d + interval '1 microsecond' END",
							 n_changes++ > 0 ? ", " : "", alias, last[c], alias, within[c]);
		appendStringInfo(&changes, "%s%s.next_in", n_changes++ > 0 ? ", " : "", alias);
	}
	if (segment->profile != NULL)
	{
		JsonbValue *profile = object_field(&definition->root, "profile");

		appendStringInfo(&member, "%scoalesce(microtrigger.matches($%d, ct.attributes || "
						 "pg_catalog.jsonb_build_object('user_id', ct.user_id, 'email', ct.email, 'timezone', ct.timezone)), false)",
						 member.len > 0 ? " AND " : "",
						 add_param(params, JSONBOID, JsonbPGetDatum(JsonbValueToJsonb(profile))));
	}
	if (member.len == 0)
		appendStringInfoString(&member, "true");

	appendStringInfo(sql, "fresh AS MATERIALIZED (SELECT u.user_id, (%s) AS member, %s AS changes_at FROM ",
					 member.data, n_changes > 0 ? psprintf("LEAST(%s)", changes.data) : "NULL::timestamptz");
	if (segment->anchor >= 0)
		appendStringInfo(sql, "(SELECT user_id FROM i%d) u", segment->anchor);
	else
		appendStringInfoString(sql, "(SELECT user_id FROM microtrigger.contacts) u");
	for (int c = 0; c < n_clauses; c++)
	{
		bool		is_include = c < segment->n_include;
		int			i = is_include ? c : c - segment->n_include;

		appendStringInfo(sql, " LEFT JOIN %s%d ON %s%d.user_id = u.user_id",
						 is_include ? "i" : "x", i, is_include ? "i" : "x", i);
	}
	if (segment->profile != NULL)
		appendStringInfoString(sql, " LEFT JOIN microtrigger.contacts ct ON ct.user_id = u.user_id");
	appendStringInfoChar(sql, ')');
}

/* Reads and compiles a segment's stored definition; raises 42704 when there is no such segment. */
static MtSegment *
load_segment(const char *name, Jsonb **definition)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	MtError		err = {0};
	MtSegment  *segment;

	/* not read-only: a fresh snapshot, so the row an AFTER trigger was fired by is visible */
	if (SPI_execute_with_args("SELECT definition FROM microtrigger.segments WHERE name = $1",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not read microtrigger.segments")));
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("segment \"%s\" does not exist", name)));
	*definition = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	segment = mt_segment_compile_jsonb(name, *definition, &err);
	if (segment == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid segment \"%s\" at %s: %s", name, err.path, err.message)));
	return segment;
}

/*
 * Replaces the segment's membership and schedule with the from-scratch result at as_of, sets its
 * clock to as_of and returns the member count. With record_events, the differences are recorded
 * as segment_enter / segment_exit events at as_of. SPI must be connected.
 */
int
mt_segment_refresh(const char *name, TimestampTz as_of, bool record_events)
{
	Jsonb	   *definition;
	MtSegment  *segment = load_segment(name, &definition);
	StringInfoData sql;
	QueryParams params = {0};
	int			name_param;
	int			record_param;
	bool		isnull;
	int			members = 0;
	Oid			clock_types[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		clock_values[2];

	initStringInfo(&sql);
	add_param(&params, TIMESTAMPTZOID, TimestampTzGetDatum(as_of));
	build_fresh_query(segment, definition, as_of, &sql, &params);
	name_param = add_param(&params, TEXTOID, CStringGetTextDatum(name));
	record_param = add_param(&params, BOOLOID, BoolGetDatum(record_events));
	appendStringInfo(&sql,
					 ", gone AS (DELETE FROM microtrigger.segment_members m WHERE m.segment = $%1$d "
					 "  AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.member AND f.user_id = m.user_id) RETURNING m.user_id), "
					 "came AS (INSERT INTO microtrigger.segment_members (segment, user_id, entered_at) "
					 "  SELECT $%1$d, f.user_id, $1 FROM fresh f WHERE f.member AND NOT EXISTS "
					 "  (SELECT 1 FROM microtrigger.segment_members m WHERE m.segment = $%1$d AND m.user_id = f.user_id) "
					 "  RETURNING user_id), "
					 "unscheduled AS (DELETE FROM microtrigger.segment_schedule s WHERE s.segment = $%1$d "
					 "  AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.changes_at IS NOT NULL AND f.user_id = s.user_id)), "
					 "scheduled AS (INSERT INTO microtrigger.segment_schedule (segment, user_id, changes_at) "
					 "  SELECT $%1$d, f.user_id, f.changes_at FROM fresh f WHERE f.changes_at IS NOT NULL "
					 "  ON CONFLICT (segment, user_id) DO UPDATE SET changes_at = EXCLUDED.changes_at), "
					 "recorded AS (INSERT INTO microtrigger.events (user_id, event_type, occurred_at, params) "
					 "  SELECT x.user_id, x.event_type, $1, pg_catalog.jsonb_build_object('segment', $%1$d::text) FROM "
					 "  (SELECT user_id, 'segment_exit' AS event_type FROM gone "
					 "   UNION ALL SELECT user_id, 'segment_enter' FROM came) x "
					 "  WHERE $%2$d ORDER BY x.event_type DESC, x.user_id) "
					 "SELECT pg_catalog.count(*) FILTER (WHERE member)::int FROM fresh",
					 name_param, record_param);

	mt_segment_recording_events = true;
	PG_TRY();
	{
		if (SPI_execute_with_args(sql.data, params.n, params.types, params.values, NULL, false, 0) != SPI_OK_SELECT)
			ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not refresh segment \"%s\"", name)));
		members = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	PG_FINALLY();
	{
		mt_segment_recording_events = false;
	}
	PG_END_TRY();

	clock_values[0] = CStringGetTextDatum(name);
	clock_values[1] = TimestampTzGetDatum(as_of);
	if (SPI_execute_with_args("INSERT INTO microtrigger.segment_clock (segment, as_of) VALUES ($1, $2) "
							  "ON CONFLICT (segment) DO UPDATE SET as_of = EXCLUDED.as_of",
							  2, clock_types, clock_values, NULL, false, 0) != SPI_OK_INSERT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not set the clock of segment \"%s\"", name)));
	/* the kept per-user states (segment_state.h) held the old membership: rebuilt from the events */
	if (SPI_execute("UPDATE microtrigger.segment_state SET state = NULL, version = version + 1 "
					"WHERE state IS NOT NULL", false, 0) != SPI_OK_UPDATE)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not forget the kept segment states")));
	return members;
}

/* Refuses an as_of at ±infinity: membership is computed at a time on the timeline. */
static void
check_finite_as_of(const char *function, TimestampTz as_of)
{
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: as_of must be a finite timestamp, not %s", function,
							   as_of == DT_NOBEGIN ? "-infinity" : "infinity")));
}

/* SQL: refresh_segment(name text, as_of timestamptz DEFAULT now()) RETURNS integer. */
Datum
mt_refresh_segment_sql(PG_FUNCTION_ARGS)
{
	char	   *name;
	TimestampTz as_of;
	int			members;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a segment name is required")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	as_of = PG_ARGISNULL(1) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(1);
	check_finite_as_of("refresh_segment", as_of);
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	members = mt_segment_refresh(name, as_of, true);
	SPI_finish();
	PG_RETURN_INT32(members);
}

/*
 * SQL: segment_members_at(name text, as_of timestamptz) RETURNS SETOF text — who is a member at
 * as_of, computed from scratch, changing nothing (the oracle the tests compare against).
 */
Datum
mt_segment_members_at_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz as_of = PG_GETARG_TIMESTAMPTZ(1);
	Jsonb	   *definition;
	MtSegment  *segment;
	StringInfoData sql;
	QueryParams params = {0};

	check_finite_as_of("segment_members_at", as_of);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SPI_connect failed")));
	segment = load_segment(name, &definition);
	initStringInfo(&sql);
	add_param(&params, TIMESTAMPTZOID, TimestampTzGetDatum(as_of));
	build_fresh_query(segment, definition, as_of, &sql, &params);
	appendStringInfoString(&sql, " SELECT user_id FROM fresh WHERE member ORDER BY user_id COLLATE \"C\"");
	if (SPI_execute_with_args(sql.data, params.n, params.types, params.values, NULL, true, 0) != SPI_OK_SELECT)
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not compute segment \"%s\"", name)));
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1, &isnull);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	SPI_finish();
	return (Datum) 0;
}
