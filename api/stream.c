/*
 * stream.c — GET /v1/audio:stream: live denoising over a WebSocket
 * (RFC 6455) upgraded from libmicrohttpd's connection.
 *
 * Before the upgrade, what only HTTP can say: not a WebSocket handshake
 * (426), a missing bearer token (401; a browser, which cannot set the
 * header on a WebSocket, may send ?access_token=), an Origin that is
 * neither in cors_origins nor the page's own host (403). Everything else
 * the client learns over the socket, since a browser shows nothing of a
 * refused handshake: after the upgrade a JSON text message {type, title,
 * detail} (type a problem URN as in problem+json) and a close frame whose
 * code says the kind (1008 bad parameter or model, 1013 too many streams,
 * 1001 idle or shutting down, 1002 protocol, 1007 bad text, 1009 text too
 * big, 1011 internal).
 *
 * Each stream runs on a thread of its own (at most max_streams of them):
 * it reads frames from the socket, pushes every binary payload through a
 * dn_stream as it arrives (a large message in pieces of at most READ_MAX
 * bytes, so nothing is buffered beyond that) and sends back, as binary
 * messages in order, whatever denoised PCM is ready. The stream's own
 * latency is the model's algorithmic latency; if the audio waiting in the
 * socket exceeds stream_max_lag seconds the client is told so ({"type":
 * "behind"}, at most once a second), since the server will not buffer more
 * than the socket holds. Ping gets pong, text {"type": "end"} or a close
 * frame flushes the stream: the rest of the PCM, then {"type": "done"}
 * with the counts, then the close frame.
 *
 * The thread owns the socket until it calls MHD_upgrade_action(CLOSE),
 * after which libmicrohttpd completes the request (on_completed releases
 * the model reference the request holds).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include "api/internal.h"
#include "api/ws.h"
#include "core/audio/stream.h"

/* Payload bytes read (and pushed) at a time. */
#define READ_MAX 16384
/* Longest text message (a JSON control message). */
#define TEXT_MAX 4096
/* Poll slice: how often a waiting stream looks at the server's state. */
#define SLICE_MS 200

struct api_stream_sess {
	api_server *srv;
	api_request *r;
	struct MHD_UpgradeResponseHandle *urh;
	MHD_socket fd;
	int counted; /* holds one of max_streams */
	/* refused at begin: sent once the upgrade is done */
	int err_id, err_code;
	char err_detail[300];
	/* configuration (query, or a first text message when the query gave none) */
	int rate, channels, format, config_pending;
	const dn_model *model;
	char model_name[128];
	dn_stream *st;
	/* input: bytes read from the socket, not yet parsed */
	unsigned char ib[READ_MAX + 16];
	size_t ib_len, ib_pos;
	unsigned char *ob; /* encoded output */
	size_t ob_cap;
	char text[TEXT_MAX + 1];
	size_t text_len;
	/* counts */
	uint64_t msgs_in, msgs_out, bytes_in, bytes_out, behind;
	struct timespec last_rx, last_behind;
	double cpu0;
	int closing;
};

static double now_s(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* ---- socket I/O ---- */

/* Sends all n bytes; waits for room at most stream_idle_timeout in all.
 * -1 when the client is gone or stopped reading. */
static int send_all(struct api_stream_sess *ss, const void *p, size_t n)
{
	const char *b = p;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n > 0) {
		ssize_t k = send(ss->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k > 0) {
			b += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (since(&t0) > ss->srv->p.stream_idle_timeout)
			return -1;
		struct pollfd pf = {ss->fd, POLLOUT, 0};
		poll(&pf, 1, SLICE_MS);
	}
	return 0;
}

static int send_frame(struct api_stream_sess *ss, int opcode, const void *data, size_t n)
{
	unsigned char h[10];
	size_t hl = ws_make_header(opcode, 1, n, h);
	if (send_all(ss, h, hl) || (n && send_all(ss, data, n)))
		return -1;
	ss->bytes_out += n;
	ss->msgs_out += opcode == WS_BINARY;
	return 0;
}

/* A JSON text message; takes the reference to j. */
static int send_json(struct api_stream_sess *ss, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(j);
	int rc = s ? send_frame(ss, WS_TEXT, s, strlen(s)) : -1;
	free(s);
	return rc;
}

static void send_close(struct api_stream_sess *ss, int code, const char *reason)
{
	unsigned char p[125];
	size_t rl = reason ? strlen(reason) : 0;
	if (rl > 123)
		rl = 123;
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, reason, rl);
	send_frame(ss, WS_CLOSE, p, 2 + rl);
	ss->closing = 1;
}

