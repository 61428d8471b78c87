/*
 * bench_resample.c — libsoxr against libsamplerate, for the choice made in
 * core/audio/resample.h: speed (seconds of processing per minute of audio, both
 * directions the speech pipeline needs: 44.1 kHz -> 16 kHz and back) and
 * quality (SNR of a band-limited multi-sine after a 16k -> 44.1k -> 16k round
 * trip; stop-band rejection and pass-band flatness of 44.1k -> 16k).
 *
 * Prints a table; never passes or fails on time. Built on demand:
 * `make bench/bench_resample && bench/bench_resample`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <samplerate.h>
#include <soxr.h>

typedef struct engine {
	const char *name;
	int lib;  /* 0 soxr, 1 libsamplerate */
	int kind; /* soxr recipe or SRC converter */
} engine;

/* One-shot conversion of in[0..n) into out[0..cap); returns samples written. */
static size_t convert(const engine *e, const float *in, size_t n, int rin, float *out, size_t cap, int rout)
{
	if (e->lib == 0) {
		soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
		soxr_quality_spec_t q = soxr_quality_spec(e->kind, 0);
		soxr_runtime_spec_t rt = soxr_runtime_spec(1);
		size_t done = 0;
		soxr_error_t err = soxr_oneshot(rin, rout, 1, in, n, NULL, out, cap, &done, &io, &q, &rt);
		if (err) {
			fprintf(stderr, "soxr: %s\n", err);
			exit(1);
		}
		return done;
	}
	SRC_DATA d = {.data_in = in,
	              .data_out = out,
	              .input_frames = (long)n,
	              .output_frames = (long)cap,
	              .src_ratio = (double)rout / rin,
	              .end_of_input = 1};
	int err = src_simple(&d, e->kind, 1);
	if (err) {
		fprintf(stderr, "libsamplerate: %s\n", src_strerror(err));
		exit(1);
	}
	return (size_t)d.output_frames_gen;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Best of 3 runs, in seconds per minute of input audio. */
static double speed(const engine *e, const float *in, size_t n, int rin, int rout)
{
	size_t cap = (size_t)((double)n * rout / rin) + 1024;
	float *out = malloc(cap * sizeof(float));
	double best = 1e30;
	for (int r = 0; r < 3; r++) {
		double t0 = now();
		convert(e, in, n, rin, out, cap, rout);
		double t = now() - t0;
		best = t < best ? t : best;
	}
	free(out);
	return best * 60.0 / ((double)n / rin);
}

/* A multi-sine with components spread from 100 Hz to fmax, fixed phases. */
static void multisine(float *x, size_t n, int rate, double fmax)
{
	const int k = 24;
	memset(x, 0, n * sizeof(float));
	for (int j = 0; j < k; j++) {
		double f = 100.0 + (fmax - 100.0) * j / (k - 1);
		double ph = 2.0 * M_PI * j * j / k;
		for (size_t i = 0; i < n; i++)
			x[i] += (float)(0.9 / k * sin(2.0 * M_PI * f * (double)i / rate + ph));
	}
}

/* SNR in dB of y against x over [a, b), trying small lags; *lag gets the best. */
static double snr_db(const float *x, const float *y, size_t a, size_t b, int *lag)
{
	double best = -1e30;
	for (int l = -8; l <= 8; l++) {
		double s = 0, e = 0;
		for (size_t i = a; i < b; i++) {
			double d = (double)y[i + l] - x[i];
			s += (double)x[i] * x[i];
			e += d * d;
		}
		double v = 10.0 * log10(s / (e + 1e-300));
		if (v > best) {
			best = v;
			*lag = l;
		}
	}
	return best;
}

/* Power of y[a..b) relative to a unit-amplitude sine (0.5), in dB. */
static double level_db(const float *y, size_t a, size_t b)
{
	double p = 0;
	for (size_t i = a; i < b; i++)
		p += (double)y[i] * y[i];
	p /= (double)(b - a);
	return 10.0 * log10(p / 0.5 + 1e-300);
}

int main(void)
{
	engine engines[] = {
	    {"soxr HQ", 0, SOXR_HQ},
	    {"soxr VHQ", 0, SOXR_VHQ},
	    {"libsamplerate SINC_BEST", 1, SRC_SINC_BEST_QUALITY},
	    {"libsamplerate SINC_MEDIUM", 1, SRC_SINC_MEDIUM_QUALITY},
	};
	const int n_eng = sizeof engines / sizeof engines[0];
	const int r44 = 44100, r16 = 16000;
	size_t n44 = (size_t)r44 * 60, n16 = (size_t)r16 * 60;
	float *x44 = malloc(n44 * sizeof(float)), *x16 = malloc(n16 * sizeof(float));
	multisine(x44, n44, r44, 20000.0);
	multisine(x16, n16, r16, 7000.0);

	size_t rt_n = (size_t)r16 * 10;
	float *up = malloc(((size_t)r44 * 10 + 1024) * sizeof(float));
	float *back = calloc(rt_n + 1024, sizeof(float));
	size_t sb_n = (size_t)r44 * 2;
	float *sine = malloc(sb_n * sizeof(float)), *down = malloc(((size_t)r16 * 2 + 1024) * sizeof(float));
	const double stop[] = {8800, 9500, 11000, 13000, 16000, 19000, 21000};
	const double pass[] = {100, 1000, 3000, 5000, 6500, 7000};

	printf("%-27s %10s %10s %10s %6s %12s %12s\n", "resampler", "44k->16k", "16k->44k", "rt SNR", "lag",
	       "stop-band", "pass ripple");
	printf("%-27s %10s %10s %10s %6s %12s %12s\n", "", "s/min", "s/min", "dB", "", "dB (worst)",
	       "dB (max)");
	for (int e = 0; e < n_eng; e++) {
		const engine *en = &engines[e];
		double s_down = speed(en, x44, n44, r44, r16);
		double s_up = speed(en, x16, n16, r16, r44);

		/* round trip of 10 s of a multi-sine up to 7 kHz (< 0.44 * 16 kHz) */
		size_t nu = convert(en, x16, rt_n, r16, up, (size_t)r44 * 10 + 1024, r44);
		convert(en, up, nu, r44, back, rt_n + 1024, r16);
		int lag = 0;
		double snr = snr_db(x16, back, (size_t)r16 / 10, rt_n - (size_t)r16 / 10, &lag);

		/* stop band: unit sines above 8 kHz should vanish at 16 kHz */
		double worst_stop = 1e30;
		for (size_t k = 0; k < sizeof stop / sizeof stop[0]; k++) {
			for (size_t i = 0; i < sb_n; i++)
				sine[i] = (float)sin(2.0 * M_PI * stop[k] * (double)i / r44);
			size_t nd = convert(en, sine, sb_n, r44, down, (size_t)r16 * 2 + 1024, r16);
			double rej = -level_db(down, nd / 4, 3 * nd / 4);
			worst_stop = rej < worst_stop ? rej : worst_stop;
		}
		/* pass band: unit sines below 7 kHz keep their level */
		double ripple = 0;
		for (size_t k = 0; k < sizeof pass / sizeof pass[0]; k++) {
			for (size_t i = 0; i < sb_n; i++)
				sine[i] = (float)sin(2.0 * M_PI * pass[k] * (double)i / r44);
			size_t nd = convert(en, sine, sb_n, r44, down, (size_t)r16 * 2 + 1024, r16);
			double g = fabs(level_db(down, nd / 4, 3 * nd / 4));
			ripple = g > ripple ? g : ripple;
		}
		printf("%-27s %10.4f %10.4f %10.1f %6d %12.1f %12.4f\n", en->name, s_down, s_up, snr, lag,
		       worst_stop, ripple);
	}
	printf("speed: best of 3 one-shot conversions of 60 s of a 24-sine signal, one thread\n");
	printf("rt SNR: 16k -> 44.1k -> 16k of 10 s of 24 sines 100 Hz..7 kHz, edges (0.1 s) excluded;"
	       " lag: best alignment in samples (0 = time-aligned)\n");
	printf("stop-band: worst attenuation of unit sines at 8.8..21 kHz going 44.1k -> 16k\n");
	printf("pass ripple: largest level error of unit sines at 0.1..7 kHz going 44.1k -> 16k\n");
	free(x44);
	free(x16);
	free(up);
	free(back);
	free(sine);
	free(down);
	return 0;
}
