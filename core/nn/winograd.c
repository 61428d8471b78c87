/*
 * winograd.c — 3x3 same-padded convolution by Winograd's minimal filtering
 * F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016), for the inference path.
 *
 * Each 2x2 output tile comes from a 4x4 input patch d: Y = Aᵀ[(G g Gᵀ) ⊙
 * (Bᵀ d B)]A. Over channels the ⊙ becomes 16 independent matrix products,
 * M[ξ] (cout x tiles) = U[ξ] (cout x cin) · V[ξ] (cin x tiles), one sgemm each,
 * with 16·cin·cout multiply-adds per tile where im2col + sgemm needs 36·cin·cout:
 * 2.25x fewer. U = G g Gᵀ is computed once per model (dn_winograd_weights);
 * V and M are built for a block of tiles at a time in the caller's scratch,
 * sized to stay in cache. Bias and ReLU are applied in the output transform.
 *
 * The transforms add rounding of the order of a few float ulps times the
 * patch's magnitude; the PyTorch parity test's tolerance covers it.
 */
#include <cblas.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/nn/direct.h"
#include "core/nn/layers.h"

/* Floats of V and M per tile: 16 transformed values per channel. */
#define WG_T 16

/* Tiles per block: about 1 M floats (4 MB) of V and M together. */
#define WG_BLOCK_FLOATS ((size_t)1 << 20)

size_t dn_winograd_weight_floats(const dn_conv2d *l)
{
	return (size_t)WG_T * l->cout * l->cin;
}

/* r = G g Gᵀ for one (co, ci) pair: its 16 transformed weights. */
static void transform_weights(const float *restrict g, float r[4][4])
{
	float t[4][3];
	/* t = G g, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1] */
	for (int j = 0; j < 3; j++) {
		t[0][j] = g[j];
		t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
		t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
		t[3][j] = g[6 + j];
	}
	/* r = t Gᵀ */
	for (int i = 0; i < 4; i++) {
		r[i][0] = t[i][0];
		r[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
		r[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
		r[i][3] = t[i][2];
	}
}

void dn_winograd_weights(const dn_conv2d *l, float *u)
{
	const size_t plane = (size_t)l->cout * l->cin;
	for (int co = 0; co < l->cout; co++)
		for (int ci = 0; ci < l->cin; ci++) {
			float r[4][4];
			transform_weights(l->w + ((size_t)co * l->cin + ci) * 9, r);
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++)
					u[(size_t)(i * 4 + j) * plane + (size_t)co * l->cin + ci] = r[i][j];
		}
}

size_t dn_winograd_packed_floats(const dn_conv2d *l)
{
	return (size_t)WG_T * dn_gemm8_packed_floats(l->cout, l->cin);
}

void dn_winograd_weights_packed(const dn_conv2d *l, float *up)
{
	const size_t plane = dn_gemm8_packed_floats(l->cout, l->cin);
	memset(up, 0, WG_T * plane * sizeof *up);
	for (int co = 0; co < l->cout; co++)
		for (int ci = 0; ci < l->cin; ci++) {
			float r[4][4];
			transform_weights(l->w + ((size_t)co * l->cin + ci) * 9, r);
			/* dn_gemm8_pack's layout: [co / 8][ci][co % 8] */
			const size_t at = ((size_t)(co / 8) * l->cin + ci) * 8 + co % 8;
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++)
					up[(size_t)(i * 4 + j) * plane + at] = r[i][j];
		}
}

/*
 * The transforms work a tile row at a time with the columns split into even
 * and odd ones, so that every inner loop runs over consecutive tiles with
 * unit stride (loops GCC vectorises at -O2 when they come in fixed chunks).
 * For tile tx the patch columns 2tx−1, 2tx, 2tx+1, 2tx+2 are o[tx], e[tx],
 * o[tx+1], e[tx+1] with e[i] = column 2i and o[i] = column 2i−1 (zero
 * outside the image).
 */
#define CHUNK 8

/* Inner loops: d = a ⊕ b over n consecutive floats, in fixed chunks. */
#define WG_LOOP(n, body)                                                                                     \
	do {                                                                                                 \
		size_t i_ = 0;                                                                               \
		for (; i_ + CHUNK <= (n); i_ += CHUNK)                                                       \
			for (size_t k = i_; k < i_ + CHUNK; k++)                                             \
				body;                                                                        \
		for (size_t k = i_; k < (n); k++)                                                            \
			body;                                                                                \
	} while (0)

static inline __attribute__((always_inline)) void sub(float *restrict d, const float *restrict a,
                                                      const float *restrict b, size_t n)
{
	WG_LOOP(n, d[k] = a[k] - b[k]);
}

static inline __attribute__((always_inline)) void add(float *restrict d, const float *restrict a,
                                                      const float *restrict b, size_t n)
{
	WG_LOOP(n, d[k] = a[k] + b[k]);
}

