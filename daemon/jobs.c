/*
 * jobs.c — see jobs.h. One mutex guards the list of jobs, their states and
 * progress, and the watches of event streams; it is never held while a job
 * computes. Runner threads (max_jobs of them) take the oldest queued job,
 * run core's loop with a progress callback that records progress, wakes the
 * streams (at most every PROGRESS_WAKE_S between epochs) and returns the
 * job's stop flag, then record the outcome. A heartbeat thread wakes every
 * stream each HEARTBEAT_S so that a stream on a quiet job still notices a
 * closed client and its own deadline.
 *
 * The normalized spec (every default filled in) is what spec.json keeps and
 * what a runner re-validates before it starts, so a job recovered after a
 * restart is checked against the configuration of the new process (a data
 * root removed since refuses it).
 */
#include "daemon/jobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/train/dataset.h"
#include "core/train/eval.h"
#include "core/model/model.h"
#include "core/audio/noise.h"
#include "core/train/train.h"
#include "core/nn/unet.h"
#include "daemon/config.h"
#include "daemon/log.h"

#ifndef DN_SRCDIR
#define DN_SRCDIR "."
#endif
#ifndef DN_DATADIR
#define DN_DATADIR "/usr/local/share/denoised"
#endif

/* Folders are kept short enough that every file name fits in PATH_MAX. */
#define JOB_DIR_MAX 2048
/* Restarts after which a training job found running is failed instead. */
#define JOB_MAX_RESUMES  3
#define HEARTBEAT_S      2
#define PROGRESS_WAKE_S  0.2
#define PROGRESS_WRITE_S 1.0
/* An evaluation with no max_files given scores this many clean files: a
 * few minutes on two cores (x 3 noises x 5 SNRs noisy files). */
#define EVAL_DEFAULT_FILES 8

enum { JOB_TRAIN = 0, JOB_EVAL = 1 };
enum { ST_QUEUED, ST_RUNNING, ST_SUCCEEDED, ST_FAILED, ST_CANCELLED, ST_COUNT };
static const char *const state_names[ST_COUNT] = {"queued", "running", "succeeded", "failed", "cancelled"};
enum { STOP_NONE = 0, STOP_CANCEL = 1, STOP_SHUTDOWN = 2 };

typedef struct job {
	uint64_t seq;
	char id[24];
	char dir[JOB_DIR_MAX];
	int type, state;
	json_t *spec; /* normalized */
	int64_t created_ms, started_ms, finished_ms;
	char error[512];
	int cancel_requested;
	atomic_int stop;
	int resumes; /* runs started again after a restart */
	/* progress */
	int have_progress;
	int epoch, epochs;
	int64_t step, steps;
	double fraction, eta_s, loss, val_loss;
	json_t *metrics; /* when succeeded */
	char registered[128];
	uint64_t version;
	double last_wake, last_write;
} job;

typedef struct watch {
	char id[24];
	void (*wake)(void *arg);
	void *arg;
} watch;

struct jobs {
	pthread_mutex_t mu;
	pthread_cond_t work, tick;
	char *state_dir, *data_roots, *speech_dir;
	char jobs_dir[JOB_DIR_MAX - 32];
	int max_jobs, max_queued, nice;
	uint64_t job_memory_budget;
	daemon_models *models;
	job **v; /* ascending seq */
	size_t n, cap;
	uint64_t next_seq;
	int stopping, closing;
	pthread_t *runners;
	int nrunners;
	pthread_t ticker;
	int ticker_started;
	watch *w;
	size_t nw, capw;
};

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static json_t *iso_time(int64_t ms)
{
	char buf[64];
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0)
		return json_null();
	gmtime_r(&s, &tm);
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(buf);
}

/* A float parameter as the decimal it was written as (1e-3, not
 * 0.0010000000474974513). */
static double fdec(float x)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%.7g", (double)x);
	return strtod(buf, NULL);
}

/* A finite number, or null (JSON has no NaN). */
static json_t *num(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

/* Writes dir/name atomically: dir/.name.tmp, fsync, rename, fsync(dir). */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len, dn_error *err)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd, dfd;
	size_t off = 0;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp ||
	    (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return dn_error_set(err, DN_EINVAL, "%s/%s: path too long", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return dn_error_set(err, DN_EIO, "%s: %s", tmp, strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;

			close(fd);
			unlink(tmp);
			return dn_error_set(err, DN_EIO, "%s: %s", tmp, strerror(e));
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		return dn_error_set(err, DN_EIO, "%s: %s", path, strerror(e));
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return DN_OK;
}

static int write_json(const char *dir, const char *name, const json_t *j, dn_error *err)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	int rc;

	if (!text)
		return dn_error_set(err, DN_ENOMEM, "out of memory encoding %s", name);
	rc = write_atomic(dir, name, text, strlen(text), err);
	free(text);
	return rc;
}

static json_t *read_json(const char *dir, const char *name)
{
	char path[PATH_MAX];
	json_error_t je;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return NULL;
	return json_load_file(path, 0, &je);
}

static int file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return 0;
	return access(path, F_OK) == 0;
}

/* Appends a time-stamped line to the job's log. */
static void job_log(const job *jb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_log(const job *jb, const char *fmt, ...)
{
	char path[PATH_MAX], line[1024];
	va_list ap;
	json_t *t = iso_time(now_ms());
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof path, "%s/log", jb->dir);
	f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s %s\n", json_string_value(t) ? json_string_value(t) : "-", line);
		fclose(f);
	}
	json_decref(t);
	daemon_log(LOG_LVL_INFO, "job %s: %s", jb->id, line);
}

/* ---- validation ---- */

typedef struct vstate {
	char *field;
	size_t cap;
	dn_error *err;
} vstate;

