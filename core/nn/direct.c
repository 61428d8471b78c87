/*
 * direct.c — dispatch and weight layout of the direct 3x3 convolution
 * (direct.h); the SIMD kernel itself is in x86/direct_avx512.c.
 *
 * The rows of an image are independent, so they are shared among OpenMP
 * threads when there is enough work; each output value is computed by one
 * thread in a fixed order, so the result does not depend on the thread
 * count.
 */
#include <string.h>

#include "core/nn/direct.h"

#define CB 8

int dn_direct_available(void)
{
#if DN_DIRECT_X86
	return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
	return 0;
#endif
}

size_t dn_direct_weight_floats(const dn_conv2d *l)
{
	return (size_t)(l->cout + CB - 1) / CB * CB * l->cin * 9;
}

/* wt[o / 8][i][t][o % 8] = the weight of output o, input i and tap map[t]
 * of the kernel's convolution (nout outputs, nin inputs), which sits at
 * w[(o·so + i·si)·9 + map[t]]: so = cin, si = 1 for a layer's own weights;
 * so = 1, si = cin of the layer for its transposed convolution. Zeros past
 * nout. */
static void lay_out(const float *w, int nout, int nin, size_t so, size_t si, const int map[9], float *wt)
{
	const int nb = (nout + CB - 1) / CB;
	for (int b = 0; b < nb; b++)
		for (int i = 0; i < nin; i++)
			for (int t = 0; t < 9; t++)
				for (int c = 0; c < CB; c++) {
					const int o = b * CB + c;
					wt[(((size_t)b * nin + i) * 9 + t) * CB + c] =
					    o < nout ? w[((size_t)o * so + (size_t)i * si) * 9 + map[t]]
					             : 0.0f;
				}
}

void dn_direct_weights(const dn_conv2d *l, float *wt)
{
	static const int same[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
	lay_out(l->w, l->cout, l->cin, (size_t)l->cin, 1, same, wt);
}

/* Multiply-adds below which one image's rows stay on one thread. */
#define PAR_MIN_WORK ((size_t)1 << 22)

/* The layer whose forward is l's transposed convolution: cout inputs, cin
 * outputs. Its weights, as dn_direct_weights lays them out, are
 * wt[ci / 8][co][t][ci % 8] = l.w[co][ci][8 − t]. */
static dn_conv2d transposed(const dn_conv2d *l)
{
	return (dn_conv2d){.cin = l->cout, .cout = l->cin, .k = 3, .causal = l->causal};
}

size_t dn_direct_transposed_scratch(const dn_conv2d *l)
{
	const dn_conv2d t = transposed(l);
	return dn_direct_weight_floats(&t) + (size_t)(l->cin + CB);
}

/* y = conv(x) with the weights wt, bias b and pw zero columns before the
 * first (output rows shared among threads). */
static void run(const dn_conv2d *l, const float *wt, const float *b, int pw, const dn_tensor *x, dn_tensor *y,
                int relu)
{
#if DN_DIRECT_X86
	const int h = x->h, w = x->w;
	const size_t work = (size_t)l->cin * l->cout * 9 * (size_t)h * w;
	(void)work; /* read only by the OpenMP clause */
	for (int n = 0; n < x->n; n++) {
		const float *xn = dn_tensor_plane(x, n, 0);
		float *yn = dn_tensor_plane(y, n, 0);
#pragma omp parallel for schedule(static) if (work > PAR_MIN_WORK)
		for (int r = 0; r < h; r++)
			dn_direct3_rows_avx512(xn, l->cin, h, w, pw, wt, b, l->cout, relu, yn + (size_t)r * w,
			                       (size_t)h * w, r, r + 1);
	}
#else
	(void)l;
	(void)wt;
	(void)b;
	(void)pw;
	(void)x;
	(void)y;
	(void)relu;
#endif
}

void dn_direct_forward(const dn_conv2d *l, const float *wt, const dn_tensor *x, dn_tensor *y, int relu)
{
	run(l, wt, l->b, l->causal ? 2 : 1, x, y, relu);
}

void dn_direct_transposed(const dn_conv2d *l, const dn_tensor *dy, dn_tensor *dx, float *scratch)
{
	/* Tap t of the transposed convolution is l's tap 8 − t (flipped). */
	static const int flipped[9] = {8, 7, 6, 5, 4, 3, 2, 1, 0};
	const dn_conv2d t = transposed(l);
	float *wt = scratch, *zero = scratch + dn_direct_weight_floats(&t);
	lay_out(l->w, t.cout, t.cin, 1, (size_t)l->cin, flipped, wt);
	memset(zero, 0, (size_t)t.cout * sizeof *zero);
	/* The forward pads the width with pw zeros before and 2 − pw after; its
	 * adjoint the other way round. */
	run(&t, wt, zero, l->causal ? 0 : 1, dy, dx, 0);
}

void dn_direct_weights_frame(const dn_conv2d *l, float *wt)
{
	/* Tap (a, b) of the window image (row a = time, column b = frequency)
	 * is l's tap (kh = b, kw = a). */
	static const int swapped[9] = {0, 3, 6, 1, 4, 7, 2, 5, 8};
	lay_out(l->w, l->cout, l->cin, (size_t)l->cin, 1, swapped, wt);
}

void dn_direct_forward_frame(const dn_conv2d *l, const float *wt, const float *win, int h, float *y, int relu)
{
#if DN_DIRECT_X86
	dn_direct3_rows_avx512(win, l->cin, 3, h, 1, wt, l->b, l->cout, relu, y, (size_t)h, 1, 2);
#else
	(void)l;
	(void)wt;
	(void)win;
	(void)h;
	(void)y;
	(void)relu;
#endif
}

size_t dn_gemm8_packed_floats(int m, int k)
{
	return (size_t)(m + CB - 1) / CB * CB * k;
}

void dn_gemm8_pack(const float *a, int m, int k, float *ap)
{
	for (int b = 0; b < (m + CB - 1) / CB; b++)
		for (int j = 0; j < k; j++)
			for (int c = 0; c < CB; c++) {
				const int i = b * CB + c;
				ap[((size_t)b * k + j) * CB + c] = i < m ? a[(size_t)i * k + j] : 0.0f;
			}
}
