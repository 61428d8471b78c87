/*
 * unet.h — the U-Net of DESIGN.md ("The seed's model"), built from a config.
 *
 * A dn_unet holds trainable parameters, their gradients, batch-norm running
 * statistics and the activations of the last training forward pass: it is one
 * training context, used by one thread at a time.
 *
 * For serving, dn_unet_infer_create() folds batch norm into the convolutions
 * and returns an immutable dn_unet_infer that any number of threads share;
 * each thread brings its own dn_unet_ws (activations, im2col scratch), sized
 * on first use and reused afterwards.
 *
 * Any input height and width is accepted: the input is padded (zeros, bottom
 * and right) to a multiple of 2^depth and the output cropped back (a causal
 * net pads the height only).
 *
 * A causal net also runs a frame at a time (dn_unet_stream): each 3x3 unit
 * keeps its last two input columns, so a new frame costs one column of
 * every layer and the output does not depend on how frames are grouped.
 */
#ifndef DN_UNET_H
#define DN_UNET_H

#include <stdint.h>

#include "core/dn.h"
#include "core/nn/tensor.h"

enum dn_act { DN_ACT_NONE = 0, DN_ACT_RELU = 1, DN_ACT_SIGMOID = 2 };

typedef struct dn_unet_config {
	int in_channels;  /* 1 for a spectrogram, 3 for an RGB frame */
	int out_channels; /* 1 or 3 */
	int base_filters; /* encoder widths base·2^i, bottleneck base·2^depth */
	int depth;        /* pooling steps; the seed has 3 (32, 64, 128 | 256) */
	int out_act;      /* enum dn_act, applied to the final 1x1 convolution */
	int residual;     /* 1: output = input - net(input) (net predicts noise) */
	int causal;       /* 1: for streaming — 3x3 convolutions causal in the
	                     width (time: frames t−2..t), pooling and upsampling
	                     in the height (frequency) only, the width never
	                     padded; output frame t depends on input frames <= t */
} dn_unet_config;

/* The seed: 1 in, 1 out, 32 base filters, depth 3, ReLU output, no residual. */
dn_unet_config dn_unet_default_config(void);

/* The largest depth and base width a U-Net may have: the bounds of model
 * files, of `denoise model-init` and of the training parameters
 * (core/train/params.c). */
#define DN_UNET_MAX_DEPTH   6
#define DN_UNET_MAX_FILTERS 512

/* Checks ranges (depth 1..DN_UNET_MAX_DEPTH, filters 1..DN_UNET_MAX_FILTERS
 * with base·2^depth <= 4096, residual needs in == out). */
int dn_unet_config_check(const dn_unet_config *cfg, dn_error *err);

typedef struct dn_unet dn_unet;

/* Builds a network with He-initialised weights drawn from `seed`
 * (deterministic). The caller owns *out and frees it with dn_unet_destroy. */
int dn_unet_create(const dn_unet_config *cfg, uint64_t seed, dn_unet **out, dn_error *err);
void dn_unet_destroy(dn_unet *net);
const dn_unet_config *dn_unet_get_config(const dn_unet *net);

/* One named parameter or statistic. Pointers are owned by the net. `grad`
 * is NULL for the batch-norm running statistics, and for every parameter of
 * a net that has not run a forward yet (the training buffers come with the
 * first): tell statistics by `state`. */
typedef struct dn_param {
	const char *name; /* e.g. "enc0.conv1.weight", "enc0.bn1.running_mean" */
	float *data;
	float *grad;
	int state; /* 1: a running statistic (dn_unet_state), not trained */
	int ndim;
	int shape[4];
	size_t size;
} dn_param;

/* The trainable parameters as one array, as dn_unet_trainable gives them
 * but without making the training buffers: for copying weights in and out
 * of a net that only serves. */
float *dn_unet_weights(dn_unet *net, size_t *n);

/* The net's parameters in a stable order; the array is owned by the net. */
const dn_param *dn_unet_params(const dn_unet *net, size_t *count);
/* Copies every tensor of dn_unet_params (weights and running statistics),
 * in that order, to buf / back from buf; buf holds their total size. */
void dn_unet_snapshot(const dn_unet *net, float *buf);
void dn_unet_restore(dn_unet *net, const float *buf);
/* The trainable scalars as one contiguous array with its gradient array
 * (for the optimiser); both owned by the net. Allocates the training
 * buffers (gradients, im2col scratch) when they do not exist yet: DN_ENOMEM. */
int dn_unet_trainable(dn_unet *net, float **params, float **grads, size_t *n, dn_error *err);
/* Bytes the net holds now: weights and batch-norm state, plus gradients and
 * im2col scratch once a training call allocated them. A net only loaded to
 * serve (dn_unet_infer_create) never allocates the training part. */
size_t dn_unet_bytes(const dn_unet *net);
/* Where one conv → BN unit's tensors sit, for backends that mirror the net
 * elsewhere (core/cuda): offsets in floats into the trainable array of
 * dn_unet_trainable (w, b, gamma, beta) and into the state array of
 * dn_unet_state (mean, var). Units are in execution order (enc0.1, enc0.2,
 * …, mid.1, mid.2, dec(depth−1).1, …, dec0.2); the output 1x1 convolution
 * comes last with cin = base_filters, cout = out_channels and only w, b. */
typedef struct dn_unet_unit_layout {
	int cin, cout;
	size_t w, b, gamma, beta, mean, var;
} dn_unet_unit_layout;

/* Index of a unit in that order: encoder level's j-th (0, 1), the
 * bottleneck's j-th, decoder level's j-th; and the pooling level a unit
 * runs at (0 = full resolution, depth for the bottleneck). */
