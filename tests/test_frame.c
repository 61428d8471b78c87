/*
 * test_frame.c — tiled frame denoising (frame.h).
 *
 * The property that matters is that tiling is invisible: with a random frame
 * model, the tiled output of frames whose sides are not multiples of the tile
 * (nor of 2^depth) must equal the whole-frame output within 1e-3 everywhere,
 * edges included. Also: grayscale goes through the RGB model as the
 * replicated channel and comes back as the mean, sizes and subsampling are
 * kept, and a speech model is refused.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/image/frame.h"
#include "core/model/model.h"
#include "core/util/threads.h"
#include "tests/check.h"

static dn_model *frame_model(int filters, int depth, uint64_t seed)
{
	dn_model_info info = dn_model_default_info(DN_MODEL_FRAME);
	info.arch.base_filters = filters;
	info.arch.depth = depth;
	dn_unet *net;
	dn_model *m = NULL;
	dn_error err = {0};
	if (dn_unet_create(&info.arch, seed, &net, &err) || dn_model_create(&info, net, &m, &err))
		fprintf(stderr, "frame_model: %s\n", err.msg);
	return m;
}

static void fill(float *x, size_t n, unsigned seed)
{
	srand(seed);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)rand() / (float)RAND_MAX;
}

static void test_tiling(int depth, int h, int w, int tile)
{
	dn_model *m = frame_model(4, depth, 3);
	CHECK(m != NULL);
	const size_t n = (size_t)3 * h * w;
	float *in = malloc(n * sizeof(float)), *whole = malloc(n * sizeof(float)),
	      *tiled = malloc(n * sizeof(float));
	fill(in, n, 11);
	dn_frame *fw, *ft;
	dn_error err = {0};
	dn_frame_params pw = {.tile = 0}, pt = {.tile = tile};
	CHECK_RC(dn_frame_create(m, &pw, &fw, &err), DN_OK);
	CHECK_RC(dn_frame_create(m, &pt, &ft, &err), DN_OK);
	CHECK_RC(dn_frame_denoise_planar(fw, in, h, w, whole, &err), DN_OK);
	CHECK_RC(dn_frame_denoise_planar(ft, in, h, w, tiled, &err), DN_OK);
	/* A second run through the same (now grown) workspace gives the same. */
	CHECK_RC(dn_frame_denoise_planar(ft, in, h, w, tiled, &err), DN_OK);
	double worst = 0, diff_from_input = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)whole[i] - tiled[i]);
		if (d > worst)
			worst = d;
		diff_from_input += fabs((double)whole[i] - in[i]);
	}
	CHECK_MSG(worst <= 1e-3, "depth %d, %dx%d, tile %d: tiled differs by %g", depth, w, h, tile, worst);
	CHECK(diff_from_input > 0); /* the network did something */
	dn_frame_destroy(fw);
	dn_frame_destroy(ft);
	dn_model_destroy(m);
	free(in);
	free(whole);
	free(tiled);
}

/* Tiles on several threads: bit-identical to one thread, for float and
 * 8-bit frames, with thread counts above and below the tile count. */
static void test_threads(void)
{
	dn_model *m = frame_model(4, 2, 9);
	CHECK(m != NULL);
	const int h = 70, w = 101;
	const size_t n = (size_t)3 * h * w;
	float *in = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float)),
	      *out = malloc(n * sizeof(float));
	fill(in, n, 13);
	dn_threads_set(1);
	dn_frame *f;
	dn_error err = {0};
	dn_frame_params p = {.tile = 32};
	dn_image img, iref, iout;
	CHECK_RC(dn_image_alloc(&img, w, h, 3, &err), DN_OK);
	for (size_t i = 0; i < (size_t)w * h * 3; i++)
		img.data[i] = (uint8_t)((i * 53) % 253);
	img.subsamp = DN_SUBSAMP_444;
	CHECK_RC(dn_frame_create(m, &p, &f, &err), DN_OK);
	CHECK_RC(dn_frame_denoise_planar(f, in, h, w, ref, &err), DN_OK);
	CHECK_RC(dn_frame_denoise(f, &img, &iref, &err), DN_OK);
	dn_frame_destroy(f);
	const int counts[] = {2, 3, 16}; /* 3 x 4 = 12 tiles */
	for (int k = 0; k < 3; k++) {
		p.threads = counts[k];
		CHECK_RC(dn_frame_create(m, &p, &f, &err), DN_OK);
		for (int rep = 0; rep < 2; rep++) {
			CHECK_RC(dn_frame_denoise_planar(f, in, h, w, out, &err), DN_OK);
			CHECK_MSG(memcmp(out, ref, n * sizeof(float)) == 0, "%d threads: planar differs",
			          counts[k]);
		}
		CHECK_RC(dn_frame_denoise(f, &img, &iout, &err), DN_OK);
		CHECK_MSG(memcmp(iout.data, iref.data, (size_t)w * h * 3) == 0, "%d threads: 8-bit differs",
		          counts[k]);
		dn_image_free(&iout);
		dn_frame_destroy(f);
	}
	p.threads = 65;
	CHECK_RC(dn_frame_create(m, &p, &f, &err), DN_EINVAL);
	dn_image_free(&iref);
	dn_image_free(&img);
	dn_model_destroy(m);
	free(in);
	free(ref);
	free(out);
}

