/*
 * loss.c — regression losses, averaged over every element (PyTorch's
 * reduction='mean'), accumulated in double.
 */
#include <math.h>

#include "core/nn/layers.h"

double dn_loss_mse(const float *pred, const float *target, size_t n, float *grad)
{
	double s = 0.0;
	const float k = 2.0f / (float)n;
	for (size_t i = 0; i < n; i++) {
		float d = pred[i] - target[i];
		s += (double)d * d;
		if (grad)
			grad[i] = k * d;
	}
	return s / (double)n;
}

/* Per-sample blocks: the error of element i is w[i] (pred[i] - target[i]);
 * see layers.h. */
double dn_loss_scaled(int mae, const float *pred, const float *target, const float *w, size_t n,
                      size_t count, float *grad)
{
	double s = 0.0;
	const float k = (mae ? 1.0f : 2.0f) / (float)count;
	for (size_t i = 0; i < n; i++) {
		float d = w[i] * (pred[i] - target[i]);
		if (mae) {
			s += fabs((double)d);
			if (grad)
				grad[i] = d > 0.0f ? k * w[i] : (d < 0.0f ? -k * w[i] : 0.0f);
		} else {
			s += (double)d * d;
			if (grad)
				grad[i] = k * d * w[i];
		}
	}
	return s;
}

double dn_loss_mae(const float *pred, const float *target, size_t n, float *grad)
{
	double s = 0.0;
	const float k = 1.0f / (float)n;
	for (size_t i = 0; i < n; i++) {
		float d = pred[i] - target[i];
		s += fabs((double)d);
		if (grad)
			grad[i] = d > 0.0f ? k : (d < 0.0f ? -k : 0.0f);
	}
	return s / (double)n;
}
