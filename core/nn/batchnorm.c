/*
 * batchnorm.c — batch normalisation over N, H, W per channel.
 *
 * Training normalises with the batch mean and biased variance and moves the
 * running statistics by DN_BN_MOMENTUM, using the unbiased variance as PyTorch
 * does (so that weights trained either side behave the same). Sums are taken
 * in double: a 16 x 264 x 136 batch has 574k elements per channel, where float
 * accumulation would lose several digits.
 *
 * Inference folds the normalisation into the preceding convolution:
 * w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β.
 */
#include <math.h>

#include "core/nn/layers.h"

void dn_batchnorm_forward_train(dn_batchnorm *l, const dn_tensor *x, dn_tensor *y)
{
	const size_t hw = (size_t)x->h * x->w, m = hw * x->n;
#pragma omp parallel for schedule(static) if ((size_t)x->n * x->h * x->w * l->c > 65536)
	for (int c = 0; c < l->c; c++) {
		double s = 0.0, s2 = 0.0;
		for (int n = 0; n < x->n; n++) {
			const float *p = dn_tensor_plane(x, n, c);
			for (size_t i = 0; i < hw; i++)
				s += p[i];
		}
		const double mean = s / (double)m;
		for (int n = 0; n < x->n; n++) {
			const float *p = dn_tensor_plane(x, n, c);
			for (size_t i = 0; i < hw; i++) {
				double d = p[i] - mean;
				s2 += d * d;
			}
		}
		const double var = s2 / (double)m;
		const double unbiased = m > 1 ? s2 / (double)(m - 1) : var;
		const float invstd = (float)(1.0 / sqrt(var + DN_BN_EPS));
		l->bmean[c] = (float)mean;
		l->binvstd[c] = invstd;
		l->mean[c] = (1.0f - DN_BN_MOMENTUM) * l->mean[c] + DN_BN_MOMENTUM * (float)mean;
		l->var[c] = (1.0f - DN_BN_MOMENTUM) * l->var[c] + DN_BN_MOMENTUM * (float)unbiased;
		const float scale = l->gamma[c] * invstd, shift = l->beta[c] - (float)mean * scale;
		for (int n = 0; n < x->n; n++) {
			const float *p = dn_tensor_plane(x, n, c);
			float *q = dn_tensor_plane(y, n, c);
			for (size_t i = 0; i < hw; i++)
				q[i] = p[i] * scale + shift;
		}
	}
}

void dn_batchnorm_forward_eval(const dn_batchnorm *l, const dn_tensor *x, dn_tensor *y)
{
	const size_t hw = (size_t)x->h * x->w;
#pragma omp parallel for schedule(static) if ((size_t)x->n * x->h * x->w * l->c > 65536)
	for (int c = 0; c < l->c; c++) {
		const float scale = l->gamma[c] / sqrtf(l->var[c] + DN_BN_EPS);
		const float shift = l->beta[c] - l->mean[c] * scale;
		for (int n = 0; n < x->n; n++) {
			const float *p = dn_tensor_plane(x, n, c);
			float *q = dn_tensor_plane(y, n, c);
			for (size_t i = 0; i < hw; i++)
				q[i] = p[i] * scale + shift;
		}
	}
}

void dn_batchnorm_backward(dn_batchnorm *l, const dn_tensor *x, const dn_tensor *dy, dn_tensor *dx)
{
	const size_t hw = (size_t)x->h * x->w, m = hw * x->n;
#pragma omp parallel for schedule(static) if ((size_t)x->n * x->h * x->w * l->c > 65536)
	for (int c = 0; c < l->c; c++) {
		const double mean = l->bmean[c], invstd = l->binvstd[c];
		double sdy = 0.0, sdyx = 0.0;
		for (int n = 0; n < x->n; n++) {
			const float *p = dn_tensor_plane(x, n, c), *g = dn_tensor_plane(dy, n, c);
			for (size_t i = 0; i < hw; i++) {
				sdy += g[i];
				sdyx += g[i] * ((p[i] - mean) * invstd);
			}
		}
		l->dbeta[c] += (float)sdy;
		l->dgamma[c] += (float)sdyx;
		/* dx = γ·invstd/m · (m·dy − Σdy − x̂·Σ(dy·x̂)) */
		const float k = (float)(l->gamma[c] * invstd / (double)m);
		const float a = (float)sdy, bsum = (float)sdyx, mf = (float)m;
		for (int n = 0; n < x->n; n++) {
			const float *p = dn_tensor_plane(x, n, c), *g = dn_tensor_plane(dy, n, c);
			float *d = dn_tensor_plane(dx, n, c);
			for (size_t i = 0; i < hw; i++) {
				float xhat = (float)((p[i] - mean) * invstd);
				d[i] = k * (mf * g[i] - a - xhat * bsum);
			}
		}
	}
}

void dn_batchnorm_fold(const dn_batchnorm *l, float *w, float *b, int cout, size_t kdim)
{
	for (int c = 0; c < cout; c++) {
		const float scale = l->gamma[c] / sqrtf(l->var[c] + DN_BN_EPS);
		for (size_t i = 0; i < kdim; i++)
			w[(size_t)c * kdim + i] *= scale;
		b[c] = (b[c] - l->mean[c]) * scale + l->beta[c];
	}
}