static int refuse(vstate *v, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(vstate *v, const char *field, const char *fmt, ...)
{
	char msg[DN_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (v->field && v->cap)
		snprintf(v->field, v->cap, "%s", field);
	return dn_error_set(v->err, DN_EINVAL, "%s: %s", field, msg);
}

enum { P_INT, P_NUM, P_ENUM, P_NOISE, P_SNRS };
#define T_TRAIN (1u << JOB_TRAIN)
#define T_EVAL  (1u << JOB_EVAL)

static const char *const losses[] = {"mse", "mae", NULL};
static const char *const outputs[] = {"magnitude", "mask", NULL};
static const char *const scalings[] = {"none", "log1p", "power", NULL};
static const char *const splits[] = {"train", "valid", "test", "all", NULL};

typedef struct pdef {
	const char *name;
	int type;
	unsigned jobs; /* T_* */
	double lo, hi;
	const char *const *choices;
	const char *help; /* for the message */
} pdef;

static const pdef params_table[] = {
    {"epochs", P_INT, T_TRAIN, 1, DN_TRAIN_MAX_EPOCHS, NULL, "epochs at most"},
    {"batch", P_INT, T_TRAIN, 1, 1024, NULL, "patches per step"},
    {"lr", P_NUM, T_TRAIN, 1e-7, 1, NULL, "Adam's learning rate"},
    {"patch_frames", P_INT, T_TRAIN, 8, 4096, NULL, "STFT frames per patch"},
    {"patches_per_item", P_INT, T_TRAIN, 1, 1000, NULL, "patches per file per epoch"},
    {"lr_factor", P_NUM, T_TRAIN, 0.01, 1, NULL, "ReduceLROnPlateau factor"},
    {"lr_patience", P_INT, T_TRAIN, 1, 1000, NULL, "epochs before reducing the rate"},
    {"early_stop", P_INT, T_TRAIN, 1, 1000, NULL, "epochs without improvement before stopping"},
    {"loss", P_ENUM, T_TRAIN, 0, 0, losses, "training loss"},
    {"filters", P_INT, T_TRAIN, 1, 512, NULL, "base filters of the U-Net"},
    {"depth", P_INT, T_TRAIN, 1, 6, NULL, "U-Net depth"},
    {"output", P_ENUM, T_TRAIN, 0, 0, outputs, "network output"},
    {"scaling", P_ENUM, T_TRAIN, 0, 0, scalings, "input scaling"},
    {"snr_min_db", P_NUM, T_TRAIN, -30, 60, NULL, "lowest SNR mixed on the fly"},
    {"snr_max_db", P_NUM, T_TRAIN, -30, 60, NULL, "highest SNR mixed on the fly"},
    {"crop_seconds", P_NUM, T_TRAIN, 0, 600, NULL, "excerpt length (0: whole files)"},
    {"seed", P_INT, T_TRAIN | T_EVAL, 0, 9007199254740992.0, NULL, "seed"},
    {"noise", P_NOISE, T_TRAIN | T_EVAL, 0, 0, NULL, "noise kinds"},
    {"split", P_ENUM, T_EVAL, 0, 0, splits, "split evaluated"},
    {"max_files", P_INT, T_EVAL, 0, 100000, NULL, "clean files scored (0: all)"},
    {"snr_db", P_SNRS, T_EVAL, -30, 60, NULL, "input SNRs"},
    {"examples", P_INT, T_EVAL, 0, 8, NULL, "example spectrograms"},
};
#define NPARAMS (sizeof params_table / sizeof params_table[0])

static json_t *noise_array(unsigned mask)
{
	json_t *a = json_array();

	for (int k = 0; k < DN_NOISE_FILE; k++)
		if (mask & (1u << k))
			json_array_append_new(a, json_string(dn_noise_kind_name(k)));
	return a;
}

/* The defaults of a job type's params, from core's default parameters. */
static json_t *default_params(int type)
{
	json_t *o;

	if (type == JOB_TRAIN) {
		dn_train_params tp = dn_train_default_params();
		dn_model_info info = dn_model_default_info(DN_MODEL_AUDIO);
		dn_dataset_params dp = dn_dataset_default_params();

		o = json_pack(
		    "{s:i, s:i, s:f, s:i, s:i, s:f, s:i, s:i, s:s, s:i, s:i, s:s, s:s, s:f, s:f, s:f, "
		    "s:I}",
		    "epochs", tp.epochs, "batch", tp.batch, "lr", fdec(tp.lr), "patch_frames",
		    tp.patch_frames, "patches_per_item", tp.patches_per_item, "lr_factor", fdec(tp.lr_factor),
		    "lr_patience", tp.lr_patience, "early_stop", tp.early_stop, "loss", losses[tp.loss],
		    "filters", info.arch.base_filters, "depth", info.arch.depth, "output",
		    outputs[info.output], "scaling", scalings[info.scaling], "snr_min_db", dp.snr_min_db,
		    "snr_max_db", dp.snr_max_db, "crop_seconds", dp.crop_seconds, "seed",
		    (json_int_t)tp.seed);
		if (o)
			json_object_set_new(o, "noise", noise_array(dp.noise_kinds));
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
	case P_NOISE: {
		size_t i;
		json_t *e;

		if (!json_is_array(val) || json_array_size(val) == 0)
			return refuse(v, field, "expected a non-empty array of white, pink, brown");
		json_array_foreach(val, i, e)
		{
			const char *s = json_string_value(e);
			int ok = 0;

			for (int k = 0; s && k < DN_NOISE_FILE; k++)
				ok |= strcmp(s, dn_noise_kind_name(k)) == 0;
			if (!ok) {
				snprintf(field, sizeof field, "params.%s[%zu]", d->name, i);
				return refuse(v, field, "expected white, pink or brown");
			}
		}
		return DN_OK;
	}
	case P_SNRS: {
		size_t i;
		json_t *e;

		if (!json_is_array(val) || json_array_size(val) == 0 ||
		    json_array_size(val) > DN_EVAL_MAX_SNRS)
			return refuse(v, field, "expected an array of 1 to %d numbers (dB)",
			              DN_EVAL_MAX_SNRS);
		json_array_foreach(val, i, e)
		{
			double x = json_number_value(e);

			if (!json_is_number(e) || !(x >= d->lo && x <= d->hi)) {
				snprintf(field, sizeof field, "params.%s[%zu]", d->name, i);
				return refuse(v, field, "expected a number of dB in [%g, %g]", d->lo, d->hi);
			}
		}
		return DN_OK;
	}
	}
	return refuse(v, field, "unknown parameter type");
}

/* What a runner needs, from a normalized spec. */
typedef struct job_conf {
	int type;
	char model[128]; /* "" = the default (eval) or a new network (train) */
	char dataset[PATH_MAX];
	char dataset_path[PATH_MAX];
	int dataset_kind;
	int builtin;
	char register_as[128];
	dn_train_params tp;
	dn_model_info info;
	dn_dataset_params dp;
	dn_eval_params ep;
} job_conf;

static int valid_name(const char *s)
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
		snprintf(cand[n++], PATH_MAX, "%s/data/speech", DN_SRCDIR);
		snprintf(cand[n++], PATH_MAX, "%s/speech", DN_DATADIR);
	}
	for (int i = 0; i < n; i++)
		if (file_exists(cand[i], "manifest.tsv")) {
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

static int resolve_dataset(const jobs *J, job_conf *c, vstate *v)
{
	root_ctx rc = {c->dataset, c->dataset_path, 0};
	const char *s = c->dataset;

	if (strcmp(s, "speech") == 0) {
		builtin_speech_dir(J, c->dataset_path, sizeof c->dataset_path);
		c->dataset_kind = DN_DATASET_CORPUS;
		c->builtin = 1;
		return DN_OK;
	}
	/* A ".." component is refused outright, whatever it would resolve to. */
	for (const char *p = s; (p = strstr(p, "..")); p += 2)
		if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return refuse(v, "dataset",
			              "'%s' has a '..' component; name a folder under data_roots", s);
	if (!J->data_roots[0])
		return refuse(v, "dataset",
		              "'%s' is not a built-in data set (speech) and no data_roots are configured", s);
	daemon_config_list_each(J->data_roots, try_root, &rc);
	if (!rc.found)
		return refuse(v, "dataset",
		              "'%s' is not a built-in data set (speech) nor a folder inside data_roots (%s); "
		              "symbolic links out of a root are refused",
		              s, J->data_roots);
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
		for (int k = 0; k < DN_NOISE_FILE; k++)
			if (strcmp(json_string_value(e), dn_noise_kind_name(k)) == 0)
				m |= 1u << k;
	}
	return m;
}

/* Validates spec; fills c and (if norm is not NULL) the normalized spec. */
static int jobs_check_train_fit(jobs *J, const job_conf *c, vstate *v);

static int parse_spec(jobs *J, const json_t *spec, job_conf *c, json_t **norm, vstate *v)
{
	const char *key;
	json_t *val, *params, *given;
	int rc;

	memset(c, 0, sizeof *c);
	if (norm)
		*norm = NULL;
	if (!json_is_object(spec))
		return refuse(v, "(body)", "expected a JSON object {\"type\": \"train\"|\"eval\", ...}");
	json_object_foreach((json_t *)spec, key, val)
	{
		if (strcmp(key, "type") && strcmp(key, "model") && strcmp(key, "dataset") &&
		    strcmp(key, "params") && strcmp(key, "register_as"))
			return refuse(v, key,
			              "unknown member; a job spec has type, model, dataset, params, "
			              "register_as");
	}
	val = json_object_get(spec, "type");
	if (!val)
		return refuse(v, "type", "required: \"train\" or \"eval\"");
	if (!json_is_string(val) ||
	    (strcmp(json_string_value(val), "train") && strcmp(json_string_value(val), "eval")))
		return refuse(v, "type", "expected \"train\" or \"eval\"");
	c->type = strcmp(json_string_value(val), "train") == 0 ? JOB_TRAIN : JOB_EVAL;

	val = json_object_get(spec, "model");
	if (val && !json_is_string(val))
		return refuse(v, "model", "expected the name of a loaded model (GET /v1/models)");
	if (val) {
		api_model *m;

		if (!valid_name(json_string_value(val)))
			return refuse(v, "model", "'%s' is not a model name", json_string_value(val));
		snprintf(c->model, sizeof c->model, "%s", json_string_value(val));
		m = daemon_models_acquire(J->models, c->model);
		if (!m)
			return refuse(v, "model", "no model called '%s' is loaded (GET /v1/models)",
			              c->model);
		if (dn_model_get_info(daemon_model_get(m))->kind != DN_MODEL_AUDIO) {
			daemon_models_release(m);
			return refuse(v, "model", "'%s' is not a speech model", c->model);
		}
		daemon_models_release(m);
	} else if (c->type == JOB_EVAL) {
		api_model *m = daemon_models_acquire(J->models, NULL);

		if (!m)
			return refuse(v, "model", "no default model is loaded; name one (GET /v1/models)");
		snprintf(c->model, sizeof c->model, "%s", daemon_model_name(m));
		daemon_models_release(m);
	}

	val = json_object_get(spec, "dataset");
	if (val &&
	    (!json_is_string(val) || !json_string_length(val) || json_string_length(val) >= PATH_MAX / 2))
		return refuse(v, "dataset", "expected a data set name: speech, or a folder under data_roots");
	snprintf(c->dataset, sizeof c->dataset, "%s", val ? json_string_value(val) : "speech");
	if ((rc = resolve_dataset(J, c, v)))
		return rc;

	val = json_object_get(spec, "register_as");
	if (val) {
		if (c->type != JOB_TRAIN)
			return refuse(v, "register_as", "only a training job makes a model to register");
		if (!json_is_string(val) || !valid_name(json_string_value(val)))
			return refuse(v, "register_as", "expected a model name: 1-64 of A-Z a-z 0-9 - _ .");
		snprintf(c->register_as, sizeof c->register_as, "%s", json_string_value(val));
	}

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
			char field[96];

			for (size_t i = 0; i < NPARAMS && !d; i++)
				if (strcmp(params_table[i].name, key) == 0 &&
				    (params_table[i].jobs & (1u << c->type)))
					d = &params_table[i];
			if (!d) {
				json_decref(params);
				snprintf(field, sizeof field, "params.%s", key);
				return refuse(v, field, "unknown parameter for a %s job",
				              c->type == JOB_TRAIN ? "training" : "evaluation");
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
#define PF(k) json_number_value(json_object_get(params, k))
#define PS(k) json_string_value(json_object_get(params, k))
	c->dp = dn_dataset_default_params();
	c->dp.kind = c->dataset_kind;
	c->dp.seed = (uint64_t)json_integer_value(json_object_get(params, "seed"));
	c->dp.noise_kinds = noise_mask(json_object_get(params, "noise"));
	if (c->type == JOB_TRAIN) {
		c->tp = dn_train_default_params();
		c->info = dn_model_default_info(DN_MODEL_AUDIO);
		c->tp.epochs = PI("epochs");
		c->tp.batch = PI("batch");
		c->tp.lr = (float)PF("lr");
		c->tp.patch_frames = PI("patch_frames");
		c->tp.patches_per_item = PI("patches_per_item");
		c->tp.lr_factor = (float)PF("lr_factor");
		c->tp.lr_patience = PI("lr_patience");
		c->tp.early_stop = PI("early_stop");
		c->tp.loss = pick_choice(losses, PS("loss"));
		c->tp.seed = c->dp.seed;
		c->info.arch.base_filters = PI("filters");
		c->info.arch.depth = PI("depth");
		c->info.output = pick_choice(outputs, PS("output"));
		c->info.scaling = pick_choice(scalings, PS("scaling"));
		c->dp.snr_min_db = PF("snr_min_db");
		c->dp.snr_max_db = PF("snr_max_db");
		c->dp.crop_seconds = PF("crop_seconds");
		if (c->dp.snr_min_db > c->dp.snr_max_db) {
			json_decref(params);
			return refuse(v, "params.snr_max_db", "must not be below params.snr_min_db");
		}
		/* Fields that pass one by one can still not fit together. */
		if ((rc = jobs_check_train_fit(J, c, v)) != DN_OK) {
			json_decref(params);
			return rc;
		}
	} else {
		json_t *snrs = json_object_get(params, "snr_db");
		size_t i;
		json_t *e;

		c->ep = dn_eval_default_params();
		c->dp.split = dn_split_parse(PS("split"));
		c->ep.max_files = (size_t)PI("max_files");
		c->ep.examples = PI("examples");
		c->ep.seed = c->dp.seed;
		c->ep.noise_mask = c->dp.noise_kinds;
		c->ep.n_snr = 0;
		json_array_foreach(snrs, i, e) c->ep.snr_db[c->ep.n_snr++] = json_number_value(e);
	}
#undef PI
#undef PF
#undef PS
	if (norm) {
		*norm = json_pack("{s:s, s:s, s:O}", "type", c->type == JOB_TRAIN ? "train" : "eval",
		                  "dataset", c->dataset, "params", params);
		if (*norm && c->model[0])
			json_object_set_new(*norm, "model", json_string(c->model));
		if (*norm && c->register_as[0])
			json_object_set_new(*norm, "register_as", json_string(c->register_as));
	}
	json_decref(params);
	if (norm && !*norm)
		return dn_error_set(v->err, DN_ENOMEM, "out of memory");
	return DN_OK;
}

/* A training spec's combination, checked at submit rather than found at run
 * time: the architecture's own rules (dn_unet_config_check), then the
 * estimated memory of one step against job_memory_budget. */
static int jobs_check_train_fit(jobs *J, const job_conf *c, vstate *v)
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

/* ---- job objects ---- */

static json_t *progress_json(const job *jb)
{
	json_t *p;

	if (!jb->have_progress)
		return json_null();
	p = json_pack("{s:o, s:o}", "fraction", num(jb->fraction), "eta_s", num(jb->eta_s));
	if (p && jb->type == JOB_TRAIN) {
		json_object_set_new(p, "epoch", json_integer(jb->epoch));
		json_object_set_new(p, "epochs", json_integer(jb->epochs));
		json_object_set_new(p, "step", json_integer((json_int_t)jb->step));
		json_object_set_new(p, "steps", json_integer((json_int_t)jb->steps));
		json_object_set_new(p, "loss", num(jb->loss));
		json_object_set_new(p, "val_loss", num(jb->val_loss));
	} else if (p) {
		json_object_set_new(p, "files_done", json_integer((json_int_t)jb->step));
		json_object_set_new(p, "files", json_integer((json_int_t)jb->steps));
	}
	return p;
}

/* Caller holds J->mu. with_metrics: the metrics of a finished job too. */
static json_t *job_json(const job *jb, int with_metrics)
{
	char link[64];
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:O, s:o, s:o, s:o, s:o, s:b, s:i}", "id", jb->id, "type",
	              jb->type == JOB_TRAIN ? "train" : "eval", "state", state_names[jb->state], "spec",
	              jb->spec, "created", iso_time(jb->created_ms), "started", iso_time(jb->started_ms),
	              "finished", iso_time(jb->finished_ms), "progress", progress_json(jb),
	              "cancel_requested", jb->cancel_requested, "resumes", jb->resumes);

	if (!o)
		return NULL;
	json_object_set_new(o, "error", jb->error[0] ? json_string(jb->error) : json_null());
	if (jb->registered[0])
		json_object_set_new(o, "registered_as", json_string(jb->registered));
	if (with_metrics)
		json_object_set_new(o, "metrics", jb->metrics ? json_incref(jb->metrics) : json_null());
	snprintf(link, sizeof link, "/v1/jobs/%s", jb->id);
	json_object_set_new(
	    o, "links",
	    json_pack("{s:s, s:s+, s:s+}", "self", link, "plots", link, "/plots", "events", link, "/events"));
	return o;
}

