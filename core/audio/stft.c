/*
 * stft.c — STFT and inverse STFT over FFTW3 single precision (stft.h).
 *
 * Plans are made once per context with FFTW_ESTIMATE (deterministic, and a
 * 512-point transform is nowhere near the U-Net's cost) and run with the
 * new-array execute functions on the context's own aligned scratch.
 * Reflection at the ends follows torch's pad_mode='reflect' (the edge sample
 * is not repeated); signals shorter than n_fft/2 + 1, which torch refuses,
 * are reflected back and forth as often as needed.
 */
#include "core/audio/stft.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>

/* FFTW's planner keeps global state: the only static in the module. */
static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

struct dn_stft {
	int n, hop, bins;
	float *window;       /* periodic Hann, n */
	float *frame;        /* real scratch, n (fftwf_malloc) */
	fftwf_complex *spec; /* complex scratch, bins */
	fftwf_plan fwd, inv;
};

int dn_stft_create(int n_fft, int hop, dn_stft **out, dn_error *err)
{
	*out = NULL;
	if (n_fft < 4 || n_fft > 65536 || n_fft % 2 || hop < 1 || hop > n_fft / 2)
		return dn_error_set(err, DN_EINVAL,
		                    "STFT needs an even n_fft in 4..65536 and hop in 1..n_fft/2 "
		                    "(got n_fft %d, hop %d)",
		                    n_fft, hop);
	dn_stft *s = calloc(1, sizeof *s);
	if (!s)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	s->n = n_fft;
	s->hop = hop;
	s->bins = n_fft / 2 + 1;
	s->window = malloc(sizeof(float) * (size_t)n_fft);
	s->frame = fftwf_malloc(sizeof(float) * (size_t)n_fft);
	s->spec = fftwf_malloc(sizeof(fftwf_complex) * (size_t)s->bins);
	if (!s->window || !s->frame || !s->spec) {
		dn_stft_destroy(s);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	/* torch.hann_window(n) is periodic: 0.5 - 0.5 cos(2 pi k / n). */
	for (int k = 0; k < n_fft; k++)
		s->window[k] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * k / n_fft));
	pthread_mutex_lock(&plan_lock);
	s->fwd = fftwf_plan_dft_r2c_1d(n_fft, s->frame, s->spec, FFTW_ESTIMATE);
	s->inv = fftwf_plan_dft_c2r_1d(n_fft, s->spec, s->frame, FFTW_ESTIMATE);
	pthread_mutex_unlock(&plan_lock);
	if (!s->fwd || !s->inv) {
		dn_stft_destroy(s);
		return dn_error_set(err, DN_ENOMEM, "FFTW could not plan a %d-point transform", n_fft);
	}
	*out = s;
	return DN_OK;
}

void dn_stft_destroy(dn_stft *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&plan_lock);
	if (s->fwd)
		fftwf_destroy_plan(s->fwd);
	if (s->inv)
		fftwf_destroy_plan(s->inv);
	pthread_mutex_unlock(&plan_lock);
	fftwf_free(s->frame);
	fftwf_free(s->spec);
	free(s->window);
	free(s);
}

int dn_stft_bins(const dn_stft *s)
{
	return s->bins;
}

size_t dn_stft_frames(const dn_stft *s, size_t len)
{
	return len ? 1 + len / (size_t)s->hop : 0;
}

/* The sample that padded position j (signal coordinates, may be negative or
 * past the end) reads under reflection. */
static size_t reflect(long long j, size_t len)
{
	if (len == 1)
		return 0;
	long long period = 2 * ((long long)len - 1);
	long long m = j % period;
	if (m < 0)
		m += period;
	if (m >= (long long)len)
		m = period - m;
	return (size_t)m;
}

static long long frame_start(const dn_stft *s, size_t t)
{
	return (long long)t * s->hop - s->n / 2;
}

void dn_stft_frame_span(const dn_stft *s, size_t t, size_t len, size_t *first, size_t *end)
{
	long long j0 = frame_start(s, t);
	if (j0 >= 0 && j0 + s->n <= (long long)len) {
		*first = (size_t)j0;
		*end = (size_t)j0 + (size_t)s->n;
		return;
	}
	size_t lo = SIZE_MAX, hi = 0;
	for (int k = 0; k < s->n; k++) {
		size_t i = reflect(j0 + k, len);
		lo = i < lo ? i : lo;
		hi = i > hi ? i : hi;
	}
	*first = lo;
	*end = hi + 1;
}

/* Windowed frame t into s->frame, then s->spec = rfft(frame). */
static int analyze_frame(dn_stft *s, const float *x, size_t x_off, size_t x_count, size_t len, size_t t,
                         dn_error *err)
{
	size_t first, end;
	dn_stft_frame_span(s, t, len, &first, &end);
	if (first < x_off || end > x_off + x_count)
		return dn_error_set(err, DN_EINVAL,
		                    "STFT frame %zu needs samples %zu..%zu, window holds %zu..%zu", t, first,
		                    end, x_off, x_off + x_count);
	long long j0 = frame_start(s, t);
	if (j0 >= 0 && j0 + s->n <= (long long)len) {
		const float *src = x + ((size_t)j0 - x_off);
		for (int k = 0; k < s->n; k++)
			s->frame[k] = s->window[k] * src[k];
	} else {
		for (int k = 0; k < s->n; k++)
			s->frame[k] = s->window[k] * x[reflect(j0 + k, len) - x_off];
	}
	fftwf_execute_dft_r2c(s->fwd, s->frame, s->spec);
	return DN_OK;
}

