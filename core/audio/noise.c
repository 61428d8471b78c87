/*
 * noise.c — coloured noise, noise recordings and SNR mixing (see noise.h).
 *
 * Coloured noise is synthesised in the frequency domain: each bin k of an
 * L-point spectrum gets a complex Gaussian value with amplitude
 * f^(-alpha/2), and an inverse FFT gives one segment of noise whose expected
 * power spectrum is exactly 1/f^alpha: no filter approximation, so the slope
 * is right across the whole band (the test fits it). A buffer longer than
 * one segment is made by overlap-adding segments under a sine window at
 * half overlap: sin^2 + cos^2 = 1, so the variance is the same everywhere,
 * and independent segments keep the spectrum. The inverse FFT is FFTW's
 * (core/audio/fft.h), whose planner is locked, since data loading runs in
 * worker threads.
 */
#include "core/audio/noise.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/audio/fft.h"
#include "core/train/data_io.h"

/* Segment length for long buffers: 4 s at 16 kHz, 2 MiB of scratch. */
#define SEG_LOG2 16

const char *dn_noise_kind_name(int kind)
{
	static const char *const names[DN_NOISE_NKINDS] = {"white", "pink", "brown", "file"};
	return kind >= 0 && kind < DN_NOISE_NKINDS ? names[kind] : NULL;
}

int dn_noise_kind_parse(const char *name)
{
	for (int k = 0; k < DN_NOISE_NKINDS; k++)
		if (name && strcasecmp(name, dn_noise_kind_name(k)) == 0)
			return k;
	return -1;
}

int dn_noise_kinds_parse(const char *list, unsigned *mask, dn_error *err)
{
	*mask = 0;
	const char *p = list ? list : "";
	while (*p) {
		size_t len = strcspn(p, ",");
		char word[32];
		/* trim spaces around the word */
		const char *b = p, *e = p + len;
		while (b < e && *b == ' ')
			b++;
		while (e > b && e[-1] == ' ')
			e--;
		size_t wl = (size_t)(e - b);
		int kind = -1;
		if (wl > 0 && wl < sizeof word) {
			memcpy(word, b, wl);
			word[wl] = '\0';
			kind = dn_noise_kind_parse(word);
		}
		if (kind < 0)
			return dn_error_set(err, DN_EINVAL,
			                    "unknown noise kind '%.*s' (known: white, pink, brown, file)",
			                    (int)(wl > 40 ? 40 : wl), b);
		*mask |= 1u << kind;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!*mask)
		return dn_error_set(err, DN_EINVAL, "empty list of noise kinds");
	return DN_OK;
}

/* One segment of L samples with power spectrum ~ max(f, LOW)^-alpha into
 * the transform's buffer (unscaled): bins 1..L/2 get complex Gaussian values,
 * the inverse real FFT gives the segment. */
static void segment(double alpha, int rate, dn_fft *fft, dn_rng *rng)
{
	size_t L = (size_t)dn_fft_size(fft);
	double *z = dn_fft_data(fft);
	z[0] = z[1] = 0.0; /* no DC */
	for (size_t k = 1; k <= L / 2; k++) {
		double f = (double)k * rate / (double)L;
		double a = pow((f > DN_NOISE_LOW_HZ ? f : DN_NOISE_LOW_HZ) / 1000.0, -0.5 * alpha);
		double xr = a * dn_rng_normal(rng), xi = a * dn_rng_normal(rng);
		if (k == L / 2)
			xi = 0.0; /* Nyquist bin of a real signal is real */
		z[2 * k] = xr;
		z[2 * k + 1] = xi;
	}
	dn_fft_inverse(fft);
}

