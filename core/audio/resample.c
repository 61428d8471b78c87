/*
 * resample.c — libsoxr behind the small streaming interface of resample.h.
 */
#include "core/audio/resample.h"

#include <stdint.h>
#include <stdlib.h>

#include <soxr.h>

struct dn_resampler {
	soxr_t soxr;
};

int dn_resampler_create(int in_rate, int out_rate, dn_resampler **out, dn_error *err)
{
	*out = NULL;
	if (in_rate <= 0 || out_rate <= 0)
		return dn_error_set(err, DN_EINVAL, "cannot resample from %d Hz to %d Hz", in_rate, out_rate);
	dn_resampler *r = calloc(1, sizeof *r);
	if (!r)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	soxr_error_t e = NULL;
	soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
	/* One thread: the caller's workers already use every core. */
	soxr_runtime_spec_t rt = soxr_runtime_spec(1);
	r->soxr = soxr_create(in_rate, out_rate, 1, &e, &io, &q, &rt);
	if (!r->soxr || e) {
		free(r);
		return dn_error_set(err, DN_ENOMEM, "cannot create a resampler %d -> %d Hz: %s", in_rate,
		                    out_rate, e ? e : "unknown error");
	}
	*out = r;
	return DN_OK;
}

void dn_resampler_destroy(dn_resampler *r)
{
	if (r) {
		soxr_delete(r->soxr);
		free(r);
	}
}

int dn_resampler_process(dn_resampler *r, const float *in, size_t in_len, size_t *in_used, float *out,
                         size_t out_cap, size_t *out_done, dn_error *err)
{
	size_t idone = 0, odone = 0;
	soxr_error_t e = soxr_process(r->soxr, in, in ? in_len : 0, &idone, out, out_cap, &odone);
	if (in_used)
		*in_used = idone;
	*out_done = odone;
	if (e)
		return dn_error_set(err, DN_EINVAL, "resampling failed: %s", e);
	return DN_OK;
}

size_t dn_resample_length(size_t in_len, int in_rate, int out_rate)
{
	if (in_rate <= 0 || out_rate <= 0)
		return 0;
	/* 128-bit product: in_len up to 2^64 / 2^20 rates would overflow 64 bits. */
	unsigned __int128 p = (unsigned __int128)in_len * (unsigned)out_rate + (unsigned)in_rate - 1;
	p /= (unsigned)in_rate;
	return p > SIZE_MAX ? SIZE_MAX : (size_t)p;
}

double dn_resample_latency(int in_rate, int out_rate)
{
	dn_resampler *r;
	if (dn_resampler_create(in_rate, out_rate, &r, NULL) != DN_OK)
		return 0.0;
	enum { N = 256 };
	float in[N] = {0}, out[4 * N];
	size_t fed = 0, made = 0, total = (size_t)in_rate / 10;
	while (fed < total) {
		size_t used = 0, done = 0, k = total - fed < N ? total - fed : N;
		if (dn_resampler_process(r, in, k, &used, out, sizeof out / sizeof *out, &done, NULL) != DN_OK)
			break;
		fed += used;
		made += done;
	}
	dn_resampler_destroy(r);
	double lag = (double)fed * out_rate / in_rate - (double)made;
	return lag > 0 ? lag / out_rate : 0.0;
}
