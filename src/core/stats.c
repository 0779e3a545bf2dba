/*
 * stats.c: the statistics of experiment_results() (see stats.h and docs/experiments.md). Every
 * figure is checked against scipy / statsmodels to 1e-9 relative by test/unit/stats_unit.c.
 */
#include "stats.h"

#include <math.h>

/* Iteration limits and the relative tolerance of the incomplete gamma's series and fraction. */
#define GAMMA_EPS 1e-16
#define GAMMA_MAXIT 1000000
#define GAMMA_TINY 1e-300

/* P(Z <= x) for a standard normal Z. */
double
mt_norm_cdf(double x)
{
	return 0.5 * erfc(-x * M_SQRT1_2);
}

/* P(Z > x) for a standard normal Z; erfc keeps its relative accuracy far into the tail. */
double
mt_norm_sf(double x)
{
	return 0.5 * erfc(x * M_SQRT1_2);
}

/*
 * The standard normal quantile: Wichura's algorithm AS 241 (PPND16), about 1e-16 relative.
 * p outside (0, 1) gives -inf, +inf or NaN.
 */
double
mt_norm_quantile(double p)
{
	double		q = p - 0.5;
	double		r;
	double		val;

	if (isnan(p) || p < 0.0 || p > 1.0)
		return NAN;
	if (p == 0.0)
		return -INFINITY;
	if (p == 1.0)
		return INFINITY;
	if (fabs(q) <= 0.425)
	{
		r = 0.180625 - q * q;
		return q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r
						 + 45921.953931549871457) * r + 13731.693765509461125) * r + 1971.5909503065514427) * r
					 + 133.14166789178437745) * r + 3.387132872796366608)
			/ (((((((r * 5226.495278852545925 + 28729.085735721942674) * r + 39307.89580009271061) * r
				   + 21213.794301586595867) * r + 5394.1960214247511077) * r + 687.1870074920579083) * r
				+ 42.313330701600911252) * r + 1.0);
	}
	r = q < 0 ? p : 1.0 - p;
	r = sqrt(-log(r));
	if (r <= 5.0)
	{
		r -= 1.6;
		val = (((((((r * 7.7454501427834140764e-4 + .0227238449892691845833) * r + .24178072517745061177) * r
				   + 1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r
				+ 4.6303378461565452959) * r + 1.42343711074968357734)
			/ (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + .0151986665636164571966) * r
				   + .14810397642748007459) * r + .68976733498510000455) * r + 1.6763848301838038494) * r
				+ 2.05319162663775882187) * r + 1.0);
	}
	else
	{
		r -= 5.0;
		val = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + .0012426609473880784386) * r
				   + .026532189526576123093) * r + .29656057182850489123) * r + 1.7848265399172913358) * r
				+ 5.4637849111641143699) * r + 6.6579046435011037772)
			/ (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r
				   + 7.868691311456132591e-4) * r + .0148753612908506148525) * r + .13692988092273580531) * r
				+ .59983220655588793769) * r + 1.0);
	}
	return q < 0.0 ? -val : val;
}

/* The two-sided 95% critical value (1.959963984540054...). */
double
mt_z95(void)
{
	return mt_norm_quantile(0.975);
}

/* exp(-x + a log x - lgamma(a)): the factor both expansions of the incomplete gamma share. */
static double
gamma_prefactor(double a, double x)
{
	return exp(-x + a * log(x) - lgamma(a));
}

/* The lower regularized incomplete gamma P(a, x) by its power series (used for x < a + 1). */
static double
gamma_p_series(double a, double x)
{
	double		ap = a;
	double		del = 1.0 / a;
	double		sum = del;

	for (int i = 0; i < GAMMA_MAXIT; i++)
	{
		ap += 1.0;
		del *= x / ap;
		sum += del;
		if (fabs(del) < fabs(sum) * GAMMA_EPS)
			break;
	}
	return sum * gamma_prefactor(a, x);
}

