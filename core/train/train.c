/*
 * train.c — the speech training loop (see train.h).
 *
 * One epoch visits every training item `patches_per_item` times in a seeded
 * random order; each visit draws a random window of patch_frames STFT frames
 * from the item's pair and turns it into (network input, target) with
 * dn_train_patch. Validation uses each validation item's first window with
 * the noise of epoch 0, in eval mode (batch-norm running statistics), so its
 * loss is comparable across epochs.
 *
 * Schedules follow Keras, whose recipe the seed used: ReduceLROnPlateau
 * multiplies the rate by lr_factor after lr_patience epochs without a new best
 * validation loss (the wait restarts after a reduction); early stopping ends
 * the run after early_stop such epochs. The best weights are kept in memory
 * and on disk, and are what the model holds when the loop returns.
 *
 * Checkpoints are safetensors files holding every network tensor, Adam's two
 * moments ("optim.m", "optim.v") and the loop's state in __metadata__, written
 * atomically after each epoch, so a killed run resumes at the last epoch end.
 */
#include "core/train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/nn/adam.h"
#include "core/nn/layers.h"
#include "core/model/safetensors.h"
#include "core/audio/stft.h"
#include "core/nn/unet.h"
#include "core/train/prefetch.h"
#include "core/train/trainer.h"
#include "core/train/params.h"
#include "core/train/plateau.h"

dn_train_params dn_train_default_params(void)
{
	return (dn_train_params){.epochs = 50,
	                         .batch = 16,
	                         .lr = 1e-3f,
	                         .patch_frames = 131,
	                         .patches_per_item = 1,
	                         .lr_factor = 0.5f,
	                         .lr_patience = 5,
	                         .min_lr = 1e-6f,
	                         .early_stop = 10,
	                         .loss = DN_LOSS_MSE,
	                         .seed = 1,
	                         .device = {.index = -1}};
}

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform integer in [0, n) from a counter-based stream. */
static size_t draw(uint64_t *state, size_t n)
{
	*state = mix64(*state);
	return n ? (size_t)(*state % n) : 0;
}

static float scale_mag(const dn_model_info *info, float m)
{
	switch (info->scaling) {
	case DN_SCALE_LOG1P: m = log1pf(m); break;
	case DN_SCALE_POWER: m = powf(m, info->power); break;
	default: break;
	}
	return m * info->input_scale;
}

int dn_train_patch(const dn_model_info *info, const float *clean_mag, const float *noisy_mag, size_t frames,
                   size_t f0, int patch_frames, float *in, float *target, float *weight)
{
	const int bins = info->n_fft / 2 + 1;
	const size_t pf = (size_t)patch_frames, la = (size_t)info->lookahead;
	for (int b = 0; b < bins; b++) {
		const float *c = clean_mag + (size_t)b * frames, *x = noisy_mag + (size_t)b * frames;
		float *pi = in + (size_t)b * pf, *pt = target + (size_t)b * pf;
		for (size_t t = 0; t < pf; t++) {
			size_t f = f0 + t;
			pi[t] = scale_mag(info, f < frames ? x[f] : 0.0f);
			/* Column t's target is frame f - la (with a lookahead, the
			 * network sees la frames past the one it outputs); before
			 * the first frame, as past the last, all is silence. */
			int out = f >= la && f - la < frames;
			float cm = out ? c[f - la] : 0.0f, xm = out ? x[f - la] : 0.0f;
			if (info->output == DN_OUTPUT_CMASK) {
				float a = powf(xm, info->power), s = powf(cm, info->power);
				pt[t] = a > 0.0f ? fminf(s / a, 1.0f) : 0.0f;
				weight[(size_t)b * pf + t] = a;
			} else if (info->output == DN_OUTPUT_MASK)
				pt[t] = xm > 0.0f ? fminf(cm / xm, 1.0f) : 0.0f;
			else
				pt[t] = scale_mag(info, cm);
		}
	}
	return DN_OK;
}

/* Per-item spectrogram scratch, grown as needed. */
typedef struct spec_buf {
	float *clean, *noisy;
	size_t cap;
} spec_buf;

