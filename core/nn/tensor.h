/*
 * tensor.h — float32 NCHW tensors in 64-byte aligned buffers.
 *
 * A dn_tensor owns its buffer unless it was made with dn_tensor_view(), in
 * which case it borrows memory owned elsewhere and dn_tensor_free() leaves the
 * data alone. Shapes are plain ints: n (batch), c (channels), h, w.
 */
#ifndef DN_TENSOR_H
#define DN_TENSOR_H

#include <stddef.h>

#include "core/dn.h"

#define DN_ALIGN 64

typedef struct dn_tensor {
	int n, c, h, w;
	float *data;
	size_t cap; /* elements allocated (>= size); 0 for a view */
} dn_tensor;

/* 64-byte aligned, zero-filled allocation of `bytes`; NULL on failure or when
 * the size overflows. Free with dn_free(). */
void *dn_alloc(size_t bytes);
void dn_free(void *p);

/* Number of elements n*c*h*w. */
static inline size_t dn_tensor_size(const dn_tensor *t)
{
	return (size_t)t->n * t->c * t->h * t->w;
}

/* Makes t an owned, zeroed tensor of the given shape. DN_ENOMEM or DN_EINVAL
 * (a non-positive dimension). t's previous buffer is not freed. */
int dn_tensor_init(dn_tensor *t, int n, int c, int h, int w, dn_error *err);

/* Reshapes t, reallocating only when the new size exceeds its capacity, so a
 * tensor reused across calls stops allocating once it has seen its largest
 * shape. Contents are unspecified afterwards. Not for views. */
int dn_tensor_resize(dn_tensor *t, int n, int c, int h, int w, dn_error *err);

/* A borrowed view over data (no allocation). */
dn_tensor dn_tensor_view(float *data, int n, int c, int h, int w);

/* Releases an owned buffer and zeroes t; safe on a zeroed tensor and views. */
void dn_tensor_free(dn_tensor *t);

/* Pointer to element (n, c, 0, 0). */
static inline float *dn_tensor_plane(const dn_tensor *t, int n, int c)
{
	return t->data + ((size_t)n * t->c + c) * (size_t)t->h * t->w;
}

#endif
