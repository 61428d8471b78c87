/*
 * kernels.h — the U-Net's small CUDA kernels (kernels.cu), callable from C.
 *
 * Everything cuDNN and cuBLAS do not cover: padding the input, the fused
 * output head (activation, crop, residual, loss and its gradient), ReLU
 * forward and backward, 2x2 (or 2x1) max pooling with PyTorch's tie rule, x2
 * nearest upsampling fused with the skip concatenation, their backward
 * passes, bias addition, a deterministic sum, Adam and bf16 conversion.
 * Tensors are float32 NCHW in device memory; every launcher is asynchronous
 * on the given stream. Internal to core/cuda.
 */
#ifndef DN_CUDA_KERNELS_H
#define DN_CUDA_KERNELS_H

#include <stddef.h>

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Threads of one block of the loss's partial sums; dk_loss_partials writes
 * at most DK_LOSS_BLOCKS doubles. */
#define DK_LOSS_BLOCKS 1024

/* xp (n x c x hp x wp) ← x (n x c x h x w), zeros in the padding. */
void dk_pad(const float *x, float *xp, int n, int c, int h, int w, int hp, int wp, cudaStream_t s);

/* y (n x c x h x w) ← act(outa) cropped from hp x wp, as x − v when residual
 * (x: the unpadded input). act: 0 none, 1 ReLU, 2 sigmoid (applied in
 * place to outa first, by dk_act). */
void dk_act(float *v, size_t count, int act, cudaStream_t s);
void dk_crop(const float *v, const float *x, float *y, int n, int c, int h, int w, int hp, int wp,
             int residual, cudaStream_t s);

/* The output head's backward fused with the loss: for every element of gout
 * (n x c x hp x wp), inside the crop d = y − t with y as dk_crop makes it,
 * gradient of the mean loss (0 MSE, 1 MAE; | 2: each error scaled by a
 * weight, t holding per sample c target planes then c weight planes) times
 * −1 for residual, through
 * the activation (its output in v); zero in the padding. Per-block partial
 * sums of d² or |d| go to partials (DK_LOSS_BLOCKS doubles at most);
 * dk_sum adds them in a fixed order into *out. */
void dk_head_backward(const float *v, const float *x, const float *t, float *gout, double *partials,
                      int n, int c, int h, int w, int hp, int wp, int residual, int act, int loss,
                      cudaStream_t s);
void dk_sum(const double *partials, double *out, cudaStream_t s);

/* y += b per channel (n x c x hw). */
void dk_bias(float *y, const float *b, int n, int c, size_t hw, cudaStream_t s);

void dk_relu(float *x, size_t count, cudaStream_t s);
/* dx = dy where y > 0, else 0. */
void dk_relu_backward(const float *y, const float *dy, float *dx, size_t count, cudaStream_t s);

/* Max pooling of x (n x c x h x w, even h; even w when fw is 2) over
 * windows of 2 rows by fw columns (2: 2x2; 1: 2x1, the causal net's,
 * frequency only), stride the window. */
void dk_maxpool(const float *x, float *y, int n, int c, int h, int w, int fw, cudaStream_t s);
/* dx = route(dy) to each window's first maximum, plus (when skip) channels
 * [skip_off, skip_off + c) of skip (n x skip_c x h x w). */
void dk_maxpool_backward(const float *x, const float *dy, const float *skip, int skip_c, int skip_off,
                         float *dx, int n, int c, int h, int w, int fw, cudaStream_t s);

/* cat (n x (cb + cs) x h x w) ← [upsample(below) | skip]; below is
 * n x cb x h/2 x w/fw, skip n x cs x h x w. */
void dk_up_concat(const float *below, const float *skip, float *cat, int n, int cb, int cs, int h, int w,
                  int fw, cudaStream_t s);
/* gbelow (n x cb x h/2 x w/fw) = 2 x fw block sums of gcat's channels [0, cb). */
void dk_up_backward(const float *gcat, float *gbelow, int n, int cb, int ccat, int h, int w, int fw,
                    cudaStream_t s);

/* dst (rows x dst_w) ← the first dst_w columns of src (rows x src_w), zeros
 * past src_w: crops the causal convolution's wider output and widens its
 * gradient back. */
void dk_rewidth(const float *src, float *dst, size_t rows, int src_w, int dst_w, cudaStream_t s);

/* Adam as torch.optim.Adam (core/nn/adam.c), over count parameters. */
void dk_adam(float *p, const float *g, float *m, float *v, size_t count, float step, float bc2_sqrt,
             float b1, float b2, float eps, float wd, cudaStream_t s);

/* bf16 copies (round to nearest even) and back. */
void dk_to_bf16(const float *x, void *y, size_t count, cudaStream_t s);
void dk_from_bf16(const void *x, float *y, size_t count, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
