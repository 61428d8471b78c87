/*
 * tensor.c — aligned buffers and the dn_tensor life cycle (see tensor.h).
 */
#include "core/nn/tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *dn_alloc(size_t bytes)
{
	if (bytes == 0)
		bytes = DN_ALIGN;
	if (bytes > SIZE_MAX - DN_ALIGN)
		return NULL;
	size_t rounded = (bytes + DN_ALIGN - 1) / DN_ALIGN * DN_ALIGN;
	void *p = aligned_alloc(DN_ALIGN, rounded);
	if (p)
		memset(p, 0, rounded);
	return p;
}

void dn_free(void *p)
{
	free(p);
}

static int shape_elements(int n, int c, int h, int w, size_t *out, dn_error *err)
{
	if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
		return dn_error_set(err, DN_EINVAL, "tensor shape %dx%dx%dx%d has a non-positive dimension",
		                    n, c, h, w);
	size_t s = (size_t)n;
	const int dims[3] = {c, h, w};
	for (int i = 0; i < 3; i++) {
		if (s > SIZE_MAX / sizeof(float) / (size_t)dims[i])
			return dn_error_set(err, DN_ELIMIT, "tensor shape %dx%dx%dx%d is too large", n, c, h,
			                    w);
		s *= (size_t)dims[i];
	}
	*out = s;
	return DN_OK;
}

int dn_tensor_init(dn_tensor *t, int n, int c, int h, int w, dn_error *err)
{
	size_t s;
	int rc = shape_elements(n, c, h, w, &s, err);
	if (rc)
		return rc;
	float *d = dn_alloc(s * sizeof(float));
	if (!d)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate a %dx%dx%dx%d tensor", n, c, h, w);
	*t = (dn_tensor){.n = n, .c = c, .h = h, .w = w, .data = d, .cap = s};
	return DN_OK;
}

int dn_tensor_resize(dn_tensor *t, int n, int c, int h, int w, dn_error *err)
{
	size_t s;
	int rc = shape_elements(n, c, h, w, &s, err);
	if (rc)
		return rc;
	if (s > t->cap) {
		float *d = dn_alloc(s * sizeof(float));
		if (!d)
			return dn_error_set(err, DN_ENOMEM, "cannot allocate a %dx%dx%dx%d tensor", n, c, h,
			                    w);
		dn_free(t->data);
		t->data = d;
		t->cap = s;
	}
	t->n = n;
	t->c = c;
	t->h = h;
	t->w = w;
	return DN_OK;
}

dn_tensor dn_tensor_view(float *data, int n, int c, int h, int w)
{
	return (dn_tensor){.n = n, .c = c, .h = h, .w = w, .data = data, .cap = 0};
}

void dn_tensor_free(dn_tensor *t)
{
	if (t->cap)
		dn_free(t->data);
	*t = (dn_tensor){0};
}