/* s->spec -> windowed irfft overlap-added into acc for frame t. */
static int synth_frame(dn_stft *s, size_t t, float *acc, size_t acc_off, size_t acc_count, size_t len,
                       dn_error *err)
{
	long long j0 = frame_start(s, t);
	long long lo = j0 < 0 ? 0 : j0;
	long long hi = j0 + s->n < (long long)len ? j0 + s->n : (long long)len;
	if (lo >= hi)
		return DN_OK;
	if (lo < (long long)acc_off || hi > (long long)(acc_off + acc_count))
		return dn_error_set(err, DN_EINVAL,
		                    "iSTFT frame %zu writes samples %lld..%lld, window holds %zu..%zu", t, lo,
		                    hi, acc_off, acc_off + acc_count);
	fftwf_execute_dft_c2r(s->inv, s->spec, s->frame);
	/* FFTW's inverse is unnormalised: irfft = c2r / n. */
	const float scale = 1.0f / (float)s->n;
	for (long long j = lo; j < hi; j++) {
		int k = (int)(j - j0);
		acc[j - (long long)acc_off] += s->window[k] * s->frame[k] * scale;
	}
	return DN_OK;
}

float dn_stft_wss(const dn_stft *s, size_t frames, size_t j)
{
	/* padded position p is covered by frames t with t*hop <= p < t*hop + n */
	long long p = (long long)j + s->n / 2;
	long long t_hi = p / s->hop;
	long long t_lo = p - s->n + 1 <= 0 ? 0 : (p - s->n + 1 + s->hop - 1) / s->hop;
	if (t_hi > (long long)frames - 1)
		t_hi = (long long)frames - 1;
	float sum = 0.0f;
	for (long long t = t_lo; t <= t_hi; t++) {
		float w = s->window[p - t * s->hop];
		sum += w * w;
	}
	return sum;
}

int dn_stft_analyze(dn_stft *s, const float *x, size_t x_off, size_t x_count, size_t len, size_t f0, size_t n,
                    float *re, float *im, size_t ld, dn_error *err)
{
	if (len == 0 || ld < n)
		return dn_error_set(err, DN_EINVAL, "STFT of %zu samples into rows of %zu", len, ld);
	for (size_t j = 0; j < n; j++) {
		int rc = analyze_frame(s, x, x_off, x_count, len, f0 + j, err);
		if (rc != DN_OK)
			return rc;
		for (int k = 0; k < s->bins; k++) {
			re[(size_t)k * ld + j] = s->spec[k][0];
			im[(size_t)k * ld + j] = s->spec[k][1];
		}
	}
	return DN_OK;
}

int dn_stft_synthesize(dn_stft *s, const float *re, const float *im, size_t ld, size_t f0, size_t n,
                       float *acc, size_t acc_off, size_t acc_count, size_t len, dn_error *err)
{
	for (size_t j = 0; j < n; j++) {
		for (int k = 0; k < s->bins; k++) {
			s->spec[k][0] = re[(size_t)k * ld + j];
			s->spec[k][1] = im[(size_t)k * ld + j];
		}
		int rc = synth_frame(s, f0 + j, acc, acc_off, acc_count, len, err);
		if (rc != DN_OK)
			return rc;
	}
	return DN_OK;
}

int dn_stft_forward(dn_stft *s, const float *x, size_t len, float *mag, float *phase, dn_error *err)
{
	if (len == 0)
		return dn_error_set(err, DN_EINVAL, "STFT of an empty signal");
	size_t T = dn_stft_frames(s, len);
	for (size_t t = 0; t < T; t++) {
		int rc = analyze_frame(s, x, 0, len, len, t, err);
		if (rc != DN_OK)
			return rc;
		for (int k = 0; k < s->bins; k++) {
			float re = s->spec[k][0], im = s->spec[k][1];
			mag[(size_t)k * T + t] = hypotf(re, im);
			if (phase)
				phase[(size_t)k * T + t] = atan2f(im, re);
		}
	}
	return DN_OK;
}

int dn_stft_inverse(dn_stft *s, const float *mag, const float *phase, size_t frames, float *y, size_t len,
                    dn_error *err)
{
	if (len == 0 || frames == 0)
		return dn_error_set(err, DN_EINVAL, "inverse STFT of %zu frames into %zu samples", frames,
		                    len);
	memset(y, 0, len * sizeof(float));
	for (size_t t = 0; t < frames; t++) {
		for (int k = 0; k < s->bins; k++) {
			float m = mag[(size_t)k * frames + t], p = phase[(size_t)k * frames + t];
			s->spec[k][0] = m * cosf(p);
			s->spec[k][1] = m * sinf(p);
		}
		int rc = synth_frame(s, t, y, 0, len, len, err);
		if (rc != DN_OK)
			return rc;
	}
	for (size_t j = 0; j < len; j++) {
		float w = dn_stft_wss(s, frames, j);
		/* torch refuses a vanishing window-sum-square; past the last frame
		 * (length longer than the frames cover) the output is zero. */
		y[j] = w > 1e-11f ? y[j] / w : 0.0f;
	}
	return DN_OK;
}
