/*
 * stoi.c — STOI (Taal et al. 2011) and extended STOI (Jensen & Taal 2016).
 *
 * The numbers must agree with the widely used Python port `pystoi` (0.4),
 * which the project's reference values come from, so every step follows it,
 * including its quirks:
 *   1. resampling to 10 kHz with its Octave-compatible `resample_oct`: a
 *      Kaiser-windowed sinc (60 dB rejection, roll-off a tenth of the stop
 *      band), normalised to unit DC gain, applied as scipy's `resample_poly`
 *      does (zero-phase, zero padding, output length ceil(n·up/down));
 *   2. silent-frame removal on 256-sample frames, hop 128, window
 *      hanning(258)[1:-1]: frames start at 0, 128, … strictly before
 *      n − 256 (the last full frame is never looked at), a frame is kept when
 *      its energy is within 40 dB of the loudest, and the kept windowed frames
 *      are overlap-added back together;
 *   3. a 512-point STFT of the same frames of that signal, again strictly
 *      before len − 256, so one frame fewer than were kept (pystoi issue #32);
 *   4. 15 one-third-octave bands from 150 Hz, 30-frame segments; STOI clips
 *      the normalised degraded envelope at β = −15 dB, ESTOI normalises rows
 *      then columns of each segment. The small EPS terms are kept.
 * pystoi adds EPS-scaled Gaussian noise before ESTOI's normalisations (only
 * visible for an all-zero band row); here such a row stays zero instead, so
 * the result is deterministic.
 *
 * Where pystoi warns and returns 1e-5 (fewer than 30 STFT frames left after
 * silence removal) this returns DN_EINVAL with the frame count; an all-zero
 * reference is DN_EINVAL too; a rate whose reduced ratio to 10 kHz exceeds
 * 1000 (e.g. 16001 Hz: a filter of over a million taps) is DN_EUNSUPPORTED.
 *
 * Everything is computed in double; the 512-point real transforms are
 * FFTW's (core/audio/fft.h).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/audio/fft.h"
#include "core/metrics/metrics.h"

#define STOI_FS        10000
#define STOI_FRAME     256
#define STOI_HOP       128
#define STOI_NFFT      512
#define STOI_NBINS     (STOI_NFFT / 2 + 1)
#define STOI_BANDS     15
#define STOI_MINFREQ   150.0
#define STOI_N         30    /* frames per intermediate segment */
#define STOI_BETA      -15.0 /* lower SDR bound, dB */
#define STOI_DYN_RANGE 40.0  /* speech dynamic range, dB */
/* Largest reduced up/down factor accepted: the filter has ~2·290·max taps. */
#define STOI_MAX_RATIO 1000

/* numpy's finfo(float).eps, which pystoi adds to norms. */
static const double stoi_eps = 2.220446049250313e-16;

