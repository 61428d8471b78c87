/*
 * server.c — libmicrohttpd glue: dispatch, CORS, bearer-token checks, body
 * accumulation with limits, the one-line request log and metrics.
 *
 * A request's life: the first call of on_request (headers only) routes it and
 * refuses early what can be refused from headers alone — unknown route,
 * method, missing token, content type, a Content-Length over the limit —
 * without reading the body. Body bytes are then counted as they come (that is
 * also how a chunked upload over the limit is caught) and kept up to the
 * limit. The final call answers, or hands the request to a worker and
 * suspends the connection until the worker resumes it with an answer.
 * on_completed logs the line and records metrics, whatever happened.
 *
 * libmicrohttpd calls us only once a request's headers are complete, and its
 * connection timeout restarts with every byte, so a client that trickles
 * header bytes would hold a connection slot forever. The header watchdog
 * (a thread of ours) keeps every connection's start, or the end of its last
 * request, and shuts down the socket of one whose headers are not complete
 * within header_timeout; libmicrohttpd then sees the end of the stream and
 * closes it. A per-client connection limit keeps one address from taking
 * every slot.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/internal.h"

/* After a chunked body went over the limit, at most this many more bytes are
 * read (and dropped) so the client can still get its 413; past it the
 * connection is closed. */
#define DISCARD_MAX (1u << 20)

void api_log(api_server *s, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!s->host.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->host.log(s->host.ctx, level, line);
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

void api_answer(api_request *r, int status, struct MHD_Response *resp, size_t body_len)
{
	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp = resp;
	r->resp_status = status;
	r->resp_len = body_len;
}

void api_answer_bytes(api_request *r, int status, const char *mime, void *buf, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);

	if (!resp) {
		free(buf);
		api_answer(r, 500, NULL, 0);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, mime);
	api_answer(r, status, resp, len);
}

void api_answer_problem(api_request *r, int id, const char *fmt, ...)
{
	char detail[512] = "";
	size_t len = 0;
	char *text;
	int status = api_problem_status(id);

	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(detail, sizeof detail, fmt, ap);
		va_end(ap);
	}
	snprintf(r->note, sizeof r->note, "%s", detail);
	text = api_problem_json(id, detail, r->path, &len);
	if (!text) {
		api_answer(r, status, NULL, 0);
		return;
	}
	api_answer_bytes(r, status, "application/problem+json", text, len);
	if (r->resp && (status == 503 || status == 429))
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (r->resp && status == 401)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Bearer realm=\"denoised\"");
}

void api_answer_json(api_request *r, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;

	json_decref(j);
	if (!text) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory encoding JSON");
		return;
	}
	api_answer_bytes(r, status, "application/json", text, strlen(text));
}

/* ---- CORS and authentication ---- */

/* Whether origin is in the configured comma-separated list (or it has "*"). */
static int origin_allowed(const char *list, const char *origin, int *any)
{
	const char *p = list;
	size_t olen = strlen(origin);

	*any = 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		const char *e = comma ? comma : p + strlen(p);

		while (p < e && isspace((unsigned char)*p))
			p++;
		while (e > p && isspace((unsigned char)e[-1]))
			e--;
		if (e - p == 1 && *p == '*') {
			*any = 1;
			return 1;
		}
		if ((size_t)(e - p) == olen && strncasecmp(p, origin, olen) == 0)
			return 1;
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

static void add_cors(api_request *r, struct MHD_Response *resp)
{
	if (!r->cors_origin)
		return;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
	if (strcmp(r->cors_origin, "*") != 0)
		MHD_add_response_header(resp, "Vary", "Origin");
	MHD_add_response_header(resp, "Access-Control-Expose-Headers",
	                        "Retry-After, Content-Disposition, X-Denoised-Model");
}

/* Constant-time comparison, so the token cannot be guessed byte by byte from
 * response times. */
int api_token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < lb; i++)
		diff |= (unsigned char)(a[i % (la ? la : 1)] ^ b[i]);
	return diff == 0 && la == lb;
}