/* status.json: what a restart needs besides the spec. Caller holds J->mu. */
static int save_status(const job *jb, dn_error *err)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:b, s:i, s:s}", "id", jb->id, "seq",
	                      (json_int_t)jb->seq, "type", jb->type == JOB_TRAIN ? "train" : "eval", "state",
	                      state_names[jb->state], "created_ms", (json_int_t)jb->created_ms, "started_ms",
	                      (json_int_t)jb->started_ms, "finished_ms", (json_int_t)jb->finished_ms, "error",
	                      jb->error, "cancel_requested", jb->cancel_requested, "resumes", jb->resumes,
	                      "registered_as", jb->registered);
	int rc;

	if (!o)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	rc = write_json(jb->dir, "status.json", o, err);
	json_decref(o);
	return rc;
}

static void save_status_logged(const job *jb)
{
	dn_error err;

	if (save_status(jb, &err) != DN_OK)
		daemon_log(LOG_LVL_ERROR, "job %s: %s", jb->id, err.msg);
}

static void save_progress(job *jb)
{
	json_t *p = progress_json(jb);
	dn_error err;

	if (p && !json_is_null(p) && write_json(jb->dir, "progress", p, &err) != DN_OK)
		daemon_log(LOG_LVL_WARNING, "job %s: %s", jb->id, err.msg);
	json_decref(p);
	jb->last_write = mono_s();
}