static int load_spec(const dn_pair_source *src, size_t i, uint64_t epoch, dn_stft *stft, spec_buf *sb,
                     size_t *frames, dn_error *err)
{
	float *clean = NULL, *noisy = NULL;
	size_t n = 0;
	int rc = src->load(src->ctx, i, epoch, &clean, &noisy, &n, err);
	if (!rc && n == 0)
		rc = dn_error_set(err, DN_EFORMAT, "training item %zu is empty", i);
	if (!rc) {
		size_t f = dn_stft_frames(stft, n), need = f * (size_t)dn_stft_bins(stft);
		if (need > sb->cap) {
			float *c = realloc(sb->clean, need * sizeof(float)),
			      *x = c ? realloc(sb->noisy, need * sizeof(float)) : NULL;
			if (c)
				sb->clean = c;
			if (x)
				sb->noisy = x;
			if (!c || !x)
				rc = dn_error_set(err, DN_ENOMEM,
				                  "cannot allocate the spectrogram of item %zu", i);
			else
				sb->cap = need;
		}
		if (!rc)
			rc = dn_stft_forward(stft, clean, n, sb->clean, NULL, err);
		if (!rc)
			rc = dn_stft_forward(stft, noisy, n, sb->noisy, NULL, err);
		*frames = f;
	}
	free(clean);
	free(noisy);
	return rc;
}

/* The loss a step is scored with: cmask targets carry their weights. */
static int step_loss(const dn_model_info *info, const dn_train_params *p)
{
	return p->loss | (info->output == DN_OUTPUT_CMASK ? DN_LOSS_WEIGHTED : 0);
}

/* Target channels per patch: the target, and for cmask its weights. */
static int target_channels(const dn_model_info *info)
{
	return info->output == DN_OUTPUT_CMASK ? 2 : 1;
}

/* What the batch loaders share for one epoch (read-only while it runs). */
typedef struct batch_ctx {
	const dn_model_info *info;
	const dn_train_params *p;
	const dn_pair_source *src;
	const size_t *order;
	size_t per_epoch;
	int epoch;
	size_t bins;
} batch_ctx;

/* One loader thread's STFT and spectrogram buffers. */
typedef struct batch_scratch {
	dn_stft *stft;
	spec_buf sb;
} batch_scratch;

static void *batch_scratch_new(void *ctx)
{
	const batch_ctx *bc = ctx;
	batch_scratch *s = calloc(1, sizeof *s);
	if (s && dn_stft_create(bc->info->n_fft, bc->info->hop, &s->stft, NULL)) {
		free(s);
		s = NULL;
	}
	return s;
}

static void batch_scratch_free(void *ctx, void *scratch)
{
	batch_scratch *s = scratch;
	(void)ctx;
	dn_stft_destroy(s->stft);
	free(s->sb.clean);
	free(s->sb.noisy);
	free(s);
}

/* Batch s of the epoch: items order[s·batch …], each patch at a position
 * drawn from a stream seeded by (seed, epoch, s), so the batch depends on
 * nothing but its index and the run is the same at any loader count. */
static int make_batch(void *ctx, void *scratch, int64_t s, dn_tensor *x, dn_tensor *t, dn_error *err)
{
	const batch_ctx *bc = ctx;
	batch_scratch *sc = scratch;
	const dn_train_params *p = bc->p;
	const size_t pf = (size_t)p->patch_frames, first = (size_t)s * (size_t)p->batch;
	const int b = (int)(bc->per_epoch - first < (size_t)p->batch ? bc->per_epoch - first : (size_t)p->batch);
	int rc;
	if ((rc = dn_tensor_resize(x, b, 1, (int)bc->bins, (int)pf, err)) ||
	    (rc = dn_tensor_resize(t, b, target_channels(bc->info), (int)bc->bins, (int)pf, err)))
		return rc;
	uint64_t rng = mix64(p->seed ^ mix64((uint64_t)bc->epoch + 1) ^ mix64(~(uint64_t)s));
	for (int k = 0; k < b; k++) {
		size_t item = bc->order[first + (size_t)k] / (size_t)p->patches_per_item, frames;
		if ((rc = load_spec(bc->src, item, (uint64_t)bc->epoch, sc->stft, &sc->sb, &frames, err)))
			return rc;
		size_t f0 = frames > pf ? draw(&rng, frames - pf + 1) : 0;
		dn_train_patch(bc->info, sc->sb.clean, sc->sb.noisy, frames, f0, p->patch_frames,
		               dn_tensor_plane(x, k, 0), dn_tensor_plane(t, k, 0),
		               t->c > 1 ? dn_tensor_plane(t, k, 1) : NULL);
	}
	return DN_OK;
}

