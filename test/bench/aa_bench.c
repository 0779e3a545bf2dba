/*
 * aa_bench.c: the simulation benchmark of the experiment statistics (src/core/stats.c), run by
 * test/bench/aa_bench.sh. Experiments of two arms of N users each, users arriving one per arm at a
 * time with an immediate Bernoulli outcome, looked at 20 times (every N/20 users per arm):
 *   - A/A (both arms at rate P): the share of experiments whose p-value is ever below 0.05 at a
 *     look: the naive pooled z-test against the always-valid p-value (the mSPRT's running minimum
 *     over every arrival, as experiment_results() takes it over every moment of the data);
 *   - A/B at a true +20% lift (P against 1.2 P): the share that ever reach p < 0.05 (power), and
 *     the naive test's power at the last look alone (a fixed-horizon test, read once).
 * Usage: aa_bench.bin [EXPERIMENTS [N [P [TAU2]]]]; deterministic (fixed seed). Prints figures only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "stats.h"

#define LOOKS 20
#define ALPHA 0.05

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

/* splitmix64: a uniform double in [0, 1). */
static double
uniform(void)
{
	uint64_t	z = (rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

/* What one batch of experiments gave: shares ever significant, and the naive test at the last look. */
typedef struct Result
{
	double		naive_ever;
	double		naive_final;
	double		valid_ever;
	double		valid_at_looks;
} Result;

/* Runs `experiments` experiments of n users per arm at rates pa (control) and pb. */
static Result
simulate(int experiments, int64_t n, double pa, double pb, double tau2)
{
	int64_t		every = n / LOOKS;
	int			naive_ever = 0, naive_final = 0, valid_ever = 0, valid_at_looks = 0;
	Result		r;

	for (int e = 0; e < experiments; e++)
	{
		int64_t		xa = 0, xb = 0;
		MtAlwaysValid av, av_looks;
		int			hit_naive = 0, hit_valid = 0, hit_looks = 0;

		mt_always_valid_init(&av);
		mt_always_valid_init(&av_looks);
		for (int64_t i = 1; i <= n; i++)
		{
			xa += uniform() < pa;
			xb += uniform() < pb;
			mt_always_valid_look(&av, xb, i, xa, i, tau2);
			if (i % every == 0)
			{
				double		p = 1.0;

				if (mt_ztest(xb, i, xa, i, NULL, &p) && p < ALPHA)
				{
					hit_naive = 1;
					if (i == every * LOOKS)
						naive_final++;
				}
				if (av.p < ALPHA)
					hit_valid = 1;
				if (mt_always_valid_look(&av_looks, xb, i, xa, i, tau2) < ALPHA)
					hit_looks = 1;
			}
		}
		naive_ever += hit_naive;
		valid_ever += hit_valid;
		valid_at_looks += hit_looks;
	}
	r.naive_ever = (double) naive_ever / experiments;
	r.naive_final = (double) naive_final / experiments;
	r.valid_ever = (double) valid_ever / experiments;
	r.valid_at_looks = (double) valid_at_looks / experiments;
	return r;
}

/* Prints the A/A false-positive rates and the power at +20% for the sample sizes asked for. */
int
main(int argc, char **argv)
{
	int			experiments = argc > 1 ? atoi(argv[1]) : 1000;
	int64_t		n = argc > 2 ? atoll(argv[2]) : 10000;
	double		p = argc > 3 ? atof(argv[3]) : 0.10;
	double		tau2 = argc > 4 ? atof(argv[4]) : MT_MSPRT_TAU2;
	Result		aa = simulate(experiments, n, p, p, tau2);
	int64_t		sizes[3] = {n / 4, n / 2, n};

	printf("%d A/A experiments, rate %.3f in both arms, %lld users per arm, %d looks, tau^2 = %g\n",
		   experiments, p, (long long) n, LOOKS, tau2);
	printf("  share ever below 0.05: naive z-test %.3f (at the last look alone %.3f), always-valid %.3f"
		   " (looks at the 20 peeks only: %.3f)\n",
		   aa.naive_ever, aa.naive_final, aa.valid_ever, aa.valid_at_looks);
	printf("  always-valid <= 0.05: %s\n", aa.valid_ever <= 0.05 ? "yes" : "NO");
	for (int s = 0; s < 3; s++)
	{
		Result		ab = simulate(experiments, sizes[s], p, p * 1.2, tau2);

		printf("%d A/B experiments at +20%% (%.3f vs %.3f), %lld users per arm, %d looks: power (share ever"
			   " below 0.05): always-valid %.3f, naive z-test peeking %.3f, naive z-test at the last look only %.3f\n",
			   experiments, p, p * 1.2, (long long) sizes[s], LOOKS, ab.valid_ever, ab.naive_ever, ab.naive_final);
	}
	return aa.valid_ever <= 0.05 ? 0 : 1;
}
