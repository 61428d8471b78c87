/*
 * augment.c — level, channel, reverberation and clipping for training
 * speech (see augment.h). The channel and the room are applied together in
 * one FFT convolution of the whole item: the channel is a zero-phase gain
 * per bin (so the target stays aligned with the input), the room is the
 * FIR of dn_augment_rir, whose first DN_AUGMENT_EARLY_MS make the target.
 */
#include "core/train/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/fft.h"

/* The recommended probabilities of preset "real": most items keep their
 * channel and room clean, so the model still sees plain noisy speech. */
#define REAL_LEVEL 0.5
#define REAL_BAND 0.15
#define REAL_TILT 0.3
#define REAL_REVERB 0.3
#define REAL_CLIP 0.05

#define RIR_MAX_S 1.0
#define TILT_LIMIT_DB 18.0

dn_augment_params dn_augment_default_params(void)
{
	return (dn_augment_params){.preset = DN_AUGMENT_NONE,
	                           .level_prob = -1,
	                           .level_min_dbfs = -35,
	                           .level_max_dbfs = -10,
	                           .band_prob = -1,
	                           .tilt_prob = -1,
	                           .tilt_db_oct = 4,
	                           .reverb_prob = -1,
	                           .rt60_min_s = 0.15,
	                           .rt60_max_s = 0.8,
	                           .clip_prob = -1,
	                           .clip_min_db = 1,
	                           .clip_max_db = 6};
}

const char *dn_augment_preset_name(int preset)
{
	return preset == DN_AUGMENT_NONE ? "none" : preset == DN_AUGMENT_REAL ? "real" : NULL;
}

static double pick(double prob, int preset, double real)
{
	return prob >= 0 ? prob : preset == DN_AUGMENT_REAL ? real : 0.0;
}

dn_augment_params dn_augment_resolve(const dn_augment_params *p)
{
	dn_augment_params r = *p;

	r.level_prob = pick(p->level_prob, p->preset, REAL_LEVEL);
	r.band_prob = pick(p->band_prob, p->preset, REAL_BAND);
	r.tilt_prob = pick(p->tilt_prob, p->preset, REAL_TILT);
	r.reverb_prob = pick(p->reverb_prob, p->preset, REAL_REVERB);
	r.clip_prob = pick(p->clip_prob, p->preset, REAL_CLIP);
	return r;
}

int dn_augment_active(const dn_augment_params *r)
{
	return r->level_prob > 0 || r->band_prob > 0 || r->tilt_prob > 0 || r->reverb_prob > 0 ||
	       r->clip_prob > 0;
}

static int bad_prob(double v)
{
	return !(v == -1.0 || (v >= 0.0 && v <= 1.0));
}

int dn_augment_check(const dn_augment_params *p, dn_error *err)
{
	const struct {
		const char *name;
		double v;
	} probs[] = {{"aug_level_prob", p->level_prob}, {"aug_band_prob", p->band_prob},
	             {"aug_tilt_prob", p->tilt_prob},   {"aug_reverb_prob", p->reverb_prob},
	             {"aug_clip_prob", p->clip_prob}};

	if (!dn_augment_preset_name(p->preset))
		return dn_error_set(err, DN_EINVAL, "augment: unknown preset %d (none or real)", p->preset);
	for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++)
		if (bad_prob(probs[i].v))
			return dn_error_set(err, DN_EINVAL,
			                    "%s: %g must be a probability in 0..1, or -1 for the preset's",
			                    probs[i].name, probs[i].v);
	if (!(p->level_min_dbfs >= -60 && p->level_min_dbfs <= p->level_max_dbfs && p->level_max_dbfs <= 0))
		return dn_error_set(err, DN_EINVAL,
		                    "speech level range %g..%g dBFS must be ordered and within -60..0",
		                    p->level_min_dbfs, p->level_max_dbfs);
	if (!(p->tilt_db_oct >= 0 && p->tilt_db_oct <= 12))
		return dn_error_set(err, DN_EINVAL, "aug_tilt_db_oct: %g is outside 0..12 dB per octave",
		                    p->tilt_db_oct);
	if (!(p->rt60_min_s >= 0.05 && p->rt60_min_s <= p->rt60_max_s && p->rt60_max_s <= RIR_MAX_S))
		return dn_error_set(err, DN_EINVAL, "RT60 range %g..%g s must be ordered and within 0.05..%g s",
		                    p->rt60_min_s, p->rt60_max_s, RIR_MAX_S);
	if (!(p->clip_min_db >= 0 && p->clip_min_db <= p->clip_max_db && p->clip_max_db <= 20))
		return dn_error_set(err, DN_EINVAL,
		                    "clipping range %g..%g dB below the peak must be ordered and within 0..20",
		                    p->clip_min_db, p->clip_max_db);
	return DN_OK;
}

