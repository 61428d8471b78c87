/*
 * test_eval_frame.c — the pieces of frame jobs below the daemon: the frame
 * parameter table (core/train/params.c), a folder of photographs
 * (frame_data.c) and the frame evaluation (eval_frame.c).
 *
 * The evaluation is checked against what can be worked out by hand: a fresh
 * frame model from dn_frame_model_create is the identity (zero output
 * convolution on a residual net), so its output is its 8-bit noisy input and
 * its PSNR and SSIM equal the noisy ones exactly; on a mid-grey image, where
 * no noise is clipped, the noisy PSNR is that of Gaussian noise of variance
 * sigma^2 + 1/12 (rounding), 10 log10(255^2 / (sigma^2 + 1/12)). The same
 * seed gives the same figures; a trained-looking change (a non-zero output
 * bias) moves them. Folders: sorted names, only .jpg/.jpeg, the per-image and
 * total limits refused before decoding, a file that is not a JPEG named.
 * The training noise options: Poisson–Gaussian noise grows with the signal
 * (variance σ² + a·x), and the JPEG option hands the net an 8-bit, decoded
 * JPEG of the noisy patch, close to it but not it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/nn/unet.h"
#include "core/train/eval_frame.h"
#include "core/train/frame_data.h"
#include "core/train/params.h"
#include "core/train/train_frame.h"
#include "core/util/rng.h"
#include "tests/check.h"

static char tmp[] = "/tmp/dn_test_eval_frame_XXXXXX";

static void test_table(void)
{
	dn_frame_config c = dn_frame_config_default();
	size_t n;
	const dn_train_param *t = dn_frame_params_table(&n);
	dn_error err;

	CHECK(n >= 14);
	for (size_t i = 0; i < n; i++) {
		CHECK_MSG(dn_frame_param_find(t[i].name) == &t[i], "%s", t[i].name);
		CHECK_MSG(dn_frame_param_find(t[i].flag) == &t[i], "%s", t[i].flag);
		CHECK_MSG(dn_frame_param_set(&t[i], &c, dn_frame_param_get(&t[i], &c), &err) == DN_OK,
		          "the default of %s is outside its bounds: %s", t[i].name, err.msg);
	}
	CHECK_RC(dn_frame_config_check(&c, &err), DN_OK);
	/* `denoise train-frame`'s defaults, which the table now holds. */
	CHECK(dn_frame_param_get(dn_frame_param_find("filters"), &c) == 16);
	CHECK(dn_frame_param_get(dn_frame_param_find("--depth"), &c) == 3);
	CHECK(dn_frame_param_get(dn_frame_param_find("--steps"), &c) == 100);
	CHECK(dn_frame_param_get(dn_frame_param_find("sigma_max"), &c) == 50);
	CHECK(dn_frame_param_find("patch_frames") == NULL);
	CHECK_RC(dn_frame_param_parse(dn_frame_param_find("--patch"), &c, "36", &err), DN_OK);
	CHECK_RC(dn_frame_config_check(&c, &err), DN_EINVAL);
	CHECK(strncmp(err.msg, "patch:", 6) == 0);
	CHECK_RC(dn_frame_param_parse(dn_frame_param_find("--patch"), &c, "48", &err), DN_OK);
	CHECK_RC(dn_frame_param_parse(dn_frame_param_find("--sigma-min"), &c, "30", &err), DN_OK);
	CHECK_RC(dn_frame_param_parse(dn_frame_param_find("--sigma-max"), &c, "20", &err), DN_OK);
	CHECK_RC(dn_frame_config_check(&c, &err), DN_EINVAL);
	CHECK(strncmp(err.msg, "sigma_max:", 10) == 0);
	CHECK_RC(dn_frame_param_parse(dn_frame_param_find("--lr"), &c, "0.7", &err), DN_EINVAL);
	CHECK_RC(dn_frame_param_parse(dn_frame_param_find("--minutes"), &c, "2.5", &err), DN_OK);
	{
		dn_frame_train_params p = dn_frame_config_params(&c);

		CHECK_NEAR(p.sigma_max, 20.0 / 255.0, 1e-7);
		CHECK_NEAR(p.sigma_min, 30.0 / 255.0, 1e-7);
		CHECK_NEAR(p.max_seconds, 150.0, 1e-9);
		CHECK(p.patch == 48);
	}
}

