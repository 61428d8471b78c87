/*
 * metrics.h — quality measures for denoised speech and images, in C.
 *
 * Waveform metrics take a reference (clean) and a degraded/estimated signal
 * of equal length at one sample rate; spectrogram/image metrics take two
 * equally sized 2-D arrays. Each returns 0 and writes *out, or a negative
 * DN_E* code with a message (different lengths, too short for the metric,
 * unsupported rate). Definitions and tolerances: ../shared/testvectors/metrics.
 */
#ifndef DN_METRICS_H
#define DN_METRICS_H

#include <stddef.h>

#include "core/dn.h"

/* 10·log10(Σs² / Σ(s−ŝ)²). Identical signals: +inf (defined, not an error). */
int dn_metrics_snr(const float *ref, const float *deg, size_t n, double *out, dn_error *err);
/* Mean over 512-sample frames, each clamped to [−10, 35] dB. */
int dn_metrics_seg_snr(const float *ref, const float *deg, size_t n, double *out, dn_error *err);
/* Scale-invariant SDR with both signals mean-removed. */
int dn_metrics_si_sdr(const float *ref, const float *deg, size_t n, double *out, dn_error *err);
/* STOI (Taal et al. 2011) and extended STOI (Jensen & Taal 2016). */
int dn_metrics_stoi(const float *ref, const float *deg, size_t n, int rate, int extended, double *out,
                    dn_error *err);

/* 2-D measures over h x w arrays (row-major). PSNR uses `peak` as the
 * maximum value; SSIM uses an 11x11 Gaussian window, σ 1.5, with constants
 * from `range` (the data's dynamic range). */
int dn_metrics_mse(const float *a, const float *b, size_t n, double *out, dn_error *err);
int dn_metrics_mae(const float *a, const float *b, size_t n, double *out, dn_error *err);
int dn_metrics_psnr(const float *ref, const float *x, size_t n, double peak, double *out, dn_error *err);
int dn_metrics_ssim(const float *ref, const float *x, int h, int w, double range, double *out, dn_error *err);

enum dn_pesq_mode { DN_PESQ_NB = 0, DN_PESQ_WB = 1 };
/* PESQ MOS-LQO: ITU-T P.862 with the P.862.1 mapping (narrow-band) or P.862.2
 * (wide-band). rate 8000 or 16000 (wide-band needs 16000). Lengths may
 * differ (PESQ aligns them). */
int dn_metrics_pesq(const float *ref, size_t n_ref, const float *deg, size_t n_deg, int rate, int mode,
                    double *out, dn_error *err);

/* All waveform metrics at once, for `denoise metrics` and evaluation. */
typedef struct dn_speech_metrics {
	double pesq_wb, pesq_nb, stoi, estoi, si_sdr_db, snr_db, seg_snr_db;
} dn_speech_metrics;
int dn_metrics_speech(const float *ref, const float *deg, size_t n, int rate, dn_speech_metrics *out,
                      dn_error *err);

#endif