double dn_augment_channel_gain(double f, int band, double tilt_db_oct)
{
	double g = 1.0;

	if (band) {
		/* 8th-order Butterworth magnitudes at each edge: about -27 dB at
		 * 5 kHz and -48 dB at 150 Hz, like a telephone channel's mask. */
		if (f <= 0)
			return 0.0;
		g = 1.0 / sqrt(1.0 + pow(DN_AUGMENT_PHONE_LO_HZ / f, 16)) /
		    sqrt(1.0 + pow(f / DN_AUGMENT_PHONE_HI_HZ, 16));
	}
	if (tilt_db_oct != 0.0) {
		double db = tilt_db_oct * log2(fmax(f, 50.0) / 1000.0);
		db = fmin(TILT_LIMIT_DB, fmax(-TILT_LIMIT_DB, db));
		g *= pow(10.0, db / 20.0);
	}
	return g;
}

int dn_augment_rir(int rate, double rt60_s, double drr_db, dn_rng *rng, float **h, size_t *len,
                   dn_error *err)
{
	size_t n = (size_t)ceil(fmin(rt60_s, RIR_MAX_S) * rate);
	size_t t0 = (size_t)lround(0.001 * rate);
	float *r;
	double e = 0.0, s;

	if (n < t0 + 2)
		n = t0 + 2;
	if (!(r = calloc(n, sizeof *r)))
		return dn_error_set(err, DN_ENOMEM, "no memory for a %zu-tap room response", n);
	/* Amplitude falls by 60 dB (a factor 1000 = e^6.908) over RT60. */
	for (size_t t = t0; t < n; t++) {
		r[t] = (float)(dn_rng_normal(rng) * exp(-6.907755 * (double)t / (rt60_s * rate)));
		e += (double)r[t] * r[t];
	}
	s = e > 0 ? sqrt(pow(10.0, -drr_db / 10.0) / e) : 0.0;
	for (size_t t = t0; t < n; t++)
		r[t] = (float)(r[t] * s);
	r[0] = 1.0f;
	*h = r;
	*len = n;
	return DN_OK;
}

