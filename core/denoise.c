/*
 * denoise.c — the public API of include/denoise.h over the internal modules.
 *
 * Each public type wraps the internal one, so the installed header can stay
 * fixed while core/ changes. denoise_error has dn_error's layout (checked
 * below), so errors pass straight through. The shared library exports only
 * the denoise_* names (core/core.am), so nothing here may be a static
 * dependency of the programs: they use the internal headers directly.
 */
#include "include/denoise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/speech.h"
#include "core/dn.h"
#include "core/image/frame.h"
#include "core/metrics/metrics.h"
#include "core/model/model.h"
#include "core/util/paths.h"

#ifndef DN_VERSION
#define DN_VERSION "unknown"
#endif

_Static_assert(sizeof(denoise_error) == sizeof(dn_error) && DENOISE_ERROR_MSG_MAX == DN_ERROR_MSG_MAX,
               "denoise_error and dn_error differ");
_Static_assert((int)DENOISE_ENOTFOUND == (int)DN_ENOTFOUND && (int)DENOISE_EINVAL == (int)DN_EINVAL,
               "codes differ");
_Static_assert((int)DENOISE_MODEL_FRAME == (int)DN_MODEL_FRAME, "model kinds differ");

#define ERR(e) ((dn_error *)(e))

struct denoise_model {
	dn_model *m;
};

struct denoise_audio {
	dn_speech *s;
};

struct denoise_frame {
	dn_frame *f;
};

const char *denoise_version(void)
{
	return DN_VERSION;
}

const char *denoise_strerror(int code)
{
	return dn_strerror(code);
}

int denoise_model_load(const char *path, denoise_model **out, denoise_error *err)
{
	if (!out)
		return dn_error_set(ERR(err), DN_EINVAL, "denoise_model_load: out is NULL");
	*out = NULL;
	if (!path)
		return dn_error_set(ERR(err), DN_EINVAL, "denoise_model_load: no path");
	denoise_model *m = calloc(1, sizeof *m);
	if (!m)
		return dn_error_set(ERR(err), DN_ENOMEM, "out of memory");
	int rc = dn_model_load(path, &m->m, ERR(err));
	if (rc != DN_OK) {
		free(m);
		return rc;
	}
	*out = m;
	return DN_OK;
}

void denoise_model_free(denoise_model *m)
{
	if (!m)
		return;
	dn_model_destroy(m->m);
	free(m);
}

int denoise_model_kind(const denoise_model *m)
{
	return dn_model_get_info(m->m)->kind;
}

int denoise_model_sample_rate(const denoise_model *m)
{
	const dn_model_info *info = dn_model_get_info(m->m);
	return info->kind == DN_MODEL_AUDIO ? info->sample_rate : 0;
}

const char *denoise_model_name(const denoise_model *m)
{
	return dn_model_get_info(m->m)->name;
}

const char *denoise_model_version(const denoise_model *m)
{
	return dn_model_get_info(m->m)->version;
}

const char *denoise_model_metadata(const denoise_model *m, const char *key)
{
	return key ? dn_model_metadata(m->m, key) : NULL;
}

const char *denoise_models_dir(void)
{
	/* One buffer per thread: the environment may differ between calls. */
	static _Thread_local char dir[4096];
	snprintf(dir, sizeof dir, "%s/models", dn_data_dir());
	return dir;
}

denoise_audio_params denoise_audio_default_params(void)
{
	dn_speech_params d = dn_speech_default_params();
	return (denoise_audio_params){d.chunk_frames, d.overlap_frames, d.limit};
}

int denoise_audio_create(const denoise_model *m, const denoise_audio_params *p, denoise_audio **out,
                         denoise_error *err)
{
	if (!out)
		return dn_error_set(ERR(err), DN_EINVAL, "denoise_audio_create: out is NULL");
	*out = NULL;
	if (!m)
		return dn_error_set(ERR(err), DN_EINVAL, "denoise_audio_create: no model");
	dn_speech_params sp = dn_speech_default_params();
	if (p) {
		sp.chunk_frames = p->chunk_frames;
		sp.overlap_frames = p->overlap_frames;
		sp.limit = p->limit;
	}
	denoise_audio *a = calloc(1, sizeof *a);
	if (!a)
		return dn_error_set(ERR(err), DN_ENOMEM, "out of memory");
	int rc = dn_speech_create(m->m, &sp, &a->s, ERR(err));
	if (rc != DN_OK) {
		free(a);
		return rc;
	}
	*out = a;
	return DN_OK;
}

void denoise_audio_destroy(denoise_audio *a)
{
	if (!a)
		return;
	dn_speech_destroy(a->s);
	free(a);
}

