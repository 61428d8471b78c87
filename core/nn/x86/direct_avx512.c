/*
 * direct_avx512.c — the AVX-512 kernel of core/nn/direct.c: a 3x3
 * convolution computed straight from the input rows, for the layers whose
 * GEMMs are too thin for im2col + sgemm or Winograd to run near peak (the
 * full-resolution ones, 16 to 48 channels, measured in bench/bench_conv).
 *
 * Register blocking: 8 output channels x 48 output pixels of one row (3
 * vectors of 16) stay in 24 accumulators while the loop runs over the input
 * channels and the 9 taps; each step loads 3 input vectors (shifted by the
 * tap, masked at the image's edges so that the zero padding costs nothing
 * and nothing is read outside a row) and broadcasts 8 weights, for 24 FMAs:
 * FMA-bound rather than load-bound. Bias and ReLU are applied at the store.
 *
 * Compiled for AVX-512F by a function attribute, not a build flag: the rest
 * of the library stays portable, and direct.c calls this only where cpuid
 * says the CPU has AVX-512F (dn_direct_available).
 */
#include <stddef.h>

#include "core/nn/direct.h"

#if DN_DIRECT_X86

#include <immintrin.h>

#include "core/nn/x86/lanes.h"

#define CB 8 /* output channels per block (the weights' inner dimension) */
#define PV 3 /* vectors of 16 pixels per block */


/* acc = 0 for the block's 8 rows and pv vectors. */
__attribute__((target("avx512f"), always_inline)) static inline void zero8(__m512 acc[CB][PV], const int pv)
{
#pragma GCC unroll 8
	for (int c = 0; c < CB; c++)
#pragma GCC unroll 3
		for (int p = 0; p < pv; p++)
			acc[c][p] = _mm512_setzero_ps();
}

/* acc[c][p] += a[c] · v[p] for the block's 8 output rows and pv vectors:
 * the step both kernels below are made of. */
__attribute__((target("avx512f"), always_inline)) static inline void
fma8(__m512 acc[CB][PV], const __m512 *v, const float *restrict a, const int pv)
{
#pragma GCC unroll 8
	for (int c = 0; c < CB; c++) {
		const __m512 s = _mm512_set1_ps(a[c]);
#pragma GCC unroll 3
		for (int p = 0; p < pv; p++)
			acc[c][p] = _mm512_fmadd_ps(s, v[p], acc[c][p]);
	}
}

/* One block of output row oh: channels [8b, 8b + 8) x pixels [ow0, ow0 + 16 pv).
 * Inlined with pv = 1, 2, 3 so that every loop over the vectors unrolls, and
 * with edge saying which of its ends read past the row: bit 0 its first
 * vector (left edge), bit 1 its last (right edge). Only those vectors' loads
 * are masked, the others plain (masking every load cost 10% of the kernel's
 * speed, 83 -> 74 GFLOP/s on the 48-channel layer). */
__attribute__((target("avx512f"), always_inline)) static inline void
block(const float *restrict x, int cin, int h, int w, int pw, const float *restrict wt,
      const float *restrict bias, int cout, int relu, float *restrict y, size_t ys, int oh, int ow0,
      const int pv, const int edge)
{
	const size_t hw = (size_t)h * w;
	const int nb = (cout + CB - 1) / CB;
	const int kh0 = oh == 0 ? 1 : 0, kh1 = oh + 1 < h ? 3 : 2;
	const __m512 zero = _mm512_setzero_ps();
	__mmask16 lm[3][PV], sm[PV];
	for (int p = 0; p < pv; p++) {
		for (int kw = 0; kw < 3; kw++)
			lm[kw][p] = dn_lanes16(ow0 + 16 * p + kw - pw, w);
		sm[p] = dn_lanes16(ow0 + 16 * p, w);
	}
	for (int b = 0; b < nb; b++) {
		__m512 acc[CB][PV];
		zero8(acc, pv);
		const float *wb = wt + (size_t)b * cin * 9 * CB;
		for (int ci = 0; ci < cin; ci++) {
			const float *xc = x + (size_t)ci * hw;
			for (int kh = kh0; kh < kh1; kh++) {
				const float *row = xc + (size_t)(oh + kh - 1) * w + ow0 - pw;
				const float *wk = wb + ((size_t)ci * 9 + kh * 3) * CB;
#pragma GCC unroll 3
				for (int kw = 0; kw < 3; kw++) {
					__m512 v[PV];
#pragma GCC unroll 3
					for (int p = 0; p < pv; p++)
						v[p] =
						    ((edge & 1) && p == 0) || ((edge & 2) && p == pv - 1)
						        ? _mm512_maskz_loadu_ps(lm[kw][p], row + kw + 16 * p)
						        : _mm512_loadu_ps(row + kw + 16 * p);
					fma8(acc, v, wk + kw * CB, pv);
				}
			}
		}
		const int nc = cout - b * CB < CB ? cout - b * CB : CB;
		/* Unrolled with a test rather than bounded by nc, so that acc stays
		 * in registers (a variable index would put it on the stack). */
#pragma GCC unroll 8
		for (int c = 0; c < CB; c++) {
			if (c >= nc)
				continue;
			const int co = b * CB + c;
			const __m512 bv = _mm512_set1_ps(bias[co]);
			float *yr = y + (size_t)co * ys + ow0;
#pragma GCC unroll 3
			for (int p = 0; p < pv; p++) {
				__m512 r = _mm512_add_ps(acc[c][p], bv);
				if (relu)
					r = _mm512_max_ps(r, zero);
				_mm512_mask_storeu_ps(yr + 16 * p, sm[p], r);
			}
		}
	}
}

