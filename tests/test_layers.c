/*
 * test_layers.c — every layer kind: forward against a direct computation
 * where one is simple, backward against finite differences.
 *
 * Each check uses the loss L = Σ r·y with fixed random r, so dL/dy = r.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/nn/amx.h"
#include "core/nn/direct.h"
#include "core/nn/layers.h"
#include "tests/check.h"
#include "tests/gradcheck.h"

static unsigned long long seed = 12345;

static double dot(const float *a, const float *b, size_t n)
{
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* ---- conv2d ---- */
struct conv_ctx {
	dn_conv2d l;
	dn_tensor x, y, r;
	float *col;
	size_t cap;
};

static double conv_loss(void *p)
{
	struct conv_ctx *c = p;
	dn_conv2d_forward(&c->l, &c->x, &c->y, 0, c->col, c->cap);
	return dot(c->y.data, c->r.data, dn_tensor_size(&c->y));
}

/* cap_extra pixels beyond whole rows make blocks start and end mid-row. */
static void test_conv(int k, int cap_rows, int cap_extra, int causal)
{
	struct conv_ctx c = {0};
	const int n = 2, cin = 3, cout = 4, h = 5, w = 7;
	c.l = (dn_conv2d){.cin = cin, .cout = cout, .k = k, .causal = causal};
	/* the zero columns before the first one an output reads */
	const int pw = causal ? k - 1 : k / 2;
	size_t kdim = (size_t)cin * k * k;
	float *buf = dn_alloc((2 * cout * kdim + 2 * cout) * sizeof(float));
	c.l.w = buf;
	c.l.dw = buf + cout * kdim;
	c.l.b = buf + 2 * cout * kdim;
	c.l.db = c.l.b + cout;
	gc_fill(c.l.w, cout * kdim, &seed, -1, 1);
	gc_fill(c.l.b, cout, &seed, -1, 1);
	dn_tensor_init(&c.x, n, cin, h, w, NULL);
	dn_tensor_init(&c.y, n, cout, h, w, NULL);
	dn_tensor_init(&c.r, n, cout, h, w, NULL);
	gc_fill(c.x.data, dn_tensor_size(&c.x), &seed, -1, 1);
	gc_fill(c.r.data, dn_tensor_size(&c.r), &seed, -1, 1);
	/* A scratch of `cap_rows` image rows forces the blocked path. */
	c.cap = kdim * ((size_t)w * cap_rows + cap_extra);
	c.col = dn_alloc(c.cap * sizeof(float));
	float *dcol = dn_alloc(c.cap * sizeof(float));

	/* Forward against the direct definition. */
	dn_conv2d_forward(&c.l, &c.x, &c.y, 0, c.col, c.cap);
	double worst = 0.0;
	for (int b = 0; b < n; b++)
		for (int co = 0; co < cout; co++)
			for (int i = 0; i < h; i++)
				for (int j = 0; j < w; j++) {
					double s = c.l.b[co];
					for (int ci = 0; ci < cin; ci++)
						for (int a = 0; a < k; a++)
							for (int e = 0; e < k; e++) {
								int ii = i + a - k / 2, jj = j + e - pw;
								if (ii < 0 || ii >= h || jj < 0 || jj >= w)
									continue;
								s +=
								    (double)
								        c.l.w[((co * cin + ci) * k + a) * k +
								              e] *
								    dn_tensor_plane(&c.x, b, ci)[ii * w + jj];
							}
					double d = fabs(s - dn_tensor_plane(&c.y, b, co)[i * w + j]);
					if (d > worst)
						worst = d;
				}
	CHECK_MSG(worst < 1e-5, "conv%d%s forward differs from direct convolution by %g", k,
	          causal ? " causal" : "", worst);
	if (causal) {
		/* The streaming form: each column from a window of the k latest
		 * input columns (zeros before the first) gives that column. */
		float *win = calloc((size_t)cin * h * k, sizeof(float)), *yc = malloc((size_t)cout * h * 4);
		float *fcol = dn_alloc(dn_conv2d_frame_scratch(&c.l, h) * sizeof(float));
		double fw = 0.0;
		for (int b = 0; b < n; b++)
			for (int t = 0; t < w; t++) {
				for (int ci = 0; ci < cin; ci++)
					for (int i = 0; i < h; i++)
						for (int e = 0; e < k; e++) {
							int jj = t - (k - 1) + e;
							win[((size_t)ci * k + e) * h + i] =
							    jj >= 0 ? dn_tensor_plane(&c.x, b, ci)[i * w + jj]
							            : 0.0f;
						}
				dn_conv2d_forward_frame(&c.l, win, h, yc, 0, fcol);
				for (int co = 0; co < cout; co++)
					for (int i = 0; i < h; i++)
						fw = fmax(fw, fabs(yc[co * h + i] -
						                   dn_tensor_plane(&c.y, b, co)[i * w + t]));
			}
		CHECK_MSG(fw < 1e-5, "conv%d frame form differs from the whole forward by %g", k, fw);
		free(win);
		free(yc);
		dn_free(fcol);
	}

	dn_tensor dx = {0};
	dn_tensor_init(&dx, n, cin, h, w, NULL);
	memset(c.l.dw, 0, (cout * kdim + cout) * sizeof(float));
	memset(c.l.db, 0, cout * sizeof(float));
	dn_conv2d_backward(&c.l, &c.x, &c.r, &dx, c.col, dcol, c.cap);
	char name[32];
	snprintf(name, sizeof name, "conv%d%s.dx", k, causal ? "c" : "");
	CHECK(gradcheck(name, conv_loss, &c, c.x.data, dx.data, dn_tensor_size(&c.x), 200, 1e-2f, 1e-3,
	                1e-3) == 0);
	snprintf(name, sizeof name, "conv%d%s.dw", k, causal ? "c" : "");
	CHECK(gradcheck(name, conv_loss, &c, c.l.w, c.l.dw, cout * kdim, 200, 1e-2f, 1e-3, 1e-3) == 0);
	snprintf(name, sizeof name, "conv%d%s.db", k, causal ? "c" : "");
	CHECK(gradcheck(name, conv_loss, &c, c.l.b, c.l.db, cout, 200, 1e-2f, 1e-3, 1e-3) == 0);
	dn_tensor_free(&dx);
	dn_tensor_free(&c.x);
	dn_tensor_free(&c.y);
	dn_tensor_free(&c.r);
	dn_free(c.col);
	dn_free(dcol);
	dn_free(buf);
}

