/*
 * kernels.cu — the U-Net's small CUDA kernels (see kernels.h).
 *
 * Each kernel is an elementwise or gather pass with a grid-stride loop over
 * 64-bit indices; none needs shared memory except the loss's block sums.
 * The loss is reduced deterministically: fixed-size blocks write partial
 * sums in double, and one block adds those in a fixed order, so the same
 * batch gives the same loss bit for bit (the plateau schedule compares
 * losses, and runs with one seed must agree).
 */
#include "core/cuda/kernels.h"

#include <cuda_bf16.h>

#define THREADS 256

static unsigned blocks_for(size_t count)
{
	size_t b = (count + THREADS - 1) / THREADS;
	if (b > (1u << 20))
		b = 1u << 20;
	return b ? (unsigned)b : 1u;
}

#define GRID_STRIDE(i, count)                                                                                \
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (count);                          \
	     i += (size_t)gridDim.x * blockDim.x)

__global__ void k_pad(const float *x, float *xp, int n, int c, int h, int w, int hp, int wp)
{
	const size_t count = (size_t)n * c * hp * wp;
	GRID_STRIDE(i, count)
	{
		int j = (int)(i % wp), r = (int)((i / wp) % hp);
		size_t plane = i / ((size_t)hp * wp);
		xp[i] = (r < h && j < w) ? x[plane * h * w + (size_t)r * w + j] : 0.0f;
	}
}

extern "C" void dk_pad(const float *x, float *xp, int n, int c, int h, int w, int hp, int wp, cudaStream_t s)
{
	size_t count = (size_t)n * c * hp * wp;
	k_pad<<<blocks_for(count), THREADS, 0, s>>>(x, xp, n, c, h, w, hp, wp);
}

__global__ void k_act(float *v, size_t count, int act)
{
	GRID_STRIDE(i, count)
	{
		float a = v[i];
		v[i] = act == 1 ? (a > 0.0f ? a : 0.0f) : 1.0f / (1.0f + expf(-a));
	}
}

extern "C" void dk_act(float *v, size_t count, int act, cudaStream_t s)
{
	if (act == 1 || act == 2)
		k_act<<<blocks_for(count), THREADS, 0, s>>>(v, count, act);
}

__global__ void k_crop(const float *v, const float *x, float *y, int n, int c, int h, int w, int hp, int wp,
                       int residual)
{
	const size_t count = (size_t)n * c * h * w;
	GRID_STRIDE(i, count)
	{
		int j = (int)(i % w), r = (int)((i / w) % h);
		size_t plane = i / ((size_t)h * w);
		float a = v[plane * hp * wp + (size_t)r * wp + j];
		y[i] = residual ? x[i] - a : a;
	}
}

extern "C" void dk_crop(const float *v, const float *x, float *y, int n, int c, int h, int w, int hp, int wp,
                        int residual, cudaStream_t s)
{
	size_t count = (size_t)n * c * h * w;
	k_crop<<<blocks_for(count), THREADS, 0, s>>>(v, x, y, n, c, h, w, hp, wp, residual);
}

