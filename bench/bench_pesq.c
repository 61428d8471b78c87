/*
 * bench_pesq.c — time of dn_metrics_pesq() per minute of audio.
 *
 * Builds about a minute of 16 kHz speech by repeating one clean/degraded
 * pair of the shared metric vectors and times narrow- and wide-band PESQ on
 * it (best of a few runs). Prints figures only.
 *
 * usage: bench_pesq [VECTOR_DIR [ID [SECONDS]]]
 */
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/metrics/metrics.h"

static float *read_wav(const char *path, size_t *n, int *rate)
{
	SF_INFO info = {0};
	SNDFILE *f = sf_open(path, SFM_READ, &info);
	if (!f)
		return NULL;
	float *x = NULL;
	if (info.channels == 1 && info.frames > 0 && (x = malloc((size_t)info.frames * sizeof *x)))
		sf_readf_float(f, x, info.frames);
	sf_close(f);
	*n = (size_t)info.frames;
	*rate = info.samplerate;
	return x;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* x repeated to `total` samples. */
static float *tile(const float *x, size_t n, size_t total)
{
	float *y = malloc(total * sizeof *y);
	if (y)
		for (size_t i = 0; i < total; i++)
			y[i] = x[i % n];
	return y;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/work/shared/testvectors/metrics";
	const char *id = argc > 2 ? argv[2] : "tts2_brown_+5dB";
	double seconds = argc > 3 ? atof(argv[3]) : 60.0;
	char path[1024];
	size_t n_ref, n_deg;
	int rate, rate_deg;

	snprintf(path, sizeof path, "%s/%s.clean.wav", dir, id);
	float *ref = read_wav(path, &n_ref, &rate);
	snprintf(path, sizeof path, "%s/%s.degraded.wav", dir, id);
	float *deg = read_wav(path, &n_deg, &rate_deg);
	if (!ref || !deg || rate != rate_deg) {
		fprintf(stderr, "bench_pesq: cannot read %s/%s.{clean,degraded}.wav\n", dir, id);
		return 1;
	}
	size_t total = (size_t)(seconds * rate);
	float *r = tile(ref, n_ref, total), *d = tile(deg, n_deg < n_ref ? n_deg : n_ref, total);
	if (!r || !d)
		return 1;

	printf("pesq on %s tiled to %.1f s at %d Hz\n", id, seconds, rate);
	for (int mode = 0; mode < 2; mode++) {
		double best = 1e30, best_cpu = 1e30, score = 0;
		for (int run = 0; run < 3; run++) {
			dn_error err;
			double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
			if (dn_metrics_pesq(r, total, d, total, rate, mode, &score, &err) != 0) {
				fprintf(stderr, "bench_pesq: %s\n", err.msg);
				return 1;
			}
			double t = clock_s(CLOCK_MONOTONIC) - t0, c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
			if (t < best)
				best = t;
			if (c < best_cpu)
				best_cpu = c;
		}
		/* CPU time is the steadier figure on a shared machine. */
		printf("%s: score %.4f; per minute of audio %.3f s wall, %.3f s CPU (best of 3)\n",
		       mode ? "wb" : "nb", score, best * 60.0 / seconds, best_cpu * 60.0 / seconds);
	}
	free(r);
	free(d);
	free(ref);
	free(deg);
	return 0;
}
