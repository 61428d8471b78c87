/*
 * adam.c — Adam, following torch.optim.Adam (non-amsgrad, single tensor):
 *   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
 *   p -= (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)
 */
#include "core/nn/adam.h"

#include <math.h>
#include <stdlib.h>

#include "core/nn/tensor.h"

struct dn_adam {
	dn_adam_params p;
	size_t n;
	int64_t t;
	float *m, *v;
};

dn_adam_params dn_adam_default_params(void)
{
	return (dn_adam_params){
	    .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
}

int dn_adam_create(const dn_adam_params *p, size_t n, dn_adam **out, dn_error *err)
{
	if (!(p->lr > 0.0f) || !(p->beta1 >= 0.0f && p->beta1 < 1.0f) ||
	    !(p->beta2 >= 0.0f && p->beta2 < 1.0f) || !(p->eps > 0.0f) || !(p->weight_decay >= 0.0f))
		return dn_error_set(err, DN_EINVAL,
		                    "Adam parameters out of range (lr %g, betas %g %g, eps %g)", p->lr,
		                    p->beta1, p->beta2, p->eps);
	dn_adam *a = calloc(1, sizeof *a);
	if (!a)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate the optimiser");
	a->p = *p;
	a->n = n;
	a->m = dn_alloc(n * sizeof(float));
	a->v = dn_alloc(n * sizeof(float));
	if (!a->m || !a->v) {
		dn_adam_destroy(a);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate optimiser state for %zu parameters", n);
	}
	*out = a;
	return DN_OK;
}

void dn_adam_destroy(dn_adam *a)
{
	if (!a)
		return;
	dn_free(a->m);
	dn_free(a->v);
	free(a);
}

void dn_adam_step(dn_adam *a, float *restrict params, const float *restrict grads)
{
	a->t++;
	const float b1 = a->p.beta1, b2 = a->p.beta2, eps = a->p.eps, wd = a->p.weight_decay;
	const float bc1 = 1.0f - powf(b1, (float)a->t);
	const float bc2_sqrt = sqrtf(1.0f - powf(b2, (float)a->t));
	const float step = a->p.lr / bc1;
	float *restrict m = a->m, *restrict v = a->v;
	for (size_t i = 0; i < a->n; i++) {
		float g = grads[i] + wd * params[i];
		m[i] = m[i] * b1 + (1.0f - b1) * g;
		v[i] = v[i] * b2 + (1.0f - b2) * g * g;
		params[i] -= step * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
	}
}

void dn_adam_set_lr(dn_adam *a, float lr)
{
	a->p.lr = lr;
}

float dn_adam_get_lr(const dn_adam *a)
{
	return a->p.lr;
}

void dn_adam_state(dn_adam *a, float **m, float **v, int64_t **step, size_t *n)
{
	*m = a->m;
	*v = a->v;
	*step = &a->t;
	*n = a->n;
}