static void test_images(void)
{
	dn_model *m = frame_model(4, 2, 5);
	dn_frame *f;
	dn_error err = {0};
	dn_frame_params p = {.tile = 32};
	CHECK_RC(dn_frame_create(m, &p, &f, &err), DN_OK);
	dn_image g, rgb, og, orgb;
	CHECK_RC(dn_image_alloc(&g, 77, 45, 1, &err), DN_OK);
	CHECK_RC(dn_image_alloc(&rgb, 77, 45, 3, &err), DN_OK);
	for (int i = 0; i < 77 * 45; i++) {
		g.data[i] = (uint8_t)((i * 37) % 251);
		for (int c = 0; c < 3; c++)
			rgb.data[3 * i + c] = g.data[i];
	}
	g.subsamp = DN_SUBSAMP_GRAY;
	rgb.subsamp = DN_SUBSAMP_444;
	CHECK_RC(dn_frame_denoise(f, &g, &og, &err), DN_OK);
	CHECK_RC(dn_frame_denoise(f, &rgb, &orgb, &err), DN_OK);
	CHECK(og.w == 77 && og.h == 45 && og.channels == 1 && og.subsamp == DN_SUBSAMP_GRAY);
	CHECK(orgb.channels == 3 && orgb.subsamp == DN_SUBSAMP_444);
	/* Gray out = the mean of the RGB model's channels on the replicated
	 * input, rounded once (clamping each channel first would differ). */
	const size_t np = 77 * 45;
	float *pin = malloc(3 * np * sizeof(float)), *pout = malloc(3 * np * sizeof(float));
	dn_frame_to_planar(&g, pin);
	CHECK_RC(dn_frame_denoise_planar(f, pin, 45, 77, pout, &err), DN_OK);
	int worst = 0;
	for (size_t i = 0; i < np; i++) {
		float v = (pout[i] + pout[np + i] + pout[2 * np + i]) / 3.0f * 255.0f;
		int want = v <= 0 ? 0 : v >= 255 ? 255 : (int)lrintf(v);
		int d = abs(want - og.data[i]);
		if (d > worst)
			worst = d;
	}
	free(pin);
	free(pout);
	CHECK_MSG(worst <= 1, "gray vs mean of replicated RGB differ by %d", worst);
	dn_image_free(&g);
	dn_image_free(&rgb);
	dn_image_free(&og);
	dn_image_free(&orgb);
	dn_frame_destroy(f);
	dn_model_destroy(m);

	/* A speech model is not a frame model. */
	dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
	info.arch.base_filters = 2;
	dn_unet *net;
	CHECK_RC(dn_unet_create(&info.arch, 1, &net, &err), DN_OK);
	CHECK_RC(dn_model_create(&info, net, &m, &err), DN_OK);
	CHECK_RC(dn_frame_create(m, NULL, &f, &err), DN_EINVAL);
	CHECK(strstr(err.msg, "not a frame model") != NULL);
	dn_model_destroy(m);
}

int main(void)
{
	test_threads();
	CHECK(dn_frame_margin(3) >= 8 * 8 - 6);
	test_tiling(3, 150, 231, 64);
	test_tiling(2, 97, 301, 48);
	test_tiling(1, 70, 70, 16);
	test_images();
	return check_status();
}
