/*
 * test_rng.c — dn_rng: known answers for splitmix64 and xoshiro256**,
 * determinism, independence of seeds, and the distributions' moments.
 */
#include <stdint.h>
#include <string.h>

#include "core/util/rng.h"
#include "tests/check.h"

int main(void)
{
	/* splitmix64 from state 0, and xoshiro256** seeded from it: values
	 * computed with an independent Python transcription of the
	 * reference algorithms. */
	uint64_t st = 0;
	CHECK(dn_splitmix64(&st) == UINT64_C(0xe220a8397b1dcdaf));
	CHECK(dn_splitmix64(&st) == UINT64_C(0x6e789e6aa1b965f4));
	dn_rng r;
	dn_rng_seed(&r, 0);
	CHECK(r.s[3] == UINT64_C(0xf88bb8a8724c81ec));
	CHECK(dn_rng_next(&r) == UINT64_C(0x99ec5f36cb75f2b4));
	CHECK(dn_rng_next(&r) == UINT64_C(0xbf6e1f784956452a));
	CHECK(dn_rng_next(&r) == UINT64_C(0x1a5f849d4933e6e0));

	/* Same seed, same stream; other seed, other stream. */
	dn_rng a, b, c;
	dn_rng_seed(&a, 42);
	dn_rng_seed(&b, 42);
	dn_rng_seed(&c, 43);
	int same = 1, diff = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t x = dn_rng_next(&a), y = dn_rng_next(&b), z = dn_rng_next(&c);
		same &= x == y;
		diff += x != z;
	}
	CHECK(same);
	CHECK(diff == 1000);

	/* seed3 tells permuted tuples apart and is itself deterministic. */
	dn_rng_seed3(&a, 7, 1, 2);
	dn_rng_seed3(&b, 7, 2, 1);
	dn_rng_seed3(&c, 7, 1, 2);
	CHECK(memcmp(a.s, b.s, sizeof a.s) != 0);
	CHECK(memcmp(a.s, c.s, sizeof a.s) == 0);

	/* Uniform: in [0,1), mean 1/2, variance 1/12; N = 200000, so the
	 * standard error of the mean is 6.5e-4. */
	const int N = 200000;
	dn_rng_seed(&r, 1);
	double s1 = 0, s2 = 0, mn = 1, mx = 0;
	for (int i = 0; i < N; i++) {
		double u = dn_rng_uniform(&r);
		s1 += u;
		s2 += u * u;
		mn = u < mn ? u : mn;
		mx = u > mx ? u : mx;
	}
	CHECK(mn >= 0.0 && mx < 1.0);
	CHECK_NEAR(s1 / N, 0.5, 0.004);
	CHECK_NEAR(s2 / N - (s1 / N) * (s1 / N), 1.0 / 12, 0.002);

	/* range */
	for (int i = 0; i < 1000; i++) {
		double v = dn_rng_range(&r, -5.0, 25.0);
		CHECK(v >= -5.0 && v < 25.0);
	}

	/* below(n): every value of [0, 7) about equally often (chi-square,
	 * 6 degrees of freedom: 22.5 is p = 0.001), never n. */
	long cnt[7] = {0};
	int out_of_range = 0;
	for (int i = 0; i < 70000; i++) {
		uint64_t k = dn_rng_below(&r, 7);
		if (k >= 7)
			out_of_range++;
		else
			cnt[k]++;
	}
	CHECK(out_of_range == 0);
	double chi = 0;
	for (int k = 0; k < 7; k++)
		chi += (cnt[k] - 10000.0) * (cnt[k] - 10000.0) / 10000.0;
	CHECK_MSG(chi < 22.5, "chi-square %.2f", chi);
	CHECK(dn_rng_below(&r, 0) == 0);
	CHECK(dn_rng_below(&r, 1) == 0);

	/* Normal: mean 0, variance 1, kurtosis 3. */
	double m1 = 0, m2 = 0, m4 = 0;
	for (int i = 0; i < N; i++) {
		double g = dn_rng_normal(&r);
		m1 += g;
		m2 += g * g;
		m4 += g * g * g * g;
	}
	m1 /= N;
	m2 /= N;
	m4 /= N;
	CHECK_NEAR(m1, 0.0, 0.01);
	CHECK_NEAR(m2, 1.0, 0.015);
	CHECK_NEAR(m4 / (m2 * m2), 3.0, 0.1);
	return check_status();
}
