/*
 * bench_conv.c — every convolution of a U-Net, one at a time, by each path
 * the inference forward can take: im2col + sgemm (conv2d.c), Winograd
 * F(2x2, 3x3) (winograd.c) and the direct AVX-512 kernel (direct.c), at the
 * shapes the network runs them at. The figures behind the per-layer choice
 * in core/nn/unet.c (use_direct, use_winograd).
 *
 *   bench_conv [--filters 16] [--depth 3] [--in 1] [--height 264] [--width 256]
 *              [--runs 7]
 *
 * Defaults are the shipped speech model at one 256-frame chunk (257 bins
 * padded to 264); --in 3 --height 416 --width 416 is the shipped frame model
 * at one 384-pixel tile with its margins. Single thread. Times are the
 * minimum over --runs calls after one warm-up (the machine is shared; the
 * minimum is the least disturbed), GFLOP/s are direct-equivalent (2·cout·
 * cin·9·H·W for a 3x3). Each path's output is checked against im2col's and
 * the largest difference printed. Never passes or fails on time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/nn/direct.h"
#include "core/nn/layers.h"
#include "core/nn/unet.h"
#include "core/util/blas.h"
#include "core/util/threads.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { P_IM2COL, P_WINO, P_WINO8, P_DIRECT, NPATH };
static const char *const path_name[NPATH] = {"im2col", "winograd", "winograd gemm8", "direct"};

static void die(const char *what)
{
	fprintf(stderr, "bench_conv: %s\n", what);
	exit(1);
}

int main(int argc, char **argv)
{
	dn_unet_config c = dn_unet_default_config();
	c.base_filters = 16;
	int h0 = 264, w0 = 256, runs = 7;
	for (int i = 1; i + 1 < argc; i += 2) {
		int v = atoi(argv[i + 1]);
		if (!strcmp(argv[i], "--filters"))
			c.base_filters = v;
		else if (!strcmp(argv[i], "--depth"))
			c.depth = v;
		else if (!strcmp(argv[i], "--in"))
			c.in_channels = v;
		else if (!strcmp(argv[i], "--height"))
			h0 = v;
		else if (!strcmp(argv[i], "--width"))
			w0 = v;
		else if (!strcmp(argv[i], "--runs"))
			runs = v;
		else
			die("usage: bench_conv [--filters N] [--depth N] [--in N] [--height H] [--width W] "
			    "[--runs N]");
	}
	dn_threads_prepare(argv); /* see core/util/threads.h */
	dn_threads_set(1);
	dn_blas_info bi;
	dn_blas_info_get(&bi);
	printf("cpu: %s; blas: %s; direct kernel: %s\n", bi.cpu_model[0] ? bi.cpu_model : "unknown", bi.line,
	       dn_direct_available() ? "AVX-512F" : "not on this CPU");
	dn_error err;
	dn_unet *net;
	if (dn_unet_config_check(&c, &err) || dn_unet_create(&c, 1, &net, &err))
		die(err.msg);
	dn_unet_unit_layout units[4 * DN_UNET_MAX_DEPTH + 3];
	const int nu = dn_unet_layout(net, units);
	dn_unet_destroy(net);
	printf("U-Net %d filters, depth %d, %d in; input %dx%d; ms (min of %d), GFLOP/s, max |diff| "
	       "to im2col\n",
	       c.base_filters, c.depth, c.in_channels, h0, w0, runs);
	printf("%-4s %-9s %4s %4s", "unit", "HxW", "cin", "cout");
	for (int p = 0; p < NPATH; p++)
		printf(" %22s", path_name[p]);
	printf("\n");
	double im2col_total = 0.0, best_total = 0.0;
	unsigned long long s = 1;
	for (int u = 0; u < nu; u++) {
		const int last = u == nu - 1, level = last ? 0 : dn_unet_unit_level(&c, u);
		const int h = h0 >> level, w = w0 >> level, k = last ? 1 : 3;
		dn_conv2d l = {.cin = units[u].cin, .cout = units[u].cout, .k = k};
		const size_t nw = (size_t)l.cout * l.cin * k * k;
		l.w = dn_alloc((nw + l.cout) * sizeof(float));
		if (!l.w)
			die("out of memory");
		l.b = l.w + nw;
		for (size_t i = 0; i < nw + l.cout; i++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			l.w[i] = (float)((double)(s >> 40) / 16777216.0 - 0.5) * 0.2f;
		}
		dn_tensor x = {0}, y = {0}, ref = {0};
		if (dn_tensor_init(&x, 1, l.cin, h, w, &err) || dn_tensor_init(&y, 1, l.cout, h, w, &err) ||
		    dn_tensor_init(&ref, 1, l.cout, h, w, &err))
			die(err.msg);
		for (size_t i = 0; i < dn_tensor_size(&x); i++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			x.data[i] = (float)((double)(s >> 40) / 16777216.0);
		}
		/* The scratch the folded forward gives a unit: 4 M floats or more. */
		size_t cap = (size_t)1 << 22;
		if (k == 3 && dn_winograd_min_scratch(&l, w) > cap)
			cap = dn_winograd_min_scratch(&l, w);
		if (dn_conv2d_min_scratch(&l, w) > cap)
			cap = dn_conv2d_min_scratch(&l, w);
		float *col = dn_alloc(cap * sizeof(float));
		float *uw = k == 3 ? dn_alloc(dn_winograd_weight_floats(&l) * sizeof(float)) : NULL;
		float *up = k == 3 ? dn_alloc(dn_winograd_packed_floats(&l) * sizeof(float)) : NULL;
		float *dw = k == 3 ? dn_alloc(dn_direct_weight_floats(&l) * sizeof(float)) : NULL;
		if (!col || (k == 3 && (!uw || !up || !dw)))
			die("out of memory");
		if (k == 3) {
			dn_winograd_weights(&l, uw);
			dn_winograd_weights_packed(&l, up);
			dn_direct_weights(&l, dw);
		}
		const double flops = 2.0 * l.cout * l.cin * k * k * (double)h * w;
		printf("%-4d %4dx%-4d %4d %4d", u, h, w, l.cin, l.cout);
		double best_any = 1e30;
		for (int p = 0; p < NPATH; p++) {
			if ((p != P_IM2COL && k != 3) ||
			    ((p == P_DIRECT || p == P_WINO8) && !dn_direct_available())) {
				printf(" %22s", "-");
				continue;
			}
			double best = 1e30;
			for (int r = 0; r <= runs; r++) {
				double t0 = now();
				if (p == P_IM2COL)
					dn_conv2d_forward(&l, &x, &ref, 1, col, cap);
				else if (p == P_WINO)
					dn_winograd_forward(&l, uw, 0, &x, &y, 1, col, cap);
				else if (p == P_WINO8)
					dn_winograd_forward(&l, up, 1, &x, &y, 1, col, cap);
				else
					dn_direct_forward(&l, dw, &x, &y, 1);
				double t = now() - t0;
				if (r > 0 && t < best)
					best = t;
			}
			double diff = 0.0;
			for (size_t i = 0; p && i < dn_tensor_size(&y); i++)
				diff = fmax(diff, fabs((double)y.data[i] - ref.data[i]));
			printf(" %7.3f %5.1f %8.1e", best * 1e3, flops / best * 1e-9, diff);
			if (best < best_any)
				best_any = best;
			if (p == P_IM2COL)
				im2col_total += best;
		}
		best_total += best_any;
		printf("\n");
		dn_tensor_free(&x);
		dn_tensor_free(&y);
		dn_tensor_free(&ref);
		dn_free(col);
		dn_free(uw);
		dn_free(up);
		dn_free(dw);
		dn_free(l.w);
	}
	printf("sum of the units' times, ms: im2col everywhere %.2f; the fastest path per unit %.2f\n",
	       im2col_total * 1e3, best_total * 1e3);
	return 0;
}