/* Fires the watches of job id (NULL: all). Caller holds J->mu. */
static void fire_watches(jobs *J, const char *id)
{
	for (size_t i = 0; i < J->nw;) {
		if (!id || strcmp(J->w[i].id, id) == 0) {
			watch w = J->w[i];

			J->w[i] = J->w[--J->nw];
			w.wake(w.arg);
		} else {
			i++;
		}
	}
}

/* Caller holds J->mu. */
static void changed(jobs *J, job *jb)
{
	jb->version++;
	jb->last_wake = mono_s();
	fire_watches(J, jb->id);
}

static job *find(jobs *J, const char *id)
{
	for (size_t i = 0; i < J->n; i++)
		if (strcmp(J->v[i]->id, id) == 0)
			return J->v[i];
	return NULL;
}

static void job_free(job *jb)
{
	if (!jb)
		return;
	json_decref(jb->spec);
	json_decref(jb->metrics);
	free(jb);
}

static int add_job(jobs *J, job *jb)
{
	if (J->n == J->cap) {
		size_t cap = J->cap ? 2 * J->cap : 32;
		job **v = realloc(J->v, cap * sizeof *v);

		if (!v)
			return DN_ENOMEM;
		J->v = v;
		J->cap = cap;
	}
	/* Kept sorted by seq: recovered jobs come in directory order. */
	size_t at = J->n;

	while (at > 0 && J->v[at - 1]->seq > jb->seq)
		at--;
	memmove(J->v + at + 1, J->v + at, (J->n - at) * sizeof *J->v);
	J->v[at] = jb;
	J->n++;
	return DN_OK;
}

/* ---- running ---- */

typedef struct run_ctx {
	jobs *J;
	job *jb;
} run_ctx;

/* Records progress; the job's stop flag is the answer. */
static int on_train(const dn_train_progress *p, void *user)
{
	run_ctx *c = user;
	job *jb = c->jb;
	double t = mono_s();

	pthread_mutex_lock(&c->J->mu);
	jb->have_progress = 1;
	jb->epoch = p->epoch;
	jb->epochs = p->epochs;
	jb->step = p->step;
	jb->steps = p->steps;
	jb->loss = p->loss;
	jb->val_loss = p->val_loss;
	jb->eta_s = p->eta_s;
	jb->fraction = p->epochs > 0
	                   ? ((double)(p->epoch - 1) + (p->epoch_done ? 1.0
	                                                : p->steps    ? (double)p->step / (double)p->steps
	                                                              : 0.0)) /
	                         (double)p->epochs
	                   : 0.0;
	if (p->epoch_done || t - jb->last_wake >= PROGRESS_WAKE_S)
		changed(c->J, jb);
	if (p->epoch_done || t - jb->last_write >= PROGRESS_WRITE_S)
		save_progress(jb);
	pthread_mutex_unlock(&c->J->mu);
	if (p->epoch_done)
		job_log(jb, "epoch %d/%d loss %.6g val_loss %.6g lr %.3g", p->epoch, p->epochs, p->loss,
		        p->val_loss, (double)p->lr);
	return atomic_load(&jb->stop) != STOP_NONE;
}

static int on_eval(const dn_eval_progress *p, void *user)
{
	run_ctx *c = user;
	job *jb = c->jb;
	double t = mono_s();

	pthread_mutex_lock(&c->J->mu);
	jb->have_progress = 1;
	jb->step = (int64_t)p->done;
	jb->steps = (int64_t)p->total;
	jb->fraction = p->total ? (double)p->done / (double)p->total : 0.0;
	jb->eta_s = p->eta_s;
	if (p->done == p->total || t - jb->last_wake >= PROGRESS_WAKE_S)
		changed(c->J, jb);
	if (p->done == p->total || t - jb->last_write >= PROGRESS_WRITE_S)
		save_progress(jb);
	pthread_mutex_unlock(&c->J->mu);
	return atomic_load(&jb->stop) != STOP_NONE;
}

static int corpus_missing(const job_conf *c, dn_error *err)
{
	if (c->builtin && !file_exists(c->dataset_path, "manifest.tsv"))
		return dn_error_set(
		    err, DN_ENOTFOUND,
		    "the built-in speech corpus is not at %s: generate it with "
		    "scripts/make-speech-corpus.py --out %s (needs espeak-ng and sox), or name a "
		    "dataset under data_roots",
		    c->dataset_path, c->dataset_path);
	return DN_OK;
}

static int run_eval(run_ctx *rc, const job_conf *c, json_t **metrics, json_t **plots, dn_error *err)
{
	api_model *m = daemon_models_acquire(rc->J->models, c->model);
	dn_dataset_params dp = c->dp;
	dn_dataset *d = NULL;
	dn_eval_result *res = NULL;
	char *text = NULL;
	json_error_t je;
	int st;

	if (!m)
		return dn_error_set(err, DN_ENOTFOUND, "model '%s' is no longer loaded", c->model);
	dp.path = c->dataset_path;
	st = corpus_missing(c, err);
	if (!st)
		st = dn_dataset_open(&dp, &d, err);
	if (!st) {
		dn_clean_source src = dn_dataset_clean_source(d);

		job_log(rc->jb, "evaluating model '%s' on %s (%s split, %zu files; %s)", c->model, c->dataset,
		        dn_split_name(dp.split), dn_dataset_count(d), c->dataset_path);
		st = dn_eval_speech(daemon_model_get(m), &src, &c->ep, on_eval, rc, &res, err);
	}
	if (!st)
		st = dn_eval_to_json(res, NULL, &text, err);
	if (!st) {
		json_t *all = json_loads(text, 0, &je);

		if (!all) {
			st = dn_error_set(err, DN_ENOMEM, "cannot parse the evaluation JSON: %s", je.text);
		} else {
			*plots = json_incref(json_object_get(all, "plots"));
			json_object_del(all, "plots");
			json_object_set_new(all, "model_name", json_string(c->model));
			*metrics = all;
		}
	}
	free(text);
	dn_eval_result_free(res);
	dn_dataset_destroy(d);
	daemon_models_release(m);
	return st;
}

