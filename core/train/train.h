/*
 * train.h — the training loop for speech models (the seed's recipe as
 * parameters): spectrogram patches of noisy/clean pairs, MSE (or MAE), Adam,
 * ReduceLROnPlateau, early stopping, a checkpoint every epoch and the best
 * model kept, deterministic for a seed, resumable, cancellable.
 *
 * Data comes through dn_pair_source, so any dataset (a folder noised on the
 * fly, Valentini pairs, the generated corpus, synthetic signals in a test)
 * plugs in with two callbacks. Items must be deterministic in (index, epoch):
 * that, plus the seeded shuffles, makes a run repeatable bit for bit.
 */
#ifndef DN_TRAIN_H
#define DN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/cuda/cuda.h"
#include "core/dn.h"
#include "core/model/model.h"

typedef struct dn_pair_source {
	void *ctx;
	size_t (*count)(void *ctx);
	/* Item i as equal-length clean and noisy signals at the model's rate,
	 * malloc'd (the caller frees both). Noise for `epoch` must be the same
	 * every time it is asked for. */
	int (*load)(void *ctx, size_t i, uint64_t epoch, float **clean, float **noisy, size_t *n,
	            dn_error *err);
} dn_pair_source;

enum dn_loss { DN_LOSS_MSE = 0, DN_LOSS_MAE = 1 };
/* Or'ed into the loss of a step (dn_trainer_step, dn_gpu_net_train_step):
 * the target tensor has 2c channels for an output of c, each sample's c
 * target planes followed by c weight planes w, and the error of an element
 * is w (y - t). The loop uses it for cmask outputs (see dn_train_patch). */
#define DN_LOSS_WEIGHTED 2

typedef struct dn_train_params {
	int epochs;             /* 50 */
	int batch;              /* 16 */
	float lr;               /* 1e-3 */
	int patch_frames;       /* 131 STFT frames per patch (257 x 131) */
	int patches_per_item;   /* random patches drawn from each item per epoch: 1 */
	float lr_factor;        /* ReduceLROnPlateau factor: 0.5 */
	int lr_patience;        /* epochs without improvement before reducing: 5 */
	float min_lr;           /* 1e-6 */
	int early_stop;         /* epochs without improvement before stopping: 10 */
	int loss;               /* enum dn_loss */
	uint64_t seed;          /* shuffles and patch positions */
	const char *checkpoint; /* written every epoch (NULL: none) */
	const char *best;       /* best model by validation loss (NULL: none) */
	int resume;             /* continue from `checkpoint` if it exists */
	dn_device device;       /* where steps run: index -1 (default) the CPU */
	int loader_threads;     /* threads making batches ahead of the step (0: auto) */
} dn_train_params;

dn_train_params dn_train_default_params(void);

typedef struct dn_train_progress {
	int epoch, epochs;   /* 1-based epoch */
	int64_t step, steps; /* step within the epoch */
	double loss;         /* running mean training loss of this epoch */
	double val_loss;     /* last validation loss (NaN before the first) */
	float lr;
	double samples_per_s;
	double eta_s;   /* whole run, at the current rate */
	int epoch_done; /* 1 on the call that closes an epoch */
} dn_train_progress;

/* Called after every step and at the end of each epoch; a non-zero return
 * cancels the run at that point (DN_ECANCELLED; the checkpoint of the last
 * finished epoch stays intact). */
typedef int (*dn_train_cb)(const dn_train_progress *p, void *user);

#define DN_TRAIN_MAX_EPOCHS 1000

typedef struct dn_train_history {
	int epochs; /* epochs recorded */
	double loss[DN_TRAIN_MAX_EPOCHS], val_loss[DN_TRAIN_MAX_EPOCHS], seconds[DN_TRAIN_MAX_EPOCHS];
	float lr[DN_TRAIN_MAX_EPOCHS];
	int best_epoch; /* 1-based; 0 if none */
	double best_val_loss;
	int stopped_early;
	/* Where the time went: the whole run, the part the step waited for the
	 * batch loaders, and (on a GPU) the device's own time in steps. */
	double wall_s, data_wait_s, device_s;
	char device[160]; /* "cpu" or "cuda:0 (NVIDIA H200, …) fp32" */
} dn_train_history;

/* Trains m's network in place from its current weights (or the checkpoint,
 * when resuming). On return m holds the best weights seen (by validation
 * loss) and its folded snapshot is refreshed. hist may be NULL. */
int dn_train_speech(dn_model *m, const dn_pair_source *train, const dn_pair_source *val,
                    const dn_train_params *p, dn_train_cb cb, void *user, dn_train_history *hist,
                    dn_error *err);

/* Network input and target for one patch of a pair, per the model's scaling
 * and output mode (shared with evaluation): in and target are [bins][frames]
 * with frames = p->patch_frames, starting at STFT frame f0 (zero past the
 * end). The target is the scaled clean magnitude (magnitude output) or the
 * ideal ratio mask clipped to [0, 1] (mask output). For cmask output the
 * target is that ratio of power-compressed magnitudes, min((|S|/|X|)^p, 1),
 * and weight (which only cmask needs; else it may be NULL) gets |X|^p, so the
 * weighted error is m |X|^p - |S|^p: the compressed magnitudes' error.
 * With info->lookahead = La, target column t is frame f0 + t - La's (the
 * input column stays frame f0 + t), silence before the first frame. */
int dn_train_patch(const dn_model_info *info, const float *clean_mag, const float *noisy_mag, size_t frames,
                   size_t f0, int patch_frames, float *in, float *target, float *weight);

#endif
