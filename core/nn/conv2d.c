/*
 * conv2d.c — k x k same-padded convolution as im2col + cblas_sgemm.
 *
 * For one image, the output Y[cout][H·W] = W[cout][cin·k·k] · col[cin·k·k][H·W]
 * where col is the im2col unfolding of x. To keep the scratch bounded for any
 * image size, col is built for a block of output pixels [p0, p1) at a time
 * and the sgemm writes the matching column range of Y (ldc = H·W); the
 * forward keeps blocks cache-sized (fwd_block_pixels). A 1x1
 * convolution needs no unfolding: x itself is the column matrix.
 *
 * Backward reuses the same blocking for dW += dY_blk · col_blkᵀ. dX is the
 * transposed convolution of dY, computed the forward's way: im2col of dY
 * and one GEMM with the flipped weights (K = cout·k·k); only when the scratch
 * cannot hold those does it fall back to dcol_blk = Wᵀ · dY_blk (a GEMM with
 * K = cout, poor for cout = 32) scattered into dx by col2im.
 */
#include <cblas.h>
#include <string.h>

#include "core/nn/direct.h"
#include "core/nn/layers.h"

size_t dn_conv2d_min_scratch(const dn_conv2d *l, int w)
{
	return (size_t)l->cin * l->k * l->k * (size_t)w;
}

/* Pixels per block so that kdim * block <= cap (at least one image row). */
static size_t block_pixels(size_t kdim, size_t cap, size_t hw, int w)
{
	size_t blk = cap / kdim;
	if (blk < (size_t)w)
		blk = (size_t)w;
	return blk < hw ? blk : hw;
}

/* The forward's block: about DN_COL_BLOCK floats of col (512 KB, half a
 * core's L2 on the machines measured) so that sgemm packs col from cache
 * right after im2col wrote it; at least 8·cout pixels, so that packing W
 * (cout x kdim, once per sgemm call) stays small beside packing col; and
 * within cap. bench/bench_unet measured 208 → 165-190 CPU ms for the seed
 * forward against filling the whole 4 M-float scratch. */
#define DN_COL_BLOCK ((size_t)1 << 17)

static size_t fwd_block_pixels(size_t kdim, int cout, size_t cap, size_t hw, int w)
{
	size_t blk = DN_COL_BLOCK / kdim, lo = (size_t)8 * cout;
	if (blk < lo)
		blk = lo;
	if (blk > cap / kdim)
		blk = cap / kdim;
	if (blk < (size_t)w)
		blk = (size_t)w;
	return blk < hw ? blk : hw;
}

/* Loops in chunks of 8 with a fixed inner count: GCC vectorises those at -O2
 * (its "very cheap" cost model leaves loops that need a remainder alone). */
static void add_floats(float *restrict d, const float *restrict s, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			d[i + j] += s[i + j];
	for (; i < n; i++)
		d[i] += s[i];
}

static void fill_floats(float *restrict d, float v, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			d[i + j] = v;
	for (; i < n; i++)
		d[i] = v;
}

/* Output columns [lo, hi) of a row read inside the image for tap kw: the
 * rest of the row reads the zero padding. */
static void valid_cols(int w, int kw, int pad, int *lo, int *hi)
{
	*lo = pad - kw > 0 ? pad - kw : 0;
	*hi = w + pad - kw < w ? w + pad - kw : w;
}

/* Zero columns before the first time column (w) an output reads: k/2 for
 * a same-padded convolution, k − 1 for a causal one (output column t reads
 * input columns t−k+1 .. t). The columns after it are k − 1 minus those, so
 * the output keeps the input's width either way; the transposed
 * convolution of the backward pass swaps the two. */
static int time_pad(const dn_conv2d *l)
{
	return l->causal ? l->k - 1 : l->k / 2;
}

/* The channel loops below run on OpenMP threads when there is enough to
 * share: each input channel owns disjoint rows of col (and planes of dx),
 * so the result does not depend on the thread count. */
#define PAR_MIN_WORK 65536

/* col[r][p - p0] for r = (ci, kh, kw), output pixels p in [p0, p1). Each
 * output row segment is a shifted copy of an input row (memcpy) between
 * zeros for the padding. */
