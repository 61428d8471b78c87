/*
 * test_metrics.c — the metrics of core/metrics/metrics.h (all but PESQ) against the
 * shared reference vectors, against values computed independently in Python
 * (tests/metrics_ref.py: scipy for SSIM, pystoi for STOI at other rates), on
 * hand-computable inputs, and on every defined corner case and error.
 *
 * Vectors: $DN_TESTVECTORS, else $DN_SRCDIR/../shared/testvectors/metrics,
 * else /work/shared/testvectors/metrics; without them the other checks run and
 * the program reports "skipped" (exit 77) unless one of them failed.
 */
#include <jansson.h>
#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/metrics/metrics.h"
#include "tests/check.h"

/* Tolerances from the vectors' README. */
#define TOL_STOI 0.005
#define TOL_DB   0.01

/* The LCG of tests/metrics_ref.py: 64-bit state, upper 32 bits out. */
static uint32_t lcg_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 32);
}

static int is_dir(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *vectors_dir(char *buf, size_t size)
{
	const char *env = getenv("DN_TESTVECTORS");
	if (is_dir(env))
		return env;
	const char *src = getenv("DN_SRCDIR");
	if (src) {
		snprintf(buf, size, "%s/../shared/testvectors/metrics", src);
		if (is_dir(buf))
			return buf;
	}
	return is_dir("/work/shared/testvectors/metrics") ? "/work/shared/testvectors/metrics" : NULL;
}

/* Reads a mono WAV into a malloc'd float array. */
static float *read_wav(const char *path, size_t *n, int *rate)
{
	SF_INFO info = {0};
	SNDFILE *f = sf_open(path, SFM_READ, &info);
	if (!f) {
		fprintf(stderr, "cannot open %s: %s\n", path, sf_strerror(NULL));
		return NULL;
	}
	float *buf = NULL;
	if (info.channels == 1 && info.frames > 0) {
		buf = malloc((size_t)info.frames * sizeof *buf);
		if (buf && sf_readf_float(f, buf, info.frames) != info.frames) {
			free(buf);
			buf = NULL;
		}
	}
	sf_close(f);
	*n = (size_t)info.frames;
	*rate = info.samplerate;
	return buf;
}

static double json_num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* 0 when the vectors are not there (nothing checked). */
static int test_vectors(void)
{
	char buf[4096];
	const char *dir = vectors_dir(buf, sizeof buf);
	if (!dir) {
		printf("SKIP: metric test vectors not found (set DN_TESTVECTORS, or put shared/ beside "
		       "the source tree)\n");
		return 0;
	}
	char path[4200];
	snprintf(path, sizeof path, "%s/expected.json", dir);
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	CHECK_MSG(root != NULL, "%s: %s", path, jerr.text);
	json_t *cases = json_object_get(root, "cases");
	CHECK(json_is_array(cases) && json_array_size(cases) > 0);

	printf("%-26s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "case", "stoi", "ref", "estoi", "ref",
	       "si_sdr", "ref", "snr", "ref", "seg_snr", "ref");
	double worst[5] = {0};
	size_t i;
	json_t *c;
	json_array_foreach(cases, i, c)
	{
		const char *id = json_string_value(json_object_get(c, "id"));
		CHECK(id != NULL);
		if (!id)
			continue;
		size_t nr, nd;
		int rr, rd;
		snprintf(path, sizeof path, "%s/%s.clean.wav", dir, id);
		float *ref = read_wav(path, &nr, &rr);
		snprintf(path, sizeof path, "%s/%s.degraded.wav", dir, id);
		float *deg = read_wav(path, &nd, &rd);
		CHECK_MSG(ref && deg && nr == nd && rr == rd, "%s: unreadable or mismatched pair", id);
		if (ref && deg && nr == nd && rr == rd) {
			double got[5] = {NAN, NAN, NAN, NAN, NAN};
			double want[5] = {json_num(c, "stoi"), json_num(c, "estoi"), json_num(c, "si_sdr_db"),
			                  json_num(c, "snr_db"), json_num(c, "seg_snr_db")};
			dn_error err;
			CHECK_RC(dn_metrics_stoi(ref, deg, nr, rr, 0, &got[0], &err), DN_OK);
			CHECK_RC(dn_metrics_stoi(ref, deg, nr, rr, 1, &got[1], &err), DN_OK);
			CHECK_RC(dn_metrics_si_sdr(ref, deg, nr, &got[2], &err), DN_OK);
			CHECK_RC(dn_metrics_snr(ref, deg, nr, &got[3], &err), DN_OK);
			CHECK_RC(dn_metrics_seg_snr(ref, deg, nr, &got[4], &err), DN_OK);
			static const char *const names[5] = {"stoi", "estoi", "si_sdr_db", "snr_db",
			                                     "seg_snr_db"};
			for (int k = 0; k < 5; k++) {
				double tol = k < 2 ? TOL_STOI : TOL_DB;
				CHECK_MSG(fabs(got[k] - want[k]) <= tol,
				          "%s %s = %.6f, expected %.6f (tol %g)", id, names[k], got[k],
				          want[k], tol);
				if (fabs(got[k] - want[k]) > worst[k] || isnan(got[k]))
					worst[k] = isnan(got[k]) ? INFINITY : fabs(got[k] - want[k]);
			}
			printf("%-26s %9.5f %9.5f %9.5f %9.5f %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f\n", id,
			       got[0], want[0], got[1], want[1], got[2], want[2], got[3], want[3], got[4],
			       want[4]);
		}
		free(ref);
		free(deg);
	}
	printf("largest |difference|: stoi %.2e, estoi %.2e, si_sdr %.2e dB, snr %.2e dB, seg_snr %.2e dB "
	       "over %zu cases\n",
	       worst[0], worst[1], worst[2], worst[3], worst[4], json_array_size(cases));
	json_decref(root);
	return 1;
}

/* The synthetic signals of tests/metrics_ref.py: a two-harmonic 140 Hz tone
 * and two partials, each with its own squared-sine envelope (so that there
 * are silent stretches and band-specific modulation), plus LCG noise. */
static void stoi_signals(int rate, float *clean, float *deg, size_t n)
{
	uint64_t s = (uint64_t)rate;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate;
		double e1 = fmax(0.0, sin(2 * M_PI * 1.7 * t)), e2 = fmax(0.0, sin(2 * M_PI * 3.1 * t));
		double e3 = fmax(0.0, sin(2 * M_PI * 5.3 * t + 1.0));
		double v = e1 * e1 * (sin(2 * M_PI * 140 * t) + 0.5 * sin(2 * M_PI * 280 * t + 0.3)) +
		           0.6 * e2 * e2 * sin(2 * M_PI * 910 * t) + 0.4 * e3 * e3 * sin(2 * M_PI * 2300 * t);
		clean[i] = (float)v;
		double noise = lcg_next(&s) / 4294967296.0 - 0.5;
		deg[i] = (float)((double)clean[i] + 0.3 * noise);
	}
}

