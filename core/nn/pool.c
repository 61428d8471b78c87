/*
 * pool.c — max pooling with stride equal to the window: 2x2, or 2x1 (in H,
 * the frequency, only) for the causal U-Net, which keeps every time step.
 * The window follows from the shapes: y as wide as x means 2x1. Backward
 * recomputes the argmax from the input instead of storing indices (the
 * input is kept anyway for the convolution before it).
 */
#include <string.h>

#include "core/nn/layers.h"

/* One output row of 2x2 windows over input rows r0, r1: in chunks of 8
 * with a fixed inner count, which GCC vectorises at -O2 (shuffles and
 * maxps); the branchy per-element loop it replaces cost as much as a tenth
 * of the convolutions' time in the speech model's forward. */
DN_CLONES static void pool_row2(const float *restrict r0, const float *restrict r1, float *restrict q, int ow)
{
	int j = 0;
	for (; j + 8 <= ow; j += 8)
		for (int t = 0; t < 8; t++) {
			const int k = 2 * (j + t);
			float m = r0[k];
			m = r0[k + 1] > m ? r0[k + 1] : m;
			m = r1[k] > m ? r1[k] : m;
			q[j + t] = r1[k + 1] > m ? r1[k + 1] : m;
		}
	for (; j < ow; j++) {
		const int k = 2 * j;
		float m = r0[k];
		m = r0[k + 1] > m ? r0[k + 1] : m;
		m = r1[k] > m ? r1[k] : m;
		q[j] = r1[k + 1] > m ? r1[k + 1] : m;
	}
}

/* The same for 2x1 windows. */
DN_CLONES static void pool_row1(const float *restrict r0, const float *restrict r1, float *restrict q, int ow)
{
	int j = 0;
	for (; j + 8 <= ow; j += 8)
		for (int t = 0; t < 8; t++)
			q[j + t] = r1[j + t] > r0[j + t] ? r1[j + t] : r0[j + t];
	for (; j < ow; j++)
		q[j] = r1[j] > r0[j] ? r1[j] : r0[j];
}

void dn_maxpool_forward(const dn_tensor *x, dn_tensor *y)
{
	const int w = x->w, oh = y->h, ow = y->w, fw = ow == w ? 1 : 2;
	for (int n = 0; n < x->n; n++) {
		for (int c = 0; c < x->c; c++) {
			const float *p = dn_tensor_plane(x, n, c);
			float *q = dn_tensor_plane(y, n, c);
			for (int i = 0; i < oh; i++) {
				const float *r0 = p + (size_t)(2 * i) * w, *r1 = r0 + w;
				if (fw == 2)
					pool_row2(r0, r1, q + (size_t)i * ow, ow);
				else
					pool_row1(r0, r1, q + (size_t)i * ow, ow);
			}
		}
	}
}

void dn_maxpool_backward(const dn_tensor *x, const dn_tensor *dy, dn_tensor *dx)
{
	const int w = x->w, oh = dy->h, ow = dy->w, fw = ow == w ? 1 : 2;
	memset(dx->data, 0, dn_tensor_size(dx) * sizeof(float));
	for (int n = 0; n < x->n; n++) {
		for (int c = 0; c < x->c; c++) {
			const float *p = dn_tensor_plane(x, n, c), *g = dn_tensor_plane(dy, n, c);
			float *d = dn_tensor_plane(dx, n, c);
			for (int i = 0; i < oh; i++) {
				for (int j = 0; j < ow; j++) {
					size_t at = (size_t)(2 * i) * w + (size_t)fw * j;
					/* candidates in row-major order after the first */
					const size_t cand[3] = {at + 1, at + w, at + w + 1};
					size_t best = at;
					for (int t = 0; t < 3; t++) {
						if (fw == 1 && t != 1)
							continue;
						if (p[cand[t]] > p[best])
							best = cand[t];
					}
					d[best] += g[(size_t)i * ow + j];
				}
			}
		}
	}
}