static int colored(double alpha, int rate, dn_rng *rng, float *out, size_t n, dn_error *err)
{
	int lg = 6;
	while (lg < SEG_LOG2 && ((size_t)1 << lg) < n)
		lg++;
	size_t L = (size_t)1 << lg;
	int single = n <= L;
	dn_fft *fft = NULL;
	int rc = dn_fft_create((long)L, &fft, err);
	if (rc != DN_OK)
		return rc;
	double *acc = single ? NULL : calloc(n, sizeof *acc);
	if (!single && !acc) {
		dn_fft_destroy(fft);
		return dn_error_set(err, DN_ENOMEM, "no memory for %zu samples of noise", n);
	}
	const double *re = dn_fft_data(fft);
	if (single) {
		segment(alpha, rate, fft, rng);
		for (size_t i = 0; i < n; i++)
			out[i] = (float)re[i];
	} else {
		/* Segments start at -L/2, 0, L/2, ...: every sample lies under
		 * exactly two windows, whose squares sum to one. */
		size_t hop = L / 2;
		for (size_t s = 0; s < n + hop; s += hop) {
			segment(alpha, rate, fft, rng);
			for (size_t t = 0; t < L; t++) {
				size_t i = s + t; /* index + hop */
				if (i < hop || i - hop >= n)
					continue;
				acc[i - hop] += sin(M_PI * ((double)t + 0.5) / (double)L) * re[t];
			}
		}
	}
	dn_fft_destroy(fft);
	if (!single) {
		for (size_t i = 0; i < n; i++)
			out[i] = (float)acc[i];
		free(acc);
	}
	return DN_OK;
}

/* Removes the mean and scales to unit RMS (no-op on silence). */
static void normalize(float *x, size_t n)
{
	if (n == 0)
		return;
	double mean = 0.0, ss = 0.0;
	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double d = x[i] - mean;
		ss += d * d;
	}
	if (ss <= 0.0)
		return;
	double g = 1.0 / sqrt(ss / (double)n);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((x[i] - mean) * g);
}

int dn_noise_generate(int kind, int rate, dn_rng *rng, float *out, size_t n, dn_error *err)
{
	if (rate < 1000 || rate > 384000)
		return dn_error_set(err, DN_EINVAL, "rate %d Hz is outside 1000..384000", rate);
	if (n == 0)
		return DN_OK;
	int rc = DN_OK;
	switch (kind) {
	case DN_NOISE_WHITE:
		for (size_t i = 0; i < n; i++)
			out[i] = (float)dn_rng_normal(rng);
		break;
	case DN_NOISE_PINK: rc = colored(1.0, rate, rng, out, n, err); break;
	case DN_NOISE_BROWN: rc = colored(2.0, rate, rng, out, n, err); break;
	default:
		return dn_error_set(err, DN_EINVAL,
		                    "noise kind %d cannot be generated (white, pink or brown)", kind);
	}
	if (rc == DN_OK)
		normalize(out, n);
	return rc;
}

struct dn_noise_source {
	float *loop;
	size_t n;
	int rate;
};

int dn_noise_source_create(const float *x, size_t n, int rate, dn_noise_source **out, dn_error *err)
{
	*out = NULL;
	if (rate < 1000 || rate > 384000)
		return dn_error_set(err, DN_EINVAL, "rate %d Hz is outside 1000..384000", rate);
	if (n < (size_t)rate / 10)
		return dn_error_set(err, DN_EINVAL, "noise recording is too short (%zu samples, need %d)", n,
		                    rate / 10);
	/* Cross-fade the last F samples into the first F (equal power, as the
	 * two ends are uncorrelated noise), then drop them: the loop's end
	 * runs on into its start without a step. F is 50 ms, at most n/4. */
	size_t F = (size_t)rate / 20;
	if (F > n / 4)
		F = n / 4;
	size_t m = n - F;
	dn_noise_source *s = calloc(1, sizeof *s);
	float *loop = malloc(m * sizeof *loop);
	if (!s || !loop) {
		free(s);
		free(loop);
		return dn_error_set(err, DN_ENOMEM, "no memory for a noise recording of %zu samples", n);
	}
	memcpy(loop, x, m * sizeof *loop);
	for (size_t j = 0; j < F; j++) {
		double t = 0.5 * M_PI * ((double)j + 0.5) / (double)F;
		loop[j] = (float)(x[j] * sin(t) + x[m + j] * cos(t));
	}
	double ss = 0.0;
	for (size_t i = 0; i < m; i++)
		ss += (double)loop[i] * loop[i];
	if (!(ss > 1e-20 * (double)m)) {
		free(s);
		free(loop);
		return dn_error_set(err, DN_EINVAL, "noise recording is silent");
	}
	normalize(loop, m);
	s->loop = loop;
	s->n = m;
	s->rate = rate;
	*out = s;
	return DN_OK;
}