static void im2col_block(const float *restrict x, int cin, int h, int w, int k, int pw, size_t p0, size_t p1,
                         float *restrict col)
{
	const int pad = k / 2;
	const size_t n = p1 - p0;
#pragma omp parallel for schedule(static) if (cin > 1 && n * (size_t)cin * k * k > PAR_MIN_WORK)
	for (int ci = 0; ci < cin; ci++) {
		const float *xc = x + (size_t)ci * h * w;
		for (int kh = 0; kh < k; kh++) {
			for (int kw = 0; kw < k; kw++) {
				float *dst = col + ((size_t)(ci * k + kh) * k + kw) * n;
				int lo, hi;
				valid_cols(w, kw, pw, &lo, &hi);
				size_t p = p0;
				while (p < p1) {
					int oh = (int)(p / (size_t)w), ow = (int)(p % (size_t)w);
					int end = (size_t)(w - ow) > p1 - p ? ow + (int)(p1 - p) : w;
					int ih = oh + kh - pad;
					float *d = dst + (p - p0); /* d[0] is output column ow */
					int a = ow > lo ? ow : lo, b = end < hi ? end : hi;
					if (ih < 0 || ih >= h || a >= b) {
						memset(d, 0, (size_t)(end - ow) * sizeof *d);
					} else {
						const float *src = xc + (size_t)ih * w + (a + kw - pw);
						memset(d, 0, (size_t)(a - ow) * sizeof *d);
						memcpy(d + (a - ow), src, (size_t)(b - a) * sizeof *d);
						memset(d + (b - ow), 0, (size_t)(end - b) * sizeof *d);
					}
					p += (size_t)(end - ow);
				}
			}
		}
	}
}

/* The adjoint of im2col_block: dx[ci][ih][iw] += dcol[r][p - p0]. */
static void col2im_block(const float *restrict dcol, int cin, int h, int w, int k, int pw, size_t p0,
                         size_t p1, float *restrict dx)
{
	const int pad = k / 2;
	const size_t n = p1 - p0;
#pragma omp parallel for schedule(static) if (cin > 1 && n * (size_t)cin * k * k > PAR_MIN_WORK)
	for (int ci = 0; ci < cin; ci++) {
		float *dxc = dx + (size_t)ci * h * w;
		for (int kh = 0; kh < k; kh++) {
			for (int kw = 0; kw < k; kw++) {
				const float *src = dcol + ((size_t)(ci * k + kh) * k + kw) * n;
				int lo, hi;
				valid_cols(w, kw, pw, &lo, &hi);
				size_t p = p0;
				while (p < p1) {
					int oh = (int)(p / (size_t)w), ow = (int)(p % (size_t)w);
					int end = (size_t)(w - ow) > p1 - p ? ow + (int)(p1 - p) : w;
					int ih = oh + kh - pad;
					int a = ow > lo ? ow : lo, b = end < hi ? end : hi;
					if (ih >= 0 && ih < h && a < b)
						add_floats(dxc + (size_t)ih * w + (a + kw - pw),
						           src + (p - p0) + (a - ow), (size_t)(b - a));
					p += (size_t)(end - ow);
				}
			}
		}
	}
}

/* y += a·x over n floats, in chunks of 8 as add_floats. */
static void axpy_floats(float *restrict y, float a, const float *restrict x, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			y[i + j] += a * x[i + j];
	for (; i < n; i++)
		y[i] += a * x[i];
}

/* Output channels up to which a 1x1 convolution is cout·cin passes of axpy
 * instead of an sgemm: the U-Nets' last layer (1 or 3 outputs) is a GEMM of
 * M = 1 or 3, which OpenBLAS ran at 3-5 GFLOP/s (bench/bench_conv) and
 * spread over its threads. */
#define SMALL_1X1_COUT 4

