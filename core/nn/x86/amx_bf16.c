/*
 * amx_bf16.c — the kernels of core/nn/amx.c: the input's conversion to
 * bf16 channel pairs, and the tile loop of the 3x3 convolution.
 *
 * Tiles: C0-C3 hold 16 x 16 fp32 sums (output channels x pixels), A4-A5
 * the weights of 16 output channels x kb input channels, B6-B7 kb/2 input
 * pairs x 16 pixels. Where the layer has two or more blocks of 16 output
 * channels left, a step is 2 A x 2 B tiles (32 channels x 32 pixels),
 * else 1 A x 4 B (16 channels x 64 pixels); either way four TDPBF16PS per
 * 2-4 tile loads, all of which hit L1 or L2: the input is laid out
 * [row][pair][column], so a B tile's rows are one converted row apart.
 *
 * Compiled for AMX and AVX-512 by function attributes, not build flags;
 * amx.c calls these only where cpuid and the kernel say the CPU has them.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/nn/amx.h"

#if DN_HAVE_AMX

#include <immintrin.h>

#include "core/nn/x86/lanes.h"

#define AVX512 "avx512f,avx512bw"
#define AMX    "amx-tile,amx-bf16,avx512f,avx512bw"


/* The top 16 bits of x rounded to nearest even, in the low 16 bits of each
 * lane (the bf16 of x; NaNs are not expected here). */
__attribute__((target(AVX512))) static inline __m512i bf16_bits(__m512 x)
{
	const __m512i u = _mm512_castps_si512(x);
	const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
	return _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)), 16);
}

/* 16 input columns base.. of a row of the virtual input whose values come
 * from a row of a tensor fw times narrower (nearest upsampling; fw 1 or 2),
 * zero outside [0, w): a load of the narrow row and a permutation. */
__attribute__((target(AVX512))) static inline __m512 load_up(const float *row, int base, int up_w, int fw,
                                                              __mmask16 in)
{
	if (fw == 1)
		return _mm512_maskz_loadu_ps(in, row + base);
	static const int even[16] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7};
	static const int odd[16] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8};
	const int l = base >> 1; /* floor(base / 2), base >= -2 */
	const __m512 v = _mm512_maskz_loadu_ps(dn_lanes16(l, up_w), row + l);
	const __m512i idx = _mm512_loadu_si512(base & 1 ? odd : even);
	return _mm512_maskz_permutexvar_ps(in, idx, v);
}

/* One input channel's 16 columns base.. at image row ir. */
__attribute__((target(AVX512))) static inline __m512 load_ch(const dn_amx_src *s, int c, int h, int w, int ir,
                                                              int base, __mmask16 in)
{
	if (c < s->up_c)
		return load_up(s->up + ((size_t)c * s->up_h + ir / 2) * s->up_w, base, s->up_w, s->up_fw, in);
	if (c < s->up_c + s->x_c)
		return _mm512_maskz_loadu_ps(in, s->x + ((size_t)(c - s->up_c) * h + ir) * w + base);
	return _mm512_setzero_ps();
}

/* Rows [p0, p1) of the converted image (h + 2 rows, the first and last
 * zero): word (r, p, j) = bf16 pair (x[2p][r − 1][j − pw], x[2p + 1][...]),
 * zero outside the image and past the source's channels (up to cinp). */
__attribute__((target(AVX512))) void dn_amx_convert_rows(const dn_amx_src *src, int cinp, int h, int w, int pw,
                                                         int wq, unsigned *xb, int p0, int p1)
{
	const int cp = cinp / 2, cin = src->up_c + src->x_c;
	/* Channel pairs outside, rows inside: each pair's rows are read in
	 * order from two planes, which the prefetchers follow; with rows
	 * outside, every row touched every plane, and the conversion was the
	 * largest cost after the tiles (perf, speech model). */
	for (int p = 0; p < cp; p++) {
		for (int r = p0; r < p1; r++) {
			unsigned *out = xb + ((size_t)r * cp + p) * wq;
			if (r == 0 || r == h + 1 || 2 * p >= cin) {
				memset(out, 0, (size_t)wq * sizeof *out);
				continue;
			}
			for (int j = 0; j < wq; j += 16) {
				const int base = j - pw;
				const __mmask16 in = dn_lanes16(base, w), st = dn_lanes16(j, wq);
				/* The masked loads read only columns inside the rows. */
				const __m512 a = load_ch(src, 2 * p, h, w, r - 1, base, in);
				const __m512 b = load_ch(src, 2 * p + 1, h, w, r - 1, base, in);
				const __m512i v = _mm512_or_si512(bf16_bits(a), _mm512_slli_epi32(bf16_bits(b), 16));
				_mm512_mask_storeu_epi32(out + j, st, v);
			}
		}
	}
}