static inline int dn_unet_enc_unit(int level, int j)
{
	return 2 * level + j;
}
static inline int dn_unet_mid_unit(const dn_unet_config *c, int j)
{
	return 2 * c->depth + j;
}
static inline int dn_unet_dec_unit(const dn_unet_config *c, int level, int j)
{
	return 2 * c->depth + 2 + 2 * (c->depth - 1 - level) + j;
}
static inline int dn_unet_unit_level(const dn_unet_config *c, int u)
{
	if (u < 2 * c->depth)
		return u / 2;
	if (u < 2 * c->depth + 2)
		return c->depth;
	return c->depth - 1 - (u - 2 * c->depth - 2) / 2;
}

/* Fills units[0 .. 4·depth+2] (the last is the output convolution) and
 * returns how many it filled; units must hold 4·depth+3 entries. */
int dn_unet_layout(const dn_unet *net, dn_unet_unit_layout *units);
/* Batch-norm running statistics as one array (owned by the net). */
void dn_unet_state(dn_unet *net, float **state, size_t *n);
/* About the bytes a training step of `batch` inputs of h x w needs with this
 * configuration: weights, gradients and Adam's two moments, the activations
 * and their gradients that forward_train and backward keep, and the im2col
 * scratch. An estimate from the shapes (within tens of per cent), for
 * refusing a job before it runs; 0 when cfg is invalid. */
double dn_unet_train_bytes(const dn_unet_config *cfg, int batch, int h, int w);
/* Number of trainable scalars (weights, biases, BN gamma/beta). */
size_t dn_unet_param_count(const dn_unet *net);
/* Floating-point operations (2 per multiply-add) of one inference forward
 * pass at h x w (after padding), batch 1. */
double dn_unet_forward_flops(const dn_unet_config *cfg, int h, int w);

/* Training forward: batch norm uses batch statistics and updates the running
 * ones (momentum 0.1, as PyTorch). *y points into the net (valid until the next
 * call). */
int dn_unet_forward_train(dn_unet *net, const dn_tensor *x, const dn_tensor **y, dn_error *err);
/* Backward of the last training forward: accumulates parameter gradients
 * from dy (same shape as y). */
int dn_unet_backward(dn_unet *net, const dn_tensor *dy, dn_error *err);
void dn_unet_zero_grad(dn_unet *net);
/* Eval-mode forward without folding (running statistics); for tests. */
int dn_unet_forward_eval(dn_unet *net, const dn_tensor *x, const dn_tensor **y, dn_error *err);

typedef struct dn_unet_infer dn_unet_infer;
typedef struct dn_unet_ws dn_unet_ws;

/* Folds batch norm into convolution weights: a snapshot of net's current
 * parameters, independent of net afterwards. */
int dn_unet_infer_create(const dn_unet *net, dn_unet_infer **out, dn_error *err);
void dn_unet_infer_destroy(dn_unet_infer *inf);

/* Floating-point operations the folded path's GEMMs actually issue for one
 * image at h x w (after padding): below dn_unet_forward_flops
 * where units run as Winograd F(2x2, 3x3), which needs 16 multiply-adds per
 * 2x2 output tile and channel pair where a direct 3x3 needs 36. */
double dn_unet_infer_gemm_flops(const dn_unet_infer *inf, int h, int w);
/* What runs the 3x3 convolutions of nets prepared now, in a few words for
 * logs and bench headers ("bf16 on AMX tiles ...", "fp32 ..."). */
const char *dn_unet_conv_kernels(void);
/* The arithmetic of CPU inference for nets prepared after the call:
 * "bf16" (the default: AMX tiles where the CPU has them, else fp32) or
 * "fp32" (always). DN_EINVAL for any other name. Process-wide. */
int dn_unet_set_cpu_precision(const char *name, dn_error *err);

dn_unet_ws *dn_unet_ws_create(void);
void dn_unet_ws_destroy(dn_unet_ws *ws);

/* Something else that runs a network on a batch (the GPU server of
 * core/cuda/cuda.h): y = net(x) as dn_unet_infer_run would give it, up to
 * its arithmetic. Safe to call from several threads at once. */
typedef struct dn_net_runner {
	int (*run)(void *ctx, const dn_tensor *x, dn_tensor *y, dn_error *err);
	void *ctx;
} dn_net_runner;

/* y = net(x) with folded weights. x is N x in_channels x H x W; y is resized
 * to N x out_channels x H x W (caller owns y, which may be reused). */
int dn_unet_infer_run(const dn_unet_infer *inf, dn_unet_ws *ws, const dn_tensor *x, dn_tensor *y,
                      dn_error *err);

/* Frame-at-a-time inference of a causal net (streaming). A dn_unet_stream
 * borrows inf (which must outlive it) and owns, for every 3x3 unit, the two
 * input columns before the current one (zeros at the start, as the whole
 * run's causal padding) and the scratch of one column; one thread uses it
 * at a time. h is the input height (frequency bins), fixed per stream.
 * DN_EINVAL for a net that is not causal. */
typedef struct dn_unet_stream dn_unet_stream;
int dn_unet_stream_create(const dn_unet_infer *inf, int h, dn_unet_stream **out, dn_error *err);
void dn_unet_stream_destroy(dn_unet_stream *st);
/* Back to the start: history zero. */
void dn_unet_stream_reset(dn_unet_stream *st);
/* One frame: x is [in_channels][h] (one input column), y gets
 * [out_channels][h]. Equals column t of dn_unet_infer_run over frames
 * 0..t up to the GEMMs' rounding, and is bit-identical however the frames
 * are grouped into calls. */
int dn_unet_stream_step(dn_unet_stream *st, const float *x, float *y, dn_error *err);
/* Whether inf is causal (and so can stream). */
int dn_unet_infer_causal(const dn_unet_infer *inf);

#endif
