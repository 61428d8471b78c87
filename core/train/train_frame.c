/*
 * train_frame.c — the frame training loop (see train_frame.h).
 *
 * A step draws `batch` patches: an image uniformly at random, a position
 * uniformly inside it, one of the eight flips/quarter turns of the square
 * (the dihedral group, so orientation carries no information the net could
 * learn by heart), and σ ~ U[sigma_min, sigma_max]; the noisy patch is the
 * clean one plus N(0, σ²) per pixel and channel, not clipped (the noise
 * model of the usual benchmarks) unless `clip` asks for 8-bit realism.
 * Options bring it closer to a camera's: Poisson–Gaussian noise (variance
 * σ² + a·x, the shot noise growing with the signal x) and a JPEG of the
 * noisy patch as input, as cameras and uploads store frames.
 * Grayscale images are replicated to three channels.
 *
 * Validation crops are cut once, at evenly spaced positions of each
 * validation image, with noise from a fixed seed; the net runs in eval mode
 * (running batch-norm statistics) and PSNR is taken on outputs clipped to
 * [0, 1], as they would be written to a JPEG. Schedules follow the speech
 * loop (Keras's ReduceLROnPlateau and EarlyStopping), on PSNR (higher is
 * better) instead of loss.
 */
#include "core/train/train_frame.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/nn/adam.h"
#include "core/nn/layers.h"
#include "core/metrics/metrics.h"
#include "core/util/rng.h"
#include "core/nn/tensor.h"
#include "core/nn/unet.h"
#include "core/train/prefetch.h"
#include "core/train/trainer.h"
#include "core/train/plateau.h"

dn_frame_train_params dn_frame_train_default_params(void)
{
	return (dn_frame_train_params){.epochs = 50,
	                               .steps_per_epoch = 100,
	                               .batch = 16,
	                               .patch = 64,
	                               .lr = 1e-3f,
	                               .sigma_min = 0.0f,
	                               .sigma_max = 50.0f / 255.0f,
	                               .val_sigma = 25.0f / 255.0f,
	                               .jpeg_quality_min = 60,
	                               .val_crop = 128,
	                               .val_crops = 4,
	                               .lr_factor = 0.5f,
	                               .lr_patience = 5,
	                               .min_lr = 1e-6f,
	                               .early_stop = 10,
	                               .max_seconds = 0,
	                               .seed = 1,
	                               .device = {.index = -1}};
}

int dn_frame_model_create(const dn_model_info *info, uint64_t seed, dn_model **out, dn_error *err)
{
	dn_unet *net;
	size_t np;
	int rc;

	*out = NULL;
	if (info->kind != DN_MODEL_FRAME)
		return dn_error_set(err, DN_EINVAL, "dn_frame_model_create makes frame models only");
	if ((rc = dn_unet_create(&info->arch, seed, &net, err)))
		return rc;
	const dn_param *prm = dn_unet_params(net, &np);
	for (size_t k = 0; k < np; k++)
		if (!strcmp(prm[k].name, "out.weight") || !strcmp(prm[k].name, "out.bias"))
			memset(prm[k].data, 0, prm[k].size * sizeof(float));
	return dn_model_create(info, net, out, err);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Pixel (y, x) channel c of img on the 0..1 scale (gray replicated). */
static float px(const dn_image *img, int y, int x, int c)
{
	const int ch = img->channels;
	return img->data[((size_t)y * img->w + x) * ch + (ch == 3 ? c : 0)] * (1.0f / 255.0f);
}

/* Patch k of clean from img at (y0, x0), transformed by t in 0..7: bit 0
 * transposes, bit 1 flips rows, bit 2 flips columns. */
static void cut_patch(const dn_image *img, int y0, int x0, int p, int t, float *dst)
{
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < p; i++)
			for (int j = 0; j < p; j++) {
				int a = (t & 1) ? j : i, b = (t & 1) ? i : j;
				if (t & 2)
					a = p - 1 - a;
				if (t & 4)
					b = p - 1 - b;
				dst[((size_t)c * p + i) * p + j] = px(img, y0 + a, x0 + b, c);
			}
}

/* Noise N(0, σ² + gain·x) at a pixel of clean value x: Gaussian with gain
 * 0 (sqrt(σ²) is σ exactly in IEEE arithmetic), Poisson–Gaussian in its
 * usual Gaussian form otherwise. With clip, the noisy frame is what an
 * 8-bit camera or file holds: noise that would leave [0, 1] is cut, which
 * biases dark and bright regions; a model trained without it passes that
 * bias through. */
