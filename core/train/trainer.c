/*
 * trainer.c — CPU and CUDA training steps behind one interface (trainer.h).
 */
#include "core/train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/layers.h"
#include "core/train/train.h"

struct dn_trainer {
	dn_unet *net;
	dn_adam *opt;
	dn_gpu_net *gpu; /* NULL: the CPU */
	dn_tensor grad, y;
	char desc[160];
};

int dn_trainer_create(dn_unet *net, dn_adam *opt, const dn_device *dev, dn_trainer **out, dn_error *err)
{
	dn_trainer *t = calloc(1, sizeof *t);
	if (!t)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate the trainer");
	t->net = net;
	t->opt = opt;
	snprintf(t->desc, sizeof t->desc, "cpu");
	if (dev && dev->index >= 0) {
		char name[128] = "";
		int rc = dn_gpu_net_create(net, opt, dev, &t->gpu, err);
		if (rc) {
			dn_trainer_destroy(t);
			return rc;
		}
		dn_cuda_device_describe(dev->index, name, sizeof name, NULL);
		snprintf(t->desc, sizeof t->desc, "cuda:%d (%s) %s%s", dev->index, name,
		         dn_precision_name(dev->precision), dev->deterministic ? " deterministic" : "");
	}
	*out = t;
	return DN_OK;
}

void dn_trainer_destroy(dn_trainer *t)
{
	if (!t)
		return;
	dn_gpu_net_destroy(t->gpu);
	dn_tensor_free(&t->grad);
	dn_tensor_free(&t->y);
	free(t);
}

_Static_assert(DN_LOSS_WEIGHTED == 2, "core/cuda's kernels read bit 2 as weighted");

double dn_trainer_loss(int loss, const dn_tensor *y, const dn_tensor *target, float *grad)
{
	const size_t n = dn_tensor_size(y);
	if (!(loss & DN_LOSS_WEIGHTED))
		return (loss & 1) ? dn_loss_mae(y->data, target->data, n, grad)
		                  : dn_loss_mse(y->data, target->data, n, grad);
	const size_t plane = (size_t)y->c * y->h * y->w;
	double s = 0.0;
	for (int k = 0; k < y->n; k++) {
		const float *tk = target->data + 2 * plane * (size_t)k;
		s += dn_loss_scaled(loss & 1, y->data + plane * (size_t)k, tk, tk + plane, plane, n,
		                    grad ? grad + plane * (size_t)k : NULL);
	}
	return s / (double)n;
}

int dn_trainer_step(dn_trainer *t, const dn_tensor *x, const dn_tensor *target, int loss, double *loss_out,
                    dn_error *err)
{
	if (t->gpu)
		return dn_gpu_net_train_step(t->gpu, x, target, loss, dn_adam_get_lr(t->opt), loss_out, err);
	const dn_tensor *y;
	int rc = dn_unet_forward_train(t->net, x, &y, err);
	if (!rc)
		rc = dn_tensor_resize(&t->grad, y->n, y->c, y->h, y->w, err);
	if (rc)
		return rc;
	const int tc = loss & DN_LOSS_WEIGHTED ? 2 * y->c : y->c;
	if (target->n != y->n || target->c != tc || target->h != y->h || target->w != y->w)
		return dn_error_set(err, DN_ESHAPE,
		                    "target %dx%dx%dx%d does not match the output %dx%dx%dx%d", target->n,
		                    target->c, target->h, target->w, y->n, tc, y->h, y->w);
	*loss_out = dn_trainer_loss(loss, y, target, t->grad.data);
	dn_unet_zero_grad(t->net);
	if ((rc = dn_unet_backward(t->net, &t->grad, err)))
		return rc;
	float *params, *grads;
	size_t np;
	if ((rc = dn_unet_trainable(t->net, &params, &grads, &np, err)))
		return rc;
	dn_adam_step(t->opt, params, grads);
	return DN_OK;
}

int dn_trainer_eval(dn_trainer *t, const dn_tensor *x, const dn_tensor **y, dn_error *err)
{
	if (!t->gpu)
		return dn_unet_forward_eval(t->net, x, y, err);
	int rc = dn_gpu_net_forward_eval(t->gpu, x, &t->y, err);
	*y = &t->y;
	return rc;
}

int dn_trainer_pull(dn_trainer *t, dn_error *err)
{
	return t->gpu ? dn_gpu_net_download(t->gpu, t->net, t->opt, err) : DN_OK;
}

int dn_trainer_push(dn_trainer *t, dn_error *err)
{
	return t->gpu ? dn_gpu_net_upload(t->gpu, t->net, t->opt, err) : DN_OK;
}

const char *dn_trainer_describe(const dn_trainer *t)
{
	return t->desc;
}

double dn_trainer_device_seconds(const dn_trainer *t)
{
	return t->gpu ? dn_gpu_net_busy_seconds(t->gpu) : 0.0;
}