/* The problem's JSON message, then the close frame with its code. */
static void send_error(struct api_stream_sess *ss, int id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_error(struct api_stream_sess *ss, int id, int code, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	const char *type = api_problem_type(id), *slug = strrchr(type, ':');
	send_json(ss, json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", api_problem_title(id), "status",
	                        api_problem_status(id), "detail", detail));
	send_close(ss, code, slug ? slug + 1 : type);
	api_log(ss->srv, API_LOG_INFO, "stream %s: closed %d: %s", ss->r->client, code, detail);
}

/* Makes at least `need` unparsed bytes available (need <= READ_MAX).
 * 1: there; 0: the client closed; -1: idle too long or server stopping
 * (the reason sent, when it can be). */
static int fill(struct api_stream_sess *ss, size_t need)
{
	if (ss->ib_pos > 0 && ss->ib_len - ss->ib_pos < need) {
		memmove(ss->ib, ss->ib + ss->ib_pos, ss->ib_len - ss->ib_pos);
		ss->ib_len -= ss->ib_pos;
		ss->ib_pos = 0;
	}
	while (ss->ib_len - ss->ib_pos < need) {
		if (atomic_load(&ss->srv->quiesced)) {
			send_error(ss, API_P_SHUTTING_DOWN, WS_CLOSE_GOING_AWAY,
			           "the server is shutting down; reconnect to another instance");
			return -1;
		}
		if (since(&ss->last_rx) > ss->srv->p.stream_idle_timeout) {
			send_error(ss, API_P_STREAM_IDLE, WS_CLOSE_GOING_AWAY,
			           "nothing arrived for stream_idle_timeout (%g s): send audio, or a ping, "
			           "more often",
			           ss->srv->p.stream_idle_timeout);
			return -1;
		}
		struct pollfd pf = {ss->fd, POLLIN, 0};
		if (poll(&pf, 1, SLICE_MS) <= 0)
			continue;
		ssize_t k = recv(ss->fd, ss->ib + ss->ib_len, sizeof ss->ib - ss->ib_len, MSG_DONTWAIT);
		if (k == 0)
			return 0;
		if (k < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			return 0;
		}
		ss->ib_len += (size_t)k;
		clock_gettime(CLOCK_MONOTONIC, &ss->last_rx);
	}
	return 1;
}

/* ---- the stream ---- */

static json_t *config_json(struct api_stream_sess *ss)
{
	return json_pack("{s:s, s:s, s:i, s:i, s:s, s:f}", "type", "ready", "model", ss->model_name, "rate",
	                 ss->rate, "channels", ss->channels, "format", dn_pcm_format_name(ss->format),
	                 "latency_ms", 1e3 * dn_stream_latency(ss->st));
}

/* Creates the dn_stream for the configuration; sends "ready". */
static int start(struct api_stream_sess *ss)
{
	dn_stream_params p = {.rate = ss->rate, .channels = ss->channels};
	dn_error err = {0};
	if (dn_stream_create(ss->model, &p, &ss->st, &err) != DN_OK) {
		send_error(ss, err.code == DN_EUNSUPPORTED ? API_P_NOT_STREAMABLE : API_P_BAD_PARAMETER,
		           WS_CLOSE_POLICY, "%s", err.msg);
		return -1;
	}
	if (!ss->rate)
		ss->rate = dn_model_get_info(ss->model)->sample_rate;
	ss->config_pending = 0;
	ss->cpu0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	return send_json(ss, config_json(ss));
}

