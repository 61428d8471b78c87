/*
 * eval.h — evaluation of a speech model on a test set: every noise kind x
 * input SNR cell, per-file metrics for the noisy input and for the model's
 * output, their aggregates and distributions, as data (the evaluation JSON
 * of docs/eval-json.md is encoded by api/eval_json.c, where it is served).
 *
 * The clean test speech comes through dn_clean_source; noise is synthesised
 * (white, pink, brown) or drawn from recordings (kind "file": a recording
 * and an offset, looped when shorter than the file) and mixed at each SNR
 * deterministically from the seed, file index, kind and SNR, so two
 * evaluations of two models see exactly the same noisy files.
 *
 * Metrics per file (DN_EVAL_*): PESQ wide-band, STOI, SI-SDR and SNR on the
 * waveform; MSE, MAE, SSIM and PSNR on the magnitude spectrogram in the
 * model's input domain (its scaling), clean as the reference, PSNR/SSIM with
 * the clean spectrogram's peak as the data range.
 */
#ifndef DN_EVAL_H
#define DN_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/audio/noise.h"
#include "core/dn.h"
#include "core/model/model.h"
#include "core/train/train.h"

enum {
	DN_EVAL_PESQ_WB,
	DN_EVAL_STOI,
	DN_EVAL_SI_SDR,
	DN_EVAL_SNR,
	DN_EVAL_SPEC_MSE,
	DN_EVAL_SPEC_MAE,
	DN_EVAL_SPEC_SSIM,
	DN_EVAL_SPEC_PSNR,
	DN_EVAL_NMETRICS
};

typedef struct dn_clean_source {
	void *ctx;
	size_t (*count)(void *ctx);
	/* Clean item i at the model's rate, malloc'd (caller frees). */
	int (*load)(void *ctx, size_t i, float **clean, size_t *n, dn_error *err);
	/* A short name for item i (a file name), or NULL. */
	const char *(*name)(void *ctx, size_t i);
} dn_clean_source;

#define DN_EVAL_MAX_SNRS 16

typedef struct dn_eval_params {
	unsigned noise_mask; /* bits (1u << DN_NOISE_*): white | pink | brown | file */
	/* The recordings for DN_NOISE_FILE (borrowed; e.g. dn_dataset_noises of a
	 * data set opened with noise_dir); needed when noise_mask has it. */
	const dn_noise_source *const *noises;
	size_t n_noises;
	int n_snr;
	double snr_db[DN_EVAL_MAX_SNRS]; /* 5, 10, 15, 20, 25 */
	uint64_t seed;
	size_t max_files; /* 0: every file of the source */
	int examples;     /* example spectrograms kept for the plots (3) */
	int hist_bins;    /* histogram bins per metric (20) */
	/* Optional: sees every (clean reference, noisy mix) pair as it is made,
	 * e.g. to write them out for other denoisers; non-zero stops (its code). */
	int (*on_mix)(void *user, size_t file, int noise, double snr_db, const float *clean,
	              const float *noisy, size_t n, int rate);
	void *on_mix_user;
} dn_eval_params;

/* "pesq_wb", "stoi", "si_sdr_db", "snr_db", "spec_mse", ... */
const char *dn_eval_metric_name(int metric);

dn_eval_params dn_eval_default_params(void);

/* One evaluated noisy file. */
typedef struct dn_eval_record {
	size_t file;
	int noise, snr; /* noise kind, index into snr_db */
	double noisy[DN_EVAL_NMETRICS], model[DN_EVAL_NMETRICS];
} dn_eval_record;

typedef struct dn_eval_example {
	char name[64];
	int noise;
	double snr_db;
	int bins, frames;                /* downsampled size */
	float *clean, *noisy, *denoised; /* [bins][frames], dB, owned */
} dn_eval_example;

typedef struct dn_eval_result {
	dn_eval_params params;
	char model_name[64], model_version[32];
	size_t files;
	size_t n; /* records */
	dn_eval_record *rec;
	int n_examples;
	dn_eval_example ex[8];
	double audio_seconds;   /* noisy audio denoised */
	double denoise_seconds; /* time spent in the model's pipeline */
	double metric_seconds;  /* time spent computing metrics */
} dn_eval_result;

typedef struct dn_eval_progress {
	size_t done, total; /* noisy files evaluated */
	double eta_s;
} dn_eval_progress;
/* Non-zero return cancels (DN_ECANCELLED). */
typedef int (*dn_eval_cb)(const dn_eval_progress *p, void *user);

/* Mean, sample standard deviation and count of `metric` over the records of
 * noise kind `noise` and SNR index `snr` (-1: any), for which = 0 the noisy
 * input, 1 the model's output, 2 their difference (model − noisy). Records
 * where the metric is undefined are left out. */
void dn_eval_stats(const dn_eval_result *r, int metric, int noise, int snr, int which, double *mean,
                   double *std, size_t *n);

/* The distribution of `metric` over every record, in r->params.hist_bins
 * equal bins of [*lo, *hi], the range of the noisy input's and the model's
 * values together (so the two histograms share their edges): noisy[b] and
 * model[b] count the records in bin b (each hist_bins long, the caller's).
 * Returns 0, writing nothing, when no record has the metric. */
int dn_eval_histogram(const dn_eval_result *r, int metric, double *lo, double *hi, size_t *noisy,
                      size_t *model);

/* Runs the evaluation. The caller owns *out (dn_eval_result_free). */
int dn_eval_speech(const dn_model *m, const dn_clean_source *src, const dn_eval_params *p, dn_eval_cb cb,
                   void *user, dn_eval_result **out, dn_error *err);
void dn_eval_result_free(dn_eval_result *r);

#endif
