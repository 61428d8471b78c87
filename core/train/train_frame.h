/*
 * train_frame.h — the training loop for frame models: random patches of
 * clean photographs with random flips and quarter turns, Gaussian noise of a
 * standard deviation drawn uniformly per patch (blind denoising), MSE
 * between the residual network's output and the clean patch, Adam,
 * ReduceLROnPlateau and early stopping on validation PSNR, the latest model
 * saved every epoch and the best one kept (in memory and on disk).
 *
 * The data are decoded 8-bit images the caller owns (core does no file
 * discovery); validation uses fixed crops of the validation images with
 * fixed-seed noise of val_sigma, so its PSNR is comparable across epochs.
 * Deterministic for a seed. Not resumable: a checkpoint is a plain model
 * file (the latest weights), enough to evaluate or to start a new run from.
 */
#ifndef DN_TRAIN_FRAME_H
#define DN_TRAIN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/cuda/cuda.h"
#include "core/dn.h"
#include "core/image/image.h"
#include "core/model/model.h"

typedef struct dn_frame_train_params {
	int epochs;                 /* 50 */
	int steps_per_epoch;        /* 100 */
	int batch;                  /* 16 */
	int patch;                  /* 64: patch side, a multiple of 2^depth */
	float lr;                   /* 1e-3 */
	float sigma_min, sigma_max; /* noise σ range on the 0..1 scale: 0, 50/255 */
	int clip;                   /* 1: noisy pixels clipped to [0, 1], as 8-bit frames are (default 0) */
	float poisson_max;          /* Poisson–Gaussian noise: variance σ² + a·x per pixel (x the clean
	                             * value, 0..1), a ~ U[0, poisson_max] per patch; 0 (default): off */
	float jpeg_prob;            /* share of patches whose noisy input is stored as an 8-bit 4:2:0
	                             * JPEG first (default 0) */
	int jpeg_quality_min;       /* their quality ~ U[jpeg_quality_min, 95] (default 60) */
	float val_sigma;            /* validation noise σ: 25/255 */
	int val_crop;               /* validation crop side: 128 */
	int val_crops;              /* crops per validation image: 4 */
	float lr_factor;            /* 0.5 */
	int lr_patience;            /* 5 */
	float min_lr;               /* 1e-6 */
	int early_stop;             /* 10 */
	double max_seconds;         /* stop after the epoch that crosses it (0: no limit) */
	uint64_t seed;              /* 1 */
	const char *checkpoint;     /* latest model, every epoch (NULL: none) */
	const char *best;           /* best model by validation PSNR (NULL: none) */
	dn_device device;           /* where steps run: index -1 (default) the CPU */
	int loader_threads;         /* threads cutting patches ahead of the step (0: auto) */
	int step_progress;          /* 1: the callback runs after every step too (default 0) */
} dn_frame_train_params;

dn_frame_train_params dn_frame_train_default_params(void);

struct dn_rng;
/* The noisy input of one training patch (3 planes of patch × patch, 0..1)
 * from its clean planes, by p's noise: N(0, σ²), or with p->poisson_max
 * N(0, σ² + a·x) with a ~ U[0, poisson_max]; clipped with p->clip; then,
 * with probability p->jpeg_prob, its 4:2:0 JPEG at a quality ~
 * U[p->jpeg_quality_min, 95], decoded (jpeg_buf: 3·patch² bytes, needed
 * only then). Draws from r. DN_ENOMEM from the codec. */
int dn_frame_noise_patch(const dn_frame_train_params *p, const float *clean, float *noisy, int patch,
                         float sigma, struct dn_rng *r, uint8_t *jpeg_buf, dn_error *err);

typedef struct dn_frame_train_epoch {
	int epoch, epochs;
	double loss;       /* mean training MSE of the epoch */
	double val_psnr;   /* dB, on the validation crops */
	double noisy_psnr; /* dB, of the noisy validation crops (the baseline) */
	float lr;
	double seconds; /* since the start of the run */
	int best;       /* 1 if this epoch is the best so far */
	/* Where the run is: step of steps in this epoch; epoch_done 0 for a
	 * report after a step (step_progress), whose loss is the epoch's mean
	 * so far and whose val_psnr is NaN. eta_s: the remaining steps at the
	 * run's mean pace so far (validation included), NaN before the first. */
	int step, steps;
	int epoch_done;
	double eta_s;
} dn_frame_train_epoch;

/* Called at the end of every epoch (and after every step with
 * step_progress); non-zero cancels (DN_ECANCELLED), the best model so far
 * kept. */
typedef int (*dn_frame_train_cb)(const dn_frame_train_epoch *e, void *user);

typedef struct dn_frame_train_result {
	int epochs;     /* epochs run */
	int best_epoch; /* 1-based */
	double best_val_psnr, noisy_val_psnr;
	double seconds;
	int stopped; /* 0 ran all epochs, 1 early stop, 2 time budget */
	/* Seconds the step waited for the patch loaders, and the device's own
	 * time in steps (GPU only); "cpu" or "cuda:0 (…) fp32". */
	double data_wait_s, device_s;
	char device[160];
} dn_frame_train_result;

/* A new frame model of info's architecture (info->kind DN_MODEL_FRAME),
 * weights from seed, whose output convolution is zero: the fresh residual
 * net is the identity (it predicts no noise), so training starts at the
 * noisy input's PSNR instead of a random image's; gradients still reach the
 * output weights, which are the first to move. *out is the caller's. */
int dn_frame_model_create(const dn_model_info *info, uint64_t seed, dn_model **out, dn_error *err);

/* Trains m (a frame model) in place; on return m holds the best weights and
 * its folded snapshot is refreshed. Images: 1 or 3 channels, each at least
 * patch x patch (smaller ones are refused with DN_EINVAL). res may be NULL. */
int dn_frame_train(dn_model *m, const dn_image *train, size_t ntrain, const dn_image *val, size_t nval,
                   const dn_frame_train_params *p, dn_frame_train_cb cb, void *user,
                   dn_frame_train_result *res, dn_error *err);

#endif