/* STOI at rates other than the vectors' 16 kHz: the resampler's other
 * ratios (5/4, 1 = none, 200/441, 100/441, 5/24) against pystoi. Besides the
 * README's ±0.005, these must agree to 1e-6: the implementation follows
 * pystoi step by step, and slips such as an extra STFT frame at the end
 * shift a 3-s result by far less than 0.005 but far more than 1e-6. */
#define TOL_STOI_EXACT 1e-6
static void test_stoi_rates(void)
{
	static const struct {
		int rate;
		double stoi, estoi;
	} ref[] = {
	    {8000, 0.728187781, 0.293918642},  {10000, 0.760908755, 0.337005224},
	    {22050, 0.728266359, 0.310314763}, {44100, 0.756967573, 0.324506400},
	    {48000, 0.748136308, 0.342398274},
	};
	for (size_t k = 0; k < sizeof ref / sizeof ref[0]; k++) {
		size_t n = 3 * (size_t)ref[k].rate;
		float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
		CHECK(x && y);
		if (x && y) {
			stoi_signals(ref[k].rate, x, y, n);
			double d = NAN, e = NAN;
			dn_error err;
			CHECK_RC(dn_metrics_stoi(x, y, n, ref[k].rate, 0, &d, &err), DN_OK);
			CHECK_RC(dn_metrics_stoi(x, y, n, ref[k].rate, 1, &e, &err), DN_OK);
			printf("stoi at %5d Hz: %.6f (pystoi %.6f), estoi %.6f (pystoi %.6f)\n", ref[k].rate,
			       d, ref[k].stoi, e, ref[k].estoi);
			CHECK_NEAR(d, ref[k].stoi, TOL_STOI_EXACT);
			CHECK_NEAR(e, ref[k].estoi, TOL_STOI_EXACT);
		}
		free(x);
		free(y);
	}
}

