/*
 * model.c — a trained model: network + folded snapshot + metadata, and its
 * safetensors file (see model.h).
 *
 * Every field the code needs is a string in __metadata__ (safetensors allows
 * nothing else there); numbers are parsed strictly and range-checked, and a
 * bad or missing key is refused with its name, so a file written by another
 * tool either loads correctly or says exactly what is wrong. Unknown keys are
 * kept (provenance, metrics) and written back on save.
 */
#include "core/model/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/safetensors.h"

#define MODEL_FORMAT "denoised-model"
#define MAX_META     64

struct dn_model {
	dn_model_info info;
	dn_unet *net;
	dn_unet_infer *infer;
	size_t nmeta;
	char *meta_key[MAX_META], *meta_val[MAX_META];
};

static const char *const act_names[] = {"none", "relu", "sigmoid"};
static const char *const scaling_names[] = {"none", "log1p", "power"};
static const char *const output_names[] = {"magnitude", "mask", "cmask"};
static const char *const kind_names[] = {"audio", "frame"};

const char *dn_model_output_name(int output)
{
	return output >= 0 && output <= DN_OUTPUT_CMASK ? output_names[output] : "unknown";
}

dn_model_info dn_model_default_info(int kind)
{
	dn_model_info i = {.kind = kind, .arch = dn_unet_default_config()};
	if (kind == DN_MODEL_FRAME) {
		snprintf(i.name, sizeof i.name, "frame-unet");
		i.arch.in_channels = i.arch.out_channels = 3;
		i.arch.out_act = DN_ACT_NONE;
		i.arch.residual = 1;
		i.input_scale = 1.0f;
	} else {
		snprintf(i.name, sizeof i.name, "speech-unet");
		i.sample_rate = 16000;
		i.n_fft = 512;
		i.hop = 128;
		i.scaling = DN_SCALE_NONE;
		i.power = 1.0f;
		i.input_scale = 1.0f;
		i.output = DN_OUTPUT_MAGNITUDE;
	}
	snprintf(i.version, sizeof i.version, "1");
	return i;
}

double dn_model_stream_latency(const dn_model_info *i)
{
	if (i->kind != DN_MODEL_AUDIO || !i->arch.causal || i->sample_rate < 1)
		return 0.0;
	return (double)(i->n_fft + i->lookahead * i->hop) / i->sample_rate;
}

static int info_check(const dn_model_info *i, dn_error *err)
{
	if (i->kind != DN_MODEL_AUDIO && i->kind != DN_MODEL_FRAME)
		return dn_error_set(err, DN_EINVAL, "unknown model kind %d", i->kind);
	int rc = dn_unet_config_check(&i->arch, err);
	if (rc)
		return rc;
	if (i->kind == DN_MODEL_FRAME)
		return DN_OK;
	if (i->arch.in_channels != 1 || i->arch.out_channels != 1)
		return dn_error_set(err, DN_EINVAL, "an audio model takes 1 channel in and out, not %d/%d",
		                    i->arch.in_channels, i->arch.out_channels);
	if (i->sample_rate < 4000 || i->sample_rate > 192000)
		return dn_error_set(err, DN_EINVAL, "sample_rate %d Hz is outside 4000..192000",
		                    i->sample_rate);
	if (i->n_fft < 16 || i->n_fft > 8192 || (i->n_fft & 1))
		return dn_error_set(err, DN_EINVAL, "n_fft %d must be even and within 16..8192", i->n_fft);
	if (i->hop < 1 || i->hop > i->n_fft)
		return dn_error_set(err, DN_EINVAL, "hop %d must be within 1..n_fft (%d)", i->hop, i->n_fft);
	if (i->scaling < DN_SCALE_NONE || i->scaling > DN_SCALE_POWER)
		return dn_error_set(err, DN_EINVAL, "unknown input scaling %d", i->scaling);
	if (i->scaling == DN_SCALE_POWER && !(i->power > 0.0f && i->power <= 2.0f))
		return dn_error_set(err, DN_EINVAL, "power %g must be within (0, 2]", i->power);
	if (!(i->input_scale > 0.0f))
		return dn_error_set(err, DN_EINVAL, "input_scale %g must be positive", i->input_scale);
	if (i->output < DN_OUTPUT_MAGNITUDE || i->output > DN_OUTPUT_CMASK)
		return dn_error_set(err, DN_EINVAL, "unknown output mode %d", i->output);
	if (i->output == DN_OUTPUT_CMASK && i->scaling != DN_SCALE_POWER)
		return dn_error_set(err, DN_EINVAL,
		                    "output cmask is a mask on power-compressed magnitudes: it needs scaling power");
	if (i->lookahead < 0 || i->lookahead > DN_MODEL_MAX_LOOKAHEAD)
		return dn_error_set(err, DN_EINVAL, "lookahead %d frames is outside 0..%d", i->lookahead,
		                    DN_MODEL_MAX_LOOKAHEAD);
	if (i->lookahead && !i->arch.causal)
		return dn_error_set(err, DN_EINVAL,
		                    "a lookahead of %d frames needs a causal U-Net (a non-causal one sees "
		                    "the whole chunk already)",
		                    i->lookahead);
	return DN_OK;
}

