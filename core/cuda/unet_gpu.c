/*
 * unet_gpu.c — the U-Net on a CUDA device (see cuda.h).
 *
 * The graph is the CPU path's (core/nn/unet.c) step for step: the same
 * units in the same order, the same padding to a multiple of 2^depth, the
 * same output head. Parameters and their gradients are one device array
 * each, laid out as the host's trainable array (dn_unet_layout gives the
 * offsets), so uploading, downloading and Adam are one copy or one kernel.
 *
 * Shapes are planned once per (batch, padded height, width): tensor
 * descriptors, the convolution algorithms cuDNN's search picks (restricted
 * to deterministic ones when asked, and to plain FMA arithmetic for fp32),
 * and the activations of that shape. A training run sees two shapes at most
 * (full batches and the epoch's last) plus validation's, so a few plans are
 * kept and the least recently used is dropped.
 *
 * Every call checks every CUDA, cuDNN and cuBLAS status and turns a failure
 * into DN_EDEVICE with the library's words; the host net is untouched by a
 * failed step, so the caller keeps its last checkpoint.
 */
/* cuDNN 9 marks its long-standing convolution and batch-norm calls deprecated
 * in favour of the graph API; they remain supported and are what this uses. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "core/cuda/cuda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/cuda/kernels.h"

#define MAX_DEPTH 6
#define MAX_UNITS (4 * MAX_DEPTH + 2)
#define MAX_PLANS 4
/* Largest convolution workspace an algorithm may ask for. */
#define WS_LIMIT ((size_t)2 << 30)

struct unit_plan {
	int cin, cout, h, w;
	int cw; /* the convolution's output width: w, or w + 2 for a causal net */
	cudnnTensorDescriptor_t xd, yd;   /* float32, for batch norm and bias */
	cudnnTensorDescriptor_t cxd, cyd; /* the convolution's (float32 or bf16) */
	cudnnConvolutionDescriptor_t conv;
	cudnnConvolutionFwdAlgo_t fwd;
	cudnnConvolutionBwdDataAlgo_t bwd_data;
	cudnnConvolutionBwdFilterAlgo_t bwd_filter;
	cudnnMathType_t fwd_math, data_math, filter_math;
	float *z, *y, *g; /* conv output, BN → ReLU output, gradient w.r.t. y */
};

struct plan {
	int n, h, w, hp, wp; /* batch, unpadded and padded size */
	unsigned long long used;
	struct unit_plan u[MAX_UNITS];
	cudnnTensorDescriptor_t outd; /* n x out_channels x hp x wp */
	float *x, *t, *xp, *outa, *gout, *y;
	float *pooled[MAX_DEPTH], *gpool[MAX_DEPTH], *cat[MAX_DEPTH], *gcat[MAX_DEPTH];
	float *gz, *gz2;   /* unit backward scratch, the largest unit output */
	float *wide;       /* a causal convolution's output or gradient at cw (NULL otherwise) */
	void *bf_a, *bf_b; /* bf16 copies of a convolution's operands */
	size_t unit_max, bf_max;
};

struct dn_gpu_net {
	dn_unet_config cfg;
	dn_device dev;
	int nunits;
	dn_unet_unit_layout lay[MAX_UNITS + 1];
	size_t n_train, n_state;
	cudaStream_t stream;
	cudnnHandle_t dnn;
	cublasHandle_t blas;
	float *params, *grads, *state, *m, *v, *bnsave;
	void *wbf, *dwbf; /* bf16 weights (whole array) and one unit's weight gradient */
	size_t dwbf_max;
	long long adam_t;
	double *partials, *loss_dev, *loss_host;
	void *ws;
	size_t ws_size;
	cudnnFilterDescriptor_t wd[MAX_UNITS];
	cudnnTensorDescriptor_t bnd[MAX_UNITS], biasd[MAX_UNITS + 1];
	struct plan *plans[MAX_PLANS];
	unsigned long long clock;
	cudaEvent_t ev0, ev1;
	double busy_s;
};

/* ---- errors ---- */

static int cuda_fail(dn_error *err, cudaError_t e, const char *what)
{
	if (e == cudaErrorMemoryAllocation)
		return dn_error_set(err, DN_EDEVICE, "out of GPU memory (%s): use a smaller batch or patch",
		                    what);
	return dn_error_set(err, DN_EDEVICE, "CUDA error in %s: %s", what, cudaGetErrorString(e));
}