static size_t gcd_size(size_t a, size_t b)
{
	while (b) {
		size_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Modified Bessel function of the first kind, order 0, by its power series
 * (converges fast for the β ≈ 5.65 used here). */
static double bessel_i0(double x)
{
	double sum = 1.0, term = 1.0, q = x * x / 4.0;
	for (int k = 1; k < 200; k++) {
		term *= q / ((double)k * (double)k);
		sum += term;
		if (term < sum * 1e-17)
			break;
	}
	return sum;
}

/* The anti-aliasing filter of pystoi's resample_oct (a port of Octave's
 * resample.m), scaled by `up` as resample_poly does. Returns NULL on ENOMEM. */
static double *resample_filter(size_t up, size_t down, size_t *len)
{
	size_t mx = up > down ? up : down;
	double stop = 1.0 / (2.0 * (double)mx);
	double roll = stop / 10.0;
	double rej_db = 60.0; /* −20·log10(1e−3) */
	double half = ceil((rej_db - 8.0) / (28.714 * roll));
	double beta = 0.1102 * (rej_db - 8.7); /* Kaiser's rule for > 50 dB */
	size_t L = (size_t)half, n = 2 * L + 1;
	double *h = malloc(n * sizeof *h);
	if (!h)
		return NULL;
	double i0b = bessel_i0(beta), sum = 0.0;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i - (double)L;
		double x = 2.0 * stop * t;
		double sinc = t == 0 ? 1.0 : sin(M_PI * x) / (M_PI * x);
		double r = ((double)i - (double)L) / (double)L;
		double kw = bessel_i0(beta * sqrt(fmax(0.0, 1.0 - r * r))) / i0b;
		h[i] = kw * 2.0 * (double)up * stop * sinc;
		sum += h[i];
	}
	for (size_t i = 0; i < n; i++)
		h[i] = h[i] / sum * (double)up;
	*len = n;
	return h;
}

/* y[m] = Σ_i x[i]·h[m·down + c − i·up] for m < ceil(n·up/down), c the filter
 * centre: the zero-phase polyphase filter of scipy's resample_poly, with
 * samples outside x taken as zero. For pos = m·down + c, phase p = pos mod up
 * and q = pos div up, y[m] = Σ_j x[q − j]·h[p + j·up]; each phase's taps are
 * stored reversed and contiguous (ph + off[p]) so that the sum is a plain
 * dot product with x[q − len_p + 1 .. q]. Both signals share the taps. */
static void resample_apply(const double *xd, const double *yd, size_t n, const double *ph, const size_t *off,
                           size_t up, size_t down, size_t c, double *xo, double *yo, size_t nout)
{
	for (size_t m = 0; m < nout; m++) {
		size_t pos = m * down + c, p = pos % up, q = pos / up, len = off[p + 1] - off[p];
		const double *g = ph + off[p];
		/* x index of g[r] is q − len + 1 + r; keep 0 ≤ index < n. */
		size_t r0 = q + 1 >= len ? 0 : len - (q + 1);
		size_t r1 = q < n ? len : (q - n + 1 >= len ? 0 : len - (q - n + 1));
		double ax[4] = {0, 0, 0, 0}, ay[4] = {0, 0, 0, 0};
		size_t r = r0;
		if (r1 > r0) {
			const double *xs = xd + (q + 1 - len), *ys = yd + (q + 1 - len);
			for (; r + 4 <= r1; r += 4) {
				for (int k = 0; k < 4; k++) {
					ax[k] += xs[r + k] * g[r + k];
					ay[k] += ys[r + k] * g[r + k];
				}
			}
			for (; r < r1; r++) {
				ax[0] += xs[r] * g[r];
				ay[0] += ys[r] * g[r];
			}
		}
		xo[m] = (ax[0] + ax[1]) + (ax[2] + ax[3]);
		yo[m] = (ay[0] + ay[1]) + (ay[2] + ay[3]);
	}
}

/* Both signals at 10 kHz in double (a plain copy when already there). */
static int stoi_resample(const float *ref, const float *deg, size_t n, int rate, double **xo, double **yo,
                         size_t *nout, dn_error *err)
{
	size_t g = gcd_size(STOI_FS, (size_t)rate), up = STOI_FS / g, down = (size_t)rate / g;
	size_t m = up == down ? n : (n * up + down - 1) / down;
	double *x = malloc(m * sizeof *x), *y = malloc(m * sizeof *y);
	double *xd = NULL, *yd = NULL, *h = NULL, *ph = NULL;
	size_t *off = NULL;
	if (!x || !y)
		goto nomem;
	if (up == down) {
		for (size_t i = 0; i < n; i++) {
			x[i] = ref[i];
			y[i] = deg[i];
		}
	} else {
		size_t hlen = 0;
		h = resample_filter(up, down, &hlen);
		xd = malloc(n * sizeof *xd);
		yd = malloc(n * sizeof *yd);
		ph = malloc(hlen * sizeof *ph);
		off = malloc((up + 1) * sizeof *off);
		if (!h || !xd || !yd || !ph || !off)
			goto nomem;
		for (size_t i = 0; i < n; i++) {
			xd[i] = ref[i];
			yd[i] = deg[i];
		}
		/* Phase p holds h[p], h[p + up], ... reversed. */
		off[0] = 0;
		for (size_t p = 0; p < up; p++) {
			size_t len = p < hlen ? (hlen - p + up - 1) / up : 0;
			for (size_t j = 0; j < len; j++)
				ph[off[p] + len - 1 - j] = h[p + j * up];
			off[p + 1] = off[p] + len;
		}
		resample_apply(xd, yd, n, ph, off, up, down, hlen / 2, x, y, m);
		free(h);
		free(xd);
		free(yd);
		free(ph);
		free(off);
	}
	*xo = x;
	*yo = y;
	*nout = m;
	return DN_OK;
nomem:
	free(x);
	free(y);
	free(h);
	free(xd);
	free(yd);
	free(ph);
	free(off);
	return dn_error_set(err, DN_ENOMEM, "stoi: out of memory resampling %zu samples", n);
}

/* |U[k]|², k ≤ 256, of the 512-point DFT of u (256 samples, zero-padded).
 * Each signal gets its own transform: packing two signals into one would
 * leak rounding noise of one into the other, which STOI's normalisation then
 * amplifies when the other is silent. */
static void power_spectrum(dn_fft *fft, const double *u, double *pw)
{
	double *z = dn_fft_data(fft);
	for (int i = 0; i < STOI_FRAME; i++)
		z[i] = u[i];
	for (int i = STOI_FRAME; i < STOI_NFFT; i++)
		z[i] = 0.0;
	dn_fft_forward(fft);
	for (int k = 0; k < STOI_NBINS; k++)
		pw[k] = z[2 * k] * z[2 * k] + z[2 * k + 1] * z[2 * k + 1];
}

/* pystoi's thirdoct: band i covers FFT bins [lo[i], hi[i]), the bins nearest
 * (first on ties) to 150·2^((2i∓1)/6) Hz. */
static void third_octave_bins(int lo[STOI_BANDS], int hi[STOI_BANDS])
{
	for (int b = 0; b < STOI_BANDS; b++) {
		double fl = STOI_MINFREQ * pow(2.0, (2.0 * b - 1.0) / 6.0);
		double fh = STOI_MINFREQ * pow(2.0, (2.0 * b + 1.0) / 6.0);
		double bl = INFINITY, bh = INFINITY;
		for (int k = 0; k < STOI_NBINS; k++) {
			double f = (double)k * STOI_FS / STOI_NFFT;
			double dl = (f - fl) * (f - fl), dh = (f - fh) * (f - fh);
			if (dl < bl) {
				bl = dl;
				lo[b] = k;
			}
			if (dh < bh) {
				bh = dh;
				hi[b] = k;
			}
		}
	}
}

/* Drops frames more than 40 dB below the loudest frame of x and overlap-adds
 * the kept windowed frames of x and y in place; the result is
 * (kept − 1)·hop + 256 samples long. Returns the number of frames kept.
 * Needs n > 256. */
static size_t remove_silent_frames(double *x, double *y, size_t n, const double *w)
{
	size_t nf = (n - STOI_FRAME + STOI_HOP - 1) / STOI_HOP; /* starts < n − 256 */
	double emax = -INFINITY;
	for (size_t f = 0; f < nf; f++) {
		double s = 0.0;
		for (size_t i = 0; i < STOI_FRAME; i++) {
			double v = w[i] * x[f * STOI_HOP + i];
			s += v * v;
		}
		double e = 20.0 * log10(sqrt(s) + stoi_eps);
		if (e > emax)
			emax = e;
	}
	/* Second pass: recompute each energy (bit-identical to the first pass, so
	 * no buffer is needed) and overlap-add the kept frames in place. Output
	 * frame k starts at k·hop ≤ f·hop; each input frame is staged in fx/fy
	 * and only its first half is written out at once (the second half waits
	 * in tail_*), so writes never reach input not yet read. */
	double fx[STOI_FRAME], fy[STOI_FRAME], tail_x[STOI_HOP], tail_y[STOI_HOP];
	size_t kept = 0;
	for (size_t f = 0; f < nf; f++) {
		const double *xs = x + f * STOI_HOP, *ys = y + f * STOI_HOP;
		double s = 0.0;
		for (size_t i = 0; i < STOI_FRAME; i++) {
			fx[i] = w[i] * xs[i];
			fy[i] = w[i] * ys[i];
			s += fx[i] * fx[i];
		}
		double e = 20.0 * log10(sqrt(s) + stoi_eps);
		if (!(emax - STOI_DYN_RANGE - e < 0))
			continue;
		/* Output frame `kept` spans [kept·hop, kept·hop + 256): its first half
		 * overlaps the previous frame's second half, held in tail_*. */
		double *ox = x + kept * STOI_HOP, *oy = y + kept * STOI_HOP;
		for (size_t i = 0; i < STOI_HOP; i++) {
			double px = kept ? tail_x[i] : 0.0, py = kept ? tail_y[i] : 0.0;
			ox[i] = px + fx[i];
			oy[i] = py + fy[i];
			tail_x[i] = fx[STOI_HOP + i];
			tail_y[i] = fy[STOI_HOP + i];
		}
		kept++;
	}
	/* Flush the last half frame. */
	if (kept) {
		double *ox = x + kept * STOI_HOP, *oy = y + kept * STOI_HOP;
		for (size_t i = 0; i < STOI_HOP; i++) {
			ox[i] = tail_x[i];
			oy[i] = tail_y[i];
		}
	}
	return kept;
}

/* One-third-octave band envelopes of the STFT frames of x and y:
 * xt[f·15 + b] = sqrt(Σ_{k∈band b} |X_f[k]|²). */
static int band_envelopes(const double *x, const double *y, size_t nframes, const double *w, double *xt,
                          double *yt, dn_error *err)
{
	dn_fft *fft;
	int rc = dn_fft_create(STOI_NFFT, &fft, err);
	if (rc != DN_OK)
		return rc;
	int lo[STOI_BANDS], hi[STOI_BANDS];
	third_octave_bins(lo, hi);
	double fr[STOI_FRAME], px[STOI_NBINS], py[STOI_NBINS];
	for (size_t f = 0; f < nframes; f++) {
		const double *xs = x + f * STOI_HOP, *ys = y + f * STOI_HOP;
		for (int i = 0; i < STOI_FRAME; i++)
			fr[i] = w[i] * xs[i];
		power_spectrum(fft, fr, px);
		for (int i = 0; i < STOI_FRAME; i++)
			fr[i] = w[i] * ys[i];
		power_spectrum(fft, fr, py);
		for (int b = 0; b < STOI_BANDS; b++) {
			double sx = 0.0, sy = 0.0;
			for (int k = lo[b]; k < hi[b]; k++) {
				sx += px[k];
				sy += py[k];
			}
			xt[f * STOI_BANDS + b] = sqrt(sx);
			yt[f * STOI_BANDS + b] = sqrt(sy);
		}
	}
	dn_fft_destroy(fft);
	return DN_OK;
}

/* Mean over segments and bands of the correlation between the clean band
 * envelope and the normalised, clipped degraded one (Taal et al., eq. 5–6). */
static double stoi_classic(const double *xt, const double *yt, size_t nseg)
{
	const double clip = pow(10.0, -STOI_BETA / 20.0);
	double total = 0.0;
	for (size_t m = 0; m < nseg; m++) {
		for (int b = 0; b < STOI_BANDS; b++) {
			double xs[STOI_N], yp[STOI_N], nx = 0.0, ny = 0.0;
			for (int t = 0; t < STOI_N; t++) {
				xs[t] = xt[(m + t) * STOI_BANDS + b];
				yp[t] = yt[(m + t) * STOI_BANDS + b];
				nx += xs[t] * xs[t];
				ny += yp[t] * yp[t];
			}
			double a = sqrt(nx) / (sqrt(ny) + stoi_eps), mx = 0.0, my = 0.0;
			for (int t = 0; t < STOI_N; t++) {
				yp[t] = fmin(yp[t] * a, xs[t] * (1.0 + clip));
				mx += xs[t];
				my += yp[t];
			}
			mx /= STOI_N;
			my /= STOI_N;
			double sxx = 0.0, syy = 0.0;
			for (int t = 0; t < STOI_N; t++) {
				xs[t] -= mx;
				yp[t] -= my;
				sxx += xs[t] * xs[t];
				syy += yp[t] * yp[t];
			}
			double dx = sqrt(sxx) + stoi_eps, dy = sqrt(syy) + stoi_eps, c = 0.0;
			for (int t = 0; t < STOI_N; t++)
				c += (xs[t] / dx) * (yp[t] / dy);
			total += c;
		}
	}
	return total / ((double)nseg * STOI_BANDS);
}

/* Removes the mean of each band row (over time), scales it to unit norm, then
 * the same for each frame column (over bands). A zero-norm row or column is
 * left at zero. */
static void row_col_normalize(double seg[STOI_BANDS][STOI_N])
{
	for (int b = 0; b < STOI_BANDS; b++) {
		double mean = 0.0, ss = 0.0;
		for (int t = 0; t < STOI_N; t++)
			mean += seg[b][t];
		mean /= STOI_N;
		for (int t = 0; t < STOI_N; t++) {
			seg[b][t] -= mean;
			ss += seg[b][t] * seg[b][t];
		}
		double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
		for (int t = 0; t < STOI_N; t++)
			seg[b][t] *= inv;
	}
	for (int t = 0; t < STOI_N; t++) {
		double mean = 0.0, ss = 0.0;
		for (int b = 0; b < STOI_BANDS; b++)
			mean += seg[b][t];
		mean /= STOI_BANDS;
		for (int b = 0; b < STOI_BANDS; b++) {
			seg[b][t] -= mean;
			ss += seg[b][t] * seg[b][t];
		}
		double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
		for (int b = 0; b < STOI_BANDS; b++)
			seg[b][t] *= inv;
	}
}

/* ESTOI: mean over segments of the mean over frames of the column-wise
 * correlation of the row/column-normalised segments (Jensen & Taal, eq. 9). */
static double stoi_extended(const double *xt, const double *yt, size_t nseg)
{
	double total = 0.0;
	for (size_t m = 0; m < nseg; m++) {
		double xs[STOI_BANDS][STOI_N], ys[STOI_BANDS][STOI_N];
		for (int b = 0; b < STOI_BANDS; b++) {
			for (int t = 0; t < STOI_N; t++) {
				xs[b][t] = xt[(m + t) * STOI_BANDS + b];
				ys[b][t] = yt[(m + t) * STOI_BANDS + b];
			}
		}
		row_col_normalize(xs);
		row_col_normalize(ys);
		double s = 0.0;
		for (int b = 0; b < STOI_BANDS; b++)
			for (int t = 0; t < STOI_N; t++)
				s += xs[b][t] * ys[b][t];
		total += s / STOI_N;
	}
	return total / (double)nseg;
}

int dn_metrics_stoi(const float *ref, const float *deg, size_t n, int rate, int extended, double *out,
                    dn_error *err)
{
	const char *name = extended ? "estoi" : "stoi";
	if (!ref || !deg || !out)
		return dn_error_set(err, DN_EINVAL, "%s: NULL argument", name);
	if (n == 0)
		return dn_error_set(err, DN_EINVAL, "%s: empty signals", name);
	if (rate <= 0)
		return dn_error_set(err, DN_EINVAL, "%s: sample rate %d is not positive", name, rate);
	size_t g = gcd_size(STOI_FS, (size_t)rate);
	if ((size_t)rate / g > STOI_MAX_RATIO || STOI_FS / g > STOI_MAX_RATIO)
		return dn_error_set(
		    err, DN_EUNSUPPORTED,
		    "%s: sample rate %d Hz gives a resampling ratio %zu/%zu to 10 kHz beyond %d", name, rate,
		    (size_t)STOI_FS / g, (size_t)rate / g, STOI_MAX_RATIO);
	if (n > SIZE_MAX / 2 / STOI_MAX_RATIO)
		return dn_error_set(err, DN_ELIMIT, "%s: %zu samples is too many", name, n);
	int silent = 1;
	for (size_t i = 0; i < n && silent; i++)
		silent = ref[i] == 0.0f;
	if (silent)
		return dn_error_set(err, DN_EINVAL, "%s: the reference signal is all zero", name);

	double *x = NULL, *y = NULL;
	size_t m = 0;
	int rc = stoi_resample(ref, deg, n, rate, &x, &y, &m, err);
	if (rc)
		return rc;

	double w[STOI_FRAME]; /* MATLAB hanning(256) = numpy hanning(258)[1:-1] */
	for (int i = 0; i < STOI_FRAME; i++)
		w[i] = 0.5 - 0.5 * cos(2.0 * M_PI * (i + 1) / (STOI_FRAME + 1));

	size_t kept = m > STOI_FRAME ? remove_silent_frames(x, y, m, w) : 0;
	/* STFT frames start strictly before len − 256: one fewer than were kept. */
	size_t nframes = kept ? kept - 1 : 0;
	if (nframes < STOI_N) {
		free(x);
		free(y);
		return dn_error_set(
		    err, DN_EINVAL,
		    "%s: %zu STFT frames after removing silent frames, at least %d are needed "
		    "(about %.2f s of speech)",
		    name, nframes, STOI_N, (double)((STOI_N + 1) * STOI_HOP) / STOI_FS);
	}

	double *xt = malloc(nframes * STOI_BANDS * sizeof *xt),
	       *yt = malloc(nframes * STOI_BANDS * sizeof *yt);
	if (!xt || !yt) {
		free(xt);
		free(yt);
		free(x);
		free(y);
		return dn_error_set(err, DN_ENOMEM, "%s: out of memory for %zu frames", name, nframes);
	}
	rc = band_envelopes(x, y, nframes, w, xt, yt, err);
	free(x);
	free(y);
	if (rc != DN_OK) {
		free(xt);
		free(yt);
		return rc;
	}
	size_t nseg = nframes - STOI_N + 1;
	*out = extended ? stoi_extended(xt, yt, nseg) : stoi_classic(xt, yt, nseg);
	free(xt);
	free(yt);
	return DN_OK;
}