static int set_meta(dn_model *m, const char *key, const char *value, dn_error *err)
{
	for (size_t i = 0; i < m->nmeta; i++) {
		if (strcmp(m->meta_key[i], key) != 0)
			continue;
		if (!value) {
			free(m->meta_key[i]);
			free(m->meta_val[i]);
			m->nmeta--;
			memmove(&m->meta_key[i], &m->meta_key[i + 1], (m->nmeta - i) * sizeof m->meta_key[0]);
			memmove(&m->meta_val[i], &m->meta_val[i + 1], (m->nmeta - i) * sizeof m->meta_val[0]);
			return DN_OK;
		}
		char *v = strdup(value);
		if (!v)
			return dn_error_set(err, DN_ENOMEM, "out of memory");
		free(m->meta_val[i]);
		m->meta_val[i] = v;
		return DN_OK;
	}
	if (!value)
		return DN_OK;
	if (m->nmeta == MAX_META)
		return dn_error_set(err, DN_ELIMIT, "more than %d metadata entries", MAX_META);
	char *k = strdup(key), *v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	m->meta_key[m->nmeta] = k;
	m->meta_val[m->nmeta++] = v;
	return DN_OK;
}

/* The info's fields as metadata strings (overwriting those keys). */
static int info_to_meta(dn_model *m, dn_error *err)
{
	const dn_model_info *i = &m->info;
	char buf[32];
	int rc = 0;
/* Each a single statement, so that `if (x) PUTI(...);` guards all of it. */
#define PUT(k, v)                                                                                            \
	do {                                                                                                 \
		if (!rc)                                                                                     \
			rc = set_meta(m, k, v, err);                                                         \
	} while (0)
#define PUTI(k, v)                                                                                           \
	do {                                                                                                 \
		snprintf(buf, sizeof buf, "%d", (int)(v));                                                   \
		PUT(k, buf);                                                                                 \
	} while (0)
#define PUTF(k, v)                                                                                           \
	do {                                                                                                 \
		snprintf(buf, sizeof buf, "%.9g", (v));                                                      \
		PUT(k, buf);                                                                                 \
	} while (0)
	PUT("format", MODEL_FORMAT);
	PUT("name", i->name);
	PUT("version", i->version);
	PUT("kind", kind_names[i->kind]);
	PUT("arch", "unet");
	PUTI("in_channels", i->arch.in_channels);
	PUTI("out_channels", i->arch.out_channels);
	PUTI("base_filters", i->arch.base_filters);
	PUTI("depth", i->arch.depth);
	PUT("out_act", act_names[i->arch.out_act]);
	PUTI("residual", i->arch.residual);
	/* Written only for a causal net, so that files of non-causal ones stay
	 * as they were; a file without the key loads as non-causal. */
	if (i->arch.causal)
		PUTI("causal", i->arch.causal);
	PUTF("input_scale", (double)i->input_scale);
	if (i->kind == DN_MODEL_AUDIO) {
		PUTI("sample_rate", i->sample_rate);
		PUTI("n_fft", i->n_fft);
		PUTI("hop", i->hop);
		PUT("scaling", scaling_names[i->scaling]);
		PUTF("power", (double)i->power);
		PUT("output", output_names[i->output]);
		if (i->arch.causal) {
			PUTI("lookahead", i->lookahead);
			PUTF("latency_ms", 1e3 * dn_model_stream_latency(i));
		}
	}
#undef PUT
#undef PUTI
#undef PUTF
	return rc;
}

