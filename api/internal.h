/*
 * internal.h — what the files of api/ share: the server, the per-request
 * state and the helpers that prepare an answer. Not for use outside api/.
 *
 * Every handler prepares its answer in the request (api_answer_*); the
 * server queues it from a libmicrohttpd thread: at once for the cheap routes,
 * or after a worker prepared it and resumed the suspended connection.
 */
#ifndef API_INTERNAL_H
#define API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "api/api.h"
#include "api/multipart.h"
#include "api/problem.h"
#include "api/stats.h"

/* A connection the header watchdog knows about (server.c): libmicrohttpd
 * only calls us once a request's headers are complete, and its own timeout
 * restarts with every byte, so a client trickling header bytes would hold
 * its slot forever without this. */
typedef struct api_conn {
	struct api_conn *prev, *next;
	int fd;
	int in_request;        /* headers complete, request not yet answered */
	int cut;               /* shut down by the watchdog */
	struct timespec since; /* connection start, or end of the last request */
} api_conn;

struct api_server {
	struct MHD_Daemon *mhd;
	api_params p; /* strings point into the copies below */
	char *listen, *cors, *key;
	api_host host;
	api_stats stats;
	atomic_int quiesced;
	int port;

	/* The header watchdog: connections waiting for headers, and the thread
	 * that cuts those over header_timeout. */
	pthread_mutex_t conns_lock;
	pthread_cond_t watchdog_wake;
	api_conn *conns;
	pthread_t watchdog;
	int watchdog_running, watchdog_stop;

	/* Bytes of request bodies and decoded audio/frames held now, against
	 * p.memory_budget (api_mem_reserve). */
	atomic_ullong mem_in_use;

	/* GET /v1/audio:stream sessions holding a slot of p.max_streams. */
	atomic_int streams;
};

typedef struct api_request {
	api_server *srv;
	struct MHD_Connection *conn;
	int route;                   /* enum api_route */
	const struct route_def *def; /* its row of the route table (server.c); NULL: no route */
	char method[16];
	char path[256]; /* for the log, truncated */
	char client[64];
	struct timespec t0;
	uint64_t bytes_in, bytes_out;
	int status;              /* of the answer queued; 0 while none */
	char note[128];          /* what went wrong, for the log line */
	const char *cors_origin; /* value for Access-Control-Allow-Origin, or NULL */

	/* body */
	int wants_body;
	unsigned char *body;
	size_t len, cap;
	uint64_t limit, received;
	int too_large;

	/* the prepared answer */
	struct MHD_Response *resp;
	int resp_status;
	size_t resp_len;
	int suspended;
	api_conn *wc;      /* the watchdog's record of this connection, or NULL */
	uint64_t reserved; /* of the memory budget, given back in on_completed */
	_Atomic int cancelled; /* why api_request_cancel stopped the work: API_CANCEL_*; tile threads set it */

	/* POST /v1/audio:denoise */
	api_model *model;
	int format;
	int multipart;
	int query_model, query_format; /* given in the query (they win over form fields) */
	char content_type[256];

	/* POST /v1/frames:denoise (shares model, multipart, query_model; format
	 * is the answer's enum dn_image_format, 0: the input's) */
	int quality, query_quality;
	int subsamp, query_subsamp;
	int accept_format; /* what the Accept header prefers: 0 (no preference), JPEG or PNG */

	/* Sent as application/x-www-form-urlencoded (curl --data-binary without
	 * -H): the body's magic bytes decide at submit (api_sniff_ok). */
	int sniff;

	/* GET /v1/audio:stream: the session the upgrade hands its thread, and
	 * whether it did (then the thread owns it). */
	struct api_stream_sess *stream;
	int stream_started;
} api_request;

