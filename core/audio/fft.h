/*
 * fft.h — real FFTs in double precision over FFTW3, for the DSP that needs
 * more than the STFT's single precision: noise synthesis (core/audio/noise.c),
 * STOI (core/metrics/stoi.c) and PESQ (core/metrics/pesq_dsp.c).
 *
 * A dn_fft is one transform length with its forward and inverse plans and an
 * in-place buffer; one thread uses it at a time. Plans are made with
 * FFTW_ESTIMATE (deterministic, no timing runs) under a lock, because FFTW's
 * planner keeps global state; executing them needs no lock.
 */
#ifndef DN_FFT_H
#define DN_FFT_H

#include "core/dn.h"

typedef struct dn_fft dn_fft;

/* n even, 2..2^26. DN_EINVAL, DN_ENOMEM. The caller owns *out. */
int dn_fft_create(long n, dn_fft **out, dn_error *err);
void dn_fft_destroy(dn_fft *f);

long dn_fft_size(const dn_fft *f);

/* The transform's buffer, n + 2 doubles, owned by f: n real samples, or
 * n/2 + 1 complex bins as (re, im) pairs. */
double *dn_fft_data(dn_fft *f);

/* In place: n real samples -> n/2 + 1 bins, X[k] = sum x[t] e^{-2 pi i k t / n}. */
void dn_fft_forward(dn_fft *f);
/* In place: n/2 + 1 bins (Hermitian; the imaginary parts of bins 0 and n/2
 * are ignored) -> n real samples, unscaled (n times the inverse DFT). */
void dn_fft_inverse(dn_fft *f);

#endif
