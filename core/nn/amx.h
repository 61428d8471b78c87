/*
 * amx.h — 3x3 convolution (as dn_conv2d: stride 1, same padding in the
 * height, same or causal in the width) on Intel AMX tiles in bf16 with fp32
 * accumulation, for inference on CPUs that have AMX-BF16 (Sapphire Rapids
 * and later Xeons). One TDPBF16PS multiplies a 16 x 32 bf16 tile by a
 * 32 x 16 one into 16 x 16 fp32 sums: 531 GFLOP/s of one core here against
 * 122-126 for fp32 AVX-512 FMAs (bench/bench_bf16), so even with its
 * conversions the layer runs several times faster than the direct kernel.
 *
 * The convolution is nine GEMMs per output row, one per tap: output
 * channels (16 per tile row) x input channels (16 or 32 per step) x output
 * pixels (16 per tile column). The weights are the A tiles, packed once
 * when the model loads; the input, converted per call to bf16 with the
 * channels in interleaved pairs ([cin/2][h + 2][w′][2], zero-padded), gives
 * the B tiles straight from memory at any tap's offset; the C tiles are
 * output channels x pixels, the layout of the output tensor, and go out
 * with bias and ReLU.
 *
 * Rounding the inputs and weights to bf16 (8 bits of mantissa, a relative
 * error of at most 2^-9 each) costs quality that the model cards measure
 * (PESQ within 0.001, PSNR within 0.02 dB of fp32), and dn_amx_set_enabled(0)
 * keeps every layer in fp32. Only built for x86-64 with GCC's AMX
 * intrinsics; elsewhere dn_amx_available() is 0. Internal to libdenoise.
 */
#ifndef DN_AMX_H
#define DN_AMX_H

#include <stddef.h>

#include "core/nn/layers.h"

/* The compilers whose <immintrin.h> has the AMX intrinsics. */
#if defined(__x86_64__) && defined(__linux__) &&                                                             \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define DN_HAVE_AMX 1
#else
#define DN_HAVE_AMX 0
#endif

/* 1 when this CPU has AMX-BF16, the kernel granted the tile state to this
 * process, and it is not disabled; else 0. Cheap after the first call. */
int dn_amx_available(void);
/* 0 turns the AMX path off for nets prepared after this call (fp32
 * everywhere), 1 back on where the CPU has it. Process-wide. */
void dn_amx_set_enabled(int on);
/* What dn_amx_available() is made of, for a log line: "AMX-BF16",
 * "off (fp32 asked)", "not on this CPU", "not granted by the kernel". */
const char *dn_amx_state(void);

/* Whether a layer runs here: 3x3 with at least 16 input channels (fewer
 * leave most of a tile's 32-deep products empty; the direct kernel keeps
 * those). */
int dn_amx_suits(const dn_conv2d *l);
/* Floats that hold l's packed bf16 weights and the bias tile. */
size_t dn_amx_weight_floats(const dn_conv2d *l);
void dn_amx_weights(const dn_conv2d *l, float *wt);
/* Floats of scratch dn_amx_forward needs for an input of h x w. */
size_t dn_amx_scratch_floats(const dn_conv2d *l, int h, int w);
/* y = conv(x) + b, then ReLU when relu != 0 (output rows shared among the
 * calling thread's OpenMP team). Only where dn_amx_available() and
 * dn_amx_suits(l). */
void dn_amx_forward(const dn_conv2d *l, const float *wt, const dn_tensor *x, dn_tensor *y, int relu,
                    float *scratch);

/* Two units in a row, y = ReLU(conv1(ReLU(conv0(x)))), the first's output
 * going to the second as bf16 pairs, never as floats: the encoder's,
 * bottleneck's and (with _cat2) decoder's pairs of units. l1->cin =
 * l0->cout; scratch holds dn_amx_scratch2_floats. */
size_t dn_amx_scratch2_floats(const dn_conv2d *l0, const dn_conv2d *l1, int h, int w);
void dn_amx_forward2(const dn_conv2d *l0, const float *wt0, const dn_conv2d *l1, const float *wt1,
                     const dn_tensor *x, dn_tensor *y, float *scratch);
void dn_amx_forward_cat2(const dn_conv2d *l0, const float *wt0, const dn_conv2d *l1, const float *wt1,
                         const dn_tensor *low, const dn_tensor *skip, dn_tensor *y, float *scratch);

/* y = conv(concat(up2(low), skip)) + b, then ReLU: the decoder's first
 * unit, with the upsampling (nearest, 2x in the height, 2x or 1x in the
 * width) and the concatenation done while converting, so that neither is
 * written out. low->c even, low->c + skip->c = l->cin, skip h x w = 2
 * low->h x (1 or 2) low->w. */
void dn_amx_forward_cat(const dn_conv2d *l, const float *wt, const dn_tensor *low, const dn_tensor *skip,
                        dn_tensor *y, int relu, float *scratch);

/* Streaming, one output column of a causal 3x3 unit per step (as
 * dn_direct_forward_frame): the unit's window of the last three input
 * columns is kept converted, [4][cinp/2][w′] words (row 0 unused, rows 1-3
 * time t−2, t−1, t, frequency across), so that a step converts only the
 * new column. win starts zeroed (the silence before the stream);
 * dn_amx_window_push moves it on by x ([cin][h]), dn_amx_forward_frame
 * writes y ([cout][h]) with weights from dn_amx_weights_frame (the taps
 * transposed to the window's rows and columns; dn_amx_weight_floats of
 * them). */
size_t dn_amx_window_floats(const dn_conv2d *l, int h);
void dn_amx_weights_frame(const dn_conv2d *l, float *wt);
void dn_amx_window_push(const dn_conv2d *l, float *win, const float *x, int h);
void dn_amx_forward_frame(const dn_conv2d *l, const float *wt, const float *win, int h, float *y, int relu);

/* Where a layer's input channels come from: [0, up_c) are up (up_h x
 * up_w) upsampled 2x in the height and up_fw x in the width, [up_c, up_c +
 * x_c) are x at the layer's size. */
typedef struct dn_amx_src {
	const float *up;
	int up_c, up_h, up_w, up_fw;
	const float *x;
	int x_c;
} dn_amx_src;

/* The kernels (x86/amx_bf16.c). xb is the converted input of one image,
 * [h + 2][cinp/2][wq] pairs of bf16 as 32-bit words; wt the packed weights
 * of dn_amx_weights. */
void dn_amx_convert_rows(const dn_amx_src *src, int cinp, int h, int w, int pw, int wq, unsigned *xb, int p0,
                         int p1);
/* Where dn_amx_rows writes: with yb NULL, output (co, oh, ow) of rows
 * [r0, r1) to y[co·ys + (oh − r0)·w + ow]; else as bf16 pairs to yb, the
 * next unit's converted input (ycp pairs of ywq words per row, ypw zero
 * columns before the image), row oh + 1, pair co / 2, word ypw + ow. */
typedef struct dn_amx_out {
	float *y;
	size_t ys;
	unsigned *yb;
	int ycp, ywq, ypw;
} dn_amx_out;

void dn_amx_rows(const unsigned *xb, int cinp, int kb, int w, int wq, const float *wt, int cout, int relu,
                 const dn_amx_out *o, int r0, int r1);

#endif
