/*
 * test_noise.c — coloured noise has the spectral slope it claims, noise
 * recordings loop without a click, and mixing hits the asked SNR without
 * clipping.
 *
 * Slopes are measured independently of core's own FFT: a Welch power
 * spectral density (FFTW, Hann window of 4096, half overlap) fitted by least
 * squares in log-log over 50 Hz .. 7 kHz at 16 kHz. White, pink and brown
 * must come out within 0.2 of 0, -1 and -2.
 */
#include <fftw3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/train/data_io.h"
#include "core/audio/noise.h"
#include "core/util/rng.h"
#include "tests/check.h"

#define RATE 16000

/* Slope of log10 PSD against log10 f over [lo, hi] Hz. */
static double welch_slope(const float *x, size_t n, double lo, double hi)
{
	const int L = 4096, hop = 2048;
	float *in = fftwf_alloc_real(L);
	fftwf_complex *out = fftwf_alloc_complex(L / 2 + 1);
	fftwf_plan plan = fftwf_plan_dft_r2c_1d(L, in, out, FFTW_ESTIMATE);
	double *psd = calloc(L / 2 + 1, sizeof *psd);
	int segs = 0;
	for (size_t s = 0; s + L <= n; s += hop, segs++) {
		for (int t = 0; t < L; t++)
			in[t] = x[s + t] * (float)(0.5 - 0.5 * cos(2.0 * M_PI * t / L));
		fftwf_execute(plan);
		for (int k = 0; k <= L / 2; k++)
			psd[k] += (double)out[k][0] * out[k][0] + (double)out[k][1] * out[k][1];
	}
	double sx = 0, sy = 0, sxx = 0, sxy = 0;
	int m = 0;
	for (int k = 1; k < L / 2; k++) {
		double f = (double)k * RATE / L;
		if (f < lo || f > hi)
			continue;
		double lx = log10(f), ly = log10(psd[k] / segs);
		sx += lx;
		sy += ly;
		sxx += lx * lx;
		sxy += lx * ly;
		m++;
	}
	fftwf_destroy_plan(plan);
	fftwf_free(in);
	fftwf_free(out);
	free(psd);
	return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

static void moments(const float *x, size_t n, double *mean, double *rms)
{
	double s = 0, ss = 0;
	for (size_t i = 0; i < n; i++) {
		s += x[i];
		ss += (double)x[i] * x[i];
	}
	*mean = s / n;
	*rms = sqrt(ss / n);
}

/* SNR of out against ref, computed here rather than with dn_snr_db. */
static double snr_of(const float *ref, const float *out, size_t n)
{
	double ps = 0, pe = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)out[i] - ref[i];
		ps += (double)ref[i] * ref[i];
		pe += d * d;
	}
	return 10 * log10(ps / pe);
}

static void test_slopes(void)
{
	static const char *names[3] = {"white", "pink", "brown"};
	/* 20 s crosses several overlapped segments; 3 s is one segment. */
	size_t lens[2] = {20 * RATE, 3 * RATE};
	for (int li = 0; li < 2; li++) {
		size_t n = lens[li];
		float *x = malloc(n * sizeof *x);
		for (int kind = DN_NOISE_WHITE; kind <= DN_NOISE_BROWN; kind++) {
			dn_rng r;
			dn_rng_seed(&r, 100 + kind);
			dn_error err;
			CHECK_RC(dn_noise_generate(kind, RATE, &r, x, n, &err), DN_OK);
			double slope = welch_slope(x, n, 50.0, 7000.0);
			fprintf(stderr, "%s noise, %zu samples: slope %.3f (want %d)\n", names[kind], n,
			        slope, -kind);
			CHECK_NEAR(slope, -kind, 0.2);
			double mean, rms;
			moments(x, n, &mean, &rms);
			CHECK_NEAR(mean, 0.0, 1e-4);
			CHECK_NEAR(rms, 1.0, 1e-4);
		}
		free(x);
	}
}