/* Row y of channel plane xc split into e (tw + 1 floats) and o (tw + 1). */
static inline __attribute__((always_inline)) void split_row(const float *restrict xc, int h, int w, int y,
                                                            int tw, float *restrict e, float *restrict o)
{
	if (y < 0 || y >= h) {
		memset(e, 0, (size_t)(tw + 1) * sizeof *e);
		memset(o, 0, (size_t)(tw + 1) * sizeof *o);
		return;
	}
	const float *r = xc + (size_t)y * w;
	/* e[i] = r[2i], o[i] = r[2i − 1] where inside the row: without tests
	 * (and so vectorised, as a deinterleave) for i in [1, (w − 1) / 2], the
	 * ends by the general rule. */
	const int last = (w - 1) / 2;
	e[0] = r[0];
	o[0] = 0.0f;
	int i = 1;
	for (; i + 8 <= last + 1; i += 8)
		for (int j = 0; j < 8; j++) {
			e[i + j] = r[2 * (i + j)];
			o[i + j] = r[2 * (i + j) - 1];
		}
	for (; i <= tw; i++) {
		e[i] = 2 * i < w ? r[2 * i] : 0.0f;
		o[i] = 2 * i - 1 < w ? r[2 * i - 1] : 0.0f;
	}
}

/* One tile row ty of channel plane xc into V: plane ξ = 4i + j, tiles at v
 * (consecutive), planes vplane apart. tmp holds 16·(tw + 1) floats. */
DN_CLONES static void input_transform_row(const float *restrict xc, int h, int w, int tw, int ty,
                                          float *restrict v, size_t vplane, float *restrict tmp)
{
	const size_t n1 = (size_t)tw + 1;
	float *re[4], *ro[4], *se[4], *so[4];
	for (int r = 0; r < 4; r++) {
		re[r] = tmp + (2 * r) * n1;
		ro[r] = tmp + (2 * r + 1) * n1;
		se[r] = tmp + (8 + 2 * r) * n1;
		so[r] = tmp + (9 + 2 * r) * n1;
		split_row(xc, h, w, 2 * ty - 1 + r, tw, re[r], ro[r]);
	}
	/* s = Bᵀ d over rows, for even and odd columns alike. */
	sub(se[0], re[0], re[2], n1);
	add(se[1], re[1], re[2], n1);
	sub(se[2], re[2], re[1], n1);
	sub(se[3], re[1], re[3], n1);
	sub(so[0], ro[0], ro[2], n1);
	add(so[1], ro[1], ro[2], n1);
	sub(so[2], ro[2], ro[1], n1);
	sub(so[3], ro[1], ro[3], n1);
	/* V = s B over columns: c0 − c2, c1 + c2, c2 − c1, c1 − c3. */
	const size_t n = (size_t)tw;
	for (int i = 0; i < 4; i++) {
		float *vi = v + (size_t)(4 * i) * vplane;
		sub(vi, so[i], so[i] + 1, n);
		add(vi + vplane, se[i], so[i] + 1, n);
		sub(vi + 2 * vplane, so[i] + 1, se[i], n);
		sub(vi + 3 * vplane, se[i], se[i] + 1, n);
	}
}

/* One tile row ty of output channel plane yc from M (plane ξ at m + ξ·mplane,
 * tiles consecutive), Aᵀ = [1 1 1 0; 0 1 −1 −1], plus bias and ReLU. tmp
 * holds 12·tw floats. */
DN_CLONES static void output_transform_row(const float *restrict m, size_t mplane, float bias, int relu,
                                           int h, int w, int tw, int ty, float *restrict yc,
                                           float *restrict tmp)
{
	const size_t n = (size_t)tw;
	float *s[2][4], *r[2];
	for (int j = 0; j < 4; j++) {
		s[0][j] = tmp + (size_t)j * n;
		s[1][j] = tmp + (size_t)(4 + j) * n;
	}
	r[0] = tmp + 8 * n;
	r[1] = tmp + 9 * n;
	float *t = tmp + 10 * n;
	for (int j = 0; j < 4; j++) {
		const float *q0 = m + (size_t)j * mplane, *q1 = q0 + 4 * mplane, *q2 = q1 + 4 * mplane,
		            *q3 = q2 + 4 * mplane;
		add(t, q0, q1, n);
		add(s[0][j], t, q2, n);
		sub(t, q1, q2, n);
		sub(s[1][j], t, q3, n);
	}
	for (int i = 0; i < 2 && 2 * ty + i < h; i++) {
		add(t, s[i][0], s[i][1], n);
		add(r[0], t, s[i][2], n);
		sub(t, s[i][1], s[i][2], n);
		sub(r[1], t, s[i][3], n);
		float *row = yc + (size_t)(2 * ty + i) * w;
		for (int tx = 0; tx < tw; tx++) {
			float a = r[0][tx] + bias, b = r[1][tx] + bias;
			if (relu) {
				a = a > 0.0f ? a : 0.0f;
				b = b > 0.0f ? b : 0.0f;
			}
			row[2 * tx] = a;
			if (2 * tx + 1 < w)
				row[2 * tx + 1] = b;
		}
	}
}

