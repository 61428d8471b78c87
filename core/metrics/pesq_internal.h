/*
 * pesq_internal.h — what the PESQ files (pesq.c, pesq_align.c, pesq_model.c,
 * pesq_dsp.c, pesq_tables.c) share; not part of the public API.
 *
 * PESQ (ITU-T P.862, P.862.1, P.862.2) runs in four stages: level and
 * input-filter normalisation (pesq.c), voice-activity detection and time
 * alignment of utterances (pesq_align.c), the perceptual model that turns
 * both signals into loudness densities and aggregates their difference
 * (pesq_model.c), and the mapping of the raw score to MOS-LQO (pesq.c).
 * Numbers follow the ITU reference implementation step by step, including
 * its single-precision arithmetic where that decides a comparison, so that
 * scores agree with it to well within 0.01 MOS.
 *
 * All state lives in one pesq_ctx per call: no globals, thread-safe.
 */
#ifndef DN_PESQ_INTERNAL_H
#define DN_PESQ_INTERNAL_H

#include <stddef.h>

/* Fixed parameters of the reference (in units of VAD windows of
 * `downsample` samples unless noted). */
#define PESQ_SEARCHBUFFER   75  /* silence added on both sides of a signal */
#define PESQ_DATAPADDING_MS 320 /* extra zeros after the end */
#define PESQ_MINSPEECHLGTH  4   /* shorter VAD bursts are noise */
#define PESQ_JOINSPEECHLGTH 50  /* shorter VAD gaps are bridged */
#define PESQ_MINUTTLENGTH   50  /* shortest utterance */
#define PESQ_MAXNUTTERANCES 50  /* utterance splitting stops at this count */
#define PESQ_TWOPI          6.28318530717959

/* Everything that depends on the sample rate. */
typedef struct pesq_params {
	int fs;
	long downsample; /* samples per VAD window (4 ms) */
	long align_nfft; /* FFT length of the fine time alignment */
	int n_sos;       /* input (receive) filter: second-order sections */
	const float (*sos)[5];
	const float *wb_sos; /* P.862.2 wide-band input filter, one section */
	int nb;              /* number of Bark bands */
	const int *hz_per_bark;
	const double *centre_bark;
	const double *width_bark;
	const double *pow_dens_corr;
	const double *abs_thresh;
	float sp, sl; /* power and loudness scaling */
} pesq_params;

/* Returns the parameters for 8000 or 16000 Hz, NULL for any other rate. */
const pesq_params *pesq_params_for(int fs);

/* Frequency responses (Hz, dB) given as 26 points, interpolated linearly. */
#define PESQ_CURVE_POINTS 26
extern const double pesq_align_filter_db[PESQ_CURVE_POINTS][2];
extern const double pesq_irs_filter_db[PESQ_CURVE_POINTS][2];

/* ---- FFT (pesq_dsp.c) ------------------------------------------------ */

#define PESQ_FFT_PLANS 8

struct dn_fft;

/* FFTW transforms (core/audio/fft.h) for the few lengths one run uses, made
 * on first use and freed with the cache. */
typedef struct pesq_fft_cache {
	struct dn_fft *plan[PESQ_FFT_PLANS];
	unsigned long used[PESQ_FFT_PLANS]; /* tick of last use */
	unsigned long tick;
} pesq_fft_cache;

void pesq_fft_cache_free(pesq_fft_cache *c);

/* In-place real FFT of x[0..n) (n a power of two, >= 4); x must hold n + 2
 * floats and receives n/2 + 1 complex bins as (re, im) pairs. Computed in
 * double precision. Returns 0 or DN_ENOMEM. */
int pesq_rfft(pesq_fft_cache *c, float *x, long n);
/* The inverse, scaled by 1/n: x holds n/2 + 1 bins, receives n samples.
 * The imaginary parts of bins 0 and n/2 are ignored. */
int pesq_irfft(pesq_fft_cache *c, float *x, long n);

/* Smallest power of two >= x. */
long pesq_nextpow2(long x);

/* Cascade of at most PESQ_MAX_SOS second-order IIR sections (b0 b1 b2 a1 a2)
 * over x, in place, from zero state, in single precision as the reference. */
#define PESQ_MAX_SOS 12
void pesq_iir(const float (*sos)[5], int n_sos, float *x, long n);

/* Zero-phase filtering by a piecewise-linear dB curve, normalised to 0 dB at
 * 1 kHz, over data[sb .. sb + n_signal - 2 sb + pad) (the reference's
 * apply_filter, circular over the next power of two). */
int pesq_curve_filter(pesq_fft_cache *c, const pesq_params *p, float *data, long n_signal,
                      const double (*curve)[2]);

/* Σ x[i]² over [start, stop) divided by divisor, accumulated like the
 * reference (float squares, double sum). */
double pesq_pow_of(const float *x, long start, long stop, long divisor);

/* ---- Signals and utterances ------------------------------------------- */

typedef struct pesq_signal {
	float *data;   /* n + padding samples (buffer holds max length + pad) */
	float *vad;    /* n / downsample windows */
	float *logvad; /* same */
	long n;        /* samples including 2 * SEARCHBUFFER * downsample */
} pesq_signal;

/* Utterances of the reference with their delays in the degraded signal
 * (all positions in VAD windows, delays in samples). */
typedef struct pesq_utts {
	long count, cap;
	long crude_delay;
	long *search_start, *search_end;
	long *delay_est, *delay;
	float *delay_conf;
	long *start, *end;
} pesq_utts;

typedef struct pesq_ctx {
	const pesq_params *p;
	pesq_signal ref, deg;
	pesq_utts utt;
	pesq_fft_cache fft;
	float *tmp; /* scratch of at least 6 * align_nfft + 8 floats */
	long pad;   /* DATAPADDING in samples */
	long sb;    /* SEARCHBUFFER * downsample */
} pesq_ctx;

/* ---- Alignment (pesq_align.c) ----------------------------------------- */

/* Marks speech in sig->vad and its log-energy in sig->logvad. */
void pesq_vad(const pesq_params *p, pesq_signal *sig);

/* Whole-signal crude delay, utterance search windows, per-utterance crude
 * and fine delays, utterance boundaries and splits. On success ctx->utt
 * holds at least one utterance; DN_EINVAL when the reference has none. */
int pesq_align(pesq_ctx *ctx);

/* ---- Perceptual model (pesq_model.c) ---------------------------------- */

/* Raw P.862 score of the aligned, level-normalised, filtered signals (both
 * buffers hold max(ref.n, deg.n) + pad samples). */
int pesq_model(pesq_ctx *ctx, double *raw_mos);

#endif
