/*
 * noise.h — noise for training and evaluating speech denoisers: synthetic
 * coloured noise, noise drawn from recordings, and mixing at a target SNR.
 *
 * Everything random takes a caller-owned dn_rng, so a given seed always
 * gives the same noise. Coloured noise is made in the frequency domain: the
 * power spectrum follows 1/f^alpha exactly (alpha 0 white, 1 pink, 2 brown)
 * from DN_NOISE_LOW_HZ up to Nyquist, and is flat below DN_NOISE_LOW_HZ so
 * that brown noise does not put its power below hearing. Functions here are
 * reentrant: no global state, no FFTW planner.
 */
#ifndef DN_NOISE_H
#define DN_NOISE_H

#include <stddef.h>

#include "core/dn.h"
#include "core/util/rng.h"

enum dn_noise_kind {
	DN_NOISE_WHITE = 0,
	DN_NOISE_PINK = 1,  /* power ~ 1/f */
	DN_NOISE_BROWN = 2, /* power ~ 1/f^2 */
	DN_NOISE_FILE = 3,  /* a recording (dn_noise_source) */
	DN_NOISE_NKINDS = 4,
};

#define DN_NOISE_LOW_HZ 20.0

/* "white", "pink", "brown", "file"; NULL for an unknown kind. */
const char *dn_noise_kind_name(int kind);
/* The kind named (case-insensitive); -1 if unknown. */
int dn_noise_kind_parse(const char *name);
/* A comma-separated list of kind names -> a mask of (1u << kind) bits.
 * DN_EINVAL naming the first unknown word, or for an empty list. */
int dn_noise_kinds_parse(const char *list, unsigned *mask, dn_error *err);

/* Fills out[0..n) with zero-mean, unit-RMS noise of kind WHITE, PINK or
 * BROWN for a signal sampled at rate Hz. DN_EINVAL for another kind or a
 * rate outside 1 kHz .. 384 kHz, DN_ENOMEM. Scratch memory is allocated per
 * call (a few MiB at most: long buffers are made from overlapped segments). */
int dn_noise_generate(int kind, int rate, dn_rng *rng, float *out, size_t n, dn_error *err);

/* A noise recording, looped seamlessly: its end is cross-faded into its
 * start once, at creation, so that a loop has no click. Read-only after
 * creation: threads may fill from one source concurrently, each with its
 * own dn_rng. */
typedef struct dn_noise_source dn_noise_source;

/* From samples at `rate` (copied). DN_EINVAL if shorter than 0.1 s or
 * silent, DN_ENOMEM. */
int dn_noise_source_create(const float *samples, size_t n, int rate, dn_noise_source **out, dn_error *err);
/* From a sound file (any format libsndfile reads; channels are averaged;
 * resampled to `rate`). Errors as dn_noise_source_create, plus DN_EIO,
 * DN_EFORMAT and DN_ELIMIT (over an hour) with the path in the message. */
int dn_noise_source_open(const char *path, int rate, dn_noise_source **out, dn_error *err);
/* Fills out[0..n) from a random offset, looping as needed; zero-mean,
 * unit RMS over the whole loop (not over each excerpt). */
void dn_noise_source_fill(const dn_noise_source *s, dn_rng *rng, float *out, size_t n);
/* Samples in one loop, and the rate. */
size_t dn_noise_source_length(const dn_noise_source *s);
int dn_noise_source_rate(const dn_noise_source *s);
void dn_noise_source_destroy(dn_noise_source *s);

/* Mixes clean and noise so that the mix has the given SNR:
 *   out = gain * (clean + a * noise),  a chosen so that
 *   10 log10(sum clean^2 / sum (a noise)^2) = snr_db.
 * gain is 1 unless the mix would exceed full scale (|x| > 1); then clean and
 * noise are scaled down together so the peak is 1, which keeps the SNR, and
 * the reference that matches `out` is gain * clean. out may be clean or
 * noise itself (in place). *gain may be NULL. DN_EINVAL if n is 0, snr_db is not finite or
 * outside -100..100 dB, or clean or noise is silent (the SNR would be
 * undefined). */
int dn_mix_at_snr(const float *clean, const float *noise, size_t n, double snr_db, float *out, float *gain,
                  dn_error *err);

/* 10 log10(sum ref^2 / sum (x - ref)^2): the SNR of x against reference ref.
 * +inf when x == ref, -inf when ref is silent. */
double dn_snr_db(const float *ref, const float *x, size_t n);

#endif
