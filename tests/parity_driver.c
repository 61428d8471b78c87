/*
 * parity_driver.c — the C half of the PyTorch parity test
 * (tests/test_torch_parity.sh, tests/torch_parity.py).
 *
 *   parity_driver MODEL DATA OUT_MODEL OUT
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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/adam.h"
#include "core/nn/layers.h"
#include "core/model/model.h"
#include "core/model/safetensors.h"
#include "core/nn/unet.h"

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

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s MODEL DATA OUT_MODEL OUT\n", argv[0]);
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