static json_t *training_plots(const dn_train_history *h)
{
	json_t *ep = json_array(), *loss = json_array(), *vl = json_array(), *lr = json_array(),
	       *sec = json_array();

	for (int i = 0; i < h->epochs; i++) {
		json_array_append_new(ep, json_integer(i + 1));
		json_array_append_new(loss, num(h->loss[i]));
		json_array_append_new(vl, num(h->val_loss[i]));
		json_array_append_new(lr, num(fdec(h->lr[i])));
		json_array_append_new(sec, num(h->seconds[i]));
	}
	return json_pack("{s:{s:o, s:o, s:o, s:o, s:o, s:i, s:b}}", "training", "epoch", ep, "loss", loss,
	                 "val_loss", vl, "lr", lr, "seconds", sec, "best_epoch", h->best_epoch,
	                 "stopped_early", h->stopped_early);
}

static int run_train(run_ctx *rc, const job_conf *c, json_t **metrics, json_t **plots, dn_error *err)
{
	job *jb = rc->jb;
	dn_dataset_params dp = c->dp, vp;
	dn_dataset *train = NULL, *valid = NULL;
	dn_model *m = NULL;
	dn_train_params tp = c->tp;
	dn_train_history *hist = calloc(1, sizeof *hist);
	char ckpt[PATH_MAX], best[PATH_MAX], buf[512], when[64];
	double t0 = mono_s();
	time_t now = time(NULL);
	int st;

	if (!hist)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", jb->dir);
	snprintf(best, sizeof best, "%s/model.safetensors", jb->dir);
	tp.checkpoint = ckpt;
	tp.best = best;
	tp.resume = 1; /* from the checkpoint when there is one (a restart) */
	dp.path = c->dataset_path;
	dp.split = DN_SPLIT_TRAIN;
	vp = dp;
	vp.split = DN_SPLIT_VALID;
	vp.crop_seconds = 0.0;
	st = corpus_missing(c, err);
	if (!st && (st = dn_dataset_open(&dp, &train, err)))
		dn_error_set(err, st, "training data: %s", err->msg);
	if (!st && (st = dn_dataset_open(&vp, &valid, err)))
		dn_error_set(err, st, "validation data: %s", err->msg);
	if (!st && c->model[0]) {
		api_model *am = daemon_models_acquire(rc->J->models, c->model);

		if (!am)
			st = dn_error_set(err, DN_ENOTFOUND, "model '%s' is no longer loaded", c->model);
		else
			st = dn_model_load(daemon_model_path(am), &m, err);
		daemon_models_release(am);
	} else if (!st) {
		dn_model_info info = c->info;
		dn_unet *net;

		snprintf(info.version, sizeof info.version, "%s", jb->id);
		if (!(st = dn_unet_create(&info.arch, tp.seed, &net, err)))
			st = dn_model_create(&info, net, &m, err);
	}
	if (!st) {
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		snprintf(buf, sizeof buf,
		         "%s dataset %.100s (%.200s): %zu training / %zu validation files, SNR %g..%g dB",
		         dn_dataset_kind_name(dp.kind), c->dataset, dp.path, dn_dataset_count(train),
		         dn_dataset_count(valid), dp.snr_min_db, dp.snr_max_db);
		dn_model_set_metadata(m, "train.data", buf, NULL);
		dn_model_set_metadata(m, "train.job", jb->id, NULL);
		dn_model_set_metadata(m, "train.started", when, NULL);
		job_log(jb, "training on %zu files, validating on %zu; %zu parameters%s",
		        dn_dataset_count(train), dn_dataset_count(valid),
		        dn_unet_param_count(dn_model_unet(m)),
		        access(ckpt, F_OK) == 0 ? "; resuming from the checkpoint" : "");
		{
			dn_pair_source ts = dn_dataset_pair_source(train), vs = dn_dataset_pair_source(valid);

			st = dn_train_speech(m, &ts, &vs, &tp, on_train, rc, hist, err);
		}
	}
	if (!st) {
		snprintf(buf, sizeof buf, "%.1f", mono_s() - t0);
		dn_model_set_metadata(m, "train.seconds", buf, NULL);
		snprintf(buf, sizeof buf, "%d of %d%s", hist->epochs, tp.epochs,
		         hist->stopped_early ? " (early stop)" : "");
		dn_model_set_metadata(m, "train.epochs", buf, NULL);
		snprintf(buf, sizeof buf, "%.9g", hist->best_val_loss);
		dn_model_set_metadata(m, "train.best_val_loss", buf, NULL);
		snprintf(buf, sizeof buf, "%d", hist->best_epoch);
		dn_model_set_metadata(m, "train.best_epoch", buf, NULL);
		st = dn_model_save(m, best, NULL, err);
	}
	if (!st) {
		int last = hist->epochs - 1;

		*metrics = json_pack(
		    "{s:i, s:o, s:i, s:i, s:b, s:o, s:o, s:I, s:I, s:I, s:s}", "best_epoch", hist->best_epoch,
		    "best_val_loss", num(hist->best_val_loss), "epochs", hist->epochs, "max_epochs",
		    tp.epochs, "stopped_early", hist->stopped_early, "final_loss",
		    num(last >= 0 ? hist->loss[last] : NAN), "final_val_loss",
		    num(last >= 0 ? hist->val_loss[last] : NAN), "train_files",
		    (json_int_t)dn_dataset_count(train), "valid_files", (json_int_t)dn_dataset_count(valid),
		    "parameters", (json_int_t)dn_unet_param_count(dn_model_unet(m)), "model_version",
		    dn_model_get_info(m)->version);
		*plots = training_plots(hist);
	}
	dn_model_destroy(m);
	dn_dataset_destroy(train);
	dn_dataset_destroy(valid);
	free(hist);
	return st;
}

static void run_one(jobs *J, job *jb)
{
	run_ctx rc = {J, jb};
	job_conf *c = calloc(1, sizeof *c);
	json_t *metrics = NULL, *plots = NULL;
	char field[96];
	vstate v;
	dn_error err = {0};
	int st, stop;

	v = (vstate){field, sizeof field, &err};
	if (!c) {
		st = dn_error_set(&err, DN_ENOMEM, "out of memory");
	} else {
		pthread_mutex_lock(&J->mu);
		st = parse_spec(J, jb->spec, c, NULL, &v);
		pthread_mutex_unlock(&J->mu);
		if (st)
			dn_error_set(&err, st, "the spec is no longer valid here: %s", err.msg);
	}
	if (!st)
		st = c->type == JOB_TRAIN ? run_train(&rc, c, &metrics, &plots, &err)
		                          : run_eval(&rc, c, &metrics, &plots, &err);
	if (!st && plots && write_json(jb->dir, "plots.json", plots, &err) == DN_OK)
		st = write_json(jb->dir, "metrics.json", metrics, &err);
	stop = atomic_load(&jb->stop);
	pthread_mutex_lock(&J->mu);
	if (st == DN_ECANCELLED && stop == STOP_SHUTDOWN) {
		/* Not the user's doing: runs again at the next start. */
		jb->state = ST_QUEUED;
		jb->started_ms = 0;
	} else {
		jb->finished_ms = now_ms();
		if (!st) {
			jb->state = ST_SUCCEEDED;
			jb->metrics = json_incref(metrics);
			jb->fraction = 1.0;
		} else if (st == DN_ECANCELLED) {
			jb->state = ST_CANCELLED;
		} else {
			jb->state = ST_FAILED;
			snprintf(jb->error, sizeof jb->error, "%s", err.msg);
		}
	}
	save_progress(jb);
	save_status_logged(jb);
	changed(J, jb);
	pthread_mutex_unlock(&J->mu);
	if (st == DN_ECANCELLED && stop == STOP_SHUTDOWN)
		job_log(jb, "interrupted by shutdown; runs again at the next start");
	else if (st == DN_ECANCELLED)
		job_log(jb, "cancelled%s",
		        file_exists(jb->dir, "checkpoint.safetensors")
		            ? "; the checkpoint of the last finished epoch is kept"
		            : "");
	else if (st)
		job_log(jb, "failed: %s", err.msg);
	else
		job_log(jb, "succeeded");
	if (!st && c->register_as[0]) {
		dn_error rerr;

		if (jobs_register_model(J, jb->id, c->register_as, &rerr) != DN_OK)
			job_log(jb, "register_as %s: %s", c->register_as, rerr.msg);
	}
	json_decref(metrics);
	json_decref(plots);
	free(c);
}