/* Loop state that a checkpoint carries. */
typedef struct loop_state {
	int epoch;        /* epochs completed */
	dn_plateau sched; /* the rate, the best validation loss, the waits */
	dn_train_history h;
} loop_state;

static void join_numbers(char *dst, size_t cap, const double *d, const float *f, int n)
{
	size_t at = 0;
	dst[0] = '\0';
	for (int i = 0; i < n && at + 32 < cap; i++)
		at += (size_t)snprintf(dst + at, cap - at, i ? " %.17g" : "%.17g", d ? d[i] : (double)f[i]);
}

static int parse_numbers(const char *s, double *d, float *f, int n)
{
	for (int i = 0; i < n; i++) {
		char *end;
		double v = strtod(s, &end);
		if (end == s)
			return -1;
		if (d)
			d[i] = v;
		else
			f[i] = (float)v;
		s = end;
	}
	return 0;
}

static int save_checkpoint(const char *path, dn_model *m, dn_adam *opt, const loop_state *st,
                           const dn_train_params *p, dn_error *err)
{
	dn_st_writer *w = dn_st_writer_create();
	if (!w)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	size_t np, n;
	const dn_param *prm = dn_unet_params(dn_model_unet(m), &np);
	int rc = DN_OK;
	for (size_t i = 0; i < np && !rc; i++) {
		int64_t shape[4];
		for (int d = 0; d < prm[i].ndim; d++)
			shape[d] = prm[i].shape[d];
		rc = dn_st_writer_add_f32(w, prm[i].name, prm[i].ndim, shape, prm[i].data, err);
	}
	float *mom, *vel;
	int64_t *step;
	dn_adam_state(opt, &mom, &vel, &step, &n);
	int64_t len = (int64_t)n;
	if (!rc)
		rc = dn_st_writer_add_f32(w, "optim.m", 1, &len, mom, err);
	if (!rc)
		rc = dn_st_writer_add_f32(w, "optim.v", 1, &len, vel, err);
	for (size_t i = 0; i < dn_model_metadata_count(m) && !rc; i++) {
		const char *k, *v;
		dn_model_metadata_at(m, i, &k, &v);
		rc = dn_st_writer_set_metadata(w, k, v, err);
	}
	char buf[64];
	size_t hcap = (size_t)st->h.epochs * 26 + 32;
	char *hist = malloc(hcap);
	if (!hist)
		rc = rc ? rc : dn_error_set(err, DN_ENOMEM, "out of memory");
#define META(k, ...)                                                                                         \
	do {                                                                                                 \
		snprintf(buf, sizeof buf, __VA_ARGS__);                                                      \
		if (!rc)                                                                                     \
			rc = dn_st_writer_set_metadata(w, k, buf, err);                                      \
	} while (0)
	META("train.epoch", "%d", st->epoch);
	META("train.lr", "%.9g", (double)st->sched.lr);
	META("train.best", "%.17g", st->sched.best);
	META("train.wait_lr", "%d", st->sched.wait_lr);
	META("train.wait_stop", "%d", st->sched.wait_stop);
	META("train.adam_step", "%lld", (long long)*step);
	META("train.best_epoch", "%d", st->h.best_epoch);
	META("train.seed", "%llu", (unsigned long long)p->seed);
	META("train.batch", "%d", p->batch);
#undef META
	const char *keys[4] = {"train.loss", "train.val_loss", "train.seconds", "train.lrs"};
	for (int k = 0; k < 4 && !rc; k++) {
		join_numbers(hist, hcap,
		             k == 0   ? st->h.loss
		             : k == 1 ? st->h.val_loss
		             : k == 2 ? st->h.seconds
		                      : NULL,
		             k == 3 ? st->h.lr : NULL, st->h.epochs);
		rc = dn_st_writer_set_metadata(w, keys[k], hist, err);
	}
	free(hist);
	if (!rc)
		rc = dn_st_writer_write_file(w, path, err);
	dn_st_writer_destroy(w);
	return rc;
}

