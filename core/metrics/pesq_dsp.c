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
#include "core/metrics/pesq_internal.h"

#include <math.h>
#include <stdlib.h>

struct pesq_fft_plan {
	long n;             /* real length; the complex FFT has m = n/2 points */
	unsigned long used; /* cache age */
	long *rev;          /* bit reversal of 0..m-1 */
	double *split;      /* exp(-2πik/n), k < m, as (re, im); every other
	                     * one is a twiddle of the m-point FFT */
	double *work;       /* m complex values */
};

static void plan_free(struct pesq_fft_plan *pl)
{
	if (!pl)
		return;
	free(pl->rev);
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
	pl->split = malloc((size_t)(2 * m) * sizeof *pl->split);
	pl->work = malloc((size_t)(2 * m) * sizeof *pl->work);
	if (!pl->rev || !pl->split || !pl->work) {
		plan_free(pl);
		return NULL;
	}
	int bits = 0;
	while ((1L << bits) < m)
		bits++;
	pl->rev[0] = 0;
	for (long i = 1; i < m; i++)
		pl->rev[i] = (pl->rev[i >> 1] >> 1) | ((i & 1) << (bits - 1));

	/* exp(-2πik/n) for k < n/2 from the first octant by symmetry: one
	 * sincos per eight twiddles, and exact symmetry in the table. */
	double *w = pl->split;
	for (long k = 0; k <= n / 8 && k < m; k++) {
		double a = 2.0 * M_PI * (double)k / (double)n;
		w[2 * k] = cos(a);
		w[2 * k + 1] = -sin(a);
	}
	for (long k = n / 8 + 1; k <= n / 4 && k < m; k++) {
		w[2 * k] = -w[2 * (n / 4 - k) + 1];
		w[2 * k + 1] = -w[2 * (n / 4 - k)];
	}
	for (long k = n / 4 + 1; k < m; k++) {
		w[2 * k] = -w[2 * (n / 2 - k)];
		w[2 * k + 1] = w[2 * (n / 2 - k) + 1];
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

/* Butterflies of the stages with lengths len_from..len_to (powers of two)
 * over z[0..count) complex values. The twiddle of index j at length len
 * is exp(∓2πij/len) = split[2·j·(n/len)] with n = 2m. */
static void stages(const struct pesq_fft_plan *pl, double *restrict z, long count, long len_from, long len_to,
                   int sign)
{
	const long m = pl->n / 2;
	const double *restrict w = pl->split;
	const double conj = sign < 0 ? 1.0 : -1.0;
	for (long len = len_from; len <= len_to; len <<= 1) {
		const long half = len / 2, step = 2 * (m / len);
		for (long s = 0; s < count; s += len) {
			double *a = z + 2 * s, *b = z + 2 * (s + half);
			for (long j = 0; j < half; j++) {
				double wr = w[2 * j * step], wi = conj * w[2 * j * step + 1];
				double br = b[2 * j] * wr - b[2 * j + 1] * wi;
				double bi = b[2 * j] * wi + b[2 * j + 1] * wr;
				b[2 * j] = a[2 * j] - br;
				b[2 * j + 1] = a[2 * j + 1] - bi;
				a[2 * j] += br;
				a[2 * j + 1] += bi;
			}
		}
	}
}

/* Length-m blocks small enough for the cache run all their early stages
 * before the next block, so a long transform streams through memory only
 * for its last few stages. */
#define FFT_BLOCK 2048

/* In-place complex FFT of pl->work (m points); sign -1 forward, +1 inverse
 * (unscaled). */
static void cfft(struct pesq_fft_plan *pl, int sign)
{
	const long m = pl->n / 2;
	double *restrict z = pl->work;

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
	long block = m < FFT_BLOCK ? m : FFT_BLOCK;
	for (long s = 0; s < m; s += block)
		stages(pl, z + 2 * s, block, 2, block, sign);
	stages(pl, z, m, 2 * block, m, sign);
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