void dn_conv2d_forward(const dn_conv2d *l, const dn_tensor *x, dn_tensor *y, int relu, float *col,
                       size_t col_cap)
{
	if (l->k == 1 && l->cout <= SMALL_1X1_COUT) {
		/* A block of pixels at a time, so that the output row being summed
		 * stays in L1 across the cin passes. */
		const size_t hw = (size_t)x->h * x->w, blk = 512;
		for (int n = 0; n < x->n; n++)
			for (int co = 0; co < l->cout; co++) {
				float *yc = dn_tensor_plane(y, n, co);
				for (size_t p0 = 0; p0 < hw; p0 += blk) {
					const size_t np = hw - p0 < blk ? hw - p0 : blk;
					fill_floats(yc + p0, l->b[co], np);
					for (int ci = 0; ci < l->cin; ci++)
						axpy_floats(yc + p0, l->w[(size_t)co * l->cin + ci],
						            dn_tensor_plane(x, n, ci) + p0, np);
				}
				if (relu)
					dn_relu_forward(yc, yc, hw);
			}
		return;
	}
	const int h = x->h, w = x->w;
	const size_t hw = (size_t)h * w, kdim = (size_t)l->cin * l->k * l->k;
	const size_t blk = l->k == 1 ? hw : fwd_block_pixels(kdim, l->cout, col_cap, hw, w);
	const int pw = time_pad(l);
	for (int n = 0; n < x->n; n++) {
		const float *xn = dn_tensor_plane(x, n, 0);
		float *yn = dn_tensor_plane(y, n, 0);
		for (int co = 0; co < l->cout; co++)
			fill_floats(yn + (size_t)co * hw, l->b[co], hw);
		for (size_t p0 = 0; p0 < hw; p0 += blk) {
			size_t p1 = p0 + blk < hw ? p0 + blk : hw;
			const float *b;
			int ldb;
			if (l->k == 1) {
				b = xn + p0;
				ldb = (int)hw;
			} else {
				im2col_block(xn, l->cin, h, w, l->k, pw, p0, p1, col);
				b = col;
				ldb = (int)(p1 - p0);
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->cout, (int)(p1 - p0),
			            (int)kdim, 1.0f, l->w, (int)kdim, b, ldb, 1.0f, yn + p0, (int)hw);
		}
		if (relu)
			dn_relu_forward(yn, yn, (size_t)l->cout * hw);
	}
}

size_t dn_conv2d_frame_scratch(const dn_conv2d *l, int h)
{
	return (size_t)l->cin * l->k * l->k * (size_t)h;
}

void dn_conv2d_forward_frame(const dn_conv2d *l, const float *x, int h, float *y, int relu, float *col)
{
	const int k = l->k, pad = k / 2;
	const size_t kdim = (size_t)l->cin * k * k;
	/* col[(ci, kh, kw)][i] = x[ci][kw][i + kh − pad]: the im2col of the
	 * window's one output column, each row a shifted copy of an input
	 * column with zeros beyond the frequency edges. */
	for (int ci = 0; ci < l->cin; ci++)
		for (int kh = 0; kh < k; kh++)
			for (int kw = 0; kw < k; kw++) {
				float *d = col + ((size_t)(ci * k + kh) * k + kw) * h;
				const float *xc = x + ((size_t)ci * k + kw) * h;
				const int sh = kh - pad; /* d[i] = xc[i + sh] */
				const int lo = sh < 0 ? -sh : 0, hi = sh > 0 ? h - sh : h;
				memset(d, 0, (size_t)lo * sizeof *d);
				if (hi > lo)
					memcpy(d + lo, xc + lo + sh, (size_t)(hi - lo) * sizeof *d);
				memset(d + (hi > lo ? hi : lo), 0,
				       (size_t)(h - (hi > lo ? hi : lo)) * sizeof *d);
			}
	for (int co = 0; co < l->cout; co++)
		fill_floats(y + (size_t)co * h, l->b[co], (size_t)h);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->cout, h, (int)kdim, 1.0f, l->w, (int)kdim,
	            col, h, 1.0f, y, h);
	if (relu)
		dn_relu_forward(y, y, (size_t)l->cout * h);
}

/* wf[ci][co][kh][kw] = w[co][ci][k-1-kh][k-1-kw]: the weights of the
 * transposed convolution, which maps dy back to dx. */
static void flip_weights(const dn_conv2d *l, float *restrict wf)
{
	const int k = l->k, kk = k * k;
	for (int ci = 0; ci < l->cin; ci++)
		for (int co = 0; co < l->cout; co++) {
			const float *src = l->w + ((size_t)co * l->cin + ci) * kk;
			float *dst = wf + ((size_t)ci * l->cout + co) * kk;
			for (int t = 0; t < kk; t++)
				dst[t] = src[kk - 1 - t];
		}
}

