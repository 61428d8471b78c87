/*
 * amx.c — when the AMX path runs, the weights' packing, and the sharing of
 * a layer's rows among threads (amx.h); the tile code is in x86/amx_bf16.c.
 *
 * Linux hands the 8 KiB of tile state to a process only when asked
 * (arch_prctl ARCH_REQ_XCOMP_PERM); without it the first tile instruction
 * kills the process with SIGILL, so the ask is part of the probe, once.
 * Each output value is computed by one thread in a fixed order, so the
 * result does not depend on the thread count.
 */
#include <pthread.h>
#include <string.h>

#include "core/nn/amx.h"

#if DN_HAVE_AMX
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA  18

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static const char *probed = "not on this CPU";
static int has_amx, enabled = 1;

static void probe(void)
{
#if DN_HAVE_AMX
	unsigned a, b, c, d;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22)) || !(d & (1u << 24)) ||
	    !__builtin_cpu_supports("avx512bw"))
		return;
	if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
		probed = "not granted by the kernel";
		return;
	}
	probed = "AMX-BF16";
	has_amx = 1;
#endif
}

int dn_amx_available(void)
{
	pthread_once(&probe_once, probe);
	return has_amx && __atomic_load_n(&enabled, __ATOMIC_RELAXED);
}

void dn_amx_set_enabled(int on)
{
	__atomic_store_n(&enabled, on ? 1 : 0, __ATOMIC_RELAXED);
}

const char *dn_amx_state(void)
{
	pthread_once(&probe_once, probe);
	if (has_amx && !__atomic_load_n(&enabled, __ATOMIC_RELAXED))
		return "off (fp32 asked)";
	return probed;
}

int dn_amx_suits(const dn_conv2d *l)
{
	return l->k == 3 && l->cin >= 16;
}

/* Input channels per step: 32 (a full tile), padded with zero channels
 * where cin does not divide, except for 16 or fewer. A TDPBF16PS costs the
 * same at any depth (bench: 531 GFLOP/s 32 deep, 271 at 16), so 48
 * channels run as two steps of 32 rather than three of 16. */
static int step_of(const dn_conv2d *l)
{
	return l->cin <= 16 ? 16 : 32;
}

static int cin_padded(const dn_conv2d *l)
{
	const int kb = step_of(l);
	return (l->cin + kb - 1) / kb * kb;
}

size_t dn_amx_weight_floats(const dn_conv2d *l)
{
	const size_t blocks = (size_t)(l->cout + 15) / 16;
	/* 16 x cinp bf16 per block and tap, then 16 x 16 floats of bias. */
	return blocks * 9 * 16 * (size_t)cin_padded(l) / 2 + blocks * 256;
}

