/*
 * denoise.h — the public API of libdenoise: speech and video-frame denoising
 * with U-Net models, and the speech quality metrics they are judged by.
 *
 * This is the one installed header (pkg-config --cflags --libs denoise); the
 * library exports nothing but the denoise_* functions declared here, and
 * every type a caller need not see inside is opaque. Life cycle, as in
 * RNNoise and whisper.cpp:
 *
 *     denoise_model *m;
 *     denoise_model_load("speech.safetensors", &m, &err);
 *     denoise_audio_params p = denoise_audio_default_params();
 *     denoise_audio *a;
 *     denoise_audio_create(m, &p, &a, &err);
 *     denoise_audio_process(a, in, frames, channels, rate, out, &err);
 *     denoise_audio_destroy(a);
 *     denoise_model_free(m);
 *
 * Errors are values: every function that can fail returns DENOISE_OK (0) or
 * a negative DENOISE_E* code and, when err is not NULL, writes a message
 * that says what to change. The library never prints, exits or aborts on bad
 * input. A model is read-only once loaded: several threads may each create
 * their own denoise_audio or denoise_frame context on one model and use it
 * concurrently; one context is used by one thread at a time.
 */
#ifndef DENOISE_H
#define DENOISE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The interface version: raised when a declaration here changes. */
#define DENOISE_API_VERSION 1

/* The library's release, e.g. "0.1.0". */
const char *denoise_version(void);

/* ---- errors ----------------------------------------------------------- */

enum denoise_status {
	DENOISE_OK = 0,
	DENOISE_EINVAL = -1,       /* an argument is out of its domain */
	DENOISE_ENOMEM = -2,       /* an allocation failed */
	DENOISE_EIO = -3,          /* reading a file failed */
	DENOISE_EFORMAT = -4,      /* input bytes are not in the expected format */
	DENOISE_ELIMIT = -5,       /* input exceeds a limit */
	DENOISE_EUNSUPPORTED = -6, /* well-formed but not something the library handles */
	DENOISE_ECANCELLED = -7,   /* stopped on request */
	DENOISE_ESHAPE = -8,       /* sizes do not fit together */
	DENOISE_ENOTFOUND = -9,    /* a named thing does not exist */
};

#define DENOISE_ERROR_MSG_MAX 256

typedef struct denoise_error {
	int code;                        /* enum denoise_status */
	char msg[DENOISE_ERROR_MSG_MAX]; /* human-readable detail */
} denoise_error;

/* A static, short name for a code ("invalid argument", ...). */
const char *denoise_strerror(int code);

/* ---- models ----------------------------------------------------------- */

enum denoise_model_kind { DENOISE_MODEL_AUDIO = 0, DENOISE_MODEL_FRAME = 1 };

typedef struct denoise_model denoise_model;

/* Loads a model file (safetensors with denoised's metadata). The caller owns
 * *out (denoise_model_free). DENOISE_ENOTFOUND, DENOISE_EIO, DENOISE_EFORMAT
 * (truncated, offsets out of range, shapes that do not fit), DENOISE_ENOMEM. */
int denoise_model_load(const char *path, denoise_model **out, denoise_error *err);
void denoise_model_free(denoise_model *m);

/* enum denoise_model_kind */
int denoise_model_kind(const denoise_model *m);
/* The rate the model works at, in Hz (audio models; 0 for frame models).
 * Input at any other rate is resampled to it and back. */
int denoise_model_sample_rate(const denoise_model *m);
/* Borrowed strings, valid while m lives: the model's name ("speech-unet")
 * and version, and any metadata value of the file (NULL if absent). */
const char *denoise_model_name(const denoise_model *m);
const char *denoise_model_version(const denoise_model *m);
const char *denoise_model_metadata(const denoise_model *m, const char *key);

/* The folder the shipped models are installed in (e.g.
 * /usr/local/share/denoised/models; $DENOISE_DATADIR/models when that is
 * set). A static or environment string. */
const char *denoise_models_dir(void);

/* ---- audio ------------------------------------------------------------ */

