/*
 * pool.c — max pooling with stride equal to the window: 2x2, or 2x1 (in H,
 * the frequency, only) for the causal U-Net, which keeps every time step.
 * The window follows from the shapes: y as wide as x means 2x1. Backward
 * recomputes the argmax from the input instead of storing indices (the
 * input is kept anyway for the convolution before it).
 */
#include <string.h>

#include "core/nn/layers.h"

void dn_maxpool_forward(const dn_tensor *x, dn_tensor *y)
{
	const int w = x->w, oh = y->h, ow = y->w, fw = ow == w ? 1 : 2;
	for (int n = 0; n < x->n; n++) {
		for (int c = 0; c < x->c; c++) {
			const float *p = dn_tensor_plane(x, n, c);
			float *q = dn_tensor_plane(y, n, c);
			for (int i = 0; i < oh; i++) {
				const float *r0 = p + (size_t)(2 * i) * w, *r1 = r0 + w;
				for (int j = 0; j < ow; j++) {
					float m = r0[fw * j];
					if (fw == 2 && r0[2 * j + 1] > m)
						m = r0[2 * j + 1];
					if (r1[fw * j] > m)
						m = r1[fw * j];
					if (fw == 2 && r1[2 * j + 1] > m)
						m = r1[2 * j + 1];
					q[(size_t)i * ow + j] = m;
				}
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