/* The 16 planes of V (and of M) are staggered by WG_SKEW floats: planes a
 * power-of-two multiple of 4 KB apart would all fall in the same cache sets,
 * and the transforms touch all 16 at once. */
#define WG_SKEW 16

/* Transform scratch: 16·(tw + 1) floats, rounded to keep alignment. */
static size_t tmp_floats(int w)
{
	return ((size_t)16 * ((w + 1) / 2 + 1) + 15) / 16 * 16;
}

size_t dn_winograd_min_scratch(const dn_conv2d *l, int w)
{
	const size_t tw = (size_t)(w + 1) / 2;
	return (size_t)WG_T * (l->cin + l->cout) * tw + 2 * WG_T * WG_SKEW + tmp_floats(w);
}

/* The calling thread's OpenMP team size, and its index in a team. */
static int team_size(void)
{
#ifdef _OPENMP
	return omp_get_max_threads();
#else
	return 1;
#endif
}

static int team_index(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

void dn_winograd_forward(const dn_conv2d *l, const float *u, int packed, const dn_tensor *x, dn_tensor *y,
                         int relu, float *scratch, size_t cap)
{
	const int h = x->h, w = x->w, th = (h + 1) / 2, tw = (w + 1) / 2;
	const size_t row_floats = (size_t)WG_T * (l->cin + l->cout) * tw, tmpf = tmp_floats(w);
	/* The transforms' channels (and the packed GEMMs' planes) are shared
	 * among the OpenMP threads, each with its own transform scratch, when
	 * the scratch holds one per thread; the sgemm path leaves its GEMMs to
	 * OpenBLAS. Every output is computed the same way whatever the count. */
	int nthr = team_size();
	if (nthr > 1 && cap < dn_winograd_min_scratch(l, w) + (size_t)(nthr - 1) * tmpf)
		nthr = 1;
	const size_t tmps = (size_t)nthr * tmpf;
	const size_t budget = (cap < WG_BLOCK_FLOATS + tmps ? cap : WG_BLOCK_FLOATS + tmps);
	const size_t fixed = 2 * WG_T * WG_SKEW + tmps;
	/* Whole tile rows per block: as many as the budget holds, at least one
	 * (which the caller's cap, >= dn_winograd_min_scratch, guarantees). */
	int rows = budget > fixed + row_floats ? (int)((budget - fixed) / row_floats) : 1;
	if (rows > th)
		rows = th;
	const size_t plane = (size_t)l->cout * l->cin, hw = (size_t)h * w;
	const size_t pplane = dn_gemm8_packed_floats(l->cout, l->cin);
	for (int n = 0; n < x->n; n++) {
		for (int ty0 = 0; ty0 < th; ty0 += rows) {
			const int ty1 = ty0 + rows < th ? ty0 + rows : th;
			const size_t nt = (size_t)(ty1 - ty0) * tw;
			/* Plane ξ of V is cin x nt (row-major), of M cout x nt. */
			const size_t vplane = (size_t)l->cin * nt + WG_SKEW,
			             mplane = (size_t)l->cout * nt + WG_SKEW;
			float *v = scratch + tmps, *m = v + WG_T * vplane;
#pragma omp parallel for num_threads(nthr) schedule(static) if (nthr > 1)
			for (int ci = 0; ci < l->cin; ci++) {
				float *tmp = scratch + (size_t)team_index() * tmpf;
				for (int ty = ty0; ty < ty1; ty++)
					input_transform_row(dn_tensor_plane(x, n, ci), h, w, tw, ty,
					                    v + (size_t)ci * nt + (size_t)(ty - ty0) * tw,
					                    vplane, tmp);
			}
			if (packed) {
#pragma omp parallel for num_threads(nthr) schedule(static) if (nthr > 1)
				for (int k = 0; k < WG_T; k++)
					dn_gemm8_avx512(l->cout, (int)nt, l->cin, u + (size_t)k * pplane,
					                v + k * vplane, (int)nt, m + k * mplane, (int)nt);
			} else {
				for (int k = 0; k < WG_T; k++)
					cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->cout,
					            (int)nt, l->cin, 1.0f, u + (size_t)k * plane, l->cin,
					            v + k * vplane, (int)nt, 0.0f, m + k * mplane, (int)nt);
			}
#pragma omp parallel for num_threads(nthr) schedule(static) if (nthr > 1)
			for (int co = 0; co < l->cout; co++) {
				float *tmp = scratch + (size_t)team_index() * tmpf;
				for (int ty = ty0; ty < ty1; ty++)
					output_transform_row(m + (size_t)co * nt + (size_t)(ty - ty0) * tw,
					                     mplane, l->b[co], relu, h, w, tw, ty,
					                     dn_tensor_plane(y, n, 0) + (size_t)co * hw, tmp);
			}
		}
	}
}