int dn_model_create(const dn_model_info *info, dn_unet *net, dn_model **out, dn_error *err)
{
	int rc = info_check(info, err);
	if (!rc && memcmp(dn_unet_get_config(net), &info->arch, sizeof info->arch) != 0)
		rc =
		    dn_error_set(err, DN_EINVAL, "the network's configuration differs from the model info's");
	dn_model *m = rc ? NULL : calloc(1, sizeof *m);
	if (!rc && !m)
		rc = dn_error_set(err, DN_ENOMEM, "out of memory");
	if (rc) {
		dn_unet_destroy(net);
		return rc;
	}
	m->info = *info;
	m->net = net;
	rc = dn_unet_infer_create(net, &m->infer, err);
	if (!rc)
		rc = info_to_meta(m, err);
	if (rc) {
		dn_model_destroy(m);
		return rc;
	}
	*out = m;
	return DN_OK;
}

void dn_model_destroy(dn_model *m)
{
	if (!m)
		return;
	dn_unet_infer_destroy(m->infer);
	dn_unet_destroy(m->net);
	for (size_t i = 0; i < m->nmeta; i++) {
		free(m->meta_key[i]);
		free(m->meta_val[i]);
	}
	free(m);
}

/* Strictly parsed metadata fields. */
static int meta_str(const dn_st_file *f, const char *key, const char **out, dn_error *err)
{
	*out = dn_st_metadata(f, key);
	if (!*out)
		return dn_error_set(err, DN_EFORMAT, "model metadata lacks \"%s\"", key);
	return DN_OK;
}

static int meta_int(const dn_st_file *f, const char *key, int lo, int hi, int *out, dn_error *err)
{
	const char *s;
	int rc = meta_str(f, key, &s, err);
	if (rc)
		return rc;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return dn_error_set(err, DN_EFORMAT,
		                    "model metadata \"%s\" = \"%s\" is not an integer in %d..%d", key, s, lo,
		                    hi);
	*out = (int)v;
	return DN_OK;
}

static int meta_float(const dn_st_file *f, const char *key, float *out, dn_error *err)
{
	const char *s;
	int rc = meta_str(f, key, &s, err);
	if (rc)
		return rc;
	char *end;
	errno = 0;
	float v = strtof(s, &end);
	if (errno || end == s || *end || v != v)
		return dn_error_set(err, DN_EFORMAT, "model metadata \"%s\" = \"%s\" is not a number", key,
		                    s);
	*out = v;
	return DN_OK;
}

static int meta_enum(const dn_st_file *f, const char *key, const char *const *names, int n, int *out,
                     dn_error *err)
{
	const char *s;
	int rc = meta_str(f, key, &s, err);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return DN_OK;
		}
	return dn_error_set(err, DN_EFORMAT, "model metadata \"%s\" = \"%s\" is not one of the known values",
	                    key, s);
}

static int meta_copy(const dn_st_file *f, const char *key, char *dst, size_t cap, dn_error *err)
{
	const char *s;
	int rc = meta_str(f, key, &s, err);
	if (rc)
		return rc;
	if (strlen(s) >= cap)
		return dn_error_set(err, DN_EFORMAT, "model metadata \"%s\" is longer than %zu characters",
		                    key, cap - 1);
	strcpy(dst, s);
	return DN_OK;
}