static void add_noise(const float *clean, float *noisy, size_t n, float sigma, float gain, int clip,
                      dn_rng *r)
{
	for (size_t i = 0; i < n; i++) {
		const float sd = sqrtf(sigma * sigma + gain * fmaxf(clean[i], 0.0f));
		float v = clean[i] + sd * (float)dn_rng_normal(r);
		noisy[i] = clip ? fminf(fmaxf(v, 0.0f), 1.0f) : v;
	}
}

/* The noisy patch x (3 planes of p × p) replaced by its JPEG at quality q,
 * 4:2:0, decoded: what a camera or an upload hands the model (8 bits,
 * clipped, blocks, chroma halved). buf holds 3·p·p bytes. */
static int jpeg_patch(float *x, int p, int q, uint8_t *buf, dn_error *err)
{
	const size_t pp = (size_t)p * p;
	for (size_t i = 0; i < pp; i++)
		for (int c = 0; c < 3; c++)
			buf[i * 3 + c] = (uint8_t)lrintf(fminf(fmaxf(x[c * pp + i], 0.0f), 1.0f) * 255.0f);
	dn_image im = {.data = buf, .w = p, .h = p, .channels = 3, .subsamp = DN_SUBSAMP_420};
	void *bytes = NULL;
	size_t len = 0;
	dn_image out = {0};
	int rc = dn_image_encode(&im, q, DN_SUBSAMP_420, &bytes, &len, err);
	if (!rc)
		rc = dn_image_decode(bytes, len, 0, &out, err);
	free(bytes);
	if (rc)
		return rc;
	for (size_t i = 0; i < pp; i++)
		for (int c = 0; c < 3; c++)
			x[c * pp + i] = out.data[i * 3 + c] * (1.0f / 255.0f);
	dn_image_free(&out);
	return DN_OK;
}

int dn_frame_noise_patch(const dn_frame_train_params *p, const float *clean, float *noisy, int patch,
                         float sigma, dn_rng *r, uint8_t *jpeg_buf, dn_error *err)
{
	const size_t n = (size_t)3 * patch * patch;
	/* The options draw from the stream only when on, so that a run without
	 * them is the run it always was. */
	const float gain = p->poisson_max > 0.0f ? (float)dn_rng_range(r, 0.0, p->poisson_max) : 0.0f;
	add_noise(clean, noisy, n, sigma, gain, p->clip, r);
	if (p->jpeg_prob > 0.0f && dn_rng_uniform(r) < p->jpeg_prob) {
		const int q =
		    p->jpeg_quality_min + (int)dn_rng_below(r, (uint64_t)(96 - p->jpeg_quality_min));
		return jpeg_patch(noisy, patch, q, jpeg_buf, err);
	}
	return DN_OK;
}

/* What the patch loaders share for one epoch. */
typedef struct patch_ctx {
	const dn_image *train;
	size_t ntrain;
	const dn_frame_train_params *p;
	int epoch;
} patch_ctx;

/* Batch s of the epoch from a stream seeded by (seed, epoch, s): an image,
 * a position, one of the eight flips/turns and σ per patch, then the noise.
 * Depends on nothing but its index, so any number of loaders gives the same
 * run. */
static int make_patches(void *ctx, void *scratch, int64_t s, dn_tensor *x, dn_tensor *t, dn_error *err)
{
	const patch_ctx *pc = ctx;
	const dn_frame_train_params *p = pc->p;
	const int P = p->patch, B = p->batch;
	int rc;
	if ((rc = dn_tensor_resize(x, B, 3, P, P, err)) || (rc = dn_tensor_resize(t, B, 3, P, P, err)))
		return rc;
	dn_rng r;
	dn_rng_seed(&r, p->seed ^ ((uint64_t)(pc->epoch + 1) << 40) ^ ((uint64_t)s * 0x9e3779b97f4a7c15ULL));
	for (int k = 0; k < B; k++) {
		const dn_image *im = &pc->train[dn_rng_below(&r, pc->ntrain)];
		const int y0 = (int)dn_rng_below(&r, (uint64_t)(im->h - P + 1)),
		          x0 = (int)dn_rng_below(&r, (uint64_t)(im->w - P + 1)),
		          tr = (int)dn_rng_below(&r, 8);
		const float sigma = (float)dn_rng_range(&r, p->sigma_min, p->sigma_max);
		cut_patch(im, y0, x0, P, tr, dn_tensor_plane(t, k, 0));
		if ((rc = dn_frame_noise_patch(p, dn_tensor_plane(t, k, 0), dn_tensor_plane(x, k, 0), P,
		                               sigma, &r, scratch, err)))
			return rc;
	}
	return DN_OK;
}

