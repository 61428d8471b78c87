/*
 * problem.h — application/problem+json (RFC 9457) bodies for every error the
 * API gives.
 *
 * Each kind of problem has a stable `type` (a URN that clients may match on),
 * a fixed `title` and an HTTP status; the `detail` says what to change. The
 * table lives in problem.c so the list of types is in one place (the OpenAPI
 * document lists the same).
 */
#ifndef API_PROBLEM_H
#define API_PROBLEM_H

#include <stddef.h>

enum api_problem {
	API_P_NOT_FOUND,        /* 404 no such route */
	API_P_METHOD,           /* 405 route exists, method does not */
	API_P_UNAUTHORIZED,     /* 401 bearer token missing or wrong */
	API_P_ORIGIN,           /* 403 CORS origin not allowed */
	API_P_BODY_TOO_LARGE,   /* 413 body over max_body_bytes */
	API_P_MEDIA_TYPE,       /* 415 content type not accepted */
	API_P_BAD_PARAMETER,    /* 400 query or form parameter invalid */
	API_P_BAD_MULTIPART,    /* 400 multipart/form-data malformed */
	API_P_NO_AUDIO,         /* 400 empty body or no file part */
	API_P_UNKNOWN_MODEL,    /* 404 model not loaded */
	API_P_MODEL_KIND,       /* 400 model is not of the kind the route needs */
	API_P_BAD_AUDIO,        /* 422 audio cannot be decoded */
	API_P_AUDIO_TOO_LONG,   /* 413 audio over max_audio_seconds (or channels, rate) */
	API_P_OVERLOADED,       /* 503 queue full */
	API_P_SHUTTING_DOWN,    /* 503 draining */
	API_P_NOT_READY,        /* 503 readiness failed */
	API_P_INTERNAL,         /* 500 */
	API_P_BAD_JSON,         /* 400 body is not JSON */
	API_P_INVALID_JOB,      /* 422 job spec (or registration) invalid; names the field */
	API_P_UNKNOWN_JOB,      /* 404 no such job */
	API_P_JOB_STATE,        /* 409 the job is not in a state that allows this */
	API_P_TOO_MANY_JOBS,    /* 429 job queue full */
	API_P_NO_FRAME,         /* 400 empty body or no image part */
	API_P_BAD_FRAME,        /* 422 JPEG cannot be decoded */
	API_P_FRAME_TOO_LARGE,  /* 413 frame over max_frame_pixels */
	API_P_REQUEST_TIMEOUT,  /* 408 body not received within request_timeout */
	API_P_DEADLINE,         /* 504 work stopped at request_deadline */
	API_P_MEMORY_BUDGET,    /* 503 memory_budget taken by requests in flight */
	API_P_NO_STORAGE,       /* 507 the state directory is full */
	API_P_NAME_TAKEN,       /* 409 a model of that name is loaded */
	API_P_TOO_MANY_MODELS,  /* 507 max_models are served */
	API_P_WEBSOCKET,        /* 426 /v1/audio:stream without a WebSocket handshake */
	API_P_TOO_MANY_STREAMS, /* 503 max_streams running (sent over the WebSocket) */
	API_P_NOT_STREAMABLE,   /* 422 the model is not causal */
	API_P_STREAM_IDLE,      /* 408 nothing arrived for stream_idle_timeout */
	API_P_WS_PROTOCOL,      /* 400 a frame breaks RFC 6455 */
	API_P_NO_CARD,          /* 404 no model card (.md) beside the model's file */
	API_P_COUNT
};

int api_problem_status(int id);
const char *api_problem_type(int id);
const char *api_problem_title(int id);

/* The JSON body {type, title, status, detail, instance} as a malloc'd string
 * (caller frees) with its length in *len; NULL when out of memory. detail and
 * instance may be NULL. */
char *api_problem_json(int id, const char *detail, const char *instance, size_t *len);

#endif