static int info_from_meta(const dn_st_file *f, dn_model_info *i, dn_error *err)
{
	const char *fmt;
	int rc = meta_str(f, "format", &fmt, err);
	if (rc)
		return rc;
	if (strcmp(fmt, MODEL_FORMAT) != 0)
		return dn_error_set(err, DN_EFORMAT, "metadata \"format\" is \"%s\", not \"%s\"", fmt,
		                    MODEL_FORMAT);
	int kind = DN_MODEL_AUDIO;
	if ((rc = meta_enum(f, "kind", kind_names, 2, &kind, err)))
		return rc;
	*i = dn_model_default_info(kind);
	const char *arch;
	if ((rc = meta_str(f, "arch", &arch, err)))
		return rc;
	if (strcmp(arch, "unet") != 0)
		return dn_error_set(err, DN_EUNSUPPORTED,
		                    "architecture \"%s\" is not supported (only \"unet\")", arch);
	if ((rc = meta_copy(f, "name", i->name, sizeof i->name, err)) ||
	    (rc = meta_copy(f, "version", i->version, sizeof i->version, err)) ||
	    (rc = meta_int(f, "in_channels", 1, 16, &i->arch.in_channels, err)) ||
	    (rc = meta_int(f, "out_channels", 1, 16, &i->arch.out_channels, err)) ||
	    (rc = meta_int(f, "base_filters", 1, DN_UNET_MAX_FILTERS, &i->arch.base_filters, err)) ||
	    (rc = meta_int(f, "depth", 1, DN_UNET_MAX_DEPTH, &i->arch.depth, err)) ||
	    (rc = meta_enum(f, "out_act", act_names, 3, &i->arch.out_act, err)) ||
	    (rc = meta_int(f, "residual", 0, 1, &i->arch.residual, err)) ||
	    (dn_st_metadata(f, "causal") && (rc = meta_int(f, "causal", 0, 1, &i->arch.causal, err))) ||
	    (rc = meta_float(f, "input_scale", &i->input_scale, err)))
		return rc;
	if (kind == DN_MODEL_AUDIO &&
	    ((rc = meta_int(f, "sample_rate", 1, 1000000, &i->sample_rate, err)) ||
	     (rc = meta_int(f, "n_fft", 1, 1 << 20, &i->n_fft, err)) ||
	     (rc = meta_int(f, "hop", 1, 1 << 20, &i->hop, err)) ||
	     (rc = meta_enum(f, "scaling", scaling_names, 3, &i->scaling, err)) ||
	     (rc = meta_float(f, "power", &i->power, err)) ||
	     (rc = meta_enum(f, "output", output_names, 3, &i->output, err)) ||
	     (dn_st_metadata(f, "lookahead") &&
	      (rc = meta_int(f, "lookahead", 0, DN_MODEL_MAX_LOOKAHEAD, &i->lookahead, err)))))
		return rc;
	return info_check(i, err);
}

/* Prefixes err's message with the file's path, unless it names it already. */
static int with_path(int rc, const char *path, dn_error *err)
{
	if (err && rc != DN_ENOMEM && !strstr(err->msg, path)) {
		char msg[DN_ERROR_MSG_MAX];
		int plen = (int)strnlen(path, 120);
		snprintf(msg, sizeof msg, "%.*s: %.*s", plen, path, (int)(sizeof msg) - plen - 3, err->msg);
		memcpy(err->msg, msg, sizeof msg);
	}
	return rc;
}

