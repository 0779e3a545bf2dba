#!/usr/bin/python3
"""Reference values for test/unit/stats_unit.c, from scipy and statsmodels.

Writes one case per line (space-separated, "nan" where the figure is undefined) to stdout:
  quantile P Q | cdf X V | sf X V | gammaq A X Q
  wilson X N LOW HIGH                               statsmodels proportion_confint(method='wilson')
  lift XT NT XC NC LIFT LOW HIGH                    confint_proportions_2indep(compare='ratio', method='log')
  ztest XT NT XC NC Z P                             proportions_ztest (pooled, two-sided)
  holm K P1..PK A1..AK                              multipletests(method='holm')
  chi2 K X1 N1 .. XK NK STAT DOF P                  chi2_contingency(correction=False) over arms with users
  msprt XT NT XC NC TAU2 P                          1 / the mixture likelihood ratio, integrated by quad
  avseq TAU2 L XT NT XC NC RUNMIN (L times)         the running minimum over L looks
Run with Debian's python3 (python3-scipy, python3-statsmodels): test/unit/gen_stats_cases.py > FILE.
Deterministic (fixed seed). The committed test/unit/stats_cases.txt was made by it.
"""
import math
import random
import sys
import warnings

import numpy as np
from scipy import integrate, special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (confint_proportions_2indep, proportion_confint,
                                          proportions_ztest)

warnings.simplefilter('ignore')
TAU2 = 4e-4
ALPHA = 0.05
out = []


def f(v):
    """A float as text that reads back to the same double."""
    v = float(v)
    return 'nan' if math.isnan(v) else repr(v)


def emit(*fields):
    """One fixture line."""
    out.append(' '.join(str(x) if isinstance(x, (int, np.integer)) else f(x) if isinstance(x, float) else str(x)
                        for x in fields))


def msprt_quad(xt, nt, xc, nc, tau2):
    """min(1, 1/Lambda), Lambda = the integral over theta ~ N(0, tau2) of the normal likelihood ratio
    of the observed difference against theta = 0 (computed numerically, not by the closed form)."""
    if nt <= 0 or nc <= 0:
        return 1.0
    pt, pc = xt / nt, xc / nc
    v = pt * (1 - pt) / nt + pc * (1 - pc) / nc
    if v <= 0:
        return 1.0
    d = pt - pc
    # the integrand's peak (posterior mean) and width, so quad sees where the mass is
    mean = d * tau2 / (v + tau2)
    sd = math.sqrt(v * tau2 / (v + tau2))
    # log of the peak value, factored out so that exp() stays in range
    def log_integrand(t):
        return (d * t - t * t / 2) / v - t * t / (2 * tau2) - 0.5 * math.log(2 * math.pi * tau2)
    peak = log_integrand(mean)
    val, _ = integrate.quad(lambda t: math.exp(log_integrand(t) - peak), mean - 40 * sd, mean + 40 * sd,
                            points=[mean], epsabs=0, epsrel=1e-13, limit=200)
    log_lambda = math.log(val) + peak
    return 1.0 if log_lambda <= 0 else math.exp(-log_lambda)


def msprt_closed(xt, nt, xc, nc, tau2):
    """The closed form the C code uses, to check that quad agrees with it."""
    if nt <= 0 or nc <= 0:
        return 1.0
    pt, pc = xt / nt, xc / nc
    v = pt * (1 - pt) / nt + pc * (1 - pc) / nc
    if v <= 0:
        return 1.0
    ll = 0.5 * math.log(v / (v + tau2)) + tau2 * (pt - pc) ** 2 / (2 * v * (v + tau2))
    return 1.0 if ll <= 0 else math.exp(-ll)


def pair_cases():
    """(xt, nt, xc, nc): edge cases first, then random ones of every size."""
    cases = [
        (0, 100, 0, 100), (0, 100, 5, 100), (5, 100, 0, 100), (100, 100, 100, 100), (100, 100, 90, 100),
        (90, 100, 100, 100), (0, 10, 10, 10), (10, 10, 0, 10), (1, 1, 0, 1), (0, 0, 5, 10), (5, 10, 0, 0),
        (0, 0, 0, 0), (50, 100, 50, 100), (1, 2, 1, 3), (7, 1000, 3, 1000),
        (123456789, 1000000000, 120000000, 1000000000), (10 ** 11, 10 ** 12, 10 ** 11 + 5 * 10 ** 6, 10 ** 12),
        (5 * 10 ** 8, 10 ** 9, 5 * 10 ** 8, 10 ** 9), (1, 10 ** 9, 3, 10 ** 9), (10 ** 9 - 1, 10 ** 9, 10 ** 9, 10 ** 9),
        (1200, 10000, 1000, 10000), (5000, 10000, 4000, 10000), (30, 40, 10, 60),
    ]
    rng = random.Random(13)
    for _ in range(120):
        n1 = rng.choice([1, 2, 5, 20, 100, 1000, 10 ** 4, 10 ** 6, 10 ** 8]) * rng.randint(1, 9)
        n2 = rng.choice([1, 2, 5, 20, 100, 1000, 10 ** 4, 10 ** 6, 10 ** 8]) * rng.randint(1, 9)
        r = rng.choice([0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.9, 0.999])
        cases.append((min(n1, int(n1 * r * rng.uniform(0.5, 1.5))), n1, min(n2, int(n2 * r * rng.uniform(0.5, 1.5))), n2))
    return cases