/* The upper regularized incomplete gamma Q(a, x) by its continued fraction (modified Lentz; x >= a + 1). */
static double
gamma_q_fraction(double a, double x)
{
	double		b = x + 1.0 - a;
	double		c = 1.0 / GAMMA_TINY;
	double		d = 1.0 / b;
	double		h = d;

	for (int i = 1; i < GAMMA_MAXIT; i++)
	{
		double		an = -i * (i - a);
		double		del;

		b += 2.0;
		d = an * d + b;
		if (fabs(d) < GAMMA_TINY)
			d = GAMMA_TINY;
		c = b + an / c;
		if (fabs(c) < GAMMA_TINY)
			c = GAMMA_TINY;
		d = 1.0 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1.0) < GAMMA_EPS)
			break;
	}
	return gamma_prefactor(a, x) * h;
}

/* Q(a, x) = 1 - P(a, x): the series below a + 1, the continued fraction above (Numerical Recipes 6.2). */
double
mt_gamma_q(double a, double x)
{
	double		q;

	if (isnan(a) || isnan(x) || a <= 0.0 || x < 0.0)
		return NAN;
	if (x == 0.0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	if (x < a + 1.0)
		q = 1.0 - gamma_p_series(a, x);
	else
		q = gamma_q_fraction(a, x);
	return q < 0.0 ? 0.0 : (q > 1.0 ? 1.0 : q);
}

/* P(X > x) for X chi-square with dof degrees of freedom: Q(dof / 2, x / 2). */
double
mt_chi2_sf(double x, double dof)
{
	if (x <= 0.0)
		return 1.0;
	return mt_gamma_q(dof / 2.0, x / 2.0);
}

/*
 * Wilson's score interval: (p + z^2/2n) / (1 + z^2/n) +- z / (1 + z^2/n) sqrt(p(1-p)/n + z^2/4n^2),
 * in statsmodels' order of operations; exactly 0 below x = 0 and 1 above x = n.
 */
bool
mt_wilson(int64_t x, int64_t n, double z, double *low, double *high)
{
	double		nn = (double) n;
	double		q;
	double		z2 = z * z;
	double		denom;
	double		center;
	double		dist;

	if (n <= 0 || x < 0 || x > n)
		return false;
	q = (double) x / nn;
	denom = 1.0 + z2 / nn;
	center = (q + z2 / (2.0 * nn)) / denom;
	dist = z * sqrt(q * (1.0 - q) / nn + z2 / (4.0 * nn * nn)) / denom;
	*low = x == 0 ? 0.0 : center - dist;
	*high = x == n ? 1.0 : center + dist;
	return true;
}

/* p_t / p_c - 1. */
bool
mt_lift(int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double *lift)
{
	if (n_t <= 0 || n_c <= 0 || x_c <= 0)
		return false;
	*lift = ((double) x_t / (double) n_t) / ((double) x_c / (double) n_c) - 1.0;
	return true;
}

/* The Katz log-ratio interval of the risk ratio, shifted by -1 to be an interval of the lift. */
bool
mt_lift_ci(int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double z, double *low, double *high)
{
	double		ratio;
	double		var;
	double		d_log;

	if (n_t <= 0 || n_c <= 0 || x_t <= 0 || x_c <= 0)
		return false;
	ratio = ((double) x_t / (double) n_t) / ((double) x_c / (double) n_c);
	var = 1.0 / (double) x_t - 1.0 / (double) n_t + 1.0 / (double) x_c - 1.0 / (double) n_c;
	d_log = z * sqrt(var);
	*low = exp(log(ratio) - d_log) - 1.0;
	*high = exp(log(ratio) + d_log) - 1.0;
	return true;
}

/* z = (p_t - p_c) / sqrt(pbar (1 - pbar) (1/n_t + 1/n_c)); p = 2 P(Z > |z|). */
bool
mt_ztest(int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double *z, double *p)
{
	double		pooled;
	double		var;
	double		stat;

	if (n_t <= 0 || n_c <= 0)
		return false;
	pooled = (double) (x_t + x_c) / (double) (n_t + n_c);
	var = pooled * (1.0 - pooled) * (1.0 / (double) n_t + 1.0 / (double) n_c);
	if (!(var > 0.0))
		return false;
	stat = ((double) x_t / (double) n_t - (double) x_c / (double) n_c) / sqrt(var);
	if (z)
		*z = stat;
	*p = 2.0 * mt_norm_sf(fabs(stat));
	return true;
}

/*
 * Holm: sort the m valid p-values ascending (ties by position), multiply the j-th (from 0) by
 * m - j, take the running maximum, cap at 1. O(k^2) without memory: k is a number of arms.
 */
void
mt_holm(const double *p, const bool *valid, int k, double *out)
{
	int			m = 0;

	for (int i = 0; i < k; i++)
		m += valid[i] ? 1 : 0;
	for (int i = 0; i < k; i++)
	{
		int			rank_i = 0;
		double		adj = 0.0;

		if (!valid[i])
			continue;
		for (int j = 0; j < k; j++)
			if (valid[j] && (p[j] < p[i] || (p[j] == p[i] && j < i)))
				rank_i++;
		for (int j = 0; j < k; j++)
		{
			int			rank_j = 0;
			double		scaled;

			if (!valid[j])
				continue;
			for (int l = 0; l < k; l++)
				if (valid[l] && (p[l] < p[j] || (p[l] == p[j] && l < j)))
					rank_j++;
			if (rank_j > rank_i)
				continue;
			scaled = (double) (m - rank_j) * p[j];
			if (scaled > adj)
				adj = scaled;
		}
		out[i] = adj > 1.0 ? 1.0 : adj;
	}
}

/* Pearson's statistic over the arms with users: sum (O - E)^2 / E, E = row total * column total / N. */
bool
mt_chi2_independence(const int64_t *x, const int64_t *n, int k, double *stat, int *dof, double *p)
{
	double		total = 0.0;
	double		succ = 0.0;
	double		fail;
	double		sum = 0.0;
	int			rows = 0;

	for (int i = 0; i < k; i++)
	{
		if (n[i] <= 0)
			continue;
		rows++;
		total += (double) n[i];
		succ += (double) x[i];
	}
	fail = total - succ;
	if (rows < 2 || succ <= 0.0 || fail <= 0.0)
		return false;
	for (int i = 0; i < k; i++)
	{
		double		e_s;
		double		e_f;
		double		o_s;
		double		o_f;

		if (n[i] <= 0)
			continue;
		e_s = (double) n[i] * succ / total;
		e_f = (double) n[i] * fail / total;
		o_s = (double) x[i];
		o_f = (double) (n[i] - x[i]);
		sum += (o_s - e_s) * (o_s - e_s) / e_s + (o_f - e_f) * (o_f - e_f) / e_f;
	}
	*stat = sum;
	*dof = rows - 1;
	*p = mt_chi2_sf(sum, (double) (rows - 1));
	return true;
}

/* min(1, 1 / Lambda) for one look, computed through log Lambda so that huge counts cannot overflow. */
double
mt_msprt_look(int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double tau2)
{
	double		pt;
	double		pc;
	double		theta;
	double		v;
	double		log_lambda;

	if (n_t <= 0 || n_c <= 0 || !(tau2 > 0.0))
		return 1.0;
	pt = (double) x_t / (double) n_t;
	pc = (double) x_c / (double) n_c;
	theta = pt - pc;
	v = pt * (1.0 - pt) / (double) n_t + pc * (1.0 - pc) / (double) n_c;
	if (!(v > 0.0))
		return 1.0;
	log_lambda = 0.5 * log(v / (v + tau2)) + tau2 * theta * theta / (2.0 * v * (v + tau2));
	return log_lambda <= 0.0 ? 1.0 : exp(-log_lambda);
}

/* No look yet: the always-valid p-value is 1. */
void
mt_always_valid_init(MtAlwaysValid *av)
{
	av->p = 1.0;
}

/* One more look: the running minimum of the looks' p-values, so it never increases. */
double
mt_always_valid_look(MtAlwaysValid *av, int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double tau2)
{
	double		p = mt_msprt_look(x_t, n_t, x_c, n_c, tau2);

	if (p < av->p)
		av->p = p;
	return av->p;
}
