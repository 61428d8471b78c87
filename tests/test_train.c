/*
 * test_train.c — the speech training loop on synthetic pairs (tones in white
 * noise): the validation loss falls, a run is repeatable bit for bit, a run
 * resumed from its checkpoint ends where an uninterrupted one does, and a
 * cancelled run leaves a checkpoint that loads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model/model.h"
#include "core/model/safetensors.h"
#include "core/train/train.h"
#include "tests/check.h"

#define ITEM_LEN 1500

static uint64_t mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	*s = mix(*s);
	return (double)(*s >> 11) / 9007199254740992.0;
}

struct synth {
	size_t n;
	uint64_t salt;
};

static size_t synth_count(void *ctx)
{
	return ((struct synth *)ctx)->n;
}

/* Item i: two tones fixed by i; noise fixed by (i, epoch). */
static int synth_load(void *ctx, size_t i, uint64_t epoch, float **clean, float **noisy, size_t *n,
                      dn_error *err)
{
	struct synth *s = ctx;
	float *c = malloc(ITEM_LEN * sizeof(float)), *x = malloc(ITEM_LEN * sizeof(float));
	if (!c || !x) {
		free(c);
		free(x);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	uint64_t r = mix(s->salt + i);
	double f1 = 0.02 + 0.2 * unit(&r), f2 = 0.05 + 0.3 * unit(&r);
	uint64_t nr = mix(s->salt * 31 + i * 1000003 + epoch);
	for (size_t k = 0; k < ITEM_LEN; k++) {
		c[k] = (float)(0.3 * sin(2 * M_PI * f1 * k) + 0.2 * sin(2 * M_PI * f2 * k));
		x[k] = c[k] + (float)(0.2 * (unit(&nr) - 0.5));
	}
	*clean = c;
	*noisy = x;
	*n = ITEM_LEN;
	return DN_OK;
}

static dn_model *tiny_model(void)
{
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	info.n_fft = 64;
	info.hop = 16;
	info.arch.base_filters = 4;
	info.arch.depth = 2;
	info.scaling = DN_SCALE_LOG1P;
	dn_unet *net;
	dn_model *m = NULL;
	dn_unet_create(&info.arch, 11, &net, NULL);
	CHECK_RC(dn_model_create(&info, net, &m, NULL), DN_OK);
	return m;
}

static int cancel_at;
static int progress_calls;
static int cancel_cb(const dn_train_progress *p, void *user)
{
	progress_calls++;
	CHECK(p->lr > 0.0f && p->step >= 1 && p->step <= p->steps);
	return cancel_at && p->epoch == cancel_at && !p->epoch_done;
}

static int same_weights(dn_model *a, dn_model *b)
{
	size_t na, nb;
	const dn_param *p = dn_unet_params(dn_model_unet(a), &na), *q = dn_unet_params(dn_model_unet(b), &nb);
	for (size_t i = 0; i < na; i++)
		if (memcmp(p[i].data, q[i].data, p[i].size * sizeof(float)))
			return 0;
	return na == nb;
}

/* dn_train_patch with a lookahead: input column t is frame f0 + t, target
 * and weight column t are frame f0 + t - la's, nothing before frame 0 and
 * nothing past the last frame. */
static void test_patch_lookahead(void)
{
	enum { F = 12, PF = 8, LA = 2 };
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	info.n_fft = 4; /* 3 bins */
	info.scaling = DN_SCALE_POWER;
	info.power = 0.5f;
	info.output = DN_OUTPUT_CMASK;
	info.arch.causal = 1;
	info.lookahead = LA;
	const int B = 3;
	float clean[3 * F], noisy[3 * F], in[3 * PF], tg[3 * PF], w[3 * PF];
	for (int b = 0; b < B; b++)
		for (int f = 0; f < F; f++) {
			noisy[b * F + f] = 1.0f + (float)(b * F + f);
			clean[b * F + f] = 0.25f * noisy[b * F + f];
		}
	for (int f0 = 0; f0 <= 8; f0 += 4) {
		CHECK_RC(dn_train_patch(&info, clean, noisy, F, (size_t)f0, PF, in, tg, w), DN_OK);
		for (int b = 0; b < B; b++)
			for (int t = 0; t < PF; t++) {
				int f = f0 + t, g = f - LA, i = b * PF + t;
				float x = f < F ? sqrtf(noisy[b * F + f]) : 0.0f;
				CHECK_MSG(fabsf(in[i] - x) < 1e-6f, "f0 %d bin %d col %d: input %g, want %g",
				          f0, b, t, in[i], x);
				float wx = g >= 0 && g < F ? sqrtf(noisy[b * F + g]) : 0.0f;
				CHECK_MSG(fabsf(w[i] - wx) < 1e-6f, "f0 %d bin %d col %d: weight %g, want %g",
				          f0, b, t, w[i], wx);
				/* (|S|/|X|)^0.5 = 0.5 where there is a frame */
				CHECK_MSG(fabsf(tg[i] - (wx > 0.0f ? 0.5f : 0.0f)) < 1e-6f,
				          "f0 %d col %d: target %g", f0, t, tg[i]);
			}
	}
}

int main(void)
{
	test_patch_lookahead();
	char dir[] = "/tmp/dn_test_train_XXXXXX", ckpt[128], best[128], cmd[160];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
	snprintf(best, sizeof best, "%s/best.safetensors", dir);
	struct synth tr = {12, 1}, va = {4, 2};
	dn_pair_source train = {&tr, synth_count, synth_load}, val = {&va, synth_count, synth_load};
	dn_train_params p = dn_train_default_params();
	p.epochs = 6;
	p.batch = 4;
	p.patch_frames = 32;
	p.lr = 3e-3f;
	p.seed = 5;
	dn_error err = {0};
	dn_train_history h1, h2;

	/* A full run: the validation loss falls. */
	dn_model *a = tiny_model();
	p.checkpoint = ckpt;
	p.best = best;
	CHECK_RC(dn_train_speech(a, &train, &val, &p, cancel_cb, NULL, &h1, &err), DN_OK);
	CHECK(h1.epochs == 6);
	fprintf(stderr, "val loss by epoch:");
	for (int e = 0; e < h1.epochs; e++)
		fprintf(stderr, " %.4g", h1.val_loss[e]);
	fprintf(stderr, " (best epoch %d)\n", h1.best_epoch);
	CHECK_MSG(h1.best_val_loss < 0.5 * h1.val_loss[0], "best %g vs first %g", h1.best_val_loss,
	          h1.val_loss[0]);
	CHECK(progress_calls >= 6 * 3);
	/* The best model on disk holds what the model holds now. */
	dn_model *disk = NULL;
	CHECK_RC(dn_model_load(best, &disk, &err), DN_OK);
	CHECK(disk && same_weights(a, disk));
	CHECK(disk && dn_model_metadata(disk, "train.best_epoch") != NULL);
	dn_model_destroy(disk);

	/* Same seed, same data: the same weights, bit for bit. */
	dn_model *b = tiny_model();
	p.checkpoint = p.best = NULL;
	CHECK_RC(dn_train_speech(b, &train, &val, &p, NULL, NULL, &h2, &err), DN_OK);
	CHECK(same_weights(a, b));
	CHECK(h2.val_loss[5] == h1.val_loss[5]);
	dn_model_destroy(b);

	/* Interrupted after epoch 3 (cancelled during epoch 4), then resumed:
	 * ends exactly where the uninterrupted run ended. */
	unlink(ckpt);
	unlink(best);
	dn_model *c = tiny_model();
	p.checkpoint = ckpt;
	p.best = best;
	cancel_at = 4;
	CHECK_RC(dn_train_speech(c, &train, &val, &p, cancel_cb, NULL, &h2, &err), DN_ECANCELLED);
	CHECK(strstr(err.msg, "cancelled") != NULL);
	dn_st_file *f = NULL;
	CHECK_RC(dn_st_read_file(ckpt, &f, &err), DN_OK);
	CHECK(f && dn_st_metadata(f, "train.epoch") && !strcmp(dn_st_metadata(f, "train.epoch"), "3"));
	dn_st_free(f);
	dn_model_destroy(c);
	cancel_at = 0;
	dn_model *d = tiny_model();
	p.resume = 1;
	CHECK_RC(dn_train_speech(d, &train, &val, &p, NULL, NULL, &h2, &err), DN_OK);
	CHECK(h2.epochs == 6);
	CHECK_MSG(same_weights(a, d), "resumed run differs from the uninterrupted one");
	CHECK(h2.val_loss[5] == h1.val_loss[5] && h2.best_epoch == h1.best_epoch);

	/* A checkpoint from another seed is refused, naming the reason. */
	p.seed = 6;
	CHECK_RC(dn_train_speech(d, &train, &val, &p, NULL, NULL, NULL, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "seed") != NULL);
	dn_model_destroy(d);

	/* A mask on power-compressed magnitudes (cmask): the target tensor
	 * carries the weights, the loss falls, the file says what it is, and a
	 * cmask on log1p input is refused. */
	{
		dn_model_info ci = dn_model_default_info(DN_MODEL_AUDIO);
		ci.n_fft = 64;
		ci.hop = 16;
		ci.arch.base_filters = 4;
		ci.arch.depth = 2;
		ci.arch.out_act = DN_ACT_SIGMOID;
		ci.scaling = DN_SCALE_POWER;
		ci.power = 0.3f;
		ci.output = DN_OUTPUT_CMASK;
		dn_unet *net;
		dn_model *cm = NULL;
		dn_unet_create(&ci.arch, 11, &net, NULL);
		CHECK_RC(dn_model_create(&ci, net, &cm, &err), DN_OK);
		dn_train_params cp = dn_train_default_params();
		cp.epochs = 6;
		cp.batch = 4;
		cp.patch_frames = 32;
		cp.lr = 3e-3f;
		cp.seed = 5;
		cp.best = best;
		unlink(best);
		CHECK_RC(dn_train_speech(cm, &train, &val, &cp, NULL, NULL, &h2, &err), DN_OK);
		fprintf(stderr, "cmask val loss: first %.4g best %.4g\n", h2.val_loss[0], h2.best_val_loss);
		CHECK_MSG(h2.best_val_loss < 0.7 * h2.val_loss[0], "cmask best %g vs first %g",
		          h2.best_val_loss, h2.val_loss[0]);
		CHECK_RC(dn_model_load(best, &disk, &err), DN_OK);
		CHECK(disk && dn_model_get_info(disk)->output == DN_OUTPUT_CMASK);
		dn_model_destroy(disk);
		dn_model_destroy(cm);
		cm = NULL;
		ci.scaling = DN_SCALE_LOG1P;
		dn_unet_create(&ci.arch, 11, &net, NULL);
		CHECK_RC(dn_model_create(&ci, net, &cm, &err), DN_EINVAL); /* net freed */
		CHECK(cm == NULL && strstr(err.msg, "power") != NULL);
	}

	/* Bad parameters. */
	p = dn_train_default_params();
	p.batch = 0;
	CHECK_RC(dn_train_speech(a, &train, &val, &p, NULL, NULL, NULL, &err), DN_EINVAL);
	struct synth empty = {0, 0};
	dn_pair_source none = {&empty, synth_count, synth_load};
	p = dn_train_default_params();
	CHECK_RC(dn_train_speech(a, &none, &val, &p, NULL, NULL, NULL, &err), DN_EINVAL);
	dn_model_destroy(a);

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return check_status();
}