static int write_jpeg(const char *name, int w, int h, int grey)
{
	dn_image img = {0};
	dn_error err;
	char path[512];
	int rc;

	if (dn_image_alloc(&img, w, h, 3, &err))
		return -1;
	for (size_t i = 0; i < (size_t)w * h * 3; i++)
		img.data[i] = grey >= 0 ? (uint8_t)grey : (uint8_t)((i * 7 + i / 3 / w * 5) & 0xff);
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	rc = dn_image_write_file(&img, 100, DN_SUBSAMP_444, path, &err);
	dn_image_free(&img);
	return rc;
}

static int run_mkdir(const char *path)
{
	char cmd[700];

	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
	return system(cmd);
}

static void test_folder(void)
{
	char dir[512], path[600];
	dn_frame_set s;
	dn_error err;
	FILE *f;

	snprintf(dir, sizeof dir, "%s/set", tmp);
	CHECK_RC(dn_frame_set_load(dir, 0, 0, 0, &s, &err), DN_ENOTFOUND);
	CHECK(s.n == 0 && strstr(err.msg, "set") != NULL);
	CHECK(mkdir(dir, 0755) == 0);
	CHECK_RC(dn_frame_set_load(dir, 0, 0, 0, &s, &err), DN_ENOTFOUND);
	CHECK(strstr(err.msg, "no .jpg") != NULL);
	CHECK(write_jpeg("set/b.jpg", 40, 30, -1) == 0);
	CHECK(write_jpeg("set/a.JPEG", 20, 10, -1) == 0);
	CHECK(write_jpeg("set/c.txt", 8, 8, -1) == 0);
	CHECK_RC(dn_frame_set_load(dir, 0, 0, 0, &s, &err), DN_OK);
	CHECK(s.n == 2 && !strcmp(s.name[0], "a.JPEG") && !strcmp(s.name[1], "b.jpg"));
	CHECK(s.img[1].w == 40 && s.img[1].h == 30 && s.bytes == (20 * 10 + 40 * 30) * 3);
	dn_frame_set_free(&s);
	CHECK_RC(dn_frame_set_load(dir, 1, 0, 0, &s, &err), DN_OK);
	CHECK(s.n == 1);
	dn_frame_set_free(&s);
	/* Limits: per image, then the set's decoded bytes (b.jpg crosses it). */
	CHECK_RC(dn_frame_set_load(dir, 0, 1000, 0, &s, &err), DN_ELIMIT);
	CHECK(strstr(err.msg, "b.jpg") && strstr(err.msg, "40x30"));
	CHECK(s.n == 0 && s.img == NULL);
	CHECK_RC(dn_frame_set_load(dir, 0, 0, 2000, &s, &err), DN_ELIMIT);
	CHECK(strstr(err.msg, "b.jpg") != NULL);
	/* Not a JPEG, though named one. */
	snprintf(path, sizeof path, "%s/c.jpg", dir);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs("not a picture", f);
	fclose(f);
	CHECK_RC(dn_frame_set_load(dir, 0, 0, 0, &s, &err), DN_EFORMAT);
	CHECK(strstr(err.msg, "c.jpg") != NULL);
	/* An evaluation folder: its own photographs, or test/'s. */
	dn_frame_set_eval_dir(dir, path, sizeof path);
	CHECK(!strcmp(path, dir));
	snprintf(path, sizeof path, "%s/root/test", tmp);
	CHECK(run_mkdir(path) == 0);
	CHECK(write_jpeg("root/test/x.jpg", 16, 16, -1) == 0);
	snprintf(dir, sizeof dir, "%s/root", tmp);
	dn_frame_set_eval_dir(dir, path, sizeof path);
	CHECK(strstr(path, "/root/test") != NULL);
}

