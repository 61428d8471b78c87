/*
 * routes.c — the cheap routes, answered on libmicrohttpd's threads: health,
 * models (Jansson) and their cards (the Markdown file beside a model's
 * weights, read from disk: small and bounded), Prometheus metrics and the
 * OpenAPI document.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/internal.h"
#include "core/cuda/cuda.h"
#include "core/nn/unet.h"
#include "core/util/blas.h"

void api_route_live(api_request *r, const char *rest)
{
	api_answer_json(r, 200, json_pack("{s:s}", "status", "alive"));
}

/* "devices": where training jobs can run (cpu, and each visible GPU with
 * what it is). The list is read from the driver once: health probes call
 * this often and the devices do not change under a running daemon. */
static json_t *device_list;
static pthread_once_t device_list_once = PTHREAD_ONCE_INIT;

static void read_devices(void)
{
	device_list = json_array();
	json_array_append_new(device_list, json_pack("{s:s}", "name", "cpu"));
	const int n = dn_cuda_device_count();
	for (int d = 0; d < n; d++) {
		char name[16], desc[160] = "";
		snprintf(name, sizeof name, "cuda:%d", d);
		dn_cuda_device_describe(d, desc, sizeof desc, NULL);
		json_array_append_new(device_list,
		                      json_pack("{s:s, s:s}", "name", name, "description", desc));
	}
}

/* Adds "devices" to o (a copy of the list), which it returns. */
static json_t *with_devices(json_t *o)
{
	pthread_once(&device_list_once, read_devices);
	if (o)
		json_object_set_new(o, "devices", json_deep_copy(device_list));
	return o;
}

/* One model that failed to load, for readiness. */
static void add_failure(void *arg, const char *name, const char *why)
{
	json_array_append_new(arg, json_pack("{s:s, s:s}", "name", name, "error", why));
}

void api_route_ready(api_request *r, const char *rest)
{
	api_server *s = r->srv;
	api_gauges g;

	memset(&g, 0, sizeof g);
	s->host.gauges(s->host.ctx, &g);
	if (atomic_load(&s->quiesced)) {
		api_answer_problem(r, API_P_SHUTTING_DOWN, "the server is draining and takes no new work");
		return;
	}
	if (g.models_loaded == 0 || g.workers < 1) {
		api_answer_problem(r, API_P_NOT_READY, "%zu models loaded, %d workers running",
		                   g.models_loaded, g.workers);
		return;
	}
	{
		dn_blas_info bi;
		dn_blas_info_get(&bi);
		json_t *o = with_devices(json_pack(
		    "{s:s, s:I, s:i, s:I, s:I, s:{s:s, s:s, s:s, s:b, s:b}, s:s}", "status", "ready", "models",
		    (json_int_t)g.models_loaded, "workers", g.workers, "queue_depth", (json_int_t)g.queue_depth,
		    "queue_capacity", (json_int_t)g.queue_capacity, "blas", "library", bi.library, "kernel",
		    bi.kernel, "cpu", bi.cpu, "overridden", bi.overridden, "generic", bi.generic, "convolutions",
		    dn_unet_conv_kernels()));
		json_t *failed = json_array();

		if (o && failed && s->host.model_failures)
			s->host.model_failures(s->host.ctx, add_failure, failed);
		if (o && failed && json_array_size(failed))
			json_object_set_new(o, "failed_models", failed);
		else
			json_decref(failed);
		api_answer_json(r, 200, o);
	}
}

static const char *kind_name(int kind)
{
	return kind == DN_MODEL_FRAME ? "frame" : "audio";
}

static const char *act_name(int act)
{
	switch (act) {
	case DN_ACT_RELU: return "relu";
	case DN_ACT_SIGMOID: return "sigmoid";
	default: return "none";
	}
}

static const char *scaling_name(int s)
{
	switch (s) {
	case DN_SCALE_LOG1P: return "log1p";
	case DN_SCALE_POWER: return "power";
	default: return "none";
	}
}