static void test_determinism_and_errors(void)
{
	size_t n = 70000; /* just over one segment */
	float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
	dn_error err;
	for (int kind = DN_NOISE_WHITE; kind <= DN_NOISE_BROWN; kind++) {
		dn_rng r1, r2;
		dn_rng_seed(&r1, 9);
		dn_rng_seed(&r2, 9);
		CHECK_RC(dn_noise_generate(kind, RATE, &r1, a, n, &err), DN_OK);
		CHECK_RC(dn_noise_generate(kind, RATE, &r2, b, n, &err), DN_OK);
		CHECK(memcmp(a, b, n * sizeof *a) == 0);
		dn_rng_seed(&r2, 10);
		CHECK_RC(dn_noise_generate(kind, RATE, &r2, b, n, &err), DN_OK);
		CHECK(memcmp(a, b, n * sizeof *a) != 0);
		for (size_t i = 0; i < n; i++)
			if (!isfinite(a[i])) {
				CHECK_MSG(0, "non-finite sample %zu", i);
				break;
			}
	}
	dn_rng r;
	dn_rng_seed(&r, 1);
	CHECK_RC(dn_noise_generate(DN_NOISE_FILE, RATE, &r, a, n, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "cannot be generated") != NULL);
	CHECK_RC(dn_noise_generate(DN_NOISE_PINK, 500, &r, a, n, &err), DN_EINVAL);
	CHECK_RC(dn_noise_generate(DN_NOISE_PINK, RATE, &r, a, 0, &err), DN_OK);
	CHECK_RC(dn_noise_generate(DN_NOISE_PINK, RATE, &r, a, 1, &err), DN_OK);

	unsigned mask;
	CHECK_RC(dn_noise_kinds_parse("white, Pink,brown", &mask, &err), DN_OK);
	CHECK(mask == 7u);
	CHECK_RC(dn_noise_kinds_parse("pink,purple", &mask, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "'purple'") != NULL);
	CHECK_RC(dn_noise_kinds_parse("", &mask, &err), DN_EINVAL);
	CHECK_RC(dn_noise_kinds_parse("white,,pink", &mask, &err), DN_EINVAL);
	CHECK(dn_noise_kind_parse("BROWN") == DN_NOISE_BROWN);
	CHECK(dn_noise_kind_parse("grey") == -1);
	CHECK(dn_noise_kind_name(DN_NOISE_NKINDS) == NULL);
	free(a);
	free(b);
}

static void test_source(void)
{
	dn_error err;
	/* A 1.23 s recording of a 3-tone hum: not a whole number of periods,
	 * so a plain loop would jump. */
	size_t n = (size_t)(1.23 * RATE);
	float *rec = malloc(n * sizeof *rec);
	for (size_t i = 0; i < n; i++)
		rec[i] = (float)(0.3 * sin(2 * M_PI * 50.0 * i / RATE + 0.3) +
		                 0.2 * sin(2 * M_PI * 120.0 * i / RATE) +
		                 0.1 * sin(2 * M_PI * 310.0 * i / RATE + 1.0));
	dn_noise_source *s;
	CHECK_RC(dn_noise_source_create(rec, n, RATE, &s, &err), DN_OK);
	size_t m = dn_noise_source_length(s);
	CHECK(m > n / 2 && m < n);
	CHECK(dn_noise_source_rate(s) == RATE);
	size_t len = 3 * m + 17;
	float *a = malloc(len * sizeof *a), *b = malloc(len * sizeof *b);
	dn_rng r1, r2;
	dn_rng_seed(&r1, 5);
	dn_rng_seed(&r2, 5);
	dn_noise_source_fill(s, &r1, a, len);
	dn_noise_source_fill(s, &r2, b, len);
	CHECK(memcmp(a, b, len * sizeof *a) == 0);
	int periodic = 1;
	for (size_t i = 0; i + m < len; i++)
		periodic &= a[i] == a[i + m];
	CHECK(periodic);
	/* No click: the largest step between samples stays near the largest
	 * step inside the (normalised) recording. */
	double rms_rec = 0;
	for (size_t i = 0; i < n; i++)
		rms_rec += (double)rec[i] * rec[i];
	rms_rec = sqrt(rms_rec / n);
	double step_rec = 0, step_out = 0;
	for (size_t i = 1; i < n; i++)
		step_rec = fmax(step_rec, fabs(rec[i] - rec[i - 1]) / rms_rec);
	for (size_t i = 1; i < len; i++)
		step_out = fmax(step_out, fabs(a[i] - a[i - 1]));
	CHECK_MSG(step_out < 1.5 * step_rec, "largest step %.4f vs %.4f in the recording", step_out,
	          step_rec);
	double mean, rms;
	moments(a, m, &mean, &rms); /* one whole loop */
	CHECK_NEAR(rms, 1.0, 1e-3);
	dn_noise_source_destroy(s);

	/* Errors */
	CHECK_RC(dn_noise_source_create(rec, RATE / 20, RATE, &s, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "too short") != NULL);
	memset(rec, 0, n * sizeof *rec);
	CHECK_RC(dn_noise_source_create(rec, n, RATE, &s, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "silent") != NULL);
	CHECK(s == NULL);

	/* From files, resampled when the rate differs. */
	char dir[] = "/tmp/dn-test-noise-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], bad[256], missing[256];
	snprintf(path, sizeof path, "%s/hum.wav", dir);
	snprintf(bad, sizeof bad, "%s/notaudio.wav", dir);
	snprintf(missing, sizeof missing, "%s/missing.wav", dir);
	dn_rng r;
	dn_rng_seed(&r, 3);
	CHECK_RC(dn_noise_generate(DN_NOISE_PINK, RATE, &r, a, RATE, &err), DN_OK);
	for (size_t i = 0; i < RATE; i++)
		a[i] *= 0.1f;
	CHECK_RC(dn_data_write_wav16(path, a, RATE, RATE, &err), DN_OK);
	CHECK_RC(dn_noise_source_open(path, RATE, &s, &err), DN_OK);
	if (s) {
		CHECK(dn_noise_source_length(s) == RATE - RATE / 20);
		dn_noise_source_destroy(s);
	}
	CHECK_RC(dn_noise_source_open(path, 8000, &s, &err), DN_OK);
	if (s) {
		CHECK_NEAR((double)dn_noise_source_length(s), 8000 - 400, 2);
		dn_noise_source_destroy(s);
	}
	FILE *f = fopen(bad, "w");
	fputs("this is not a sound file\n", f);
	fclose(f);
	CHECK_RC(dn_noise_source_open(bad, RATE, &s, &err), DN_EFORMAT);
	CHECK(strstr(err.msg, bad) != NULL);
	CHECK_RC(dn_noise_source_open(missing, RATE, &s, &err), DN_ENOTFOUND);
	CHECK(strstr(err.msg, missing) != NULL);
	unlink(path);
	unlink(bad);
	rmdir(dir);
	free(rec);
	free(a);
	free(b);
}

