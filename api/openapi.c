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

/* The JSON Schema of one row of the table. */
static json_t *row_schema(const dn_train_param *p, const dn_train_config *d)
{
	double v = dn_train_param_get(p, d);
	int eval_too = (p->flags & DN_PARAM_EVAL_TOO) != 0;
	json_t *o = json_object(), *e;
	char desc[256];

	if (!o)
		return NULL;
	switch (p->type) {
	case DN_PARAM_INT:
	case DN_PARAM_U64:
		json_object_set_new(o, "type", json_string("integer"));
		json_object_set_new(o, "minimum", json_integer((json_int_t)p->lo));
		json_object_set_new(o, "maximum", json_integer((json_int_t)p->hi));
		if (!eval_too)
			json_object_set_new(o, "default", json_integer((json_int_t)v));
		break;
	case DN_PARAM_FLOAT:
	case DN_PARAM_DOUBLE:
		json_object_set_new(o, "type", json_string("number"));
		json_object_set_new(o, "minimum", json_real(fdec(p->lo)));
		json_object_set_new(o, "maximum", json_real(fdec(p->hi)));
		if (!eval_too)
			json_object_set_new(o, "default", json_real(fdec(v)));
		break;
	case DN_PARAM_ENUM:
		e = json_array();
		for (int i = 0; p->choices[i]; i++)
			json_array_append_new(e, json_string(p->choices[i]));
		json_object_set_new(o, "type", json_string("string"));
		json_object_set_new(o, "enum", e);
		if (!eval_too)
			json_object_set_new(o, "default", json_string(p->choices[(int)v]));
		break;
	case DN_PARAM_NOISE:
		json_object_set_new(o, "type", json_string("array"));
		json_object_set_new(o, "minItems", json_integer(1));
		json_object_set_new(
		    o, "items",
		    json_pack("{s:s, s:[s, s, s, s]}", "type", "string", "enum", "white", "pink", "brown", "file"));
		break;
	}
	/* An evaluation's default differs from a training run's: the job's spec
	 * shows the one it got. */
	snprintf(desc, sizeof desc, "%s: %s%s", eval_too ? "train and eval" : "train", p->help,
	         p->type == DN_PARAM_NOISE ? " (file: eval only, with the spec's noise_dataset; training "
	                                     "adds file whenever noise_dataset is given)"
	                                   : "");
	json_object_set_new(o, "description", json_string(desc));
	return o;
}

/* Puts the table's rows first in params.properties (the source holds the
 * evaluation's). */
static int fill_train_params(json_t *doc)
{
	static const char *const path[] = {"components", "schemas", "JobSpec", "properties", "params"};
	json_t *spec = doc, *params, *props = json_object(), *val;
	dn_train_config d = dn_train_config_default();
	size_t n;
	const dn_train_param *t = dn_train_params_table(&n);
	const char *key;

	for (size_t i = 0; i < sizeof path / sizeof path[0]; i++)
		spec = json_object_get(spec, path[i]);
	params = json_object_get(spec, "properties");
	if (!json_is_object(params) || !props) {
		json_decref(props);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		json_object_set_new(props, t[i].name, row_schema(&t[i], &d));
	json_object_foreach(params, key, val) json_object_set(props, key, val);
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