int denoise_audio_process(denoise_audio *a, const float *in, size_t frames, int channels, int rate,
                          float *out, denoise_error *err)
{
	if (!a || !in || !out || channels < 1 || rate < 1)
		return dn_error_set(ERR(err), DN_EINVAL,
		                    "denoise_audio_process: needs a context, input, output, channels >= 1 "
		                    "and rate >= 1 Hz");
	/* The pipeline only reads its input: the cast lends it, it does not own. */
	dn_audio src = {.data = (float *)in, .frames = frames, .channels = channels, .rate = rate};
	dn_audio res = {0};
	int rc = dn_speech_denoise(a->s, &src, &res, NULL, ERR(err));
	if (rc != DN_OK)
		return rc;
	memcpy(out, res.data, frames * (size_t)channels * sizeof *out);
	dn_audio_free(&res);
	return DN_OK;
}

denoise_frame_params denoise_frame_default_params(void)
{
	dn_frame_params d = dn_frame_default_params();
	return (denoise_frame_params){d.tile, d.margin};
}

int denoise_frame_create(const denoise_model *m, const denoise_frame_params *p, denoise_frame **out,
                         denoise_error *err)
{
	if (!out)
		return dn_error_set(ERR(err), DN_EINVAL, "denoise_frame_create: out is NULL");
	*out = NULL;
	if (!m)
		return dn_error_set(ERR(err), DN_EINVAL, "denoise_frame_create: no model");
	dn_frame_params fp = dn_frame_default_params();
	if (p) {
		fp.tile = p->tile;
		fp.margin = p->margin;
	}
	denoise_frame *f = calloc(1, sizeof *f);
	if (!f)
		return dn_error_set(ERR(err), DN_ENOMEM, "out of memory");
	int rc = dn_frame_create(m->m, &fp, &f->f, ERR(err));
	if (rc != DN_OK) {
		free(f);
		return rc;
	}
	*out = f;
	return DN_OK;
}

void denoise_frame_destroy(denoise_frame *f)
{
	if (!f)
		return;
	dn_frame_destroy(f->f);
	free(f);
}

int denoise_frame_process(denoise_frame *f, const unsigned char *in, int width, int height, int channels,
                          unsigned char *out, denoise_error *err)
{
	if (!f || !in || !out || width < 1 || height < 1 || (channels != 1 && channels != 3))
		return dn_error_set(ERR(err), DN_EINVAL,
		                    "denoise_frame_process: needs a context, input, output, a size of at "
		                    "least 1 x 1 and 1 or 3 channels");
	dn_image src = {
	    .data = (unsigned char *)in, .w = width, .h = height, .channels = channels, .subsamp = -1};
	dn_image res = {0};
	int rc = dn_frame_denoise(f->f, &src, &res, ERR(err));
	if (rc != DN_OK)
		return rc;
	memcpy(out, res.data, (size_t)width * (size_t)height * (size_t)channels);
	dn_image_free(&res);
	return DN_OK;
}

int denoise_metrics_speech(const float *ref, const float *deg, size_t n, int rate,
                           denoise_speech_metrics *out, denoise_error *err)
{
	if (!out)
		return dn_error_set(ERR(err), DN_EINVAL, "denoise_metrics_speech: out is NULL");
	dn_speech_metrics m;
	int rc = dn_metrics_speech(ref, deg, n, rate, &m, ERR(err));
	if (rc != DN_OK)
		return rc;
	*out = (denoise_speech_metrics){m.pesq_wb,   m.pesq_nb, m.stoi,      m.estoi,
	                                m.si_sdr_db, m.snr_db,  m.seg_snr_db};
	return DN_OK;
}

int denoise_metrics_pesq(const float *ref, size_t n_ref, const float *deg, size_t n_deg, int rate,
                         int wideband, double *out, denoise_error *err)
{
	return dn_metrics_pesq(ref, n_ref, deg, n_deg, rate, wideband ? DN_PESQ_WB : DN_PESQ_NB, out,
	                       ERR(err));
}

int denoise_metrics_stoi(const float *ref, const float *deg, size_t n, int rate, int extended, double *out,
                         denoise_error *err)
{
	return dn_metrics_stoi(ref, deg, n, rate, extended, out, ERR(err));
}

int denoise_metrics_si_sdr(const float *ref, const float *deg, size_t n, double *out, denoise_error *err)
{
	return dn_metrics_si_sdr(ref, deg, n, out, ERR(err));
}

int denoise_metrics_psnr(const float *ref, const float *x, size_t n, double peak, double *out,
                         denoise_error *err)
{
	return dn_metrics_psnr(ref, x, n, peak, out, ERR(err));
}

int denoise_metrics_ssim(const float *ref, const float *x, int h, int w, double range, double *out,
                         denoise_error *err)
{
	return dn_metrics_ssim(ref, x, h, w, range, out, ERR(err));
}
