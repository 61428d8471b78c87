/*
 * jobs.c — the job routes: POST/GET /v1/jobs, GET/DELETE /v1/jobs/{id}
 * (DELETE cancels a queued or running job and deletes a finished one),
 * GET /v1/jobs/{id}/plots, GET /v1/jobs/{id}/events (Server-Sent Events) and
 * POST /v1/models (register a training job's model). The host's job manager
 * (api_host.job_*) validates, runs and stores jobs; this file maps its
 * answers to HTTP.
 *
 * An event stream never blocks a libmicrohttpd thread: when it has nothing
 * to send, its content reader arranges a wake-up with the job manager (the
 * job's next change, a heartbeat, or shutdown) and suspends the connection;
 * the wake-up resumes it. It sends the job's object on every change it sees
 * (changes in between coalesce), a comment line on heartbeats (which is also
 * how a closed client is found), and ends after the job's final state, after
 * SSE_MAX_SECONDS, or when the daemon closes streams to stop.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/internal.h"

#define SSE_MAX_SECONDS 900
#define JSON_MAX_DEPTH  8
#define LIST_DEFAULT    20
#define LIST_MAX        100

/* 422 with the field named: RFC 9457's "invalid-params" extension too. */
static void answer_invalid(api_request *r, const char *field, const char *detail)
{
	size_t len = 0;
	char *text = api_problem_json(API_P_INVALID_JOB, detail, r->path, &len);
	json_error_t je;
	json_t *j = text ? json_loads(text, 0, &je) : NULL;

	free(text);
	snprintf(r->note, sizeof r->note, "%s", detail);
	if (!j) {
		api_answer_problem(r, API_P_INVALID_JOB, "%s", detail);
		return;
	}
	json_object_set_new(j, "field", json_string(field));
	json_object_set_new(j, "invalid-params", json_pack("[{s:s, s:s}]", "name", field, "reason", detail));
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text) {
		api_answer_problem(r, API_P_INVALID_JOB, "%s", detail);
		return;
	}
	api_answer_bytes(r, 422, "application/problem+json", text, strlen(text));
}

static int depth_ok(const json_t *j, int depth)
{
	const char *k;
	json_t *v;
	size_t i;

	if (depth > JSON_MAX_DEPTH)
		return 0;
	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v) if (!depth_ok(v, depth + 1)) return 0;
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) if (!depth_ok(v, depth + 1)) return 0;
	}
	return 1;
}

/* The body as a JSON object, or NULL with an answer prepared. */
static json_t *body_json(api_request *r)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	json_error_t je;
	json_t *j;

	char mt[128] = "";

	if (ct)
		api_media_type(ct, mt, sizeof mt);
	if (strcmp(mt, "application/json") != 0) {
		api_answer_problem(r, API_P_MEDIA_TYPE, "send the spec as Content-Type: application/json");
		return NULL;
	}
	if (r->len == 0) {
		api_answer_problem(r, API_P_BAD_JSON,
		                   "the body is empty: send a JSON object, e.g. {\"kind\": \"train\", ...}");
		return NULL;
	}
	j = json_loadb((const char *)r->body, r->len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		api_answer_problem(r, API_P_BAD_JSON, "line %d, column %d: %s", je.line, je.column, je.text);
		return NULL;
	}
	if (!depth_ok(j, 0)) {
		json_decref(j);
		answer_invalid(r, "(body)", "nested deeper than a job spec can be");
		return NULL;
	}
	return j;
}

static int host_has_jobs(api_request *r)
{
	if (r->srv->host.job_submit)
		return 1;
	api_answer_problem(r, API_P_NOT_READY, "this server runs no jobs");
	return 0;
}