static int authorized(api_request *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!r->srv->key)
		return 1;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	return api_token_equal(h, r->srv->key);
}

/* ---- routing ---- */

/* A route: its path and, for each method it takes, the handler. The
 * methods it accepts (Allow, CORS, 405) are those it has a handler for,
 * with HEAD beside GET and OPTIONS always. */
typedef struct route_def {
	const char *path; /* exact, or prefix ending in '/' when is_prefix */
	int is_prefix;    /* 1: one segment after the prefix; 2: and one sub-resource */
	int id;           /* API_ROUTE_*, for the statistics */
	api_handler *get; /* GET and HEAD */
	api_handler *post;
	api_handler *del;
	api_body_handler *body; /* POST, once its body is in */
	int upload; /* POST carries media: refused while draining, its declared length checked first */
} route_def;

static const route_def routes[] = {
    {"/v1/health/live", 0, API_ROUTE_LIVE, api_route_live, NULL, NULL, NULL, 0},
    {"/v1/health/ready", 0, API_ROUTE_READY, api_route_ready, NULL, NULL, NULL, 0},
    {"/v1/models", 0, API_ROUTE_MODELS, api_route_models, api_jobs_begin, NULL, api_jobs_post, 0},
    {"/v1/models/", 2, API_ROUTE_MODEL, api_route_model, NULL, NULL, NULL, 0},
    {"/v1/audio:denoise", 0, API_ROUTE_AUDIO, NULL, api_audio_begin, NULL, api_audio_submit, 1},
    {"/v1/frames:denoise", 0, API_ROUTE_FRAMES, NULL, api_frames_begin, NULL, api_frames_submit, 1},
    {"/v1/audio:stream", 0, API_ROUTE_STREAM, api_stream_begin, NULL, NULL, NULL, 0},
    {"/v1/openapi.json", 0, API_ROUTE_OPENAPI, api_route_openapi, NULL, NULL, NULL, 0},
    {"/metrics", 0, API_ROUTE_METRICS, api_route_metrics, NULL, NULL, NULL, 0},
    {"/", 0, API_ROUTE_WEB, api_route_static, NULL, NULL, NULL, 0},
    {"/web/", 1, API_ROUTE_WEB, api_route_static, NULL, NULL, NULL, 0},
    {"/v1/jobs", 0, API_ROUTE_JOBS, api_jobs_begin, api_jobs_begin, NULL, api_jobs_post, 0},
    {"/v1/jobs/", 2, API_ROUTE_JOB, api_jobs_begin, NULL, api_jobs_begin, NULL, 0},
};

static const route_def *match_route(const char *url, const char **rest)
{
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const route_def *d = &routes[i];
		size_t n = strlen(d->path);

		if (!d->is_prefix && strcmp(url, d->path) == 0) {
			*rest = NULL;
			return d;
		}
		if (d->is_prefix && strncmp(url, d->path, n) == 0 && url[n] &&
		    (!strchr(url + n, '/') ||
		     (d->is_prefix == 2 && strchr(url + n, '/') == strrchr(url + n, '/')))) {
			*rest = url + n;
			return d;
		}
	}
	return NULL;
}

static int method_is(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

/* The route's handler for method m; NULL when it does not take m (OPTIONS
 * is answered by begin itself). */
static api_handler *handler_for(const route_def *d, const char *m)
{
	if (method_is(m, "GET") || method_is(m, "HEAD"))
		return d->get;
	if (method_is(m, "POST"))
		return d->post;
	if (method_is(m, "DELETE"))
		return d->del;
	return NULL;
}

/* "GET, HEAD, POST, OPTIONS": the methods d takes, for Allow. */
static const char *allow_of(const route_def *d, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%sOPTIONS", d->get ? "GET, HEAD, " : "", d->post ? "POST, " : "",
	         d->del ? "DELETE, " : "");
	return buf;
}

static void preflight(api_request *r, const route_def *d)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	char allow[64];

	if (!resp)
		return;
	allow_of(d, allow, sizeof allow);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (r->cors_origin) {
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
		MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
		MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
	}
	api_answer(r, 204, resp, 0);
}

