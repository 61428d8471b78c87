/*
 * bench_stream.c — live streaming through the real daemon (issue 17's
 * targets): end-to-end latency on loopback at 20 ms frames, CPU per stream,
 * and whether N concurrent streams keep up with real time.
 *
 * Starts daemon/denoised (tests/harness.c) serving MODEL (a causal audio
 * model) with max_streams = N; opens N WebSocket streams to
 * GET /v1/audio:stream, each sending s16le mono 16 kHz frames of --frame-ms
 * (a sine chord and noise) paced in real time for --seconds, from a sender
 * thread, while a receiver thread reads the denoised PCM back. A frame's
 * latency is from the moment its last byte was sent to the moment the
 * output covers its last sample: the model's algorithmic latency (the
 * STFT window: the last samples of a frame wait for the frames after it)
 * plus network, queueing and compute. CPU per stream is each stream's own
 * thread CPU time over its audio seconds (the server's "done" message);
 * the daemon's whole CPU (user + system from /proc) over the run is printed
 * beside it. A stream keeps up when it never got a "behind" message and
 * the latency of its last second is within a frame of its first second's.
 *
 * usage: bench_stream MODEL [--streams N[,N...]] [--seconds S] [--frame-ms MS]
 * (run from the build directory, or with DN_BUILDDIR set). Prints figures;
 * never passes or fails on time.
 */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/nn/unet.h"
#include "core/util/blas.h"
#include "tests/harness.h"

char tmp[] = "/tmp/bench_stream_XXXXXX";
const char *builddir;

static double mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct stream {
	int port, fd, id;
	int frame, nframes; /* samples per frame, frames to send */
	double *t_sent;     /* per frame: when its last byte went */
	double *lat;        /* per frame: latency, NAN until its output came */
	size_t out_samples;
	double cpu_seconds, seconds, latency_ms;
	int behind, done, ok;
	pthread_mutex_t lock;
} stream;

static void *sender(void *arg)
{
	stream *s = arg;
	int16_t *buf = malloc((size_t)s->frame * sizeof(int16_t));
	uint32_t r = 17u + (uint32_t)s->id;
	double t0 = mono();
	for (int k = 0; k < s->nframes; k++) {
		for (int i = 0; i < s->frame; i++) {
			double t = (double)(k * s->frame + i) / 16000.0;
			r = r * 1664525u + 1013904223u;
			double v = 0.3 * sin(2 * M_PI * 220 * t) + 0.2 * sin(2 * M_PI * 1330 * t) +
			           0.1 * ((double)(r >> 8) / 8388608.0 - 1.0);
			buf[i] = (int16_t)lrint(v * 32767); /* little-endian hosts only (x86, arm) */
		}
		/* real time: frame k goes at t0 + (k + 1) frame durations */
		double due = t0 + (double)(k + 1) * s->frame / 16000.0, now = mono();
		if (due > now)
			usleep((useconds_t)((due - now) * 1e6));
		if (ws_send(s->fd, 2, buf, (size_t)s->frame * 2, 1) != 0)
			break;
		pthread_mutex_lock(&s->lock);
		s->t_sent[k] = mono();
		pthread_mutex_unlock(&s->lock);
	}
	ws_send(s->fd, 8, "\x03\xe8", 2, 1);
	free(buf);
	return NULL;
}

