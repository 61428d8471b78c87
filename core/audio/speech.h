/*
 * speech.h — the audio denoising pipeline of DESIGN.md ("Data flow").
 *
 * float PCM per channel -> resample to the model's rate -> STFT -> magnitude
 * (phase kept) -> input scaling -> U-Net over overlapping chunks of frames with
 * a cross-fade -> magnitude or mask x input -> inverse STFT with the noisy
 * phase -> resample back. Memory is bounded by the chunk size, not by the
 * length of the input.
 *
 * A dn_speech is one caller's context bound to a model (with threads > 1 it
 * starts helper threads of its own for the network, per call): it owns the scratch
 * buffers and the U-Net workspace and borrows the model, which must outlive it.
 * Several dn_speech may share one model concurrently.
 */
#ifndef DN_SPEECH_H
#define DN_SPEECH_H

#include "core/audio/audio.h"
#include "core/dn.h"
#include "core/model/model.h"

typedef struct dn_speech_params {
	int chunk_frames;   /* STFT frames per network call (default 256) */
	int overlap_frames; /* frames cross-faded between chunks (default 32) */
	int limit;          /* 1: soft-limit peaks above full scale (default) */
	int threads;        /* chunks whose networks run at once, each on its own
	                       thread (default 1; 0 counts as 1, at most 64). The
	                       result is bit-identical to 1 thread's; the memory
	                       of one chunk is held once per thread. Meant for
	                       single-threaded GEMMs (dn_threads_set(1)). */
	dn_net_runner runner; /* where the network runs: .run NULL (default) the
	                         model's folded net on this CPU; else e.g. a GPU
	                         server (core/cuda/cuda.h), called with one chunk
	                         of 1 x 1 x bins x (<= chunk_frames) */
} dn_speech_params;

dn_speech_params dn_speech_default_params(void);

typedef struct dn_speech_stats {
	size_t limited_samples; /* samples the limiter changed */
	float peak;             /* output peak before limiting */
} dn_speech_stats;

typedef struct dn_speech dn_speech;

/* DN_EINVAL if the model is not an audio model. */
int dn_speech_create(const dn_model *m, const dn_speech_params *p, dn_speech **out, dn_error *err);
void dn_speech_destroy(dn_speech *s);

/* Until changed, every dn_speech_denoise on s asks fn(arg, err) between
 * chunks and stops with DN_ECANCELLED when it answers non-zero (fn NULL:
 * never). */
void dn_speech_set_cancel(dn_speech *s, dn_cancel_fn fn, void *arg);

/* Denoises every channel of in; out gets the same rate, channels and length
 * (caller frees it with dn_audio_free). stats may be NULL. */
int dn_speech_denoise(dn_speech *s, const dn_audio *in, dn_audio *out, dn_speech_stats *stats, dn_error *err);

/* Shared with the streaming pipeline (stream.h), internal to libdenoise:
 * *mi = m's info, and DN_EINVAL unless it is an audio model this pipeline
 * can run (1 channel
 * in and out, usable rate, scaling and output mode); the network input of
 * a noisy magnitude m; the bound on any output magnitude; the output
 * magnitude from the network's value v at noisy magnitude m (log_cap =
 * logf(mag_cap)); and the soft limiter above 0.9 (returns how many samples
 * it changed). */
int dn_speech_check_model(const dn_model *m, const dn_model_info **mi, dn_error *err);
float dn_speech_scale_in(const dn_model_info *mi, float m);
float dn_speech_mag_cap(const dn_model_info *mi);
float dn_speech_scale_out(const dn_model_info *mi, float mag_cap, float log_cap, float v, float m);
size_t dn_speech_soft_limit(float *x, size_t n);

#endif