static void *runner(void *arg)
{
	jobs *J = arg;

	/* Linux's nice is per thread: jobs give way to the request workers
	 * instead of doubling their latency. */
	if (J->nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), J->nice) != 0)
		daemon_log(LOG_LVL_WARNING, "jobs: cannot set nice %d on a job thread: %s", J->nice,
		           strerror(errno));
	pthread_mutex_lock(&J->mu);
	for (;;) {
		job *jb = NULL;

		for (size_t i = 0; i < J->n && !jb; i++)
			if (J->v[i]->state == ST_QUEUED)
				jb = J->v[i];
		if (J->stopping)
			break;
		if (!jb) {
			pthread_cond_wait(&J->work, &J->mu);
			continue;
		}
		jb->state = ST_RUNNING;
		jb->started_ms = now_ms();
		atomic_store(&jb->stop, STOP_NONE);
		save_status_logged(jb);
		changed(J, jb);
		pthread_mutex_unlock(&J->mu);
		job_log(jb, "started");
		run_one(J, jb);
		pthread_mutex_lock(&J->mu);
	}
	pthread_mutex_unlock(&J->mu);
	return NULL;
}

static void *heartbeat(void *arg)
{
	jobs *J = arg;

	pthread_mutex_lock(&J->mu);
	while (!J->stopping) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += HEARTBEAT_S;
		pthread_cond_timedwait(&J->tick, &J->mu, &ts);
		fire_watches(J, NULL);
	}
	pthread_mutex_unlock(&J->mu);
	return NULL;
}

/* ---- start-up ---- */

