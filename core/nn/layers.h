/*
 * layers.h — the layer kinds the U-Net is composed of, darknet-style: one
 * source file per kind with its forward and backward side by side.
 *
 * Layers are plain functions over dn_tensor: they never allocate. Callers own
 * outputs (already shaped) and the scratch buffers named in the signatures.
 * Backward functions *accumulate* parameter gradients and *overwrite* input
 * gradients unless stated otherwise. Internal to libdenoise (not installed).
 */
#ifndef DN_LAYERS_H
#define DN_LAYERS_H

#include <stddef.h>

#include "core/nn/tensor.h"

/* For loops written for GCC's vectoriser (fixed-size chunks): compiled
 * again for AVX-512 and AVX2 and chosen when the program loads by what the
 * CPU has (an ifunc). The library is built for plain x86-64, whose SSE
 * vectors are 4 floats wide. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DN_CLONES
#endif

/* conv2d.c — k x k convolution (k = 1 or 3), stride 1, same padding, as
 * im2col + sgemm. Weights are [cout][cin][k][k] (PyTorch's layout). The
 * im2col scratch holds `col_cap` floats; the output is computed in blocks of
 * pixels so that any image size fits a bounded scratch (at least cin*k*k*W).
 * A causal convolution pads the width (time) with k − 1 zero columns on the
 * left and none on the right, so output column t reads input columns
 * t−k+1 .. t only; the height (frequency) stays same-padded. */
typedef struct dn_conv2d {
	int cin, cout, k;
	int causal;     /* 1: causal in the width (time), see above */
	float *w, *b;   /* parameters */
	float *dw, *db; /* gradients (NULL for inference-only copies) */
} dn_conv2d;

/* Smallest scratch (floats) dn_conv2d_forward/backward accept for width w. */
size_t dn_conv2d_min_scratch(const dn_conv2d *l, int w);
/* y = conv(x) + b, then ReLU when relu != 0. */
void dn_conv2d_forward(const dn_conv2d *l, const dn_tensor *x, dn_tensor *y, int relu, float *col,
                       size_t col_cap);
/* dW += dy·colᵀ, db += Σdy, and (if dx) dx = col2im(Wᵀ·dy). dcol has
 * col_cap floats as well. */
void dn_conv2d_backward(const dn_conv2d *l, const dn_tensor *x, const dn_tensor *dy, dn_tensor *dx,
                        float *col, float *dcol, size_t col_cap);

/* One output column of a causal convolution, for streaming: x is a window
 * of the k latest input columns, [cin][k][h] (column k − 1 the newest), y
 * gets [cout][h], then ReLU when relu != 0. col holds
 * dn_conv2d_frame_scratch(l, h) floats. Column t of dn_conv2d_forward on
 * the whole input equals this on columns t−k+1 .. t (zeros before 0), up to
 * the GEMM's rounding. */
size_t dn_conv2d_frame_scratch(const dn_conv2d *l, int h);
void dn_conv2d_forward_frame(const dn_conv2d *l, const float *x, int h, float *y, int relu, float *col);

/* winograd.c — 3x3 convolution (same padding, stride 1) by Winograd's
 * F(2x2, 3x3), for inference: 2.25x fewer multiplies than im2col + sgemm.
 * The transformed weights u (dn_winograd_weight_floats floats, made by
 * dn_winograd_weights from l's w) are the caller's; so is the scratch of cap
 * floats, at least dn_winograd_min_scratch. */
size_t dn_winograd_weight_floats(const dn_conv2d *l);
void dn_winograd_weights(const dn_conv2d *l, float *u);
/* The same weights packed for the direct kernel's small GEMM (direct.h,
 * dn_gemm8_avx512), which the forward uses instead of sgemm when packed
 * is 1 (only where dn_direct_available()). */
size_t dn_winograd_packed_floats(const dn_conv2d *l);
void dn_winograd_weights_packed(const dn_conv2d *l, float *up);
/* Smallest scratch (floats) dn_winograd_forward accepts for width w. */
size_t dn_winograd_min_scratch(const dn_conv2d *l, int w);
/* y = conv(x) + b, then ReLU when relu != 0; l's b is read, its w is not. */
void dn_winograd_forward(const dn_conv2d *l, const float *u, int packed, const dn_tensor *x, dn_tensor *y,
                         int relu, float *scratch, size_t cap);

