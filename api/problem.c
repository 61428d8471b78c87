/*
 * problem.c — the table of problem types and their JSON encoding (Jansson).
 */
#include "api/problem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* URNs: stable identifiers that do not pretend to be a web page. */
#define URN "urn:denoised:problem:"

static const struct {
	int status;
	const char *type;
	const char *title;
} problems[API_P_COUNT] = {
    [API_P_NOT_FOUND] = {404, URN "not-found", "No such resource"},
    [API_P_METHOD] = {405, URN "method-not-allowed", "Method not allowed on this resource"},
    [API_P_UNAUTHORIZED] = {401, URN "unauthorized", "A valid bearer token is required"},
    [API_P_ORIGIN] = {403, URN "origin-not-allowed", "Cross-origin request from an origin not allowed"},
    [API_P_BODY_TOO_LARGE] = {413, URN "body-too-large", "Request body too large"},
    [API_P_MEDIA_TYPE] = {415, URN "unsupported-media-type", "Unsupported content type"},
    [API_P_BAD_PARAMETER] = {400, URN "bad-parameter", "Invalid parameter"},
    [API_P_BAD_MULTIPART] = {400, URN "bad-multipart", "Malformed multipart/form-data body"},
    [API_P_NO_AUDIO] = {400, URN "no-audio", "No audio in the request"},
    [API_P_UNKNOWN_MODEL] = {404, URN "unknown-model", "No such model"},
    [API_P_MODEL_KIND] = {400, URN "wrong-model-kind", "Model does not handle this kind of input"},
    [API_P_BAD_AUDIO] = {422, URN "bad-audio", "Audio could not be decoded"},
    [API_P_AUDIO_TOO_LONG] = {413, URN "audio-over-limit", "Audio exceeds a configured limit"},
    [API_P_OVERLOADED] = {503, URN "overloaded", "Too many requests waiting; retry later"},
    [API_P_SHUTTING_DOWN] = {503, URN "shutting-down", "The server is shutting down"},
    [API_P_NOT_READY] = {503, URN "not-ready", "The server is not ready"},
    [API_P_INTERNAL] = {500, URN "internal", "Internal error"},
    [API_P_BAD_JSON] = {400, URN "bad-json", "The body is not valid JSON"},
    [API_P_INVALID_JOB] = {422, URN "invalid-job-spec", "Invalid job specification"},
    [API_P_UNKNOWN_JOB] = {404, URN "unknown-job", "No such job"},
    [API_P_JOB_STATE] = {409, URN "job-state", "The job's state does not allow this"},
    [API_P_TOO_MANY_JOBS] = {429, URN "too-many-jobs", "Too many jobs waiting; retry later"},
    [API_P_NO_FRAME] = {400, URN "no-frame", "No frame in the request"},
    [API_P_BAD_FRAME] = {422, URN "bad-frame", "Frame could not be decoded"},
    [API_P_FRAME_TOO_LARGE] = {413, URN "frame-over-limit", "Frame exceeds max_frame_pixels"},
    [API_P_REQUEST_TIMEOUT] = {408, URN "request-timeout", "The request did not arrive in time"},
    [API_P_DEADLINE] = {504, URN "deadline-exceeded", "The work took longer than request_deadline"},
    [API_P_MEMORY_BUDGET] = {503, URN "memory-budget",
                             "Requests in flight hold the memory budget; retry later"},
    [API_P_NO_STORAGE] = {507, URN "insufficient-storage", "The server has no space left to store this"},
    [API_P_NAME_TAKEN] = {409, URN "model-name-taken", "A model of that name is already loaded"},
    [API_P_TOO_MANY_MODELS] = {507, URN "too-many-models", "The server serves as many models as it may"},
    [API_P_WEBSOCKET] = {426, URN "websocket-required", "This resource is a WebSocket"},
    [API_P_TOO_MANY_STREAMS] = {503, URN "too-many-streams", "Too many streams running; retry later"},
    [API_P_NOT_STREAMABLE] = {422, URN "model-not-streamable", "The model cannot stream"},
    [API_P_STREAM_IDLE] = {408, URN "stream-idle", "Nothing arrived on the stream in time"},
    [API_P_WS_PROTOCOL] = {400, URN "websocket-protocol", "The WebSocket frame breaks RFC 6455"},
    [API_P_NO_CARD] = {404, URN "no-model-card", "The model has no card"},
};

int api_problem_status(int id)
{
	return id >= 0 && id < API_P_COUNT ? problems[id].status : 500;
}

const char *api_problem_title(int id)
{
	return id >= 0 && id < API_P_COUNT ? problems[id].title : problems[API_P_INTERNAL].title;
}

const char *api_problem_type(int id)
{
	return id >= 0 && id < API_P_COUNT ? problems[id].type : problems[API_P_INTERNAL].type;
}

char *api_problem_json(int id, const char *detail, const char *instance, size_t *len)
{
	json_t *o;
	char *text;

	if (id < 0 || id >= API_P_COUNT)
		id = API_P_INTERNAL;
	o = json_pack("{s:s, s:s, s:i}", "type", problems[id].type, "title", problems[id].title, "status",
	              problems[id].status);
	if (!o)
		return NULL;
	/* Details may quote bytes from the request; Jansson refuses invalid
	 * UTF-8, in which case the detail is left out rather than the problem. */
	if (detail && *detail)
		json_object_set_new(o, "detail", json_string(detail));
	if (instance && *instance)
		json_object_set_new(o, "instance", json_string(instance));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text && len)
		*len = strlen(text);
	return text;
}