static int meta_long(const dn_st_file *f, const char *key, long long *out, dn_error *err)
{
	const char *s = dn_st_metadata(f, key);
	char *end;
	if (!s)
		return dn_error_set(err, DN_EFORMAT, "checkpoint lacks \"%s\"", key);
	*out = strtoll(s, &end, 10);
	if (end == s || *end)
		return dn_error_set(err, DN_EFORMAT, "checkpoint \"%s\" = \"%s\" is not an integer", key, s);
	return DN_OK;
}

static int load_checkpoint(const char *path, dn_model *m, dn_adam *opt, loop_state *st,
                           const dn_train_params *p, dn_error *err)
{
	dn_st_file *f;
	int rc = dn_st_read_file(path, &f, err);
	if (rc)
		return rc;
	size_t np, n;
	const dn_param *prm = dn_unet_params(dn_model_unet(m), &np);
	for (size_t i = 0; i < np && !rc; i++) {
		int64_t shape[4];
		for (int d = 0; d < prm[i].ndim; d++)
			shape[d] = prm[i].shape[d];
		rc = dn_st_get_f32(f, prm[i].name, prm[i].ndim, shape, prm[i].data, err);
	}
	float *mom, *vel;
	int64_t *step;
	dn_adam_state(opt, &mom, &vel, &step, &n);
	int64_t len = (int64_t)n;
	if (!rc)
		rc = dn_st_get_f32(f, "optim.m", 1, &len, mom, err);
	if (!rc)
		rc = dn_st_get_f32(f, "optim.v", 1, &len, vel, err);
	long long epoch = 0, wl = 0, ws = 0, as = 0, be = 0, seed = 0, batch = 0;
	if (!rc && !(rc = meta_long(f, "train.epoch", &epoch, err)) &&
	    !(rc = meta_long(f, "train.wait_lr", &wl, err)) &&
	    !(rc = meta_long(f, "train.wait_stop", &ws, err)) &&
	    !(rc = meta_long(f, "train.adam_step", &as, err)) &&
	    !(rc = meta_long(f, "train.best_epoch", &be, err)) &&
	    !(rc = meta_long(f, "train.seed", &seed, err)) &&
	    !(rc = meta_long(f, "train.batch", &batch, err))) {
		if ((uint64_t)seed != p->seed || batch != p->batch)
			rc = dn_error_set(
			    err, DN_EINVAL,
			    "checkpoint was made with seed %lld and batch %lld, not %llu and %d: "
			    "resuming would not repeat the run",
			    seed, batch, (unsigned long long)p->seed, p->batch);
		else if (epoch < 0 || epoch > DN_TRAIN_MAX_EPOCHS)
			rc = dn_error_set(err, DN_EFORMAT, "checkpoint epoch %lld is out of range", epoch);
	}
	const char *lr = dn_st_metadata(f, "train.lr"), *best = dn_st_metadata(f, "train.best");
	if (!rc && (!lr || !best))
		rc = dn_error_set(err, DN_EFORMAT, "checkpoint lacks the learning rate or best loss");
	if (!rc) {
		st->epoch = (int)epoch;
		st->sched.lr = strtof(lr, NULL);
		st->sched.best = strtod(best, NULL);
		st->sched.wait_lr = (int)wl;
		st->sched.wait_stop = (int)ws;
		*step = as;
		st->h.epochs = (int)epoch;
		st->h.best_epoch = (int)be;
		st->h.best_val_loss = st->sched.best;
		const char *keys[4] = {"train.loss", "train.val_loss", "train.seconds", "train.lrs"};
		for (int k = 0; k < 4 && !rc; k++) {
			const char *s = dn_st_metadata(f, keys[k]);
			if (!s || parse_numbers(s,
			                        k == 0   ? st->h.loss
			                        : k == 1 ? st->h.val_loss
			                        : k == 2 ? st->h.seconds
			                                 : NULL,
			                        k == 3 ? st->h.lr : NULL, (int)epoch))
				rc = dn_error_set(err, DN_EFORMAT,
				                  "checkpoint \"%s\" is missing or malformed", keys[k]);
		}
	}
	dn_st_free(f);
	return rc;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int check_params(const dn_train_params *p, const dn_model_info *info, dn_error *err)
{
	if (info->kind != DN_MODEL_AUDIO)
		return dn_error_set(err, DN_EINVAL, "dn_train_speech needs an audio model");
	int rc = dn_train_params_check(p, err); /* the bounds of core/train/params.c */

	if (rc)
		return rc;
	if (!(p->min_lr >= 0.0f))
		return dn_error_set(err, DN_EINVAL, "min_lr %g: must not be negative", (double)p->min_lr);
	if (p->resume && !p->checkpoint)
		return dn_error_set(err, DN_EINVAL, "resume needs a checkpoint path");
	return DN_OK;
}

/* Mean validation loss over every validation item's first window. */
static int validate(dn_trainer *tr, const dn_model_info *info, const dn_train_params *p,
                    const dn_pair_source *val, dn_stft *stft, spec_buf *sb, dn_tensor *x, dn_tensor *t,
                    double *out, dn_error *err)
{
	const size_t nval = val->count(val->ctx), bins = (size_t)info->n_fft / 2 + 1,
	             pf = (size_t)p->patch_frames;
	double sum = 0.0;
	size_t done = 0;
	int rc = DN_OK;
	for (size_t i0 = 0; i0 < nval && !rc; i0 += (size_t)p->batch) {
		int b = (int)(nval - i0 < (size_t)p->batch ? nval - i0 : (size_t)p->batch);
		if ((rc = dn_tensor_resize(x, b, 1, (int)bins, (int)pf, err)) ||
		    (rc = dn_tensor_resize(t, b, target_channels(info), (int)bins, (int)pf, err)))
			break;
		for (int k = 0; k < b && !rc; k++) {
			size_t frames;
			rc = load_spec(val, i0 + (size_t)k, 0, stft, sb, &frames, err);
			if (!rc)
				dn_train_patch(info, sb->clean, sb->noisy, frames, 0, p->patch_frames,
				               dn_tensor_plane(x, k, 0), dn_tensor_plane(t, k, 0),
				               t->c > 1 ? dn_tensor_plane(t, k, 1) : NULL);
		}
		const dn_tensor *y;
		if (!rc)
			rc = dn_trainer_eval(tr, x, &y, err);
		if (!rc) {
			sum += dn_trainer_loss(step_loss(info, p), y, t, NULL) * b;
			done += (size_t)b;
		}
	}
	*out = done ? sum / (double)done : NAN;
	return rc;
}

int dn_train_speech(dn_model *m, const dn_pair_source *train, const dn_pair_source *val,
                    const dn_train_params *p, dn_train_cb cb, void *user, dn_train_history *hist,
                    dn_error *err)
{
	const dn_model_info *info = dn_model_get_info(m);
	int rc = check_params(p, info, err);
	if (rc)
		return rc;
	const size_t nitems = train->count(train->ctx);
	if (nitems == 0)
		return dn_error_set(err, DN_EINVAL, "the training set is empty");
	if (val && val->count(val->ctx) == 0)
		return dn_error_set(err, DN_EINVAL, "the validation set is empty");

	dn_unet *net = dn_model_unet(m);
	float *params, *grads;
	size_t nparam, np, nall = 0;
	if ((rc = dn_unet_trainable(net, &params, &grads, &nparam, err)) != DN_OK)
		return rc;
	const dn_param *prm = dn_unet_params(net, &np);
	for (size_t i = 0; i < np; i++)
		nall += prm[i].size;

	dn_stft *stft = NULL;
	dn_adam *opt = NULL;
	loop_state *st = calloc(1, sizeof *st);
	float *best_w = malloc(nall * sizeof(float));
	size_t *order = NULL;
	spec_buf sb = {0};
	dn_tensor x = {0}, t = {0};
	dn_trainer *tr = NULL;
	dn_prefetch *pre = NULL;
	/* Read by the loader threads until dn_prefetch_stop, which a `goto out`
	 * from inside the epoch loop reaches after the loop's scope ended: so
	 * it lives at function scope. */
	batch_ctx bc;
	double wait_s = 0.0, t_start = now_s();
	const size_t bins = (size_t)info->n_fft / 2 + 1;
	const size_t per_epoch = nitems * (size_t)p->patches_per_item;
	const int64_t steps = (int64_t)((per_epoch + (size_t)p->batch - 1) / (size_t)p->batch);
	dn_adam_params ap = dn_adam_default_params();
	ap.lr = p->lr;
	order = malloc(per_epoch * sizeof *order);
	if (!st || !best_w || !order) {
		rc = dn_error_set(err, DN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = dn_stft_create(info->n_fft, info->hop, &stft, err)) ||
	    (rc = dn_adam_create(&ap, nparam, &opt, err)))
		goto out;
	st->sched = dn_plateau_start(DN_PLATEAU_MIN, 0.0, p->lr, p->lr_factor, p->min_lr, p->lr_patience,
	                             p->early_stop);
	st->h.best_val_loss = INFINITY;
	if (p->resume && access(p->checkpoint, F_OK) == 0) {
		if ((rc = load_checkpoint(p->checkpoint, m, opt, st, p, err)))
			goto out;
	}
	if ((rc = dn_trainer_create(net, opt, &p->device, &tr, err)))
		goto out;
	snprintf(st->h.device, sizeof st->h.device, "%s", dn_trainer_describe(tr));
	const int loaders = p->loader_threads > 0 ? p->loader_threads : dn_prefetch_auto_threads();
	dn_unet_snapshot(net, best_w);
	if (st->h.best_epoch && p->best && access(p->best, F_OK) == 0) {
		/* The best weights of the interrupted run are on disk. */
		dn_model *bm = NULL;
		if (dn_model_load(p->best, &bm, NULL) == DN_OK) {
			dn_unet_snapshot(dn_model_unet(bm), best_w);
			dn_model_destroy(bm);
		}
	}
	int64_t done_steps = 0;
	const int64_t total_steps = steps * (p->epochs - st->epoch);
	for (int epoch = st->epoch; epoch < p->epochs; epoch++) {
		dn_adam_set_lr(opt, st->sched.lr);
		uint64_t rng = mix64(p->seed ^ mix64((uint64_t)epoch + 1));
		for (size_t i = 0; i < per_epoch; i++)
			order[i] = i;
		for (size_t i = per_epoch; i > 1; i--) {
			size_t j = draw(&rng, i), tmp = order[i - 1];
			order[i - 1] = order[j];
			order[j] = tmp;
		}
		double t_epoch = now_s(), loss_sum = 0.0;
		size_t seen = 0;
		bc = (batch_ctx){.info = info,
		                 .p = p,
		                 .src = train,
		                 .order = order,
		                 .per_epoch = per_epoch,
		                 .epoch = epoch,
		                 .bins = bins};
		dn_prefetch_ops ops = {.ctx = &bc,
		                       .make = make_batch,
		                       .new_scratch = batch_scratch_new,
		                       .free_scratch = batch_scratch_free};
		if ((rc = dn_prefetch_start(&ops, loaders, 2 * loaders + 1, steps, &pre, err)))
			goto out;
		for (int64_t s = 0; s < steps; s++) {
			const dn_tensor *bx, *bt;
			double loss;
			if ((rc = dn_prefetch_next(pre, &bx, &bt, err)) ||
			    (rc = dn_trainer_step(tr, bx, bt, step_loss(info, p), &loss, err)))
				goto out;
			const int b = bx->n;
			dn_prefetch_release(pre);
			if (!isfinite(loss)) {
				rc = dn_error_set(err, DN_EINVAL,
				                  "training diverged at epoch %d step %lld (loss %g): lower "
				                  "the learning rate",
				                  epoch + 1, (long long)s + 1, loss);
				goto out;
			}
			loss_sum += loss * b;
			seen += (size_t)b;
			done_steps++;
			if (cb) {
				double el = now_s() - t_start;
				dn_train_progress pr = {
				    .epoch = epoch + 1,
				    .epochs = p->epochs,
				    .step = s + 1,
				    .steps = steps,
				    .loss = loss_sum / (double)seen,
				    .val_loss = st->h.epochs ? st->h.val_loss[st->h.epochs - 1] : NAN,
				    .lr = st->sched.lr,
				    .samples_per_s = el > 0 ? (double)done_steps * p->batch / el : 0.0,
				    .eta_s = el / (double)done_steps * (double)(total_steps - done_steps)};
				if (cb(&pr, user)) {
					rc = dn_error_set(err, DN_ECANCELLED,
					                  "training cancelled at epoch %d step %lld",
					                  epoch + 1, (long long)s + 1);
					goto out;
				}
			}
		}
		wait_s += dn_prefetch_wait_seconds(pre);
		dn_prefetch_stop(pre);
		pre = NULL;
		/* The host net is the reference for what follows (snapshots, files). */
		if ((rc = dn_trainer_pull(tr, err)))
			goto out;
		double train_loss = loss_sum / (double)seen, val_loss = train_loss;
		if (val && (rc = validate(tr, info, p, val, stft, &sb, &x, &t, &val_loss, err)))
			goto out;
		int e = st->h.epochs++;
		st->h.loss[e] = train_loss;
		st->h.val_loss[e] = val_loss;
		st->h.lr[e] = st->sched.lr;
		st->h.seconds[e] = now_s() - t_epoch;
		st->epoch = epoch + 1;
		if (dn_plateau_update(&st->sched, val_loss)) {
			st->h.best_epoch = epoch + 1;
			st->h.best_val_loss = val_loss;
			dn_unet_snapshot(net, best_w);
			if (p->best) {
				char v[32], ep[16];
				snprintf(v, sizeof v, "%.9g", val_loss);
				snprintf(ep, sizeof ep, "%d", epoch + 1);
				const char *extra[] = {"train.best_val_loss", v, "train.best_epoch", ep,
				                       NULL};
				if ((rc = dn_model_save(m, p->best, extra, err)))
					goto out;
			}
		}
		if (p->checkpoint && (rc = save_checkpoint(p->checkpoint, m, opt, st, p, err)))
			goto out;
		if (cb) {
			dn_train_progress pr = {.epoch = epoch + 1,
			                        .epochs = p->epochs,
			                        .step = steps,
			                        .steps = steps,
			                        .loss = train_loss,
			                        .val_loss = val_loss,
			                        .lr = st->sched.lr,
			                        .epoch_done = 1};
			double el = now_s() - t_start;
			pr.samples_per_s = el > 0 ? (double)done_steps * p->batch / el : 0.0;
			pr.eta_s = el / (double)done_steps * (double)(total_steps - done_steps);
			if (cb(&pr, user)) {
				rc = dn_error_set(err, DN_ECANCELLED, "training cancelled after epoch %d",
				                  epoch + 1);
				goto out;
			}
		}
		if (dn_plateau_should_stop(&st->sched)) {
			st->h.stopped_early = 1;
			break;
		}
	}
out:
	if (pre) {
		wait_s += dn_prefetch_wait_seconds(pre);
		dn_prefetch_stop(pre);
	}
	if (st) {
		st->h.wall_s = now_s() - t_start;
		st->h.data_wait_s = wait_s;
		st->h.device_s = tr ? dn_trainer_device_seconds(tr) : 0.0;
	}
	if (tr && rc == DN_ECANCELLED)
		dn_trainer_pull(tr, NULL);
	dn_trainer_destroy(tr);
	if (st && best_w && (rc == DN_OK || rc == DN_ECANCELLED)) {
		dn_unet_restore(net, best_w);
		int r2 = dn_model_refresh(m, rc ? NULL : err);
		if (!rc)
			rc = r2;
	}
	if (hist && st)
		*hist = st->h;
	dn_tensor_free(&x);
	dn_tensor_free(&t);
	free(sb.clean);
	free(sb.noisy);
	free(order);
	free(best_w);
	free(st);
	dn_adam_destroy(opt);
	dn_stft_destroy(stft);
	return rc;
}
