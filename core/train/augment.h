/*
 * augment.h — what real recordings do to speech before noise is added,
 * drawn at random for training: the level, the channel (a phone band-pass
 * or a bright/dark spectral tilt), room reverberation, and clipping.
 *
 * The data set (dataset.c) calls dn_augment_speech on the clean speech of
 * an item before it mixes noise, and dn_augment_clip on the mix after. The
 * target the model learns is the speech after the same channel and level:
 * the model removes noise and reverberation; it is not asked to invent the
 * frequencies a phone line cut off, nor to undo an EQ. Reverberation is
 * split: the noisy side gets the full synthetic room response, the target
 * only its direct path and early reflections (the first
 * DN_AUGMENT_EARLY_MS), which is what listeners hear as the voice itself
 * (the usual choice, e.g. in the DNS challenge and in DeepFilterNet's
 * training). Clipping is applied to the mix and not to the target, so the
 * model learns to soften mild clipping.
 *
 * Every draw comes from the caller's dn_rng: the same generator state gives
 * the same result. A probability of 0 leaves its effect out without a draw
 * changing meaning (each effect always consumes the same draws), so turning
 * one effect on or off does not reshuffle the others.
 *
 * Synthetic room impulse responses: h = direct impulse at t = 0, then
 * Gaussian noise from 1 ms on under an exponential envelope that falls by
 * 60 dB over RT60 (amplitude exp(-6.908 t / RT60)), scaled so that the
 * direct-to-reverberant energy ratio is drawn from DN_AUGMENT_DRR_*; the
 * response is RT60 long (at most 1 s). Convolution is by FFT.
 */
#ifndef DN_AUGMENT_H
#define DN_AUGMENT_H

#include <stddef.h>

#include "core/dn.h"
#include "core/util/rng.h"

#define DN_AUGMENT_EARLY_MS 50.0 /* target = direct path + reflections before this */
#define DN_AUGMENT_DRR_MIN_DB 0.0
#define DN_AUGMENT_DRR_MAX_DB 12.0
#define DN_AUGMENT_PHONE_LO_HZ 300.0
#define DN_AUGMENT_PHONE_HI_HZ 3400.0

enum dn_augment_preset { DN_AUGMENT_NONE = 0, DN_AUGMENT_REAL = 1 };

/* Probabilities are in 0..1, or -1: "as the preset says" (none: 0; real:
 * the recommended value, dn_augment_resolve). */
typedef struct dn_augment_params {
	int preset;                /* DN_AUGMENT_NONE (default) or DN_AUGMENT_REAL */
	double level_prob;         /* speech RMS set to a level drawn from the range below */
	double level_min_dbfs, level_max_dbfs; /* default -35 .. -10 dBFS */
	double band_prob;          /* phone band-pass 300..3400 Hz */
	double tilt_prob;          /* spectral tilt, slope uniform in +-tilt_db_oct */
	double tilt_db_oct;        /* dB per octave around 1 kHz, default 4 */
	double reverb_prob;        /* synthetic room */
	double rt60_min_s, rt60_max_s; /* default 0.15 .. 0.8 s */
	double clip_prob;          /* the mix clipped at a level below its peak */
	double clip_min_db, clip_max_db; /* that level, dB below the peak: default 1 .. 6 */
} dn_augment_params;

/* All effects "as the preset says" (-1), preset none, ranges as above. */
dn_augment_params dn_augment_default_params(void);
/* p with the -1 probabilities replaced: 0 for preset none; for real, level
 * 0.5, band 0.15, tilt 0.3, reverb 0.3, clip 0.05. */
dn_augment_params dn_augment_resolve(const dn_augment_params *p);
/* DN_EINVAL (naming the field and its bounds) for a probability outside
 * -1..1 (or between -1 and 0), an unordered or out-of-bounds range. */
int dn_augment_check(const dn_augment_params *p, dn_error *err);
/* Whether any effect of resolved params can happen. */
int dn_augment_active(const dn_augment_params *resolved);
/* The preset's name ("none", "real"); NULL if unknown. */
const char *dn_augment_preset_name(int preset);

/* What dn_augment_speech did, for tests and reports. */
typedef struct dn_augment_info {
	int band, tilt, reverb, level, clip; /* 1 where applied */
	double tilt_db_oct, rt60_s, drr_db, level_dbfs, clip_db;
} dn_augment_info;

/* Applies level, channel and reverberation (resolved params) to x[0..n) at
 * rate; x is overwritten with the target. With reverberation, *noisy_side
 * (malloc'd, n samples, owned by the caller) is the speech to mix noise
 * into; without, *noisy_side is NULL: the noisy side is x itself. info may
 * be NULL. DN_ENOMEM; DN_EINVAL for a silent x when a level is to
 * be set. Scratch memory: three FFT buffers of the next power of two above
 * n + the response length. */
int dn_augment_speech(const dn_augment_params *p, int rate, dn_rng *rng, float *x, size_t n,
                      float **noisy_side, dn_augment_info *info, dn_error *err);
/* Clips mix[0..n) symmetrically at its peak times 10^(-d/20), d drawn from
 * the clip range, with probability clip_prob. Returns 1 if it clipped. */
int dn_augment_clip(const dn_augment_params *p, dn_rng *rng, float *mix, size_t n, dn_augment_info *info);

/* Building blocks, exposed for tests. The FIR of a synthetic room: h[0] = 1,
 * length *len (allocated, caller frees). */
int dn_augment_rir(int rate, double rt60_s, double drr_db, dn_rng *rng, float **h, size_t *len,
                   dn_error *err);
/* The zero-phase channel's gain at f Hz: band-pass when band, times a tilt
 * of tilt_db_oct dB per octave around 1 kHz (limited to +-18 dB). */
double dn_augment_channel_gain(double f, int band, double tilt_db_oct);

#endif
