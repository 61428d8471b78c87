/*
 * bench_unet.c — speed of the seed U-Net (dn_unet_default_config: 1 in, 1 out,
 * 32 base filters, depth 3, ReLU output; random weights, which cost exactly
 * what trained ones do) on a 257 x 131 spectrogram, the figures of issue 2.
 *
 * Prints, for each thread count asked for (default 1 and 2; OpenBLAS's and
 * the OpenMP team's):
 *  - the folded inference forward (dn_unet_infer_run), batch 1;
 *  - one training step at batch 16 (forward_train, MSE loss, zero_grad,
 *    backward, Adam update);
 *  - a large square cblas_sgemm at the same thread count, as the machine's
 *    attainable peak, and the forward's achieved GFLOP/s as a share of it.
 * Times are medians over --runs (--train-runs) after --warmup calls, with the
 * minimum and maximum beside them because the machine is shared.
 *
 * FLOPs are counted from the layer shapes, not measured: every convolution is
 * one GEMM per image of M = cout, N = H·W (padded), K = cin·k·k, costing
 * 2·M·N·K; pooling, upsampling, concatenation and activations are not
 * counted (batch norm is folded into the weights for inference). The count is
 * checked against dn_unet_forward_flops(). That is the figure GFLOP/s and the
 * share of the sgemm peak are quoted in ("direct-equivalent"); the folded
 * path runs its wider 3x3 units as Winograd F(2x2, 3x3), which
 * issues fewer GEMM FLOPs (dn_unet_infer_gemm_flops), so the share of peak
 * on the issued count is printed beside it (the direct AVX-512 kernel of the
 * other units issues the direct count). A training step is reported in
 * time only: its FLOPs (about 3x the forward per image) depend on which
 * gradients one counts.
 *
 * With --json, one JSON line follows the table for bench/bench_unet.sh,
 * which sets these figures beside PyTorch's (bench/bench_unet_torch.py).
 * Never passes or fails on time.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "core/nn/adam.h"
#include "core/nn/layers.h"
#include "core/nn/unet.h"
#include "core/util/blas.h"
#include "core/util/threads.h"

/* OpenBLAS's own entry point; cblas.h declares it in OpenBLAS builds only. */
void openblas_set_num_threads(int n);

#define MAX_THREADS 8

struct opts {
	int h, w, batch, warmup, runs, train_runs, gemm_n, json;
	int threads[MAX_THREADS], nthreads;
};

/* Median, min and max of one timed thing, in milliseconds. */
struct stat3 {
	double med, min, max;
	double cpu; /* median process CPU time: less swayed by other jobs on the machine */
};

struct result {
	int threads;
	struct stat3 infer, infer32, train, gemm;
	double gemm_gflops, infer_gflops, issued_gflops;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const dn_error *err)
{
	fprintf(stderr, "bench_unet: %s: %s\n", what, err ? err->msg : "out of memory");
	exit(1);
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static struct stat3 summarise(double *ms, double *cpu, int n)
{
	double med = median(ms, n);
	return (struct stat3){.med = med, .min = ms[0], .max = ms[n - 1], .cpu = median(cpu, n)};
}

/* Uniform [0, 1) floats from a fixed LCG: non-negative, like magnitudes. */
static void fill_uniform(float *x, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		x[i] = (float)(seed >> 8) / 16777216.0f;
	}
}

/* Forward FLOPs from the layer shapes (see the opening comment). */
static double count_flops(const dn_unet_config *c, int h, int w)
{
	const int m = 1 << c->depth, b = c->base_filters;
	const double hp = (double)((h + m - 1) / m * m), wp = (double)((w + m - 1) / m * m);
	double f = 0.0;
	for (int l = 0; l <= c->depth; l++) {
		const double n = (hp / (1 << l)) * (wp / (1 << l));
		const double cout = (double)(b << l);
		const double cin = l == 0 ? c->in_channels : (double)(b << (l - 1));
		f += 2.0 * cout * n * (cin * 9) + 2.0 * cout * n * (cout * 9); /* enc / mid */
		if (l < c->depth)                                              /* decoder */
			f += 2.0 * cout * n * ((double)(b << (l + 1)) + cout) * 9 +
			     2.0 * cout * n * (cout * 9);
	}
	return f + 2.0 * c->out_channels * hp * wp * b; /* the 1x1 output conv */
}