/* The ready output as one binary message. */
static int send_output(struct api_stream_sess *ss)
{
	size_t frames;
	const float *y = dn_stream_take(ss->st, &frames);
	if (!frames)
		return 0;
	size_t samples = frames * (size_t)ss->channels, n = samples * dn_pcm_sample_bytes(ss->format);
	if (n > ss->ob_cap) {
		unsigned char *b = realloc(ss->ob, n);
		if (!b)
			return -1;
		ss->ob = b;
		ss->ob_cap = n;
	}
	dn_pcm_encode(y, samples, ss->format, ss->ob);
	return send_frame(ss, WS_BINARY, ss->ob, n);
}

/* Tells the client when the audio waiting in the socket is over
 * stream_max_lag seconds (see the top). */
static int check_lag(struct api_stream_sess *ss)
{
	int pending = 0;
	if (ioctl(ss->fd, FIONREAD, &pending) != 0)
		return 0;
	double bps = (double)ss->rate * ss->channels * (double)dn_pcm_sample_bytes(ss->format);
	double lag = ((double)pending + (double)(ss->ib_len - ss->ib_pos)) / bps;
	if (lag <= ss->srv->p.stream_max_lag || (ss->behind && since(&ss->last_behind) < 1.0))
		return 0;
	ss->behind++;
	clock_gettime(CLOCK_MONOTONIC, &ss->last_behind);
	char detail[256];
	snprintf(detail, sizeof detail,
	         "%.2f s of audio wait unprocessed, over stream_max_lag (%g s): the server is behind real "
	         "time; send audio no faster than real time, or fewer channels or a lower rate",
	         lag, ss->srv->p.stream_max_lag);
	return send_json(ss, json_pack("{s:s, s:f, s:f, s:s}", "type", "behind", "lag_seconds", lag,
	                               "max_lag_seconds", ss->srv->p.stream_max_lag, "detail", detail));
}

/* End of input: the rest of the PCM, then "done" with the counts. */
static int finish(struct api_stream_sess *ss)
{
	dn_error err = {0};
	if (!ss->st)
		return send_json(ss, json_pack("{s:s, s:i, s:i}", "type", "done", "frames_in", 0, "frames_out", 0));
	if (dn_stream_finish(ss->st, &err) != DN_OK) {
		send_error(ss, API_P_INTERNAL, WS_CLOSE_INTERNAL, "%s", err.msg);
		return -1;
	}
	if (send_output(ss))
		return -1;
	double secs = (double)dn_stream_frames_in(ss->st) / ss->rate;
	double cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - ss->cpu0;
	api_log(ss->srv, API_LOG_INFO, "stream %s: %.2f s of audio, %.3f CPU s (%.3f of a core), %llu behind",
	        ss->r->client, secs, cpu, secs > 0 ? cpu / secs : 0.0, (unsigned long long)ss->behind);
	return send_json(
	    ss, json_pack("{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:f, s:f}", "type", "done", "frames_in",
	                  (json_int_t)dn_stream_frames_in(ss->st), "frames_out",
	                  (json_int_t)dn_stream_frames_out(ss->st), "seconds", secs, "messages_in",
	                  (json_int_t)ss->msgs_in, "messages_out", (json_int_t)ss->msgs_out, "behind",
	                  (json_int_t)ss->behind, "cpu_seconds", cpu, "latency_ms",
	                  1e3 * dn_stream_latency(ss->st)));
}

/* A complete text message: {"type": "end"}, or the configuration as the
 * first message when the query gave none. 1: end of stream; 0: go on; -1:
 * refused (the reason sent). */