/* Prepares the answer (takes resp). body_len is what the log counts. */
void api_answer(api_request *r, int status, struct MHD_Response *resp, size_t body_len);
/* problem+json; detail printf-style. */
void api_answer_problem(api_request *r, int id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* JSON with status; takes the reference to j. */
void api_answer_json(api_request *r, int status, json_t *j);
/* Takes a malloc'd buffer. */
void api_answer_bytes(api_request *r, int status, const char *mime, void *buf, size_t len);

void api_log(api_server *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Route handlers, as the route table of server.c names them. A handler
 * prepares an answer (or, for an upload or a job, readies the request for
 * its body); rest is what follows a prefix route's path ("/v1/models/" ->
 * the name), NULL for an exact one. A body handler runs once the body is in
 * and returns 1 when the answer comes later (the connection is suspended
 * and a worker resumes it), 0 when it prepared one. */
typedef void api_handler(api_request *r, const char *rest);
typedef int api_body_handler(api_request *r);

/* routes.c */
api_handler api_route_live, api_route_ready, api_route_models, api_route_model, api_route_metrics,
    api_route_openapi;
/* Jobs (jobs.c). begin: GET, DELETE answered at once; POST readies the
 * body; post: the body of POST /v1/jobs or /v1/models is complete. */
api_handler api_jobs_begin;
api_body_handler api_jobs_post;
/* GET / and /web/{name}: the built-in web page (static.c); rest is NULL
 * for /. */
api_handler api_route_static;
/* Largest job spec or registration body. */
#define API_JOBS_BODY_MAX 65536
/* POST /v1/audio:denoise (audio.c). begin: before the body, checks content
 * type, parameters, model; sets an answer when refusing. submit: parses
 * multipart if any and hands the job to a worker; sets an answer when
 * refusing, returns 1 when the job is queued (the connection is already
 * suspended). */
api_handler api_audio_begin;
api_body_handler api_audio_submit;
/* GET /v1/audio:stream (stream.c): the WebSocket handshake, answered with
 * the upgrade or a problem; completed: on_completed's part (frees a
 * session whose upgrade never happened). */
api_handler api_stream_begin;
void api_stream_completed(api_request *r);
/* Constant-time string comparison for tokens (server.c). */
int api_token_equal(const char *a, const char *b);
/* The same pair for POST /v1/frames:denoise (frames.c). */
api_handler api_frames_begin;
api_body_handler api_frames_submit;

/* Upload bodies (body.c). The media type of a Content-Type value, without
 * parameters, lower-case, into out. */
void api_media_type(const char *ct, char *out, size_t cap);
/* A form field's value as a short string; "" when p is NULL or the value
 * does not fit in cap. */
void api_field_value(const api_part *p, char *out, size_t cap);
/* The begin-time check of an upload's Content-Type: multipart/form-data
 * with a valid boundary (sets r->multipart), or a media type accepted()
 * takes; copies the header into r->content_type. Otherwise sets a 415
 * (missing or refused type: "send <hint> or multipart/form-data") or 400
 * (bad boundary) answer and returns 0. */
int api_upload_content_type(api_request *r, int (*accepted)(const char *mt), const char *missing_hint,
                            const char *refused_hint);
/* Takes n bytes of the server's memory budget for r (given back when r
 * completes). Over the budget: takes nothing, sets a 503 answer with
 * Retry-After that names memory_budget, and returns 0; when n alone is more
 * than the whole budget (retrying cannot help), a 413 of type too_big. */
int api_mem_reserve(api_request *r, uint64_t n, const char *what, int too_big);
enum { API_CANCEL_NONE, API_CANCEL_DEADLINE, API_CANCEL_GONE };
/* A dn_cancel_fn over an api_request (arg): stops the work when the client
 * has closed its connection or request_deadline has passed since the
 * request arrived, recording which in r->cancelled. */
int api_request_cancel(void *arg, dn_error *err);
/* After work on r stopped with DN_ECANCELLED: the answer for why (504 for
 * the deadline, with what to change; for a client gone, one only the log
 * sees). */
void api_answer_cancelled(api_request *r, const char *what);
/* Gives back n bytes (at most what r holds) of r's share of the budget. */
void api_mem_release(api_request *r, uint64_t n);
/* A query parameter's value (NULL when absent) into *out. A value holding a
 * NUL byte (%00) would be silently cut short: sets a 400 answer naming the
 * parameter and returns 0. */
int api_query_param(api_request *r, const char *name, const char **out);
/* A form field's value into out (cap bytes with the NUL); "" when absent.
 * A value that does not fit, or holds a NUL byte, gets a 400 answer naming
 * the field and its limit, and 0. */
int api_form_field(api_request *r, const api_part *p, const char *name, char *out, size_t cap);
/* For a body that came as application/x-www-form-urlencoded: whether its
 * magic bytes say one of the kinds the route takes ("audio": WAV, FLAC,
 * Ogg, MP3, AIFF; "image": JPEG, PNG). Sets a 415 answer and returns 0 when
 * they do not. Returns 1 at once for any other content type. */
int api_sniff_ok(api_request *r, const char *kind);
/* Suspends r's connection and hands job(r) to a worker, which answers and
 * resumes it. When the queue is full (503 overloaded) or the server is
 * shutting down (503), sets that answer and resumes the connection itself.
 * Returns 1 either way: the answer comes through the resumed connection. */
int api_upload_queue(api_request *r, void (*job)(void *arg, void *worker));

/* The OpenAPI document, embedded at build time from api/openapi.json. */
extern const char api_openapi_json[];
/* That document with the training parameters filled in from their table
 * (openapi.c): built at the first call, shared, never freed; NULL when out
 * of memory. */
const char *api_openapi_document(size_t *len);

#endif