/* The tile shapes of a layer whose steps are kb input channels deep. */
struct tilecfg {
	uint8_t palette, start_row;
	uint8_t reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

__attribute__((target(AMX))) static void configure(int kb)
{
	struct tilecfg t;
	memset(&t, 0, sizeof t);
	t.palette = 1;
	for (int i = 0; i < 4; i++) {
		t.rows[i] = 16;
		t.colsb[i] = 64;
	}
	for (int i = 4; i < 6; i++) {
		t.rows[i] = 16;
		t.colsb[i] = (uint16_t)(kb * 2);
	}
	for (int i = 6; i < 8; i++) {
		t.rows[i] = (uint8_t)(kb / 2);
		t.colsb[i] = 64;
	}
	_tile_loadconfig(&t);
}

/* Writes a 16 x 16 block of sums (channels co0.., pixels x0.. of output
 * row oh, the r-th of the call) with ReLU, clipped at cout and w: as
 * floats to o->y, or as the next unit's converted input to o->yb. */
__attribute__((target(AVX512))) static void put(const float *sums, const dn_amx_out *o, int oh, int r, int cout,
                                                int w, int co0, int x0, int relu)
{
	const __mmask16 m = dn_lanes16(x0, w);
	const int n = cout - co0 < 16 ? cout - co0 : 16;
	const __m512 zero = _mm512_setzero_ps();
	if (o->yb) {
		unsigned *row = o->yb + ((size_t)(oh + 1) * o->ycp + co0 / 2) * o->ywq + o->ypw + x0;
		for (int i = 0; i < n; i += 2) {
			__m512 a = _mm512_loadu_ps(sums + 16 * i);
			__m512 b = i + 1 < n ? _mm512_loadu_ps(sums + 16 * (i + 1)) : zero;
			if (relu) {
				a = _mm512_max_ps(a, zero);
				b = _mm512_max_ps(b, zero);
			}
			const __m512i v = _mm512_or_si512(bf16_bits(a), _mm512_slli_epi32(bf16_bits(b), 16));
			_mm512_mask_storeu_epi32(row + (size_t)(i / 2) * o->ywq, m, v);
		}
		return;
	}
	float *yrow = o->y + (size_t)r * w;
	for (int i = 0; i < n; i++) {
		__m512 v = _mm512_loadu_ps(sums + 16 * i);
		if (relu)
			v = _mm512_max_ps(v, zero);
		_mm512_mask_storeu_ps(yrow + (size_t)(co0 + i) * o->ys + x0, m, v);
	}
}

/* Weights are wt[blk][tap][pb][16][kb] bf16, then a bias tile per block. */
#define A_TILE(blk, tap, pb) ((const char *)wt + ((((size_t)(blk) * 9 + (tap)) * npb + (pb)) * 16 * kb) * 2)

__attribute__((target(AMX))) void dn_amx_rows(const unsigned *xb, int cinp, int kb, int w, int wq,
                                              const float *wt, int cout, int relu, const dn_amx_out *o, int r0,
                                              int r1)
{
	const int npb = cinp / kb, cp = cinp / 2, nblk = (cout + 15) / 16, nx = (w + 15) / 16;
	const float *bias = (const float *)A_TILE(nblk, 0, 0);
	const size_t bstride = (size_t)wq * 4; /* one pair to the next, in bytes */
	float sums[4][256] __attribute__((aligned(64)));

	configure(kb);
	for (int oh = r0; oh < r1; oh++) {
		for (int blk = 0; blk < nblk;) {
			const int two = nblk - blk >= 2;
			const int xstep = two ? 2 : 4;
			for (int xt = 0; xt < nx; xt += xstep) {
				const int nt = nx - xt < xstep ? nx - xt : xstep;
				const int x0 = 16 * xt;
				const float *b0 = bias + (size_t)blk * 256;
				if (two) {
					_tile_loadd(0, b0, 64);
					_tile_loadd(2, b0 + 256, 64);
					if (nt > 1) {
						_tile_loadd(1, b0, 64);
						_tile_loadd(3, b0 + 256, 64);
					}
				} else {
					_tile_loadd(0, b0, 64);
					if (nt > 1)
						_tile_loadd(1, b0, 64);
					if (nt > 2)
						_tile_loadd(2, b0, 64);
					if (nt > 3)
						_tile_loadd(3, b0, 64);
				}
				for (int dy = 0; dy < 3; dy++)
					for (int dx = 0; dx < 3; dx++) {
						const int tap = dy * 3 + dx;
						const unsigned *src = xb + (size_t)(oh + dy) * cp * wq + x0 + dx;
						for (int pb = 0; pb < npb; pb++, src += (size_t)(kb / 2) * wq) {
							if (two) {
								_tile_loadd(4, A_TILE(blk, tap, pb), kb * 2);
								_tile_loadd(5, A_TILE(blk + 1, tap, pb), kb * 2);
								_tile_loadd(6, src, bstride);
								_tile_dpbf16ps(0, 4, 6);
								_tile_dpbf16ps(2, 5, 6);
								if (nt > 1) {
									_tile_loadd(7, src + 16, bstride);
									_tile_dpbf16ps(1, 4, 7);
									_tile_dpbf16ps(3, 5, 7);
								}
							} else {
								_tile_loadd(4, A_TILE(blk, tap, pb), kb * 2);
								_tile_loadd(6, src, bstride);
								_tile_dpbf16ps(0, 4, 6);
								if (nt > 1) {
									_tile_loadd(7, src + 16, bstride);
									_tile_dpbf16ps(1, 4, 7);
								}
								if (nt > 2) {
									_tile_loadd(6, src + 32, bstride);
									_tile_dpbf16ps(2, 4, 6);
								}
								if (nt > 3) {
									_tile_loadd(7, src + 48, bstride);
									_tile_dpbf16ps(3, 4, 7);
								}
							}
						}
					}
				if (two) {
					_tile_stored(0, sums[0], 64);
					_tile_stored(2, sums[2], 64);
					put(sums[0], o, oh, oh - r0, cout, w, 16 * blk, x0, relu);
					put(sums[2], o, oh, oh - r0, cout, w, 16 * blk + 16, x0, relu);
					if (nt > 1) {
						_tile_stored(1, sums[1], 64);
						_tile_stored(3, sums[3], 64);
						put(sums[1], o, oh, oh - r0, cout, w, 16 * blk, x0 + 16, relu);
						put(sums[3], o, oh, oh - r0, cout, w, 16 * blk + 16, x0 + 16, relu);
					}
				} else {
					_tile_stored(0, sums[0], 64);
					put(sums[0], o, oh, oh - r0, cout, w, 16 * blk, x0, relu);
					if (nt > 1) {
						_tile_stored(1, sums[1], 64);
						put(sums[1], o, oh, oh - r0, cout, w, 16 * blk, x0 + 16, relu);
					}
					if (nt > 2) {
						_tile_stored(2, sums[2], 64);
						put(sums[2], o, oh, oh - r0, cout, w, 16 * blk, x0 + 32, relu);
					}
					if (nt > 3) {
						_tile_stored(3, sums[3], 64);
						put(sums[3], o, oh, oh - r0, cout, w, 16 * blk, x0 + 48, relu);
					}
				}
			}
			blk += two ? 2 : 1;
		}
	}
	_tile_release();
}

#else

void dn_amx_convert_rows(const dn_amx_src *src, int cinp, int h, int w, int pw, int wq, unsigned *xb, int p0,
                         int p1)
{
	(void)src, (void)cinp, (void)h, (void)w, (void)pw, (void)wq, (void)xb, (void)p0, (void)p1;
}

void dn_amx_rows(const unsigned *xb, int cinp, int kb, int w, int wq, const float *wt, int cout, int relu,
                 const dn_amx_out *o, int r0, int r1)
{
	(void)xb, (void)cinp, (void)kb, (void)w, (void)wq, (void)wt, (void)cout, (void)relu, (void)o,
	    (void)r0, (void)r1;
}

#endif
