/*
 * gradcheck.h — central finite differences against analytic gradients.
 *
 * The loss is evaluated in double by a callback; each checked scalar is
 * perturbed by ±h in place. Float32 forward passes limit the attainable
 * agreement, so a mismatch counts only when it exceeds both an absolute and
 * a relative tolerance.
 */
#ifndef DN_TESTS_GRADCHECK_H
#define DN_TESTS_GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

typedef double (*gc_loss_fn)(void *ctx);

/* Checks up to `max_checks` evenly spread entries of p[0..n) against
 * analytic[0..n); returns the number of mismatches (printed). */
static inline int gradcheck(const char *what, gc_loss_fn f, void *ctx, float *p, const float *analytic,
                            size_t n, size_t max_checks, float h, double atol, double rtol)
{
	int bad = 0;
	size_t step = n > max_checks ? n / max_checks : 1;
	double worst = 0.0;
	for (size_t i = 0; i < n; i += step) {
		float saved = p[i];
		p[i] = saved + h;
		double lp = f(ctx);
		p[i] = saved - h;
		double lm = f(ctx);
		p[i] = saved;
		double num = (lp - lm) / (2.0 * (double)h), ana = analytic[i];
		double diff = fabs(num - ana), scale = fmax(fabs(num), fabs(ana));
		if (diff > worst)
			worst = diff;
		if (diff > atol && diff > rtol * scale) {
			if (bad < 5)
				fprintf(stderr, "gradcheck %s[%zu]: numeric %.6g analytic %.6g\n", what, i,
				        num, ana);
			bad++;
		}
	}
	fprintf(stderr, "gradcheck %-24s n=%zu worst abs diff %.3g, %d mismatches\n", what, n, worst, bad);
	return bad;
}

/* Deterministic test data: uniform in [lo, hi). */
static inline float gc_uniform(unsigned long long *s, float lo, float hi)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return lo + (hi - lo) * (float)((*s >> 40) * (1.0 / 16777216.0));
}

static inline void gc_fill(float *x, size_t n, unsigned long long *s, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		x[i] = gc_uniform(s, lo, hi);
}

#endif
