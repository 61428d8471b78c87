/*
 * adam.h — the Adam optimiser (Kingma & Ba 2015) over one contiguous
 * parameter array, with PyTorch's exact update order so that a step taken here
 * and one taken in torch.optim.Adam agree to rounding.
 */
#ifndef DN_ADAM_H
#define DN_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"

typedef struct dn_adam_params {
	float lr;           /* 1e-3 */
	float beta1, beta2; /* 0.9, 0.999 */
	float eps;          /* 1e-8 */
	float weight_decay; /* 0: L2 added to the gradient, as torch.optim.Adam */
} dn_adam_params;

dn_adam_params dn_adam_default_params(void);

typedef struct dn_adam dn_adam;

/* An optimiser for n parameters; the caller owns *out (dn_adam_destroy). */
int dn_adam_create(const dn_adam_params *p, size_t n, dn_adam **out, dn_error *err);
void dn_adam_destroy(dn_adam *a);

/* One step: params -= update(grads). */
void dn_adam_step(dn_adam *a, float *params, const float *grads);

void dn_adam_set_lr(dn_adam *a, float lr);
float dn_adam_get_lr(const dn_adam *a);

/* State for checkpoints: first and second moments (n floats each, owned by
 * the optimiser) and the step count. */
void dn_adam_state(dn_adam *a, float **m, float **v, int64_t **step, size_t *n);

#endif
