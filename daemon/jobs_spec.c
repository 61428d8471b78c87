/*
 * jobs_spec.c — see jobs_spec.h. The parameters a job may set are the table
 * params_table (name, type, the job types that take it, bounds, help); their
 * defaults come from core's default parameters, so a spec that names nothing
 * trains what `denoise train` would.
 */
#include "daemon/jobs_spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/audio/noise.h"
#include "core/nn/unet.h"
#include "core/train/params.h"
#include "core/util/paths.h"
#include "daemon/config.h"
#include "daemon/jobs_store.h"

/* An evaluation with no max_files given scores this many clean files: a
 * few minutes on two cores (x 3 noises x 5 SNRs noisy files). */
#define EVAL_DEFAULT_FILES 8

static int refuse(vstate *v, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(vstate *v, const char *field, const char *fmt, ...)
{
	char msg[DN_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!field[0])
		field = "\"\""; /* a member whose name is empty (found by tests/fuzz_jobspec.c) */
	if (v->field && v->cap)
		snprintf(v->field, v->cap, "%s", field);
	return dn_error_set(v->err, DN_EINVAL, "%s: %s", field, msg);
}

enum { P_INT, P_NUM, P_ENUM, P_NOISE, P_NOISEF, P_SNRS, P_SIGMAS }; /* P_NOISEF: file allowed */

static const char *const splits[] = {"train", "valid", "test", "all", NULL};

typedef struct pdef {
	const char *name;
	int type;
	double lo, hi;
	const char *const *choices;
	const char *help; /* for the message */
} pdef;

/* An evaluation's parameters. A training job's are core's table of training
 * parameters (core/train/params.c), which api/ also serves as the schema. */
static const pdef eval_table[] = {
    {"seed", P_INT, 0, 9007199254740992.0, NULL, "seed"},
    {"noise", P_NOISEF, 0, 0, NULL, "noise kinds"},
    {"split", P_ENUM, 0, 0, splits, "split evaluated"},
    {"max_files", P_INT, 0, 100000, NULL, "clean files scored (0: all)"},
    {"snr_db", P_SNRS, -30, 60, NULL, "input SNRs"},
    {"examples", P_INT, 0, 8, NULL, "example spectrograms"},
};
#define NEVAL (sizeof eval_table / sizeof eval_table[0])

/* An eval-frame job's (a train-frame job's are core's frame table). */
static const pdef eval_frame_table[] = {
    {"seed", P_INT, 0, 9007199254740992.0, NULL, "seed of the noise"},
    {"sigma", P_SIGMAS, 0, 255, NULL, "noise sigmas, 0..255 scale"},
    {"max_files", P_INT, 0, 100000, NULL, "photographs scored (0: all)"},
    {"examples", P_INT, 0, DN_FRAME_EVAL_MAX_EXAMPLES, NULL, "example crops"},
};
#define NEVAL_FRAME (sizeof eval_frame_table / sizeof eval_frame_table[0])

/* A row of core's table as the checks below take it. */
static pdef train_pdef(const dn_train_param *r)
{
	static const int types[] = {
	    [DN_PARAM_INT] = P_INT, [DN_PARAM_FLOAT] = P_NUM, [DN_PARAM_DOUBLE] = P_NUM,
	    [DN_PARAM_U64] = P_INT, [DN_PARAM_ENUM] = P_ENUM, [DN_PARAM_NOISE] = P_NOISE};

	return (pdef){r->name, types[r->type], r->lo, r->hi, r->choices, r->help};
}

static json_t *noise_array(unsigned mask)
{
	json_t *a = json_array();

	for (int k = 0; k < DN_NOISE_NKINDS; k++)
		if (mask & (1u << k))
			json_array_append_new(a, json_string(dn_noise_kind_name(k)));
	return a;
}

/* A row's value x (as dn_train_param_get gives it) as JSON. */
static json_t *row_json(const dn_train_param *r, double x)
{
	switch (r->type) {
	case DN_PARAM_INT:
	case DN_PARAM_U64: return json_integer((json_int_t)x);
	case DN_PARAM_FLOAT: return json_real(fdec((float)x));
	case DN_PARAM_DOUBLE: return json_real(x);
	case DN_PARAM_ENUM: return json_string(r->choices[(int)x]);
	case DN_PARAM_NOISE: return noise_array((unsigned)x);
	}
	return json_null();
}

/* The defaults of a job type's params, from core's default parameters. */
static json_t *default_params(int type)
{
	json_t *o;

	if (type == JOB_TRAIN) {
		dn_train_config d = dn_train_config_default();
		size_t n;
		const dn_train_param *t = dn_train_params_table(&n);

		o = json_object();
		for (size_t i = 0; o && i < n; i++)
			json_object_set_new(o, t[i].name, row_json(&t[i], dn_train_param_get(&t[i], &d)));
	} else if (type == JOB_TRAIN_FRAME) {
		dn_frame_config d = dn_frame_config_default();
		size_t n;
		const dn_train_param *t = dn_frame_params_table(&n);

		o = json_object();
		for (size_t i = 0; o && i < n; i++)
			json_object_set_new(o, t[i].name, row_json(&t[i], dn_frame_param_get(&t[i], &d)));
	} else if (type == JOB_EVAL_FRAME) {
		dn_frame_eval_params fe = dn_frame_eval_default_params();
		json_t *sig = json_array();

		for (int i = 0; i < fe.n_sigma; i++)
			json_array_append_new(sig, json_real(fe.sigma[i]));
		o = json_pack("{s:I, s:o, s:i, s:i}", "seed", (json_int_t)fe.seed, "sigma", sig, "max_files",
		              EVAL_DEFAULT_FILES, "examples", fe.examples);
	} else {
		dn_eval_params ep = dn_eval_default_params();
		json_t *snrs = json_array();

		for (int i = 0; i < ep.n_snr; i++)
			json_array_append_new(snrs, json_real(ep.snr_db[i]));
		o = json_pack("{s:s, s:i, s:i, s:I, s:o, s:o}", "split", "test", "max_files",
		              EVAL_DEFAULT_FILES, "examples", ep.examples, "seed", (json_int_t)ep.seed,
		              "snr_db", snrs, "noise", noise_array(ep.noise_mask));
	}
	return o;
}

static int check_param(vstate *v, const pdef *d, const json_t *val)
{
	char field[96];

	snprintf(field, sizeof field, "params.%s", d->name);
	switch (d->type) {
	case P_INT: {
		json_int_t x;

		if (!json_is_integer(val))
			return refuse(v, field, "expected an integer (%s)", d->help);
		x = json_integer_value(val);
		if ((double)x < d->lo || (double)x > d->hi)
			return refuse(v, field, "%lld is out of range [%.0f, %.0f] (%s)", (long long)x, d->lo,
			              d->hi, d->help);
		return DN_OK;
	}
	case P_NUM: {
		double x;

		if (!json_is_number(val))
			return refuse(v, field, "expected a number (%s)", d->help);
		x = json_number_value(val);
		if (!(x >= d->lo && x <= d->hi))
			return refuse(v, field, "%g is out of range [%g, %g] (%s)", x, d->lo, d->hi, d->help);
		return DN_OK;
	}
	case P_ENUM: {
		const char *s = json_string_value(val);
		char list[128] = "";

		for (int i = 0; d->choices[i]; i++)
			if (s && strcmp(s, d->choices[i]) == 0)
				return DN_OK;
		for (int i = 0; d->choices[i]; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
			         d->choices[i]);
		return refuse(v, field, "expected one of %s", list);
	}
	case P_NOISE:
	case P_NOISEF: {
		size_t i;
		json_t *e;
		int nk = d->type == P_NOISEF ? DN_NOISE_NKINDS : DN_NOISE_FILE;
		const char *names = d->type == P_NOISEF ? "white, pink, brown or file" : "white, pink or brown";

		if (!json_is_array(val) || json_array_size(val) == 0)
			return refuse(v, field, "expected a non-empty array of %s", names);
		json_array_foreach(val, i, e)
		{
			const char *s = json_string_value(e);
			int ok = 0;

			for (int k = 0; s && k < nk; k++)
				ok |= strcmp(s, dn_noise_kind_name(k)) == 0;
			if (!ok) {
				snprintf(field, sizeof field, "params.%s[%zu]", d->name, i);
				return refuse(v, field, "expected %s%s", names,
				              d->type == P_NOISE && s && !strcmp(s, "file")
				                  ? " (recordings are added by the spec's noise_dataset)"
				                  : "");
			}
		}
		return DN_OK;
	}
	case P_SNRS:
	case P_SIGMAS: {
		const size_t most = d->type == P_SNRS ? DN_EVAL_MAX_SNRS : DN_FRAME_EVAL_MAX_SIGMAS;
		const char *unit = d->type == P_SNRS ? "dB" : "sigma";
		size_t i;
		json_t *e;

		if (!json_is_array(val) || json_array_size(val) == 0 || json_array_size(val) > most)
			return refuse(v, field, "expected an array of 1 to %zu numbers (%s)", most, d->help);
		json_array_foreach(val, i, e)
		{
			double x = json_number_value(e);

			if (!json_is_number(e) || !(x >= d->lo && x <= d->hi)) {
				snprintf(field, sizeof field, "params.%s[%zu]", d->name, i);
				return refuse(v, field, "expected a number (%s) in [%g, %g]", unit, d->lo,
				              d->hi);
			}
		}
		return DN_OK;
	}
	}
	return refuse(v, field, "unknown parameter type");
}

int jobs_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

/* The built-in corpus: speech_dir, $DN_SPEECH_DIR, data/speech of the source
 * tree, the installed data directory; the first that has a manifest (else
 * the first candidate, for the message). */
/* A training spec's combination, checked at submit rather than found at run
 * time: the architecture's own rules (dn_unet_config_check), then the
 * estimated memory of one step against job_memory_budget (issue 14). */
static int check_train_fit(const jobs *J, const job_conf *c, vstate *v)
{
	dn_unet_config arch = c->info.arch;
	dn_error e;
	double need;

	if (dn_unet_config_check(&arch, &e) != DN_OK)
		return refuse(v, "params.filters", "with depth %d: %s", arch.depth, e.msg);
	need = dn_unet_train_bytes(&arch, c->tp.batch, c->info.n_fft / 2 + 1, c->tp.patch_frames);
	if (J->job_memory_budget && need > (double)J->job_memory_budget)
		return refuse(v, "params.batch",
		              "batch %d of %d-frame patches with filters %d, depth %d needs about %.0f MiB "
		              "per step, over job_memory_budget (%.0f MiB): lower batch, patch_frames or "
		              "filters",
		              c->tp.batch, c->tp.patch_frames, arch.base_filters, arch.depth,
		              need / 1048576.0, (double)J->job_memory_budget / 1048576.0);
	return DN_OK;
}

/* A train-frame spec's combination: core's own check of the table
 * (patch a multiple of 2^depth, sigma_min <= sigma_max), the network's
 * rules, then one step's estimated memory against job_memory_budget. */
static int check_frame_fit(const jobs *J, const job_conf *c, vstate *v)
{
	dn_unet_config arch = c->fc.info.arch;
	dn_error e;
	char field[64] = "params";
	const char *colon;
	double need;

	if (dn_frame_config_check(&c->fc, &e) != DN_OK) {
		/* core names the parameter first: "patch: ..." */
		if ((colon = strchr(e.msg, ':')) && colon - e.msg < 40)
			snprintf(field, sizeof field, "params.%.*s", (int)(colon - e.msg), e.msg);
		return refuse(v, field, "%s", colon ? colon + 2 : e.msg);
	}
	if (dn_unet_config_check(&arch, &e) != DN_OK)
		return refuse(v, "params.filters", "with depth %d: %s", arch.depth, e.msg);
	need = dn_unet_train_bytes(&arch, c->fc.train.batch, c->fc.train.patch, c->fc.train.patch);
	if (J->job_memory_budget && need > (double)J->job_memory_budget)
		return refuse(v, "params.batch",
		              "batch %d of %dx%d patches with filters %d, depth %d needs about %.0f MiB per "
		              "step, over job_memory_budget (%.0f MiB): lower batch, patch or filters",
		              c->fc.train.batch, c->fc.train.patch, c->fc.train.patch, arch.base_filters,
		              arch.depth, need / 1048576.0, (double)J->job_memory_budget / 1048576.0);
	return DN_OK;
}

static void builtin_speech_dir(const jobs *J, char *out, size_t cap)
{
	const char *env = getenv("DN_SPEECH_DIR");
	char cand[3][PATH_MAX];
	int n = 0;

	if (J->speech_dir && J->speech_dir[0])
		snprintf(cand[n++], PATH_MAX, "%s", J->speech_dir);
	else if (env && *env)
		snprintf(cand[n++], PATH_MAX, "%s", env);
	else {
		snprintf(cand[n++], PATH_MAX, "%s/speech", dn_data_dir());
	}
	for (int i = 0; i < n; i++)
		if (jobs_file_exists(cand[i], "manifest.tsv")) {
			if ((size_t)snprintf(out, cap, "%s", cand[i]) >= cap)
				out[0] = '\0';
			return;
		}
	if ((size_t)snprintf(out, cap, "%s", cand[0]) >= cap)
		out[0] = '\0';
}

typedef struct root_ctx {
	const char *name;
	char *out;
	int found;
} root_ctx;

/* Whether path (resolved) lies inside root (resolved). */
static int inside(const char *root, const char *path)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return 1;
	return strncmp(root, path, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int try_root(void *ctx, const char *root)
{
	root_ctx *c = ctx;
	char rroot[PATH_MAX], cand[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (!realpath(root, rroot))
		return 0;
	if (c->name[0] == '/')
		snprintf(cand, sizeof cand, "%s", c->name);
	else if ((size_t)snprintf(cand, sizeof cand, "%s/%s", rroot, c->name) >= sizeof cand)
		return 0;
	if (!realpath(cand, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (!inside(rroot, real))
		return 0;
	snprintf(c->out, PATH_MAX, "%s", real);
	c->found = 1;
	return 1;
}

/* "device" (default: the daemon's job_device) and "precision" (fp32) of a
 * training job; refused when the build has no CUDA or no such GPU is
 * visible, so that a job never fails later for it. */
static int parse_device(const jobs *J, job_conf *c, const json_t *spec, vstate *v)
{
	const json_t *d = json_object_get(spec, "device"), *p = json_object_get(spec, "precision");
	dn_error e = {0};

	if ((d || p) && !jobs_type_trains(c->type))
		return refuse(v, d ? "device" : "precision", "only a training job runs on a chosen device");
	if (d && (!json_is_string(d) || json_string_length(d) >= sizeof c->device))
		return refuse(v, "device", "expected cpu, cuda or cuda:N");
	if (p && !json_is_string(p))
		return refuse(v, "precision", "expected fp32, tf32 or bf16");
	snprintf(c->device, sizeof c->device, "%s", d ? json_string_value(d) : J->job_device);
	c->dev = (dn_device){.index = -1, .precision = DN_PRECISION_FP32};
	if (dn_device_parse(c->device, &c->dev.index, &e))
		return refuse(v, "device", "%s", e.msg);
	if (p && dn_precision_parse(json_string_value(p), &c->dev.precision, &e))
		return refuse(v, "precision", "%s", e.msg);
	if (c->dev.index < 0 && c->dev.precision != DN_PRECISION_FP32)
		return refuse(v, "precision", "%s needs a GPU device; the CPU trains in fp32",
		              dn_precision_name(c->dev.precision));
	if (c->dev.index >= 0)
		snprintf(c->device, sizeof c->device, "cuda:%d", c->dev.index);
	return DN_OK;
}

/* Whether dir/name is a folder. */
static int subdir_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) < sizeof path &&
	       stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* name, a folder inside one of data_roots (no ".." component, no link out
 * of a root) -> its real path in out (PATH_MAX); field names the member in
 * a refusal. */
static int resolve_under_roots(const jobs *J, const char *field, const char *name, char *out, vstate *v)
{
	root_ctx rc = {name, out, 0};

	for (const char *p = name; (p = strstr(p, "..")); p += 2)
		if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return refuse(v, field, "'%s' has a '..' component; name a folder under data_roots",
			              name);
	if (!J->data_roots[0])
		return refuse(v, field, "'%s' is not a built-in data set (speech) and no data_roots are configured",
		              name);
	daemon_config_list_each(J->data_roots, try_root, &rc);
	if (!rc.found)
		return refuse(v, field,
		              "'%s' is not a built-in data set (speech) nor a folder inside data_roots (%s); "
		              "symbolic links out of a root are refused",
		              name, J->data_roots);
	return DN_OK;
}

static int resolve_dataset(const jobs *J, job_conf *c, vstate *v)
{
	int rc;

	if (strcmp(c->dataset, "speech") == 0 && !jobs_type_frames(c->type)) {
		builtin_speech_dir(J, c->dataset_path, sizeof c->dataset_path);
		c->dataset_kind = DN_DATASET_CORPUS;
		c->builtin = 1;
		return DN_OK;
	}
	if ((rc = resolve_under_roots(J, "dataset", c->dataset, c->dataset_path, v)))
		return rc;
	if (c->type == JOB_TRAIN_FRAME &&
	    (!subdir_exists(c->dataset_path, "train") || !subdir_exists(c->dataset_path, "val")))
		return refuse(v, "dataset",
		              "'%s' has no train/ and val/ folders of photographs (as "
		              "scripts/make-frame-data.py writes them)",
		              c->dataset);
	c->dataset_kind = dn_dataset_kind_guess(c->dataset_path);
	return DN_OK;
}

static int pick_choice(const char *const *choices, const char *s)
{
	for (int i = 0; choices[i]; i++)
		if (strcmp(choices[i], s) == 0)
			return i;
	return 0;
}

static unsigned noise_mask(const json_t *a)
{
	unsigned m = 0;
	size_t i;
	json_t *e;

	json_array_foreach(a, i, e)
	{
		for (int k = 0; k < DN_NOISE_NKINDS; k++)
			if (strcmp(json_string_value(e), dn_noise_kind_name(k)) == 0)
				m |= 1u << k;
	}
	return m;
}

/* A checked value of a row as dn_train_param_set takes it. */
static double row_number(const dn_train_param *r, const json_t *x)
{
	return r->type == DN_PARAM_ENUM    ? pick_choice(r->choices, json_string_value(x))
	       : r->type == DN_PARAM_NOISE ? noise_mask(x)
	                                   : json_number_value(x);
}

typedef struct first_ctx {
	char *out;
	size_t cap;
} first_ctx;

static void first_frame(void *arg, api_model *m, int is_default)
{
	first_ctx *f = arg;

	(void)is_default;
	if (!f->out[0] && dn_model_get_info(daemon_model_get(m))->kind == DN_MODEL_FRAME)
		snprintf(f->out, f->cap, "%s", daemon_model_name(m));
}

/* The first loaded frame model's name (as POST /v1/frames:denoise picks it),
 * or "". */
static void first_frame_model(jobs *J, char *out, size_t cap)
{
	first_ctx f = {out, cap};

	out[0] = '\0';
	daemon_models_each(J->models, first_frame, &f);
}

/* Validates spec; fills c and (if norm is not NULL) the normalized spec. */
int jobs_spec_parse(jobs *J, const json_t *spec, job_conf *c, json_t **norm, vstate *v)
{
	const char *key;
	json_t *val, *params, *given;
	int rc;

	memset(c, 0, sizeof *c);
	if (norm)
		*norm = NULL;
	if (!json_is_object(spec))
		return refuse(v, "(body)",
		              "expected a JSON object {\"type\": \"train\"|\"eval\"|\"train-frame\"|"
		              "\"eval-frame\", ...}");
	json_object_foreach((json_t *)spec, key, val)
	{
		if (strcmp(key, "type") && strcmp(key, "model") && strcmp(key, "dataset") &&
		    strcmp(key, "params") && strcmp(key, "register_as") && strcmp(key, "device") &&
		    strcmp(key, "precision") && strcmp(key, "noise_dataset"))
			return refuse(v, key,
			              "unknown member; a job spec has type, model, dataset, noise_dataset, "
			              "params, register_as, device, precision");
	}
	val = json_object_get(spec, "type");
	if (!val)
		return refuse(v, "type", "required: \"train\", \"eval\", \"train-frame\" or \"eval-frame\"");
	if ((c->type = jobs_type_index(json_string_value(val))) < 0)
		return refuse(v, "type", "expected \"train\", \"eval\", \"train-frame\" or \"eval-frame\"");

	val = json_object_get(spec, "model");
	if (val && !json_is_string(val))
		return refuse(v, "model", "expected the name of a loaded model (GET /v1/models)");
	if (val) {
		api_model *m;

		if (!jobs_valid_name(json_string_value(val)))
			return refuse(v, "model", "'%s' is not a model name", json_string_value(val));
		snprintf(c->model, sizeof c->model, "%s", json_string_value(val));
		m = daemon_models_acquire(J->models, c->model);
		if (!m)
			return refuse(v, "model", "no model called '%s' is loaded (GET /v1/models)",
			              c->model);
		if (dn_model_get_info(daemon_model_get(m))->kind !=
		    (jobs_type_frames(c->type) ? DN_MODEL_FRAME : DN_MODEL_AUDIO)) {
			daemon_models_release(m);
			return refuse(v, "model", "'%s' is not a %s model", c->model,
			              jobs_type_frames(c->type) ? "frame" : "speech");
		}
		daemon_models_release(m);
	} else if (c->type == JOB_EVAL_FRAME) {
		first_frame_model(J, c->model, sizeof c->model);
		if (!c->model[0])
			return refuse(v, "model", "no frame model is loaded; name one (GET /v1/models)");
	} else if (c->type == JOB_EVAL) {
		api_model *m = daemon_models_acquire(J->models, NULL);

		if (!m)
			return refuse(v, "model", "no default model is loaded; name one (GET /v1/models)");
		snprintf(c->model, sizeof c->model, "%s", daemon_model_name(m));
		daemon_models_release(m);
	}

	val = json_object_get(spec, "dataset");
	if (!val && jobs_type_frames(c->type))
		return refuse(v, "dataset", "required for a %s job: a folder of photographs under data_roots",
		              jobs_type_names[c->type]);
	if (val &&
	    (!json_is_string(val) || !json_string_length(val) || json_string_length(val) >= PATH_MAX / 2))
		return refuse(v, "dataset", "expected a data set name: speech, or a folder under data_roots");
	snprintf(c->dataset, sizeof c->dataset, "%s", val ? json_string_value(val) : "speech");
	if ((rc = resolve_dataset(J, c, v)))
		return rc;

	/* Noise recordings (e.g. data/noise/train or data/noise/test from
	 * scripts/make-real-noise.sh) add the kind "file", as --noise-dir does. */
	val = json_object_get(spec, "noise_dataset");
	if (val) {
		if (!json_is_string(val) || !json_string_length(val) || json_string_length(val) >= PATH_MAX / 2)
			return refuse(v, "noise_dataset", "expected a folder of noise recordings under data_roots");
		snprintf(c->noise_dataset, sizeof c->noise_dataset, "%s", json_string_value(val));
		if ((rc = resolve_under_roots(J, "noise_dataset", c->noise_dataset, c->noise_path, v)))
			return rc;
	}

	val = json_object_get(spec, "register_as");
	if (val) {
		if (!jobs_type_trains(c->type))
			return refuse(v, "register_as", "only a training job makes a model to register");
		if (!json_is_string(val) || !jobs_valid_name(json_string_value(val)))
			return refuse(v, "register_as", "expected a model name: 1-64 of A-Z a-z 0-9 - _ .");
		snprintf(c->register_as, sizeof c->register_as, "%s", json_string_value(val));
		/* Refused now, not after the training it would have wasted. */
		if (J->models && (rc = jobs_name_taken(J, c->register_as, v->err))) {
			char why[DN_ERROR_MSG_MAX];

			snprintf(why, sizeof why, "%s", v->err->msg);
			if (v->field && v->cap)
				snprintf(v->field, v->cap, "register_as");
			return dn_error_set(v->err, rc, "register_as: %s", why);
		}
	}

	if ((rc = parse_device(J, c, spec, v)))
		return rc;

	given = json_object_get(spec, "params");
	if (given && !json_is_object(given))
		return refuse(v, "params", "expected an object");
	params = default_params(c->type);
	if (!params)
		return dn_error_set(v->err, DN_ENOMEM, "out of memory");
	if (given) {
		json_object_foreach(given, key, val)
		{
			const pdef *d = NULL;
			pdef row;
			char field[96];

			if (jobs_type_trains(c->type)) {
				const dn_train_param *r = c->type == JOB_TRAIN ? dn_train_param_find(key)
				                                               : dn_frame_param_find(key);

				if (r && strcmp(r->name, key) == 0) {
					row = train_pdef(r);
					d = &row;
				}
			}
			for (size_t i = 0; c->type == JOB_EVAL && i < NEVAL && !d; i++)
				if (strcmp(eval_table[i].name, key) == 0)
					d = &eval_table[i];
			for (size_t i = 0; c->type == JOB_EVAL_FRAME && i < NEVAL_FRAME && !d; i++)
				if (strcmp(eval_frame_table[i].name, key) == 0)
					d = &eval_frame_table[i];
			if (!d) {
				json_decref(params);
				snprintf(field, sizeof field, "params.%s", key);
				return refuse(
				    v, field,
				    "unknown parameter for a %s job (GET /v1/openapi.json lists them)",
				    jobs_type_names[c->type]);
			}
			if ((rc = check_param(v, d, val))) {
				json_decref(params);
				return rc;
			}
			json_object_set(params, key, val);
		}
	}
	/* Everything below reads the normalized params, checked above. */
#define PI(k) ((int)json_integer_value(json_object_get(params, k)))
#define PS(k) json_string_value(json_object_get(params, k))
	c->dp = dn_dataset_default_params();
	if (c->type == JOB_TRAIN) {
		dn_train_config cfg = dn_train_config_default();
		size_t n;
		const dn_train_param *t = dn_train_params_table(&n);

		/* Checked above: every value is within its row's bounds. */
		for (size_t i = 0; i < n; i++) {
			double num = row_number(&t[i], json_object_get(params, t[i].name));

			if ((rc = dn_train_param_set(&t[i], &cfg, num, v->err))) {
				json_decref(params);
				return rc;
			}
		}
		c->tp = cfg.train;
		c->tp.device = c->dev;
		c->info = cfg.info;
		c->dp = cfg.data;
		c->dp.kind = c->dataset_kind;
		c->dp.seed = c->tp.seed;
		if (c->dp.snr_min_db > c->dp.snr_max_db) {
			json_decref(params);
			return refuse(v, "params.snr_max_db", "must not be below params.snr_min_db");
		}
		{
			dn_error ae = {0};

			if (dn_augment_check(&c->dp.augment, &ae)) {
				json_decref(params);
				return refuse(v, "params", "%s", ae.msg);
			}
		}
		/* Fields that pass one by one can still not fit together. */
		if ((rc = check_train_fit(J, c, v)) != DN_OK) {
			json_decref(params);
			return rc;
		}
	} else if (c->type == JOB_TRAIN_FRAME) {
		size_t n;
		const dn_train_param *t = dn_frame_params_table(&n);

		c->fc = dn_frame_config_default();
		for (size_t i = 0; i < n; i++) {
			double num = row_number(&t[i], json_object_get(params, t[i].name));

			if ((rc = dn_frame_param_set(&t[i], &c->fc, num, v->err))) {
				json_decref(params);
				return rc;
			}
		}
		c->fc.train.device = c->dev;
		if ((rc = check_frame_fit(J, c, v)) != DN_OK) {
			json_decref(params);
			return rc;
		}
	} else if (c->type == JOB_EVAL_FRAME) {
		json_t *sig = json_object_get(params, "sigma");
		size_t i;
		json_t *e;

		c->fe = dn_frame_eval_default_params();
		c->fe.seed = (uint64_t)json_integer_value(json_object_get(params, "seed"));
		c->fe.examples = PI("examples");
		c->frame_files = (size_t)PI("max_files");
		c->fe.n_sigma = 0;
		json_array_foreach(sig, i, e) c->fe.sigma[c->fe.n_sigma++] = json_number_value(e);
	} else {
		json_t *snrs = json_object_get(params, "snr_db");
		size_t i;
		json_t *e;

		c->ep = dn_eval_default_params();
		c->dp.kind = c->dataset_kind;
		c->dp.seed = (uint64_t)json_integer_value(json_object_get(params, "seed"));
		c->dp.noise_kinds = noise_mask(json_object_get(params, "noise"));
		c->dp.split = dn_split_parse(PS("split"));
		c->ep.max_files = (size_t)PI("max_files");
		c->ep.examples = PI("examples");
		c->ep.seed = c->dp.seed;
		if ((c->dp.noise_kinds & (1u << DN_NOISE_FILE)) && !c->noise_dataset[0]) {
			json_decref(params);
			return refuse(v, "params.noise",
			              "'file' needs the spec's noise_dataset (a folder of noise recordings)");
		}
		if (c->noise_dataset[0])
			c->dp.noise_kinds |= 1u << DN_NOISE_FILE;
		c->ep.noise_mask = c->dp.noise_kinds;
		c->ep.n_snr = 0;
		json_array_foreach(snrs, i, e) c->ep.snr_db[c->ep.n_snr++] = json_number_value(e);
	}
#undef PI
#undef PS
	if (norm) {
		*norm = json_pack("{s:s, s:s, s:O}", "type", jobs_type_names[c->type], "dataset", c->dataset,
		                  "params", params);
		if (*norm && c->model[0])
			json_object_set_new(*norm, "model", json_string(c->model));
		if (*norm && c->register_as[0])
			json_object_set_new(*norm, "register_as", json_string(c->register_as));
		if (*norm && c->noise_dataset[0])
			json_object_set_new(*norm, "noise_dataset", json_string(c->noise_dataset));
		if (*norm && jobs_type_trains(c->type)) {
			json_object_set_new(*norm, "device", json_string(c->device));
			json_object_set_new(*norm, "precision",
			                    json_string(dn_precision_name(c->dev.precision)));
		}
	}
	json_decref(params);
	if (norm && !*norm)
		return dn_error_set(v->err, DN_ENOMEM, "out of memory");
	return DN_OK;
}
