/*
 * cuda.h — the GPU backend of libdenoise's U-Net, behind plain C types.
 *
 * Nothing outside core/cuda/ includes a CUDA header: this is the whole
 * interface. A dn_gpu_net mirrors one dn_unet (weights, batch-norm running
 * statistics, gradients, Adam's moments) in device memory and runs training
 * steps and eval-mode forwards there: convolutions and batch norm through
 * cuDNN, the 1x1 output convolution as cuBLAS GEMMs, and small kernels of
 * our own for padding, pooling, upsampling with concatenation, activations,
 * the loss and Adam (core/cuda/kernels.cu).
 *
 * The host net stays the reference copy at epoch boundaries: the training
 * loop downloads into it before it snapshots, checkpoints or saves, and
 * uploads after it restores, so files stay the same safetensors the CPU path
 * writes and reads. A build without CUDA has the same functions
 * (core/cuda/absent.c): they report no devices and DN_EUNSUPPORTED.
 */
#ifndef DN_CUDA_H
#define DN_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"
#include "core/nn/adam.h"
#include "core/nn/unet.h"

/* Arithmetic of the convolutions and GEMMs (master weights, batch-norm
 * statistics, the loss and Adam are fp32 in every mode). */
enum dn_precision {
	DN_PRECISION_FP32 = 0, /* plain fp32 (no tensor cores): the reference */
	DN_PRECISION_TF32 = 1, /* fp32 tensors, TF32 tensor-core products */
	DN_PRECISION_BF16 = 2, /* products on bf16 copies of weights and activations */
};

/* "fp32", "tf32", "bf16" → enum dn_precision; DN_EINVAL naming the choices. */
int dn_precision_parse(const char *s, int *out, dn_error *err);
const char *dn_precision_name(int precision);

/* Where a model trains or runs: device < 0 is the CPU, else CUDA device N. */
typedef struct dn_device {
	int index;     /* -1: cpu */
	int precision; /* enum dn_precision; fp32 on the CPU */
	int deterministic;
} dn_device;

/* "cpu", "cuda" (device 0) or "cuda:N" → index. DN_EINVAL for other text;
 * DN_EUNSUPPORTED when the build has no CUDA or no such device is visible,
 * with a detail saying which. */
int dn_device_parse(const char *s, int *index, dn_error *err);

/* 1 when libdenoise was built with the CUDA backend. */
int dn_cuda_built(void);
/* Visible CUDA devices (0 without CUDA, a driver or a GPU). */
int dn_cuda_device_count(void);
/* "NVIDIA H200, 139.8 GiB, sm_90" into buf; DN_ENOTFOUND for a bad index. */
int dn_cuda_device_describe(int index, char *buf, size_t cap, dn_error *err);

typedef struct dn_gpu_net dn_gpu_net;

/* A device mirror of net (its configuration, weights and running
 * statistics, uploaded now) and of opt's moments and step count (zero when
 * opt is NULL); the caller owns *out. */
int dn_gpu_net_create(dn_unet *net, dn_adam *opt, const dn_device *dev, dn_gpu_net **out, dn_error *err);
void dn_gpu_net_destroy(dn_gpu_net *g);

/* Host → device: net's weights and running statistics, and opt's moments
 * and step count when opt is not NULL. */
int dn_gpu_net_upload(dn_gpu_net *g, dn_unet *net, dn_adam *opt, dn_error *err);
/* Device → host, the same tensors. */
int dn_gpu_net_download(dn_gpu_net *g, dn_unet *net, dn_adam *opt, dn_error *err);

/* One training step on a batch x (n x in_channels x h x w, host memory) with
 * target t (n x out_channels x h x w): forward in training mode, the loss
 * (enum dn_loss of core/train/train.h: 0 MSE, 1 MAE, or'ed with
 * DN_LOSS_WEIGHTED = 2, when t has 2 x out_channels planes per sample: the
 * targets, then the weights of their errors), backward, and one Adam
 * step at learning rate lr with the default betas and eps. *loss gets the
 * batch's loss before the update. */
int dn_gpu_net_train_step(dn_gpu_net *g, const dn_tensor *x, const dn_tensor *t, int loss, float lr,
                          double *loss_out, dn_error *err);

/* Eval-mode forward (running statistics, no folding): y (host) is resized to
 * n x out_channels x h x w. */
int dn_gpu_net_forward_eval(dn_gpu_net *g, const dn_tensor *x, dn_tensor *y, dn_error *err);

/* ---- serving ----
 *
 * A model served from a GPU: callers on many threads hand in one input each
 * (n = 1); a batching thread takes the requests waiting (up to max_batch, and
 * up to window_ms after the first arrives), pads each to the server's fixed
 * height and width (h_max x w_max, zeros on the right and bottom; the answer
 * is cropped back) so that every batch reuses one of a few cuDNN plans, and
 * runs one eval-mode forward for them all. Batches are padded to a power of
 * two (at most 4 plans). Inputs larger than h_max x w_max are refused
 * (DN_ESHAPE: the caller's tiling or chunking must fit). */
typedef struct dn_gpu_server dn_gpu_server;

typedef struct dn_gpu_server_params {
	int max_batch;    /* 1..64, default 8 */
	double window_ms; /* how long the first request waits for company, default 2 */
	int h_max, w_max; /* the padded input size (required) */
} dn_gpu_server_params;

dn_gpu_server_params dn_gpu_server_default_params(void);

/* A server of net's weights and running statistics (copied to the device
 * now, by the server's thread; net is not used afterwards) on dev. DN_EUNSUPPORTED without CUDA or
 * a GPU; DN_EDEVICE on device errors. */
int dn_gpu_server_create(dn_unet *net, const dn_device *dev, const dn_gpu_server_params *p,
                         dn_gpu_server **out, dn_error *err);
/* Waits for requests in flight, then frees everything. */
void dn_gpu_server_destroy(dn_gpu_server *s);
/* The runner that serves through s (for dn_speech_params, dn_frame_params). */
dn_net_runner dn_gpu_server_runner(dn_gpu_server *s);
/* Forwards run and inputs served so far (inputs / forwards is the batching). */
void dn_gpu_server_counts(dn_gpu_server *s, uint64_t *forwards, uint64_t *inputs);

/* The device's measured matrix rate in the given precision: an n x n x n
 * cuBLAS product (fp32 plain, TF32, or bf16 in with fp32 accumulation),
 * best of a few timed runs, in TFLOP/s (for benches' "share of peak"). */
int dn_cuda_gemm_peak(int device, int precision, int n, double *tflops, dn_error *err);

/* Seconds the device spent in steps so far, by CUDA events (for the share
 * of time it waits for data). */
double dn_gpu_net_busy_seconds(const dn_gpu_net *g);

#endif