__attribute__((target("avx512f"))) void dn_direct3_rows_avx512(const float *restrict x, int cin, int h, int w,
                                                               int pw, const float *restrict wt,
                                                               const float *restrict bias, int cout, int relu,
                                                               float *restrict y, size_t ys, int r0, int r1)
{
	for (int oh = r0; oh < r1; oh++) {
		float *yrow = y + (size_t)(oh - r0) * w;
		/* Vectors of the row in blocks of 3, the last 4 (if any) as 2 + 2:
		 * a block of 1 reloads the weights for 8 FMAs only. */
		int nv = (w + 15) / 16, ow0 = 0;
		while (nv > 0) {
			const int pv = nv >= 3 ? (nv == 4 ? 2 : 3) : nv;
			/* Columns the block's taps read: ow0 − pw .. ow0 − pw + 16 pv + 1. */
			const int edge = (ow0 - pw < 0) | (ow0 - pw + 16 * pv + 2 > w) << 1;
			switch (pv * 4 + edge) {
#define DN_BLOCK(pv_, edge_)                                                                                 \
	case pv_ * 4 + edge_:                                                                                \
		block(x, cin, h, w, pw, wt, bias, cout, relu, yrow, ys, oh, ow0, pv_, edge_);                \
		break;
				DN_BLOCK(1, 0)
				DN_BLOCK(1, 1)
				DN_BLOCK(1, 2)
				DN_BLOCK(1, 3)
				DN_BLOCK(2, 0)
				DN_BLOCK(2, 1)
				DN_BLOCK(2, 2)
				DN_BLOCK(2, 3)
				DN_BLOCK(3, 0)
				DN_BLOCK(3, 1)
				DN_BLOCK(3, 2)
				DN_BLOCK(3, 3)
#undef DN_BLOCK
			}
			nv -= pv;
			ow0 += 16 * pv;
		}
	}
}

/* One block of C = A·B: rows [8b, 8b + 8) x columns [n0, n0 + 16 pv), the
 * last vector masked by tail (all ones where the block ends before n). */
__attribute__((target("avx512f"), always_inline)) static inline void
gemm_block(int m, int k, const float *restrict ap, const float *restrict b, int ldb, float *restrict c,
           int ldc, int n0, __mmask16 tail, const int pv)
{
	const int nb = (m + CB - 1) / CB;
	for (int blk = 0; blk < nb; blk++) {
		__m512 acc[CB][PV];
		zero8(acc, pv);
		const float *a = ap + (size_t)blk * k * CB;
		const float *bp = b + n0;
		for (int i = 0; i < k; i++, bp += ldb, a += CB) {
			__m512 v[PV];
#pragma GCC unroll 3
			for (int p = 0; p < pv; p++)
				v[p] = p == pv - 1 ? _mm512_maskz_loadu_ps(tail, bp + 16 * p)
				                   : _mm512_loadu_ps(bp + 16 * p);
			fma8(acc, v, a, pv);
		}
		const int nr = m - blk * CB < CB ? m - blk * CB : CB;
#pragma GCC unroll 8
		for (int r = 0; r < CB; r++) {
			if (r >= nr)
				continue;
			float *cr = c + (size_t)(blk * CB + r) * ldc + n0;
#pragma GCC unroll 3
			for (int p = 0; p < pv; p++)
				_mm512_mask_storeu_ps(cr + 16 * p, p == pv - 1 ? tail : (__mmask16)0xffff,
				                      acc[r][p]);
		}
	}
}

__attribute__((target("avx512f"))) void dn_gemm8_avx512(int m, int n, int k, const float *restrict ap,
                                                        const float *restrict b, int ldb, float *restrict c,
                                                        int ldc)
{
	int nv = (n + 15) / 16, n0 = 0;
	while (nv > 0) {
		const int pv = nv >= 3 ? (nv == 4 ? 2 : 3) : nv;
		const __mmask16 tail = dn_lanes16(n0 + 16 * (pv - 1), n);
		if (pv == 3)
			gemm_block(m, k, ap, b, ldb, c, ldc, n0, tail, 3);
		else if (pv == 2)
			gemm_block(m, k, ap, b, ldb, c, ldc, n0, tail, 2);
		else
			gemm_block(m, k, ap, b, ldb, c, ldc, n0, tail, 1);
		nv -= pv;
		n0 += 16 * pv;
	}
}

#endif