/* The first call: everything that can be decided from the headers. */
static void begin(api_request *r, const char *url)
{
	const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
	const char *rest = NULL;
	const route_def *d = match_route(url, &rest);
	api_handler *h;
	char allow[64];
	int any = 0;

	if (origin && r->srv->cors[0] && origin_allowed(r->srv->cors, origin, &any))
		r->cors_origin = any ? "*" : origin;
	if (!d) {
		r->route = API_ROUTE_OTHER;
		api_answer_problem(r, API_P_NOT_FOUND, "no route %s; see /v1/openapi.json", r->path);
		return;
	}
	r->route = d->id;
	r->def = d;
	h = handler_for(d, r->method);
	if (!h && !method_is(r->method, "OPTIONS")) {
		allow_of(d, allow, sizeof allow);
		api_answer_problem(r, API_P_METHOD, "%s accepts %s", d->path, allow);
		if (r->resp)
			MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ALLOW, allow);
		return;
	}
	if (method_is(r->method, "OPTIONS")) {
		/* A preflight from an origin not allowed gets a clear refusal; a
		 * plain OPTIONS (no Origin) just lists the methods. */
		if (origin &&
		    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Access-Control-Request-Method") &&
		    !r->cors_origin)
			api_answer_problem(r, API_P_ORIGIN, "origin %s is not in cors_origins", origin);
		else
			preflight(r, d);
		return;
	}
	/* Anything that writes or starts work needs the token, when one is set. */
	if (!method_is(r->method, "GET") && !method_is(r->method, "HEAD") && !authorized(r)) {
		api_answer_problem(r, API_P_UNAUTHORIZED,
		                   "send 'Authorization: Bearer TOKEN' with the configured token");
		return;
	}
	if (!d->upload || !method_is(r->method, "POST")) {
		h(r, rest);
		return;
	}
	if (atomic_load(&r->srv->quiesced)) {
		api_answer_problem(r, API_P_SHUTTING_DOWN,
		                   "the server is draining; retry on another instance");
		return;
	}
	h(r, rest);
	if (r->resp)
		return;
	/* Refuse a declared body over the limit before reading any of it. */
	{
		const char *cl =
		    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

		if (cl) {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(cl, &end, 10);
			if (!errno && end != cl && *end == '\0' && n > r->srv->p.max_body_bytes) {
				api_answer_problem(r, API_P_BODY_TOO_LARGE,
				                   "body of %llu bytes exceeds max_body_bytes (%llu)", n,
				                   (unsigned long long)r->srv->p.max_body_bytes);
				return;
			}
			if (!errno && end != cl && n > 0 && n <= r->srv->p.max_body_bytes) {
				/* The whole body is held until the answer: it takes
				 * its share of the memory budget now, or waits. */
				if (!api_mem_reserve(r, n, "the body", API_P_BODY_TOO_LARGE))
					return;
				r->body = malloc((size_t)n);
				r->cap = r->body ? (size_t)n : 0;
			}
		}
	}
	r->wants_body = 1;
	r->limit = r->srv->p.max_body_bytes;
}

/* An answer written straight to the socket, for the cases where the body is
 * still arriving and libmicrohttpd (0.9.75) cannot queue a response until
 * it has all of it: over the limit while streaming, or past
 * request_timeout. The client gets the problem and "Connection: close";
 * the caller then returns MHD_NO and libmicrohttpd closes the connection.
 * Nothing else has been sent for this request, so the bytes are a whole
 * HTTP answer. Returns 0. */
