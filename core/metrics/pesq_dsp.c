/*
 * pesq_dsp.c — signal-processing helpers for PESQ: real FFTs over FFTW
 * (core/audio/fft.h) with a per-run plan cache, IIR sections, and the
 * reference's FFT-domain filter.
 *
 * PESQ transforms lengths from 256 up to about 2^21 (whole-signal filters),
 * always powers of two. Arithmetic is double; arrays stay float as in the
 * reference, whose own FFT is single precision.
 */
#include "core/dn.h"
#include "core/audio/fft.h"
#include "core/metrics/pesq_internal.h"

#include <math.h>
#include <stdlib.h>

void pesq_fft_cache_free(pesq_fft_cache *c)
{
	for (int i = 0; i < PESQ_FFT_PLANS; i++) {
		dn_fft_destroy(c->plan[i]);
		c->plan[i] = NULL;
		c->used[i] = 0;
	}
}

/* The transform of length n, made (evicting the least recently used) if new. */
static dn_fft *plan_get(pesq_fft_cache *c, long n)
{
	int victim = 0;
	c->tick++;
	for (int i = 0; i < PESQ_FFT_PLANS; i++) {
		if (c->plan[i] && dn_fft_size(c->plan[i]) == n) {
			c->used[i] = c->tick;
			return c->plan[i];
		}
		if (!c->plan[i])
			victim = i;
		else if (c->plan[victim] && c->used[i] < c->used[victim])
			victim = i;
	}
	dn_fft *f;
	if (dn_fft_create(n, &f, NULL) != DN_OK)
		return NULL;
	dn_fft_destroy(c->plan[victim]);
	c->plan[victim] = f;
	c->used[victim] = c->tick;
	return f;
}

/* x (n + 2 floats) through the transform of length n, in double: forward,
 * or inverse scaled by 1/n. The imaginary parts of bins 0 and n/2 are zero. */
static int transform(pesq_fft_cache *c, float *x, long n, int inverse)
{
	dn_fft *f = plan_get(c, n);
	if (!f)
		return DN_ENOMEM;
	double *z = dn_fft_data(f);
	const long len = inverse ? n + 2 : n, out = inverse ? n : n + 2;
	for (long i = 0; i < len; i++)
		z[i] = x[i];
	if (inverse) {
		z[1] = z[n + 1] = 0.0;
		dn_fft_inverse(f);
	} else {
		dn_fft_forward(f);
		z[1] = z[n + 1] = 0.0;
	}
	const double scale = inverse ? 1.0 / (double)n : 1.0;
	for (long i = 0; i < out; i++)
		x[i] = (float)(z[i] * scale);
	return DN_OK;
}

int pesq_rfft(pesq_fft_cache *c, float *x, long n)
{
	return transform(c, x, n, 0);
}

int pesq_irfft(pesq_fft_cache *c, float *x, long n)
{
	return transform(c, x, n, 1);
}

long pesq_nextpow2(long x)
{
	long c = 1;
	while (c < x)
		c <<= 1;
	return c;
}

void pesq_iir(const float (*sos)[5], int n_sos, float *x, long n)
{
	/* Sample by sample through all sections (the same arithmetic as one
	 * section at a time): the sections' recursions then overlap in the
	 * pipeline instead of each waiting on its own previous sample. */
	float z1[PESQ_MAX_SOS] = {0}, z2[PESQ_MAX_SOS] = {0};
	if (n_sos > PESQ_MAX_SOS)
		n_sos = PESQ_MAX_SOS;
	for (long i = 0; i < n; i++) {
		float v = x[i];
		for (int s = 0; s < n_sos; s++) {
			float z0 = v - sos[s][3] * z1[s] - sos[s][4] * z2[s];
			v = sos[s][0] * z0 + sos[s][1] * z1[s] + sos[s][2] * z2[s];
			z2[s] = z1[s];
			z1[s] = z0;
		}
		x[i] = v;
	}
}

/* Linear interpolation of a dB curve at freq, extrapolating at both ends. */
static float curve_at(float freq, const double (*curve)[2])
{
	int lo, hi;
	if (freq <= curve[0][0]) {
		lo = 0;
		hi = 1;
	} else if (freq >= curve[PESQ_CURVE_POINTS - 1][0]) {
		lo = PESQ_CURVE_POINTS - 2;
		hi = PESQ_CURVE_POINTS - 1;
	} else {
		hi = 1;
		while (curve[hi][0] < freq)
			hi++;
		lo = hi - 1;
	}
	double f_lo = curve[lo][0], f_hi = curve[hi][0];
	return (float)(((freq - f_lo) * curve[hi][1] + (f_hi - freq) * curve[lo][1]) / (f_hi - f_lo));
}

int pesq_curve_filter(pesq_fft_cache *c, const pesq_params *p, float *data, long n_signal,
                      const double (*curve)[2])
{
	long sb = PESQ_SEARCHBUFFER * p->downsample;
	long n = n_signal - 2 * sb + PESQ_DATAPADDING_MS * (p->fs / 1000);
	long n2 = pesq_nextpow2(n);
	float *x = calloc((size_t)n2 + 2, sizeof *x);
	if (!x)
		return DN_ENOMEM;
	for (long i = 0; i < n; i++)
		x[i] = data[i + sb];
	int rc = pesq_rfft(c, x, n2);
	if (rc == DN_OK) {
		float gain_1k = curve_at(1000.0f, curve);
		float resolution = (float)p->fs / (float)n2;
		for (long i = 0; i <= n2 / 2; i++) {
			float db = curve_at((float)i * resolution, curve) - gain_1k;
			float factor = (float)pow(10.0f, db / 20.0f);
			x[2 * i] *= factor;
			x[2 * i + 1] *= factor;
		}
		rc = pesq_irfft(c, x, n2);
	}
	if (rc == DN_OK)
		for (long i = 0; i < n; i++)
			data[i + sb] = x[i];
	free(x);
	return rc;
}

double pesq_pow_of(const float *x, long start, long stop, long divisor)
{
	double power = 0.0;
	for (long i = start; i < stop; i++) {
		float h = x[i];
		power += h * h;
	}
	return power / (double)divisor;
}