/* The JSON of one model; with_metadata adds every metadata pair of the file. */
static json_t *model_json(api_server *s, api_model *m, int is_default, int with_metadata)
{
	const dn_model *dm = s->host.model_get(m);
	const dn_model_info *info = dn_model_get_info(dm);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:{s:i, s:i, s:i, s:i, s:s, s:b}}", "name",
	                      s->host.model_name(m), "kind", kind_name(info->kind), "architecture",
	                      info->name, "version", info->version, "default", is_default, "loaded_at",
	                      (json_int_t)s->host.model_loaded_at(m), "unet", "in_channels",
	                      info->arch.in_channels, "out_channels", info->arch.out_channels, "base_filters",
	                      info->arch.base_filters, "depth", info->arch.depth, "out_act",
	                      act_name(info->arch.out_act), "residual", info->arch.residual);

	if (!o)
		return NULL;
	/* A model a training job made: which job, and how it trained. */
	if (dn_model_metadata(dm, "train.job")) {
		const char *bv = dn_model_metadata(dm, "train.best_val_loss"),
		           *be = dn_model_metadata(dm, "train.best_epoch");

		json_object_set_new(o, "training",
		                    json_pack("{s:s, s:o, s:o, s:s?}", "job",
		                              dn_model_metadata(dm, "train.job"), "best_val_loss",
		                              bv ? json_real(strtod(bv, NULL)) : json_null(), "best_epoch",
		                              be ? json_integer(strtol(be, NULL, 10)) : json_null(), "epochs",
		                              dn_model_metadata(dm, "train.epochs")));
	}
	json_object_set_new(json_object_get(o, "unet"), "causal", json_boolean(info->arch.causal));
	/* Whether GET /v1/audio:stream takes it, and its algorithmic latency. */
	if (info->kind == DN_MODEL_AUDIO)
		json_object_set_new(o, "streaming",
		                    info->arch.causal
		                        ? json_pack("{s:f, s:f, s:i}", "latency_ms",
		                                    1e3 * dn_model_stream_latency(info), "lookahead_ms",
		                                    1e3 * info->lookahead * info->hop / info->sample_rate,
		                                    "lookahead_frames", info->lookahead)
		                        : json_null());
	if (info->kind == DN_MODEL_AUDIO)
		json_object_set_new(
		    o, "audio",
		    json_pack("{s:i, s:i, s:i, s:s, s:f, s:f, s:s}", "sample_rate", info->sample_rate,
		              "n_fft", info->n_fft, "hop", info->hop, "scaling", scaling_name(info->scaling),
		              "power", (double)info->power, "input_scale", (double)info->input_scale,
		              "output", dn_model_output_name(info->output)));
	if (with_metadata) {
		json_t *md = json_object();
		size_t n = dn_model_metadata_count(dm);

		for (size_t i = 0; md && i < n; i++) {
			const char *k, *v;

			if (dn_model_metadata_at(dm, i, &k, &v) == DN_OK && k && v)
				json_object_set_new(md, k, json_string(v));
		}
		json_object_set_new(o, "metadata", md ? md : json_null());
	}
	return o;
}

typedef struct list_ctx {
	api_server *s;
	json_t *arr;
} list_ctx;

static void list_one(void *arg, api_model *m, int is_default)
{
	list_ctx *c = arg;
	json_t *o = model_json(c->s, m, is_default, 0);

	if (o)
		json_array_append_new(c->arr, o);
}

void api_route_models(api_request *r, const char *rest)
{
	api_server *s = r->srv;
	list_ctx c = {s, json_array()};
	json_t *o;

	if (!c.arr) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory");
		return;
	}
	s->host.model_each(s->host.ctx, list_one, &c);
	/* The default's name is copied from the array: the models themselves
	 * may be released (reloaded) by now. */
	o = json_pack("{s:o}", "models", c.arr);
	if (o) {
		json_t *def = json_null();
		size_t i;
		json_t *m;

		json_array_foreach(json_object_get(o, "models"), i, m)
		{
			if (json_is_true(json_object_get(m, "default")))
				def = json_copy(json_object_get(m, "name"));
		}
		json_object_set_new(o, "default", def);
	}
	api_answer_json(r, 200, o);
}

/* ---- GET /v1/models/{name}/card ---- */

/* Largest card served: the shipped ones are about 10 KB. */
#define API_CARD_MAX (256 * 1024)

/* The card's path: the model file's with its extension replaced by .md
 * (models/speech.safetensors -> models/speech.md), into out; 0 when it does
 * not fit. Only this name is ever opened: nothing in the request reaches
 * the path but the model's name, which picks a loaded model. */
static int card_path(const char *model_path, char *out, size_t cap)
{
	const char *slash = strrchr(model_path, '/'), *dot = strrchr(model_path, '.');
	size_t stem =
	    dot && dot > (slash ? slash : model_path) ? (size_t)(dot - model_path) : strlen(model_path);
	int n = snprintf(out, cap, "%.*s.md", (int)stem, model_path);

	return n > 0 && (size_t)n < cap;
}