static int answer_and_close(api_request *r, int id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int answer_and_close(api_request *r, int id, const char *fmt, ...)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	int status = api_problem_status(id);
	char detail[256], head[768];
	size_t len = 0;
	char *body;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	snprintf(r->note, sizeof r->note, "%.120s", detail);
	r->status = status;
	body = api_problem_json(id, detail, r->path, &len);
	if (!ci || !body) {
		free(body);
		return 0;
	}
	n = snprintf(head, sizeof head,
	             "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nContent-Length: %zu\r\n"
	             "Connection: close\r\n%s%s%s\r\n",
	             status, MHD_get_reason_phrase_for((unsigned)status), len,
	             r->cors_origin ? "Access-Control-Allow-Origin: " : "",
	             r->cors_origin ? r->cors_origin : "", r->cors_origin ? "\r\n" : "");
	if (n > 0 && (size_t)n < sizeof head &&
	    send(ci->connect_fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n &&
	    send(ci->connect_fd, body, len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len) {
		r->bytes_out = len;
		/* No more reading: the client sees the end of our stream after
		 * the answer rather than a reset before it. */
		shutdown(ci->connect_fd, SHUT_WR);
	}
	free(body);
	return 0;
}

static int try_reserve(api_server *s, uint64_t n)
{
	unsigned long long cur = atomic_load(&s->mem_in_use);

	if (!s->p.memory_budget) {
		atomic_fetch_add(&s->mem_in_use, n);
		return 1;
	}
	do {
		if (n > s->p.memory_budget || cur > s->p.memory_budget - n)
			return 0;
	} while (!atomic_compare_exchange_weak(&s->mem_in_use, &cur, cur + n));
	return 1;
}

static void budget_detail(api_request *r, uint64_t n, const char *what, char *out, size_t cap)
{
	snprintf(out, cap,
	         "%s needs %llu bytes and requests in flight hold %llu of memory_budget (%llu): "
	         "retry later, or send a smaller request",
	         what, (unsigned long long)n, (unsigned long long)atomic_load(&r->srv->mem_in_use),
	         (unsigned long long)r->srv->p.memory_budget);
}

int api_mem_reserve(api_request *r, uint64_t n, const char *what, int too_big)
{
	char detail[256];

	if (try_reserve(r->srv, n)) {
		r->reserved += n;
		return 1;
	}
	if (n > r->srv->p.memory_budget) {
		api_answer_problem(r, too_big,
		                   "%s needs %llu bytes, more than all of memory_budget (%llu): send a "
		                   "smaller request",
		                   what, (unsigned long long)n, (unsigned long long)r->srv->p.memory_budget);
		return 0;
	}
	budget_detail(r, n, what, detail, sizeof detail);
	api_answer_problem(r, API_P_MEMORY_BUDGET, "%s", detail);
	return 0;
}

int api_request_cancel(void *arg, dn_error *err)
{
	api_request *r = arg;
	const union MHD_ConnectionInfo *ci;

	if (r->srv->p.request_deadline > 0 && elapsed_s(&r->t0) > r->srv->p.request_deadline) {
		r->cancelled = API_CANCEL_DEADLINE;
		dn_error_set(err, DN_ECANCELLED, "request_deadline passed");
		return 1;
	}
	/* The connection is suspended, so libmicrohttpd does not watch it:
	 * look at the socket. A client that closed (or reset) it will never
	 * read the answer. */
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci) {
		struct pollfd p = {ci->connect_fd, POLLRDHUP, 0};

		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			r->cancelled = API_CANCEL_GONE;
			dn_error_set(err, DN_ECANCELLED, "the client closed the connection");
			return 1;
		}
	}
	return 0;
}

void api_answer_cancelled(api_request *r, const char *what)
{
	if (r->cancelled == API_CANCEL_DEADLINE)
		api_answer_problem(r, API_P_DEADLINE,
		                   "%s took longer than request_deadline (%g s) and was stopped: send "
		                   "shorter audio or smaller frames, or split the request",
		                   what, r->srv->p.request_deadline);
	else
		api_answer_problem(r, API_P_REQUEST_TIMEOUT,
		                   "the client closed the connection; %s was cancelled", what);
}

void api_mem_release(api_request *r, uint64_t n)
{
	if (n > r->reserved)
		n = r->reserved;
	atomic_fetch_sub(&r->srv->mem_in_use, n);
	r->reserved -= n;
}

/* Body bytes: counted always, kept while within the limit. Returns 0 to close
 * the connection. */
