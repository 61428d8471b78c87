/*
 * api.h — the HTTP server of DESIGN.md "HTTP API (v1)", over libmicrohttpd.
 *
 * api/ knows HTTP, JSON and the routes; it does not own threads for
 * inference, the model registry or the process. Those belong to daemon/,
 * which lends them through api_host: a table of functions the routes call to
 * find a model, hand work to a worker thread and read gauges. The arrows stay
 * pointing down (daemon -> api -> core) and the server can be driven by any
 * host, a test included.
 *
 * Threads: libmicrohttpd's threads parse requests and answer the cheap routes
 * (health, models, metrics, OpenAPI); inference runs only in jobs given to
 * api_host.submit, while the connection is suspended.
 */
#ifndef API_API_H
#define API_API_H

#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"
#include "core/model/model.h"
#include "core/image/frame.h"
#include "core/audio/speech.h"

/* Log levels the server uses when it calls api_host.log (same order as the
 * daemon's). */
enum { API_LOG_ERROR = 0, API_LOG_WARNING = 1, API_LOG_INFO = 2, API_LOG_DEBUG = 3 };

/* A counted reference to a loaded model; the host defines it. */
typedef struct api_model api_model;
/* Jansson's value type (jobs pass JSON through the host). */
struct json_t;

/* Numbers the host reports for /metrics and readiness. */
typedef struct api_gauges {
	size_t queue_depth;      /* jobs waiting for a worker */
	size_t queue_capacity;   /* queue_length */
	size_t busy_workers;     /* jobs running */
	int workers;             /* worker threads */
	int blas_threads;        /* OpenBLAS threads per worker */
	size_t models_loaded;    /* models serving now */
	size_t models_failed;    /* model files that failed at the last start or reload */
	uint64_t reloads_ok;     /* SIGHUP reloads that succeeded */
	uint64_t reloads_failed; /* reloads that kept an old model for some file */
} api_gauges;

typedef struct api_host {
	void *ctx; /* passed back to every function below */
	/* A counted reference to the model called name, or to the default model
	 * when name is NULL; NULL when there is none. */
	api_model *(*model_acquire)(void *ctx, const char *name);
	void (*model_release)(void *ctx, api_model *m);
	/* Calls fn once per model serving now, in name order, with a reference
	 * held during the call; is_default marks the default model. */
	void (*model_each)(void *ctx, void (*fn)(void *arg, api_model *m, int is_default), void *arg);
	const dn_model *(*model_get)(const api_model *m);
	const char *(*model_name)(const api_model *m);
	int64_t (*model_loaded_at)(const api_model *m); /* Unix time, seconds */
	/* The file the model was loaded from (GET /v1/models/{name}/card reads
	 * the .md beside it); may be NULL, or return NULL: no card. */
	const char *(*model_path)(const api_model *m);
	/* Runs fn(arg, worker) on a worker thread. DN_ELIMIT when the queue is
	 * full, DN_ECANCELLED when shutting down; then fn is never called. A job
	 * cancelled later runs with worker == NULL (only to answer). */
	int (*submit)(void *ctx, void (*fn)(void *arg, void *worker), void *arg);
	/* The calling worker's speech context for m, created on first use and
	 * kept by the worker; NULL with err set on failure. */
	dn_speech *(*worker_speech)(void *ctx, void *worker, api_model *m, dn_error *err);
	/* The same for a frame model's tiling context. */
	dn_frame *(*worker_frame)(void *ctx, void *worker, api_model *m, dn_error *err);
	void (*gauges)(void *ctx, api_gauges *g);
	/* Calls fn with each model file that failed to load (name, why); may be
	 * NULL. */
	void (*model_failures)(void *ctx, void (*fn)(void *arg, const char *name, const char *why),
	                       void *arg);
	/* Logs one line (no newline) at a level. */
	void (*log)(void *ctx, int level, const char *line);

	/* Jobs (see daemon/jobs.h, whose functions these mirror); job_submit
	 * NULL: the host runs no jobs and the job routes answer 503. JSON
	 * returned is a new reference the caller owns. */
	int (*job_submit)(void *ctx, const struct json_t *spec, struct json_t **job, char *field,
	                  size_t field_cap, dn_error *err);
	struct json_t *(*job_get)(void *ctx, const char *id, int plots, dn_error *err);
	struct json_t *(*job_list)(void *ctx, const char *state, size_t limit, const char *cursor,
	                           size_t offset, dn_error *err);
	int (*job_cancel)(void *ctx, const char *id, struct json_t **job, dn_error *err);
	uint64_t (*job_version)(void *ctx, const char *id, int *finished);
	int (*job_watch)(void *ctx, const char *id, uint64_t seen, void (*wake)(void *arg), void *arg);
	void (*job_unwatch)(void *ctx, void *arg);
	int (*job_closing)(void *ctx);
	int (*job_register)(void *ctx, const char *id, const char *name, dn_error *err);
} api_host;

typedef struct api_params {
	const char *listen; /* IPv4 or IPv6 literal */
	int port;           /* 0: a free port (api_server_port says which) */
	int http_threads;
	int max_connections;
	uint64_t max_body_bytes;
	double max_audio_seconds;
	uint64_t max_decoded_audio_bytes; /* channels x frames x 4 after decoding; more gets 413 */
	uint64_t max_frame_pixels;        /* per frame of /v1/frames:denoise; larger gets 413 */
	int connection_timeout;           /* s without bytes before a connection is closed */
	int request_timeout;              /* s to receive a whole request body */
	int header_timeout;               /* s from connection (or last answer) to complete headers; 0: off */
	int max_connections_per_client;   /* per client address; 0: no limit */
	const char *cors_origins;         /* comma-separated, "*" for any, "" for none */
	const char *api_key;              /* bearer token for POST/DELETE; NULL or "" for none */
	int retry_after;                  /* seconds advertised with 503 (Retry-After) */
	uint64_t memory_budget;           /* bodies in flight + decoded audio/frames; 0: no budget */
	double request_deadline;          /* s from arrival to answer for denoising work; 0: none */
	int max_streams;                  /* GET /v1/audio:stream sessions at once; 0: none */
	double stream_idle_timeout;       /* s without a frame before a stream is closed */
	double stream_max_lag;            /* s of audio waiting unprocessed before "behind" is sent */
} api_params;

typedef struct api_server api_server;

/* Binds and starts serving. The host table is copied; host->ctx must outlive
 * the server. */
int api_server_start(const api_params *p, const api_host *host, api_server **out, dn_error *err);
/* The port actually bound. */
int api_server_port(const api_server *s);
/* Stops accepting connections (the listening socket closes); requests in
 * flight continue, and readiness turns to 503. */
void api_server_quiesce(api_server *s);
/* Requests received and not yet completely answered. */
unsigned api_server_inflight(const api_server *s);
/* Closes every connection and frees s. No job may still hold a request:
 * drain the host's workers first. */
void api_server_stop(api_server *s);

#endif