static void *receiver(void *arg)
{
	stream *s = arg;
	for (;;) {
		unsigned char *d;
		size_t n;
		int op = ws_recv(s->fd, &d, &n, 30000);
		if (op <= 0)
			break;
		double now = mono();
		if (op == 2) {
			size_t before = s->out_samples / (size_t)s->frame;
			s->out_samples += n / 2;
			size_t after = s->out_samples / (size_t)s->frame;
			pthread_mutex_lock(&s->lock);
			for (size_t k = before; k < after && k < (size_t)s->nframes; k++)
				s->lat[k] = now - s->t_sent[k];
			pthread_mutex_unlock(&s->lock);
		} else if (op == 1) {
			json_t *j = json_loads((const char *)d, 0, NULL);
			const char *t = json_string_value(json_object_get(j, "type"));
			if (t && !strcmp(t, "behind"))
				s->behind++;
			if (t && !strcmp(t, "ready"))
				s->latency_ms = json_real_value(json_object_get(j, "latency_ms"));
			if (t && !strcmp(t, "done")) {
				s->done = 1;
				s->cpu_seconds = json_real_value(json_object_get(j, "cpu_seconds"));
				s->seconds = json_real_value(json_object_get(j, "seconds"));
			}
			if (t && strstr(t, "urn:"))
				fprintf(stderr, "stream %d: %s\n", s->id, (const char *)d);
			json_decref(j);
		} else if (op == 8) {
			free(d);
			break;
		}
		free(d);
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p)
{
	if (!n)
		return NAN;
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	return sorted[i ? i - 1 : 0];
}

/* User + system seconds of process pid so far. */
static double proc_cpu(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return NAN;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return NAN;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void run_streams(daemon_proc *d, int nstreams, double seconds, double frame_ms)
{
	stream *ss = calloc((size_t)nstreams, sizeof *ss);
	pthread_t *ts = calloc(2 * (size_t)nstreams, sizeof *ts);
	const int frame = (int)lrint(frame_ms * 16.0), nframes = (int)(seconds * 1000.0 / frame_ms);
	double cpu0 = proc_cpu(d->pid), t0 = mono();
	int opened = 0;
	for (int i = 0; i < nstreams; i++) {
		stream *s = &ss[i];
		char head[4096];
		int st;
		s->id = i;
		s->frame = frame;
		s->nframes = nframes;
		s->t_sent = calloc((size_t)nframes, sizeof(double));
		s->lat = malloc((size_t)nframes * sizeof(double));
		for (int k = 0; k < nframes; k++)
			s->lat[k] = NAN;
		pthread_mutex_init(&s->lock, NULL);
		s->fd = ws_open(d->port, "/v1/audio:stream?rate=16000&channels=1&format=s16le", NULL, head,
		                sizeof head, &st);
		if (s->fd < 0) {
			fprintf(stderr, "stream %d: no upgrade (%d): %s\n", i, st, head);
			continue;
		}
		s->ok = 1;
		opened++;
		pthread_create(&ts[2 * i], NULL, receiver, s);
		pthread_create(&ts[2 * i + 1], NULL, sender, s);
	}
	for (int i = 0; i < nstreams; i++)
		if (ss[i].ok) {
			pthread_join(ts[2 * i + 1], NULL);
			pthread_join(ts[2 * i], NULL);
		}
	double wall = mono() - t0, cpu = proc_cpu(d->pid) - cpu0;
	/* all frames' latencies, and per stream its first and last second's */
	double *all = malloc((size_t)nstreams * nframes * sizeof(double));
	size_t na = 0, missing = 0;
	int kept_up = 0, behind = 0;
	double cpu_streams = 0.0, audio = 0.0, algo = 0.0;
	const int sec = (int)(1000.0 / frame_ms);
	for (int i = 0; i < nstreams; i++) {
		stream *s = &ss[i];
		if (!s->ok)
			continue;
		double first = 0, last = 0;
		int nf = 0, nl = 0;
		for (int k = 0; k < nframes; k++) {
			if (isnan(s->lat[k])) {
				missing++;
				continue;
			}
			all[na++] = s->lat[k];
			if (k < sec)
				first += s->lat[k], nf++;
			if (k >= nframes - sec)
				last += s->lat[k], nl++;
		}
		first = nf ? first / nf : NAN;
		last = nl ? last / nl : NAN;
		behind += s->behind;
		kept_up += s->done && !s->behind && last - first < frame_ms * 1e-3;
		cpu_streams += s->cpu_seconds;
		audio += s->seconds;
		algo = s->latency_ms;
		ws_drop(s->fd);
		free(s->t_sent);
		free(s->lat);
		pthread_mutex_destroy(&s->lock);
	}
	qsort(all, na, sizeof *all, cmp_double);
	printf("%2d stream(s) x %.0f s, %g ms frames: latency p50 %.1f ms  p99 %.1f ms  max %.1f ms "
	       "(algorithmic %.0f ms)\n",
	       nstreams, seconds, frame_ms, 1e3 * pct(all, na, 50), 1e3 * pct(all, na, 99),
	       1e3 * pct(all, na, 100), algo);
	printf("   CPU per stream %.3f core (streams' own threads), daemon %.3f core in all over %.1f s "
	       "wall; kept up: %d of %d opened (%d 'behind' messages, %zu frames without output)\n",
	       audio > 0 ? cpu_streams / audio : NAN, wall > 0 ? cpu / wall : NAN, wall, kept_up, opened, behind,
	       missing);
	free(all);
	free(ss);
	free(ts);
}

int main(int argc, char **argv)
{
	const char *model = NULL, *list = "1,8";
	double seconds = 10, frame_ms = 20;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--streams") && i + 1 < argc)
			list = argv[++i];
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--frame-ms") && i + 1 < argc)
			frame_ms = atof(argv[++i]);
		else if (argv[i][0] != '-' && !model)
			model = argv[i];
		else {
			fprintf(stderr, "usage: bench_stream MODEL [--streams N[,N...]] [--seconds S] [--frame-ms MS]\n");
			return 2;
		}
	}
	if (!model || seconds <= 0 || frame_ms <= 0) {
		fprintf(stderr, "usage: bench_stream MODEL [--streams N[,N...]] [--seconds S] [--frame-ms MS]\n");
		return 2;
	}
	builddir = getenv("DN_BUILDDIR") ? getenv("DN_BUILDDIR") : ".";
	if (!mkdtemp(tmp))
		return 1;
	dn_blas_info bi;
	dn_blas_info_get(&bi);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("bench_stream: %s\ncpu: %s (%ld online)\nblas: %s\nconvolutions: %s\n", model,
	       bi.cpu_model[0] ? bi.cpu_model : "?", ncpu, bi.line, dn_unet_conv_kernels());
	int maxn = 1;
	for (const char *p = list; *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p))
		if (atoi(p) > maxn)
			maxn = atoi(p);
	char conf[1024];
	snprintf(conf, sizeof conf,
	         "models = %s\nmax_streams = %d\nstream_idle_timeout = 30\nworkers = 1\nlog_level = warning\n", model,
	         maxn);
	daemon_proc d;
	if (start_daemon(&d, "bench", conf, NULL) != 0) {
		fprintf(stderr, "the daemon did not start\n");
		return 1;
	}
	for (const char *p = list; *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p)) {
		int n = atoi(p);
		if (n > 0)
			run_streams(&d, n, seconds, frame_ms);
	}
	stop_daemon(&d, SIGTERM);
	run("rm -rf %s", tmp);
	return 0;
}
