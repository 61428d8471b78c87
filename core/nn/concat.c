/*
 * concat.c — channel concatenation as copies into/out of a channel range.
 */
#include <string.h>

#include "core/nn/layers.h"

void dn_concat_forward(const dn_tensor *x, dn_tensor *y, int c_off)
{
	const size_t plane = (size_t)x->c * x->h * x->w;
	for (int n = 0; n < x->n; n++)
		memcpy(dn_tensor_plane(y, n, c_off), dn_tensor_plane(x, n, 0), plane * sizeof(float));
}

void dn_concat_backward(const dn_tensor *dy, int c_off, dn_tensor *dx, int accumulate)
{
	const size_t plane = (size_t)dx->c * dx->h * dx->w;
	for (int n = 0; n < dx->n; n++) {
		const float *s = dn_tensor_plane(dy, n, c_off);
		float *d = dn_tensor_plane(dx, n, 0);
		if (accumulate) {
			for (size_t i = 0; i < plane; i++)
				d[i] += s[i];
		} else {
			memcpy(d, s, plane * sizeof(float));
		}
	}
}