/* Maps a job manager error to an answer. */
static void answer_error(api_request *r, const dn_error *err, const char *field)
{
	switch (err->code) {
	case DN_EINVAL: answer_invalid(r, field && field[0] ? field : "(body)", err->msg); return;
	case DN_ENOTFOUND: api_answer_problem(r, API_P_UNKNOWN_JOB, "%s", err->msg); return;
	case DN_EUNSUPPORTED: api_answer_problem(r, API_P_JOB_STATE, "%s", err->msg); return;
	case DN_ELIMIT: api_answer_problem(r, API_P_TOO_MANY_JOBS, "%s", err->msg); return;
	case DN_ECANCELLED: api_answer_problem(r, API_P_SHUTTING_DOWN, "%s", err->msg); return;
	case DN_ENOSPACE: api_answer_problem(r, API_P_NO_STORAGE, "%s", err->msg); return;
	case DN_EEXIST: api_answer_problem(r, API_P_NAME_TAKEN, "%s", err->msg); return;
	default: api_answer_problem(r, API_P_INTERNAL, "%s", err->msg); return;
	}
}

static void post_job(api_request *r)
{
	api_host *h = &r->srv->host;
	json_t *spec = body_json(r), *job = NULL;
	char field[96] = "", loc[128];
	dn_error err = {0};

	if (!spec)
		return;
	if (h->job_submit(h->ctx, spec, &job, field, sizeof field, &err) != DN_OK) {
		json_decref(spec);
		answer_error(r, &err, field);
		return;
	}
	json_decref(spec);
	snprintf(loc, sizeof loc, "/v1/jobs/%s", json_string_value(json_object_get(job, "id")));
	api_answer_json(r, 202, job);
	if (r->resp)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_LOCATION, loc);
}

/* POST /v1/models {"job": ID, "name": NAME}: serve what a training job made.
 * A copy and a load: run on a worker (the connection suspended), never on
 * an HTTP thread. */
static void register_model(api_request *r)
{
	api_host *h = &r->srv->host;
	json_t *b = body_json(r);
	const char *k, *id, *name;
	json_t *v;
	dn_error err = {0};
	char loc[256];

	if (!b)
		return;
	json_object_foreach(b, k, v)
	{
		if (strcmp(k, "job") && strcmp(k, "name")) {
			answer_invalid(r, k, "unknown member; a registration has job and name");
			json_decref(b);
			return;
		}
	}
	id = json_string_value(json_object_get(b, "job"));
	name = json_string_value(json_object_get(b, "name"));
	if (!id || !name) {
		answer_invalid(r, !id ? "job" : "name",
		               !id ? "required: the id of a succeeded training job"
		                   : "required: the model's name");
		json_decref(b);
		return;
	}
	if (h->job_register(h->ctx, id, name, &err) != DN_OK) {
		if (err.code == DN_ELIMIT)
			/* 507, not 409 or 429: nothing in the request conflicts and
			 * waiting does not help; the server is at the capacity its
			 * operator gave it (max_models). */
			api_answer_problem(r, API_P_TOO_MANY_MODELS, "%s", err.msg);
		else
			answer_error(r, &err, strncmp(err.msg, "name:", 5) == 0 ? "name" : "job");
		json_decref(b);
		return;
	}
	api_route_model(r, name);
	if (r->resp && r->resp_status == 200) {
		r->resp_status = 201;
		snprintf(loc, sizeof loc, "/v1/models/%s", name);
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_LOCATION, loc);
	}
	json_decref(b);
}

static void register_job(void *arg, void *worker)
{
	api_request *r = arg;

	(void)worker;
	register_model(r);
	/* The last touch of r: once resumed, the HTTP thread owns it again. */
	MHD_resume_connection(r->conn);
}

int api_jobs_post(api_request *r)
{
	if (atomic_load(&r->srv->quiesced)) {
		api_answer_problem(r, API_P_SHUTTING_DOWN, "the server is draining and takes no new work");
		return 0;
	}
	if (!host_has_jobs(r))
		return 0;
	if (r->route == API_ROUTE_MODELS)
		return api_upload_queue(r, register_job);
	post_job(r);
	return 0;
}

/* ---- GET /v1/jobs ---- */

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return -1;
	v = strtoull(s, &end, 10);
	if (*end || v < lo || v > hi || s[0] == '-')
		return -1;
	*out = (size_t)v;
	return 0;
}