/* A large square sgemm: the attainable peak at the current thread count. */
static struct stat3 time_gemm(int n, int warmup, int runs)
{
	float *a = dn_alloc((size_t)n * n * sizeof(float)), *b = dn_alloc((size_t)n * n * sizeof(float));
	float *c = dn_alloc((size_t)n * n * sizeof(float));
	double ms[64], cpu[64];
	if (!a || !b || !c)
		die("sgemm buffers", NULL);
	fill_uniform(a, (size_t)n * n, 1);
	fill_uniform(b, (size_t)n * n, 2);
	for (int i = -warmup; i < runs; i++) {
		double t0 = now(), c0 = cpu_now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
		if (i >= 0) {
			ms[i] = (now() - t0) * 1e3;
			cpu[i] = (cpu_now() - c0) * 1e3;
		}
	}
	dn_free(a);
	dn_free(b);
	dn_free(c);
	return summarise(ms, cpu, runs);
}

static struct stat3 time_infer(const dn_unet_infer *inf, const dn_tensor *x, int warmup, int runs)
{
	dn_error err;
	dn_unet_ws *ws = dn_unet_ws_create();
	dn_tensor y = {0};
	double ms[64], cpu[64];
	if (!ws)
		die("workspace", NULL);
	for (int i = -warmup; i < runs; i++) {
		double t0 = now(), c0 = cpu_now();
		if (dn_unet_infer_run(inf, ws, x, &y, &err))
			die("dn_unet_infer_run", &err);
		if (i >= 0) {
			ms[i] = (now() - t0) * 1e3;
			cpu[i] = (cpu_now() - c0) * 1e3;
		}
	}
	dn_tensor_free(&y);
	dn_unet_ws_destroy(ws);
	return summarise(ms, cpu, runs);
}

/* Training steps on one fixed batch: the cost does not depend on the data. */
static struct stat3 time_train(dn_unet *net, const dn_tensor *x, const dn_tensor *t, int warmup, int runs)
{
	dn_error err;
	dn_adam *opt;
	dn_adam_params ap = dn_adam_default_params();
	float *params, *grads;
	size_t np;
	dn_tensor g = {0};
	double ms[64], cpu[64];
	dn_unet_trainable(net, &params, &grads, &np, NULL);
	if (dn_adam_create(&ap, np, &opt, &err) || dn_tensor_init(&g, t->n, t->c, t->h, t->w, &err))
		die("optimiser", &err);
	for (int i = -warmup; i < runs; i++) {
		const dn_tensor *y;
		double t0 = now(), c0 = cpu_now();
		if (dn_unet_forward_train(net, x, &y, &err))
			die("dn_unet_forward_train", &err);
		dn_loss_mse(y->data, t->data, dn_tensor_size(t), g.data);
		dn_unet_zero_grad(net);
		if (dn_unet_backward(net, &g, &err))
			die("dn_unet_backward", &err);
		dn_adam_step(opt, params, grads);
		if (i >= 0) {
			ms[i] = (now() - t0) * 1e3;
			cpu[i] = (cpu_now() - c0) * 1e3;
		}
	}
	dn_tensor_free(&g);
	dn_adam_destroy(opt);
	return summarise(ms, cpu, runs);
}

static int parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "bench_unet: \"%s\": expected an integer in %d..%d\n", s, lo, hi);
		exit(2);
	}
	return (int)v;
}

static void parse_threads(struct opts *o, const char *s)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", s);
	o->nthreads = 0;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		if (o->nthreads == MAX_THREADS) {
			fprintf(stderr, "bench_unet: at most %d thread counts\n", MAX_THREADS);
			exit(2);
		}
		o->threads[o->nthreads++] = parse_int(tok, 1, 256);
	}
	if (!o->nthreads) {
		fprintf(stderr, "bench_unet: --threads needs a list such as 1,2\n");
		exit(2);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_unet [--height H] [--width W] [--batch N] [--threads 1,2]\n"
	                "                  [--warmup N] [--runs N] [--train-runs N] [--gemm N] [--json]\n");
	exit(2);
}