/* ---- the inference paths against im2col + sgemm ---- */

/* A 3x3 convolution with weights, bias and input drawn from the shared
 * random stream (in that order), y poisoned with NaN so that a value left
 * unwritten shows, and ref = im2col + sgemm's output: what the faster paths
 * are checked against. */
struct conv_case {
	dn_conv2d l;
	float *buf;
	dn_tensor x, y, ref;
};

static void case_make(struct conv_case *c, int n, int h, int w, int cin, int cout, int causal, int relu)
{
	*c = (struct conv_case){.l = {.cin = cin, .cout = cout, .k = 3, .causal = causal}};
	c->buf = dn_alloc((cout * cin * 9 + cout) * sizeof(float));
	c->l.w = c->buf;
	c->l.b = c->buf + cout * cin * 9;
	gc_fill(c->l.w, cout * cin * 9, &seed, -1, 1);
	gc_fill(c->l.b, cout, &seed, -1, 1);
	dn_tensor_init(&c->x, n, cin, h, w, NULL);
	dn_tensor_init(&c->y, n, cout, h, w, NULL);
	dn_tensor_init(&c->ref, n, cout, h, w, NULL);
	gc_fill(c->x.data, dn_tensor_size(&c->x), &seed, -1, 1);
	for (size_t i = 0; i < dn_tensor_size(&c->y); i++)
		c->y.data[i] = NAN;
	size_t ccap = dn_conv2d_min_scratch(&c->l, w) * h;
	float *col = dn_alloc(ccap * sizeof(float));
	dn_conv2d_forward(&c->l, &c->x, &c->ref, relu, col, ccap);
	dn_free(col);
}

/* Largest |y − ref| (infinite where y is NaN). */
static double case_worst(const struct conv_case *c)
{
	double worst = 0.0;
	for (size_t i = 0; i < dn_tensor_size(&c->y); i++) {
		double d = fabs((double)c->y.data[i] - c->ref.data[i]);
		worst = d <= worst ? worst : (d == d ? d : INFINITY);
	}
	return worst;
}

static void case_free(struct conv_case *c)
{
	dn_tensor_free(&c->x);
	dn_tensor_free(&c->y);
	dn_tensor_free(&c->ref);
	dn_free(c->buf);
}

/* Winograd F(2x2, 3x3), its GEMMs by sgemm or (packed) by the direct
 * kernel's small GEMM. */
static void test_winograd(int h, int w, int relu, int extra_rows, int packed)
{
	const int cin = 5, cout = 3;
	struct conv_case c;
	case_make(&c, 2, h, w, cin, cout, 0, relu);
	float *u = dn_alloc((packed ? dn_winograd_packed_floats(&c.l) : dn_winograd_weight_floats(&c.l)) *
	                    sizeof(float));
	if (packed)
		dn_winograd_weights_packed(&c.l, u);
	else
		dn_winograd_weights(&c.l, u);
	/* The smallest scratch (one tile row per block), plus extra tile rows. */
	size_t cap =
	    dn_winograd_min_scratch(&c.l, w) + (size_t)extra_rows * 16 * (cin + cout) * ((w + 1) / 2);
	float *scratch = dn_alloc(cap * sizeof(float));
	dn_winograd_forward(&c.l, u, packed, &c.x, &c.y, relu, scratch, cap);
	double worst = case_worst(&c);
	CHECK_MSG(worst < 1e-5, "winograd %dx%d relu %d packed %d differs from im2col by %g", h, w, relu,
	          packed, worst);
	dn_free(scratch);
	dn_free(u);
	case_free(&c);
}