static int on_text(struct api_stream_sess *ss)
{
	json_error_t je;
	json_t *j = json_loadb(ss->text, ss->text_len, 0, &je);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		send_error(ss, API_P_BAD_JSON, WS_CLOSE_BAD_DATA,
		           "a text message must be a JSON object: {\"type\": \"end\"} to finish, or first "
		           "{\"rate\": N, \"channels\": N, \"format\": \"s16le\"|\"f32le\"}");
		return -1;
	}
	const char *type = json_string_value(json_object_get(j, "type"));
	if (type && !strcmp(type, "end")) {
		json_decref(j);
		return 1;
	}
	if (!ss->config_pending || (type && strcmp(type, "config"))) {
		json_decref(j);
		send_error(ss, API_P_BAD_PARAMETER, WS_CLOSE_POLICY,
		           "unexpected text message: only {\"type\": \"end\"} is taken once audio has started "
		           "(the configuration comes in the query or as the first message)");
		return -1;
	}
	json_t *v;
	if ((v = json_object_get(j, "rate")) && (!json_is_integer(v) || (ss->rate = (int)json_integer_value(v)) < 1)) {
		json_decref(j);
		send_error(ss, API_P_BAD_PARAMETER, WS_CLOSE_POLICY, "rate must be an integer in Hz, 8000..192000");
		return -1;
	}
	if ((v = json_object_get(j, "channels")) &&
	    (!json_is_integer(v) || (ss->channels = (int)json_integer_value(v)) < 1)) {
		json_decref(j);
		send_error(ss, API_P_BAD_PARAMETER, WS_CLOSE_POLICY, "channels must be an integer, 1..8");
		return -1;
	}
	if ((v = json_object_get(j, "format")) && (ss->format = dn_pcm_format_parse(json_string_value(v))) < 0) {
		json_decref(j);
		send_error(ss, API_P_BAD_PARAMETER, WS_CLOSE_POLICY, "format must be \"s16le\" or \"f32le\"");
		return -1;
	}
	json_decref(j);
	return start(ss) ? -1 : 0;
}

/* Reads and handles frames until the stream ends. */
static void run(struct api_stream_sess *ss)
{
	int in_msg = 0, msg_op = 0;
	for (;;) {
		ws_header h;
		int hl, f;
		while ((hl = ws_parse_header(ss->ib + ss->ib_pos, ss->ib_len - ss->ib_pos, &h)) == 0)
			if ((f = fill(ss, ss->ib_len - ss->ib_pos + 1)) <= 0)
				return;
		if (hl < 0) {
			send_error(ss, API_P_WS_PROTOCOL, WS_CLOSE_PROTOCOL,
			           "malformed WebSocket frame (reserved bits, unknown opcode, unmasked, or a bad "
			           "control frame): see RFC 6455 section 5");
			return;
		}
		ss->ib_pos += (size_t)hl;
		if (h.opcode >= WS_CLOSE) {
			unsigned char p[125];
			if (fill(ss, (size_t)h.len) <= 0)
				return;
			memcpy(p, ss->ib + ss->ib_pos, (size_t)h.len);
			ws_unmask(p, (size_t)h.len, h.mask, 0);
			ss->ib_pos += (size_t)h.len;
			if (h.opcode == WS_PING && send_frame(ss, WS_PONG, p, (size_t)h.len))
				return;
			if (h.opcode == WS_CLOSE) {
				if (finish(ss) == 0)
					send_close(ss, WS_CLOSE_NORMAL, "done");
				return;
			}
			continue;
		}
		if ((h.opcode == WS_CONT) != in_msg) {
			send_error(ss, API_P_WS_PROTOCOL, WS_CLOSE_PROTOCOL,
			           in_msg ? "a new message began inside a fragmented one"
			                  : "a continuation frame came without a message to continue");
			return;
		}
		if (!in_msg) {
			msg_op = h.opcode;
			ss->text_len = 0;
		}
		in_msg = !h.fin;
		if (msg_op == WS_TEXT && ss->text_len + h.len > TEXT_MAX) {
			send_error(ss, API_P_WS_PROTOCOL, WS_CLOSE_TOO_BIG,
			           "a text message is over %d bytes: audio goes in binary messages", TEXT_MAX);
			return;
		}
		if (msg_op == WS_BINARY && ss->config_pending && start(ss))
			return;
		/* the payload, a piece at a time */
		uint64_t off = 0;
		while (off < h.len) {
			size_t want = h.len - off < READ_MAX ? (size_t)(h.len - off) : READ_MAX;
			size_t have = ss->ib_len - ss->ib_pos;
			if (have == 0 && (f = fill(ss, 1)) <= 0)
				return;
			have = ss->ib_len - ss->ib_pos;
			size_t k = have < want ? have : want;
			unsigned char *p = ss->ib + ss->ib_pos;
			ws_unmask(p, k, h.mask, off);
			ss->ib_pos += k;
			off += k;
			if (msg_op == WS_TEXT) {
				memcpy(ss->text + ss->text_len, p, k);
				ss->text_len += k;
				continue;
			}
			dn_error err = {0};
			ss->bytes_in += k;
			if (dn_stream_push_bytes(ss->st, p, k, ss->format, &err) != DN_OK) {
				send_error(ss, API_P_INTERNAL, WS_CLOSE_INTERNAL, "%s", err.msg);
				return;
			}
			if (send_output(ss) || check_lag(ss))
				return;
		}
		if (in_msg)
			continue;
		if (msg_op == WS_BINARY) {
			ss->msgs_in++;
			continue;
		}
		int t = on_text(ss);
		if (t < 0)
			return;
		if (t > 0) {
			if (finish(ss) == 0)
				send_close(ss, WS_CLOSE_NORMAL, "done");
			return;
		}
	}
}