static int take_body(api_request *r, const char *data, size_t n)
{
	r->received += n;
	r->bytes_in = r->received;
	if (elapsed_s(&r->t0) > r->srv->p.request_timeout)
		return answer_and_close(r, API_P_REQUEST_TIMEOUT,
		                        "the body did not arrive within request_timeout (%d s): send it "
		                        "faster, or in several smaller requests",
		                        r->srv->p.request_timeout);
	if (!r->wants_body)
		return 1; /* an answer is prepared; the rest is dropped */
	if (r->too_large || r->received > r->limit) {
		if (!r->too_large) {
			r->too_large = 1;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
		}
		if (r->received > r->limit + DISCARD_MAX)
			return answer_and_close(r, API_P_BODY_TOO_LARGE,
			                        "streamed body over the limit of %llu bytes%s; connection "
			                        "closed",
			                        (unsigned long long)r->limit,
			                        r->route == API_ROUTE_JOBS || r->route == API_ROUTE_MODELS
			                            ? " for a job spec"
			                            : " (max_body_bytes)");
		return 1;
	}
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 65536;
		unsigned char *nb;

		while (cap < r->len + n)
			cap *= 2;
		if (cap > r->limit)
			cap = (size_t)r->limit;
		if (cap > r->reserved && !try_reserve(r->srv, cap - r->reserved)) {
			char detail[256];

			budget_detail(r, cap, "the body", detail, sizeof detail);
			return answer_and_close(r, API_P_MEMORY_BUDGET, "%s", detail);
		}
		if (cap > r->reserved)
			r->reserved = cap;
		nb = realloc(r->body, cap);
		if (!nb)
			return answer_and_close(r, API_P_INTERNAL, "out of memory for the body");
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return 1;
}

static enum MHD_Result send_answer(api_request *r)
{
	enum MHD_Result ret;