/* batchnorm.c — per-channel normalisation (eps 1e-5, momentum 0.1, the
 * running variance updated with the unbiased batch variance, as PyTorch). */
typedef struct dn_batchnorm {
	int c;
	float *gamma, *beta;    /* parameters */
	float *dgamma, *dbeta;  /* gradients */
	float *mean, *var;      /* running statistics */
	float *bmean, *binvstd; /* last training batch's statistics (scratch, c each) */
} dn_batchnorm;

#define DN_BN_EPS      1e-5f
#define DN_BN_MOMENTUM 0.1f

/* Training mode: normalises with batch statistics and updates the running ones. */
void dn_batchnorm_forward_train(dn_batchnorm *l, const dn_tensor *x, dn_tensor *y);
/* Eval mode: normalises with the running statistics. y may alias x. */
void dn_batchnorm_forward_eval(const dn_batchnorm *l, const dn_tensor *x, dn_tensor *y);
/* Backward of the last training forward; x is that forward's input. */
void dn_batchnorm_backward(dn_batchnorm *l, const dn_tensor *x, const dn_tensor *dy, dn_tensor *dx);
/* Folds eval-mode batch norm into the preceding convolution's w (cout rows of
 * kdim) and b, in place. */
void dn_batchnorm_fold(const dn_batchnorm *l, float *w, float *b, int cout, size_t kdim);

/* activation.c — elementwise; y may alias x, dx may alias dy. */
void dn_relu_forward(const float *x, float *y, size_t n);
/* dx = dy where the forward *output* y > 0, else 0. */
void dn_relu_backward(const float *y, const float *dy, float *dx, size_t n);
void dn_sigmoid_forward(const float *x, float *y, size_t n);
/* dx = dy·y·(1−y) with y the forward output. */
void dn_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n);

/* pool.c — 2x2 max pooling, stride 2 (even H and W), or 2x1 (H only, the
 * width kept) when y is as wide as x. Ties go to the first element in
 * row-major order, as PyTorch. */
void dn_maxpool_forward(const dn_tensor *x, dn_tensor *y);
/* dx (overwritten) routes each dy to its window's maximum in x. */
void dn_maxpool_backward(const dn_tensor *x, const dn_tensor *dy, dn_tensor *dx);

/* upsample.c — x2 nearest-neighbour upsampling into channels
 * [c_off, c_off + x.c) of y (so that it can write straight into a concat);
 * in H only when y is as wide as x. */
void dn_upsample_forward(const dn_tensor *x, dn_tensor *y, int c_off);
/* dx (overwritten) sums each 2x2 (or 2x1) block of dy's channels
 * [c_off, c_off + dx.c). */
void dn_upsample_backward(const dn_tensor *dy, int c_off, dn_tensor *dx);

/* concat.c — copies x into channels [c_off, c_off + x.c) of y, and back. */
void dn_concat_forward(const dn_tensor *x, dn_tensor *y, int c_off);
/* dx += dy's channels [c_off, c_off + dx.c) when accumulate, else dx = … */
void dn_concat_backward(const dn_tensor *dy, int c_off, dn_tensor *dx, int accumulate);

/* loss.c — mean over all elements; grad (may be NULL) gets d loss / d pred. */
double dn_loss_mse(const float *pred, const float *target, size_t n, float *grad);
double dn_loss_mae(const float *pred, const float *target, size_t n, float *grad);
/* A scaled error w[i] (pred[i] - target[i]) over n elements, squared (mae 0)
 * or absolute (mae 1): returns the *sum* over the n, and writes the gradient
 * of (sum over all blocks) / count, so that a batch is scored block by block
 * (count: the elements of the whole batch). */
double dn_loss_scaled(int mae, const float *pred, const float *target, const float *w, size_t n, size_t count,
                      float *grad);

#endif
