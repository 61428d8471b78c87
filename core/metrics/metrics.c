/*
 * metrics.c — waveform energy ratios (SNR, segmental SNR, SI-SDR) and the
 * array measures (MSE, MAE, PSNR, SSIM). STOI lives in stoi.c, PESQ in
 * pesq.c, and dn_metrics_speech in metrics_speech.c.
 *
 * Sums run in double whatever the input type. Defined corner values (not
 * errors): identical signals give SNR and SI-SDR +inf and a seg-SNR of 35 dB;
 * identical arrays give PSNR +inf. Errors (DN_EINVAL with a message): NULL
 * pointers, n == 0, a reference that is all zero for SNR (the ratio has no
 * meaning) or constant for SI-SDR (nothing left after removing the mean),
 * signals shorter than one 512-sample frame for seg-SNR, non-positive
 * peak/range, SSIM images smaller than the 11×11 window.
 */
#include <math.h>
#include <stdlib.h>

#include "core/metrics/metrics.h"

#define SEG_FRAME 512
#define SEG_MIN   -10.0
#define SEG_MAX   35.0

#define SSIM_WIN   11 /* Gaussian window: radius int(3.5·1.5 + 0.5) = 5 */
#define SSIM_SIGMA 1.5
#define SSIM_K1    0.01
#define SSIM_K2    0.03

static int check_pair(const char *name, const float *a, const float *b, size_t n, const double *out,
                      dn_error *err)
{
	if (!a || !b || !out)
		return dn_error_set(err, DN_EINVAL, "%s: NULL argument", name);
	if (n == 0)
		return dn_error_set(err, DN_EINVAL, "%s: empty input", name);
	return DN_OK;
}

int dn_metrics_snr(const float *ref, const float *deg, size_t n, double *out, dn_error *err)
{
	int rc = check_pair("snr", ref, deg, n, out, err);
	if (rc)
		return rc;
	double ps = 0.0, pe = 0.0;
	for (size_t i = 0; i < n; i++) {
		double s = ref[i], e = s - (double)deg[i];
		ps += s * s;
		pe += e * e;
	}
	if (ps == 0.0)
		return dn_error_set(err, DN_EINVAL, "snr: the reference signal is all zero");
	*out = pe == 0.0 ? INFINITY : 10.0 * log10(ps / pe);
	return DN_OK;
}

/* Frames are whole 512-sample blocks; a shorter tail is left out, as in the
 * reference values. Per frame: 35 dB where the error is zero (even if the
 * frame is silent, so identical signals score 35), −10 dB where the clean
 * frame is silent, else the clamped ratio. */
int dn_metrics_seg_snr(const float *ref, const float *deg, size_t n, double *out, dn_error *err)
{
	int rc = check_pair("seg_snr", ref, deg, n, out, err);
	if (rc)
		return rc;
	size_t nf = n / SEG_FRAME;
	if (nf == 0)
		return dn_error_set(err, DN_EINVAL,
		                    "seg_snr: %zu samples is shorter than one %d-sample frame", n, SEG_FRAME);
	double total = 0.0;
	for (size_t f = 0; f < nf; f++) {
		double ps = 0.0, pe = 0.0;
		for (size_t i = f * SEG_FRAME; i < (f + 1) * SEG_FRAME; i++) {
			double s = ref[i], e = s - (double)deg[i];
			ps += s * s;
			pe += e * e;
		}
		double v;
		if (pe == 0.0)
			v = SEG_MAX;
		else if (ps == 0.0)
			v = SEG_MIN;
		else
			v = fmin(SEG_MAX, fmax(SEG_MIN, 10.0 * log10(ps / pe)));
		total += v;
	}
	*out = total / (double)nf;
	return DN_OK;
}

/* With s and ŝ mean-removed, α = ⟨ŝ,s⟩/⟨s,s⟩, t = αs:
 * SI-SDR = 10·log10(Σt² / Σ(ŝ − t)²). An estimate with no component along s
 * (t = 0) gives −inf; one equal to t gives +inf. */
int dn_metrics_si_sdr(const float *ref, const float *deg, size_t n, double *out, dn_error *err)
{
	int rc = check_pair("si_sdr", ref, deg, n, out, err);
	if (rc)
		return rc;
	double ms = 0.0, md = 0.0;
	for (size_t i = 0; i < n; i++) {
		ms += ref[i];
		md += deg[i];
	}
	ms /= (double)n;
	md /= (double)n;
	double ss = 0.0, sd = 0.0;
	for (size_t i = 0; i < n; i++) {
		double s = ref[i] - ms, d = deg[i] - md;
		ss += s * s;
		sd += s * d;
	}
	if (ss == 0.0)
		return dn_error_set(err, DN_EINVAL,
		                    "si_sdr: the reference signal is constant (zero after mean removal)");
	double alpha = sd / ss, pt = 0.0, pe = 0.0;
	for (size_t i = 0; i < n; i++) {
		double t = alpha * (ref[i] - ms), e = (deg[i] - md) - t;
		pt += t * t;
		pe += e * e;
	}
	if (pt == 0.0)
		*out = -INFINITY;
	else if (pe == 0.0)
		*out = INFINITY;
	else
		*out = 10.0 * log10(pt / pe);
	return DN_OK;
}

int dn_metrics_mse(const float *a, const float *b, size_t n, double *out, dn_error *err)
{
	int rc = check_pair("mse", a, b, n, out, err);
	if (rc)
		return rc;
	double s = 0.0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - (double)b[i];
		s += d * d;
	}
	*out = s / (double)n;
	return DN_OK;
}

