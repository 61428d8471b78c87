/*
 * pesq_dsp.c — signal-processing helpers for PESQ: a radix-2 real FFT with
 * per-call plan cache, IIR sections, and the reference's FFT-domain filter.
 *
 * PESQ transforms lengths from 256 up to about 2^21 (whole-signal filters),
 * always powers of two, so a plain iterative radix-2 FFT is enough. A real
 * transform of length n runs as a complex one of length n/2 (the standard
 * even/odd split). Arithmetic is double; arrays stay float as in the
 * reference, whose own FFT is single precision.
 */
#include "core/dn.h"
#include "core/pesq_internal.h"

#include <math.h>
#include <stdlib.h>

struct pesq_fft_plan {
	long n;             /* real length; the complex FFT has m = n/2 points */
	unsigned long used; /* cache age */
	long *rev;          /* bit reversal of 0..m-1 */
	double *tw;         /* exp(-2πik/m), k < m/2, as (re, im) */
	double *split;      /* exp(-2πik/n), k < m, as (re, im) */
	double *work;       /* m complex values */
};

static void plan_free(struct pesq_fft_plan *pl)
{
	if (!pl)
		return;
	free(pl->rev);
	free(pl->tw);
	free(pl->split);
	free(pl->work);
	free(pl);
}

void pesq_fft_cache_free(pesq_fft_cache *c)
{
	for (int i = 0; i < PESQ_FFT_PLANS; i++) {
		plan_free(c->plan[i]);
		c->plan[i] = NULL;
	}
}

static struct pesq_fft_plan *plan_new(long n)
{
	long m = n / 2;
	struct pesq_fft_plan *pl = calloc(1, sizeof *pl);
	if (!pl)
		return NULL;
	pl->n = n;
	pl->rev = malloc((size_t)m * sizeof *pl->rev);
	pl->tw = malloc((size_t)m * sizeof *pl->tw); /* m/2 pairs */
	pl->split = malloc((size_t)(2 * m) * sizeof *pl->split);
	pl->work = malloc((size_t)(2 * m) * sizeof *pl->work);
	if (!pl->rev || !pl->tw || !pl->split || !pl->work) {
		plan_free(pl);
		return NULL;
	}
	int bits = 0;
	while ((1L << bits) < m)
		bits++;
	for (long i = 0; i < m; i++) {
		long r = 0;
		for (int b = 0; b < bits; b++)
			if (i & (1L << b))
				r |= 1L << (bits - 1 - b);
		pl->rev[i] = r;
	}
	for (long k = 0; k < m / 2; k++) {
		double a = -2.0 * M_PI * (double)k / (double)m;
		pl->tw[2 * k] = cos(a);
		pl->tw[2 * k + 1] = sin(a);
	}
	for (long k = 0; k < m; k++) {
		double a = -2.0 * M_PI * (double)k / (double)n;
		pl->split[2 * k] = cos(a);
		pl->split[2 * k + 1] = sin(a);
	}
	return pl;
}

/* The plan for length n, made (evicting the least recently used) if new. */
static struct pesq_fft_plan *plan_get(pesq_fft_cache *c, long n)
{
	int victim = 0;
	c->tick++;
	for (int i = 0; i < PESQ_FFT_PLANS; i++) {
		if (c->plan[i] && c->plan[i]->n == n) {
			c->plan[i]->used = c->tick;
			return c->plan[i];
		}
		if (!c->plan[i])
			victim = i;
		else if (c->plan[victim] && c->plan[i]->used < c->plan[victim]->used)
			victim = i;
	}
	struct pesq_fft_plan *pl = plan_new(n);
	if (!pl)
		return NULL;
	plan_free(c->plan[victim]);
	c->plan[victim] = pl;
	pl->used = c->tick;
	return pl;
}

/* In-place complex FFT of pl->work (m points); sign -1 forward, +1 inverse
 * (unscaled). */
