/*
 * activation.c — elementwise ReLU and sigmoid with their backward passes.
 * Backward passes use the forward *output*, which is what the U-Net keeps.
 */
#include <math.h>

#include "core/layers.h"

void dn_relu_forward(const float *x, float *y, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n > 262144)
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void dn_relu_backward(const float *y, const float *dy, float *dx, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n > 262144)
	for (size_t i = 0; i < n; i++)
		dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
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