__global__ void k_head_backward(const float *v, const float *x, const float *t, float *gout, double *partials,
                                int n, int c, int h, int w, int hp, int wp, int residual, int act, int loss)
{
	__shared__ double acc[THREADS];
	const size_t count = (size_t)n * c * hp * wp, inner = (size_t)n * c * h * w;
	const float k = (loss & 1 ? 1.0f : 2.0f) / (float)inner, sign = residual ? -1.0f : 1.0f;
	double s = 0.0;
	GRID_STRIDE(i, count)
	{
		int j = (int)(i % wp), r = (int)((i / wp) % hp);
		size_t plane = i / ((size_t)hp * wp);
		float g = 0.0f, a = v[i];
		if (r < h && j < w) {
			size_t o = plane * h * w + (size_t)r * w + j, to = o;
			float wt = 1.0f;
			if (loss & 2) { /* c target planes, then c weight planes, per sample */
				size_t hw = (size_t)h * w, ni = plane / c, ci = plane % c;
				to = (ni * 2 * c + ci) * hw + (size_t)r * w + j;
				wt = t[to + (size_t)c * hw];
			}
			float y = residual ? x[o] - a : a;
			float d = wt * (y - t[to]);
			if (!(loss & 1)) {
				s += (double)d * d;
				g = k * d * wt;
			} else {
				s += fabs((double)d);
				g = d > 0.0f ? k * wt : (d < 0.0f ? -k * wt : 0.0f);
			}
			g *= sign;
			if (act == 1)
				g = a > 0.0f ? g : 0.0f;
			else if (act == 2)
				g = g * a * (1.0f - a);
		}
		gout[i] = g;
	}
	acc[threadIdx.x] = s;
	__syncthreads();
	for (int stride = THREADS / 2; stride > 0; stride >>= 1) {
		if ((int)threadIdx.x < stride)
			acc[threadIdx.x] += acc[threadIdx.x + stride];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		partials[blockIdx.x] = acc[0];
}

extern "C" void dk_head_backward(const float *v, const float *x, const float *t, float *gout, double *partials,
                                 int n, int c, int h, int w, int hp, int wp, int residual, int act, int loss,
                                 cudaStream_t s)
{
	/* Always DK_LOSS_BLOCKS blocks, so that dk_sum knows how many partials. */
	k_head_backward<<<DK_LOSS_BLOCKS, THREADS, 0, s>>>(v, x, t, gout, partials, n, c, h, w, hp, wp,
	                                                   residual, act, loss);
}

__global__ void k_sum(const double *partials, double *out)
{
	__shared__ double acc[DK_LOSS_BLOCKS];
	acc[threadIdx.x] = partials[threadIdx.x];
	__syncthreads();
	for (int stride = DK_LOSS_BLOCKS / 2; stride > 0; stride >>= 1) {
		if ((int)threadIdx.x < stride)
			acc[threadIdx.x] += acc[threadIdx.x + stride];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		*out = acc[0];
}

extern "C" void dk_sum(const double *partials, double *out, cudaStream_t s)
{
	k_sum<<<1, DK_LOSS_BLOCKS, 0, s>>>(partials, out);
}

__global__ void k_bias(float *y, const float *b, int c, size_t hw, size_t count)
{
	GRID_STRIDE(i, count)
	y[i] += b[(i / hw) % c];
}

extern "C" void dk_bias(float *y, const float *b, int n, int c, size_t hw, cudaStream_t s)
{
	size_t count = (size_t)n * c * hw;
	k_bias<<<blocks_for(count), THREADS, 0, s>>>(y, b, c, hw, count);
}

__global__ void k_relu(float *x, size_t count)
{
	GRID_STRIDE(i, count)
	x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

extern "C" void dk_relu(float *x, size_t count, cudaStream_t s)
{
	k_relu<<<blocks_for(count), THREADS, 0, s>>>(x, count);
}

__global__ void k_relu_backward(const float *y, const float *dy, float *dx, size_t count)
{
	GRID_STRIDE(i, count)
	dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

extern "C" void dk_relu_backward(const float *y, const float *dy, float *dx, size_t count, cudaStream_t s)
{
	k_relu_backward<<<blocks_for(count), THREADS, 0, s>>>(y, dy, dx, count);
}

/* fw is the window's width: 2 (2x2 pooling) or 1 (2x1, frequency only, for
 * the causal net); ow = w / fw. */
__global__ void k_maxpool(const float *x, float *y, int n, int c, int h, int w, int fw)
{
	const int oh = h / 2, ow = w / fw;
	const size_t count = (size_t)n * c * oh * ow;
	GRID_STRIDE(i, count)
	{
		int j = (int)(i % ow), r = (int)((i / ow) % oh);
		size_t plane = i / ((size_t)oh * ow);
		const float *p = x + plane * h * w + (size_t)(2 * r) * w + fw * j;
		float m = p[0];
		if (fw == 2 && p[1] > m)
			m = p[1];
		if (p[w] > m)
			m = p[w];
		if (fw == 2 && p[w + 1] > m)
			m = p[w + 1];
		y[i] = m;
	}
}

extern "C" void dk_maxpool(const float *x, float *y, int n, int c, int h, int w, int fw, cudaStream_t s)
{
	size_t count = (size_t)n * c * (h / 2) * (w / fw);
	k_maxpool<<<blocks_for(count), THREADS, 0, s>>>(x, y, n, c, h, w, fw);
}

__global__ void k_maxpool_backward(const float *x, const float *dy, const float *skip, int skip_c, int skip_off,
                                   float *dx, int n, int c, int h, int w, int fw)
{
	const int oh = h / 2, ow = w / fw;
	const size_t count = (size_t)n * c * oh * ow;
	GRID_STRIDE(i, count)
	{
		int j = (int)(i % ow), r = (int)((i / ow) % oh);
		size_t plane = i / ((size_t)oh * ow);
		int bn = (int)(plane / c), ch = (int)(plane % c);
		size_t off = plane * h * w + (size_t)(2 * r) * w + fw * j;
		const float *p = x + off;
		int arg = 0;
		float m = p[0];
		if (fw == 2 && p[1] > m) {
			m = p[1];
			arg = 1;
		}
		if (p[w] > m) {
			m = p[w];
			arg = 2;
		}
		if (fw == 2 && p[w + 1] > m)
			arg = 3;
		const float g = dy[i];
		const size_t pos[4] = {0, 1, (size_t)w, (size_t)w + 1};
		const float *sk = skip ? skip + ((size_t)bn * skip_c + skip_off + ch) * h * w + (size_t)(2 * r) * w +
		                             fw * j
		                       : NULL;
		for (int q = 0; q < 4; q++) {
			if (fw == 1 && (q & 1))
				continue;
			dx[off + pos[q]] = (q == arg ? g : 0.0f) + (sk ? sk[pos[q]] : 0.0f);
		}
	}
}

extern "C" void dk_maxpool_backward(const float *x, const float *dy, const float *skip, int skip_c, int skip_off,
                                    float *dx, int n, int c, int h, int w, int fw, cudaStream_t s)
{
	size_t count = (size_t)n * c * (h / 2) * (w / fw);
	k_maxpool_backward<<<blocks_for(count), THREADS, 0, s>>>(x, dy, skip, skip_c, skip_off, dx, n, c, h, w,
	                                                         fw);
}

__global__ void k_up_concat(const float *below, const float *skip, float *cat, int n, int cb, int cs, int h,
                            int w, int fw)
{
	const int cc = cb + cs, h2 = h / 2, w2 = w / fw;
	const size_t count = (size_t)n * cc * h * w;
	GRID_STRIDE(i, count)
	{
		int j = (int)(i % w), r = (int)((i / w) % h);
		size_t plane = i / ((size_t)h * w);
		int bn = (int)(plane / cc), ch = (int)(plane % cc);
		cat[i] = ch < cb ? below[((size_t)bn * cb + ch) * h2 * w2 + (size_t)(r / 2) * w2 + j / fw]
		                 : skip[((size_t)bn * cs + (ch - cb)) * h * w + (size_t)r * w + j];
	}
}

extern "C" void dk_up_concat(const float *below, const float *skip, float *cat, int n, int cb, int cs, int h,
                             int w, int fw, cudaStream_t s)
{
	size_t count = (size_t)n * (cb + cs) * h * w;
	k_up_concat<<<blocks_for(count), THREADS, 0, s>>>(below, skip, cat, n, cb, cs, h, w, fw);
}

__global__ void k_up_backward(const float *gcat, float *gbelow, int n, int cb, int ccat, int h, int w, int fw)
{
	const int h2 = h / 2, w2 = w / fw;
	const size_t count = (size_t)n * cb * h2 * w2;
	GRID_STRIDE(i, count)
	{
		int j = (int)(i % w2), r = (int)((i / w2) % h2);
		size_t plane = i / ((size_t)h2 * w2);
		int bn = (int)(plane / cb), ch = (int)(plane % cb);
		const float *p = gcat + ((size_t)bn * ccat + ch) * h * w + (size_t)(2 * r) * w + fw * j;
		gbelow[i] = fw == 2 ? p[0] + p[1] + p[w] + p[w + 1] : p[0] + p[w];
	}
}

extern "C" void dk_up_backward(const float *gcat, float *gbelow, int n, int cb, int ccat, int h, int w, int fw,
                               cudaStream_t s)
{
	size_t count = (size_t)n * cb * (h / 2) * (w / fw);
	k_up_backward<<<blocks_for(count), THREADS, 0, s>>>(gcat, gbelow, n, cb, ccat, h, w, fw);
}

__global__ void k_rewidth(const float *src, float *dst, size_t rows, int src_w, int dst_w)
{
	const size_t count = rows * dst_w;
	GRID_STRIDE(i, count)
	{
		int j = (int)(i % dst_w);
		size_t r = i / dst_w;
		dst[i] = j < src_w ? src[r * src_w + j] : 0.0f;
	}
}

extern "C" void dk_rewidth(const float *src, float *dst, size_t rows, int src_w, int dst_w, cudaStream_t s)
{
	size_t count = rows * dst_w;
	k_rewidth<<<blocks_for(count), THREADS, 0, s>>>(src, dst, rows, src_w, dst_w);
}

__global__ void k_adam(float *p, const float *g, float *m, float *v, size_t count, float step, float bc2_sqrt,
                       float b1, float b2, float eps, float wd)
{
	GRID_STRIDE(i, count)
	{
		float gi = g[i] + wd * p[i];
		float mi = m[i] * b1 + (1.0f - b1) * gi;
		float vi = v[i] * b2 + (1.0f - b2) * gi * gi;
		m[i] = mi;
		v[i] = vi;
		p[i] -= step * mi / (sqrtf(vi) / bc2_sqrt + eps);
	}
}

extern "C" void dk_adam(float *p, const float *g, float *m, float *v, size_t count, float step, float bc2_sqrt,
                        float b1, float b2, float eps, float wd, cudaStream_t s)
{
	k_adam<<<blocks_for(count), THREADS, 0, s>>>(p, g, m, v, count, step, bc2_sqrt, b1, b2, eps, wd);
}

__global__ void k_to_bf16(const float *x, __nv_bfloat16 *y, size_t count)
{
	GRID_STRIDE(i, count)
	y[i] = __float2bfloat16_rn(x[i]);
}

extern "C" void dk_to_bf16(const float *x, void *y, size_t count, cudaStream_t s)
{
	k_to_bf16<<<blocks_for(count), THREADS, 0, s>>>(x, (__nv_bfloat16 *)y, count);
}

__global__ void k_from_bf16(const __nv_bfloat16 *x, float *y, size_t count)
{
	GRID_STRIDE(i, count)
	y[i] = __bfloat162float(x[i]);
}

extern "C" void dk_from_bf16(const void *x, float *y, size_t count, cudaStream_t s)
{
	k_from_bf16<<<blocks_for(count), THREADS, 0, s>>>((const __nv_bfloat16 *)x, y, count);
}