/* dn_gemm8_avx512 against a plain triple loop, at sizes that end its
 * 8-row and 16-column blocks everywhere; the same k products summed in
 * another order (in [−1, 1]: within 4·k·FLT_EPSILON). */
static void test_gemm8(int m, int n, int k)
{
	const int ldb = n + 3, ldc = n + 5;
	float *a = dn_alloc((size_t)m * k * sizeof(float)), *b = dn_alloc((size_t)k * ldb * sizeof(float));
	float *c = dn_alloc((size_t)m * ldc * sizeof(float));
	float *ap = dn_alloc(dn_gemm8_packed_floats(m, k) * sizeof(float));
	gc_fill(a, (size_t)m * k, &seed, -1, 1);
	gc_fill(b, (size_t)k * ldb, &seed, -1, 1);
	for (int i = 0; i < m * ldc; i++)
		c[i] = NAN;
	dn_gemm8_pack(a, m, k, ap);
	dn_gemm8_avx512(m, n, k, ap, b, ldb, c, ldc);
	double worst = 0.0;
	int untouched = 0;
	for (int i = 0; i < m; i++) {
		for (int j = 0; j < n; j++) {
			double s = 0.0;
			for (int t = 0; t < k; t++)
				s += (double)a[(size_t)i * k + t] * b[(size_t)t * ldb + j];
			double d = fabs(s - c[(size_t)i * ldc + j]);
			worst = d <= worst ? worst : (d == d ? d : INFINITY);
		}
		for (int j = n; j < ldc; j++)
			untouched += c[(size_t)i * ldc + j] != c[(size_t)i * ldc + j];
	}
	CHECK_MSG(worst <= 4.0 * k * FLT_EPSILON, "gemm8 %dx%dx%d differs from the plain product by %g", m, n,
	          k, worst);
	CHECK_MSG(untouched == m * (ldc - n), "gemm8 %dx%dx%d wrote past its n columns", m, n, k);
	dn_free(a);
	dn_free(b);
	dn_free(c);
	dn_free(ap);
}

/* The direct kernel (direct.h), at widths that end its 16-pixel vectors and
 * 1-3-vector blocks everywhere (1, 15, 17, 33, 50, 64, 65, 100), heights of
 * 1 and 2 (both padding rows at once), channel counts below, at and past
 * its 8-channel blocks, causal and not. Both sum the same cin·9 products of
 * inputs and weights in [−1, 1] in different orders, so they may differ by
 * a few ulps of that many terms: the bound allows 4·cin·9·FLT_EPSILON. */
static void test_direct(int h, int w, int cin, int cout, int causal, int relu)
{
	struct conv_case c;
	case_make(&c, 2, h, w, cin, cout, causal, relu);
	float *wt = dn_alloc(dn_direct_weight_floats(&c.l) * sizeof(float));
	dn_direct_weights(&c.l, wt);
	dn_direct_forward(&c.l, wt, &c.x, &c.y, relu);
	double worst = case_worst(&c);
	CHECK_MSG(worst <= 4.0 * cin * 9 * FLT_EPSILON,
	          "direct %dx%d cin %d cout %d causal %d relu %d differs from im2col by %g", h, w, cin, cout,
	          causal, relu, worst);
	dn_free(wt);
	case_free(&c);
}

/* x rounded to the nearest bf16 (ties to even), as a float. */
static float to_bf16(float x)
{
	unsigned u;
	memcpy(&u, &x, sizeof u);
	u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
	memcpy(&x, &u, sizeof x);
	return x;
}

/* The AMX kernel (amx.h) at the widths and channel counts that end its
 * 16-pixel tiles, 16- and 32-deep steps and 16-channel blocks everywhere.
 * With inputs and weights that bf16 holds exactly, it sums the same
 * products as im2col in another order: within 4·cin·9·FLT_EPSILON. With
 * any inputs, each product is off by at most 2·2⁻⁸ of its size (both
 * factors rounded), so the whole by cin·9·2⁻⁷ at most. */
static void test_amx(int h, int w, int cin, int cout, int causal, int relu, int exact)
{
	struct conv_case c;
	case_make(&c, 2, h, w, cin, cout, causal, relu);
	if (exact) {
		for (int i = 0; i < cout * cin * 9; i++)
			c.l.w[i] = to_bf16(c.l.w[i]);
		for (size_t i = 0; i < dn_tensor_size(&c.x); i++)
			c.x.data[i] = to_bf16(c.x.data[i]);
		size_t ccap = dn_conv2d_min_scratch(&c.l, w) * h;
		float *col = dn_alloc(ccap * sizeof(float));
		dn_conv2d_forward(&c.l, &c.x, &c.ref, relu, col, ccap);
		dn_free(col);
	}
	float *wt = dn_alloc(dn_amx_weight_floats(&c.l) * sizeof(float));
	float *scratch = dn_alloc(dn_amx_scratch_floats(&c.l, h, w) * sizeof(float));
	dn_amx_weights(&c.l, wt);
	dn_amx_forward(&c.l, wt, &c.x, &c.y, relu, scratch);
	double worst = case_worst(&c), bound = exact ? 4.0 * cin * 9 * FLT_EPSILON : cin * 9 / 128.0;
	CHECK_MSG(worst <= bound, "amx %dx%d cin %d cout %d causal %d relu %d exact %d differs from im2col by %g",
	          h, w, cin, cout, causal, relu, exact, worst);
	dn_free(scratch);
	dn_free(wt);
	case_free(&c);
}

