/*
 * activation.c — elementwise ReLU and sigmoid with their backward passes.
 * Backward passes use the forward *output*, which is what the U-Net keeps.
 */
#include <math.h>

#include "core/nn/layers.h"

/*
 * The ReLU loops run in chunks of 8 with a fixed inner count, which GCC
 * vectorises at -O2 (its "very cheap" cost model leaves a loop that needs a
 * remainder alone); in-place calls get their own loop so that the pointers of
 * the other one can be restrict. These passes touch every activation of the
 * U-Net twice per training step, so their speed shows (bench/bench_unet).
 */
static void relu_inplace(float *y, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			y[i + j] = y[i + j] > 0.0f ? y[i + j] : 0.0f;
	for (; i < n; i++)
		y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

static void relu_copy(const float *restrict x, float *restrict y, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++) {
			float v = x[i + j];
			y[i + j] = v > 0.0f ? v : 0.0f;
		}
	for (; i < n; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void dn_relu_forward(const float *x, float *y, size_t n)
{
	if (x == y)
		relu_inplace(y, n);
	else
		relu_copy(x, y, n);
}

static void relu_backward_inplace(const float *restrict y, float *restrict g, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			g[i + j] = y[i + j] > 0.0f ? g[i + j] : 0.0f;
	for (; i < n; i++)
		g[i] = y[i] > 0.0f ? g[i] : 0.0f;
}

static void relu_backward_copy(const float *restrict y, const float *restrict dy, float *restrict dx,
                               size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++) {
			float g = dy[i + j];
			dx[i + j] = y[i + j] > 0.0f ? g : 0.0f;
		}
	for (; i < n; i++)
		dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void dn_relu_backward(const float *y, const float *dy, float *dx, size_t n)
{
	if (dx == dy)
		relu_backward_inplace(y, dx, n);
	else
		relu_backward_copy(y, dy, dx, n);
}

void dn_sigmoid_forward(const float *x, float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = 1.0f / (1.0f + expf(-x[i]));
}

void dn_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