/* A loader's scratch: the 8-bit patch the JPEG option codes (only with it). */
static void *new_jpeg_buf(void *ctx)
{
	const dn_frame_train_params *p = ((const patch_ctx *)ctx)->p;
	return malloc((size_t)3 * p->patch * p->patch);
}

static void free_jpeg_buf(void *ctx, void *buf)
{
	(void)ctx;
	free(buf);
}

static int check(const dn_model *m, const dn_image *train, size_t ntrain, const dn_image *val, size_t nval,
                 const dn_frame_train_params *p, dn_error *err)
{
	const dn_model_info *mi = dn_model_get_info(m);
	if (mi->kind != DN_MODEL_FRAME || mi->arch.in_channels != 3 || mi->arch.out_channels != 3)
		return dn_error_set(err, DN_EINVAL, "dn_frame_train needs a 3-channel frame model");
	const int align = 1 << mi->arch.depth;
	if (p->epochs < 1 || p->epochs > 100000 || p->steps_per_epoch < 1 || p->batch < 1 || p->batch > 1024)
		return dn_error_set(err, DN_EINVAL,
		                    "epochs, steps per epoch and batch (1..1024) must be positive");
	if (p->patch < align || p->patch > 1024 || p->patch % align)
		return dn_error_set(err, DN_EINVAL,
		                    "patch %d: must be a multiple of 2^depth = %d, at most 1024", p->patch,
		                    align);
	if (p->val_crop < align || p->val_crop % align || p->val_crops < 1 || p->val_crops > 64)
		return dn_error_set(err, DN_EINVAL, "val_crop %d must be a multiple of %d; val_crops 1..64",
		                    p->val_crop, align);
	if (!(p->lr > 0.0f && p->lr < 1.0f) || !(p->sigma_min >= 0.0f && p->sigma_max >= p->sigma_min) ||
	    !(p->val_sigma > 0.0f) || !(p->lr_factor > 0.0f && p->lr_factor <= 1.0f) || p->lr_patience < 1 ||
	    p->early_stop < 1)
		return dn_error_set(err, DN_EINVAL, "learning rate, noise range or schedule out of range");
	if (!(p->poisson_max >= 0.0f && p->poisson_max <= 1.0f) ||
	    !(p->jpeg_prob >= 0.0f && p->jpeg_prob <= 1.0f) ||
	    (p->jpeg_prob > 0.0f && (p->jpeg_quality_min < 1 || p->jpeg_quality_min > 95)))
		return dn_error_set(err, DN_EINVAL,
		                    "poisson_max 0..1, jpeg_prob 0..1 and jpeg_quality_min 1..95");
	if (!ntrain || !nval)
		return dn_error_set(err, DN_EINVAL,
		                    "training needs at least one training and one validation image");
	for (size_t i = 0; i < ntrain + nval; i++) {
		const dn_image *im = i < ntrain ? &train[i] : &val[i - ntrain];
		const int need = i < ntrain ? p->patch : p->val_crop;
		if (!im->data || im->w < need || im->h < need || (im->channels != 1 && im->channels != 3))
			return dn_error_set(err, DN_EINVAL,
			                    "%s image %zu is %dx%d: smaller than %d pixels a side",
			                    i < ntrain ? "training" : "validation",
			                    i < ntrain ? i : i - ntrain, im->w, im->h, need);
	}
	return DN_OK;
}

/* Mean PSNR of the net on the validation crops (eval mode, clipped). */
static int validate(dn_trainer *tr, const dn_tensor *vx, const dn_tensor *vc, double *psnr, dn_error *err)
{
	const size_t per = (size_t)3 * vx->h * vx->w;
	double sum = 0.0;
	float *clip = malloc(per * sizeof(float));
	if (!clip)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	int rc = DN_OK;
	for (int k = 0; k < vx->n && !rc; k++) {
		dn_tensor one = dn_tensor_view(dn_tensor_plane(vx, k, 0), 1, 3, vx->h, vx->w);
		const dn_tensor *y;
		rc = dn_trainer_eval(tr, &one, &y, err);
		if (rc)
			break;
		for (size_t i = 0; i < per; i++)
			clip[i] = fminf(fmaxf(y->data[i], 0.0f), 1.0f);
		double v;
		rc = dn_metrics_psnr(dn_tensor_plane(vc, k, 0), clip, per, 1.0, &v, err);
		sum += v;
	}
	free(clip);
	*psnr = sum / vx->n;
	return rc;
}

