/*
 * models.c — see models.h. The registry's list of current models is guarded
 * by a mutex held only to copy pointers and take references; loading, which
 * is slow, happens outside it.
 */
#include "daemon/models.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/cuda/cuda.h"
#include "daemon/config.h"
#include "daemon/log.h"

struct api_model {
	atomic_int refs;
	atomic_int retired; /* replaced or dropped by a reload */
	char name[128];
	char path[PATH_MAX];
	dn_model *model;
	int64_t loaded_at;
	pthread_mutex_t gpu_mu; /* guards gpu's creation */
	dn_gpu_server *gpu;     /* with device = cuda: made on first use, shared by workers */
};

struct daemon_models {
	pthread_mutex_t mu;
	pthread_mutex_t reload_mu; /* one reload (or add) at a time; guards list */
	char *list, *fallback, *default_name;
	api_model **cur; /* sorted by name */
	size_t n;
	int max; /* models served at once; 0: no limit */
	api_model *def;
	/* Files that did not load at the last start or reload (guarded by mu):
	 * readiness and /metrics report them. */
	struct broken {
		char name[128];
		char why[DN_ERROR_MSG_MAX];
	} * broken;
	size_t nbroken;
};

/* One file to serve: its model name and path. */
typedef struct entry {
	char name[128];
	char path[PATH_MAX];
} entry;

typedef struct entries {
	entry *v;
	size_t n, cap;
	dn_error *err;
} entries;

static const char EXT[] = ".safetensors";