static void test_eval(void)
{
	dn_model_info info = dn_model_default_info(DN_MODEL_FRAME);
	dn_model *m = NULL;
	dn_image img[2] = {{0}};
	const char *names[] = {"grey", "pattern"};
	dn_frame_eval_params p = dn_frame_eval_default_params();
	dn_frame_eval_result *r = NULL, *r2 = NULL;
	dn_error err;

	info.arch.base_filters = 4;
	info.arch.depth = 2;
	CHECK_RC(dn_frame_model_create(&info, 3, &m, &err), DN_OK);
	CHECK_RC(dn_image_alloc(&img[0], 96, 80, 3, &err), DN_OK);
	CHECK_RC(dn_image_alloc(&img[1], 64, 64, 3, &err), DN_OK);
	memset(img[0].data, 128, (size_t)96 * 80 * 3);
	for (size_t i = 0; i < (size_t)64 * 64 * 3; i++)
		img[1].data[i] = (uint8_t)(40 + (i * 13) % 170);
	p.n_sigma = 2;
	p.sigma[0] = 5;
	p.sigma[1] = 25;
	p.examples = 1;
	p.example_crop = 48;
	CHECK_RC(dn_eval_frames(m, img, names, 2, &p, NULL, NULL, &r, &err), DN_OK);
	CHECK(r && r->files == 2 && r->n_examples == 1);
	for (int k = 0; r && k < 4; k++) {
		/* the identity: its output is its input */
		CHECK_NEAR(r->psnr[k], r->noisy_psnr[k], 1e-9);
		CHECK_NEAR(r->ssim[k], r->noisy_ssim[k], 1e-9);
	}
	if (r) {
		CHECK_NEAR(r->noisy_psnr[0], 10 * log10(255.0 * 255.0 / (25 + 1.0 / 12)), 0.15);
		CHECK_NEAR(r->noisy_psnr[2], 10 * log10(255.0 * 255.0 / (625 + 1.0 / 12)), 0.15);
		CHECK(r->noisy_ssim[0] > r->noisy_ssim[2]);
		CHECK(!strcmp(r->ex[0].name, "grey") && r->ex[0].sigma == 25);
		CHECK(r->ex[0].clean.w == 48 && r->ex[0].clean.h == 48 && r->ex[0].clean.data[0] == 128);
		CHECK(memcmp(r->ex[0].noisy.data, r->ex[0].denoised.data, (size_t)48 * 48 * 3) == 0);
		CHECK(memcmp(r->ex[0].noisy.data, r->ex[0].clean.data, (size_t)48 * 48 * 3) != 0);
		CHECK(r->megapixels > 0 && r->denoise_seconds > 0);
	}
	/* The same seed, the same figures. */
	CHECK_RC(dn_eval_frames(m, img, names, 2, &p, NULL, NULL, &r2, &err), DN_OK);
	CHECK(r && r2 && memcmp(r->noisy_psnr, r2->noisy_psnr, 4 * sizeof(double)) == 0);
	dn_frame_eval_result_free(r2);
	r2 = NULL;
	/* A model that changes the picture scores differently from its input. */
	{
		size_t np;
		const dn_param *prm = dn_unet_params(dn_model_unet(m), &np);

		for (size_t k = 0; k < np; k++)
			if (!strcmp(prm[k].name, "out.bias"))
				for (size_t i = 0; i < prm[k].size; i++)
					prm[k].data[i] = 0.05f;
		CHECK_RC(dn_model_refresh(m, &err), DN_OK);
	}
	CHECK_RC(dn_eval_frames(m, img, names, 2, &p, NULL, NULL, &r2, &err), DN_OK);
	CHECK(r2 && fabs(r2->psnr[0] - r2->noisy_psnr[0]) > 0.5);
	dn_frame_eval_result_free(r2);
	/* Refusals. */
	p.n_sigma = 0;
	CHECK_RC(dn_eval_frames(m, img, names, 2, &p, NULL, NULL, &r2, &err), DN_EINVAL);
	p.n_sigma = 1;
	CHECK_RC(dn_eval_frames(m, img, names, 0, &p, NULL, NULL, &r2, &err), DN_EINVAL);
	dn_frame_eval_result_free(r);
	dn_image_free(&img[0]);
	dn_image_free(&img[1]);
	dn_model_destroy(m);
}

/* Noise variance over the pixels of a flat patch half at 0.1, half at 0.9
 * (first half: dark), summed over n patches of p's noise. */