typedef struct denoise_audio_params {
	int chunk_frames;   /* STFT frames per network call (default 256) */
	int overlap_frames; /* frames cross-faded between chunks (default 32) */
	int limit;          /* 1: soft-limit peaks above full scale (default) */
} denoise_audio_params;

denoise_audio_params denoise_audio_default_params(void);

typedef struct denoise_audio denoise_audio;

/* A context for one thread, bound to an audio model that must outlive it
 * (p NULL: the defaults). DENOISE_EINVAL if m is not an audio model. */
int denoise_audio_create(const denoise_model *m, const denoise_audio_params *p, denoise_audio **out,
                         denoise_error *err);
void denoise_audio_destroy(denoise_audio *a);

/* Denoises `frames` samples per channel of interleaved float PCM (full
 * scale ±1) at `rate` Hz into out, which holds as many values as in
 * (frames * channels) and must not overlap it. Memory stays bounded by the
 * chunk size, not by the length of the input. */
int denoise_audio_process(denoise_audio *a, const float *in, size_t frames, int channels, int rate,
                          float *out, denoise_error *err);

/* ---- video frames ----------------------------------------------------- */

typedef struct denoise_frame_params {
	int tile;   /* output pixels per tile side (default 384; 0: whole frame) */
	int margin; /* context read around each tile (0: enough for the model) */
} denoise_frame_params;

denoise_frame_params denoise_frame_default_params(void);

typedef struct denoise_frame denoise_frame;

/* A context for one thread, bound to a frame model that must outlive it
 * (p NULL: the defaults). DENOISE_EINVAL if m is not a frame model. */
int denoise_frame_create(const denoise_model *m, const denoise_frame_params *p, denoise_frame **out,
                         denoise_error *err);
void denoise_frame_destroy(denoise_frame *f);

/* Denoises an 8-bit frame of width x height pixels, `channels` 1 (gray) or 3
 * (RGB) interleaved, rows packed (stride width * channels), into out of the
 * same size. The result does not depend on the tile size. */
int denoise_frame_process(denoise_frame *f, const unsigned char *in, int width, int height, int channels,
                          unsigned char *out, denoise_error *err);

/* ---- metrics ---------------------------------------------------------- */

/* Every speech metric of ref (clean) against deg, n samples each, mono, at
 * rate Hz (PESQ needs 8000 or 16000: the wide-band score is 16000 only; a
 * PESQ that cannot be computed is NaN). */
typedef struct denoise_speech_metrics {
	double pesq_wb, pesq_nb; /* ITU-T P.862.2 / P.862 + P.862.1, MOS-LQO */
	double stoi, estoi;      /* Taal et al. 2011; Jensen & Taal 2016 */
	double si_sdr_db, snr_db, seg_snr_db;
} denoise_speech_metrics;

int denoise_metrics_speech(const float *ref, const float *deg, size_t n, int rate,
                           denoise_speech_metrics *out, denoise_error *err);

/* PESQ MOS-LQO, wide-band (P.862.2, rate 16000) or narrow-band (P.862.1,
 * rate 8000 or 16000); the lengths may differ (PESQ aligns the signals). */
int denoise_metrics_pesq(const float *ref, size_t n_ref, const float *deg, size_t n_deg, int rate,
                         int wideband, double *out, denoise_error *err);
/* STOI, or extended STOI when `extended` is 1. */
int denoise_metrics_stoi(const float *ref, const float *deg, size_t n, int rate, int extended, double *out,
                         denoise_error *err);
/* Scale-invariant SDR in dB, both signals mean-removed. */
int denoise_metrics_si_sdr(const float *ref, const float *deg, size_t n, double *out, denoise_error *err);
/* PSNR in dB with `peak` the largest value, and SSIM (11x11 Gaussian
 * window, sigma 1.5, constants from `range`) of two h x w row-major arrays. */
int denoise_metrics_psnr(const float *ref, const float *x, size_t n, double peak, double *out,
                         denoise_error *err);
int denoise_metrics_ssim(const float *ref, const float *x, int h, int w, double range, double *out,
                         denoise_error *err);

#ifdef __cplusplus
}
#endif

#endif
