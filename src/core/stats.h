/*
 * stats.h: the statistics of experiment_results(), without PostgreSQL, so each figure can be
 * checked alone against scipy / statsmodels (test/unit/stats_unit.c). Pure functions of counts;
 * no allocation. Formulas and their references: docs/experiments.md.
 *
 * Conventions: x successes out of n users (0 <= x <= n); "t" is a treatment arm, "c" the control.
 * A function that returns bool returns false when the figure is undefined for those counts (the
 * SQL result is then NULL) and leaves its outputs untouched.
 */
#ifndef MT_STATS_H
#define MT_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* The mixing variance tau^2 of the always-valid test: the prior N(0, tau^2) on p_t - p_c, tau = 0.02. */
#define MT_MSPRT_TAU2 4e-4

/* The standard normal distribution: CDF, upper tail 1 - CDF (accurate far out), quantile. */
extern double mt_norm_cdf(double x);
extern double mt_norm_sf(double x);
extern double mt_norm_quantile(double p);

/* The two-sided 95% critical value, mt_norm_quantile(0.975). */
extern double mt_z95(void);

/* The regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a); a > 0, x >= 0. */
extern double mt_gamma_q(double a, double x);

/* The chi-square distribution's upper tail P(X > x) with dof degrees of freedom (dof > 0). */
extern double mt_chi2_sf(double x, double dof);

/* Wilson score interval for x of n at critical value z; false when n == 0. */
extern bool mt_wilson(int64_t x, int64_t n, double z, double *low, double *high);

/* Relative lift p_t / p_c - 1; false when n_t or n_c is 0 or p_c is 0. */
extern bool mt_lift(int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double *lift);

/*
 * The interval of the lift by the delta method on the log of the ratio (Katz):
 * exp(log(p_t / p_c) +- z sqrt(1/x_t - 1/n_t + 1/x_c - 1/n_c)) - 1; false when x_t or x_c is 0.
 */
extern bool mt_lift_ci(int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double z, double *low, double *high);

/*
 * The two-sided pooled two-proportion z-test; *z gets the statistic (may be NULL). False when an
 * arm is empty or the pooled rate is 0 or 1 (no variance: the test is undefined).
 */
extern bool mt_ztest(int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double *z, double *p);

/*
 * Holm's step-down adjustment of the k p-values p[i] with valid[i] true (the others are ignored,
 * and out[i] is left untouched for them); m is the number of valid ones.
 */
extern void mt_holm(const double *p, const bool *valid, int k, double *out);

/*
 * The chi-square test of independence of arm and success over the k arms with n[i] > 0 (a
 * k' x 2 table, no continuity correction). False when fewer than two arms have users, or no
 * arm has a success, or every user succeeded (an expected count is 0).
 */
extern bool mt_chi2_independence(const int64_t *x, const int64_t *n, int k, double *stat, int *dof, double *p);

/*
 * One look of the mixture SPRT for p_t - p_c = 0 (Johari, Pekelis, Walsh): the p-value of that
 * look alone, min(1, 1 / Lambda), where with theta = p_t - p_c,
 * V = p_t (1 - p_t) / n_t + p_c (1 - p_c) / n_c and the mixing variance tau2,
 * Lambda = sqrt(V / (V + tau2)) exp(tau2 theta^2 / (2 V (V + tau2))). 1 when an arm is empty
 * or V is 0 (nothing to learn yet). The always-valid p-value is the running minimum over looks.
 */
extern double mt_msprt_look(int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c, double tau2);

/* The running minimum: starts at 1, and mt_always_valid_look() returns the new value. */
typedef struct MtAlwaysValid
{
	double		p;
} MtAlwaysValid;

extern void mt_always_valid_init(MtAlwaysValid *av);
extern double mt_always_valid_look(MtAlwaysValid *av, int64_t x_t, int64_t n_t, int64_t x_c, int64_t n_c,
								   double tau2);

#endif
