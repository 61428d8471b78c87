/*
 * data_io.c — mono float sound files at a fixed rate, for the data modules
 * (see data_io.h). libsndfile reads, libsoxr resamples.
 */
#include "core/train/data_io.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int resample(const char *path, float *x, size_t n, int from, int to, float **out, size_t *nout,
                    dn_error *err)
{
	size_t cap = (size_t)ceil((double)n * to / from) + 16;
	float *y = malloc(cap * sizeof *y);
	if (!y)
		return dn_error_set(err, DN_ENOMEM, "%s: no memory to resample %zu samples", path, n);
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
	size_t done = 0;
	soxr_error_t e = soxr_oneshot(from, to, 1, x, n, NULL, y, cap, &done, NULL, &q, NULL);
	if (e) {
		free(y);
		return dn_error_set(err, DN_EFORMAT, "%s: resampling %d -> %d Hz failed: %s", path, from, to,
		                    e);
	}
	*out = y;
	*nout = done;
	return DN_OK;
}

int dn_data_read_mono(const char *path, int rate, double max_seconds, float **out, size_t *n, dn_error *err)
{
	*out = NULL;
	*n = 0;
	if (rate < 1000 || rate > 384000)
		return dn_error_set(err, DN_EINVAL, "rate %d Hz is outside 1000..384000", rate);
	struct stat st;
	if (stat(path, &st) != 0)
		return dn_error_set(err, errno == ENOENT ? DN_ENOTFOUND : DN_EIO, "%s: %s", path,
		                    strerror(errno));
	SF_INFO info;
	memset(&info, 0, sizeof info);
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf)
		return dn_error_set(err, DN_EFORMAT, "%s: cannot read as audio: %s", path, sf_strerror(NULL));
	int rc = DN_OK;
	float *inter = NULL, *mono = NULL;
	if (info.channels < 1 || info.frames <= 0 || info.samplerate <= 0) {
		rc = dn_error_set(err, DN_EFORMAT, "%s: no audio (%d channels, %lld frames)", path,
		                  info.channels, (long long)info.frames);
		goto done;
	}
	if (max_seconds > 0 && (double)info.frames > max_seconds * info.samplerate) {
		rc = dn_error_set(err, DN_ELIMIT, "%s: %.1f s is longer than the limit of %.1f s", path,
		                  (double)info.frames / info.samplerate, max_seconds);
		goto done;
	}
	size_t frames = (size_t)info.frames, ch = (size_t)info.channels;
	if (frames > SIZE_MAX / sizeof(float) / ch) {
		rc = dn_error_set(err, DN_ELIMIT, "%s: too many samples", path);
		goto done;
	}
	inter = malloc(frames * ch * sizeof *inter);
	if (!inter) {
		rc = dn_error_set(err, DN_ENOMEM, "%s: no memory for %zu frames", path, frames);
		goto done;
	}
	sf_count_t got = sf_readf_float(sf, inter, info.frames);
	if (got <= 0) {
		rc = dn_error_set(err, DN_EIO, "%s: read failed: %s", path, sf_strerror(sf));
		goto done;
	}
	frames = (size_t)got; /* a truncated file gives what it has */
	if (ch == 1) {
		mono = inter;
		inter = NULL;
	} else {
		mono = malloc(frames * sizeof *mono);
		if (!mono) {
			rc = dn_error_set(err, DN_ENOMEM, "%s: no memory for %zu frames", path, frames);
			goto done;
		}
		for (size_t i = 0; i < frames; i++) {
			double s = 0;
			for (size_t c = 0; c < ch; c++)
				s += inter[i * ch + c];
			mono[i] = (float)(s / (double)ch);
		}
	}
	if (info.samplerate == rate) {
		*out = mono;
		*n = frames;
		mono = NULL;
	} else {
		rc = resample(path, mono, frames, info.samplerate, rate, out, n, err);
	}
done:
	free(inter);
	free(mono);
	sf_close(sf);
	return rc;
}

int dn_data_write_wav16(const char *path, const float *x, size_t n, int rate, dn_error *err)
{
	SF_INFO info;
	memset(&info, 0, sizeof info);
	info.samplerate = rate;
	info.channels = 1;
	info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
	SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
	if (!sf)
		return dn_error_set(err, DN_EIO, "%s: cannot create: %s", path, sf_strerror(NULL));
	/* Clip rather than let libsndfile wrap around. */
	sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
	sf_count_t put = sf_writef_float(sf, x, (sf_count_t)n);
	int rc = sf_close(sf);
	if (put != (sf_count_t)n || rc != 0)
		return dn_error_set(err, DN_EIO, "%s: write failed", path);
	return DN_OK;
}