static struct opts parse_args(int argc, char **argv)
{
	struct opts o = {.h = 257,
	                 .w = 131,
	                 .batch = 16,
	                 .warmup = 2,
	                 .runs = 9,
	                 .train_runs = 3,
	                 .gemm_n = 2048,
	                 .threads = {1, 2},
	                 .nthreads = 2};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) {
			o.json = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--height"))
			o.h = parse_int(v, 1, 65536);
		else if (!strcmp(a, "--width"))
			o.w = parse_int(v, 1, 65536);
		else if (!strcmp(a, "--batch"))
			o.batch = parse_int(v, 1, 1024);
		else if (!strcmp(a, "--warmup"))
			o.warmup = parse_int(v, 0, 64);
		else if (!strcmp(a, "--runs"))
			o.runs = parse_int(v, 1, 64);
		else if (!strcmp(a, "--train-runs"))
			o.train_runs = parse_int(v, 0, 64);
		else if (!strcmp(a, "--gemm"))
			o.gemm_n = parse_int(v, 64, 16384);
		else if (!strcmp(a, "--threads"))
			parse_threads(&o, v);
		else
			usage();
	}
	return o;
}

static void print_stat(const char *what, int threads, struct stat3 s, const char *extra)
{
	printf("%-34s %3d %10.2f %10.2f %10.2f %10.2f  %s\n", what, threads, s.med, s.min, s.max, s.cpu,
	       extra);
}