int dn_metrics_mae(const float *a, const float *b, size_t n, double *out, dn_error *err)
{
	int rc = check_pair("mae", a, b, n, out, err);
	if (rc)
		return rc;
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += fabs((double)a[i] - (double)b[i]);
	*out = s / (double)n;
	return DN_OK;
}

/* 10·log10(peak² / MSE); +inf for identical arrays. */
int dn_metrics_psnr(const float *ref, const float *x, size_t n, double peak, double *out, dn_error *err)
{
	int rc = check_pair("psnr", ref, x, n, out, err);
	if (rc)
		return rc;
	if (!(peak > 0.0) || !isfinite(peak))
		return dn_error_set(err, DN_EINVAL, "psnr: peak %g is not a positive finite value", peak);
	double mse;
	rc = dn_metrics_mse(ref, x, n, &mse, err);
	if (rc)
		return rc;
	*out = mse == 0.0 ? INFINITY : 10.0 * log10(peak * peak / mse);
	return DN_OK;
}

/* Separable 11-tap Gaussian filter over the valid region only: out is
 * (h − 10) × (w − 10), each value the weighted mean of the 11×11 block whose
 * top-left corner it indexes. tmp holds h × (w − 10). */
static void gauss_valid(const double *in, int h, int w, const double *g, double *tmp, double *out)
{
	int vw = w - (SSIM_WIN - 1), vh = h - (SSIM_WIN - 1);
	for (int r = 0; r < h; r++) {
		const double *row = in + (size_t)r * w;
		for (int c = 0; c < vw; c++) {
			double s = 0.0;
			for (int k = 0; k < SSIM_WIN; k++)
				s += g[k] * row[c + k];
			tmp[(size_t)r * vw + c] = s;
		}
	}
	for (int r = 0; r < vh; r++) {
		for (int c = 0; c < vw; c++) {
			double s = 0.0;
			for (int k = 0; k < SSIM_WIN; k++)
				s += g[k] * tmp[(size_t)(r + k) * vw + c];
			out[(size_t)r * vw + c] = s;
		}
	}
}

/* SSIM (Wang et al. 2004) with the convention of scikit-image's
 * structural_similarity(gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=range): local means, variances and
 * covariance from an 11×11 Gaussian window (σ 1.5, normalised to sum 1),
 * population (biased) moments, C1 = (0.01·range)², C2 = (0.03·range)², and
 * the result is the mean of the SSIM map over the positions where the window
 * lies wholly inside the image — skimage's mean over the map cropped by 5 px,
 * where its boundary padding has no effect. */
int dn_metrics_ssim(const float *ref, const float *x, int h, int w, double range, double *out, dn_error *err)
{
	if (!ref || !x || !out)
		return dn_error_set(err, DN_EINVAL, "ssim: NULL argument");
	if (h < SSIM_WIN || w < SSIM_WIN)
		return dn_error_set(err, DN_EINVAL, "ssim: a %dx%d image is smaller than the %dx%d window", h,
		                    w, SSIM_WIN, SSIM_WIN);
	if (!(range > 0.0) || !isfinite(range))
		return dn_error_set(err, DN_EINVAL, "ssim: range %g is not a positive finite value", range);

	double g[SSIM_WIN], gs = 0.0;
	for (int k = 0; k < SSIM_WIN; k++) {
		double t = k - SSIM_WIN / 2;
		g[k] = exp(-0.5 * t * t / (SSIM_SIGMA * SSIM_SIGMA));
		gs += g[k];
	}
	for (int k = 0; k < SSIM_WIN; k++)
		g[k] /= gs;

	size_t np = (size_t)h * (size_t)w;
	int vh = h - (SSIM_WIN - 1), vw = w - (SSIM_WIN - 1);
	size_t nv = (size_t)vh * (size_t)vw;
	/* in: one product image at a time; tmp: row-filtered; five filtered maps. */
	double *in = malloc(np * sizeof *in), *tmp = malloc((size_t)h * vw * sizeof *tmp);
	double *mu = malloc(5 * nv * sizeof *mu);
	if (!in || !tmp || !mu) {
		free(in);
		free(tmp);
		free(mu);
		return dn_error_set(err, DN_ENOMEM, "ssim: out of memory for a %dx%d image", h, w);
	}
	double *ux = mu, *uy = mu + nv, *uxx = mu + 2 * nv, *uyy = mu + 3 * nv, *uxy = mu + 4 * nv;
	for (int which = 0; which < 5; which++) {
		for (size_t i = 0; i < np; i++) {
			double a = ref[i], b = x[i];
			in[i] = which == 0   ? a
			        : which == 1 ? b
			        : which == 2 ? a * a
			        : which == 3 ? b * b
			                     : a * b;
		}
		gauss_valid(in, h, w, g, tmp, mu + (size_t)which * nv);
	}
	const double c1 = (SSIM_K1 * range) * (SSIM_K1 * range), c2 = (SSIM_K2 * range) * (SSIM_K2 * range);
	double total = 0.0;
	for (size_t i = 0; i < nv; i++) {
		double vx = uxx[i] - ux[i] * ux[i], vy = uyy[i] - uy[i] * uy[i], vxy = uxy[i] - ux[i] * uy[i];
		double num = (2.0 * ux[i] * uy[i] + c1) * (2.0 * vxy + c2);
		double den = (ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2);
		total += num / den;
	}
	free(in);
	free(tmp);
	free(mu);
	*out = total / (double)nv;
	return DN_OK;
}