/* The card of m as text/markdown, or a problem: none (404 no-model-card),
 * not a regular file (a link, a folder, a FIFO: 404 too, the log says
 * which), or over API_CARD_MAX (500, the detail gives the limit). */
static void answer_card(api_request *r, api_model *m)
{
	api_server *s = r->srv;
	const char *name = s->host.model_name(m);
	const char *mp = s->host.model_path ? s->host.model_path(m) : NULL;
	char path[PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	if (!mp || !card_path(mp, path, sizeof path)) {
		api_answer_problem(r, API_P_NO_CARD, "model '%s' has no card", name);
		return;
	}
	/* O_NONBLOCK: a FIFO put there must not hold the thread; O_NOFOLLOW: a
	 * card is the file beside the weights, not a link to anywhere. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0 || errno != ENOENT)
			snprintf(r->note, sizeof r->note, "%.90s: not a readable regular file", path);
		if (fd >= 0)
			close(fd);
		/* the file's name, not where it lies on the server */
		api_answer_problem(
		    r, API_P_NO_CARD,
		    "model '%s' has no card: the server has no Markdown file %s beside its weights", name,
		    strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
		return;
	}
	if (st.st_size > API_CARD_MAX) {
		close(fd);
		api_answer_problem(r, API_P_INTERNAL,
		                   "the card of model '%s' is %lld bytes, over the %d a card may have: the "
		                   "server's operator should shorten it",
		                   name, (long long)st.st_size, API_CARD_MAX);
		return;
	}
	buf = malloc((size_t)st.st_size + 1);
	/* Read up to the limit, whatever the size was a moment ago. */
	while (buf && len <= (size_t)st.st_size) {
		ssize_t k = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	if (!buf) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory reading the card of model '%s'", name);
		return;
	}
	if (len > (size_t)st.st_size) {
		free(buf);
		api_answer_problem(r, API_P_INTERNAL,
		                   "the card of model '%s' grew while it was read; ask again", name);
		return;
	}
	api_answer_bytes(r, 200, "text/markdown; charset=utf-8", buf, len);
	if (r->resp) {
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		MHD_add_response_header(r->resp, "X-Content-Type-Options", "nosniff");
		MHD_add_response_header(r->resp, "Content-Security-Policy", "default-src 'none'; sandbox");
	}
}

/* GET /v1/models/{name} and /v1/models/{name}/card. */
void api_route_model(api_request *r, const char *rest)
{
	api_server *s = r->srv;
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	char name[256];
	api_model *m, *def;
	int is_default;

	if (n >= sizeof name) {
		api_answer_problem(r, API_P_UNKNOWN_MODEL,
		                   "no model of so long a name is loaded; GET /v1/models lists them");
		return;
	}
	memcpy(name, rest, n);
	name[n] = '\0';
	if (slash && strcmp(slash + 1, "card") != 0) {
		api_answer_problem(
		    r, API_P_NOT_FOUND,
		    "no route %s: a model has only /v1/models/{name} and /v1/models/{name}/card", r->path);
		return;
	}
	if (slash)
		r->route = API_ROUTE_MODEL_CARD;
	m = s->host.model_acquire(s->host.ctx, name);
	if (!m) {
		api_answer_problem(r, API_P_UNKNOWN_MODEL,
		                   "no model called '%s' is loaded; GET /v1/models lists them", name);
		return;
	}
	if (slash) {
		answer_card(r, m);
		s->host.model_release(s->host.ctx, m);
		return;
	}
	def = s->host.model_acquire(s->host.ctx, NULL);
	is_default = def == m;
	if (def)
		s->host.model_release(s->host.ctx, def);
	api_answer_json(r, 200, model_json(s, m, is_default, 1));
	s->host.model_release(s->host.ctx, m);
}

void api_route_metrics(api_request *r, const char *rest)
{
	api_server *s = r->srv;
	api_gauges g;
	size_t len = 0;
	char *text;

	memset(&g, 0, sizeof g);
	s->host.gauges(s->host.ctx, &g);
	text = api_stats_render(&s->stats, &g, &len);
	if (!text) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory rendering metrics");
		return;
	}
	api_answer_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

void api_route_openapi(api_request *r, const char *rest)
{
	size_t len;
	const char *doc = api_openapi_document(&len);
	struct MHD_Response *resp =
	    doc ? MHD_create_response_from_buffer(len, (void *)doc, MHD_RESPMEM_PERSISTENT) : NULL;

	if (!resp) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	api_answer(r, 200, resp, len);
}
