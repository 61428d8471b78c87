/*
 * rng.h — a small, explicit pseudo-random generator for data synthesis.
 *
 * xoshiro256** (Blackman and Vigna, 2018) with its state in a struct the
 * caller owns, seeded through splitmix64 so that any 64-bit seed, including
 * 0, gives a well-mixed state. No global state and no rand(): the same seed
 * gives the same stream on every platform, which is what makes training data
 * reproducible. Not for cryptography.
 */
#ifndef DN_RNG_H
#define DN_RNG_H

#include <stdint.h>

typedef struct dn_rng {
	uint64_t s[4];
	double spare; /* second normal deviate of the last Box-Muller pair */
	int has_spare;
} dn_rng;

/* One step of splitmix64: advances *state and returns the next output. */
uint64_t dn_splitmix64(uint64_t *state);

/* Seeds r from seed (any value). */
void dn_rng_seed(dn_rng *r, uint64_t seed);

/* Seeds r from several numbers at once, e.g. (seed, epoch, index), so that
 * each item of each epoch has its own stream, independent of the order in
 * which items are drawn. */
void dn_rng_seed3(dn_rng *r, uint64_t a, uint64_t b, uint64_t c);

/* Next 64 random bits. */
uint64_t dn_rng_next(dn_rng *r);

/* Uniform in [0, 1), 53 bits of precision. */
double dn_rng_uniform(dn_rng *r);

/* Uniform in [lo, hi). */
double dn_rng_range(dn_rng *r, double lo, double hi);

/* Uniform integer in [0, n), without modulo bias; 0 when n is 0. */
uint64_t dn_rng_below(dn_rng *r, uint64_t n);

/* Standard normal deviate (Box-Muller; pairs are cached in r). */
double dn_rng_normal(dn_rng *r);

#endif