int dn_noise_source_open(const char *path, int rate, dn_noise_source **out, dn_error *err)
{
	float *x;
	size_t n;
	*out = NULL;
	int rc = dn_data_read_mono(path, rate, 3600.0, &x, &n, err);
	if (rc)
		return rc;
	rc = dn_noise_source_create(x, n, rate, out, err);
	free(x);
	if (rc) { /* say which file */
		char msg[DN_ERROR_MSG_MAX];
		if (err) {
			snprintf(msg, sizeof msg, "%s", err->msg);
			dn_error_set(err, rc, "%s: %s", path, msg);
		}
	}
	return rc;
}

void dn_noise_source_fill(const dn_noise_source *s, dn_rng *rng, float *out, size_t n)
{
	size_t pos = (size_t)dn_rng_below(rng, s->n);
	for (size_t i = 0; i < n;) {
		size_t take = s->n - pos;
		if (take > n - i)
			take = n - i;
		memcpy(out + i, s->loop + pos, take * sizeof *out);
		i += take;
		pos = 0;
	}
}

size_t dn_noise_source_length(const dn_noise_source *s)
{
	return s->n;
}

int dn_noise_source_rate(const dn_noise_source *s)
{
	return s->rate;
}

void dn_noise_source_destroy(dn_noise_source *s)
{
	if (s) {
		free(s->loop);
		free(s);
	}
}

int dn_mix_at_snr(const float *clean, const float *noise, size_t n, double snr_db, float *out, float *gain,
                  dn_error *err)
{
	if (gain)
		*gain = 1.0f;
	if (n == 0)
		return dn_error_set(err, DN_EINVAL, "nothing to mix (0 samples)");
	if (!isfinite(snr_db) || snr_db < -100.0 || snr_db > 100.0)
		return dn_error_set(err, DN_EINVAL, "SNR %g dB is outside -100..100 dB", snr_db);
	double pc = 0.0, pn = 0.0;
	for (size_t i = 0; i < n; i++) {
		pc += (double)clean[i] * clean[i];
		pn += (double)noise[i] * noise[i];
	}
	if (!(pc > 0.0) || !isfinite(pc))
		return dn_error_set(err, DN_EINVAL, "clean signal is silent or not finite: SNR undefined");
	if (!(pn > 0.0) || !isfinite(pn))
		return dn_error_set(err, DN_EINVAL, "noise is silent or not finite: SNR undefined");
	double a = sqrt(pc / (pn * pow(10.0, snr_db / 10.0)));
	double peak = 0.0;
	for (size_t i = 0; i < n; i++) {
		double v = fabs((double)clean[i] + a * noise[i]);
		if (v > peak)
			peak = v;
	}
	/* Scaling both by g keeps their power ratio, so the SNR is unchanged. */
	/* g is rounded to float first, so that gain * clean is exactly the
	 * reference of out, to float precision. */
	float gf = peak > 1.0 ? (float)(1.0 / peak) : 1.0f;
	double g = gf;
	for (size_t i = 0; i < n; i++) {
		double v = g * ((double)clean[i] + a * noise[i]);
		out[i] = (float)(v > 1.0 ? 1.0 : v < -1.0 ? -1.0 : v); /* guards rounding only */
	}
	if (gain)
		*gain = gf;
	return DN_OK;
}

double dn_snr_db(const float *ref, const float *x, size_t n)
{
	double ps = 0.0, pe = 0.0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)x[i] - ref[i];
		ps += (double)ref[i] * ref[i];
		pe += d * d;
	}
	if (ps == 0.0)
		return -INFINITY;
	if (pe == 0.0)
		return INFINITY;
	return 10.0 * log10(ps / pe);
}