static void test_waveform_edges(void)
{
	enum { N = 16000 };
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *z = calloc(N, sizeof *z);
	CHECK(x && y && z);
	if (!x || !y || !z)
		goto out;
	stoi_signals(16000, x, y, N);
	dn_error err;
	double v;

	/* Identical signals: defined values, not errors. */
	CHECK_RC(dn_metrics_snr(x, x, N, &v, &err), DN_OK);
	CHECK(isinf(v) && v > 0);
	CHECK_RC(dn_metrics_si_sdr(x, x, N, &v, &err), DN_OK);
	CHECK(isinf(v) && v > 0);
	CHECK_RC(dn_metrics_seg_snr(x, x, N, &v, &err), DN_OK);
	CHECK_NEAR(v, 35.0, 0.0);
	CHECK_RC(dn_metrics_stoi(x, x, N, 16000, 0, &v, &err), DN_OK);
	CHECK_NEAR(v, 1.0, 1e-9);
	CHECK_RC(dn_metrics_stoi(x, x, N, 16000, 1, &v, &err), DN_OK);
	CHECK_NEAR(v, 1.0, 1e-9);

	/* Hand-computable SNR and seg-SNR: y = x/2 makes the error x/2, a ratio
	 * of 4 (6.02 dB) in every frame; the tail past the last whole 512-sample
	 * frame is ignored, so spoiling it changes nothing. */
	for (size_t i = 0; i < N; i++)
		y[i] = x[i] * 0.5f;
	CHECK_RC(dn_metrics_snr(x, y, N, &v, &err), DN_OK);
	CHECK_NEAR(v, 10.0 * log10(4.0), 1e-9);
	size_t whole = N / 512 * 512;
	for (size_t i = whole; i < N; i++)
		y[i] = 100.0f;
	CHECK_RC(dn_metrics_seg_snr(x, y, N, &v, &err), DN_OK);
	CHECK_NEAR(v, 10.0 * log10(4.0), 1e-9);
	/* SI-SDR ignores scale and offset: 0.5x + 3 is still a perfect estimate. */
	for (size_t i = 0; i < N; i++)
		y[i] = x[i] * 0.5f + 3.0f;
	CHECK_RC(dn_metrics_si_sdr(x, y, N, &v, &err), DN_OK);
	CHECK(v > 100.0);
	/* seg-SNR clamps: a frame with error 100x the signal is −10 (not −40),
	 * a nearly perfect one 35. Two frames: mean 12.5. */
	for (size_t i = 0; i < 1024; i++)
		y[i] = i < 512 ? x[i] * 101.0f : x[i] * (1.0f + 1e-6f);
	CHECK_RC(dn_metrics_seg_snr(x, y, 1024, &v, &err), DN_OK);
	CHECK_NEAR(v, 12.5, 1e-9);

	/* Silent reference: SNR, SI-SDR and STOI refuse; seg-SNR scores each
	 * silent frame −10 (35 where the degraded one is silent too). */
	CHECK_RC(dn_metrics_snr(z, y, N, &v, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "zero") != NULL);
	CHECK_RC(dn_metrics_snr(z, z, N, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_si_sdr(z, y, N, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_stoi(z, y, N, 16000, 0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_stoi(z, y, N, 16000, 1, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_seg_snr(z, y, N, &v, &err), DN_OK);
	CHECK_NEAR(v, -10.0, 0.0);
	CHECK_RC(dn_metrics_seg_snr(z, z, N, &v, &err), DN_OK);
	CHECK_NEAR(v, 35.0, 0.0);
	/* Silent estimate: SNR 0 dB (error = signal), SI-SDR −inf, STOI 0. */
	CHECK_RC(dn_metrics_snr(x, z, N, &v, &err), DN_OK);
	CHECK_NEAR(v, 0.0, 1e-12);
	CHECK_RC(dn_metrics_si_sdr(x, z, N, &v, &err), DN_OK);
	CHECK(isinf(v) && v < 0);
	CHECK_RC(dn_metrics_stoi(x, z, N, 16000, 0, &v, &err), DN_OK);
	CHECK_NEAR(v, 0.0, 1e-12);

	/* Too short for STOI: 0.2 s gives fewer than 30 frames. */
	CHECK_RC(dn_metrics_stoi(x, y, 3200, 16000, 0, &v, &err), DN_EINVAL);
	CHECK_MSG(strstr(err.msg, "at least 30") != NULL, "message: %s", err.msg);
	CHECK_RC(dn_metrics_stoi(x, y, 100, 16000, 1, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_stoi(x, y, 1, 16000, 0, &v, &err), DN_EINVAL);
	/* Long enough in samples, but too little of it above the silence floor. */
	for (size_t i = 0; i < N; i++)
		y[i] = i >= 1000 && i < 1400 ? x[i] : 0.0f;
	CHECK_RC(dn_metrics_stoi(y, x, N, 16000, 0, &v, &err), DN_EINVAL);
	CHECK_MSG(strstr(err.msg, "silent") != NULL, "message: %s", err.msg);
	/* seg-SNR needs one whole frame. */
	CHECK_RC(dn_metrics_seg_snr(x, y, 511, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_seg_snr(x, y, 512, &v, &err), DN_OK);

	/* Rates: non-positive is invalid, one needing an absurd filter is
	 * unsupported. */
	CHECK_RC(dn_metrics_stoi(x, y, N, 0, 0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_stoi(x, y, N, -16000, 0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_stoi(x, y, N, 16001, 0, &v, &err), DN_EUNSUPPORTED);
	CHECK_MSG(strstr(err.msg, "16001") != NULL, "message: %s", err.msg);

	/* n == 0 and NULL. */
	CHECK_RC(dn_metrics_snr(x, y, 0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_seg_snr(x, y, 0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_si_sdr(x, y, 0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_stoi(x, y, 0, 16000, 0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_snr(NULL, y, N, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_seg_snr(x, NULL, N, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_si_sdr(x, y, N, NULL, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_stoi(NULL, y, N, 16000, 1, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_stoi(x, y, N, 16000, 1, NULL, NULL), DN_EINVAL); /* err may be NULL */
out:
	free(x);
	free(y);
	free(z);
}

/* Images of tests/metrics_ref.py: a 24x31 integer pattern plus LCG detail,
 * the same + 10, the same + noise in [−20, 20], and 255 − it. */
static void ssim_images(float *a, float *off, float *noisy, float *inv)
{
	enum { H = 24, W = 31 };
	uint64_t s = 7;
	for (int r = 0; r < H; r++)
		for (int c = 0; c < W; c++)
			a[r * W + c] = (float)((r * 7 + c * 13 + (r * c) % 17) % 224 + (lcg_next(&s) >> 27));
	for (int i = 0; i < H * W; i++) {
		off[i] = a[i] + 10.0f;
		noisy[i] = a[i] + (float)((lcg_next(&s) >> 26) % 41) - 20.0f;
		inv[i] = 255.0f - a[i];
	}
}

static void test_arrays(void)
{
	dn_error err;
	double v;
	/* Hand-computed: differences 0, −1, 2, 0 → MSE 5/4, MAE 3/4. */
	const float a[4] = {1, 2, 3, 4}, b[4] = {1, 3, 1, 4};
	CHECK_RC(dn_metrics_mse(a, b, 4, &v, &err), DN_OK);
	CHECK_NEAR(v, 1.25, 1e-15);
	CHECK_RC(dn_metrics_mae(a, b, 4, &v, &err), DN_OK);
	CHECK_NEAR(v, 0.75, 1e-15);
	CHECK_RC(dn_metrics_psnr(a, b, 4, 10.0, &v, &err), DN_OK);
	CHECK_NEAR(v, 10.0 * log10(100.0 / 1.25), 1e-12); /* 19.03 dB */
	CHECK_RC(dn_metrics_psnr(a, a, 4, 1.0, &v, &err), DN_OK);
	CHECK(isinf(v) && v > 0);
	CHECK_RC(dn_metrics_mse(a, a, 4, &v, &err), DN_OK);
	CHECK_NEAR(v, 0.0, 0.0);
	CHECK_RC(dn_metrics_psnr(a, b, 4, 0.0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_psnr(a, b, 4, NAN, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_mse(a, b, 0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_mae(NULL, b, 4, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_psnr(a, b, 4, 1.0, NULL, &err), DN_EINVAL);

	enum { H = 24, W = 31 };
	float img[H * W], off[H * W], noisy[H * W], inv[H * W];
	ssim_images(img, off, noisy, inv);
	CHECK_RC(dn_metrics_ssim(img, img, H, W, 255.0, &v, &err), DN_OK);
	CHECK_NEAR(v, 1.0, 1e-12);
	/* Values from scipy.ndimage.gaussian_filter (tests/metrics_ref.py). */
	CHECK_RC(dn_metrics_ssim(img, off, H, W, 255.0, &v, &err), DN_OK);
	CHECK_NEAR(v, 0.996392795378, 1e-9);
	CHECK_RC(dn_metrics_ssim(img, noisy, H, W, 255.0, &v, &err), DN_OK);
	CHECK_NEAR(v, 0.944585586182, 1e-9);
	double sym;
	CHECK_RC(dn_metrics_ssim(noisy, img, H, W, 255.0, &sym, &err), DN_OK);
	CHECK_NEAR(sym, v, 1e-12);
	CHECK_RC(dn_metrics_ssim(img, inv, H, W, 255.0, &v, &err), DN_OK);
	CHECK_NEAR(v, -0.752334236402, 1e-9);
	/* The smallest image: exactly one window position. */
	CHECK_RC(dn_metrics_ssim(img, img, 11, 11, 255.0, &v, &err), DN_OK);
	CHECK_NEAR(v, 1.0, 1e-12);
	/* Errors: smaller than the window, bad range, NULL. */
	CHECK_RC(dn_metrics_ssim(img, noisy, 10, 31, 255.0, &v, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "window") != NULL);
	CHECK_RC(dn_metrics_ssim(img, noisy, 24, 10, 255.0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_ssim(img, noisy, 0, 0, 255.0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_ssim(img, noisy, -24, 31, 255.0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_ssim(img, noisy, H, W, 0.0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_ssim(img, noisy, H, W, INFINITY, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_ssim(NULL, noisy, H, W, 255.0, &v, &err), DN_EINVAL);
	CHECK_RC(dn_metrics_ssim(img, noisy, H, W, 255.0, NULL, &err), DN_EINVAL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* keep the table and failures in order in the log */
	int have_vectors = test_vectors();
	test_stoi_rates();
	test_waveform_edges();
	test_arrays();
	int rc = check_status();
	return rc ? rc : have_vectors ? 0 : 77;
}
