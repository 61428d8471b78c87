/*
 * rng.c — xoshiro256** seeded by splitmix64 (see rng.h). Both algorithms are
 * the public-domain reference designs by Sebastiano Vigna, written out here.
 */
#include "core/util/rng.h"

#include <math.h>

uint64_t dn_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void dn_rng_seed(dn_rng *r, uint64_t seed)
{
	uint64_t sm = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = dn_splitmix64(&sm);
	r->spare = 0.0;
	r->has_spare = 0;
}

void dn_rng_seed3(dn_rng *r, uint64_t a, uint64_t b, uint64_t c)
{
	/* Each number goes through splitmix64 before being combined, so that
	 * nearby tuples like (s, 1, 2) and (s, 2, 1) give unrelated seeds. */
	uint64_t h = a;
	uint64_t x = dn_splitmix64(&h);
	h = x ^ b;
	x = dn_splitmix64(&h);
	h = x ^ c;
	dn_rng_seed(r, dn_splitmix64(&h));
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t dn_rng_next(dn_rng *r)
{
	uint64_t *s = r->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double dn_rng_uniform(dn_rng *r)
{
	return (double)(dn_rng_next(r) >> 11) * 0x1.0p-53;
}

double dn_rng_range(dn_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * dn_rng_uniform(r);
}

uint64_t dn_rng_below(dn_rng *r, uint64_t n)
{
	if (n == 0)
		return 0;
	/* Rejection: draws below `limit` map evenly onto [0, n). */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = dn_rng_next(r);
	while (x >= limit);
	return x % n;
}

double dn_rng_normal(dn_rng *r)
{
	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	double u1 = 1.0 - dn_rng_uniform(r); /* (0, 1]: log() stays finite */
	double u2 = dn_rng_uniform(r);
	double rad = sqrt(-2.0 * log(u1));
	double th = 2.0 * M_PI * u2;
	r->spare = rad * sin(th);
	r->has_spare = 1;
	return rad * cos(th);
}