static int add_entry(entries *e, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t blen, elen = sizeof EXT - 1;

	base = base ? base + 1 : path;
	blen = strlen(base);
	if (blen <= elen || strcmp(base + blen - elen, EXT) != 0)
		return dn_error_set(e->err, DN_EINVAL, "%s: model files end in %s", path, EXT);
	if (blen - elen >= sizeof e->v[0].name || strlen(path) >= sizeof e->v[0].path)
		return dn_error_set(e->err, DN_EINVAL, "%s: name too long", path);
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i].name, base, blen - elen) == 0 && e->v[i].name[blen - elen] == '\0')
			return dn_error_set(e->err, DN_EINVAL, "%s and %s would both be served as '%.*s'",
			                    e->v[i].path, path, (int)(blen - elen), base);
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 8;
		entry *v = realloc(e->v, cap * sizeof *v);

		if (!v)
			return dn_error_set(e->err, DN_ENOMEM, "out of memory");
		e->v = v;
		e->cap = cap;
	}
	memcpy(e->v[e->n].name, base, blen - elen);
	e->v[e->n].name[blen - elen] = '\0';
	strcpy(e->v[e->n].path, path);
	e->n++;
	return DN_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_dir(entries *e, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = DN_OK;

	if (!d)
		return dn_error_set(e->err, DN_EIO, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= sizeof EXT - 1 ||
		    strcmp(de->d_name + len - (sizeof EXT - 1), EXT) != 0)
			continue;
		if (n == cap) {
			char **v = realloc(names, (cap = cap ? 2 * cap : 8) * sizeof *v);

			if (!v) {
				rc = dn_error_set(e->err, DN_ENOMEM, "out of memory");
				break;
			}
			names = v;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = dn_error_set(e->err, DN_ENOMEM, "out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == DN_OK)
		if (n > 1)
			qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (rc == DN_OK) {
			if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path)
				rc = dn_error_set(e->err, DN_EINVAL, "%s/%s: path too long", dir, names[i]);
			else
				rc = add_entry(e, path);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int add_item(void *ctx, const char *item)
{
	entries *e = ctx;
	struct stat st;

	if (stat(item, &st) != 0)
		return dn_error_set(e->err, DN_EIO, "%s: %s", item, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return add_dir(e, item);
	return add_entry(e, item);
}

/* The files to serve now. */
static int scan(daemon_models *r, entries *e, dn_error *err)
{
	int rc;

	memset(e, 0, sizeof *e);
	e->err = err;
	if (r->list[0]) {
		rc = daemon_config_list_each(r->list, add_item, e);
		if (rc == DN_ENOMEM)
			dn_error_set(err, DN_ENOMEM, "out of memory");
	} else {
		struct stat st;

		/* The shipped models: none is not an error (readiness says so). */
		if (stat(r->fallback, &st) != 0 || !S_ISDIR(st.st_mode))
			return DN_OK;
		rc = add_dir(e, r->fallback);
	}
	if (rc != DN_OK) {
		free(e->v);
		e->v = NULL;
		e->n = 0;
	}
	return rc;
}

static api_model *load_one(const entry *en, dn_error *err)
{
	api_model *m = calloc(1, sizeof *m);
	int rc;

	if (!m) {
		dn_error_set(err, DN_ENOMEM, "out of memory");
		return NULL;
	}
	rc = dn_model_load(en->path, &m->model, err);
	if (rc != DN_OK) {
		free(m);
		return NULL;
	}
	atomic_init(&m->refs, 1);
	atomic_init(&m->retired, 0);
	pthread_mutex_init(&m->gpu_mu, NULL);
	strcpy(m->name, en->name);
	strcpy(m->path, en->path);
	m->loaded_at = (int64_t)time(NULL);
	return m;
}

void daemon_models_release(api_model *m)
{
	if (m && atomic_fetch_sub(&m->refs, 1) == 1) {
		dn_gpu_server_destroy(m->gpu);
		pthread_mutex_destroy(&m->gpu_mu);
		dn_model_destroy(m->model);
		free(m);
	}
}

static api_model *ref(api_model *m)
{
	if (m)
		atomic_fetch_add(&m->refs, 1);
	return m;
}

/* The default: the configured name, else the first audio model. */
static api_model *pick_default(daemon_models *r, api_model **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r->default_name[0] ? strcmp(v[i]->name, r->default_name) == 0
		                       : dn_model_get_info(v[i]->model)->kind == DN_MODEL_AUDIO)
			return v[i];
	return NULL;
}

/* Replaces the broken list with v[0..n) (taken). */
static void set_broken(daemon_models *r, struct broken *v, size_t n)
{
	pthread_mutex_lock(&r->mu);
	free(r->broken);
	r->broken = v;
	r->nbroken = n;
	pthread_mutex_unlock(&r->mu);
}

/* The message for a file that failed: the loader's usually names it. */
static void failure_text(const entry *en, const dn_error *le, char *out, size_t cap)
{
	if (strstr(le->msg, en->path))
		snprintf(out, cap, "%s", le->msg);
	else {
		int k = snprintf(out, cap, "%.200s: ", en->path);
		size_t room = k > 0 && (size_t)k < cap ? cap - (size_t)k - 1 : 0;
		size_t n = strlen(le->msg) < room ? strlen(le->msg) : room;

		memcpy(out + k, le->msg, n);
		out[(size_t)k + n] = '\0';
	}
}

/* Whether the files beyond the first max are left out, and how to say why. */
static int over_max(const daemon_models *r, size_t n, char *why, size_t cap)
{
	if (r->max <= 0 || n < (size_t)r->max)
		return 0;
	snprintf(why, cap, "not loaded: %d models are served already (max_models)", r->max);
	return 1;
}

int daemon_models_create(const char *list, const char *fallback_dir, const char *default_name, int strict,
                         int max_models, daemon_models **out, dn_error *err)
{
	struct broken *broken = NULL;
	size_t nbroken = 0;
	daemon_models *r = calloc(1, sizeof *r);
	entries e;
	int rc;

	*out = NULL;
	if (!r)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->reload_mu, NULL);
	r->list = strdup(list ? list : "");
	r->fallback = strdup(fallback_dir ? fallback_dir : "");
	r->default_name = strdup(default_name ? default_name : "");
	r->max = max_models;
	if (!r->list || !r->fallback || !r->default_name) {
		daemon_models_destroy(r);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	rc = scan(r, &e, err);
	if (rc != DN_OK) {
		daemon_models_destroy(r);
		return rc;
	}
	r->cur = calloc(e.n ? e.n : 1, sizeof *r->cur);
	broken = calloc(e.n ? e.n : 1, sizeof *broken);
	if (!r->cur || !broken) {
		free(broken);
		free(e.v);
		daemon_models_destroy(r);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < e.n; i++) {
		dn_error le;
		api_model *m = NULL;

		if (over_max(r, r->n, le.msg, sizeof le.msg))
			le.code = DN_ELIMIT;
		else
			m = load_one(&e.v[i], &le);
		if (!m) {
			char text[DN_ERROR_MSG_MAX];

			failure_text(&e.v[i], &le, text, sizeof text);
			/* Strict: one bad file fails the start. Otherwise the
			 * others serve and readiness names this one. */
			if (strict) {
				rc = dn_error_set(err, le.code, "%s (strict_models is on)", text);
				break;
			}
			daemon_log(LOG_LVL_ERROR, "model '%s' not served: %s", e.v[i].name, text);
			snprintf(broken[nbroken].name, sizeof broken[nbroken].name, "%s", e.v[i].name);
			snprintf(broken[nbroken].why, sizeof broken[nbroken].why, "%s", text);
			nbroken++;
			continue;
		}
		r->cur[r->n++] = m;
	}
	if (rc == DN_OK && r->n == 0 && nbroken > 0)
		rc = dn_error_set(err, DN_EFORMAT, "no model loads: %s", broken[0].why);
	free(e.v);
	set_broken(r, broken, nbroken);
	if (rc == DN_OK && r->default_name[0] && !(r->def = pick_default(r, r->cur, r->n)))
		rc = dn_error_set(err, DN_ENOTFOUND, "default_model '%s' is not among the models loaded",
		                  r->default_name);
	if (rc != DN_OK) {
		daemon_models_destroy(r);
		return rc;
	}
	r->def = pick_default(r, r->cur, r->n);
	*out = r;
	return DN_OK;
}

void daemon_models_destroy(daemon_models *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		daemon_models_release(r->cur[i]);
	free(r->cur);
	free(r->broken);
	free(r->list);
	free(r->fallback);
	free(r->default_name);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->reload_mu);
	free(r);
}

static int reload_locked(daemon_models *r);

int daemon_models_reload(daemon_models *r)
{
	int failed;

	pthread_mutex_lock(&r->reload_mu);
	failed = reload_locked(r);
	pthread_mutex_unlock(&r->reload_mu);
	return failed;
}

static int list_has(void *ctx, const char *item)
{
	return strcmp(item, ctx) == 0;
}

/* Adds path to the list unless it is there. Caller holds reload_mu. */
static int list_add(daemon_models *r, const char *path, dn_error *err)
{
	struct stat st;

	if (!daemon_config_list_each(r->list, list_has, (void *)path)) {
		/* An empty list means the shipped models: keep serving them. */
		const char *base = r->list[0]                                             ? r->list
		                   : (stat(r->fallback, &st) == 0 && S_ISDIR(st.st_mode)) ? r->fallback
		                                                                          : "";
		size_t len = strlen(base) + strlen(path) + 2;
		char *list = malloc(len);

		if (!list)
			return dn_error_set(err, DN_ENOMEM, "out of memory");
		snprintf(list, len, "%s%s%s", base, base[0] ? "," : "", path);
		free(r->list);
		r->list = list;
	}
	return DN_OK;
}

int daemon_models_add(daemon_models *r, const char *path, dn_error *err)
{
	int failed;

	pthread_mutex_lock(&r->reload_mu);
	failed = list_add(r, path, err);
	if (!failed)
		failed = reload_locked(r);
	pthread_mutex_unlock(&r->reload_mu);
	return failed;
}

int daemon_models_add_file(daemon_models *r, const char *dir, const char *path, dn_error *err)
{
	entries e = {.err = err};
	api_model *m = NULL, *old = NULL;
	size_t at;
	int rc;

	pthread_mutex_lock(&r->reload_mu);
	rc = add_entry(&e, path);
	if (!rc)
		rc = list_add(r, dir, err);
	if (!rc) {
		/* Checked before loading: a refused registration costs nothing. */
		pthread_mutex_lock(&r->mu);
		for (at = 0; at < r->n && strcmp(r->cur[at]->name, e.v[0].name) < 0; at++)
			;
		if ((at == r->n || strcmp(r->cur[at]->name, e.v[0].name) != 0) && r->max > 0 &&
		    r->n >= (size_t)r->max)
			rc = dn_error_set(err, DN_ELIMIT,
			                  "%zu models are served and max_models is %d: register under the "
			                  "name of a model a job registered (it is replaced), or raise "
			                  "max_models",
			                  r->n, r->max);
		pthread_mutex_unlock(&r->mu);
	}
	if (!rc && !(m = load_one(&e.v[0], err)))
		rc = err->code ? err->code : DN_EIO;
	if (!rc) {
		pthread_mutex_lock(&r->mu);
		for (at = 0; at < r->n && strcmp(r->cur[at]->name, m->name) < 0; at++)
			;
		if (at < r->n && strcmp(r->cur[at]->name, m->name) == 0) {
			old = r->cur[at];
			r->cur[at] = m;
		} else {
			api_model **v = realloc(r->cur, (r->n + 1) * sizeof *v);

			if (!v) {
				rc = dn_error_set(err, DN_ENOMEM, "out of memory");
			} else {
				memmove(v + at + 1, v + at, (r->n - at) * sizeof *v);
				v[at] = m;
				r->cur = v;
				r->n++;
			}
		}
		if (!rc) {
			/* It loads now: no longer reported broken. */
			for (size_t i = 0; i < r->nbroken;)
				if (strcmp(r->broken[i].name, m->name) == 0)
					r->broken[i] = r->broken[--r->nbroken];
				else
					i++;
			r->def = pick_default(r, r->cur, r->n);
		}
		pthread_mutex_unlock(&r->mu);
		if (rc)
			daemon_models_release(m);
		else
			daemon_log(LOG_LVL_INFO, "model '%s' %s from %s", m->name, old ? "replaced" : "added",
			           m->path);
	}
	if (old) {
		/* Requests in flight finish on it; worker caches drop it. */
		atomic_store(&old->retired, 1);
		daemon_models_release(old);
	}
	pthread_mutex_unlock(&r->reload_mu);
	free(e.v);
	return rc;
}

static int reload_locked(daemon_models *r)
{
	api_model **next, **old;
	size_t n = 0, nold;
	entries e;
	dn_error err;
	int failed = 0;

	if (scan(r, &e, &err) != DN_OK) {
		daemon_log(LOG_LVL_ERROR, "reload: %s; keeping every model as it is", err.msg);
		return 1;
	}
	struct broken *broken = calloc(e.n ? e.n : 1, sizeof *broken);
	size_t nbroken = 0;

	next = calloc(e.n ? e.n : 1, sizeof *next);
	if (!next || !broken) {
		free(next);
		free(broken);
		free(e.v);
		daemon_log(LOG_LVL_ERROR, "reload: out of memory; keeping every model as it is");
		return 1;
	}
	for (size_t i = 0; i < e.n; i++) {
		api_model *m = NULL;

		if (over_max(r, n, err.msg, sizeof err.msg))
			err.code = DN_ELIMIT;
		else
			m = load_one(&e.v[i], &err);
		if (!m) {
			api_model *prev = daemon_models_acquire(r, e.v[i].name);

			failed++;
			daemon_log(LOG_LVL_ERROR, "reload: %s: %s; %s", e.v[i].path, err.msg,
			           prev ? "the model loaded before keeps serving" : "not served");
			snprintf(broken[nbroken].name, sizeof broken[nbroken].name, "%s", e.v[i].name);
			failure_text(&e.v[i], &err, broken[nbroken].why, sizeof broken[nbroken].why);
			nbroken++;
			if (prev)
				next[n++] = prev; /* the reference taken moves into next */
			continue;
		}
		daemon_log(LOG_LVL_INFO, "reload: model '%s' loaded from %s", m->name, m->path);
		next[n++] = m;
	}
	free(e.v);
	set_broken(r, broken, nbroken);

	pthread_mutex_lock(&r->mu);
	old = r->cur;
	nold = r->n;
	r->cur = next;
	r->n = n;
	r->def = pick_default(r, next, n);
	pthread_mutex_unlock(&r->mu);

	/* Old models stay alive while requests or worker caches hold them. */
	for (size_t i = 0; i < nold; i++) {
		int kept = 0;

		for (size_t j = 0; j < n; j++)
			kept |= next[j] == old[i];
		if (!kept)
			atomic_store(&old[i]->retired, 1);
		daemon_models_release(old[i]);
	}
	free(old);
	if (r->default_name[0] && !r->def)
		daemon_log(LOG_LVL_WARNING, "reload: default_model '%s' is not loaded", r->default_name);
	return failed;
}

size_t daemon_models_failed(daemon_models *r, void (*fn)(void *arg, const char *name, const char *why),
                            void *arg)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->nbroken;
	for (size_t i = 0; fn && i < n; i++)
		fn(arg, r->broken[i].name, r->broken[i].why);
	pthread_mutex_unlock(&r->mu);
	return n;
}

size_t daemon_models_count(daemon_models *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

api_model *daemon_models_acquire(daemon_models *r, const char *name)
{
	api_model *m = NULL;

	pthread_mutex_lock(&r->mu);
	if (!name)
		m = ref(r->def);
	else
		for (size_t i = 0; i < r->n && !m; i++)
			if (strcmp(r->cur[i]->name, name) == 0)
				m = ref(r->cur[i]);
	pthread_mutex_unlock(&r->mu);
	return m;
}

void daemon_models_each(daemon_models *r, void (*fn)(void *arg, api_model *m, int is_default), void *arg)
{
	api_model **v, *def;
	size_t n;

	/* References are taken under the lock and fn runs outside it. */
	pthread_mutex_lock(&r->mu);
	n = r->n;
	v = calloc(n ? n : 1, sizeof *v);
	for (size_t i = 0; v && i < n; i++)
		v[i] = ref(r->cur[i]);
	def = r->def;
	pthread_mutex_unlock(&r->mu);
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		fn(arg, v[i], v[i] == def);
		daemon_models_release(v[i]);
	}
	free(v);
}

const dn_model *daemon_model_get(const api_model *m)
{
	return m->model;
}

const char *daemon_model_name(const api_model *m)
{
	return m->name;
}

int64_t daemon_model_loaded_at(const api_model *m)
{
	return m->loaded_at;
}

const char *daemon_model_path(const api_model *m)
{
	return m->path;
}

/* ---- per-worker contexts ---- */

typedef struct cache_entry {
	api_model *model; /* reference held */
	dn_speech *speech;
	dn_frame *frame;
} cache_entry;

typedef struct speech_cache {
	cache_entry *v;
	size_t n, cap;
} speech_cache;

static void drop_entry(speech_cache *c, size_t i)
{
	dn_speech_destroy(c->v[i].speech);
	dn_frame_destroy(c->v[i].frame);
	daemon_models_release(c->v[i].model);
	c->v[i] = c->v[--c->n];
}

/* The worker's entry for m, made (empty) on first use; NULL on failure. */
static cache_entry *cache_entry_for(void **slot, api_model *m, dn_error *err)
{
	speech_cache *c = *slot;

	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c) {
			dn_error_set(err, DN_ENOMEM, "out of memory");
			return NULL;
		}
		*slot = c;
	}
	/* Contexts of models a reload retired would otherwise keep the old
	 * weights alive for the life of the worker. */
	for (size_t i = 0; i < c->n;)
		if (atomic_load(&c->v[i].model->retired) && c->v[i].model != m)
			drop_entry(c, i);
		else
			i++;
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].model == m)
			return &c->v[i];
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 4;
		cache_entry *v = realloc(c->v, cap * sizeof *v);

		if (!v) {
			dn_error_set(err, DN_ENOMEM, "out of memory");
			return NULL;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n] = (cache_entry){ref(m), NULL, NULL};
	return &c->v[c->n++];
}