/* After the server's close frame: the client's answer (or its end of the
 * stream), briefly, so that it reads our last frames before the socket
 * closes. */
static void linger(struct api_stream_sess *ss)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	shutdown(ss->fd, SHUT_WR);
	while (since(&t0) < 1.0) {
		struct pollfd pf = {ss->fd, POLLIN, 0};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		unsigned char b[512];
		ssize_t k = recv(ss->fd, b, sizeof b, MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
}

static void *session_main(void *arg)
{
	struct api_stream_sess *ss = arg;
	/* A frame's header and payload go in two sends: without this, Nagle's
	 * algorithm holds the payload until the client's delayed ACK of the
	 * header (40 ms on Linux), on every message. */
	int one = 1;
	setsockopt(ss->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	clock_gettime(CLOCK_MONOTONIC, &ss->last_rx);
	if (ss->err_id)
		send_error(ss, ss->err_id, ss->err_code, "%s", ss->err_detail);
	else if (ss->config_pending || start(ss) == 0)
		run(ss);
	if (ss->closing)
		linger(ss);
	dn_stream_destroy(ss->st);
	free(ss->ob);
	if (ss->counted)
		atomic_fetch_sub(&ss->srv->streams, 1);
	/* r, its model and the connection are libmicrohttpd's again */
	MHD_upgrade_action(ss->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(ss);
	return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	api_request *r = req_cls;
	struct api_stream_sess *ss = cls;
	pthread_t t;
	pthread_attr_t a;
	(void)conn;
	ss->urh = urh;
	ss->fd = sock;
	if (extra_in_size > sizeof ss->ib)
		extra_in_size = sizeof ss->ib; /* a client that sent that much unasked breaks the protocol */
	memcpy(ss->ib, extra_in, extra_in_size);
	ss->ib_len = extra_in_size;
	r->stream_started = 1;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, session_main, ss) != 0) {
		if (ss->counted)
			atomic_fetch_sub(&ss->srv->streams, 1);
		free(ss);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	}
	pthread_attr_destroy(&a);
}

void api_stream_completed(api_request *r)
{
	/* a handshake answered but never upgraded (the client left) */
	if (r->stream && !r->stream_started) {
		if (r->stream->counted)
			atomic_fetch_sub(&r->srv->streams, 1);
		free(r->stream);
	}
	r->stream = NULL;
}

/* Whether a comma-separated header value holds token (case-insensitive). */
static int has_token(const char *v, const char *token)
{
	size_t n = strlen(token);
	while (v && *v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		const char *e = v;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - v) == n && !strncasecmp(v, token, n))
			return 1;
		v = e;
	}
	return 0;
}