static void cfft(struct pesq_fft_plan *pl, int sign)
{
	long m = pl->n / 2;
	double *restrict z = pl->work;
	const double *restrict tw = pl->tw;

	for (long i = 0; i < m; i++) {
		long r = pl->rev[i];
		if (r > i) {
			double t = z[2 * i];
			z[2 * i] = z[2 * r];
			z[2 * r] = t;
			t = z[2 * i + 1];
			z[2 * i + 1] = z[2 * r + 1];
			z[2 * r + 1] = t;
		}
	}
	for (long len = 2; len <= m; len <<= 1) {
		long half = len / 2, step = m / len;
		for (long s = 0; s < m; s += len) {
			for (long j = 0; j < half; j++) {
				double wr = tw[2 * j * step], wi = sign < 0 ? tw[2 * j * step + 1] : -tw[2 * j * step + 1];
				double *a = z + 2 * (s + j), *b = z + 2 * (s + j + half);
				double br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
				b[0] = a[0] - br;
				b[1] = a[1] - bi;
				a[0] += br;
				a[1] += bi;
			}
		}
	}
}

int pesq_rfft(pesq_fft_cache *c, float *x, long n)
{
	struct pesq_fft_plan *pl = plan_get(c, n);
	if (!pl)
		return DN_ENOMEM;
	long m = n / 2;
	double *z = pl->work;
	for (long i = 0; i < n; i++)
		z[i] = x[i];
	cfft(pl, -1);

	/* Even/odd split: E = (Z[k] + conj Z[m-k]) / 2, O = (Z[k] - conj Z[m-k]) / 2i,
	 * X[k] = E + W^k O. */
	double z0r = z[0], z0i = z[1];
	for (long k = 1; k <= m / 2; k++) {
		long j = m - k;
		double ar = z[2 * k], ai = z[2 * k + 1], br = z[2 * j], bi = -z[2 * j + 1];
		double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
		double or_ = 0.5 * (ai - bi), oi = -0.5 * (ar - br);
		double wr = pl->split[2 * k], wi = pl->split[2 * k + 1];
		double xr = er + wr * or_ - wi * oi, xi = ei + wr * oi + wi * or_;
		/* Bin m-k from the same pair: E and O there are the conjugates, and
		 * W^(m-k) = -conj W^k, so X[m-k] = conj(E - W^k O). */
		double yr = er - (wr * or_ - wi * oi), yi = -(ei - (wr * oi + wi * or_));
		x[2 * k] = (float)xr;
		x[2 * k + 1] = (float)xi;
		x[2 * j] = (float)yr;
		x[2 * j + 1] = (float)yi;
	}
	x[0] = (float)(z0r + z0i);
	x[1] = 0.0f;
	x[2 * m] = (float)(z0r - z0i);
	x[2 * m + 1] = 0.0f;
	return DN_OK;
}

int pesq_irfft(pesq_fft_cache *c, float *x, long n)
{
	struct pesq_fft_plan *pl = plan_get(c, n);
	if (!pl)
		return DN_ENOMEM;
	long m = n / 2;
	double *z = pl->work;

	/* E = (X[k] + conj X[m-k]) / 2, O = (X[k] - conj X[m-k]) / (2 W^k),
	 * Z[k] = E + i O. */
	for (long k = 0; k < m; k++) {
		long j = m - k;
		double ar = x[2 * k], ai = k ? x[2 * k + 1] : 0.0;
		double br = x[2 * j], bi = j < m ? -x[2 * j + 1] : 0.0;
		double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
		double dr = 0.5 * (ar - br), di = 0.5 * (ai - bi);
		double wr = pl->split[2 * k], wi = -pl->split[2 * k + 1]; /* W^-k */
		double or_ = dr * wr - di * wi, oi = dr * wi + di * wr;
		z[2 * k] = er - oi;
		z[2 * k + 1] = ei + or_;
	}
	cfft(pl, +1);
	double scale = 1.0 / (double)m;
	for (long i = 0; i < n; i++)
		x[i] = (float)(z[i] * scale);
	return DN_OK;
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
	for (int s = 0; s < n_sos; s++) {
		const float b0 = sos[s][0], b1 = sos[s][1], b2 = sos[s][2], a1 = sos[s][3], a2 = sos[s][4];
		float z1 = 0.0f, z2 = 0.0f;
		for (long i = 0; i < n; i++) {
			float z0 = x[i] - a1 * z1 - a2 * z2;
			x[i] = b0 * z0 + b1 * z1 + b2 * z2;
			z2 = z1;
			z1 = z0;
		}
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
