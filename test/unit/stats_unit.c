/*
 * stats_unit.c: unit tests of src/core/stats.c alone (no PostgreSQL). Every figure is compared
 * with the reference values of scipy / statsmodels written by test/unit/gen_stats_cases.py
 * (format in its docstring) to 1e-9 relative; a figure that is 0 in exact arithmetic (a Wilson
 * bound at x = 0 or x = n) must be exactly 0 (or 1) here, where statsmodels' rounding leaves at most
 * 1e-15. Then properties no reference file gives: the always-valid p-value never increases.
 * Usage: stats_unit.bin [CASES_FILE] (default test/unit/stats_cases.txt); prints
 * "stats-unit: N passed, M failed".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "unit_check.h"

#define REL_TOL 1e-9
#define MAX_FIELDS 4096

static char *fields[MAX_FIELDS];
static int	nfields;
static int	lineno;

/* Whether got matches the reference want: both NaN, equal, or within REL_TOL relative. */
static int
close_to(double got, double want)
{
	if (isnan(want) || isnan(got))
		return isnan(want) && isnan(got);
	if (got == want)
		return 1;
	return fabs(got - want) <= REL_TOL * fabs(want);
}

/* Checks one figure of the current line and prints both values when it fails. */
static void
check_figure(const char *what, double got, double want)
{
	char		detail[256];

	snprintf(detail, sizeof detail, "line %d: got %.17g, want %.17g", lineno, got, want);
	check(close_to(got, want), what, detail);
}

/* A Wilson bound that is exact (0 at x = 0, 1 at x = n): ours exact, the reference within 1e-15. */
static void
check_exact_bound(const char *what, double got, double exact, double want)
{
	char		detail[256];

	snprintf(detail, sizeof detail, "line %d: got %.17g, exact %.17g, reference %.17g", lineno, got, exact, want);
	check(got == exact && fabs(want - exact) <= 1e-15, what, detail);
}

/* Field i as a double ("nan" reads as NaN) and as an integer count. */
static double
num(int i)
{
	return strtod(fields[i], NULL);
}

/* Field i as an integer count. */
static int64_t
cnt(int i)
{
	return strtoll(fields[i], NULL, 10);
}

/* A result that is NaN when undefined: what the C functions' false return means. */
static double
or_nan(int ok, double v)
{
	return ok ? v : NAN;
}

/* One line of the reference file. */
static void
run_case(void)
{
	const char *kind = fields[0];
	double		z = mt_z95();

	if (strcmp(kind, "quantile") == 0)
		check_figure("norm quantile", mt_norm_quantile(num(1)), num(2));
	else if (strcmp(kind, "cdf") == 0)
		check_figure("norm cdf", mt_norm_cdf(num(1)), num(2));
	else if (strcmp(kind, "sf") == 0)
		check_figure("norm sf", mt_norm_sf(num(1)), num(2));
	else if (strcmp(kind, "gammaq") == 0)
		check_figure("gamma Q", mt_gamma_q(num(1), num(2)), num(3));
	else if (strcmp(kind, "wilson") == 0)
	{
		double		lo = 0, hi = 0;
		int64_t		x = cnt(1), n = cnt(2);
		int			ok = mt_wilson(x, n, z, &lo, &hi);

		if (ok && x == 0)
			check_exact_bound("wilson low at x = 0", lo, 0.0, num(3));
		else
			check_figure("wilson low", or_nan(ok, lo), num(3));
		if (ok && x == n)
			check_exact_bound("wilson high at x = n", hi, 1.0, num(4));
		else
			check_figure("wilson high", or_nan(ok, hi), num(4));
	}
	else if (strcmp(kind, "lift") == 0)
	{
		double		lift = 0, lo = 0, hi = 0;
		int			ok = mt_lift(cnt(1), cnt(2), cnt(3), cnt(4), &lift);
		int			ok_ci = mt_lift_ci(cnt(1), cnt(2), cnt(3), cnt(4), z, &lo, &hi);

		check_figure("lift", or_nan(ok, lift), num(5));
		check_figure("lift ci low", or_nan(ok_ci, lo), num(6));
		check_figure("lift ci high", or_nan(ok_ci, hi), num(7));
	}
	else if (strcmp(kind, "ztest") == 0)
	{
		double		zs = 0, p = 0;
		int			ok = mt_ztest(cnt(1), cnt(2), cnt(3), cnt(4), &zs, &p);

		check_figure("z statistic", or_nan(ok, zs), num(5));
		check_figure("z-test p", or_nan(ok, p), num(6));
	}
	else if (strcmp(kind, "holm") == 0)
	{
		int			k = (int) cnt(1);
		double		p[64], adj[64];
		bool		valid[64];

		for (int i = 0; i < k; i++)
		{
			p[i] = num(2 + i);
			valid[i] = true;
		}
		mt_holm(p, valid, k, adj);
		for (int i = 0; i < k; i++)
			check_figure("holm", adj[i], num(2 + k + i));
	}
	else if (strcmp(kind, "chi2") == 0)
	{
		int			k = (int) cnt(1);
		int64_t		x[64], n[64];
		double		stat = 0, p = 0;
		int			dof = 0;
		int			ok;

		for (int i = 0; i < k; i++)
		{
			x[i] = cnt(2 + 2 * i);
			n[i] = cnt(3 + 2 * i);
		}
		ok = mt_chi2_independence(x, n, k, &stat, &dof, &p);
		check_figure("chi2 statistic", or_nan(ok, stat), num(2 + 2 * k));
		check(!ok || dof == (int) cnt(3 + 2 * k), "chi2 dof", NULL);
		check_figure("chi2 p", or_nan(ok, p), num(4 + 2 * k));
	}
	else if (strcmp(kind, "msprt") == 0)
		check_figure("msprt look", mt_msprt_look(cnt(1), cnt(2), cnt(3), cnt(4), num(5)), num(6));
	else if (strcmp(kind, "avseq") == 0)
	{
		double		tau2 = num(1);
		int			looks = (int) cnt(2);
		MtAlwaysValid av;

		mt_always_valid_init(&av);
		for (int i = 0; i < looks; i++)
		{
			int			b = 3 + 5 * i;
			double		before = av.p;
			double		now = mt_always_valid_look(&av, cnt(b), cnt(b + 1), cnt(b + 2), cnt(b + 3), tau2);

			check_figure("always-valid running minimum", now, num(b + 4));
			check(now <= before, "always-valid p never increases", NULL);
		}
	}
	else
		check(0, "known case kind", fields[0]);
}

