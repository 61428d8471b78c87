/*
 * bench_speech.c — speed and memory of the speech pipeline with the seed
 * model (dn_unet_default_config: 32 base filters, depth 3; random weights,
 * which cost exactly what trained ones do).
 *
 * Prints the real-time factor (processing time / audio duration) for
 * `--seconds` (default 60) of 16 kHz mono audio at 1 thread and at 2 (both
 * ways: OpenBLAS's threads, or chunks on threads), and the
 * process CPU time per second of audio (seconds of one core: the figure
 * that says how many streams a machine serves); `--model FILE` runs a
 * trained model (models/speech.safetensors) instead of the seed's,
 * and the peak resident memory of a separate process that denoises
 * `--rss-minutes` (default 10) minutes, with the share of it that is the
 * input and output buffers themselves. Never passes or fails on time.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "core/model/model.h"
#include "core/audio/speech.h"
#include "core/nn/unet.h"
#include "core/util/blas.h"
#include "core/util/threads.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *model_path;

static dn_model *seed_model(void)
{
	dn_error err;
	dn_unet *net;
	dn_model *m;
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	if (model_path) {
		if (dn_model_load(model_path, &m, &err)) {
			fprintf(stderr, "bench_speech: %s: %s\n", model_path, err.msg);
			exit(1);
		}
		return m;
	}
	if (dn_unet_create(&info.arch, 1, &net, &err) || dn_model_create(&info, net, &m, &err)) {
		fprintf(stderr, "bench_speech: %s\n", err.msg);
		exit(1);
	}
	return m;
}

/* Noisy speech stand-in: harmonics with a wandering pitch plus white noise. */
static dn_audio make_audio(double seconds)
{
	dn_audio a = {.frames = (size_t)(seconds * 16000), .channels = 1, .rate = 16000};
	a.data = malloc(a.frames * sizeof(float));
	if (!a.data) {
		fprintf(stderr, "bench_speech: out of memory\n");
		exit(1);
	}
	uint32_t s = 1;
	double ph = 0;
	for (size_t i = 0; i < a.frames; i++) {
		double f0 = 140 + 40 * sin(2 * M_PI * 0.7 * (double)i / 16000);
		ph += 2 * M_PI * f0 / 16000;
		s = s * 1664525u + 1013904223u;
		a.data[i] = (float)(0.3 * sin(ph) + 0.15 * sin(3 * ph) + 0.08 * sin(7 * ph) +
		                    0.05 * ((double)(s >> 8) / 8388608.0 - 1.0));
	}
	return a;
}

static double last_cpu; /* process CPU seconds of the last denoise_once */

static double denoise_once(const dn_model *m, const dn_audio *in, int chunk_threads)
{
	dn_error err;
	dn_speech *s;
	dn_audio out;
	dn_speech_params p = dn_speech_default_params();
	p.threads = chunk_threads;
	if (dn_speech_create(m, &p, &s, &err)) {
		fprintf(stderr, "bench_speech: %s\n", err.msg);
		exit(1);
	}
	double t0 = now(), c0 = cpu_now();
	if (dn_speech_denoise(s, in, &out, NULL, &err)) {
		fprintf(stderr, "bench_speech: %s\n", err.msg);
		exit(1);
	}
	double t = now() - t0;
	last_cpu = cpu_now() - c0;
	dn_audio_free(&out);
	dn_speech_destroy(s);
	return t;
}

int main(int argc, char **argv)
{
	double seconds = 60, rss_minutes = 10;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--rss-minutes"))
			rss_minutes = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--model"))
			model_path = argv[i + 1];
	}

	dn_threads_prepare(argv); /* see core/util/threads.h */
	dn_blas_info bi;
	dn_blas_info_get(&bi);
	printf("cpu: %s, %ld online; blas: %s\n", bi.cpu_model[0] ? bi.cpu_model : "unknown",
	       sysconf(_SC_NPROCESSORS_ONLN), bi.line);

	/* Memory first, in a child, so that nothing else inflates its peak. */
	if (rss_minutes > 0) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			dn_threads_set(1);
			dn_model *m = seed_model();
			dn_audio in = make_audio(rss_minutes * 60);
			double t = denoise_once(m, &in, 1);
			printf("%.0f min of 16 kHz mono: %.1f s (RTF %.3f, 1 thread)\n", rss_minutes, t,
			       t / (rss_minutes * 60));
			dn_audio_free(&in);
			dn_model_destroy(m);
			fflush(stdout);
			_exit(0);
		}
		int status;
		struct rusage ru;
		if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(stderr, "bench_speech: the memory run failed\n");
			return 1;
		}
		double io_mb = 2.0 * rss_minutes * 60 * 16000 * sizeof(float) / 1048576.0;
		printf("peak RSS for %.0f min: %.1f MB (input + output buffers %.1f MB, the rest %.1f MB)\n",
		       rss_minutes, ru.ru_maxrss / 1024.0, io_mb, ru.ru_maxrss / 1024.0 - io_mb);
	}

	/* The same model twice: its convolutions in fp32, and as every program
	 * runs them by default (bf16 on AMX tiles where the CPU has them). */
	dn_unet_set_cpu_precision("fp32", NULL);
	dn_model *m32 = seed_model();
	dn_unet_set_cpu_precision("bf16", NULL);
	dn_model *m = seed_model();
	dn_audio in = make_audio(seconds);
	/* 2 threads two ways, side by side: OpenBLAS's threads inside each
	 * chunk's GEMMs (how every caller ran before issue 13), and two chunks
	 * at once with single-threaded GEMMs (dn_speech_params.threads, how
	 * denoise audio and the daemon run now); fp32 rows between the default
	 * ones, so that both see the same moment of a shared machine. */
	static const struct {
		int blas, chunks, fp32;
		const char *what;
	} runs[] = {{1, 1, 1, "1 thread, fp32"},
	            {1, 1, 0, "1 thread"},
	            {2, 1, 0, "2 BLAS threads, chunks in series"},
	            {1, 2, 1, "2 chunk threads, fp32"},
	            {1, 2, 0, "2 chunk threads, 1-thread GEMMs"}};
	printf("convolutions by default: %s\n", dn_unet_conv_kernels());
	printf("%-34s %9s %8s %9s %13s\n", "threads", "time (s)", "RTF", "cpu (s)", "core-s per s");
	for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
		dn_model *mr = runs[r].fp32 ? m32 : m;
		dn_threads_set(runs[r].blas);
		denoise_once(mr, &in, runs[r].chunks); /* warm-up: workspaces, page faults */
		double t = denoise_once(mr, &in, runs[r].chunks);
		printf("%-34s %9.2f %8.4f %9.2f %13.4f\n", runs[r].what, t, t / seconds, last_cpu,
		       last_cpu / seconds);
	}
	dn_model_destroy(m32);
	const dn_model_info *mi = dn_model_get_info(m);
	printf("%s model (%d base filters, depth %d), %.0f s of 16 kHz mono, chunks of 256 frames, "
	       "overlap 32\n",
	       model_path ? model_path : "seed", mi->arch.base_filters, mi->arch.depth, seconds);
	dn_audio_free(&in);
	dn_model_destroy(m);
	return 0;
}