int dn_model_load(const char *path, dn_model **out, dn_error *err)
{
	dn_st_file *f;
	int rc = dn_st_read_file(path, &f, err);
	if (rc)
		return with_path(rc, path, err);
	dn_model_info info;
	dn_unet *net = NULL;
	dn_model *m = NULL;
	rc = info_from_meta(f, &info, err);
	if (!rc)
		rc = dn_unet_create(&info.arch, 0, &net, err);
	if (!rc) {
		size_t np;
		const dn_param *p = dn_unet_params(net, &np);
		for (size_t i = 0; i < np && !rc; i++) {
			int64_t shape[4];
			for (int d = 0; d < p[i].ndim; d++)
				shape[d] = p[i].shape[d];
			rc = dn_st_get_f32(f, p[i].name, p[i].ndim, shape, p[i].data, err);
		}
		/* A tensor we don't know means a different architecture: refuse it
		 * rather than silently ignore half a model. */
		for (size_t i = 0; i < dn_st_count(f) && !rc; i++) {
			const char *name = dn_st_at(f, i)->name;
			int known = 0;
			for (size_t j = 0; j < np && !known; j++)
				known = strcmp(name, p[j].name) == 0;
			if (!known)
				rc = dn_error_set(err, DN_EFORMAT, "tensor \"%s\" is not part of a %s U-Net",
				                  name, info.kind == DN_MODEL_AUDIO ? "speech" : "frame");
		}
	}
	if (!rc) {
		rc = dn_model_create(&info, net, &m, err);
		net = NULL; /* owned by the model now, even on failure */
	}
	for (size_t i = 0; i < dn_st_metadata_count(f) && !rc; i++) {
		const char *k, *v;
		dn_st_metadata_at(f, i, &k, &v);
		if (!dn_model_metadata(m, k))
			rc = set_meta(m, k, v, err);
	}
	dn_unet_destroy(net);
	dn_st_free(f);
	if (rc) {
		dn_model_destroy(m);
		return with_path(rc, path, err);
	}
	*out = m;
	return DN_OK;
}

int dn_model_save(const dn_model *m, const char *path, const char *const *extra, dn_error *err)
{
	dn_st_writer *w = dn_st_writer_create();
	if (!w)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	int rc = DN_OK;
	size_t np;
	const dn_param *p = dn_unet_params(m->net, &np);
	for (size_t i = 0; i < np && !rc; i++) {
		int64_t shape[4];
		for (int d = 0; d < p[i].ndim; d++)
			shape[d] = p[i].shape[d];
		rc = dn_st_writer_add_f32(w, p[i].name, p[i].ndim, shape, p[i].data, err);
	}
	for (size_t i = 0; i < m->nmeta && !rc; i++)
		rc = dn_st_writer_set_metadata(w, m->meta_key[i], m->meta_val[i], err);
	for (size_t i = 0; extra && extra[i] && extra[i + 1] && !rc; i += 2)
		rc = dn_st_writer_set_metadata(w, extra[i], extra[i + 1], err);
	if (!rc)
		rc = dn_st_writer_write_file(w, path, err);
	dn_st_writer_destroy(w);
	return rc;
}

const dn_model_info *dn_model_get_info(const dn_model *m)
{
	return &m->info;
}

int dn_model_set_lookahead(dn_model *m, int frames, dn_error *err)
{
	dn_model_info i = m->info;
	i.lookahead = frames;
	if (i.kind != DN_MODEL_AUDIO || !i.arch.causal)
		return dn_error_set(err, DN_EINVAL,
		                    "model '%s' is not a causal audio model: it has no lookahead", i.name);
	int rc = info_check(&i, err);
	if (rc)
		return rc;
	m->info = i;
	return info_to_meta(m, err);
}

const dn_unet_infer *dn_model_infer(const dn_model *m)
{
	return m->infer;
}

dn_unet *dn_model_unet(dn_model *m)
{
	return m->net;
}

int dn_model_refresh(dn_model *m, dn_error *err)
{
	dn_unet_infer *inf;
	int rc = dn_unet_infer_create(m->net, &inf, err);
	if (rc)
		return rc;
	dn_unet_infer_destroy(m->infer);
	m->infer = inf;
	return DN_OK;
}

int dn_model_set_metadata(dn_model *m, const char *key, const char *value, dn_error *err)
{
	return set_meta(m, key, value, err);
}

const char *dn_model_metadata(const dn_model *m, const char *key)
{
	for (size_t i = 0; i < m->nmeta; i++)
		if (strcmp(m->meta_key[i], key) == 0)
			return m->meta_val[i];
	return NULL;
}

size_t dn_model_metadata_count(const dn_model *m)
{
	return m->nmeta;
}

int dn_model_metadata_at(const dn_model *m, size_t i, const char **key, const char **value)
{
	if (i >= m->nmeta)
		return DN_EINVAL;
	*key = m->meta_key[i];
	*value = m->meta_val[i];
	return DN_OK;
}
