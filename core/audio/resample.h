/*
 * resample.h — sample-rate conversion of a mono float signal (libsoxr).
 *
 * libsoxr at its "high quality" recipe was chosen over libsamplerate by
 * measurement (bench/bench_resample.c, one core): 0.007 s per minute of audio
 * 44.1k -> 16k against 0.91 s for SRC_SINC_BEST and 0.33 s for
 * SRC_SINC_MEDIUM, with 136 dB stop-band rejection (SINC_BEST 149, MEDIUM
 * 122) and a 69 dB round-trip SNR up to 7 kHz (SINC_BEST 133, MEDIUM 38).
 * SINC_BEST's extra accuracy lies far below what a denoiser changes in the
 * signal, and costs 120 times the time; MEDIUM is both slower and worse. The
 * output is time-aligned with the input (soxr compensates its own filter
 * delay), so a resampled signal starts where the input did.
 *
 * A dn_resampler is a streaming converter used by one thread at a time: feed
 * it blocks, then flush with in == NULL.
 */
#ifndef DN_RESAMPLE_H
#define DN_RESAMPLE_H

#include <stddef.h>

#include "core/dn.h"

typedef struct dn_resampler dn_resampler;

/* Rates in Hz, both > 0. DN_EINVAL for a bad rate, DN_ENOMEM. The caller
 * owns *out (dn_resampler_destroy). */
int dn_resampler_create(int in_rate, int out_rate, dn_resampler **out, dn_error *err);
void dn_resampler_destroy(dn_resampler *r);

/* Consumes up to in_len samples of in (in == NULL: end of input, drain the
 * filter) and writes up to out_cap samples to out. *in_used and *out_done
 * say how many were taken and produced; call again with the rest of the
 * input (or again with NULL until *out_done is 0) when the output filled. */
int dn_resampler_process(dn_resampler *r, const float *in, size_t in_len, size_t *in_used, float *out,
                         size_t out_cap, size_t *out_done, dn_error *err);

/* How far a streaming converter's output lags its input, in seconds: the
 * output it still withholds after 100 ms of input (soxr waits for the
 * lookahead of its filter before it releases a sample; the figure is
 * measured on a fresh converter, since soxr_delay reports 0 until the
 * first call). 0 on failure. */
double dn_resample_latency(int in_rate, int out_rate);

/* The length we give a signal of in_len samples converted from in_rate to
 * out_rate: ceil(in_len * out_rate / in_rate). */
size_t dn_resample_length(size_t in_len, int in_rate, int out_rate);

#endif