/* With a GPU to serve on, the runner of m's server (made on the first
 * request of any worker, inputs padded to h x w); else the CPU's. */
static int runner_for(api_model *m, const daemon_serve *sv, int h, int w, dn_net_runner *out, dn_error *err)
{
	int rc = DN_OK;

	*out = (dn_net_runner){0};
	if (!sv || sv->device < 0)
		return DN_OK;
	pthread_mutex_lock(&m->gpu_mu);
	if (!m->gpu) {
		dn_device dev = {.index = sv->device, .precision = DN_PRECISION_FP32};
		dn_gpu_server_params gp = dn_gpu_server_default_params();

		gp.max_batch = sv->max_batch;
		gp.h_max = h;
		gp.w_max = w;
		rc = dn_gpu_server_create(dn_model_unet(m->model), &dev, &gp, &m->gpu, err);
		if (rc == DN_OK)
			daemon_log(LOG_LVL_INFO, "model %s: served on cuda:%d, batches of up to %d of %dx%d",
			           m->name, sv->device, sv->max_batch, h, w);
	}
	if (m->gpu)
		*out = dn_gpu_server_runner(m->gpu);
	pthread_mutex_unlock(&m->gpu_mu);
	return rc;
}

dn_frame *daemon_models_cache_frame(void **slot, api_model *m, int threads, const daemon_serve *sv,
                                    dn_error *err)
{
	cache_entry *e = cache_entry_for(slot, m, err);
	dn_frame_params p = dn_frame_default_params();

	p.threads = threads;
	if (!e)
		return NULL;
	if (!e->frame) {
		const int side = dn_frame_tile_extent(m->model, &p);

		if (runner_for(m, sv, side, side, &p.runner, err) != DN_OK ||
		    dn_frame_create(m->model, &p, &e->frame, err) != DN_OK)
			return NULL;
	}
	return e->frame;
}

dn_speech *daemon_models_cache_speech(void **slot, api_model *m, int threads, const daemon_serve *sv,
                                      dn_error *err)
{
	cache_entry *e = cache_entry_for(slot, m, err);
	dn_speech_params p = dn_speech_default_params();

	p.threads = threads;
	if (!e)
		return NULL;
	if (!e->speech) {
		const dn_model_info *mi = dn_model_get_info(m->model);

		/* a chunk's network sees its lookahead too */
		if (runner_for(m, sv, mi->n_fft / 2 + 1, p.chunk_frames + mi->lookahead, &p.runner, err) !=
		        DN_OK ||
		    dn_speech_create(m->model, &p, &e->speech, err) != DN_OK)
			return NULL;
	}
	return e->speech;
}

void daemon_models_cache_free(void *cache)
{
	speech_cache *c = cache;

	if (!c)
		return;
	while (c->n)
		drop_entry(c, 0);
	free(c->v);
	free(c);
}
