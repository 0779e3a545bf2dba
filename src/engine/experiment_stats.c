/*
 * experiment_stats.c: experiment_results(experiment, metric), the statistics of one experiment
 * per arm, computed by src/core/stats.c from assignments, outbox, conversions and the engagement
 * events. What each column means, the control and the looks of the always-valid p-value:
 * docs/experiments.md.
 *
 * Two queries, both read-only under the caller's snapshot: the arms (users, emails, revenue), and
 * the timeline of the experiment, one row per assignment and per user's first success, in time
 * order, read through a cursor. Every distinct moment of the timeline is a look of the always-valid
 * test; its p-value is the running minimum over the looks, so data that arrives later (with later
 * timestamps) can only lower it.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "microtrigger.h"
#include "spi_util.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(mt_experiment_results_sql);

/* The columns of experiment_results(), in order. */
enum
{
	COL_ARM, COL_USERS, COL_SENT, COL_SUCCESSES, COL_RATE, COL_CI_LOW, COL_CI_HIGH, COL_LIFT,
	COL_LIFT_CI_LOW, COL_LIFT_CI_HIGH, COL_P_VALUE, COL_P_HOLM, COL_CHI2_P, COL_ALWAYS_VALID_P,
	COL_REVENUE, N_COLS
};

/* The arm named so is the control when there is one (the users held out of the email). */
#define HOLDOUT_ARM "holdout"
/* Timeline rows fetched per cursor batch. */
#define TIMELINE_BATCH 10000

/* One arm: its counts, and the running counts and always-valid state along the timeline. */
typedef struct ArmStats
{
	char	   *name;
	int64		users;
	int64		sent;
	Datum		revenue;
	int64		seen_users;		/* along the timeline: users assigned so far */
	int64		seen_successes; /* ... and of them, users with a success so far */
	MtAlwaysValid av;
} ArmStats;

/*
 * The arms in arm-name order (C collation): users assigned, emails queued or sent (not cancelled,
 * not dead), revenue of the arm's conversions.
 */
static const char *const ARMS_SQL =
"SELECT a.arm, pg_catalog.count(*) AS users,"
" (SELECT pg_catalog.count(*) FROM microtrigger.outbox o"
"  JOIN microtrigger.assignments b ON b.experiment = o.experiment AND b.user_id = o.user_id"
"  WHERE o.experiment = $1 AND b.arm = a.arm"
"  AND o.status IN ('queued', 'sending', 'sent', 'failed')) AS sent,"
" (SELECT COALESCE(pg_catalog.sum(c.revenue), 0) FROM microtrigger.conversions c"
"  JOIN microtrigger.assignments b ON b.experiment = c.experiment AND b.user_id = c.user_id"
"  WHERE c.experiment = $1 AND b.arm = a.arm) AS revenue"
" FROM microtrigger.assignments a WHERE a.experiment = $1"
" GROUP BY a.arm ORDER BY a.arm COLLATE \"C\"";

/*
 * The timeline: (arm number from 1 in the order above, time, is a success) for each assignment and
 * each user's first success (not before the assignment), ordered by time. The first successes come
 * from the SUCCESSES_* subquery of the metric.
 */
#define TIMELINE_SQL(successes) \
"WITH s AS (" successes ")," \
" u AS (SELECT pg_catalog.dense_rank() OVER (ORDER BY a.arm COLLATE \"C\") AS k, a.assigned_at," \
"  CASE WHEN s.first_at IS NULL THEN NULL ELSE GREATEST(s.first_at, a.assigned_at) END AS success_at" \
"  FROM microtrigger.assignments a LEFT JOIN s ON s.user_id = a.user_id WHERE a.experiment = $1)" \
" SELECT k, t, success FROM (SELECT k, assigned_at AS t, false AS success FROM u" \
"  UNION ALL SELECT k, success_at, true FROM u WHERE success_at IS NOT NULL) ev ORDER BY t"

/* metric conversion: a user's first conversion attributed in the experiment ($2 unused). */
static const char *const TIMELINE_CONVERSION_SQL = TIMELINE_SQL(
"SELECT c.user_id, pg_catalog.min(c.converted_at) AS first_at FROM microtrigger.conversions c"
" WHERE c.experiment = $1 AND $2 IS NOT NULL GROUP BY c.user_id");

