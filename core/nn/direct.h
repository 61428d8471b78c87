/*
 * direct.h — 3x3 convolution (stride 1, same padding in the height, same or
 * causal in the width, as dn_conv2d) computed directly from the input rows
 * with a register-blocked SIMD kernel, for inference. It pays where the
 * channel counts are small (the full-resolution layers of the shipped
 * models, 1 to 48 input and 16 or 32 output channels): there im2col +
 * sgemm has GEMMs of M = cout = 16 that spend as long packing as
 * multiplying, and Winograd's 16 GEMMs have K = cin = 16 (bench/bench_conv
 * measures all three per layer).
 *
 * Only built for x86-64 and only run on CPUs with AVX-512F
 * (dn_direct_available, from cpuid at run time); elsewhere callers keep
 * im2col + sgemm. Internal to libdenoise.
 */
#ifndef DN_DIRECT_H
#define DN_DIRECT_H

#include <stddef.h>

#include "core/nn/layers.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define DN_DIRECT_X86 1
#else
#define DN_DIRECT_X86 0
#endif

/* 1 when this CPU runs the direct kernel (AVX-512F), else 0. */
int dn_direct_available(void);
/* Floats of the reordered weights of l (3x3 only): cout rounded up to 8. */
size_t dn_direct_weight_floats(const dn_conv2d *l);
/* wt[co / 8][ci][kh][kw][co % 8] from l's w, zeros past cout. */
void dn_direct_weights(const dn_conv2d *l, float *wt);
/* y = conv(x) + b, then ReLU when relu != 0; needs no scratch. Only where
 * dn_direct_available() is 1. */
void dn_direct_forward(const dn_conv2d *l, const float *wt, const dn_tensor *x, dn_tensor *y, int relu);

/* dx = the transposed convolution of dy (the input gradient of l's
 * backward: a 3x3 convolution of dy with l's weights flipped and
 * transposed, padded the other way in a causal width). scratch holds
 * dn_direct_transposed_scratch(l) floats. Only where dn_direct_available(). */
size_t dn_direct_transposed_scratch(const dn_conv2d *l);
void dn_direct_transposed(const dn_conv2d *l, const dn_tensor *dy, dn_tensor *dx, float *scratch);

/* One output column of a causal 3x3 convolution, for streaming (as
 * dn_conv2d_forward_frame): win is [cin][3][h] (time t−2, t−1, t; h the
 * frequency), y gets [cout][h]. The window is an image of 3 rows, time down
 * and frequency across, whose middle output row is the column wanted, with
 * the taps transposed to match: wt from dn_direct_weights_frame
 * (dn_direct_weight_floats of them). Only where dn_direct_available(). */
void dn_direct_weights_frame(const dn_conv2d *l, float *wt);
void dn_direct_forward_frame(const dn_conv2d *l, const float *wt, const float *win, int h, float *y,
                             int relu);

/* The kernel (direct_avx512.c): output rows [r0, r1) of one image of h x w,
 * pw zero columns before the first input column (1 same, 2 causal, 0 for the
 * causal one's transposed convolution). Output (co, oh, ow) goes to
 * y[co·ys + (oh − r0)·w + ow]. */
void dn_direct3_rows_avx512(const float *x, int cin, int h, int w, int pw, const float *wt, const float *bias,
                            int cout, int relu, float *y, size_t ys, int r0, int r1);

/* C (m x n, row stride ldc) = A · B (k x n, row stride ldb), A packed by
 * dn_gemm8_pack: the direct kernel's register blocking without the taps,
 * for the small GEMMs (m, k of 16 to 128) of Winograd's tile points, where
 * OpenBLAS spends as long packing as multiplying. Only where
 * dn_direct_available(). */
size_t dn_gemm8_packed_floats(int m, int k);
/* ap[i / 8][j][i % 8] = a[i][j] (a is m x k row-major), zeros past m. */
void dn_gemm8_pack(const float *a, int m, int k, float *ap);
void dn_gemm8_avx512(int m, int n, int k, const float *ap, const float *b, int ldb, float *c, int ldc);

#endif