/* The decoder's fused form (dn_amx_forward_cat) against upsampling,
 * concatenation and im2col done apart, on bf16-held values: within the
 * same 4·cin·9·FLT_EPSILON. fw is the width's upsampling factor. */
static void test_amx_cat(int lh, int lw, int fw, int clow, int cskip, int cout, int causal)
{
	const int h = 2 * lh, w = fw * lw, cin = clow + cskip;
	struct conv_case c;
	case_make(&c, 2, h, w, cin, cout, causal, 1);
	dn_tensor low = {0}, skip = {0};
	dn_tensor_init(&low, 2, clow, lh, lw, NULL);
	dn_tensor_init(&skip, 2, cskip, h, w, NULL);
	gc_fill(low.data, dn_tensor_size(&low), &seed, -1, 1);
	gc_fill(skip.data, dn_tensor_size(&skip), &seed, -1, 1);
	for (size_t i = 0; i < dn_tensor_size(&low); i++)
		low.data[i] = to_bf16(low.data[i]);
	for (size_t i = 0; i < dn_tensor_size(&skip); i++)
		skip.data[i] = to_bf16(skip.data[i]);
	for (int i = 0; i < cout * cin * 9; i++)
		c.l.w[i] = to_bf16(c.l.w[i]);
	dn_upsample_forward(&low, &c.x, 0);
	dn_concat_forward(&skip, &c.x, clow);
	size_t ccap = dn_conv2d_min_scratch(&c.l, w) * h;
	float *col = dn_alloc(ccap * sizeof(float));
	dn_conv2d_forward(&c.l, &c.x, &c.ref, 1, col, ccap);
	float *wt = dn_alloc(dn_amx_weight_floats(&c.l) * sizeof(float));
	float *scratch = dn_alloc(dn_amx_scratch_floats(&c.l, h, w) * sizeof(float));
	dn_amx_weights(&c.l, wt);
	dn_amx_forward_cat(&c.l, wt, &low, &skip, &c.y, 1, scratch);
	double worst = case_worst(&c);
	CHECK_MSG(worst <= 4.0 * cin * 9 * FLT_EPSILON,
	          "amx cat %dx%d (x%d wide) %d+%d -> %d causal %d differs from upsample+concat+im2col by %g", lh,
	          lw, fw, clow, cskip, cout, causal, worst);
	dn_free(scratch);
	dn_free(wt);
	dn_free(col);
	dn_tensor_free(&low);
	dn_tensor_free(&skip);
	case_free(&c);
}

/* The streaming form of a causal unit (dn_amx_window_push and
 * dn_amx_forward_frame, one column per step) against the whole-image AMX
 * forward: the same bf16 products summed in another order, within
 * 4·cin·9·FLT_EPSILON. h is the frequency axis, w the steps. */
static void test_amx_frame(int h, int w, int cin, int cout)
{
	struct conv_case c;
	case_make(&c, 1, h, w, cin, cout, 1, 1);
	float *wt = dn_alloc(dn_amx_weight_floats(&c.l) * sizeof(float));
	float *wf = dn_alloc(dn_amx_weight_floats(&c.l) * sizeof(float));
	float *scratch = dn_alloc(dn_amx_scratch_floats(&c.l, h, w) * sizeof(float));
	float *win = dn_alloc(dn_amx_window_floats(&c.l, h) * sizeof(float));
	float *xc = dn_alloc((size_t)cin * h * sizeof(float)), *yc = dn_alloc((size_t)cout * h * sizeof(float));
	dn_amx_weights(&c.l, wt);
	dn_amx_weights_frame(&c.l, wf);
	dn_amx_forward(&c.l, wt, &c.x, &c.ref, 1, scratch);
	double worst = 0.0;
	for (int t = 0; t < w; t++) {
		for (int ci = 0; ci < cin; ci++)
			for (int i = 0; i < h; i++)
				xc[(size_t)ci * h + i] = c.x.data[((size_t)ci * h + i) * w + t];
		dn_amx_window_push(&c.l, win, xc, h);
		dn_amx_forward_frame(&c.l, wf, win, h, yc, 1);
		for (int co = 0; co < cout; co++)
			for (int i = 0; i < h; i++) {
				double d = fabs((double)yc[(size_t)co * h + i] - c.ref.data[((size_t)co * h + i) * w + t]);
				worst = d <= worst ? worst : (d == d ? d : INFINITY);
			}
	}
	CHECK_MSG(worst <= 4.0 * cin * 9 * FLT_EPSILON,
	          "amx frame %dx%d cin %d cout %d differs from the whole-image AMX forward by %g", h, w, cin, cout,
	          worst);
	dn_free(yc);
	dn_free(xc);
	dn_free(win);
	dn_free(scratch);
	dn_free(wf);
	dn_free(wt);
	case_free(&c);
}

