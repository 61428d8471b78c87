/*
 * stft.h — short-time Fourier transform and its inverse, as PyTorch does them.
 *
 * Forward is torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft),
 * center=True, pad_mode='reflect', onesided=True) without normalisation:
 * frame t covers samples [t*hop - n_fft/2, t*hop + n_fft/2) of the signal
 * reflected at both ends, and a signal of len samples has 1 + len/hop frames.
 * Inverse is torch.istft(..., center=True, length=len): windowed inverse
 * FFTs overlap-added and divided by the window-sum-square.
 *
 * Spectrograms are stored [bin][frame] — bins = n_fft/2 + 1 rows, one column
 * per frame, the orientation the U-Net reads (1 x 1 x bins x frames) — with a
 * leading dimension `ld` (elements between rows, >= the number of frames).
 *
 * The frame-range functions (analyze, synthesize) work on a window of the
 * signal so that a long signal can be processed a chunk at a time: sample
 * indices are always those of the whole signal of `len` samples, and the
 * caller passes the part of it it holds.
 *
 * A dn_stft owns FFTW plans made once (under a process-wide lock, FFTW's
 * planner not being thread-safe) and its scratch: one thread uses it at a
 * time; create one per thread.
 */
#ifndef DN_STFT_H
#define DN_STFT_H

#include <stddef.h>

#include "core/dn.h"

typedef struct dn_stft dn_stft;

/* n_fft even, 4..65536; hop 1..n_fft/2 (so that the window-sum-square never
 * vanishes). DN_EINVAL, DN_ENOMEM. The caller owns *out. */
int dn_stft_create(int n_fft, int hop, dn_stft **out, dn_error *err);
void dn_stft_destroy(dn_stft *s);

/* n_fft/2 + 1 */
int dn_stft_bins(const dn_stft *s);
/* Frames of a len-sample signal: 1 + len/hop (len >= 1). */
size_t dn_stft_frames(const dn_stft *s, size_t len);
/* The samples frame t reads: [*first, *end) clipped to [0, len). */
void dn_stft_frame_span(const dn_stft *s, size_t t, size_t len, size_t *first, size_t *end);

/* Whole signal x[0..len) -> mag and (if not NULL) phase, each [bins][T]
 * with T = dn_stft_frames(len). Phase is atan2(im, re). DN_EINVAL if len 0. */
int dn_stft_forward(dn_stft *s, const float *x, size_t len, float *mag, float *phase, dn_error *err);
/* mag/phase [bins][frames] -> y[0..len). */
int dn_stft_inverse(dn_stft *s, const float *mag, const float *phase, size_t frames, float *y, size_t len,
                    dn_error *err);

/* Frames f0 .. f0+n-1 of a len-sample signal of which the caller holds
 * x[0..x_count) = samples [x_off, x_off + x_count): writes column j of re and
 * im (row stride ld) for frame f0 + j. DN_EINVAL if a frame needs a sample
 * outside the window (reflection included). */
int dn_stft_analyze(dn_stft *s, const float *x, size_t x_off, size_t x_count, size_t len, size_t f0, size_t n,
                    float *re, float *im, size_t ld, dn_error *err);

/* Overlap-adds the windowed inverse FFT of frames f0 .. f0+n-1 (columns of
 * re/im as above) into acc[0..acc_count) = samples [acc_off, acc_off +
 * acc_count) of the output; parts of a frame outside [0, len) are dropped as
 * torch drops the padding. DN_EINVAL if a frame reaches outside acc within
 * [0, len). Divide by dn_stft_wss afterwards. */
int dn_stft_synthesize(dn_stft *s, const float *re, const float *im, size_t ld, size_t f0, size_t n,
                       float *acc, size_t acc_off, size_t acc_count, size_t len, dn_error *err);

/* Window-sum-square at sample j of a signal analysed into `frames` frames. */
float dn_stft_wss(const dn_stft *s, size_t frames, size_t j);

#endif