/* Floats of dcol that hold the flipped weights, rounded up to keep what
 * follows 64-byte aligned. */
static size_t flipped_floats(const dn_conv2d *l)
{
	size_t n = (size_t)l->cin * l->cout * l->k * l->k;
	return (n + 15) / 16 * 16;
}

void dn_conv2d_backward(const dn_conv2d *l, const dn_tensor *x, const dn_tensor *dy, dn_tensor *dx,
                        float *col, float *dcol, size_t col_cap)
{
	const int h = x->h, w = x->w;
	const size_t hw = (size_t)h * w, kdim = (size_t)l->cin * l->k * l->k;
	const size_t tdim = (size_t)l->cout * l->k * l->k, nwf = flipped_floats(l);
	const size_t blk = block_pixels(kdim, col_cap, hw, w);
	const int pw = time_pad(l);
	/* dx as a transposed convolution, dx = wf · im2col(dy) (one GEMM with
	 * K = cout·k·k, written in place), when dcol holds wf and a row of
	 * im2col(dy); otherwise dcol = Wᵀ·dy (K = cout) and a col2im scatter. */
	/* Where the CPU runs the direct kernel, dx is that kernel's transposed
	 * convolution of dy after all (direct.h), its weights in dcol. */
	const int direct =
	    dx && l->k == 3 && dn_direct_available() && col_cap >= dn_direct_transposed_scratch(l);
	const int transposed = !direct && dx && l->k > 1 && col_cap >= nwf + tdim * (size_t)w;
	const size_t tblk = transposed ? fwd_block_pixels(tdim, l->cin, col_cap - nwf, hw, w) : 0;
	if (transposed)
		flip_weights(l, dcol);
	else if (dx && !direct)
		memset(dx->data, 0, dn_tensor_size(dx) * sizeof(float));
	for (int n = 0; n < x->n; n++) {
		const float *xn = dn_tensor_plane(x, n, 0);
		const float *dyn = dn_tensor_plane(dy, n, 0);
#pragma omp parallel for schedule(static) if (hw * l->cout > PAR_MIN_WORK)
		for (int co = 0; co < l->cout; co++) {
			const float *g = dyn + (size_t)co * hw;
			double s = 0.0;
			for (size_t p = 0; p < hw; p++)
				s += g[p];
			l->db[co] += (float)s;
		}
		for (size_t p0 = 0; p0 < hw; p0 += blk) {
			size_t p1 = p0 + blk < hw ? p0 + blk : hw;
			int np = (int)(p1 - p0);
			if (l->k == 1) {
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->cout, (int)kdim, np,
				            1.0f, dyn + p0, (int)hw, xn + p0, (int)hw, 1.0f, l->dw,
				            (int)kdim);
				if (dx)
					cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kdim, np,
					            l->cout, 1.0f, l->w, (int)kdim, dyn + p0, (int)hw, 1.0f,
					            dn_tensor_plane(dx, n, 0) + p0, (int)hw);
				continue;
			}
			im2col_block(xn, l->cin, h, w, l->k, pw, p0, p1, col);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->cout, (int)kdim, np, 1.0f,
			            dyn + p0, (int)hw, col, np, 1.0f, l->dw, (int)kdim);
			if (dx && !transposed && !direct) {
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kdim, np, l->cout,
				            1.0f, l->w, (int)kdim, dyn + p0, (int)hw, 0.0f, dcol, np);
				col2im_block(dcol, l->cin, h, w, l->k, pw, p0, p1, dn_tensor_plane(dx, n, 0));
			}
		}
		for (size_t p0 = 0; transposed && p0 < hw; p0 += tblk) {
			size_t p1 = p0 + tblk < hw ? p0 + tblk : hw;
			int np = (int)(p1 - p0);
			im2col_block(dyn, l->cout, h, w, l->k, l->k - 1 - pw, p0, p1, dcol + nwf);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->cin, np, (int)tdim, 1.0f,
			            dcol, (int)tdim, dcol + nwf, np, 0.0f, dn_tensor_plane(dx, n, 0) + p0,
			            (int)hw);
		}
	}
	if (direct)
		dn_direct_transposed(l, dy, dx, dcol);
}
