/*
 * eval_frame.c — see eval_frame.h. Noise is drawn per (seed, σ, image) so
 * that every σ of an image is reproducible on its own and two evaluations
 * with the same seed see the same noisy pixels. The denoiser is one
 * dn_frame context with the serving defaults (tiles of 384), so the figures
 * are those of POST /v1/frames:denoise.
 */
#include "core/train/eval_frame.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/image/frame.h"
#include "core/metrics/metrics.h"
#include "core/util/rng.h"

dn_frame_eval_params dn_frame_eval_default_params(void)
{
	return (dn_frame_eval_params){
	    .n_sigma = 3, .sigma = {15, 25, 50}, .seed = 1, .examples = 2, .example_crop = 96};
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void add_noise8(const dn_image *clean, dn_image *noisy, double sigma, dn_rng *r)
{
	size_t n = (size_t)clean->w * clean->h * clean->channels;

	for (size_t i = 0; i < n; i++) {
		double v = clean->data[i] + sigma * dn_rng_normal(r);

		noisy->data[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v));
	}
}

/* PSNR (peak 255) and the mean of the channels' SSIM of x against ref. */
static int score(const dn_image *ref, const dn_image *x, float *a, float *b, double *psnr, double *ssim,
                 dn_error *err)
{
	const int ch = ref->channels;
	const size_t px = (size_t)ref->w * ref->h;
	double sum = 0.0, s;
	int rc;

	for (size_t i = 0; i < px * ch; i++) {
		a[i] = ref->data[i];
		b[i] = x->data[i];
	}
	if ((rc = dn_metrics_psnr(a, b, px * ch, 255.0, psnr, err)))
		return rc;
	for (int c = 0; c < ch; c++) {
		/* the channel as a plane, after the interleaved copy above */
		float *pa = a + px * ch, *pb = b + px * ch;

		for (size_t i = 0; i < px; i++) {
			pa[i] = ref->data[i * ch + c];
			pb[i] = x->data[i * ch + c];
		}
		if ((rc = dn_metrics_ssim(pa, pb, ref->h, ref->w, 255.0, &s, err)))
			return rc;
		sum += s;
	}
	*ssim = sum / ch;
	return DN_OK;
}

static int crop(const dn_image *src, int y0, int x0, int side_h, int side_w, dn_image *dst, dn_error *err)
{
	int rc = dn_image_alloc(dst, side_w, side_h, src->channels, err);

	for (int y = 0; !rc && y < side_h; y++)
		memcpy(dst->data + (size_t)y * side_w * src->channels,
		       src->data + ((size_t)(y0 + y) * src->w + x0) * src->channels,
		       (size_t)side_w * src->channels);
	return rc;
}

static int keep_example(dn_frame_eval_result *r, const char *name, double sigma, const dn_image *clean,
                        const dn_image *noisy, const dn_image *den, dn_error *err)
{
	dn_frame_eval_example *e = &r->ex[r->n_examples];
	const int side = r->params.example_crop;
	const int h = clean->h < side ? clean->h : side, w = clean->w < side ? clean->w : side;
	const int y0 = (clean->h - h) / 2, x0 = (clean->w - w) / 2;
	int rc;

	snprintf(e->name, sizeof e->name, "%s", name);
	e->sigma = sigma;
	if ((rc = crop(clean, y0, x0, h, w, &e->clean, err)) ||
	    (rc = crop(noisy, y0, x0, h, w, &e->noisy, err)) ||
	    (rc = crop(den, y0, x0, h, w, &e->denoised, err))) {
		dn_image_free(&e->clean);
		dn_image_free(&e->noisy);
		dn_image_free(&e->denoised);
		return rc;
	}
	r->n_examples++;
	return DN_OK;
}

void dn_frame_eval_result_free(dn_frame_eval_result *r)
{
	if (!r)
		return;
	free(r->psnr);
	free(r->ssim);
	free(r->noisy_psnr);
	free(r->noisy_ssim);
	for (int i = 0; i < r->n_examples; i++) {
		dn_image_free(&r->ex[i].clean);
		dn_image_free(&r->ex[i].noisy);
		dn_image_free(&r->ex[i].denoised);
	}
	free(r);
}

