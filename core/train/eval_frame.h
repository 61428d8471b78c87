/*
 * eval_frame.h — scoring a frame model on clean photographs: each image gets
 * Gaussian noise of each σ (0..255 scale) from a fixed seed, rounded and
 * clipped to 8 bits as a camera or a file would hold it, goes through the
 * serving pipeline (dn_frame_denoise, 8 bits in and out) and is scored
 * against the clean image by PSNR (peak 255) and SSIM (the mean of the
 * channels' SSIM, 11x11 Gaussian window) — the noisy input too, as the
 * baseline. The speech evaluation's frame counterpart (eval.h); "eval-frame"
 * jobs and a "train-frame" job's final figures run it, api/eval_json.c lays
 * the result out.
 */
#ifndef DN_EVAL_FRAME_H
#define DN_EVAL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"
#include "core/image/image.h"
#include "core/model/model.h"

#define DN_FRAME_EVAL_MAX_SIGMAS   8
#define DN_FRAME_EVAL_MAX_EXAMPLES 8

typedef struct dn_frame_eval_params {
	int n_sigma;
	double sigma[DN_FRAME_EVAL_MAX_SIGMAS]; /* 15, 25, 50 */
	uint64_t seed;                          /* 1 */
	int examples;                           /* crops kept for the plots (2) */
	int example_crop;                       /* their side (96), smaller images give their own */
} dn_frame_eval_params;

dn_frame_eval_params dn_frame_eval_default_params(void);

typedef struct dn_frame_eval_progress {
	size_t done, total; /* image x sigma pairs */
	double eta_s;
} dn_frame_eval_progress;

/* Non-zero stops the evaluation (DN_ECANCELLED). */
typedef int (*dn_frame_eval_cb)(const dn_frame_eval_progress *p, void *user);

/* A centre crop of one image at the σ nearest 25: three 8-bit images of
 * the same shape. */
typedef struct dn_frame_eval_example {
	char name[128];
	double sigma;
	dn_image clean, noisy, denoised;
} dn_frame_eval_example;

typedef struct dn_frame_eval_result {
	dn_frame_eval_params params;
	char model_version[64];
	size_t files;
	/* [s * files + i]: image i at sigma[s] */
	double *psnr, *ssim, *noisy_psnr, *noisy_ssim;
	int n_examples;
	dn_frame_eval_example ex[DN_FRAME_EVAL_MAX_EXAMPLES];
	double megapixels; /* denoised in all */
	double denoise_seconds, metric_seconds;
} dn_frame_eval_result;

/* Scores m (a frame model) on img[0..n) (names[i] names image i in the
 * examples; NULL: "image N"). *out is the caller's (dn_frame_eval_result_free).
 * DN_EINVAL (not a frame model, no image, bad params), DN_ENOMEM,
 * DN_ECANCELLED. */
int dn_eval_frames(const dn_model *m, const dn_image *img, const char *const *names, size_t n,
                   const dn_frame_eval_params *p, dn_frame_eval_cb cb, void *user, dn_frame_eval_result **out,
                   dn_error *err);
void dn_frame_eval_result_free(dn_frame_eval_result *r);

#endif