static int state_index(const char *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (s && strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

/* Loads one job folder; NULL (logged) when it is not one. */
static job *recover(jobs *J, const char *name)
{
	job *jb = calloc(1, sizeof *jb);
	json_t *st, *prog;
	const char *s;

	if (!jb)
		return NULL;
	if ((size_t)snprintf(jb->dir, sizeof jb->dir, "%s/%s", J->jobs_dir, name) >= sizeof jb->dir) {
		job_free(jb);
		return NULL;
	}
	jb->spec = read_json(jb->dir, "spec.json");
	st = read_json(jb->dir, "status.json");
	if (!jb->spec || !st || !json_is_string(json_object_get(st, "id")) ||
	    state_index(json_string_value(json_object_get(st, "state"))) < 0) {
		daemon_log(LOG_LVL_WARNING, "state_dir: %s is not a readable job folder; skipped", jb->dir);
		json_decref(st);
		job_free(jb);
		return NULL;
	}
	snprintf(jb->id, sizeof jb->id, "%s", json_string_value(json_object_get(st, "id")));
	jb->seq = (uint64_t)json_integer_value(json_object_get(st, "seq"));
	s = json_string_value(json_object_get(st, "type"));
	jb->type = s && strcmp(s, "train") == 0 ? JOB_TRAIN : JOB_EVAL;
	jb->state = state_index(json_string_value(json_object_get(st, "state")));
	jb->created_ms = json_integer_value(json_object_get(st, "created_ms"));
	jb->started_ms = json_integer_value(json_object_get(st, "started_ms"));
	jb->finished_ms = json_integer_value(json_object_get(st, "finished_ms"));
	jb->cancel_requested = json_is_true(json_object_get(st, "cancel_requested"));
	jb->resumes = (int)json_integer_value(json_object_get(st, "resumes"));
	snprintf(jb->error, sizeof jb->error, "%s",
	         json_string_value(json_object_get(st, "error"))
	             ? json_string_value(json_object_get(st, "error"))
	             : "");
	snprintf(jb->registered, sizeof jb->registered, "%s",
	         json_string_value(json_object_get(st, "registered_as"))
	             ? json_string_value(json_object_get(st, "registered_as"))
	             : "");
	json_decref(st);
	prog = read_json(jb->dir, "progress");
	if (prog) {
		jb->have_progress = 1;
		jb->fraction = json_number_value(json_object_get(prog, "fraction"));
		jb->eta_s = json_number_value(json_object_get(prog, "eta_s"));
		jb->epoch = (int)json_integer_value(json_object_get(prog, "epoch"));
		jb->epochs = (int)json_integer_value(json_object_get(prog, "epochs"));
		jb->step =
		    json_integer_value(json_object_get(prog, jb->type == JOB_TRAIN ? "step" : "files_done"));
		jb->steps =
		    json_integer_value(json_object_get(prog, jb->type == JOB_TRAIN ? "steps" : "files"));
		jb->loss = json_is_number(json_object_get(prog, "loss"))
		               ? json_number_value(json_object_get(prog, "loss"))
		               : NAN;
		jb->val_loss = json_is_number(json_object_get(prog, "val_loss"))
		                   ? json_number_value(json_object_get(prog, "val_loss"))
		                   : NAN;
		json_decref(prog);
	}
	if (jb->state == ST_SUCCEEDED)
		jb->metrics = read_json(jb->dir, "metrics.json");
	if (jb->state == ST_RUNNING) {
		/* The daemon died while it ran. */
		if (jb->type == JOB_TRAIN && jb->resumes >= JOB_MAX_RESUMES) {
			/* The job may be what kills the daemon (memory): a restart
			 * loop would take the service down with it. */
			jb->state = ST_FAILED;
			jb->finished_ms = now_ms();
			snprintf(jb->error, sizeof jb->error,
			         "the daemon stopped while this job ran %d times; not resumed again (its "
			         "checkpoint is kept; submit it again to go on)",
			         jb->resumes + 1);
			job_log(jb, "%s", jb->error);
		} else if (jb->type == JOB_TRAIN) {
			int ck = file_exists(jb->dir, "checkpoint.safetensors");

			jb->state = ST_QUEUED;
			jb->started_ms = 0;
			jb->resumes++;
			job_log(jb, "the daemon stopped while this job ran; queued again, %s",
			        ck ? "to resume from its last checkpoint"
			           : "from the start (no epoch had finished)");
		} else {
			jb->state = ST_FAILED;
			jb->finished_ms = now_ms();
			snprintf(
			    jb->error, sizeof jb->error,
			    "interrupted: the daemon stopped while this evaluation ran (an evaluation has no "
			    "checkpoint); submit it again");
			job_log(jb, "%s", jb->error);
		}
		save_status_logged(jb);
	}
	return jb;
}

static int mkdir_p(const char *path, dn_error *err)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return dn_error_set(err, DN_EIO, "%s: %s", path, strerror(errno));
	return DN_OK;
}

void jobs_models_dir(const char *state_dir, char *out, size_t cap)
{
	snprintf(out, cap, "%s/models", state_dir);
}

int jobs_create(const jobs_params *p, jobs **out, dn_error *err)
{
	jobs *J = calloc(1, sizeof *J);
	DIR *d;
	struct dirent *de;
	int rc;

	*out = NULL;
	if (!J)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	pthread_mutex_init(&J->mu, NULL);
	pthread_cond_init(&J->work, NULL);
	pthread_cond_init(&J->tick, NULL);
	J->state_dir = strdup(p->state_dir ? p->state_dir : "");
	J->data_roots = strdup(p->data_roots ? p->data_roots : "");
	J->speech_dir = strdup(p->speech_dir ? p->speech_dir : "");
	J->max_jobs = p->max_jobs > 0 ? p->max_jobs : 1;
	J->max_queued = p->max_queued > 0 ? p->max_queued : 1;
	J->job_memory_budget = p->job_memory_budget;
	J->nice = p->nice;
	J->models = p->models;
	J->next_seq = 1;
	if (!J->state_dir || !J->data_roots || !J->speech_dir) {
		jobs_destroy(J);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	if (strlen(J->state_dir) + 6 >= sizeof J->jobs_dir) {
		jobs_destroy(J);
		return dn_error_set(err, DN_EINVAL, "state_dir: path too long");
	}
	snprintf(J->jobs_dir, sizeof J->jobs_dir, "%s/jobs", J->state_dir);
	if ((rc = mkdir_p(J->jobs_dir, err))) {
		jobs_destroy(J);
		return rc;
	}
	d = opendir(J->jobs_dir);
	if (!d) {
		rc = dn_error_set(err, DN_EIO, "%s: %s", J->jobs_dir, strerror(errno));
		jobs_destroy(J);
		return rc;
	}
	while ((de = readdir(d))) {
		job *jb;

		if (de->d_name[0] == '.')
			continue;
		if (!(jb = recover(J, de->d_name)))
			continue;
		if (find(J, jb->id) || add_job(J, jb) != DN_OK) {
			job_free(jb);
			continue;
		}
		if (jb->seq >= J->next_seq)
			J->next_seq = jb->seq + 1;
	}
	closedir(d);
	J->runners = calloc((size_t)J->max_jobs, sizeof *J->runners);
	if (!J->runners) {
		jobs_destroy(J);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	for (int i = 0; i < J->max_jobs; i++) {
		if (pthread_create(&J->runners[i], NULL, runner, J) != 0) {
			jobs_destroy(J);
			return dn_error_set(err, DN_EIO, "cannot start a job thread");
		}
		J->nrunners++;
	}
	if (pthread_create(&J->ticker, NULL, heartbeat, J) != 0) {
		jobs_destroy(J);
		return dn_error_set(err, DN_EIO, "cannot start the heartbeat thread");
	}
	J->ticker_started = 1;
	daemon_log(LOG_LVL_INFO, "jobs: %zu in %s; %d at a time, %d may wait", J->n, J->jobs_dir, J->max_jobs,
	           J->max_queued);
	*out = J;
	return DN_OK;
}

void jobs_destroy(jobs *J)
{
	if (!J)
		return;
	pthread_mutex_lock(&J->mu);
	J->stopping = 1;
	J->closing = 1;
	for (size_t i = 0; i < J->n; i++)
		if (J->v[i]->state == ST_RUNNING)
			atomic_store(&J->v[i]->stop, STOP_SHUTDOWN);
	fire_watches(J, NULL);
	pthread_cond_broadcast(&J->work);
	pthread_cond_broadcast(&J->tick);
	pthread_mutex_unlock(&J->mu);
	for (int i = 0; i < J->nrunners; i++)
		pthread_join(J->runners[i], NULL);
	if (J->ticker_started)
		pthread_join(J->ticker, NULL);
	for (size_t i = 0; i < J->n; i++)
		job_free(J->v[i]);
	free(J->v);
	free(J->w);
	free(J->runners);
	free(J->state_dir);
	free(J->data_roots);
	free(J->speech_dir);
	pthread_cond_destroy(&J->work);
	pthread_cond_destroy(&J->tick);
	pthread_mutex_destroy(&J->mu);
	free(J);
}

/* ---- the API ---- */

int jobs_submit(jobs *J, const json_t *spec, json_t **out, char *field, size_t field_cap, dn_error *err)
{
	job_conf *c = calloc(1, sizeof *c);
	json_t *norm = NULL;
	vstate v = {field, field_cap, err};
	size_t queued = 0;
	job *jb;
	int rc;

	*out = NULL;
	if (field_cap)
		field[0] = '\0';
	if (!c)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	rc = parse_spec(J, spec, c, &norm, &v);
	free(c);
	if (rc)
		return rc;
	jb = calloc(1, sizeof *jb);
	if (!jb) {
		json_decref(norm);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	jb->spec = norm;
	jb->type =
	    strcmp(json_string_value(json_object_get(norm, "type")), "train") == 0 ? JOB_TRAIN : JOB_EVAL;
	jb->state = ST_QUEUED;
	jb->val_loss = jb->loss = NAN;
	pthread_mutex_lock(&J->mu);
	for (size_t i = 0; i < J->n; i++)
		queued += J->v[i]->state == ST_QUEUED;
	if (J->stopping) {
		rc = dn_error_set(err, DN_ECANCELLED, "the daemon is shutting down");
	} else if (queued >= (size_t)J->max_queued) {
		rc = dn_error_set(err, DN_ELIMIT, "%zu jobs are waiting (max_queued_jobs); retry later",
		                  queued);
	} else {
		jb->seq = J->next_seq++;
		snprintf(jb->id, sizeof jb->id, "j%06llu", (unsigned long long)jb->seq);
		snprintf(jb->dir, sizeof jb->dir, "%s/%s", J->jobs_dir, jb->id);
		jb->created_ms = now_ms();
		if (mkdir(jb->dir, 0755) != 0 && errno != EEXIST)
			rc = dn_error_set(err, DN_EIO, "%s: %s", jb->dir, strerror(errno));
		if (!rc)
			rc = write_json(jb->dir, "spec.json", norm, err);
		if (!rc)
			rc = save_status(jb, err);
		if (!rc)
			rc = add_job(J, jb) == DN_OK ? DN_OK : dn_error_set(err, DN_ENOMEM, "out of memory");
		if (!rc) {
			*out = job_json(jb, 1);
			pthread_cond_signal(&J->work);
		}
	}
	pthread_mutex_unlock(&J->mu);
	if (rc) {
		job_free(jb);
		return rc;
	}
	job_log(jb, "queued: %s", json_string_value(json_object_get(norm, "type")));
	return DN_OK;
}

json_t *jobs_get(jobs *J, const char *id, int view, dn_error *err)
{
	json_t *o = NULL;
	job *jb;
	char dir[PATH_MAX];
	int state;

	pthread_mutex_lock(&J->mu);
	jb = find(J, id);
	if (jb && view == JOBS_VIEW_STATUS)
		o = job_json(jb, 1);
	if (jb) {
		snprintf(dir, sizeof dir, "%s", jb->dir);
		state = jb->state;
	}
	pthread_mutex_unlock(&J->mu);
	if (!jb) {
		dn_error_set(err, DN_ENOTFOUND, "no job '%s' (GET /v1/jobs lists them)", id);
		return NULL;
	}
	if (view == JOBS_VIEW_PLOTS) {
		o = state == ST_SUCCEEDED ? read_json(dir, "plots.json") : NULL;
		if (!o)
			dn_error_set(err, DN_EUNSUPPORTED, "job '%s' is %s: plots come with success", id,
			             state_names[state]);
	}
	if (!o && view == JOBS_VIEW_STATUS)
		dn_error_set(err, DN_ENOMEM, "out of memory");
	return o;
}

json_t *jobs_list(jobs *J, const char *state, size_t limit, const char *cursor, size_t offset, dn_error *err)
{
	int want = -1;
	json_t *arr, *o;
	size_t i, skipped = 0, total = 0;
	const job *last = NULL;
	int more = 0;

	if (state && (want = state_index(state)) < 0) {
		dn_error_set(err, DN_EINVAL,
		             "state: '%s' is not queued, running, succeeded, failed or cancelled", state);
		return NULL;
	}
	arr = json_array();
	if (!arr) {
		dn_error_set(err, DN_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&J->mu);
	i = J->n;
	if (cursor) {
		job *c = find(J, cursor);

		if (!c) {
			pthread_mutex_unlock(&J->mu);
			json_decref(arr);
			dn_error_set(err, DN_EINVAL, "cursor: no job '%s'", cursor);
			return NULL;
		}
		while (i > 0 && J->v[i - 1]->seq >= c->seq)
			i--;
	}
	for (size_t k = 0; k < J->n; k++)
		total += want < 0 || J->v[k]->state == want;
	for (; i > 0; i--) {
		const job *jb = J->v[i - 1];

		if (want >= 0 && jb->state != want)
			continue;
		if (skipped < offset) {
			skipped++;
			continue;
		}
		if (json_array_size(arr) == limit) {
			more = 1;
			break;
		}
		json_array_append_new(arr, job_json(jb, 0));
		last = jb;
	}
	o = json_pack("{s:o, s:I}", "jobs", arr, "total", (json_int_t)total);
	if (o)
		json_object_set_new(o, "next_cursor", more && last ? json_string(last->id) : json_null());
	pthread_mutex_unlock(&J->mu);
	if (!o)
		dn_error_set(err, DN_ENOMEM, "out of memory");
	return o;
}

int jobs_cancel(jobs *J, const char *id, json_t **out, dn_error *err)
{
	job *jb;
	int rc = DN_OK;

	*out = NULL;
	pthread_mutex_lock(&J->mu);
	jb = find(J, id);
	if (!jb) {
		rc = dn_error_set(err, DN_ENOTFOUND, "no job '%s'", id);
	} else if (jb->state == ST_QUEUED) {
		jb->state = ST_CANCELLED;
		jb->cancel_requested = 1;
		jb->finished_ms = now_ms();
		save_status_logged(jb);
		changed(J, jb);
	} else if (jb->state == ST_RUNNING) {
		jb->cancel_requested = 1;
		atomic_store(&jb->stop, STOP_CANCEL);
		save_status_logged(jb);
		changed(J, jb);
	} else {
		rc = dn_error_set(err, DN_EUNSUPPORTED, "job '%s' is already %s", id, state_names[jb->state]);
	}
	if (jb && !rc)
		*out = job_json(jb, 0);
	pthread_mutex_unlock(&J->mu);
	if (!rc)
		job_log(jb, "cancel requested");
	return rc;
}

uint64_t jobs_version(jobs *J, const char *id, int *finished)
{
	uint64_t v = 0;
	job *jb;

	pthread_mutex_lock(&J->mu);
	jb = find(J, id);
	if (jb) {
		v = jb->version + 1; /* never 0 for a job that exists */
		*finished = jb->state >= ST_SUCCEEDED;
	} else {
		*finished = 1;
	}
	pthread_mutex_unlock(&J->mu);
	return v;
}

int jobs_watch(jobs *J, const char *id, uint64_t seen, void (*wake)(void *arg), void *arg)
{
	job *jb;
	int now = 0;

	pthread_mutex_lock(&J->mu);
	jb = find(J, id);
	if (!jb || jb->version + 1 != seen || J->closing) {
		now = 1;
	} else if (J->nw == J->capw) {
		size_t cap = J->capw ? 2 * J->capw : 16;
		watch *w = realloc(J->w, cap * sizeof *w);

		if (!w)
			now = 1;
		else {
			J->w = w;
			J->capw = cap;
		}
	}
	if (!now) {
		snprintf(J->w[J->nw].id, sizeof J->w[J->nw].id, "%s", id);
		J->w[J->nw].wake = wake;
		J->w[J->nw].arg = arg;
		J->nw++;
	}
	pthread_mutex_unlock(&J->mu);
	return now;
}

void jobs_unwatch(jobs *J, void *arg)
{
	pthread_mutex_lock(&J->mu);
	for (size_t i = 0; i < J->nw;)
		if (J->w[i].arg == arg)
			J->w[i] = J->w[--J->nw];
		else
			i++;
	pthread_mutex_unlock(&J->mu);
}

void jobs_close_streams(jobs *J)
{
	pthread_mutex_lock(&J->mu);
	J->closing = 1;
	fire_watches(J, NULL);
	pthread_mutex_unlock(&J->mu);
}

int jobs_closing(jobs *J)
{
	int c;

	pthread_mutex_lock(&J->mu);
	c = J->closing;
	pthread_mutex_unlock(&J->mu);
	return c;
}

/* Copies src to dst atomically (dst.tmp, fsync, rename). */
static int copy_file(const char *src, const char *dir, const char *name, dn_error *err)
{
	FILE *f = fopen(src, "rb");
	char *buf;
	long n;
	int rc;

	if (!f)
		return dn_error_set(err, DN_EIO, "%s: %s", src, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = n > 0 ? malloc((size_t)n) : NULL;
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return dn_error_set(err, DN_EIO, "%s: cannot read", src);
	}
	fclose(f);
	rc = write_atomic(dir, name, buf, (size_t)n, err);
	free(buf);
	return rc;
}

int jobs_register_model(jobs *J, const char *id, const char *name, dn_error *err)
{
	char src[PATH_MAX], dir[PATH_MAX], file[256], dst[PATH_MAX];
	job *jb;
	api_model *prev;
	int rc = DN_OK, failed;

	if (!valid_name(name))
		return dn_error_set(err, DN_EINVAL, "name: expected 1-64 of A-Z a-z 0-9 - _ .");
	pthread_mutex_lock(&J->mu);
	jb = find(J, id);
	if (!jb)
		rc = dn_error_set(err, DN_ENOTFOUND, "no job '%s'", id);
	else if (jb->type != JOB_TRAIN || jb->state != ST_SUCCEEDED)
		rc = dn_error_set(err, DN_EUNSUPPORTED,
		                  "job '%s' is %s %s job: only a succeeded training job has a model", id,
		                  state_names[jb->state], jb->type == JOB_TRAIN ? "training" : "evaluation");
	else
		snprintf(src, sizeof src, "%s/model.safetensors", jb->dir);
	pthread_mutex_unlock(&J->mu);
	if (rc)
		return rc;
	jobs_models_dir(J->state_dir, dir, sizeof dir);
	snprintf(file, sizeof file, "%s.safetensors", name);
	if ((size_t)snprintf(dst, sizeof dst, "%s/%s", dir, file) >= sizeof dst)
		return dn_error_set(err, DN_EINVAL, "state_dir: path too long");
	prev = daemon_models_acquire(J->models, name);
	if (prev && strcmp(daemon_model_path(prev), dst) != 0) {
		rc = dn_error_set(err, DN_EINVAL, "name: a model called '%s' is already served from %s", name,
		                  daemon_model_path(prev));
		daemon_models_release(prev);
		return rc;
	}
	daemon_models_release(prev);
	if ((rc = mkdir_p(dir, err)) || (rc = copy_file(src, dir, file, err)))
		return rc;
	failed = daemon_models_add(J->models, dir, err);
	if (failed < 0)
		return failed;
	prev = daemon_models_acquire(J->models, name);
	if (!prev)
		return dn_error_set(err, DN_EIO, "%s did not load (see the log)", dst);
	daemon_models_release(prev);
	pthread_mutex_lock(&J->mu);
	if ((jb = find(J, id))) {
		snprintf(jb->registered, sizeof jb->registered, "%s", name);
		save_status_logged(jb);
		changed(J, jb);
	}
	pthread_mutex_unlock(&J->mu);
	if (jb)
		job_log(jb, "model registered as '%s' (%s)", name, dst);
	return DN_OK;
}