int main(int argc, char **argv)
{
	struct opts o = parse_args(argc, argv);
	dn_error err;
	dn_unet_config cfg = dn_unet_default_config();
	dn_unet *net;
	dn_unet_infer *inf, *inf32;
	dn_tensor x = {0}, xb = {0}, tb = {0};
	struct result res[MAX_THREADS];

	dn_threads_prepare(argv); /* see core/util/threads.h */

	/* The forward as every program runs it by default (bf16 on AMX tiles
	 * where the CPU has them), and in fp32 beside it. */
	if (dn_unet_create(&cfg, 1, &net, &err) || dn_unet_infer_create(net, &inf, &err) ||
	    dn_unet_set_cpu_precision("fp32", &err) || dn_unet_infer_create(net, &inf32, &err) ||
	    dn_unet_set_cpu_precision("bf16", &err))
		die("seed model", &err);
	if (dn_tensor_init(&x, 1, cfg.in_channels, o.h, o.w, &err) ||
	    dn_tensor_init(&xb, o.batch, cfg.in_channels, o.h, o.w, &err) ||
	    dn_tensor_init(&tb, o.batch, cfg.out_channels, o.h, o.w, &err))
		die("input tensors", &err);
	fill_uniform(x.data, dn_tensor_size(&x), 3);
	fill_uniform(xb.data, dn_tensor_size(&xb), 4);
	fill_uniform(tb.data, dn_tensor_size(&tb), 5);

	const size_t nparams = dn_unet_param_count(net);
	const double flops = count_flops(&cfg, o.h, o.w);
	const double lib_flops = dn_unet_forward_flops(&cfg, o.h, o.w);
	const double issued = dn_unet_infer_gemm_flops(inf, o.h, o.w);
	const int m = 1 << cfg.depth;
	const int hp = (o.h + m - 1) / m * m, wp = (o.w + m - 1) / m * m;

	for (int i = 0; i < o.nthreads; i++) {
		struct result *r = &res[i];
		r->threads = o.threads[i];
		openblas_set_num_threads(r->threads);
		r->gemm = time_gemm(o.gemm_n, 1, 5);
		r->gemm_gflops = 2.0 * o.gemm_n * (double)o.gemm_n * o.gemm_n / (r->gemm.med * 1e6);
		/* The forward's own threads: its direct and Winograd units share
		 * their work among the OpenMP team (with AVX-512 it wakes no
		 * OpenBLAS thread, so a team of 1 would leave the second core idle;
		 * the daemon's workers and denoise audio use theirs for chunks). */
		dn_threads_set_local(r->threads);
		r->infer32 = time_infer(inf32, &x, o.warmup, o.runs);
		r->infer = time_infer(inf, &x, o.warmup, o.runs);
		r->infer_gflops = flops / (r->infer.med * 1e6);
		r->issued_gflops = issued / (r->infer.med * 1e6);
		if (o.train_runs)
			r->train = time_train(net, &xb, &tb, 1, o.train_runs);
	}

	dn_blas_info bi;
	dn_blas_info_get(&bi);
	printf("cpu: %s, %ld online; blas: %s\n", bi.cpu_model[0] ? bi.cpu_model : "unknown",
	       sysconf(_SC_NPROCESSORS_ONLN), bi.line);
	printf("convolutions: %s\n", dn_unet_conv_kernels());
	printf("seed U-Net (base %d, depth %d, %d in / %d out, ReLU output), input %dx%d (padded %dx%d)\n",
	       cfg.base_filters, cfg.depth, cfg.in_channels, cfg.out_channels, o.h, o.w, hp, wp);
	printf("trainable parameters      %zu\n", nparams);
	printf("forward GFLOP (batch 1)   %.4f  (sum over convs of 2*cout*H*W*cin*k*k at the padded size;"
	       " library count %.4f)\n",
	       flops * 1e-9, lib_flops * 1e-9);
	printf("forward GEMM GFLOP issued %.4f  (units run as Winograd F(2x2,3x3) issue 16/36 of the direct"
	       " count; transforms not counted)\n",
	       issued * 1e-9);
	printf("timings: median of %d (training: %d) after warm-up, ms; min, max and the median process CPU "
	       "time beside\n",
	       o.runs, o.train_runs);
	printf("%-34s %3s %10s %10s %10s %10s\n", "what", "thr", "median", "min", "max", "cpu med");
	for (int i = 0; i < o.nthreads; i++) {
		const struct result *r = &res[i];
		char extra[96];
		snprintf(extra, sizeof extra, "%.1f GFLOP/s", r->gemm_gflops);
		char gname[48];
		snprintf(gname, sizeof gname, "sgemm %dx%dx%d", o.gemm_n, o.gemm_n, o.gemm_n);
		print_stat(gname, r->threads, r->gemm, extra);
		snprintf(extra, sizeof extra,
		         "%.1f GFLOP/s direct-equivalent = %.0f%% of sgemm; issued %.0f%%", r->infer_gflops,
		         100.0 * r->infer_gflops / r->gemm_gflops, 100.0 * r->issued_gflops / r->gemm_gflops);
		print_stat("forward (folded, batch 1)", r->threads, r->infer, extra);
		print_stat("forward (folded, batch 1), fp32", r->threads, r->infer32, "");
		if (o.train_runs) {
			snprintf(extra, sizeof extra, "%.1f ms per image", r->train.med / o.batch);
			char tname[48];
			snprintf(tname, sizeof tname, "train step (batch %d)", o.batch);
			print_stat(tname, r->threads, r->train, extra);
		}
	}
	if (o.json) {
		printf(
		    "{\"impl\":\"libdenoise\",\"cpu\":\"%s\",\"blas\":\"%s\",\"kernel\":\"%s\",\"conv\":\"%s\","
		    "\"height\":%d,\"width\":%d,\"batch\":%d,\"params\":%zu,"
		    "\"gflop\":%.6f,\"gemm_gflop_issued\":%.6f,\"runs\":%d,\"train_runs\":%d,\"results\":[",
		    bi.cpu_model, bi.library, bi.kernel, dn_unet_conv_kernels(), o.h, o.w, o.batch, nparams, flops * 1e-9,
		    issued * 1e-9, o.runs, o.train_runs);
		for (int i = 0; i < o.nthreads; i++) {
			const struct result *r = &res[i];
			printf("%s{\"threads\":%d,\"infer_ms\":[%.4f,%.4f,%.4f],\"infer_cpu_ms\":%.4f,"
			       "\"infer_fp32_ms\":[%.4f,%.4f,%.4f],\"infer_fp32_cpu_ms\":%.4f,"
			       "\"train_ms\":[%.4f,%.4f,%.4f],\"train_cpu_ms\":%.4f,"
			       "\"gemm_ms\":[%.4f,%.4f,%.4f],\"gemm_n\":%d,\"gemm_gflops\":%.3f,"
			       "\"infer_gflops\":%.3f,\"issued_gflops\":%.3f}",
			       i ? "," : "", r->threads, r->infer.med, r->infer.min, r->infer.max,
			       r->infer.cpu, r->infer32.med, r->infer32.min, r->infer32.max, r->infer32.cpu, r->train.med, r->train.min, r->train.max, r->train.cpu,
			       r->gemm.med, r->gemm.min, r->gemm.max, o.gemm_n, r->gemm_gflops,
			       r->infer_gflops, r->issued_gflops);
		}
		printf("]}\n");
	}
	dn_tensor_free(&x);
	dn_tensor_free(&xb);
	dn_tensor_free(&tb);
	dn_unet_infer_destroy(inf);
	dn_unet_infer_destroy(inf32);
	dn_unet_destroy(net);
	return 0;
}
