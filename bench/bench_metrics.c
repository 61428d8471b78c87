/*
 * bench_metrics.c — time of STOI and ESTOI (and, for scale, SNR/seg-SNR/
 * SI-SDR) per minute of 16 kHz audio.
 *
 * Usage: bench_metrics [minutes] [repeats]   (defaults 1 and 5)
 * The signal is synthetic speech-like noise (modulated tones + white noise);
 * the timing does not depend on the content beyond the share of frames the
 * silence detector keeps, which is all of them here (worst case).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/metrics/metrics.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	double minutes = argc > 1 ? atof(argv[1]) : 1.0;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	const int rate = 16000;
	if (!(minutes > 0) || reps < 1) {
		fprintf(stderr, "usage: %s [minutes > 0] [repeats >= 1]\n", argv[0]);
		return 2;
	}
	size_t n = (size_t)(minutes * 60.0 * rate);
	float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
	if (!x || !y) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	uint64_t s = 1;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate, e = 0.3 + 0.7 * fabs(sin(2 * M_PI * 2.3 * t));
		x[i] = (float)(e * (sin(2 * M_PI * 150 * t) + 0.4 * sin(2 * M_PI * 1230 * t)));
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		y[i] = x[i] + (float)(0.2 * ((double)(s >> 32) / 4294967296.0 - 0.5));
	}
	static const char *const names[] = {"stoi", "estoi", "snr", "seg_snr", "si_sdr"};
	printf("%.2f min of 16 kHz audio, best of %d runs\n", minutes, reps);
	for (int k = 0; k < 5; k++) {
		double best = INFINITY, v = NAN;
		dn_error err;
		for (int r = 0; r < reps; r++) {
			double t0 = now();
			int rc = k < 2    ? dn_metrics_stoi(x, y, n, rate, k, &v, &err)
			         : k == 2 ? dn_metrics_snr(x, y, n, &v, &err)
			         : k == 3 ? dn_metrics_seg_snr(x, y, n, &v, &err)
			                  : dn_metrics_si_sdr(x, y, n, &v, &err);
			double dt = now() - t0;
			if (rc) {
				fprintf(stderr, "%s: %s\n", names[k], err.msg);
				return 1;
			}
			if (dt < best)
				best = dt;
		}
		printf("%-8s %8.2f ms per minute of audio (value %.4f)\n", names[k], 1e3 * best / minutes, v);
	}
	free(x);
	free(y);
	return 0;
}