	if (!r->resp) {
		/* Only when even the error could not be allocated. */
		r->status = r->resp_status ? r->resp_status : 500;
		return MHD_NO;
	}
	add_cors(r, r->resp);
	ret = MHD_queue_response(r->conn, (unsigned)r->resp_status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	if (ret == MHD_YES) {
		r->status = r->resp_status;
		r->bytes_out = r->resp_len;
	}
	return ret;
}

/* Whether the request announces a body (Content-Length > 0, or chunked). */
static int has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);

	return (cl && strtoull(cl, NULL, 10) > 0) || te;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
	api_server *s = cls;
	api_request *r = *con_cls;

	if (!r) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		r = calloc(1, sizeof *r);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		r->srv = s;
		r->conn = conn;
		r->route = API_ROUTE_OTHER;
		clock_gettime(CLOCK_MONOTONIC, &r->t0);
		snprintf(r->method, sizeof r->method, "%s", method);
		snprintf(r->path, sizeof r->path, "%s", url);
		if (ci && ci->client_addr) {
			const struct sockaddr *sa = ci->client_addr;

			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				          r->client, sizeof r->client);
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6,
				          &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
				          r->client, sizeof r->client);
		}
		if (!r->client[0])
			strcpy(r->client, "-");
		{
			const union MHD_ConnectionInfo *sc =
			    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

			r->wc = sc ? sc->socket_context : NULL;
			if (r->wc) {
				pthread_mutex_lock(&s->conns_lock);
				r->wc->in_request = 1;
				pthread_mutex_unlock(&s->conns_lock);
			}
		}
		atomic_fetch_add(&s->stats.inflight, 1);
		begin(r, url);
		/* A refusal of a request with a body goes out now, and the body
		 * is never read (libmicrohttpd then closes the connection).
		 * Other answers wait for the end of the request, which keeps
		 * the connection alive for the next one. */
		if (r->resp && has_body(conn))
			return send_answer(r);
		return MHD_YES;
	}
	if (*upload_size) {
		int ok = take_body(r, upload_data, *upload_size);

		*upload_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	if (r->suspended) {
		/* Resumed by a worker (or by a refused submit) with the answer. */
		r->suspended = 0;
		return send_answer(r);
	}
	if (r->resp)
		return send_answer(r);
	if (r->too_large) {
		api_answer_problem(r, API_P_BODY_TOO_LARGE,
		                   "body of %llu bytes exceeds max_body_bytes (%llu)",
		                   (unsigned long long)r->received, (unsigned long long)r->limit);
		return send_answer(r);
	}
	if (r->def && r->def->body && method_is(r->method, "POST") && r->def->body(r))
		return MHD_YES;
	if (!r->resp)
		api_answer_problem(r, API_P_INTERNAL, "request fell through every route");
	return send_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	api_server *s = cls;
	api_request *r = *con_cls;
	double secs;

	(void)conn;
	if (!r)
		return;
	*con_cls = NULL;
	secs = elapsed_s(&r->t0);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->note[0]) {
		static const char *const why[] = {"",           "error",        "timeout", "server stopping",
		                                  "read error", "client closed"};

		snprintf(r->note, sizeof r->note, "connection closed: %s",
		         toe <= MHD_REQUEST_TERMINATED_CLIENT_ABORT ? why[toe] : "?");
	}
	api_log(s, API_LOG_INFO, "%s %s %s %d in=%llu out=%llu %.1fms%s%s", r->client, r->method, r->path,
	        r->status, (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out, secs * 1e3,
	        r->note[0] ? " " : "", r->note);
	api_stats_record(&s->stats, r->route, r->status, secs, r->bytes_in, r->bytes_out);
	api_stream_completed(r);
	if (r->model)
		s->host.model_release(s->host.ctx, r->model);
	if (r->resp)
		MHD_destroy_response(r->resp);
	if (r->reserved)
		atomic_fetch_sub(&s->mem_in_use, r->reserved);
	if (r->wc) {
		/* The next request on a kept-alive connection gets its own
		 * header_timeout from now. */
		pthread_mutex_lock(&s->conns_lock);
		r->wc->in_request = 0;
		clock_gettime(CLOCK_MONOTONIC, &r->wc->since);
		pthread_mutex_unlock(&s->conns_lock);
	}
	free(r->body);
	free(r);
	atomic_fetch_sub(&s->stats.inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	api_server *s = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		api_conn *c = ci ? calloc(1, sizeof *c) : NULL;

		atomic_fetch_add(&s->stats.connections, 1);
		*socket_context = c;
		if (!c)
			return; /* unwatched: libmicrohttpd's own timeout still applies */
		c->fd = ci->connect_fd;
		clock_gettime(CLOCK_MONOTONIC, &c->since);
		pthread_mutex_lock(&s->conns_lock);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		pthread_mutex_unlock(&s->conns_lock);
	} else {
		api_conn *c = *socket_context;

		atomic_fetch_sub(&s->stats.connections, 1);
		if (!c)
			return;
		/* Removed before libmicrohttpd closes the descriptor, so the
		 * watchdog never touches a number the system has reused. */
		pthread_mutex_lock(&s->conns_lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		pthread_mutex_unlock(&s->conns_lock);
		free(c);
		*socket_context = NULL;
	}
}

/* The header watchdog's thread: four times a second, shuts down the socket of
 * every connection whose headers are overdue. */
static void *watchdog_main(void *arg)
{
	api_server *s = arg;

	pthread_mutex_lock(&s->conns_lock);
	while (!s->watchdog_stop) {
		struct timespec now, until;

		clock_gettime(CLOCK_MONOTONIC, &now);
		for (api_conn *c = s->conns; c; c = c->next) {
			if (c->in_request || c->cut || elapsed_s(&c->since) <= s->p.header_timeout)
				continue;
			c->cut = 1;
			shutdown(c->fd, SHUT_RDWR);
			atomic_fetch_add(&s->stats.header_timeouts, 1);
			api_log(s, API_LOG_INFO,
			        "connection closed: request headers not complete within "
			        "header_timeout (%d s)",
			        s->p.header_timeout);
		}
		until = now;
		until.tv_nsec += 250000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->watchdog_wake, &s->conns_lock, &until);
	}
	pthread_mutex_unlock(&s->conns_lock);
	return NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	api_server *s = cls;
	char line[512];
	size_t n;

	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	api_log(s, API_LOG_WARNING, "http: %s", line);
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

int api_server_start(const api_params *p, const api_host *host, api_server **out, dn_error *err)
{
	struct sockaddr_storage ss;
	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
	    MHD_ALLOW_UPGRADE;
	const union MHD_DaemonInfo *di;
	api_server *s;

	*out = NULL;
	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, p->listen, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p->port);
	} else if (inet_pton(AF_INET6, p->listen, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p->port);
		/* "::" serves IPv4 too; a specific IPv6 address only itself. */
		flags |= IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	} else {
		return dn_error_set(err, DN_EINVAL, "listen: '%s' is not an IPv4 or IPv6 address", p->listen);
	}
	s = calloc(1, sizeof *s);
	if (!s)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	s->p = *p;
	s->host = *host;
	s->listen = dup_or_empty(p->listen);
	s->cors = dup_or_empty(p->cors_origins);
	s->key = p->api_key && p->api_key[0] ? strdup(p->api_key) : NULL;
	if (!s->listen || !s->cors || (p->api_key && p->api_key[0] && !s->key)) {
		api_server_stop(s);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	s->p.listen = s->listen;
	s->p.cors_origins = s->cors;
	s->p.api_key = s->key;
	api_stats_init(&s->stats);
	atomic_init(&s->quiesced, 0);
	atomic_init(&s->mem_in_use, 0);
	atomic_init(&s->streams, 0);
	{
		pthread_condattr_t ca;

		pthread_mutex_init(&s->conns_lock, NULL);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->watchdog_wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	s->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)(p->http_threads > 1 ? p->http_threads : 0), MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)p->connection_timeout, MHD_OPTION_CONNECTION_LIMIT, (unsigned)p->max_connections,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)(p->max_connections_per_client > 0 ? p->max_connections_per_client : 0),
	    MHD_OPTION_END);
	if (!s->mhd) {
		int e = errno;

		api_server_stop(s);
		return dn_error_set(err, DN_EIO, "cannot listen on %s port %d: %s", p->listen, p->port,
		                    e ? strerror(e) : "libmicrohttpd refused to start");
	}
	di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : p->port;
	if (p->header_timeout > 0) {
		if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
			api_server_stop(s);
			return dn_error_set(err, DN_ENOMEM, "cannot start the header watchdog thread");
		}
		s->watchdog_running = 1;
	}
	*out = s;
	return DN_OK;
}