/* Whether Origin names this server itself (scheme://Host). */
static int same_origin(const char *origin, const char *host)
{
	const char *p = strstr(origin, "://");
	return host && p && !strcasecmp(p + 3, host);
}

/* The first streamable audio model, when the request names none. */
struct pick {
	api_server *s;
	api_model *m;
};

static void pick_causal(void *arg, api_model *m, int is_default)
{
	struct pick *p = arg;
	const dn_model_info *i = dn_model_get_info(p->s->host.model_get(m));
	(void)is_default;
	if (!p->m && i->kind == DN_MODEL_AUDIO && i->arch.causal)
		p->m = p->s->host.model_acquire(p->s->host.ctx, p->s->host.model_name(m));
}

/* Records a refusal that goes out after the upgrade. */
static void refuse(struct api_stream_sess *ss, int id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(struct api_stream_sess *ss, int id, int code, const char *fmt, ...)
{
	va_list ap;
	if (ss->err_id)
		return;
	ss->err_id = id;
	ss->err_code = code;
	va_start(ap, fmt);
	vsnprintf(ss->err_detail, sizeof ss->err_detail, fmt, ap);
	va_end(ap);
}

static int query_int(api_request *r, const char *name, int *out, int *given)
{
	const char *v;
	if (!api_query_param(r, name, &v))
		return -1;
	if (!v)
		return 0;
	char *end;
	long x = strtol(v, &end, 10);
	*given = 1;
	if (end == v || *end || x < 1 || x > 1000000)
		return 1;
	*out = (int)x;
	return 0;
}

void api_stream_begin(api_request *r, const char *rest)
{
	api_server *s = r->srv;
	const char *up = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
	const char *cn = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
	const char *ver = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
	const char *v;
	(void)rest;
	if (!up || !has_token(up, "websocket") || !cn || !has_token(cn, "upgrade") || !key ||
	    strlen(key) != 24) {
		api_answer_problem(r, API_P_WEBSOCKET,
		                   "GET /v1/audio:stream is a WebSocket: send 'Upgrade: websocket', "
		                   "'Connection: Upgrade', 'Sec-WebSocket-Version: 13' and a "
		                   "Sec-WebSocket-Key (RFC 6455)");
		if (r->resp)
			MHD_add_response_header(r->resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
		return;
	}
	if (!ver || strcmp(ver, "13") != 0) {
		api_answer_problem(r, API_P_WEBSOCKET, "Sec-WebSocket-Version %s is not supported: use 13",
		                   ver ? ver : "(none)");
		if (r->resp)
			MHD_add_response_header(r->resp, "Sec-WebSocket-Version", "13");
		return;
	}
	/* A stream starts work: the token, when one is set, from the header or
	 * (browsers) the query. */
	if (s->key) {
		const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
		const char *q;
		int ok = 0;
		if (h && !strncasecmp(h, "Bearer ", 7)) {
			h += 7;
			while (*h == ' ')
				h++;
			ok = api_token_equal(h, s->key);
		}
		if (!api_query_param(r, "access_token", &q))
			return;
		if (!ok && q)
			ok = api_token_equal(q, s->key);
		if (!ok) {
			api_answer_problem(r, API_P_UNAUTHORIZED,
			                   "send 'Authorization: Bearer TOKEN' (or, from a browser, "
			                   "?access_token=TOKEN) with the configured token");
			return;
		}
	}
	if (origin && !r->cors_origin &&
	    !same_origin(origin, MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST))) {
		api_answer_problem(r, API_P_ORIGIN, "origin %s is not in cors_origins", origin);
		return;
	}

	struct api_stream_sess *ss = calloc(1, sizeof *ss);
	if (!ss) {
		api_answer_problem(r, API_P_INTERNAL, "out of memory");
		return;
	}
	ss->srv = s;
	ss->r = r;
	ss->channels = 1;
	ss->format = DN_PCM_S16LE;
	int given = 0, bad;
	if ((bad = query_int(r, "rate", &ss->rate, &given)) < 0 ||
	    (bad == 0 && (bad = query_int(r, "channels", &ss->channels, &given)) < 0) ||
	    !api_query_param(r, "format", &v)) {
		free(ss);
		return; /* a NUL in the query: answered over HTTP */
	}
	if (bad)
		refuse(ss, API_P_BAD_PARAMETER, WS_CLOSE_POLICY,
		       "rate (Hz, 8000..192000) and channels (1..8) must be whole numbers");
	if (v) {
		given = 1;
		if ((ss->format = dn_pcm_format_parse(v)) < 0)
			refuse(ss, API_P_BAD_PARAMETER, WS_CLOSE_POLICY, "format '%s' is unknown: use s16le or f32le",
			       v);
	}
	ss->config_pending = !given;
	if (!api_query_param(r, "model", &v)) {
		free(ss);
		return;
	}
	if (v && *v) {
		r->model = s->host.model_acquire(s->host.ctx, v);
		if (!r->model)
			refuse(ss, API_P_UNKNOWN_MODEL, WS_CLOSE_POLICY,
			       "no model called '%s' is loaded; GET /v1/models lists them (streamable ones "
			       "have \"streaming\")",
			       v);
	} else {
		struct pick p = {s, NULL};
		s->host.model_each(s->host.ctx, pick_causal, &p);
		r->model = p.m;
		if (!r->model)
			refuse(ss, API_P_NOT_STREAMABLE, WS_CLOSE_POLICY,
			       "no causal audio model is loaded: load one trained with causal = 1 (denoise "
			       "train --causal) and name it with ?model=");
	}
	if (r->model) {
		const dn_model *m = s->host.model_get(r->model);
		const dn_model_info *i = dn_model_get_info(m);
		snprintf(ss->model_name, sizeof ss->model_name, "%s", s->host.model_name(r->model));
		ss->model = m;
		if (i->kind != DN_MODEL_AUDIO)
			refuse(ss, API_P_MODEL_KIND, WS_CLOSE_POLICY, "model '%s' is a frame model; name an audio model",
			       ss->model_name);
		else if (!i->arch.causal)
			refuse(ss, API_P_NOT_STREAMABLE, WS_CLOSE_POLICY,
			       "model '%s' is not causal and cannot stream: name a model trained with causal = 1 "
			       "(GET /v1/models shows \"streaming\")",
			       ss->model_name);
	}
	if (!ss->err_id) {
		if (atomic_fetch_add(&s->streams, 1) >= s->p.max_streams) {
			atomic_fetch_sub(&s->streams, 1);
			refuse(ss, API_P_TOO_MANY_STREAMS, WS_CLOSE_TRY_LATER,
			       "%d streams are running, max_streams: retry later", s->p.max_streams);
		} else {
			ss->counted = 1;
		}
	}
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, ss);
	if (!resp) {
		if (ss->counted)
			atomic_fetch_sub(&s->streams, 1);
		free(ss);
		api_answer_problem(r, API_P_INTERNAL, "cannot prepare the WebSocket upgrade");
		return;
	}
	char accept[29];
	ws_accept_key(key, accept);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
	r->stream = ss;
	if (ss->err_id)
		snprintf(r->note, sizeof r->note, "%.120s", ss->err_detail);
	api_answer(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp, 0);
}