static int check(const dn_model *m, size_t n, const dn_frame_eval_params *p, dn_error *err)
{
	if (dn_model_get_info(m)->kind != DN_MODEL_FRAME)
		return dn_error_set(err, DN_EINVAL, "a frame evaluation needs a frame model");
	if (!n)
		return dn_error_set(err, DN_EINVAL, "a frame evaluation needs at least one image");
	if (p->n_sigma < 1 || p->n_sigma > DN_FRAME_EVAL_MAX_SIGMAS)
		return dn_error_set(err, DN_EINVAL, "sigma: 1 to %d values", DN_FRAME_EVAL_MAX_SIGMAS);
	for (int s = 0; s < p->n_sigma; s++)
		if (!(p->sigma[s] >= 0 && p->sigma[s] <= 255))
			return dn_error_set(err, DN_EINVAL, "sigma: %g is outside 0..255", p->sigma[s]);
	if (p->examples < 0 || p->examples > DN_FRAME_EVAL_MAX_EXAMPLES || p->example_crop < 8 ||
	    p->example_crop > 1024)
		return dn_error_set(err, DN_EINVAL, "examples 0..%d, example_crop 8..1024",
		                    DN_FRAME_EVAL_MAX_EXAMPLES);
	return DN_OK;
}

int dn_eval_frames(const dn_model *m, const dn_image *img, const char *const *names, size_t n,
                   const dn_frame_eval_params *p, dn_frame_eval_cb cb, void *user, dn_frame_eval_result **out,
                   dn_error *err)
{
	dn_frame_eval_result *r;
	dn_frame *f = NULL;
	dn_frame_params fp = dn_frame_default_params();
	size_t most = 0, total = n * (size_t)p->n_sigma, done = 0;
	float *a = NULL, *b = NULL;
	double t0 = now_s();
	int rc = check(m, n, p, err), ex_sigma = 0;

	*out = NULL;
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((size_t)img[i].w * img[i].h * img[i].channels > most)
			most = (size_t)img[i].w * img[i].h * img[i].channels;
	for (int s = 1; s < p->n_sigma; s++)
		if (fabs(p->sigma[s] - 25) < fabs(p->sigma[ex_sigma] - 25))
			ex_sigma = s;
	r = calloc(1, sizeof *r);
	if (!r)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	r->params = *p;
	r->files = n;
	snprintf(r->model_version, sizeof r->model_version, "%s", dn_model_get_info(m)->version);
	r->psnr = calloc(total, sizeof(double));
	r->ssim = calloc(total, sizeof(double));
	r->noisy_psnr = calloc(total, sizeof(double));
	r->noisy_ssim = calloc(total, sizeof(double));
	/* per image compared: an interleaved copy, then one channel as a plane */
	a = malloc((2 * most + 1) * sizeof(float));
	b = malloc((2 * most + 1) * sizeof(float));
	if (!r->psnr || !r->ssim || !r->noisy_psnr || !r->noisy_ssim || !a || !b) {
		rc = dn_error_set(err, DN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = dn_frame_create(m, &fp, &f, err)))
		goto out;
	for (size_t i = 0; i < n && !rc; i++) {
		dn_image noisy = {0}, den = {0};
		char fallback[32];
		const char *name = names && names[i] ? names[i] : fallback;

		snprintf(fallback, sizeof fallback, "image %zu", i + 1);
		if ((rc = dn_image_alloc(&noisy, img[i].w, img[i].h, img[i].channels, err)))
			break;
		for (int s = 0; s < p->n_sigma && !rc; s++) {
			const size_t k = (size_t)s * n + i;
			dn_rng rng;
			double t1, t2;

			dn_rng_seed3(&rng, p->seed, (uint64_t)s, (uint64_t)i);
			add_noise8(&img[i], &noisy, p->sigma[s], &rng);
			t1 = now_s();
			if ((rc = dn_frame_denoise(f, &noisy, &den, err)))
				break;
			t2 = now_s();
			r->denoise_seconds += t2 - t1;
			r->megapixels += (double)img[i].w * img[i].h / 1e6;
			if (!(rc = score(&img[i], &den, a, b, &r->psnr[k], &r->ssim[k], err)))
				rc = score(&img[i], &noisy, a, b, &r->noisy_psnr[k], &r->noisy_ssim[k], err);
			r->metric_seconds += now_s() - t2;
			if (!rc && s == ex_sigma && r->n_examples < p->examples)
				rc = keep_example(r, name, p->sigma[s], &img[i], &noisy, &den, err);
			dn_image_free(&den);
			done++;
			if (!rc && cb) {
				double el = now_s() - t0;
				dn_frame_eval_progress pr = {done, total, el / done * (double)(total - done)};

				if (cb(&pr, user))
					rc = dn_error_set(err, DN_ECANCELLED,
					                  "evaluation cancelled after %zu of %zu", done,
					                  total);
			}
		}
		dn_image_free(&noisy);
	}
out:
	dn_frame_destroy(f);
	free(a);
	free(b);
	if (rc)
		dn_frame_eval_result_free(r);
	else
		*out = r;
	return rc;
}