static void test_mix(void)
{
	dn_error err;
	size_t n = 3 * RATE;
	float *clean = malloc(n * sizeof *clean), *noise = malloc(n * sizeof *noise);
	float *out = malloc(n * sizeof *out), *ref = malloc(n * sizeof *ref);
	double worst = 0;
	int clipped_cases = 0, cases = 0;
	for (int kind = DN_NOISE_WHITE; kind <= DN_NOISE_BROWN; kind++) {
		for (double level = 0.05; level < 1.0; level += 0.4) { /* quiet, mid, loud speech */
			for (double snr = -5.0; snr <= 25.0; snr += 2.5) {
				dn_rng r;
				dn_rng_seed3(&r, (uint64_t)kind, (uint64_t)(level * 100),
				             (uint64_t)(snr * 10 + 100));
				/* speech-like: voiced harmonics under a syllable envelope */
				double f0 = 100 + 100 * dn_rng_uniform(&r);
				for (size_t i = 0; i < n; i++) {
					double t = (double)i / RATE;
					double env = pow(fabs(sin(2 * M_PI * 2.5 * t)), 2);
					double v = 0;
					for (int h = 1; h <= 8; h++)
						v += sin(2 * M_PI * f0 * h * t) / h;
					clean[i] = (float)(level * 0.55 * env * v);
				}
				CHECK_RC(dn_noise_generate(kind, RATE, &r, noise, n, &err), DN_OK);
				float gain = 0;
				cases++;
				CHECK_RC(dn_mix_at_snr(clean, noise, n, snr, out, &gain, &err), DN_OK);
				double peak = 0;
				for (size_t i = 0; i < n; i++) {
					ref[i] = gain * clean[i];
					peak = fmax(peak, fabs(out[i]));
				}
				CHECK(peak <= 1.0);
				CHECK(gain > 0.0f && gain <= 1.0f);
				if (gain < 1.0f) {
					clipped_cases++;
					CHECK_NEAR(peak, 1.0, 1e-5); /* scaled just to full scale */
				}
				double e = fabs(snr_of(ref, out, n) - snr);
				worst = fmax(worst, e);
				CHECK_MSG(e <= 0.05, "kind %d level %.2f snr %.1f: error %.4f dB", kind,
				          level, snr, e);
				/* in place gives the same mix */
				memcpy(ref, clean, n * sizeof *ref);
				float g2;
				CHECK_RC(dn_mix_at_snr(ref, noise, n, snr, ref, &g2, &err), DN_OK);
				CHECK(g2 == gain && memcmp(ref, out, n * sizeof *out) == 0);
			}
		}
	}
	fprintf(stderr,
	        "mixing: largest SNR error %.2e dB over -5..25 dB; %d of %d mixes scaled to avoid clipping\n",
	        worst, clipped_cases, cases);
	CHECK(clipped_cases > 0); /* the loud cases did exercise the limiter */
	CHECK(clipped_cases < cases);

	/* Errors */
	float gain = 0.5f;
	CHECK_RC(dn_mix_at_snr(clean, noise, 0, 10.0, out, &gain, &err), DN_EINVAL);
	CHECK_RC(dn_mix_at_snr(clean, noise, n, NAN, out, &gain, &err), DN_EINVAL);
	CHECK_RC(dn_mix_at_snr(clean, noise, n, 200.0, out, NULL, &err), DN_EINVAL);
	memset(ref, 0, n * sizeof *ref);
	CHECK_RC(dn_mix_at_snr(ref, noise, n, 10.0, out, &gain, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "clean signal is silent") != NULL);
	CHECK_RC(dn_mix_at_snr(clean, ref, n, 10.0, out, &gain, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "noise is silent") != NULL);
	CHECK(dn_snr_db(clean, clean, n) == INFINITY);
	CHECK(dn_snr_db(ref, clean, n) == -INFINITY);
	free(clean);
	free(noise);
	free(out);
	free(ref);
}

int main(void)
{
	test_slopes();
	test_determinism_and_errors();
	test_source();
	test_mix();
	return check_status();
}