#define CU(call)                                                                                             \
	do {                                                                                                 \
		cudaError_t cu_e_ = (call);                                                                  \
		if (cu_e_ != cudaSuccess) {                                                                  \
			rc = cuda_fail(err, cu_e_, #call);                                                   \
			goto fail;                                                                           \
		}                                                                                            \
	} while (0)

#define DNN(call)                                                                                            \
	do {                                                                                                 \
		cudnnStatus_t dnn_s_ = (call);                                                               \
		if (dnn_s_ != CUDNN_STATUS_SUCCESS) {                                                        \
			rc = dn_error_set(err, DN_EDEVICE, "cuDNN error in %s: %s", #call,                   \
			                  cudnnGetErrorString(dnn_s_));                                      \
			goto fail;                                                                           \
		}                                                                                            \
	} while (0)

#define BLAS(call)                                                                                           \
	do {                                                                                                 \
		cublasStatus_t blas_s_ = (call);                                                             \
		if (blas_s_ != CUBLAS_STATUS_SUCCESS) {                                                      \
			rc = dn_error_set(err, DN_EDEVICE, "cuBLAS error in %s: %s", #call,                  \
			                  cublasGetStatusString(blas_s_));                                   \
			goto fail;                                                                           \
		}                                                                                            \
	} while (0)

/* Kernel launches report errors through cudaGetLastError. */
#define LAUNCHED() CU(cudaGetLastError())

static const float one = 1.0f, zero = 0.0f;

/* ---- devices ---- */

int dn_cuda_built(void)
{
	return 1;
}

int dn_cuda_device_count(void)
{
	int n = 0;
	if (cudaGetDeviceCount(&n) != cudaSuccess) {
		cudaGetLastError();
		return 0;
	}
	return n;
}

int dn_cuda_device_describe(int index, char *buf, size_t cap, dn_error *err)
{
	struct cudaDeviceProp p;
	if (index < 0 || index >= dn_cuda_device_count())
		return dn_error_set(err, DN_ENOTFOUND, "no CUDA device %d", index);
	cudaError_t e = cudaGetDeviceProperties(&p, index);
	if (e != cudaSuccess)
		return dn_error_set(err, DN_EDEVICE, "CUDA device %d: %s", index, cudaGetErrorString(e));
	snprintf(buf, cap, "%s, %.1f GiB, sm_%d%d, cuDNN %zu", p.name, (double)p.totalGlobalMem / (1 << 30),
	         p.major, p.minor, cudnnGetVersion());
	return DN_OK;
}

/* ---- nets ---- */

static cudnnDataType_t conv_type(const dn_gpu_net *g)
{
	return g->dev.precision == DN_PRECISION_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

static void plan_free(dn_gpu_net *g, struct plan *p)
{
	if (!p)
		return;
	for (int u = 0; u < g->nunits; u++) {
		struct unit_plan *up = &p->u[u];
		if (up->xd)
			cudnnDestroyTensorDescriptor(up->xd);
		if (up->yd)
			cudnnDestroyTensorDescriptor(up->yd);
		if (up->cxd)
			cudnnDestroyTensorDescriptor(up->cxd);
		if (up->cyd)
			cudnnDestroyTensorDescriptor(up->cyd);
		if (up->conv)
			cudnnDestroyConvolutionDescriptor(up->conv);
		cudaFree(up->z);
		cudaFree(up->y);
		cudaFree(up->g);
	}
	for (int l = 0; l < MAX_DEPTH; l++) {
		cudaFree(p->pooled[l]);
		cudaFree(p->gpool[l]);
		cudaFree(p->cat[l]);
		cudaFree(p->gcat[l]);
	}
	if (p->outd)
		cudnnDestroyTensorDescriptor(p->outd);
	cudaFree(p->x);
	cudaFree(p->t);
	cudaFree(p->xp);
	cudaFree(p->outa);
	cudaFree(p->gout);
	cudaFree(p->y);
	cudaFree(p->gz);
	cudaFree(p->gz2);
	cudaFree(p->wide);
	cudaFree(p->bf_a);
	cudaFree(p->bf_b);
	free(p);
}

void dn_gpu_net_destroy(dn_gpu_net *g)
{
	if (!g)
		return;
	if (g->stream)
		cudaStreamSynchronize(g->stream);
	for (int i = 0; i < MAX_PLANS; i++)
		plan_free(g, g->plans[i]);
	for (int u = 0; u < g->nunits; u++) {
		if (g->wd[u])
			cudnnDestroyFilterDescriptor(g->wd[u]);
		if (g->bnd[u])
			cudnnDestroyTensorDescriptor(g->bnd[u]);
	}
	for (int u = 0; u <= g->nunits; u++)
		if (g->biasd[u])
			cudnnDestroyTensorDescriptor(g->biasd[u]);
	cudaFree(g->params);
	cudaFree(g->grads);
	cudaFree(g->state);
	cudaFree(g->m);
	cudaFree(g->v);
	cudaFree(g->bnsave);
	cudaFree(g->wbf);
	cudaFree(g->dwbf);
	cudaFree(g->partials);
	cudaFree(g->loss_dev);
	cudaFree(g->ws);
	if (g->loss_host)
		cudaFreeHost(g->loss_host);
	if (g->ev0)
		cudaEventDestroy(g->ev0);
	if (g->ev1)
		cudaEventDestroy(g->ev1);
	if (g->blas)
		cublasDestroy(g->blas);
	if (g->dnn)
		cudnnDestroy(g->dnn);
	if (g->stream)
		cudaStreamDestroy(g->stream);
	free(g);
}

int dn_gpu_net_create(dn_unet *net, dn_adam *opt, const dn_device *dev, dn_gpu_net **out, dn_error *err)
{
	int rc = DN_OK;
	if (dev->index < 0 || dev->index >= dn_cuda_device_count())
		return dn_error_set(err, DN_EUNSUPPORTED, "no CUDA device %d is visible (%d found)",
		                    dev->index, dn_cuda_device_count());
	dn_gpu_net *g = calloc(1, sizeof *g);
	if (!g)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate the GPU net");
	g->cfg = *dn_unet_get_config(net);
	g->dev = *dev;
	g->nunits = dn_unet_layout(net, g->lay) - 1;
	float *hs;
	dn_unet_weights(net, &g->n_train);
	dn_unet_state(net, &hs, &g->n_state);
	(void)hs;

	CU(cudaSetDevice(dev->index));
	CU(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
	DNN(cudnnCreate(&g->dnn));
	DNN(cudnnSetStream(g->dnn, g->stream));
	BLAS(cublasCreate(&g->blas));
	BLAS(cublasSetStream(g->blas, g->stream));
	BLAS(cublasSetMathMode(g->blas, dev->precision == DN_PRECISION_FP32 ? CUBLAS_PEDANTIC_MATH
	                                                                    : CUBLAS_TF32_TENSOR_OP_MATH));
	CU(cudaEventCreate(&g->ev0));
	CU(cudaEventCreate(&g->ev1));
	const size_t pb = g->n_train * sizeof(float), sb = g->n_state * sizeof(float);
	CU(cudaMalloc((void **)&g->params, pb));
	CU(cudaMalloc((void **)&g->grads, pb));
	CU(cudaMalloc((void **)&g->m, pb));
	CU(cudaMalloc((void **)&g->v, pb));
	CU(cudaMalloc((void **)&g->state, sb));
	CU(cudaMalloc((void **)&g->bnsave, 2 * sb));
	CU(cudaMemset(g->grads, 0, pb));
	CU(cudaMemset(g->m, 0, pb));
	CU(cudaMemset(g->v, 0, pb));
	CU(cudaMalloc((void **)&g->partials, DK_LOSS_BLOCKS * sizeof(double)));
	CU(cudaMalloc((void **)&g->loss_dev, sizeof(double)));
	CU(cudaMallocHost((void **)&g->loss_host, sizeof(double)));
	if (dev->precision == DN_PRECISION_BF16) {
		CU(cudaMalloc(&g->wbf, g->n_train * 2));
		for (int u = 0; u < g->nunits; u++) {
			size_t nw = (size_t)g->lay[u].cout * g->lay[u].cin * 9;
			if (nw > g->dwbf_max)
				g->dwbf_max = nw;
		}
		CU(cudaMalloc(&g->dwbf, g->dwbf_max * 2));
	}
	for (int u = 0; u < g->nunits; u++) {
		DNN(cudnnCreateFilterDescriptor(&g->wd[u]));
		DNN(cudnnSetFilter4dDescriptor(g->wd[u], conv_type(g), CUDNN_TENSOR_NCHW, g->lay[u].cout,
		                               g->lay[u].cin, 3, 3));
		DNN(cudnnCreateTensorDescriptor(&g->bnd[u]));
		DNN(cudnnSetTensor4dDescriptor(g->bnd[u], CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
		                               g->lay[u].cout, 1, 1));
	}
	for (int u = 0; u <= g->nunits; u++) {
		DNN(cudnnCreateTensorDescriptor(&g->biasd[u]));
		DNN(cudnnSetTensor4dDescriptor(g->biasd[u], CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
		                               g->lay[u].cout, 1, 1));
	}
	if ((rc = dn_gpu_net_upload(g, net, opt, err)))
		goto fail;
	*out = g;
	return DN_OK;
fail:
	dn_gpu_net_destroy(g);
	return rc;
}

int dn_gpu_net_upload(dn_gpu_net *g, dn_unet *net, dn_adam *opt, dn_error *err)
{
	int rc = DN_OK;
	float *s;
	size_t n, ns;
	float *p = dn_unet_weights(net, &n);
	dn_unet_state(net, &s, &ns);
	CU(cudaMemcpyAsync(g->params, p, n * sizeof(float), cudaMemcpyHostToDevice, g->stream));
	CU(cudaMemcpyAsync(g->state, s, ns * sizeof(float), cudaMemcpyHostToDevice, g->stream));
	if (opt) {
		float *m, *v;
		int64_t *t;
		size_t na;
		dn_adam_state(opt, &m, &v, &t, &na);
		CU(cudaMemcpyAsync(g->m, m, na * sizeof(float), cudaMemcpyHostToDevice, g->stream));
		CU(cudaMemcpyAsync(g->v, v, na * sizeof(float), cudaMemcpyHostToDevice, g->stream));
		g->adam_t = *t;
	}
	CU(cudaStreamSynchronize(g->stream));
	return DN_OK;
fail:
	return rc;
}

int dn_gpu_net_download(dn_gpu_net *g, dn_unet *net, dn_adam *opt, dn_error *err)
{
	int rc = DN_OK;
	float *s;
	size_t n, ns;
	float *p = dn_unet_weights(net, &n);
	dn_unet_state(net, &s, &ns);
	CU(cudaMemcpyAsync(p, g->params, n * sizeof(float), cudaMemcpyDeviceToHost, g->stream));
	CU(cudaMemcpyAsync(s, g->state, ns * sizeof(float), cudaMemcpyDeviceToHost, g->stream));
	if (opt) {
		float *m, *v;
		int64_t *t;
		size_t na;
		dn_adam_state(opt, &m, &v, &t, &na);
		CU(cudaMemcpyAsync(m, g->m, na * sizeof(float), cudaMemcpyDeviceToHost, g->stream));
		CU(cudaMemcpyAsync(v, g->v, na * sizeof(float), cudaMemcpyDeviceToHost, g->stream));
		*t = g->adam_t;
	}
	CU(cudaStreamSynchronize(g->stream));
	return DN_OK;
fail:
	return rc;
}

double dn_gpu_net_busy_seconds(const dn_gpu_net *g)
{
	return g->busy_s;
}

/* ---- plans ---- */

static int tensor4(cudnnTensorDescriptor_t *d, cudnnDataType_t type, int n, int c, int h, int w,
                   dn_error *err)
{
	int rc = DN_OK;
	DNN(cudnnCreateTensorDescriptor(d));
	DNN(cudnnSetTensor4dDescriptor(*d, CUDNN_TENSOR_NCHW, type, n, c, h, w));
	return DN_OK;
fail:
	return rc;
}

static int dalloc(float **p, size_t floats, dn_error *err)
{
	int rc = DN_OK;
	CU(cudaMalloc((void **)p, floats * sizeof(float)));
	return DN_OK;
fail:
	return rc;
}

/* Whether a searched algorithm may be used: it ran, fits the workspace
 * limit, is deterministic when asked, and for fp32 is plain FMA arithmetic
 * on the operands as they are: no FFT or Winograd transform, whose rounding
 * (around 1e-4 relative a layer) adds up over a U-Net's backward pass to
 * gradients half a percent away from the CPU's. `transform` says whether
 * the algorithm is one of those. */
static int acceptable(const dn_gpu_net *g, cudnnStatus_t st, size_t mem, cudnnDeterminism_t det,
                      cudnnMathType_t math, int transform)
{
	if (st != CUDNN_STATUS_SUCCESS || mem > WS_LIMIT)
		return 0;
	if (g->dev.deterministic && det != CUDNN_DETERMINISTIC)
		return 0;
	if (g->dev.precision == DN_PRECISION_FP32 &&
	    (transform || (math != CUDNN_FMA_MATH && math != CUDNN_DEFAULT_MATH)))
		return 0;
	return 1;
}

static int fwd_transform(cudnnConvolutionFwdAlgo_t a)
{
	return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
	       a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}

static int data_transform(cudnnConvolutionBwdDataAlgo_t a)
{
	return a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 && a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
}

static int filter_transform(cudnnConvolutionBwdFilterAlgo_t a)
{
	return a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 && a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 &&
	       a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}

/* The math type an algorithm runs with. For fp32 it is FMA whatever the
 * search reported: cuDNN's "default" math lets float convolutions round
 * their operands to TF32 on Ampere and later, which is the tf32 option's
 * job, not the reference's. */
static cudnnMathType_t run_math(const dn_gpu_net *g, cudnnMathType_t found)
{
	return g->dev.precision == DN_PRECISION_FP32 ? CUDNN_FMA_MATH : found;
}

static int grow_ws(dn_gpu_net *g, size_t need, dn_error *err)
{
	int rc = DN_OK;
	if (need <= g->ws_size)
		return DN_OK;
	cudaFree(g->ws);
	g->ws = NULL;
	g->ws_size = 0;
	CU(cudaMalloc(&g->ws, need));
	g->ws_size = need;
	return DN_OK;
fail:
	return rc;
}

/* Picks the three algorithms of one 3x3 unit by cuDNN's search. */
static int choose_algos(dn_gpu_net *g, int u, struct unit_plan *up, int train, dn_error *err)
{
	int rc = DN_OK, got = 0, k;
	const cudnnMathType_t search_math =
	    g->dev.precision == DN_PRECISION_FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
	DNN(cudnnSetConvolutionMathType(up->conv, search_math));
	cudnnConvolutionFwdAlgoPerf_t fp[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
	/* The search times the candidates, and timings differ run to run: in
	 * deterministic mode the heuristics' fixed ranking chooses instead. */
	const int timed = !g->dev.deterministic;
	if (timed)
		DNN(cudnnFindConvolutionForwardAlgorithm(g->dnn, up->cxd, g->wd[u], up->conv, up->cyd,
		                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, fp));
	else
		DNN(cudnnGetConvolutionForwardAlgorithm_v7(g->dnn, up->cxd, g->wd[u], up->conv, up->cyd,
		                                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, fp));
	for (k = 0; k < got && !acceptable(g, fp[k].status, fp[k].memory, fp[k].determinism, fp[k].mathType,
	                                   fwd_transform(fp[k].algo));
	     k++)
		;
	if (k == got)
		return dn_error_set(err, DN_EDEVICE, "cuDNN has no usable forward algorithm for unit %d", u);
	up->fwd = fp[k].algo;
	up->fwd_math = run_math(g, fp[k].mathType);
	if ((rc = grow_ws(g, fp[k].memory, err)))
		return rc;
	if (!train)
		return DN_OK;
	cudnnConvolutionBwdDataAlgoPerf_t dp[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
	if (timed)
		DNN(cudnnFindConvolutionBackwardDataAlgorithm(g->dnn, g->wd[u], up->cyd, up->conv, up->cxd,
		                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
		                                              dp));
	else
		DNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(g->dnn, g->wd[u], up->cyd, up->conv, up->cxd,
		                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
		                                                dp));
	for (k = 0; k < got && !acceptable(g, dp[k].status, dp[k].memory, dp[k].determinism, dp[k].mathType,
	                                   data_transform(dp[k].algo));
	     k++)
		;
	if (k == got)
		return dn_error_set(err, DN_EDEVICE,
		                    "cuDNN has no usable backward-data algorithm for unit %d", u);
	up->bwd_data = dp[k].algo;
	up->data_math = run_math(g, dp[k].mathType);
	if ((rc = grow_ws(g, dp[k].memory, err)))
		return rc;
	cudnnConvolutionBwdFilterAlgoPerf_t wp[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
	if (timed)
		DNN(cudnnFindConvolutionBackwardFilterAlgorithm(g->dnn, up->cxd, up->cyd, up->conv, g->wd[u],
		                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got,
		                                                wp));
	else
		DNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
		    g->dnn, up->cxd, up->cyd, up->conv, g->wd[u], CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
		    &got, wp));
	for (k = 0; k < got && !acceptable(g, wp[k].status, wp[k].memory, wp[k].determinism, wp[k].mathType,
	                                   filter_transform(wp[k].algo));
	     k++)
		;
	if (k == got)
		return dn_error_set(err, DN_EDEVICE,
		                    "cuDNN has no usable backward-filter algorithm for unit %d", u);
	up->bwd_filter = wp[k].algo;
	up->filter_math = run_math(g, wp[k].mathType);
	return grow_ws(g, wp[k].memory, err);
fail:
	return rc;
}

static int padded(int v, int depth)
{
	int m = 1 << depth;
	return (v + m - 1) / m * m;
}

static int plan_build(dn_gpu_net *g, int n, int h, int w, int train, struct plan **out, dn_error *err)
{
	const dn_unet_config *c = &g->cfg;
	int rc = DN_OK;
	struct plan *p = calloc(1, sizeof *p);
	if (!p)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate a GPU plan");
	p->n = n;
	p->h = h;
	p->w = w;
	p->hp = padded(h, c->depth);
	/* A causal net pools in frequency only and never pads time. */
	p->wp = c->causal ? w : padded(w, c->depth);
	const size_t full = (size_t)p->hp * p->wp;
	size_t wide_max = 0;
	for (int u = 0; u < g->nunits; u++) {
		struct unit_plan *up = &p->u[u];
		int lv = dn_unet_unit_level(c, u);
		up->cin = g->lay[u].cin;
		up->cout = g->lay[u].cout;
		up->h = p->hp >> lv;
		up->w = c->causal ? p->wp : p->wp >> lv;
		/* Causal in time: pad 2 frames on both sides, so that output
		 * column t reads input columns t−2 .. t, and keep the first w
		 * of the w + 2 output columns (dk_rewidth). */
		up->cw = c->causal ? up->w + 2 : up->w;
		size_t in = (size_t)n * up->cin * up->h * up->w, o = (size_t)n * up->cout * up->h * up->w;
		size_t ow = (size_t)n * up->cout * up->h * up->cw;
		if (o > p->unit_max)
			p->unit_max = o;
		if (in > p->bf_max)
			p->bf_max = in;
		if (ow > p->bf_max)
			p->bf_max = ow;
		if (c->causal && ow > wide_max)
			wide_max = ow;
		if ((rc = tensor4(&up->xd, CUDNN_DATA_FLOAT, n, up->cin, up->h, up->w, err)) ||
		    (rc = tensor4(&up->yd, CUDNN_DATA_FLOAT, n, up->cout, up->h, up->w, err)) ||
		    (rc = tensor4(&up->cxd, conv_type(g), n, up->cin, up->h, up->w, err)) ||
		    (rc = tensor4(&up->cyd, conv_type(g), n, up->cout, up->h, up->cw, err)))
			goto fail;
		DNN(cudnnCreateConvolutionDescriptor(&up->conv));
		DNN(cudnnSetConvolution2dDescriptor(up->conv, 1, c->causal ? 2 : 1, 1, 1, 1, 1,
		                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
		if ((rc = dalloc(&up->z, o, err)) || (rc = dalloc(&up->y, o, err)))
			goto fail;
		if (train && (rc = dalloc(&up->g, o, err)))
			goto fail;
	}
	if (wide_max && (rc = dalloc(&p->wide, wide_max, err)))
		goto fail;
	for (int l = 0; l < c->depth; l++) {
		int cs = c->base_filters << l, cb = c->base_filters << (l + 1);
		/* the area at level l, and its pooled area */
		size_t lvl = c->causal ? full >> l : full >> (2 * l), pl = lvl / (c->causal ? 2 : 4);
		if ((rc = dalloc(&p->pooled[l], (size_t)n * cs * pl, err)) ||
		    (rc = dalloc(&p->cat[l], (size_t)n * (cs + cb) * lvl, err)))
			goto fail;
		if (train && ((rc = dalloc(&p->gpool[l], (size_t)n * cs * pl, err)) ||
		              (rc = dalloc(&p->gcat[l], (size_t)n * (cs + cb) * lvl, err))))
			goto fail;
	}
	if ((rc = tensor4(&p->outd, CUDNN_DATA_FLOAT, n, c->out_channels, p->hp, p->wp, err)) ||
	    (rc = dalloc(&p->x, (size_t)n * c->in_channels * h * w, err)) ||
	    (rc = dalloc(&p->xp, (size_t)n * c->in_channels * full, err)) ||
	    (rc = dalloc(&p->outa, (size_t)n * c->out_channels * full, err)) ||
	    (rc = dalloc(&p->y, (size_t)n * c->out_channels * h * w, err)))
		goto fail;
	if (train && ((rc = dalloc(&p->t, (size_t)n * 2 * c->out_channels * h * w, err)) || /* + weights */
	              (rc = dalloc(&p->gout, (size_t)n * c->out_channels * full, err)) ||
	              (rc = dalloc(&p->gz, p->unit_max, err)) || (rc = dalloc(&p->gz2, p->unit_max, err))))
		goto fail;
	if (g->dev.precision == DN_PRECISION_BF16) {
		CU(cudaMalloc(&p->bf_a, p->bf_max * 2));
		CU(cudaMalloc(&p->bf_b, p->bf_max * 2));
	}
	for (int u = 0; u < g->nunits; u++)
		if ((rc = choose_algos(g, u, &p->u[u], train, err)))
			goto fail;
	*out = p;
	return DN_OK;
fail:
	plan_free(g, p);
	return rc;
}

/* The plan for this shape: a kept one (a training plan serves eval too) or
 * a new one, dropping the least recently used beyond MAX_PLANS. */
static int plan_get(dn_gpu_net *g, int n, int h, int w, int train, struct plan **out, dn_error *err)
{
	int slot = -1, lru = 0;
	for (int i = 0; i < MAX_PLANS; i++) {
		struct plan *p = g->plans[i];
		if (p && p->n == n && p->h == h && p->w == w && (p->gout || !train)) {
			p->used = ++g->clock;
			*out = p;
			return DN_OK;
		}
		if (!p && slot < 0)
			slot = i;
		if (p && (!g->plans[lru] || p->used < g->plans[lru]->used))
			lru = i;
	}
	if (slot < 0) {
		cudaStreamSynchronize(g->stream);
		plan_free(g, g->plans[lru]);
		g->plans[lru] = NULL;
		slot = lru;
	}
	int rc = plan_build(g, n, h, w, train, &g->plans[slot], err);
	if (rc)
		return rc;
	g->plans[slot]->used = ++g->clock;
	*out = g->plans[slot];
	return DN_OK;
}

/* ---- layers ---- */

static const float *unit_weights(const dn_gpu_net *g, int u, const void **bf)
{
	*bf = g->wbf ? (const char *)g->wbf + g->lay[u].w * 2 : NULL;
	return g->params + g->lay[u].w;
}

/* z = conv(x) + b. */
static int conv_forward(dn_gpu_net *g, struct plan *p, int u, const float *x, float *z, dn_error *err)
{
	int rc = DN_OK;
	struct unit_plan *up = &p->u[u];
	const void *wbf;
	const float *w = unit_weights(g, u, &wbf);
	const size_t in = (size_t)p->n * up->cin * up->h * up->w;
	const size_t rows = (size_t)p->n * up->cout * up->h, ow = rows * up->cw;
	/* A causal unit's convolution writes w + 2 columns into p->wide. */
	float *zc = up->cw != up->w ? p->wide : z;
	DNN(cudnnSetConvolutionMathType(up->conv, up->fwd_math));
	if (wbf) {
		dk_to_bf16(x, p->bf_a, in, g->stream);
		LAUNCHED();
		DNN(cudnnConvolutionForward(g->dnn, &one, up->cxd, p->bf_a, g->wd[u], wbf, up->conv, up->fwd,
		                            g->ws, g->ws_size, &zero, up->cyd, p->bf_b));
		dk_from_bf16(p->bf_b, zc, ow, g->stream);
		LAUNCHED();
	} else {
		DNN(cudnnConvolutionForward(g->dnn, &one, up->cxd, x, g->wd[u], w, up->conv, up->fwd, g->ws,
		                            g->ws_size, &zero, up->cyd, zc));
	}
	if (zc != z) {
		dk_rewidth(zc, z, rows, up->cw, up->w, g->stream);
		LAUNCHED();
	}
	dk_bias(z, g->params + g->lay[u].b, p->n, up->cout, (size_t)up->h * up->w, g->stream);
	LAUNCHED();
	return DN_OK;
fail:
	return rc;
}

/* dW = dy·colᵀ, db = Σdy (both overwritten: each is reached once a step),
 * and dx = Wᵀ·dy when dx is not NULL. */
static int conv_backward(dn_gpu_net *g, struct plan *p, int u, const float *x, const float *dy, float *dx,
                         dn_error *err)
{
	int rc = DN_OK;
	struct unit_plan *up = &p->u[u];
	const void *wbf;
	const float *w = unit_weights(g, u, &wbf);
	float *dw = g->grads + g->lay[u].w, *db = g->grads + g->lay[u].b;
	const size_t in = (size_t)p->n * up->cin * up->h * up->w;
	const size_t rows = (size_t)p->n * up->cout * up->h, o = rows * up->cw;
	const size_t nw = (size_t)up->cout * up->cin * 9;
	DNN(cudnnConvolutionBackwardBias(g->dnn, &one, up->yd, dy, &zero, g->biasd[u], db));
	if (up->cw != up->w) {
		/* the causal convolution's gradient is zero in the 2 columns
		 * the forward cropped */
		dk_rewidth(dy, p->wide, rows, up->w, up->cw, g->stream);
		LAUNCHED();
		dy = p->wide;
	}
	if (wbf) {
		dk_to_bf16(x, p->bf_a, in, g->stream);
		dk_to_bf16(dy, p->bf_b, o, g->stream);
		LAUNCHED();
		DNN(cudnnSetConvolutionMathType(up->conv, up->filter_math));
		DNN(cudnnConvolutionBackwardFilter(g->dnn, &one, up->cxd, p->bf_a, up->cyd, p->bf_b, up->conv,
		                                   up->bwd_filter, g->ws, g->ws_size, &zero, g->wd[u],
		                                   g->dwbf));
		dk_from_bf16(g->dwbf, dw, nw, g->stream);
		LAUNCHED();
		if (dx) {
			DNN(cudnnSetConvolutionMathType(up->conv, up->data_math));
			DNN(cudnnConvolutionBackwardData(g->dnn, &one, g->wd[u], wbf, up->cyd, p->bf_b,
			                                 up->conv, up->bwd_data, g->ws, g->ws_size, &zero,
			                                 up->cxd, p->bf_a));
			dk_from_bf16(p->bf_a, dx, in, g->stream);
			LAUNCHED();
		}
		return DN_OK;
	}
	DNN(cudnnSetConvolutionMathType(up->conv, up->filter_math));
	DNN(cudnnConvolutionBackwardFilter(g->dnn, &one, up->cxd, x, up->cyd, dy, up->conv, up->bwd_filter,
	                                   g->ws, g->ws_size, &zero, g->wd[u], dw));
	if (dx) {
		DNN(cudnnSetConvolutionMathType(up->conv, up->data_math));
		DNN(cudnnConvolutionBackwardData(g->dnn, &one, g->wd[u], w, up->cyd, dy, up->conv,
		                                 up->bwd_data, g->ws, g->ws_size, &zero, up->cxd, dx));
	}
	return DN_OK;
fail:
	return rc;
}

/* conv → BN (batch statistics when train, else running) → ReLU. */
static int unit_forward(dn_gpu_net *g, struct plan *p, int u, const float *x, int train, dn_error *err)
{
	int rc = DN_OK;
	struct unit_plan *up = &p->u[u];
	const dn_unet_unit_layout *L = &g->lay[u];
	if ((rc = conv_forward(g, p, u, x, up->z, err)))
		return rc;
	if (train)
		DNN(cudnnBatchNormalizationForwardTraining(
		    g->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, up->yd, up->z, up->yd, up->y, g->bnd[u],
		    g->params + L->gamma, g->params + L->beta, 0.1, g->state + L->mean, g->state + L->var,
		    1e-5, g->bnsave + L->mean, g->bnsave + g->n_state + L->mean));
	else
		DNN(cudnnBatchNormalizationForwardInference(
		    g->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, up->yd, up->z, up->yd, up->y, g->bnd[u],
		    g->params + L->gamma, g->params + L->beta, g->state + L->mean, g->state + L->var, 1e-5));
	dk_relu(up->y, (size_t)p->n * up->cout * up->h * up->w, g->stream);
	LAUNCHED();
	return DN_OK;
fail:
	return rc;
}

/* From up->g (gradient w.r.t. the unit's output) to dx (may be NULL). */
static int unit_backward(dn_gpu_net *g, struct plan *p, int u, const float *x, float *dx, dn_error *err)
{
	int rc = DN_OK;
	struct unit_plan *up = &p->u[u];
	const dn_unet_unit_layout *L = &g->lay[u];
	dk_relu_backward(up->y, up->g, p->gz, (size_t)p->n * up->cout * up->h * up->w, g->stream);
	LAUNCHED();
	DNN(cudnnBatchNormalizationBackward(g->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, up->yd,
	                                    up->z, up->yd, p->gz, up->yd, p->gz2, g->bnd[u],
	                                    g->params + L->gamma, g->grads + L->gamma, g->grads + L->beta,
	                                    1e-5, g->bnsave + L->mean, g->bnsave + g->n_state + L->mean));
	return conv_backward(g, p, u, x, p->gz2, dx, err);
fail:
	return rc;
}

/* The 1x1 output convolution as GEMMs, per image: Y (HW x cout) = X (HW x
 * cin) · Wc with Wc the row-major cout x cin weights read as column-major
 * cin x cout. */
static int out_forward(dn_gpu_net *g, struct plan *p, const float *x, float *y, dn_error *err)
{
	int rc = DN_OK;
	const dn_unet_unit_layout *L = &g->lay[g->nunits];
	const long long hw = (long long)p->hp * p->wp;
	BLAS(cublasSgemmStridedBatched(g->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)hw, L->cout, L->cin, &one, x,
	                               (int)hw, hw * L->cin, g->params + L->w, L->cin, 0, &zero, y, (int)hw,
	                               hw * L->cout, p->n));
	dk_bias(y, g->params + L->b, p->n, L->cout, (size_t)hw, g->stream);
	LAUNCHED();
	return DN_OK;
fail:
	return rc;
}

static int out_backward(dn_gpu_net *g, struct plan *p, const float *x, const float *dy, float *dx,
                        dn_error *err)
{
	int rc = DN_OK;
	const dn_unet_unit_layout *L = &g->lay[g->nunits];
	const long long hw = (long long)p->hp * p->wp;
	float *dw = g->grads + L->w;
	for (int b = 0; b < p->n; b++)
		BLAS(cublasSgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, L->cin, L->cout, (int)hw, &one,
		                 x + (size_t)b * hw * L->cin, (int)hw, dy + (size_t)b * hw * L->cout, (int)hw,
		                 b ? &one : &zero, dw, L->cin));
	DNN(cudnnConvolutionBackwardBias(g->dnn, &one, p->outd, dy, &zero, g->biasd[g->nunits],
	                                 g->grads + L->b));
	BLAS(cublasSgemmStridedBatched(g->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)hw, L->cin, L->cout, &one, dy,
	                               (int)hw, hw * L->cout, g->params + L->w, L->cin, 0, &zero, dx, (int)hw,
	                               hw * L->cin, p->n));
	return DN_OK;
fail:
	return rc;
}

/* The pooling window's width: 2 (2x2), or 1 for a causal net (2x1). */
static int time_factor(const dn_unet_config *c)
{
	return c->causal ? 1 : 2;
}

/* The whole forward, leaving act(output) in p->outa (padded). */
static int forward(dn_gpu_net *g, struct plan *p, int train, dn_error *err)
{
	const dn_unet_config *c = &g->cfg;
	int rc = DN_OK;
	if (g->wbf) {
		dk_to_bf16(g->params, g->wbf, g->n_train, g->stream);
		LAUNCHED();
	}
	dk_pad(p->x, p->xp, p->n, c->in_channels, p->h, p->w, p->hp, p->wp, g->stream);
	LAUNCHED();
	const float *cur = p->xp;
	for (int l = 0; l < c->depth; l++) {
		int a = dn_unet_enc_unit(l, 0), b = dn_unet_enc_unit(l, 1);
		if ((rc = unit_forward(g, p, a, cur, train, err)) ||
		    (rc = unit_forward(g, p, b, p->u[a].y, train, err)))
			return rc;
		dk_maxpool(p->u[b].y, p->pooled[l], p->n, p->u[b].cout, p->u[b].h, p->u[b].w, time_factor(c),
		           g->stream);
		LAUNCHED();
		cur = p->pooled[l];
	}
	int m0 = dn_unet_mid_unit(c, 0), m1 = dn_unet_mid_unit(c, 1);
	if ((rc = unit_forward(g, p, m0, cur, train, err)) ||
	    (rc = unit_forward(g, p, m1, p->u[m0].y, train, err)))
		return rc;
	int below = m1;
	for (int l = c->depth - 1; l >= 0; l--) {
		int skip = dn_unet_enc_unit(l, 1), a = dn_unet_dec_unit(c, l, 0),
		    b = dn_unet_dec_unit(c, l, 1);
		dk_up_concat(p->u[below].y, p->u[skip].y, p->cat[l], p->n, p->u[below].cout, p->u[skip].cout,
		             p->u[skip].h, p->u[skip].w, time_factor(c), g->stream);
		LAUNCHED();
		if ((rc = unit_forward(g, p, a, p->cat[l], train, err)) ||
		    (rc = unit_forward(g, p, b, p->u[a].y, train, err)))
			return rc;
		below = b;
	}
	if ((rc = out_forward(g, p, p->u[below].y, p->outa, err)))
		return rc;
	dk_act(p->outa, (size_t)p->n * c->out_channels * p->hp * p->wp, c->out_act, g->stream);
	LAUNCHED();
	return DN_OK;
fail:
	return rc;
}

static int backward(dn_gpu_net *g, struct plan *p, dn_error *err)
{
	const dn_unet_config *c = &g->cfg;
	int rc;
	int last = dn_unet_dec_unit(c, 0, 1);
	if ((rc = out_backward(g, p, p->u[last].y, p->gout, p->u[last].g, err)))
		return rc;
	for (int l = 0; l < c->depth; l++) {
		int a = dn_unet_dec_unit(c, l, 0), b = dn_unet_dec_unit(c, l, 1);
		int bu = l + 1 < c->depth ? dn_unet_dec_unit(c, l + 1, 1) : dn_unet_mid_unit(c, 1);
		if ((rc = unit_backward(g, p, b, p->u[a].y, p->u[a].g, err)) ||
		    (rc = unit_backward(g, p, a, p->cat[l], p->gcat[l], err)))
			return rc;
		dk_up_backward(p->gcat[l], p->u[bu].g, p->n, p->u[bu].cout, p->u[a].cin, p->u[a].h, p->u[a].w,
		               time_factor(c), g->stream);
		CU(cudaGetLastError());
	}
	int m0 = dn_unet_mid_unit(c, 0), m1 = dn_unet_mid_unit(c, 1), top = c->depth - 1;
	if ((rc = unit_backward(g, p, m1, p->u[m0].y, p->u[m0].g, err)) ||
	    (rc = unit_backward(g, p, m0, p->pooled[top], p->gpool[top], err)))
		return rc;
	for (int l = c->depth - 1; l >= 0; l--) {
		int a = dn_unet_enc_unit(l, 0), b = dn_unet_enc_unit(l, 1);
		int ccat = p->u[dn_unet_dec_unit(c, l, 0)].cin, cb = ccat - p->u[b].cout;
		dk_maxpool_backward(p->u[b].y, p->gpool[l], p->gcat[l], ccat, cb, p->u[b].g, p->n,
		                    p->u[b].cout, p->u[b].h, p->u[b].w, time_factor(c), g->stream);
		CU(cudaGetLastError());
		if ((rc = unit_backward(g, p, b, p->u[a].y, p->u[a].g, err)))
			return rc;
		if (l > 0)
			rc = unit_backward(g, p, a, p->pooled[l - 1], p->gpool[l - 1], err);
		else
			rc = unit_backward(g, p, a, p->xp, NULL, err);
		if (rc)
			return rc;
	}
	return DN_OK;
fail:
	return rc;
}

static int check_batch(const dn_gpu_net *g, const dn_tensor *x, dn_error *err)
{
	if (!x || !x->data || x->n < 1 || x->h < 1 || x->w < 1)
		return dn_error_set(err, DN_EINVAL, "empty input tensor");
	if (x->c != g->cfg.in_channels)
		return dn_error_set(err, DN_ESHAPE, "input has %d channels, the network takes %d", x->c,
		                    g->cfg.in_channels);
	return DN_OK;
}

int dn_gpu_net_train_step(dn_gpu_net *g, const dn_tensor *x, const dn_tensor *t, int loss, float lr,
                          double *loss_out, dn_error *err)
{
	const dn_unet_config *c = &g->cfg;
	int rc = check_batch(g, x, err);
	if (rc)
		return rc;
	const int tc = loss & 2 /* DN_LOSS_WEIGHTED */ ? 2 * c->out_channels : c->out_channels;
	if (t->n != x->n || t->c != tc || t->h != x->h || t->w != x->w)
		return dn_error_set(err, DN_ESHAPE,
		                    "target %dx%dx%dx%d does not match the output %dx%dx%dx%d", t->n, t->c,
		                    t->h, t->w, x->n, tc, x->h, x->w);
	struct plan *p;
	if ((rc = plan_get(g, x->n, x->h, x->w, 1, &p, err)))
		return rc;
	CU(cudaEventRecord(g->ev0, g->stream));
	CU(cudaMemcpyAsync(p->x, x->data, dn_tensor_size(x) * sizeof(float), cudaMemcpyHostToDevice,
	                   g->stream));
	CU(cudaMemcpyAsync(p->t, t->data, dn_tensor_size(t) * sizeof(float), cudaMemcpyHostToDevice,
	                   g->stream));
	if ((rc = forward(g, p, 1, err)))
		return rc;
	dk_head_backward(p->outa, p->x, p->t, p->gout, g->partials, p->n, c->out_channels, p->h, p->w, p->hp,
	                 p->wp, c->residual, c->out_act, loss, g->stream);
	LAUNCHED();
	dk_sum(g->partials, g->loss_dev, g->stream);
	LAUNCHED();
	CU(cudaMemcpyAsync(g->loss_host, g->loss_dev, sizeof(double), cudaMemcpyDeviceToHost, g->stream));
	if ((rc = backward(g, p, err)))
		return rc;
	/* Adam exactly as core/nn/adam.c, betas and eps at their defaults. */
	const dn_adam_params ap = dn_adam_default_params();
	g->adam_t++;
	const float bc1 = 1.0f - powf(ap.beta1, (float)g->adam_t);
	const float bc2_sqrt = sqrtf(1.0f - powf(ap.beta2, (float)g->adam_t));
	dk_adam(g->params, g->grads, g->m, g->v, g->n_train, lr / bc1, bc2_sqrt, ap.beta1, ap.beta2, ap.eps,
	        ap.weight_decay, g->stream);
	LAUNCHED();
	CU(cudaEventRecord(g->ev1, g->stream));
	CU(cudaStreamSynchronize(g->stream));
	float ms = 0.0f;
	CU(cudaEventElapsedTime(&ms, g->ev0, g->ev1));
	g->busy_s += ms * 1e-3;
	/* The mean over the output's elements, as on the CPU: a weighted
	 * target carries as many weight planes again. */
	*loss_out = *g->loss_host / (double)((size_t)x->n * c->out_channels * x->h * x->w);
	return DN_OK;
fail:
	return rc;
}

int dn_gpu_net_forward_eval(dn_gpu_net *g, const dn_tensor *x, dn_tensor *y, dn_error *err)
{
	const dn_unet_config *c = &g->cfg;
	int rc = check_batch(g, x, err);
	if (rc)
		return rc;
	struct plan *p;
	if ((rc = plan_get(g, x->n, x->h, x->w, 0, &p, err)) ||
	    (rc = dn_tensor_resize(y, x->n, c->out_channels, x->h, x->w, err)))
		return rc;
	CU(cudaMemcpyAsync(p->x, x->data, dn_tensor_size(x) * sizeof(float), cudaMemcpyHostToDevice,
	                   g->stream));
	if ((rc = forward(g, p, 0, err)))
		return rc;
	dk_crop(p->outa, p->x, p->y, p->n, c->out_channels, p->h, p->w, p->hp, p->wp, c->residual, g->stream);
	LAUNCHED();
	CU(cudaMemcpyAsync(y->data, p->y, dn_tensor_size(y) * sizeof(float), cudaMemcpyDeviceToHost,
	                   g->stream));
	CU(cudaStreamSynchronize(g->stream));
	return DN_OK;
fail:
	return rc;
}

/* ---- the device's matrix rate ---- */

int dn_cuda_gemm_peak(int device, int precision, int n, double *tflops, dn_error *err)
{
	int rc = DN_OK;
	void *a = NULL, *b = NULL, *c = NULL;
	cublasHandle_t h = NULL;
	cudaEvent_t e0 = NULL, e1 = NULL;
	const size_t el = precision == DN_PRECISION_BF16 ? 2 : 4, nn = (size_t)n * n;
	*tflops = 0.0;
	CU(cudaSetDevice(device));
	BLAS(cublasCreate(&h));
	BLAS(cublasSetMathMode(h, precision == DN_PRECISION_FP32 ? CUBLAS_PEDANTIC_MATH
	                                                         : CUBLAS_TF32_TENSOR_OP_MATH));
	CU(cudaMalloc(&a, nn * el));
	CU(cudaMalloc(&b, nn * el));
	CU(cudaMalloc(&c, nn * 4));
	/* Random-looking operands (all-zero inputs run faster than real data). */
	float *tmp = malloc(nn * 4);
	if (!tmp) {
		rc = dn_error_set(err, DN_ENOMEM, "out of memory");
		goto fail;
	}
	uint32_t s = 12345;
	for (size_t i = 0; i < nn; i++) {
		s = s * 1664525u + 1013904223u;
		tmp[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
	}
	CU(cudaMemcpy(c, tmp, nn * 4, cudaMemcpyHostToDevice));
	free(tmp);
	if (precision == DN_PRECISION_BF16) {
		dk_to_bf16(c, a, nn, 0);
		dk_to_bf16(c, b, nn, 0);
	} else {
		CU(cudaMemcpy(a, c, nn * 4, cudaMemcpyDeviceToDevice));
		CU(cudaMemcpy(b, c, nn * 4, cudaMemcpyDeviceToDevice));
	}
	CU(cudaEventCreate(&e0));
	CU(cudaEventCreate(&e1));
	const cudaDataType_t in = precision == DN_PRECISION_BF16 ? CUDA_R_16BF : CUDA_R_32F;
	const cublasComputeType_t ct = precision == DN_PRECISION_FP32   ? CUBLAS_COMPUTE_32F_PEDANTIC
	                               : precision == DN_PRECISION_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
	                                                                : CUBLAS_COMPUTE_32F;
	double best = 1e30;
	for (int k = 0; k < 6; k++) {
		CU(cudaEventRecord(e0, 0));
		BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a, in, n, b, in, n, &zero, c,
		                  CUDA_R_32F, n, ct, CUBLAS_GEMM_DEFAULT));
		CU(cudaEventRecord(e1, 0));
		CU(cudaEventSynchronize(e1));
		float ms;
		CU(cudaEventElapsedTime(&ms, e0, e1));
		if (k > 0 && ms < best)
			best = ms;
	}
	*tflops = 2.0 * n * (double)n * n / (best * 1e-3) / 1e12;
fail:
	if (e0)
		cudaEventDestroy(e0);
	if (e1)
		cudaEventDestroy(e1);
	cudaFree(a);
	cudaFree(b);
	cudaFree(c);
	if (h)
		cublasDestroy(h);
	return rc;
}
