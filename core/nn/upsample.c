/*
 * upsample.c — x2 nearest-neighbour upsampling (2x2, or 2x1 in H only when
 * y is as wide as x), written straight into a channel range of the
 * decoder's concat buffer to save a copy.
 */
#include <string.h>

#include "core/nn/layers.h"

/* One input row s into output rows r0 and r1, each value twice: in chunks
 * of 8 with a fixed inner count, which GCC vectorises at -O2. */
DN_CLONES static void up_row2(const float *restrict s, float *restrict r0, float *restrict r1, int w)
{
	int j = 0;
	for (; j + 8 <= w; j += 8)
		for (int t = 0; t < 8; t++) {
			const float v = s[j + t];
			r0[2 * (j + t)] = r0[2 * (j + t) + 1] = v;
			r1[2 * (j + t)] = r1[2 * (j + t) + 1] = v;
		}
	for (; j < w; j++) {
		r0[2 * j] = r0[2 * j + 1] = s[j];
		r1[2 * j] = r1[2 * j + 1] = s[j];
	}
}

void dn_upsample_forward(const dn_tensor *x, dn_tensor *y, int c_off)
{
	const int w = x->w, yw = y->w, fw = yw == w ? 1 : 2;
	for (int n = 0; n < x->n; n++) {
		for (int c = 0; c < x->c; c++) {
			const float *p = dn_tensor_plane(x, n, c);
			float *q = dn_tensor_plane(y, n, c + c_off);
			for (int i = 0; i < x->h; i++) {
				float *r0 = q + (size_t)(2 * i) * yw, *r1 = r0 + yw;
				const float *s = p + (size_t)i * w;
				if (fw == 1) {
					memcpy(r0, s, (size_t)w * sizeof *s);
					memcpy(r1, s, (size_t)w * sizeof *s);
					continue;
				}
				up_row2(s, r0, r1, w);
			}
		}
	}
}

void dn_upsample_backward(const dn_tensor *dy, int c_off, dn_tensor *dx)
{
	const int w = dx->w, yw = dy->w, fw = yw == w ? 1 : 2;
	for (int n = 0; n < dx->n; n++) {
		for (int c = 0; c < dx->c; c++) {
			const float *q = dn_tensor_plane(dy, n, c + c_off);
			float *p = dn_tensor_plane(dx, n, c);
			for (int i = 0; i < dx->h; i++) {
				const float *r0 = q + (size_t)(2 * i) * yw, *r1 = r0 + yw;
				if (fw == 1) {
					for (int j = 0; j < w; j++)
						p[(size_t)i * w + j] = r0[j] + r1[j];
					continue;
				}
				for (int j = 0; j < w; j++)
					p[(size_t)i * w + j] =
					    r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1];
			}
		}
	}
}