/* metric click / open: a user's first event of type $2 naming (params outbox_id) an email of the experiment. */
static const char *const TIMELINE_ENGAGEMENT_SQL = TIMELINE_SQL(
"SELECT o.user_id, pg_catalog.min(e.occurred_at) AS first_at FROM microtrigger.outbox o"
" JOIN microtrigger.events e ON e.user_id = o.user_id AND e.event_type = $2"
" AND e.params ->> 'outbox_id' = o.id::text"
" WHERE o.experiment = $1 GROUP BY o.user_id");

static SPIPlanPtr arms_plan;
static SPIPlanPtr conversion_plan;
static SPIPlanPtr engagement_plan;

/* Reads the arms of the experiment (palloc'd in the SPI context); *count gets how many. */
static ArmStats *
load_arms(const char *experiment, int *count)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(experiment)};
	SPIPlanPtr	plan = mt_kept_plan(&arms_plan, ARMS_SQL, 1, types);
	ArmStats   *arms;

	mt_execute_plan(plan, values, NULL, true, 0, SPI_OK_SELECT);
	*count = (int) SPI_processed;
	if (SPI_processed == 0)
		return NULL;
	arms = palloc0(sizeof(ArmStats) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		arms[i].name = mt_spi_text(i, 1);
		arms[i].users = DatumGetInt64(mt_spi_datum(i, 2, &isnull));
		arms[i].sent = DatumGetInt64(mt_spi_datum(i, 3, &isnull));
		arms[i].revenue = datumCopy(mt_spi_datum(i, 4, &isnull), false, -1);
		mt_always_valid_init(&arms[i].av);
	}
	return arms;
}

/* One look of the always-valid test: every arm but the control against the control, as counted so far. */
static void
look(ArmStats *arms, int narms, int control)
{
	for (int j = 0; j < narms; j++)
		if (j != control)
			mt_always_valid_look(&arms[j].av, arms[j].seen_successes, arms[j].seen_users,
								 arms[control].seen_successes, arms[control].seen_users, MT_MSPRT_TAU2);
}

/*
 * Walks the timeline of the metric's successes: counts each arm's users and successes, and looks
 * once per distinct moment, after every row of that moment is counted.
 */
static void
walk_timeline(const char *experiment, const char *event_type, ArmStats *arms, int narms, int control)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(experiment), CStringGetTextDatum(event_type)};
	SPIPlanPtr	plan = strcmp(event_type, "conversion") == 0
		? mt_kept_plan(&conversion_plan, TIMELINE_CONVERSION_SQL, 2, types)
		: mt_kept_plan(&engagement_plan, TIMELINE_ENGAGEMENT_SQL, 2, types);
	Portal		portal = SPI_cursor_open(NULL, plan, values, NULL, true);
	bool		have = false;
	TimestampTz moment = 0;

	if (portal == NULL)
		mt_spi_failed("open the timeline of an experiment", SPI_result);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, TIMELINE_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int64		k = DatumGetInt64(mt_spi_datum(i, 1, &isnull));
			TimestampTz t = DatumGetTimestampTz(mt_spi_datum(i, 2, &isnull));
			bool		success = DatumGetBool(mt_spi_datum(i, 3, &isnull));

			if (k < 1 || k > narms)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("experiment_results: arm %lld of experiment \"%s\" is not one of its %d arms",
								(long long) k, experiment, narms)));
			if (have && t != moment)
				look(arms, narms, control);
			have = true;
			moment = t;
			if (success)
				arms[k - 1].seen_successes++;
			else
				arms[k - 1].seen_users++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	if (have)
		look(arms, narms, control);
	SPI_cursor_close(portal);
}

/* A float8 column, or NULL when the figure is undefined. */
static void
set_float(Datum *values, bool *nulls, int col, bool defined, double v)
{
	values[col] = Float8GetDatum(defined ? v : 0.0);
	nulls[col] = !defined;
}