static double rms(const float *x, size_t n)
{
	double e = 0.0;

	for (size_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return n ? sqrt(e / (double)n) : 0.0;
}

/* y[0..n) = the first n samples of x * h (h of length hn, possibly
 * truncated to hk taps) through the channel: X holds the spectrum of x
 * times the channel (N/2+1 bins), f is an FFT of N >= n + hn. */
static void convolve(dn_fft *f, const double *X, const float *h, size_t hk, size_t n, float *y)
{
	long N = dn_fft_size(f);
	double *b = dn_fft_data(f);

	memset(b, 0, (size_t)(N + 2) * sizeof *b);
	for (size_t t = 0; t < hk; t++)
		b[t] = h[t];
	dn_fft_forward(f);
	for (long k = 0; k <= N / 2; k++) {
		double re = b[2 * k], im = b[2 * k + 1];
		b[2 * k] = re * X[2 * k] - im * X[2 * k + 1];
		b[2 * k + 1] = re * X[2 * k + 1] + im * X[2 * k];
	}
	dn_fft_inverse(f);
	for (size_t t = 0; t < n; t++)
		y[t] = (float)(b[t] / (double)N);
}

int dn_augment_speech(const dn_augment_params *p, int rate, dn_rng *rng, float *x, size_t n,
                      float **noisy_side, dn_augment_info *info, dn_error *err)
{
	dn_augment_info in;
	float *h = NULL, *side = NULL;
	size_t hn = 0;
	double *X = NULL;
	dn_fft *f = NULL;
	dn_rng room;
	int rc = DN_OK;

	*noisy_side = NULL;
	memset(&in, 0, sizeof in);
	/* Every draw is made whether or not its effect applies (see augment.h). */
	in.level = dn_rng_uniform(rng) < p->level_prob;
	in.level_dbfs = dn_rng_range(rng, p->level_min_dbfs, p->level_max_dbfs);
	in.band = dn_rng_uniform(rng) < p->band_prob;
	in.tilt = dn_rng_uniform(rng) < p->tilt_prob;
	in.tilt_db_oct = dn_rng_range(rng, -p->tilt_db_oct, p->tilt_db_oct);
	in.reverb = dn_rng_uniform(rng) < p->reverb_prob;
	in.rt60_s = dn_rng_range(rng, p->rt60_min_s, p->rt60_max_s);
	in.drr_db = dn_rng_range(rng, DN_AUGMENT_DRR_MIN_DB, DN_AUGMENT_DRR_MAX_DB);
	dn_rng_seed(&room, dn_rng_next(rng));
	if (!in.tilt)
		in.tilt_db_oct = 0;
	if (n == 0)
		goto out;
	if (in.band || in.tilt || in.reverb) {
		long N = 2;
		size_t early = 1;
		if (in.reverb) {
			rc = dn_augment_rir(rate, in.rt60_s, in.drr_db, &room, &h, &hn, err);
			if (rc)
				goto out;
			early = (size_t)(DN_AUGMENT_EARLY_MS * 1e-3 * rate) + 1;
			if (early > hn)
				early = hn;
		}
		/* Room for the room's tail and for the channel's (non-causal, short)
		 * response, so that circular convolution does not wrap into x. */
		while ((size_t)N < n + hn + 4096)
			N *= 2;
		if (N > (1L << 26)) {
			rc = dn_error_set(err, DN_ELIMIT, "%zu samples are too many to augment", n);
			goto out;
		}
		if ((rc = dn_fft_create(N, &f, err)))
			goto out;
		if (!(X = malloc((size_t)(N + 2) * sizeof *X)) ||
		    (in.reverb && !(side = malloc(n * sizeof *side)))) {
			rc = dn_error_set(err, DN_ENOMEM, "no memory to augment %zu samples", n);
			goto out;
		}
		double *b = dn_fft_data(f);
		memset(b, 0, (size_t)(N + 2) * sizeof *b);
		for (size_t t = 0; t < n; t++)
			b[t] = x[t];
		dn_fft_forward(f);
		for (long k = 0; k <= N / 2; k++) {
			double g = dn_augment_channel_gain((double)k * rate / (double)N, in.band,
			                                   in.tilt_db_oct);
			X[2 * k] = b[2 * k] * g;
			X[2 * k + 1] = b[2 * k + 1] * g;
		}
		if (in.reverb) {
			convolve(f, X, h, hn, n, side);
			convolve(f, X, h, early, n, x);
		} else {
			static const float one = 1.0f;
			convolve(f, X, &one, 1, n, x);
		}
	}
	if (in.level) {
		double r = rms(x, n);
		if (!(r > 0)) {
			rc = dn_error_set(err, DN_EINVAL, "silent speech: no level can be set");
			goto out;
		}
		float g = (float)(pow(10.0, in.level_dbfs / 20.0) / r);
		for (size_t t = 0; t < n; t++)
			x[t] *= g;
		for (size_t t = 0; side && t < n; t++)
			side[t] *= g;
	}
out:
	if (rc) {
		free(side);
		side = NULL;
	}
	*noisy_side = side;
	if (info)
		*info = in;
	free(h);
	free(X);
	dn_fft_destroy(f);
	return rc;
}

int dn_augment_clip(const dn_augment_params *p, dn_rng *rng, float *mix, size_t n, dn_augment_info *info)
{
	int on = dn_rng_uniform(rng) < p->clip_prob;
	double db = dn_rng_range(rng, p->clip_min_db, p->clip_max_db);
	float peak = 0.0f;

	if (info) {
		info->clip = on;
		info->clip_db = db;
	}
	if (!on)
		return 0;
	for (size_t t = 0; t < n; t++)
		peak = fmaxf(peak, fabsf(mix[t]));
	float c = (float)(peak * pow(10.0, -db / 20.0));
	for (size_t t = 0; t < n; t++)
		mix[t] = fminf(c, fmaxf(-c, mix[t]));
	return 1;
}