int api_server_port(const api_server *s)
{
	return s->port;
}

void api_server_quiesce(api_server *s)
{
	MHD_socket fd;

	if (atomic_exchange(&s->quiesced, 1))
		return;
	fd = MHD_quiesce_daemon(s->mhd);
	/* The listening socket is ours to close after quiescing. */
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

unsigned api_server_inflight(const api_server *s)
{
	return atomic_load(&((api_server *)s)->stats.inflight);
}

void api_server_stop(api_server *s)
{
	if (!s)
		return;
	if (s->watchdog_running) {
		pthread_mutex_lock(&s->conns_lock);
		s->watchdog_stop = 1;
		pthread_cond_signal(&s->watchdog_wake);
		pthread_mutex_unlock(&s->conns_lock);
		pthread_join(s->watchdog, NULL);
	}
	if (s->mhd) {
		/* Streams see the flag within a poll slice, say goodbye and give
		 * their sockets back; libmicrohttpd must outlive them. */
		atomic_store(&s->quiesced, 1);
		for (int i = 0; i < 100 && atomic_load(&s->streams) > 0; i++) {
			struct pollfd none = {-1, 0, 0};
			poll(&none, 0, 50);
		}
		MHD_stop_daemon(s->mhd);
	}
	free(s->listen);
	free(s->cors);
	free(s->key);
	if (s->mhd) { /* the lock and condition were initialised */
		pthread_mutex_destroy(&s->conns_lock);
		pthread_cond_destroy(&s->watchdog_wake);
	}
	free(s);
}
