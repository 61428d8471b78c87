/*
 * openapi.c — the OpenAPI document served at /v1/openapi.json. It is
 * api/openapi.json (embedded at build time) with the training parameters of
 * JobSpec.params added from their table (core/train/params.c), which is
 * also what the daemon validates a job against and what `denoise train`
 * parses, so the document cannot disagree with either. Built once, at the
 * first request, and kept for the life of the process.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/train/params.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *document;
static size_t document_len;

/* A float as the decimal it was written as (1e-3, not 0.0010000000474974513). */
static double fdec(double x)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%.7g", x);
	return strtod(buf, NULL);
}

/* The JSON value of a row's default v. */
static json_t *row_default(const dn_train_param *p, double v)
{
	switch (p->type) {
	case DN_PARAM_INT:
	case DN_PARAM_U64: return json_integer((json_int_t)v);
	case DN_PARAM_FLOAT:
	case DN_PARAM_DOUBLE: return json_real(fdec(v));
	case DN_PARAM_ENUM: return json_string(p->choices[(int)v]);
	default: return NULL;
	}
}

/* The JSON Schema of one row of a table, for the job type `type` (and
 * "eval" too for a speech row flagged DN_PARAM_EVAL_TOO), default v. */
static json_t *row_schema(const dn_train_param *p, const char *type, double v)
{
	int eval_too = (p->flags & DN_PARAM_EVAL_TOO) != 0;
	json_t *o = json_object(), *e, *def = row_default(p, v);
	char desc[256];

	if (!o)
		return NULL;
	switch (p->type) {
	case DN_PARAM_INT:
	case DN_PARAM_U64:
		json_object_set_new(o, "type", json_string("integer"));
		json_object_set_new(o, "minimum", json_integer((json_int_t)p->lo));
		json_object_set_new(o, "maximum", json_integer((json_int_t)p->hi));
		break;
	case DN_PARAM_FLOAT:
	case DN_PARAM_DOUBLE:
		json_object_set_new(o, "type", json_string("number"));
		json_object_set_new(o, "minimum", json_real(fdec(p->lo)));
		json_object_set_new(o, "maximum", json_real(fdec(p->hi)));
		break;
	case DN_PARAM_ENUM:
		e = json_array();
		for (int i = 0; p->choices[i]; i++)
			json_array_append_new(e, json_string(p->choices[i]));
		json_object_set_new(o, "type", json_string("string"));
		json_object_set_new(o, "enum", e);
		break;
	case DN_PARAM_NOISE:
		json_object_set_new(o, "type", json_string("array"));
		json_object_set_new(o, "minItems", json_integer(1));
		json_object_set_new(
		    o, "items",
		    json_pack("{s:s, s:[s, s, s, s]}", "type", "string", "enum", "white", "pink", "brown", "file"));
		break;
	}
	json_object_set_new(o, "x-job-types",
	                    eval_too ? json_pack("[s, s]", type, "eval") : json_pack("[s]", type));
	/* An evaluation's default differs from a training run's: the job's spec
	 * shows the one it got. */
	json_object_set_new(o, "x-defaults", def ? json_pack("{s:o}", type, def) : json_object());
	snprintf(desc, sizeof desc, "%s%s: %s%s", type, eval_too ? " and eval" : "", p->help,
	         p->type == DN_PARAM_NOISE ? " (file: eval only, with the spec's noise_dataset; training "
	                                     "adds file whenever noise_dataset is given)"
	                                   : "");
	json_object_set_new(o, "description", json_string(desc));
	return o;
}

/* Adds schema s of a member to props; a member several job types take
 * gets their types, defaults and descriptions together, the widest bounds,
 * and a plain "default" only while every type agrees on it. Steals s. */
static void merge(json_t *props, const char *name, json_t *s)
{
	json_t *o = json_object_get(props, name), *t, *d;
	const char *key;
	size_t i;
	char desc[768];

	if (!o) {
		d = json_object_get(s, "x-defaults");
		if (json_object_size(d) == 1 && json_array_size(json_object_get(s, "x-job-types")) == 1 &&
		    !json_object_get(s, "default"))
			json_object_foreach(d, key, t) json_object_set(s, "default", t);
		json_object_set_new(props, name, s);
		return;
	}
	json_array_foreach(json_object_get(s, "x-job-types"), i, t)
	    json_array_append(json_object_get(o, "x-job-types"), t);
	json_object_update(json_object_get(o, "x-defaults"), json_object_get(s, "x-defaults"));
	d = json_object_get(o, "default");
	json_object_foreach(json_object_get(o, "x-defaults"), key,
	                    t) if (d && !json_equal(d, t) &&
	                           !(json_is_number(d) && json_number_value(d) == json_number_value(t)))
	{
		json_object_del(o, "default");
		d = NULL;
	}
	if (json_number_value(json_object_get(s, "minimum")) <
	    json_number_value(json_object_get(o, "minimum")))
		json_object_set(o, "minimum", json_object_get(s, "minimum"));
	if (json_number_value(json_object_get(s, "maximum")) >
	    json_number_value(json_object_get(o, "maximum")))
		json_object_set(o, "maximum", json_object_get(s, "maximum"));
	snprintf(desc, sizeof desc, "%s; %s", json_string_value(json_object_get(o, "description")),
	         json_string_value(json_object_get(s, "description")));
	json_object_set_new(o, "description", json_string(desc));
	json_decref(s);
}

/* params.properties: the speech and frame tables' rows, then the members
 * the source lists (the evaluations'), each with the job types that take
 * it (x-job-types) and their defaults (x-defaults). */
static int fill_train_params(json_t *doc)
{
	static const char *const path[] = {"components", "schemas", "JobSpec", "properties", "params"};
	json_t *spec = doc, *params, *props = json_object(), *val;
	dn_train_config d = dn_train_config_default();
	dn_frame_config fd = dn_frame_config_default();
	size_t n, nf;
	const dn_train_param *t = dn_train_params_table(&n), *f = dn_frame_params_table(&nf);
	const char *key;

	for (size_t i = 0; i < sizeof path / sizeof path[0]; i++)
		spec = json_object_get(spec, path[i]);
	params = json_object_get(spec, "properties");
	if (!json_is_object(params) || !props) {
		json_decref(props);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		merge(props, t[i].name, row_schema(&t[i], "train", dn_train_param_get(&t[i], &d)));
	for (size_t i = 0; i < nf; i++)
		merge(props, f[i].name, row_schema(&f[i], "train-frame", dn_frame_param_get(&f[i], &fd)));
	json_object_foreach(params, key, val) merge(props, key, json_deep_copy(val));
	json_object_set_new(spec, "properties", props);
	json_object_del(spec, "x-filled-in");
	return 0;
}

static void build(void)
{
	json_error_t je;
	json_t *doc = json_loads(api_openapi_json, 0, &je);

	if (doc && fill_train_params(doc) == 0)
		document = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (document)
		document_len = strlen(document);
}

const char *api_openapi_document(size_t *len)
{
	pthread_once(&once, build);
	*len = document_len;
	return document;
}