/* x rounded to the nearest bf16, ties to even. */
static unsigned short bf16(float x)
{
	unsigned u;
	memcpy(&u, &x, sizeof u);
	return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* The packed weights with tap t of the kernel's loop taken from l's tap
 * map[t]. */
static void pack(const dn_conv2d *l, const int map[9], float *wt)
{
	const int kb = step_of(l), cinp = cin_padded(l), npb = cinp / kb, blocks = (l->cout + 15) / 16;
	unsigned short *a = (unsigned short *)wt;
	for (int blk = 0; blk < blocks; blk++)
		for (int t = 0; t < 9; t++)
			for (int pb = 0; pb < npb; pb++)
				for (int i = 0; i < 16; i++)
					for (int k = 0; k < kb; k++) {
						const int co = blk * 16 + i, ci = pb * kb + k;
						*a++ = co < l->cout && ci < l->cin
						           ? bf16(l->w[((size_t)co * l->cin + ci) * 9 + map[t]])
						           : 0;
					}
	float *bias = wt + (size_t)blocks * 9 * 16 * cinp / 2;
	for (int blk = 0; blk < blocks; blk++)
		for (int i = 0; i < 16; i++)
			for (int j = 0; j < 16; j++) {
				const int co = blk * 16 + i;
				bias[((size_t)blk * 16 + i) * 16 + j] = co < l->cout ? l->b[co] : 0.0f;
			}
}

void dn_amx_weights(const dn_conv2d *l, float *wt)
{
	static const int same[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
	pack(l, same, wt);
}

void dn_amx_weights_frame(const dn_conv2d *l, float *wt)
{
	/* Tap (a, b) of the window (row a = time, column b = frequency) is
	 * l's tap (kh = b, kw = a). */
	static const int swapped[9] = {0, 3, 6, 1, 4, 7, 2, 5, 8};
	pack(l, swapped, wt);
}

/* Converted columns per row: the image's, rounded up to whole tiles, and
 * the two more that the taps of the last tile reach. */
static int row_words(int w)
{
	return (w + 15) / 16 * 16 + 2;
}

size_t dn_amx_scratch_floats(const dn_conv2d *l, int h, int w)
{
	return (size_t)(h + 2) * (cin_padded(l) / 2) * row_words(w);
}

/* Multiply-adds below which a layer stays on one thread, output rows per
 * piece of work (one tile configuration each), and input rows per piece of
 * the conversion. */
#define PAR_MIN_WORK ((size_t)1 << 22)
#define ROWS         4
#define CONVERT_ROWS 32

/* Zeroes what dn_amx_rows leaves of a converted input it writes for a
 * layer of cinp input channels (l0's output, cout0 of them): the rows
 * above and below, the columns beside, the pairs past cout0. */
static void clear_borders(unsigned *xb, int cinp, int cout0, int h, int w, int pw, int wq)
{
	const int cp = cinp / 2, used = (cout0 + 1) / 2;
	for (int r = 0; r < h + 2; r++)
		for (int p = 0; p < cp; p++) {
			unsigned *row = xb + ((size_t)r * cp + p) * wq;
			if (r == 0 || r == h + 1 || p >= used) {
				memset(row, 0, (size_t)wq * sizeof *row);
				continue;
			}
			memset(row, 0, (size_t)pw * sizeof *row);
			memset(row + pw + w, 0, (size_t)(wq - pw - w) * sizeof *row);
		}
}

/* The rows of l0 (then of l1 on l0's output, when l1) from the converted
 * input of each image, src(n). */
static void run(const dn_conv2d *l0, const float *wt0, const dn_conv2d *l1, const float *wt1, int n_img,
                dn_amx_src (*src)(const void *, int), const void *arg, int h, int w, dn_tensor *y, int relu,
                float *scratch)
{
	const int wq = row_words(w), cinp = cin_padded(l0), pw = l0->causal ? 2 : 1;
	const size_t work = (size_t)l0->cin * l0->cout * 9 * (size_t)h * w;
	unsigned *xb = (unsigned *)scratch, *xb1 = xb + dn_amx_scratch_floats(l0, h, w);
	(void)work; /* read only by the OpenMP clauses */
	for (int n = 0; n < n_img; n++) {
		const dn_amx_src s = src(arg, n);
		float *yn = dn_tensor_plane(y, n, 0);
		const dn_amx_out fin = {.y = yn, .ys = (size_t)h * w};
		dn_amx_out mid = fin;
		if (l1) {
			mid = (dn_amx_out){.yb = xb1, .ycp = cin_padded(l1) / 2, .ywq = wq, .ypw = l1->causal ? 2 : 1};
			clear_borders(xb1, cin_padded(l1), l0->cout, h, w, mid.ypw, wq);
		}
#pragma omp parallel for schedule(static) if (work > PAR_MIN_WORK)
		for (int r = 0; r < h + 2; r += CONVERT_ROWS)
			dn_amx_convert_rows(&s, cinp, h, w, pw, wq, xb, r,
			                    r + CONVERT_ROWS < h + 2 ? r + CONVERT_ROWS : h + 2);
#pragma omp parallel for schedule(static) if (work > PAR_MIN_WORK)
		for (int r = 0; r < h; r += ROWS) {
			dn_amx_out o = mid;
			o.y += (size_t)r * w;
			dn_amx_rows(xb, cinp, step_of(l0), w, wq, wt0, l0->cout, l1 ? 1 : relu, &o, r,
			            r + ROWS < h ? r + ROWS : h);
		}
		if (!l1)
			continue;
#pragma omp parallel for schedule(static) if (work > PAR_MIN_WORK)
		for (int r = 0; r < h; r += ROWS) {
			dn_amx_out o = fin;
			o.y += (size_t)r * w;
			dn_amx_rows(xb1, cin_padded(l1), step_of(l1), w, wq, wt1, l1->cout, 1, &o, r,
			            r + ROWS < h ? r + ROWS : h);
		}
	}
}

size_t dn_amx_scratch2_floats(const dn_conv2d *l0, const dn_conv2d *l1, int h, int w)
{
	return dn_amx_scratch_floats(l0, h, w) + dn_amx_scratch_floats(l1, h, w);
}

static dn_amx_src plain(const void *arg, int n)
{
	const dn_tensor *x = arg;
	return (dn_amx_src){.x = dn_tensor_plane(x, n, 0), .x_c = x->c};
}

void dn_amx_forward(const dn_conv2d *l, const float *wt, const dn_tensor *x, dn_tensor *y, int relu,
                    float *scratch)
{
	run(l, wt, NULL, NULL, x->n, plain, x, x->h, x->w, y, relu, scratch);
}

void dn_amx_forward2(const dn_conv2d *l0, const float *wt0, const dn_conv2d *l1, const float *wt1,
                     const dn_tensor *x, dn_tensor *y, float *scratch)
{
	run(l0, wt0, l1, wt1, x->n, plain, x, x->h, x->w, y, 1, scratch);
}

struct cat_arg {
	const dn_tensor *low, *skip;
};

static dn_amx_src cat(const void *arg, int n)
{
	const struct cat_arg *a = arg;
	return (dn_amx_src){.up = dn_tensor_plane(a->low, n, 0),
	                    .up_c = a->low->c,
	                    .up_h = a->low->h,
	                    .up_w = a->low->w,
	                    .up_fw = a->skip->w / a->low->w,
	                    .x = dn_tensor_plane(a->skip, n, 0),
	                    .x_c = a->skip->c};
}

void dn_amx_forward_cat(const dn_conv2d *l, const float *wt, const dn_tensor *low, const dn_tensor *skip,
                        dn_tensor *y, int relu, float *scratch)
{
	const struct cat_arg a = {low, skip};
	run(l, wt, NULL, NULL, skip->n, cat, &a, skip->h, skip->w, y, relu, scratch);
}

void dn_amx_forward_cat2(const dn_conv2d *l0, const float *wt0, const dn_conv2d *l1, const float *wt1,
                         const dn_tensor *low, const dn_tensor *skip, dn_tensor *y, float *scratch)
{
	const struct cat_arg a = {low, skip};
	run(l0, wt0, l1, wt1, skip->n, cat, &a, skip->h, skip->w, y, 1, scratch);
}

size_t dn_amx_window_floats(const dn_conv2d *l, int h)
{
	return (size_t)4 * (cin_padded(l) / 2) * row_words(h);
}

void dn_amx_window_push(const dn_conv2d *l, float *win, const float *x, int h)
{
	const size_t row = (size_t)(cin_padded(l) / 2) * row_words(h);
	unsigned *w = (unsigned *)win;
	const dn_amx_src s = {.x = x, .x_c = l->cin};
	memmove(w + row, w + 2 * row, 2 * row * sizeof *w);
	/* x as an image of one row, written at the window's row 3: the
	 * conversion's row 1 of that image, from two rows before it. */
	dn_amx_convert_rows(&s, cin_padded(l), 1, h, 1, row_words(h), w + 2 * row, 1, 2);
}

void dn_amx_forward_frame(const dn_conv2d *l, const float *wt, const float *win, int h, float *y, int relu)
{
	/* Output row 1 of the window image reads its rows 1-3 (t−2..t). */
	const dn_amx_out o = {.y = y, .ys = (size_t)h};
	dn_amx_rows((const unsigned *)win, cin_padded(l), step_of(l), h, row_words(h), wt, l->cout, relu, &o, 1, 2);
}