/* Properties: quantile inverts the CDF; Holm ignores invalid entries; the running minimum over a long A/B. */
static void
run_properties(void)
{
	double		p[3] = {0.02, NAN, 0.04};
	bool		valid[3] = {true, false, true};
	double		adj[3] = {-1, -1, -1};
	MtAlwaysValid av;
	uint64_t	s = 88172645463325252ULL;
	int64_t		xt = 0, nt = 0, xc = 0, nc = 0;
	int			monotone = 1;
	double		last = 1.0;

	for (double q = 1e-12; q < 1.0; q = q * 3.0 + 1e-9)
		check(fabs(mt_norm_cdf(mt_norm_quantile(q)) - q) <= 1e-13 * q + 1e-16, "cdf(quantile(q)) == q", NULL);
	check(fabs(mt_z95() - 1.959963984540054) < 1e-15, "z95", NULL);
	mt_holm(p, valid, 3, adj);
	check(adj[0] == 0.04 && adj[1] == -1 && adj[2] == 0.04, "holm skips invalid p-values (m = 2)", NULL);

	/* 200,000 users per arm at 10% vs 11%: the running minimum is checked after every user */
	mt_always_valid_init(&av);
	for (int i = 0; i < 200000; i++)
	{
		double		now;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		nt++;
		xt += (s % 1000) < 110;
		nc++;
		xc += ((s >> 20) % 1000) < 100;
		now = mt_always_valid_look(&av, xt, nt, xc, nc, MT_MSPRT_TAU2);
		if (now > last || now < 0.0 || now > 1.0)
			monotone = 0;
		last = now;
	}
	check(monotone, "always-valid p stays in [0, 1] and never increases over 200,000 looks", NULL);
	check(last < 0.05, "always-valid p detects 10% vs 11% within 200,000 users per arm", NULL);
	check(mt_msprt_look(0, 0, 0, 0, MT_MSPRT_TAU2) == 1.0, "msprt: empty arms give 1", NULL);
}

/* Reads the reference file, runs every case, then the properties. */
int
main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "test/unit/stats_cases.txt";
	FILE	   *in = fopen(path, "r");
	static char line[1 << 16];
	int			cases = 0;

	if (!in)
	{
		printf("FAIL: cannot open %s\nstats-unit: 0 passed, 1 failed\n", path);
		return 1;
	}
	while (fgets(line, sizeof line, in))
	{
		char	   *save = NULL;

		lineno++;
		nfields = 0;
		for (char *tok = strtok_r(line, " \n", &save); tok && nfields < MAX_FIELDS; tok = strtok_r(NULL, " \n", &save))
			fields[nfields++] = tok;
		if (nfields == 0)
			continue;
		run_case();
		cases++;
	}
	fclose(in);
	check(cases > 500, "the reference file has its cases", path);
	run_properties();
	printf("stats-unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