static void list_jobs(api_request *r)
{
	api_host *h = &r->srv->host;
	const char *state = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "state");
	const char *limit = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
	const char *cursor = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "cursor");
	const char *offset = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "offset");
	size_t n = LIST_DEFAULT, off = 0;
	dn_error err = {0};
	json_t *o;

	if (limit && parse_size(limit, 1, LIST_MAX, &n)) {
		api_answer_problem(r, API_P_BAD_PARAMETER, "limit: expected 1 to %d", LIST_MAX);
		return;
	}
	if (offset && parse_size(offset, 0, (size_t)1 << 30, &off)) {
		api_answer_problem(r, API_P_BAD_PARAMETER, "offset: expected a non-negative integer");
		return;
	}
	o = h->job_list(h->ctx, state && *state ? state : NULL, n, cursor && *cursor ? cursor : NULL, off,
	                &err);
	if (!o) {
		if (err.code == DN_EINVAL)
			api_answer_problem(r, API_P_BAD_PARAMETER, "%s", err.msg);
		else
			answer_error(r, &err, NULL);
		return;
	}
	api_answer_json(r, 200, o);
}

/* ---- Server-Sent Events ---- */

typedef struct sse {
	api_server *srv;
	struct MHD_Connection *conn;
	char id[64];
	uint64_t seen;
	int done;   /* the last event is pending: end after it */
	int waited; /* woken with no change: send a heartbeat */
	double deadline;
	pthread_mutex_t mu; /* suspended, woken: shared with wake() */
	int suspended, woken;
	char *pending;
	size_t plen, poff;
} sse;

static double mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Called by the job manager (with its lock held, from any thread). */
static void sse_wake(void *arg)
{
	sse *s = arg;

	pthread_mutex_lock(&s->mu);
	s->woken = 1;
	if (s->suspended) {
		s->suspended = 0;
		MHD_resume_connection(s->conn);
	}
	pthread_mutex_unlock(&s->mu);
}

static void sse_set(sse *s, char *text)
{
	free(s->pending);
	s->pending = text;
	s->plen = text ? strlen(text) : 0;
	s->poff = 0;
}