/* Two units in one pass (dn_amx_forward2, and _cat2 with the decoder's
 * upsampling and concatenation), the first's output handed on as bf16
 * pairs, against the same two units run one after the other through an
 * fp32 tensor: the first's sums are the same, rounded to bf16 the same
 * way, so the outputs agree to the bit. */
static void test_amx_pair(int h, int w, int cin, int cmid, int cout, int causal, int low_c)
{
	const dn_conv2d proto0 = {.cin = cin + low_c, .cout = cmid, .k = 3, .causal = causal};
	const dn_conv2d proto1 = {.cin = cmid, .cout = cout, .k = 3, .causal = causal};
	dn_conv2d l0 = proto0, l1 = proto1;
	float *p0 = dn_alloc(((size_t)l0.cout * l0.cin * 9 + l0.cout) * sizeof(float));
	float *p1 = dn_alloc(((size_t)l1.cout * l1.cin * 9 + l1.cout) * sizeof(float));
	l0.w = p0, l0.b = p0 + (size_t)l0.cout * l0.cin * 9;
	l1.w = p1, l1.b = p1 + (size_t)l1.cout * l1.cin * 9;
	gc_fill(p0, (size_t)l0.cout * l0.cin * 9 + l0.cout, &seed, -1, 1);
	gc_fill(p1, (size_t)l1.cout * l1.cin * 9 + l1.cout, &seed, -1, 1);
	dn_tensor x = {0}, low = {0}, mid = {0}, ya = {0}, yb = {0};
	dn_tensor_init(&x, 2, cin, h, w, NULL);
	gc_fill(x.data, dn_tensor_size(&x), &seed, -1, 1);
	if (low_c) {
		dn_tensor_init(&low, 2, low_c, h / 2, w / 2, NULL);
		gc_fill(low.data, dn_tensor_size(&low), &seed, -1, 1);
	}
	dn_tensor_init(&mid, 2, cmid, h, w, NULL);
	dn_tensor_init(&ya, 2, cout, h, w, NULL);
	dn_tensor_init(&yb, 2, cout, h, w, NULL);
	float *w0 = dn_alloc(dn_amx_weight_floats(&l0) * sizeof(float));
	float *w1 = dn_alloc(dn_amx_weight_floats(&l1) * sizeof(float));
	float *scratch = dn_alloc(dn_amx_scratch2_floats(&l0, &l1, h, w) * sizeof(float));
	dn_amx_weights(&l0, w0);
	dn_amx_weights(&l1, w1);
	if (low_c) {
		dn_amx_forward_cat(&l0, w0, &low, &x, &mid, 1, scratch);
		dn_amx_forward(&l1, w1, &mid, &ya, 1, scratch);
		dn_amx_forward_cat2(&l0, w0, &l1, w1, &low, &x, &yb, scratch);
	} else {
		dn_amx_forward(&l0, w0, &x, &mid, 1, scratch);
		dn_amx_forward(&l1, w1, &mid, &ya, 1, scratch);
		dn_amx_forward2(&l0, w0, &l1, w1, &x, &yb, scratch);
	}
	CHECK_MSG(!memcmp(ya.data, yb.data, dn_tensor_size(&ya) * sizeof(float)),
	          "amx pair %dx%d %d(+%d up) -> %d -> %d causal %d differs from its two units run apart", h, w,
	          cin, low_c, cmid, cout, causal);
	dn_free(scratch);
	dn_free(w1);
	dn_free(w0);
	dn_tensor_free(&yb);
	dn_tensor_free(&ya);
	dn_tensor_free(&mid);
	dn_tensor_free(&low);
	dn_tensor_free(&x);
	dn_free(p1);
	dn_free(p0);
}

