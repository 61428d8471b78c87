/*
 * parity_driver.c — the C half of the PyTorch parity test
 * (tests/test_torch_parity.sh, tests/torch_parity.py).
 *
 *   parity_driver [--device cuda[:N]] MODEL DATA OUT_MODEL OUT
 *
 * Loads MODEL (a safetensors model file made by torch_parity.py) and DATA
 * (tensors "infer.x", "train.x", "train.t"), then
 *  1. runs folded inference on infer.x;
 *  2. takes one training step on the batch: forward_train, MSE loss,
 *     zero_grad, backward, Adam (lr 1e-3, PyTorch's defaults otherwise).
 * OUT receives "infer.y", "loss" (also as the metadata string "loss", printed
 * with 17 digits) and "grad.NAME" for every trainable tensor; OUT_MODEL is the
 * updated model (weights and batch-norm running statistics) by dn_model_save.
 * The comparison itself is torch_parity.py's job. Exits 1 with a message on
 * any error.
 *
 * With --device the same happens on a GPU through dn_trainer (fp32, TF32
 * off): the eval-mode forward with running statistics stands for the folded
 * inference, and the gradients are read back from Adam's first moment after
 * its first step, m = (1 − β1) g, so they are the GPU's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/adam.h"
#include "core/nn/amx.h"
#include "core/nn/layers.h"
#include "core/model/model.h"
#include "core/model/safetensors.h"
#include "core/nn/unet.h"
#include "core/train/train.h"
#include "core/train/trainer.h"

static int fail(const char *what, const dn_error *err)
{
	fprintf(stderr, "parity_driver: %s: %s\n", what, err->msg);
	return 1;
}

/* t ← DATA's 4-D tensor `name`, whatever its shape. */
static int load_tensor(const dn_st_file *f, const char *name, dn_tensor *t, dn_error *err)
{
	const dn_st_tensor *st = dn_st_find(f, name);
	if (!st)
		return dn_error_set(err, DN_ENOTFOUND, "data file lacks \"%s\"", name);
	if (st->ndim != 4)
		return dn_error_set(err, DN_ESHAPE, "\"%s\" has %d dimensions, not 4", name, st->ndim);
	int rc = dn_tensor_init(t, (int)st->shape[0], (int)st->shape[1], (int)st->shape[2], (int)st->shape[3],
	                        err);
	if (!rc)
		rc = dn_st_get_f32(f, name, 4, st->shape, t->data, err);
	return rc;
}

static int add_tensor(dn_st_writer *w, const char *name, const dn_tensor *t, dn_error *err)
{
	int64_t shape[4] = {t->n, t->c, t->h, t->w};
	return dn_st_writer_add_f32(w, name, 4, shape, t->data, err);
}

/* One step on dev through dn_trainer; the outputs as the CPU path makes them. */
static int gpu_step(dn_model *m, const dn_device *dev, const dn_tensor *xi, const dn_tensor *xt,
                    const dn_tensor *tt, dn_st_writer *w, const char **stage, dn_error *err)
{
	dn_unet *net = dn_model_unet(m);
	float *params, *grads, *mo, *vo;
	int64_t *t;
	size_t n, np;
	dn_adam *adam = NULL;
	dn_trainer *tr = NULL;
	dn_adam_params ap = dn_adam_default_params();
	ap.lr = 1e-3f;
	int rc = dn_unet_trainable(net, &params, &grads, &n, err);
	if (!rc)
		rc = dn_adam_create(&ap, n, &adam, err);
	if (!rc)
		rc = dn_trainer_create(net, adam, dev, &tr, err);
	const dn_tensor *y = NULL;
	if (!rc) {
		*stage = "gpu inference";
		rc = dn_trainer_eval(tr, xi, &y, err);
	}
	if (!rc)
		rc = add_tensor(w, "infer.y", y, err);
	double loss = 0;
	if (!rc) {
		*stage = "gpu step";
		rc = dn_trainer_step(tr, xt, tt, DN_LOSS_MSE, &loss, err);
	}
	if (!rc)
		rc = dn_trainer_pull(tr, err);
	if (!rc) {
		char buf[40];
		snprintf(buf, sizeof buf, "%.17g", loss);
		float lf = (float)loss;
		int64_t one = 1;
		rc = dn_st_writer_set_metadata(w, "loss", buf, err);
		if (!rc)
			rc = dn_st_writer_add_f32(w, "loss", 1, &one, &lf, err);
	}
	if (!rc) {
		dn_adam_state(adam, &mo, &vo, &t, &n);
		const dn_param *p = dn_unet_params(net, &np);
		for (size_t i = 0; i < np && !rc; i++) {
			if (!p[i].grad)
				continue;
			const float *mi = mo + (p[i].data - params);
			float *g = malloc(p[i].size * sizeof *g);
			if (!g) {
				rc = dn_error_set(err, DN_ENOMEM, "out of memory");
				break;
			}
			for (size_t k = 0; k < p[i].size; k++)
				g[k] = mi[k] / (1.0f - ap.beta1);
			char name[80];
			int64_t shape[4];
			for (int d = 0; d < p[i].ndim; d++)
				shape[d] = p[i].shape[d];
			snprintf(name, sizeof name, "grad.%s", p[i].name);
			rc = dn_st_writer_add_f32(w, name, p[i].ndim, shape, g, err);
			free(g);
		}
	}
	dn_trainer_destroy(tr);
	dn_adam_destroy(adam);
	return rc;
}