/* Computes every figure and writes one row per arm, the control first, the others in name order. */
static void
emit_rows(ReturnSetInfo *rsinfo, ArmStats *arms, int narms, int control)
{
	double		z = mt_z95();
	int64	   *x = palloc(sizeof(int64) * narms);
	int64	   *n = palloc(sizeof(int64) * narms);
	double	   *p = palloc0(sizeof(double) * narms);
	bool	   *p_ok = palloc0(sizeof(bool) * narms);
	double	   *holm = palloc0(sizeof(double) * narms);
	double		chi2_stat = 0.0;
	double		chi2_p = 0.0;
	int			chi2_dof = 0;
	bool		chi2_ok;

	for (int j = 0; j < narms; j++)
	{
		x[j] = arms[j].seen_successes;
		n[j] = arms[j].users;
	}
	chi2_ok = mt_chi2_independence((const int64_t *) x, (const int64_t *) n, narms, &chi2_stat, &chi2_dof, &chi2_p);
	for (int j = 0; j < narms; j++)
		if (j != control)
			p_ok[j] = mt_ztest(x[j], n[j], x[control], n[control], NULL, &p[j]);
	mt_holm(p, p_ok, narms, holm);

	for (int pass = 0; pass < 2; pass++)
		for (int j = 0; j < narms; j++)
		{
			Datum		values[N_COLS];
			bool		nulls[N_COLS];
			double		lo = 0.0, hi = 0.0, lift = 0.0;
			bool		treated = j != control;
			bool		ok;

			if ((pass == 0) != (j == control))
				continue;
			memset(nulls, false, sizeof nulls);
			values[COL_ARM] = CStringGetTextDatum(arms[j].name);
			values[COL_USERS] = Int64GetDatum(arms[j].users);
			values[COL_SENT] = Int64GetDatum(arms[j].sent);
			values[COL_SUCCESSES] = Int64GetDatum(x[j]);
			set_float(values, nulls, COL_RATE, n[j] > 0, n[j] > 0 ? (double) x[j] / (double) n[j] : 0.0);
			ok = mt_wilson(x[j], n[j], z, &lo, &hi);
			set_float(values, nulls, COL_CI_LOW, ok, lo);
			set_float(values, nulls, COL_CI_HIGH, ok, hi);
			ok = treated && mt_lift(x[j], n[j], x[control], n[control], &lift);
			set_float(values, nulls, COL_LIFT, ok, lift);
			ok = treated && mt_lift_ci(x[j], n[j], x[control], n[control], z, &lo, &hi);
			set_float(values, nulls, COL_LIFT_CI_LOW, ok, lo);
			set_float(values, nulls, COL_LIFT_CI_HIGH, ok, hi);
			set_float(values, nulls, COL_P_VALUE, p_ok[j], p[j]);
			set_float(values, nulls, COL_P_HOLM, p_ok[j], holm[j]);
			set_float(values, nulls, COL_CHI2_P, chi2_ok, chi2_p);
			set_float(values, nulls, COL_ALWAYS_VALID_P, treated, arms[j].av.p);
			values[COL_REVENUE] = arms[j].revenue;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
}

/*
 * SQL: experiment_results(experiment text, metric text DEFAULT 'conversion') RETURNS TABLE (...):
 * one row per arm. 22023 for a NULL argument, an unknown metric or an experiment with no
 * assignments.
 */
Datum
mt_experiment_results_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *experiment;
	char	   *metric;
	const char *event_type;
	ArmStats   *arms;
	int			narms;
	int			control = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("experiment_results: %s must not be null", PG_ARGISNULL(0) ? "experiment" : "metric")));
	experiment = text_to_cstring(PG_GETARG_TEXT_PP(0));
	metric = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(metric, "conversion") == 0)
		event_type = "conversion";
	else if (strcmp(metric, "click") == 0)
		event_type = "email_click";
	else if (strcmp(metric, "open") == 0)
		event_type = "email_open";
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("experiment_results: unknown metric \"%s\" for experiment \"%s\"", metric, experiment),
				 errhint("The metric is conversion, click or open.")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		mt_spi_failed("connect to SPI", SPI_ERROR_CONNECT);
	arms = load_arms(experiment, &narms);
	if (narms == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("experiment_results: unknown experiment \"%s\": no user is assigned to it", experiment)));
	for (int j = 0; j < narms; j++)
		if (strcmp(arms[j].name, HOLDOUT_ARM) == 0)
			control = j;
	walk_timeline(experiment, event_type, arms, narms, control);
	emit_rows(rsinfo, arms, narms, control);
	SPI_finish();
	return (Datum) 0;
}