static void test_amx_all(void)
{
	if (!dn_amx_available()) {
		printf("# AMX convolution: %s, its checks are skipped\n", dn_amx_state());
		return;
	}
	static const int widths[] = {1, 15, 16, 17, 33, 50, 64, 65, 100};
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		test_amx(5, widths[i], 16, 16, 0, 1, 1);
		test_amx(4, widths[i], 32, 48, 1, 0, 1);
		test_amx(3, widths[i], 48, 32, 0, 0, 1);
	}
	test_amx(1, 20, 17, 13, 0, 0, 1);
	test_amx(2, 33, 64, 64, 1, 1, 1);
	test_amx(6, 40, 96, 32, 0, 1, 1);
	test_amx(7, 48, 128, 16, 0, 1, 1);
	test_amx(6, 256, 48, 16, 0, 1, 0);
	test_amx(5, 64, 64, 64, 1, 0, 0);
	test_amx_cat(4, 8, 2, 32, 16, 16, 0);
	test_amx_cat(3, 9, 2, 64, 32, 32, 1);
	test_amx_cat(2, 25, 2, 16, 16, 16, 0);
	test_amx_cat(3, 17, 1, 32, 16, 16, 1);
	test_amx_cat(5, 40, 1, 128, 64, 64, 0);
	test_amx_frame(40, 9, 16, 16);
	test_amx_frame(17, 6, 48, 32);
	test_amx_frame(64, 5, 32, 64);
	test_amx_pair(6, 33, 16, 32, 32, 0, 0);
	test_amx_pair(5, 20, 32, 16, 16, 1, 0);
	test_amx_pair(4, 18, 16, 16, 16, 0, 32);
	test_amx_pair(8, 64, 64, 64, 64, 1, 128);
	test_amx_pair(3, 9, 48, 13, 16, 0, 0);
	/* Switched off, it says so. */
	dn_amx_set_enabled(0);
	CHECK(!dn_amx_available() && strstr(dn_amx_state(), "off"));
	dn_amx_set_enabled(1);
	CHECK(dn_amx_available());
}

static void test_direct_all(void)
{
	if (!dn_direct_available()) {
		printf("# direct convolution: this CPU has no AVX-512F, its checks are skipped\n");
		return;
	}
	static const int widths[] = {1, 15, 17, 33, 50, 64, 65, 100};
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++)
		test_gemm8(i % 2 ? 13 : 8, widths[i], 1 + 5 * (int)i);
	test_winograd(8, 8, 0, 0, 1);
	test_winograd(7, 9, 1, 0, 1);
	test_winograd(12, 3, 0, 100, 1);
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		test_direct(5, widths[i], 3, 8, 0, 1);
		test_direct(4, widths[i], 2, 13, 1, 0);
	}
	test_direct(1, 20, 4, 3, 0, 0);
	test_direct(2, 33, 1, 16, 1, 1);
	test_direct(7, 48, 17, 9, 0, 1);
	test_direct(6, 256, 48, 16, 0, 1);
}

/* ---- batch norm (training mode), followed by ReLU as in the U-Net ---- */
struct bn_ctx {
	dn_batchnorm l;
	dn_tensor x, y, r;
};

static double bn_loss(void *p)
{
	struct bn_ctx *c = p;
	dn_batchnorm_forward_train(&c->l, &c->x, &c->y);
	return dot(c->y.data, c->r.data, dn_tensor_size(&c->y));
}

static void test_batchnorm(void)
{
	struct bn_ctx c = {0};
	const int n = 3, ch = 4, h = 3, w = 5;
	float *buf = dn_alloc(8 * ch * sizeof(float));
	c.l = (dn_batchnorm){.c = ch,
	                     .gamma = buf,
	                     .beta = buf + ch,
	                     .dgamma = buf + 2 * ch,
	                     .dbeta = buf + 3 * ch,
	                     .mean = buf + 4 * ch,
	                     .var = buf + 5 * ch,
	                     .bmean = buf + 6 * ch,
	                     .binvstd = buf + 7 * ch};
	gc_fill(c.l.gamma, ch, &seed, 0.5f, 1.5f);
	gc_fill(c.l.beta, ch, &seed, -0.5f, 0.5f);
	for (int i = 0; i < ch; i++)
		c.l.var[i] = 1.0f;
	dn_tensor_init(&c.x, n, ch, h, w, NULL);
	dn_tensor_init(&c.y, n, ch, h, w, NULL);
	dn_tensor_init(&c.r, n, ch, h, w, NULL);
	gc_fill(c.x.data, dn_tensor_size(&c.x), &seed, -2, 3);
	gc_fill(c.r.data, dn_tensor_size(&c.r), &seed, -1, 1);

	/* Normalised output has mean β and std γ per channel. */
	dn_batchnorm_forward_train(&c.l, &c.x, &c.y);
	for (int ch_i = 0; ch_i < ch; ch_i++) {
		double s = 0, s2 = 0;
		for (int b = 0; b < n; b++)
			for (int i = 0; i < h * w; i++) {
				double v = dn_tensor_plane(&c.y, b, ch_i)[i];
				s += v;
				s2 += v * v;
			}
		double m = s / (n * h * w), sd = sqrt(s2 / (n * h * w) - m * m);
		CHECK_NEAR(m, c.l.beta[ch_i], 1e-5);
		CHECK_NEAR(sd, c.l.gamma[ch_i], 1e-3);
	}
	/* Running statistics moved by the momentum towards the batch's. */
	CHECK_NEAR(c.l.mean[0], 0.1 * c.l.bmean[0], 1e-6);

	dn_tensor dx = {0};
	dn_tensor_init(&dx, n, ch, h, w, NULL);
	memset(c.l.dgamma, 0, 2 * ch * sizeof(float));
	dn_batchnorm_forward_train(&c.l, &c.x, &c.y);
	dn_batchnorm_backward(&c.l, &c.x, &c.r, &dx);
	CHECK(gradcheck("bn.dx", bn_loss, &c, c.x.data, dx.data, dn_tensor_size(&c.x), 200, 1e-2f, 2e-3,
	                2e-3) == 0);
	CHECK(gradcheck("bn.dgamma", bn_loss, &c, c.l.gamma, c.l.dgamma, ch, 10, 1e-2f, 2e-3, 2e-3) == 0);
	CHECK(gradcheck("bn.dbeta", bn_loss, &c, c.l.beta, c.l.dbeta, ch, 10, 1e-2f, 2e-3, 2e-3) == 0);

	/* Folding an identity 1x1 convolution with bias b into eval-mode batch
	 * norm gives w' = s, b' = (b − μ)·s + β with s = γ/√(σ²+ε). */
	float wgt[16] = {0}, bias[4] = {0.1f, -0.2f, 0.3f, 0.0f};
	const float b0[4] = {0.1f, -0.2f, 0.3f, 0.0f};
	for (int i = 0; i < 4; i++)
		wgt[i * 4 + i] = 1.0f;
	dn_batchnorm_fold(&c.l, wgt, bias, 4, 4);
	for (int ch_i = 0; ch_i < ch; ch_i++) {
		float v = dn_tensor_plane(&c.x, 1, ch_i)[3];
		float s = c.l.gamma[ch_i] / sqrtf(c.l.var[ch_i] + DN_BN_EPS);
		CHECK_NEAR(wgt[ch_i * 4 + ch_i] * v + bias[ch_i],
		           (v + b0[ch_i] - c.l.mean[ch_i]) * s + c.l.beta[ch_i], 1e-5);
	}
	dn_tensor_free(&dx);
	dn_tensor_free(&c.x);
	dn_tensor_free(&c.y);
	dn_tensor_free(&c.r);
	dn_free(buf);
}