static char *event_text(sse *s, uint64_t v, int finished)
{
	api_host *h = &s->srv->host;
	dn_error err;
	json_t *j = h->job_get(h->ctx, s->id, 0, &err);
	char *data = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL, *text;
	size_t len;

	json_decref(j);
	if (!data)
		return NULL;
	len = strlen(data) + 96;
	text = malloc(len);
	if (text)
		snprintf(text, len, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)v,
		         finished ? "done" : "progress", data);
	free(data);
	return text;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	sse *s = cls;
	api_host *h = &s->srv->host;
	uint64_t v;
	int finished;

	(void)pos;
	if (!s->pending) {
		if (s->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		v = h->job_version(h->ctx, s->id, &finished);
		if (h->job_closing(h->ctx) || mono_now() > s->deadline || v == 0) {
			s->done = 1;
			sse_set(
			    s,
			    strdup(
			        "event: end\ndata: {\"reason\": \"the stream's time is up or the server is "
			        "stopping; reconnect to follow the job\"}\n\n"));
		} else if (v != s->seen) {
			s->seen = v;
			s->done = finished;
			sse_set(s, event_text(s, v, finished));
			if (!s->pending)
				return MHD_CONTENT_READER_END_WITH_ERROR;
		} else if (s->waited) {
			s->waited = 0;
			sse_set(s, strdup(": heartbeat\n\n"));
		} else {
			pthread_mutex_lock(&s->mu);
			s->woken = 0;
			pthread_mutex_unlock(&s->mu);
			s->waited = 1;
			if (h->job_watch(h->ctx, s->id, v, sse_wake, s))
				return 0; /* changed meanwhile: MHD asks again */
			pthread_mutex_lock(&s->mu);
			if (!s->woken) {
				s->suspended = 1;
				MHD_suspend_connection(s->conn);
			}
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
		if (!s->pending)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	{
		size_t n = s->plen - s->poff < max ? s->plen - s->poff : max;

		memcpy(buf, s->pending + s->poff, n);
		s->poff += n;
		if (s->poff == s->plen)
			sse_set(s, NULL);
		return (ssize_t)n;
	}
}

static void sse_free(void *cls)
{
	sse *s = cls;

	/* After this no wake-up can run for s. */
	s->srv->host.job_unwatch(s->srv->host.ctx, s);
	free(s->pending);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void events(api_request *r, const char *id)
{
	sse *s = calloc(1, sizeof *s);
	struct MHD_Response *resp;

	if (!s) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory");
		return;
	}
	s->srv = r->srv;
	s->conn = r->conn;
	snprintf(s->id, sizeof s->id, "%s", id);
	s->deadline = mono_now() + SSE_MAX_SECONDS;
	pthread_mutex_init(&s->mu, NULL);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
	if (!resp) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		api_answer_problem(r, API_P_INTERNAL, "out of memory");
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	api_answer(r, 200, resp, 0);
}

/* ---- /v1/jobs/{id}[/sub] ---- */

void api_jobs_begin(api_request *r, const char *rest)
{
	api_host *h = &r->srv->host;
	char id[64];
	const char *sub = NULL;
	dn_error err = {0};
	json_t *o;

	if (!strcmp(r->method, "POST")) {
		if (!host_has_jobs(r))
			return;
		const char *cl =
		    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

		/* A declared length over the limit is refused before any of
		 * the body is read. */
		if (cl && strtoull(cl, NULL, 10) > API_JOBS_BODY_MAX) {
			api_answer_problem(r, API_P_BODY_TOO_LARGE,
			                   "body of %s bytes is over the %d bytes a job spec may have", cl,
			                   API_JOBS_BODY_MAX);
			return;
		}
		r->wants_body = 1;
		r->limit = API_JOBS_BODY_MAX;
		return;
	}
	if (!host_has_jobs(r))
		return;
	if (!rest) {
		list_jobs(r);
		return;
	}
	{
		const char *slash = strchr(rest, '/');
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

		if (n == 0 || n >= sizeof id) {
			api_answer_problem(r, API_P_UNKNOWN_JOB, "no job '%.*s'", (int)(n < 64 ? n : 64),
			                   rest);
			return;
		}
		memcpy(id, rest, n);
		id[n] = '\0';
		sub = slash ? slash + 1 : NULL;
	}
	if (sub && strcmp(sub, "plots") && strcmp(sub, "events")) {
		api_answer_problem(r, API_P_NOT_FOUND, "no route %s; a job has /plots and /events", r->path);
		return;
	}
	if (!strcmp(r->method, "DELETE")) {
		if (sub) {
			api_answer_problem(r, API_P_METHOD,
			                   "DELETE /v1/jobs/{id} cancels or deletes; %s is read-only",
			                   r->path);
			return;
		}
		if (h->job_cancel(h->ctx, id, &o, &err) != DN_OK) {
			answer_error(r, &err, NULL);
			return;
		}
		if (!o) {
			/* A finished job, deleted. */
			struct MHD_Response *resp =
			    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

			api_answer(r, resp ? 204 : 500, resp, 0);
			return;
		}
		api_answer_json(
		    r, strcmp(json_string_value(json_object_get(o, "state")), "cancelled") == 0 ? 200 : 202,
		    o);
		return;
	}
	if (sub && !strcmp(sub, "events")) {
		int finished;

		if (h->job_version(h->ctx, id, &finished) == 0) {
			api_answer_problem(r, API_P_UNKNOWN_JOB, "no job '%s' (GET /v1/jobs lists them)", id);
			return;
		}
		events(r, id);
		return;
	}
	o = h->job_get(h->ctx, id, sub != NULL, &err);
	if (!o) {
		answer_error(r, &err, NULL);
		return;
	}
	api_answer_json(r, 200, o);
}