static void noise_vars(const dn_frame_train_params *p, int n, double *dark, double *bright)
{
	enum { P = 32 };
	static float clean[3 * P * P], noisy[3 * P * P];
	static uint8_t buf[3 * P * P];
	const size_t half = (size_t)3 * P * P / 2;
	for (size_t i = 0; i < 2 * half; i++)
		clean[i] = i < half ? 0.1f : 0.9f;
	dn_rng r;
	dn_rng_seed(&r, 7);
	double s[2] = {0, 0};
	for (int k = 0; k < n; k++) {
		dn_error err = {0};
		CHECK_RC(dn_frame_noise_patch(p, clean, noisy, P, 5.0f / 255.0f, &r, buf, &err), DN_OK);
		for (size_t i = 0; i < 2 * half; i++)
			s[i >= half] += (double)(noisy[i] - clean[i]) * (noisy[i] - clean[i]);
	}
	*dark = s[0] / ((double)n * half);
	*bright = s[1] / ((double)n * half);
}

static void test_noise_options(void)
{
	dn_frame_train_params p = dn_frame_train_default_params();
	double dark, bright;
	/* Gaussian: the same variance at every level, σ² = (5/255)². */
	noise_vars(&p, 50, &dark, &bright);
	const double s2 = (5.0 / 255) * (5.0 / 255);
	CHECK_MSG(fabs(dark / s2 - 1) < 0.05 && fabs(bright / s2 - 1) < 0.05, "gaussian: %g %g against %g",
	          dark, bright, s2);
	/* Poisson–Gaussian, a ~ U[0, 0.02]: mean variance σ² + 0.01·x. */
	p.poisson_max = 0.02f;
	noise_vars(&p, 200, &dark, &bright);
	CHECK_MSG(fabs(dark / (s2 + 0.001) - 1) < 0.1 && fabs(bright / (s2 + 0.009) - 1) < 0.1,
	          "poisson-gaussian: dark %g (expected %g), bright %g (expected %g)", dark, s2 + 0.001,
	          bright, s2 + 0.009);
	CHECK_MSG(bright > 4 * dark, "poisson-gaussian noise grows with the signal: %g against %g", bright,
	          dark);

	/* JPEG: 8-bit values, near the noisy patch but not equal to it. */
	enum { P = 32 };
	static float clean[3 * P * P], plain[3 * P * P], coded[3 * P * P];
	static uint8_t buf[3 * P * P];
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < P * P; i++)
			clean[c * P * P + i] = 0.2f + 0.6f * (float)((i % P) + c * 5) / (P + 10);
	dn_frame_train_params q = dn_frame_train_default_params();
	q.clip = 1;
	dn_rng r1, r2;
	dn_rng_seed(&r1, 3);
	dn_rng_seed(&r2, 3);
	dn_error err = {0};
	CHECK_RC(dn_frame_noise_patch(&q, clean, plain, P, 15.0f / 255.0f, &r1, NULL, &err), DN_OK);
	q.jpeg_prob = 1.0f;
	q.jpeg_quality_min = 60;
	CHECK_RC(dn_frame_noise_patch(&q, clean, coded, P, 15.0f / 255.0f, &r2, buf, &err), DN_OK);
	int on_grid = 1;
	double diff = 0;
	for (int i = 0; i < 3 * P * P; i++) {
		const float v = coded[i] * 255.0f;
		on_grid &= fabsf(v - roundf(v)) < 1e-3f && v >= 0 && v <= 255;
		diff += fabs((double)coded[i] - plain[i]);
	}
	diff /= 3 * P * P;
	CHECK_MSG(on_grid, "the JPEG input holds 8-bit values");
	CHECK_MSG(diff > 1e-3 && diff < 0.08,
	          "the JPEG input is near the noisy patch, not it: mean |diff| %g", diff);
	/* Out-of-range options are refused by the parameter table. */
	dn_frame_config c = dn_frame_config_default();
	const dn_train_param *jp = dn_frame_param_find("jpeg_prob");
	CHECK(jp && dn_frame_param_set(jp, &c, 1.5, &err) != DN_OK);
	CHECK(dn_frame_param_find("poisson_max") && dn_frame_param_find("jpeg_quality_min"));
}

int main(void)
{
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_table();
	test_folder();
	test_eval();
	test_noise_options();
	if (check_failures == 0) {
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmp);
	} else {
		fprintf(stderr, "files kept in %s\n", tmp);
	}
	return check_status();
}