/* ---- elementwise, pooling, upsampling, concat, losses ---- */
struct simple_ctx {
	int kind;
	dn_tensor x, y, r, x2;
};

enum { K_RELU, K_SIGMOID, K_POOL, K_UP, K_CONCAT, K_POOL21, K_UP21 };

static double simple_loss(void *p)
{
	struct simple_ctx *c = p;
	size_t n = dn_tensor_size(&c->x);
	switch (c->kind) {
	case K_RELU: dn_relu_forward(c->x.data, c->y.data, n); break;
	case K_SIGMOID: dn_sigmoid_forward(c->x.data, c->y.data, n); break;
	case K_POOL:
	case K_POOL21: dn_maxpool_forward(&c->x, &c->y); break;
	case K_UP:
	case K_UP21: dn_upsample_forward(&c->x, &c->y, 1); break;
	case K_CONCAT:
		dn_concat_forward(&c->x, &c->y, 0);
		dn_concat_forward(&c->x2, &c->y, c->x.c);
		break;
	}
	return dot(c->y.data, c->r.data, dn_tensor_size(&c->y));
}

static void test_simple(int kind, const char *name)
{
	struct simple_ctx c = {.kind = kind};
	const int n = 2, ch = 3, h = 6, w = 8;
	dn_tensor_init(&c.x, n, ch, h, w, NULL);
	gc_fill(c.x.data, dn_tensor_size(&c.x), &seed, -1, 1);
	switch (kind) {
	case K_POOL: dn_tensor_init(&c.y, n, ch, h / 2, w / 2, NULL); break;
	case K_UP: dn_tensor_init(&c.y, n, ch + 2, 2 * h, 2 * w, NULL); break;
	case K_POOL21: dn_tensor_init(&c.y, n, ch, h / 2, w, NULL); break;
	case K_UP21: dn_tensor_init(&c.y, n, ch + 2, 2 * h, w, NULL); break;
	case K_CONCAT:
		dn_tensor_init(&c.x2, n, 2, h, w, NULL);
		gc_fill(c.x2.data, dn_tensor_size(&c.x2), &seed, -1, 1);
		dn_tensor_init(&c.y, n, ch + 2, h, w, NULL);
		break;
	default: dn_tensor_init(&c.y, n, ch, h, w, NULL);
	}
	dn_tensor_init(&c.r, c.y.n, c.y.c, c.y.h, c.y.w, NULL);
	gc_fill(c.r.data, dn_tensor_size(&c.r), &seed, -1, 1);
	dn_tensor dx = {0};
	dn_tensor_init(&dx, n, ch, h, w, NULL);
	simple_loss(&c);
	size_t nx = dn_tensor_size(&c.x);
	switch (kind) {
	case K_RELU: dn_relu_backward(c.y.data, c.r.data, dx.data, nx); break;
	case K_SIGMOID: dn_sigmoid_backward(c.y.data, c.r.data, dx.data, nx); break;
	case K_POOL:
	case K_POOL21: dn_maxpool_backward(&c.x, &c.r, &dx); break;
	case K_UP:
	case K_UP21: dn_upsample_backward(&c.r, 1, &dx); break;
	case K_CONCAT: dn_concat_backward(&c.r, 0, &dx, 0); break;
	}
	/* h small enough that no ReLU kink or pooling argmax is crossed. */
	CHECK(gradcheck(name, simple_loss, &c, c.x.data, dx.data, nx, 300, 1e-3f, 1e-3, 1e-3) == 0);
	if (kind == K_CONCAT) {
		dn_tensor dx2 = {0};
		dn_tensor_init(&dx2, n, 2, h, w, NULL);
		for (size_t i = 0; i < dn_tensor_size(&dx2); i++)
			dx2.data[i] = 1.0f;
		dn_concat_backward(&c.r, ch, &dx2, 1); /* accumulating form */
		for (size_t i = 0; i < dn_tensor_size(&dx2); i++)
			dx2.data[i] -= 1.0f;
		CHECK(gradcheck("concat.dx2", simple_loss, &c, c.x2.data, dx2.data, dn_tensor_size(&dx2), 300,
		                1e-3f, 1e-3, 1e-3) == 0);
		dn_tensor_free(&dx2);
	}
	dn_tensor_free(&dx);
	dn_tensor_free(&c.x);
	dn_tensor_free(&c.x2);
	dn_tensor_free(&c.y);
	dn_tensor_free(&c.r);
}