int dn_frame_train(dn_model *m, const dn_image *train, size_t ntrain, const dn_image *val, size_t nval,
                   const dn_frame_train_params *p, dn_frame_train_cb cb, void *user,
                   dn_frame_train_result *res, dn_error *err)
{
	int rc = check(m, train, ntrain, val, nval, p, err);
	if (rc)
		return rc;
	dn_unet *net = dn_model_unet(m);
	float *params, *grads;
	size_t nparam, np;
	if ((rc = dn_unet_trainable(net, &params, &grads, &nparam, err)) != DN_OK)
		return rc;
	const dn_param *prm = dn_unet_params(net, &np);
	size_t nall = 0;
	for (size_t i = 0; i < np; i++)
		nall += prm[i].size;
	const int V = p->val_crop;
	const int nv = (int)nval * p->val_crops;
	dn_tensor vx = {0}, vc = {0};
	dn_adam *opt = NULL;
	dn_trainer *tr = NULL;
	dn_prefetch *pre = NULL;
	double wait_s = 0.0;
	float *best_w = dn_alloc(nall * sizeof(float));
	dn_adam_params ap = dn_adam_default_params();
	ap.lr = p->lr;
	if (!best_w) {
		rc = dn_error_set(err, DN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = dn_tensor_init(&vx, nv, 3, V, V, err)) || (rc = dn_tensor_init(&vc, nv, 3, V, V, err)) ||
	    (rc = dn_adam_create(&ap, nparam, &opt, err)) || (rc = dn_trainer_create(net, opt, &p->device, &tr, err)))
		goto out;
	const int loaders = p->loader_threads > 0 ? p->loader_threads : dn_prefetch_auto_threads();

	/* Validation crops: evenly spaced along each image's diagonal. */
	dn_rng vr;
	dn_rng_seed(&vr, 0x5eed0f00dULL);
	for (size_t i = 0; i < nval; i++)
		for (int k = 0; k < p->val_crops; k++) {
			const int idx = (int)i * p->val_crops + k;
			const double f = (k + 0.5) / p->val_crops;
			const int y0 = (int)((val[i].h - V) * f), x0 = (int)((val[i].w - V) * f);
			cut_patch(&val[i], y0, x0, V, 0, dn_tensor_plane(&vc, idx, 0));
			add_noise(dn_tensor_plane(&vc, idx, 0), dn_tensor_plane(&vx, idx, 0),
			          (size_t)3 * V * V, p->val_sigma, 0.0f, p->clip, &vr);
		}
	double noisy_psnr = 0.0;
	for (int k = 0; k < nv; k++) {
		const size_t per = (size_t)3 * V * V;
		double se = 0.0;
		const float *a = dn_tensor_plane(&vc, k, 0), *b = dn_tensor_plane(&vx, k, 0);
		for (size_t i = 0; i < per; i++) {
			float d = fminf(fmaxf(b[i], 0.0f), 1.0f) - a[i];
			se += (double)d * d;
		}
		noisy_psnr += 10.0 * log10(1.0 / (se / (double)per));
	}
	noisy_psnr /= nv;

	/* Higher PSNR is better; a new best must beat the last by more than
	 * 1e-4 dB. */
	dn_plateau sched = dn_plateau_start(DN_PLATEAU_MAX, 1e-4, p->lr, p->lr_factor, p->min_lr,
	                                    p->lr_patience, p->early_stop);
	double t0 = now_s();
	int best_epoch = 0, stopped = 0, epoch;
	/* Read by the loader threads until dn_prefetch_stop, which a `goto out`
	 * from inside the loop reaches after the loop's scope ended. */
	patch_ctx pc;
	dn_unet_snapshot(net, best_w);
	const double total_steps = (double)p->epochs * p->steps_per_epoch;
	for (epoch = 0; epoch < p->epochs; epoch++) {
		dn_adam_set_lr(opt, sched.lr);
		double loss_sum = 0.0;
		pc = (patch_ctx){.train = train, .ntrain = ntrain, .p = p, .epoch = epoch};
		dn_prefetch_ops ops = {.ctx = &pc, .make = make_patches};
		if (p->jpeg_prob > 0.0f) {
			ops.new_scratch = new_jpeg_buf;
			ops.free_scratch = free_jpeg_buf;
		}
		if ((rc = dn_prefetch_start(&ops, loaders, 2 * loaders + 1, p->steps_per_epoch, &pre, err)))
			goto out;
		for (int s = 0; s < p->steps_per_epoch; s++) {
			const dn_tensor *bx, *bt;
			double loss;
			if ((rc = dn_prefetch_next(pre, &bx, &bt, err)) ||
			    (rc = dn_trainer_step(tr, bx, bt, 0, &loss, err)))
				goto out;
			dn_prefetch_release(pre);
			if (!isfinite(loss)) {
				rc = dn_error_set(err, DN_EINVAL,
				                  "training diverged at epoch %d step %d (loss %g): lower "
				                  "the learning rate",
				                  epoch + 1, s + 1, loss);
				goto out;
			}
			loss_sum += loss;
			if (cb && p->step_progress) {
				const double done = (double)epoch * p->steps_per_epoch + s + 1,
				             el = now_s() - t0;
				dn_frame_train_epoch e = {.epoch = epoch + 1,
				                          .epochs = p->epochs,
				                          .loss = loss_sum / (s + 1),
				                          .val_psnr = NAN,
				                          .noisy_psnr = noisy_psnr,
				                          .lr = dn_adam_get_lr(opt),
				                          .seconds = el,
				                          .step = s + 1,
				                          .steps = p->steps_per_epoch,
				                          .eta_s = el / done * (total_steps - done)};
				if (cb(&e, user)) {
					rc = dn_error_set(err, DN_ECANCELLED,
					                  "training cancelled at epoch %d step %d", epoch + 1,
					                  s + 1);
					goto out;
				}
			}
		}
		wait_s += dn_prefetch_wait_seconds(pre);
		dn_prefetch_stop(pre);
		pre = NULL;
		if ((rc = dn_trainer_pull(tr, err)))
			goto out;
		double vpsnr = 0.0;
		if ((rc = validate(tr, &vx, &vc, &vpsnr, err)))
			goto out;
		int is_best = dn_plateau_update(&sched, vpsnr);
		if (is_best) {
			best_epoch = epoch + 1;
			dn_unet_snapshot(net, best_w);
			if (p->best) {
				/* the best file says which epoch it is, also mid-run */
				char v[32], ep[16];
				snprintf(v, sizeof v, "%.4f", vpsnr);
				snprintf(ep, sizeof ep, "%d", best_epoch);
				const char *extra[] = {"train.best_val_psnr_sigma25", v,
				                       "train.best_epoch", ep, NULL};
				if ((rc = dn_model_refresh(m, err)) ||
				    (rc = dn_model_save(m, p->best, extra, err)))
					goto out;
			}
		}
		if (p->checkpoint &&
		    ((rc = dn_model_refresh(m, err)) || (rc = dn_model_save(m, p->checkpoint, NULL, err))))
			goto out;
		const double el = now_s() - t0;
		if (cb) {
			dn_frame_train_epoch e = {
			    .epoch = epoch + 1,
			    .epochs = p->epochs,
			    .loss = loss_sum / p->steps_per_epoch,
			    .val_psnr = vpsnr,
			    .noisy_psnr = noisy_psnr,
			    .lr = dn_adam_get_lr(opt),
			    .seconds = el,
			    .best = is_best,
			    .step = p->steps_per_epoch,
			    .steps = p->steps_per_epoch,
			    .epoch_done = 1,
			    .eta_s = el / ((double)(epoch + 1) * p->steps_per_epoch) *
			             (total_steps - (double)(epoch + 1) * p->steps_per_epoch)};
			if (cb(&e, user)) {
				rc = dn_error_set(err, DN_ECANCELLED, "training cancelled after epoch %d",
				                  epoch + 1);
				epoch++;
				break;
			}
		}
		if (dn_plateau_should_stop(&sched)) {
			stopped = 1;
			epoch++;
			break;
		}
		if (p->max_seconds > 0 && el >= p->max_seconds) {
			stopped = 2;
			epoch++;
			break;
		}
	}
	if (res)
		*res = (dn_frame_train_result){.epochs = epoch,
		                               .best_epoch = best_epoch,
		                               .best_val_psnr = sched.best,
		                               .noisy_val_psnr = noisy_psnr,
		                               .seconds = now_s() - t0,
		                               .stopped = stopped,
		                               .data_wait_s = wait_s,
		                               .device_s = dn_trainer_device_seconds(tr)};
	if (res)
		snprintf(res->device, sizeof res->device, "%s", dn_trainer_describe(tr));
out:
	if (pre)
		dn_prefetch_stop(pre);
	dn_trainer_destroy(tr);
	if (best_w) {
		dn_unet_restore(net, best_w);
		int rr = dn_model_refresh(m, rc ? NULL : err);
		if (!rc)
			rc = rr;
	}
	dn_free(best_w);
	dn_adam_destroy(opt);
	dn_tensor_free(&vx);
	dn_tensor_free(&vc);
	return rc;
}