int main(int argc, char **argv)
{
	dn_device dev = {.index = -1, .precision = DN_PRECISION_FP32};
	/* Parity is of the fp32 arithmetic: no bf16 AMX layers on the CPU. */
	dn_amx_set_enabled(0);
	if (argc == 7 && !strcmp(argv[1], "--device")) {
		dn_error perr = {0};
		if (dn_device_parse(argv[2], &dev.index, &perr)) {
			fprintf(stderr, "parity_driver: %s\n", perr.msg);
			return 2;
		}
		argv += 2;
		argc -= 2;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: %s [--device cuda[:N]] MODEL DATA OUT_MODEL OUT\n", argv[0]);
		return 2;
	}
	dn_error err = {0};
	dn_model *m = NULL;
	dn_st_file *data = NULL;
	dn_st_writer *w = dn_st_writer_create();
	dn_unet_ws *ws = dn_unet_ws_create();
	dn_adam *adam = NULL;
	dn_tensor xi = {0}, yi = {0}, xt = {0}, tt = {0}, dy = {0};
	int rc = w && ws ? DN_OK : dn_error_set(&err, DN_ENOMEM, "out of memory");
	const char *stage = "setup";

	if (!rc) {
		stage = argv[1];
		rc = dn_model_load(argv[1], &m, &err);
	}
	if (!rc) {
		stage = argv[2];
		rc = dn_st_read_file(argv[2], &data, &err);
	}
	if (!rc)
		rc = load_tensor(data, "infer.x", &xi, &err);
	if (!rc)
		rc = load_tensor(data, "train.x", &xt, &err);
	if (!rc)
		rc = load_tensor(data, "train.t", &tt, &err);

	if (!rc && dev.index >= 0) {
		rc = gpu_step(m, &dev, &xi, &xt, &tt, w, &stage, &err);
		goto save;
	}

	/* 1. Folded inference. */
	if (!rc) {
		stage = "inference";
		rc = dn_unet_infer_run(dn_model_infer(m), ws, &xi, &yi, &err);
	}
	if (!rc)
		rc = add_tensor(w, "infer.y", &yi, &err);

	/* 2. One training step. */
	dn_unet *net = m ? dn_model_unet(m) : NULL;
	const dn_tensor *y = NULL;
	if (!rc) {
		stage = "training forward";
		rc = dn_unet_forward_train(net, &xt, &y, &err);
	}
	if (!rc && (y->n != tt.n || y->c != tt.c || y->h != tt.h || y->w != tt.w))
		rc = dn_error_set(&err, DN_ESHAPE, "train.t does not have the output's shape");
	if (!rc)
		rc = dn_tensor_init(&dy, y->n, y->c, y->h, y->w, &err);
	if (!rc) {
		double loss = dn_loss_mse(y->data, tt.data, dn_tensor_size(y), dy.data);
		char buf[40];
		snprintf(buf, sizeof buf, "%.17g", loss);
		float lf = (float)loss;
		int64_t one = 1;
		rc = dn_st_writer_set_metadata(w, "loss", buf, &err);
		if (!rc)
			rc = dn_st_writer_add_f32(w, "loss", 1, &one, &lf, &err);
	}
	if (!rc) {
		stage = "backward";
		dn_unet_zero_grad(net);
		rc = dn_unet_backward(net, &dy, &err);
	}
	if (!rc) {
		size_t np;
		const dn_param *p = dn_unet_params(net, &np);
		for (size_t i = 0; i < np && !rc; i++) {
			if (!p[i].grad)
				continue;
			char name[80];
			int64_t shape[4];
			for (int d = 0; d < p[i].ndim; d++)
				shape[d] = p[i].shape[d];
			snprintf(name, sizeof name, "grad.%s", p[i].name);
			rc = dn_st_writer_add_f32(w, name, p[i].ndim, shape, p[i].grad, &err);
		}
	}
	if (!rc) {
		stage = "adam";
		float *params, *grads;
		size_t n;
		dn_unet_trainable(net, &params, &grads, &n, NULL);
		dn_adam_params ap = dn_adam_default_params();
		ap.lr = 1e-3f;
		rc = dn_adam_create(&ap, n, &adam, &err);
		if (!rc)
			dn_adam_step(adam, params, grads);
	}
save:
	if (!rc) {
		stage = argv[3];
		const char *extra[] = {"provenance", "tests/parity_driver: one Adam step", NULL};
		rc = dn_model_save(m, argv[3], extra, &err);
	}
	if (!rc) {
		stage = argv[4];
		rc = dn_st_writer_write_file(w, argv[4], &err);
	}

	dn_tensor_free(&xi);
	dn_tensor_free(&yi);
	dn_tensor_free(&xt);
	dn_tensor_free(&tt);
	dn_tensor_free(&dy);
	dn_adam_destroy(adam);
	dn_unet_ws_destroy(ws);
	dn_st_writer_destroy(w);
	dn_st_free(data);
	dn_model_destroy(m);
	return rc ? fail(stage, &err) : 0;
}