def main():
    for p in [1e-300, 1e-20, 1e-10, 1e-5, 0.001, 0.01, 0.025, 0.05, 0.1, 0.3, 0.425, 0.5, 0.6, 0.9, 0.95, 0.975,
              0.99, 0.999, 1 - 1e-10, 0.07, 0.925]:
        emit('quantile', p, stats.norm.ppf(p))
    for x in [-40, -10, -3, -1.96, -0.5, 0, 0.1, 1, 1.959963984540054, 2.5, 5, 8, 20, 37]:
        emit('cdf', float(x), stats.norm.cdf(x))
        emit('sf', float(x), stats.norm.sf(x))
    for a in [0.5, 1, 1.5, 2, 4.5, 10, 50, 250, 999.5]:
        for x in [1e-8, 0.01, 0.3, 1, 2, 5, 10, 30, 100, 300, 700, 1200]:
            emit('gammaq', float(a), float(x), special.gammaincc(a, x))

    for x, n in [(0, 1), (1, 1), (0, 10), (10, 10), (1, 10), (5, 10), (0, 10 ** 9), (10 ** 9, 10 ** 9),
                 (3, 10 ** 9), (123456789, 10 ** 9), (10 ** 11, 10 ** 12), (0, 0)]:
        lo, hi = proportion_confint(x, n, alpha=ALPHA, method='wilson') if n else (math.nan, math.nan)
        emit('wilson', x, n, lo, hi)

    for xt, nt, xc, nc in pair_cases():
        if nt and xt <= nt:
            lo, hi = proportion_confint(xt, nt, alpha=ALPHA, method='wilson')
            emit('wilson', xt, nt, lo, hi)
        lift = (xt / nt) / (xc / nc) - 1 if nt and nc and xc else math.nan
        if nt and nc and xt and xc:
            lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method='log', compare='ratio', alpha=ALPHA)
            lo, hi = lo - 1, hi - 1
        else:
            lo = hi = math.nan
        emit('lift', xt, nt, xc, nc, lift, lo, hi)
        pooled = (xt + xc) / (nt + nc) if nt + nc else 0
        if nt and nc and 0 < pooled < 1:
            z, p = proportions_ztest([xt, xc], [nt, nc], alternative='two-sided')
        else:
            z = p = math.nan
        emit('ztest', xt, nt, xc, nc, z, p)
        closed = msprt_closed(xt, nt, xc, nc, TAU2)
        # quad is the reference where the integral is well inside double range; the closed form
        # must agree with it to 1e-11 (checked here, so a wrong formula fails the generator too)
        if closed > 1e-250:
            ref = msprt_quad(xt, nt, xc, nc, TAU2)
            if abs(ref - closed) > 1e-11 * max(abs(ref), 1e-300):
                sys.exit(f'msprt closed form {closed} != quad {ref} for {(xt, nt, xc, nc)}')
        else:
            ref = closed
        emit('msprt', xt, nt, xc, nc, TAU2, ref)

    rng = random.Random(7)
    holm_sets = [[0.01], [0.04, 0.01], [0.03, 0.03, 0.5], [0.9, 0.8, 0.7, 0.001], [1e-12, 0.2, 0.2, 0.049, 0.6],
                 [0.5, 0.5, 0.5]]
    holm_sets += [[rng.random() ** 3 for _ in range(rng.randint(1, 8))] for _ in range(30)]
    for ps in holm_sets:
        adj = multipletests(ps, method='holm')[1]
        emit('holm', len(ps), *[float(p) for p in ps], *[float(a) for a in adj])

    chi_sets = [
        [(10, 100), (20, 100)], [(10, 100), (20, 100), (15, 120)], [(0, 100), (0, 100)], [(100, 100), (100, 100)],
        [(5, 50)], [(5, 50), (0, 0)], [(5, 50), (0, 0), (9, 60)], [(0, 10), (10, 10)], [(1, 2), (1, 3), (2, 7), (0, 4)],
        [(123456789, 10 ** 9), (120000000, 10 ** 9), (130000000, 10 ** 9)], [(500, 1000), (500, 1000)],
        [(10 ** 11, 10 ** 12), (10 ** 11 + 10 ** 6, 10 ** 12)],
    ]
    for _ in range(40):
        k = rng.randint(2, 12)
        r = rng.choice([0.01, 0.1, 0.4])
        arms = []
        for _ in range(k):
            n = rng.choice([10, 100, 1000, 10 ** 5]) * rng.randint(1, 5)
            arms.append((min(n, int(n * r * rng.uniform(0.7, 1.3))), n))
        chi_sets.append(arms)
    for arms in chi_sets:
        table = np.array([[x, n - x] for x, n in arms if n > 0], dtype=float)
        try:
            if len(table) < 2:
                raise ValueError('one arm')
            stat, p, dof, _ = stats.chi2_contingency(table, correction=False)
        except ValueError:
            stat, p, dof = math.nan, math.nan, 0
        emit('chi2', len(arms), *[v for arm in arms for v in arm], float(stat), int(dof), float(p))

    for _ in range(12):
        looks = []
        xt = nt = xc = nc = 0
        runmin = 1.0
        rate_t, rate_c = rng.choice([(0.1, 0.1), (0.1, 0.13), (0.02, 0.02), (0.3, 0.2)])
        for _ in range(rng.randint(5, 30)):
            step = rng.choice([1, 10, 200])
            for _ in range(step):
                nt += 1; xt += rng.random() < rate_t
                nc += 1; xc += rng.random() < rate_c
            p = msprt_quad(xt, nt, xc, nc, TAU2) if msprt_closed(xt, nt, xc, nc, TAU2) > 1e-250 else msprt_closed(xt, nt, xc, nc, TAU2)
            runmin = min(runmin, p)
            looks.append((xt, nt, xc, nc, runmin))
        emit('avseq', TAU2, len(looks), *[v for look in looks for v in look])

    sys.stdout.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