struct loss_ctx {
	float *p, *t, *w; /* w: the scaled loss's weights, else NULL */
	size_t n;
	int mae;
};

static double loss_only(void *p)
{
	struct loss_ctx *c = p;
	if (c->w)
		return dn_loss_scaled(c->mae, c->p, c->t, c->w, c->n, c->n, NULL) / (double)c->n;
	return c->mae ? dn_loss_mae(c->p, c->t, c->n, NULL) : dn_loss_mse(c->p, c->t, c->n, NULL);
}

static void test_losses(void)
{
	float p[50], t[50], g[50];
	gc_fill(p, 50, &seed, -1, 1);
	gc_fill(t, 50, &seed, -1, 1);
	struct loss_ctx c = {p, t, NULL, 50, 0};
	double mse = dn_loss_mse(p, t, 50, g);
	double direct = 0;
	for (int i = 0; i < 50; i++)
		direct += (p[i] - t[i]) * (p[i] - t[i]) / 50.0;
	CHECK_NEAR(mse, direct, 1e-9);
	CHECK(gradcheck("mse", loss_only, &c, p, g, 50, 50, 1e-3f, 1e-4, 1e-3) == 0);
	c.mae = 1;
	dn_loss_mae(p, t, 50, g);
	CHECK(gradcheck("mae", loss_only, &c, p, g, 50, 50, 1e-3f, 1e-4, 1e-3) == 0);

	/* Scaled: the error is w (p - t); the sum comes back, the gradient is
	 * of the mean over `count`. */
	float w[50];
	gc_fill(w, 50, &seed, 0, 3);
	c.w = w;
	c.mae = 0;
	direct = 0;
	for (int i = 0; i < 50; i++)
		direct += (double)w[i] * w[i] * (p[i] - t[i]) * (p[i] - t[i]);
	CHECK_NEAR(dn_loss_scaled(0, p, t, w, 50, 50, g), direct, 1e-6);
	CHECK(gradcheck("scaled mse", loss_only, &c, p, g, 50, 50, 1e-3f, 1e-4, 1e-3) == 0);
	c.mae = 1;
	dn_loss_scaled(1, p, t, w, 50, 50, g);
	CHECK(gradcheck("scaled mae", loss_only, &c, p, g, 50, 50, 1e-3f, 1e-4, 1e-3) == 0);
}

int main(void)
{
	test_conv(3, 1, 0, 0);
	test_conv(3, 100, 0, 0);
	test_conv(1, 2, 0, 0);
	test_batchnorm();
	test_simple(K_RELU, "relu");
	test_simple(K_SIGMOID, "sigmoid");
	test_simple(K_POOL, "maxpool");
	test_simple(K_UP, "upsample");
	test_simple(K_CONCAT, "concat");
	test_losses();
	/* Blocks that start and end mid-row; last, so that the random stream the
	 * checks above draw from stays what their tolerances were set against. */
	test_conv(3, 1, 3, 0);
	test_conv(3, 2, 5, 0);
	/* causal in time (the streaming U-Net's), whole and blocked */
	test_conv(3, 100, 0, 1);
	test_conv(3, 1, 3, 1);
	test_simple(K_POOL21, "maxpool 2x1");
	test_simple(K_UP21, "upsample 2x1");
	test_winograd(8, 8, 0, 0, 0);
	test_winograd(7, 9, 1, 0, 0);
	test_winograd(5, 6, 0, 1, 0);
	test_winograd(1, 1, 1, 3, 0);
	test_winograd(12, 3, 0, 100, 0);
	test_direct_all();
	test_amx_all();
	return check_status();
}
