/*
 * test_jobs.c — asynchronous jobs (issue 7) against the real daemon.
 *
 * The harness of tests/harness.c, shared with test_api.c:
 * $DN_BUILDDIR/daemon/denoised on 127.0.0.1 port 0 with models made by
 * `tools/denoise model-init`, spoken to with libcurl. A tiny data set (synthetic voiced sounds, six "speakers") is
 * written under a data root. Covers: submitting a tiny training job and an
 * evaluation job and following them to the end by polling and by
 * Server-Sent Events; metrics and plots; registering the trained model;
 * cancelling a running job; a full queue; listing with filters and cursors;
 * every kind of malformed spec (422 naming the field); data set paths that
 * escape the roots; bearer tokens; SIGKILL in the middle of a training job
 * and what the next start makes of it.
 *
 * Waits are bounded (a hung daemon fails the test) but no assertion is about
 * how long something took.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/audio/audio.h"
#include "core/cuda/cuda.h"
#include "tests/check.h"
#include "tests/harness.h"

char tmp[] = "/tmp/dn_test_jobs_XXXXXX";
const char *builddir;

/* ---- jobs ---- */

static const char *token = "s3cret-token";

/* The JSON body of r (a new reference), or NULL. */
static json_t *body_json(const resp *r)
{
	json_error_t je;

	return r->body ? json_loads(r->body, 0, &je) : NULL;
}

/* POST path with a JSON body (and the token). */
static long post_json(int port, const char *path, const char *json, resp *r)
{
	static const char *const ct[] = {"Content-Type: application/json", NULL};
	req q = {.path = path, .headers = ct, .body = json, .len = strlen(json), .token = token};

	http(port, &q, r);
	return r->status;
}

/* Submits spec; the job's id into id (empty on failure). */
static long submit(int port, const char *spec, char *id, size_t cap)
{
	resp r;
	json_t *j;
	long st = post_json(port, "/v1/jobs", spec, &r);

	id[0] = '\0';
	j = body_json(&r);
	if (st == 202 && json_string_value(json_object_get(j, "id")))
		snprintf(id, cap, "%s", json_string_value(json_object_get(j, "id")));
	else
		fprintf(stderr, "submit %s: %ld %s\n", spec, st, r.body ? r.body : "");
	json_decref(j);
	resp_free(&r);
	return st;
}

/* GET /v1/jobs/ID (a new reference), or NULL. */
static json_t *job_get(int port, const char *id)
{
	char path[128];
	resp r;
	json_t *j = NULL;

	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	if (get(port, path, &r) == 200)
		j = body_json(&r);
	resp_free(&r);
	return j;
}

static const char *job_state(const json_t *j)
{
	const char *s = json_string_value(json_object_get(j, "state"));

	return s ? s : "?";
}

static int finished(const char *s)
{
	return !strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

/* Polls until the job is finished (or until want_state, when not NULL);
 * returns its object, or NULL after the wait (bounded). */
static json_t *poll_job(int port, const char *id, const char *want_state, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		json_t *j = job_get(port, id);

		if (j && (want_state ? strcmp(job_state(j), want_state) == 0 : finished(job_state(j))))
			return j;
		json_decref(j);
		sleep_ms(100);
	}
	fprintf(stderr, "job %s: not %s in %d s\n", id, want_state ? want_state : "finished", seconds);
	return NULL;
}

/* Polls until the training job reports epoch >= epoch. */
static int wait_epoch(int port, const char *id, int epoch, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		json_t *j = job_get(port, id);
		json_t *p = json_object_get(j, "progress");
		int e = (int)json_integer_value(json_object_get(p, "epoch"));
		int done = e > epoch || (e == epoch && json_integer_value(json_object_get(p, "step")) ==
		                                           json_integer_value(json_object_get(p, "steps")));

		json_decref(j);
		if (done)
			return 1;
		sleep_ms(100);
	}
	return 0;
}

/* Six "speakers", each a voiced sound: harmonics of a gliding f0 under a
 * syllable-rate envelope (enough structure for a spectrogram to learn). */
static int make_dataset(const char *dir)
{
	if (run("mkdir -p '%s'", dir) != 0)
		return -1;
	for (int s = 0; s < 6; s++) {
		dn_audio a = {0};
		dn_error err;
		char path[1024];
		double ph = 0;
		uint32_t rnd = 77u + (uint32_t)s;

		a.frames = 16000 + 1600 * (size_t)s;
		a.channels = 1;
		a.rate = 16000;
		a.data = malloc(a.frames * sizeof(float));
		if (!a.data)
			return -1;
		for (size_t i = 0; i < a.frames; i++) {
			double t = (double)i / 16000.0,
			       f0 = 110.0 + 20.0 * s + 30.0 * sin(2 * M_PI * 0.7 * t), x = 0;

			ph += 2 * M_PI * f0 / 16000.0;
			for (int h = 1; h <= 12; h++)
				x += sin(h * ph) / h;
			rnd = rnd * 1664525u + 1013904223u;
			a.data[i] = (float)(0.15 * x * (0.55 + 0.45 * sin(2 * M_PI * (3.0 + s * 0.3) * t)) +
			                    0.002 * ((double)(rnd >> 8) / 8388608.0 - 1.0));
		}
		snprintf(path, sizeof path, "%s/spk%d_%03d.wav", dir, s + 1, s + 1);
		if (dn_audio_write_file(&a, DN_AUDIO_WAV16, path, &err) != DN_OK) {
			fprintf(stderr, "%s: %s\n", path, err.msg);
			free(a.data);
			return -1;
		}
		free(a.data);
	}
	return 0;
}

/* A folder with one noise recording (1.5 s of a rumbling, uneven hum). */
static int make_noise(const char *dir)
{
	dn_audio a = {.frames = 24000, .channels = 1, .rate = 16000};
	dn_error err;
	char path[1024];
	uint32_t rnd = 5;
	int rc;

	if (run("mkdir -p '%s'", dir) != 0 || !(a.data = malloc(a.frames * sizeof(float))))
		return -1;
	for (size_t i = 0; i < a.frames; i++) {
		rnd = rnd * 1664525u + 1013904223u;
		a.data[i] = (float)(0.1 * sin(2 * M_PI * 60.0 * (double)i / 16000.0) +
		                    0.05 * ((double)(rnd >> 8) / 8388608.0 - 1.0));
	}
	snprintf(path, sizeof path, "%s/hum.wav", dir);
	rc = dn_audio_write_file(&a, DN_AUDIO_WAV16, path, &err);
	free(a.data);
	return rc == DN_OK ? 0 : -1;
}

/* The problem's "field" member equals want. */
static int names_field(const resp *r, const char *want)
{
	json_t *j = body_json(r);
	const char *f = json_string_value(json_object_get(j, "field"));
	int ok = f && strcmp(f, want) == 0;

	json_decref(j);
	return ok;
}

static void test_auth(int port)
{
	static const char *const ct[] = {"Content-Type: application/json", NULL};
	const char *spec = "{\"type\":\"eval\"}";
	req q = {.path = "/v1/jobs", .headers = ct, .body = spec, .len = strlen(spec)};
	req del = {.method = "DELETE", .path = "/v1/jobs/j000001"};
	req reg = {.path = "/v1/models", .headers = ct, .body = "{}", .len = 2};
	resp r;

	http(port, &q, &r);
	CHECK_PROBLEM(r, 401, "unauthorized");
	resp_free(&r);
	q.token = "wrong";
	http(port, &q, &r);
	CHECK_PROBLEM(r, 401, "unauthorized");
	resp_free(&r);
	http(port, &del, &r);
	CHECK_PROBLEM(r, 401, "unauthorized");
	resp_free(&r);
	http(port, &reg, &r);
	CHECK_PROBLEM(r, 401, "unauthorized");
	resp_free(&r);
	/* Reading needs no token. */
	CHECK(get(port, "/v1/jobs", &r) == 200);
	resp_free(&r);
	/* The OpenAPI document lists the job routes. */
	CHECK(get(port, "/v1/openapi.json", &r) == 200);
	{
		json_t *j = body_json(&r), *paths = json_object_get(j, "paths");
		static const char *const want[] = {"/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/plots",
		                                   "/v1/jobs/{id}/events"};

		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
			CHECK_MSG(json_object_get(paths, want[i]) != NULL, "openapi.json lacks %s", want[i]);
		CHECK(json_object_get(json_object_get(paths, "/v1/models"), "post") != NULL);
		CHECK(r.body && strstr(r.body, "urn:denoised:problem:invalid-job-spec"));
		json_decref(j);
	}
	resp_free(&r);
}

static void test_malformed(int port)
{
	char outside[600], spec[1024];
	static const struct {
		const char *spec, *field;
	} bad[] = {
	    {"{}", "type"},
	    {"[1]", "(body)"},
	    {"{\"type\":\"fit\"}", "type"},
	    {"{\"type\":7}", "type"},
	    {"{\"type\":\"train\",\"extra\":1}", "extra"},
	    {"{\"type\":\"train\",\"params\":\"x\"}", "params"},
	    {"{\"type\":\"train\",\"params\":{\"epochs\":0}}", "params.epochs"},
	    {"{\"type\":\"train\",\"params\":{\"epochs\":\"2\"}}", "params.epochs"},
	    {"{\"type\":\"train\",\"params\":{\"epochs\":1.5}}", "params.epochs"},
	    {"{\"type\":\"train\",\"params\":{\"lr\":-1}}", "params.lr"},
	    {"{\"type\":\"train\",\"params\":{\"depth\":9}}", "params.depth"},
	    {"{\"type\":\"train\",\"params\":{\"filters\":513}}", "params.filters"},
	    {"{\"type\":\"train\",\"params\":{\"loss\":\"l3\"}}", "params.loss"},
	    {"{\"type\":\"train\",\"params\":{\"wat\":1}}", "params.wat"},
	    {"{\"type\":\"train\",\"params\":{\"noise\":[\"red\"]}}", "params.noise[0]"},
	    {"{\"type\":\"train\",\"params\":{\"snr_min_db\":10,\"snr_max_db\":0}}", "params.snr_max_db"},
	    {"{\"type\":\"eval\",\"params\":{\"epochs\":1}}", "params.epochs"},
	    {"{\"type\":\"eval\",\"params\":{\"noise\":[\"file\"]}}", "params.noise"},
	    {"{\"type\":\"train\",\"params\":{\"noise\":[\"file\"]}}", "params.noise[0]"},
	    {"{\"type\":\"eval\",\"noise_dataset\":\"nosuch\"}", "noise_dataset"},
	    {"{\"type\":\"eval\",\"noise_dataset\":\"../outside\"}", "noise_dataset"},
	    {"{\"type\":\"train\",\"noise_dataset\":7}", "noise_dataset"},
	    {"{\"type\":\"train\",\"params\":{\"augment\":\"loud\"}}", "params.augment"},
	    {"{\"type\":\"train\",\"params\":{\"aug_band_prob\":-0.5}}", "params"},
	    {"{\"type\":\"train\",\"params\":{\"rt60_min_s\":0.9,\"rt60_max_s\":0.2}}", "params"},
	    {"{\"type\":\"eval\",\"params\":{\"snr_db\":[5,\"x\"]}}", "params.snr_db[1]"},
	    {"{\"type\":\"eval\",\"params\":{\"snr_db\":[]}}", "params.snr_db"},
	    {"{\"type\":\"eval\",\"params\":{\"max_files\":-1}}", "params.max_files"},
	    {"{\"type\":\"eval\",\"model\":\"nope\"}", "model"},
	    {"{\"type\":\"eval\",\"model\":3}", "model"},
	    {"{\"type\":\"eval\",\"register_as\":\"x\"}", "register_as"},
	    {"{\"type\":\"train\",\"register_as\":\"bad name\"}", "register_as"},
	    {"{\"type\":\"train\",\"device\":\"gpu\"}", "device"},
	    {"{\"type\":\"train\",\"device\":\"cuda:99\"}", "device"},
	    {"{\"type\":\"train\",\"device\":7}", "device"},
	    {"{\"type\":\"eval\",\"device\":\"cpu\"}", "device"},
	    {"{\"type\":\"train\",\"device\":\"cpu\",\"precision\":\"bf16\"}", "precision"},
	    {"{\"type\":\"train\",\"precision\":\"fp8\"}", "precision"},
	    {"{\"type\":\"eval\",\"dataset\":\"\"}", "dataset"},
	    {"{\"type\":\"eval\",\"dataset\":\"nosuch\"}", "dataset"},
	    /* escapes: .., a symbolic link out of the root, absolute elsewhere */
	    {"{\"type\":\"eval\",\"dataset\":\"../outside\"}", "dataset"},
	    {"{\"type\":\"eval\",\"dataset\":\"tiny/../../outside\"}", "dataset"},
	    {"{\"type\":\"eval\",\"dataset\":\"escape\"}", "dataset"},
	    {"{\"type\":\"eval\",\"dataset\":\"/etc\"}", "dataset"},
	    {"{\"type\":\"eval\",\"params\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}"
	     "}}",
	     "(body)"},
	};
	resp r;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post_json(port, "/v1/jobs", bad[i].spec, &r);
		CHECK_PROBLEM(r, 422, "invalid-job-spec");
		CHECK_MSG(names_field(&r, bad[i].field), "%s: want field %s, got %s", bad[i].spec,
		          bad[i].field, r.body ? r.body : "");
		resp_free(&r);
	}
	/* Without a visible GPU, "cuda" is refused at submit, saying why. */
	if (dn_cuda_device_count() == 0) {
		post_json(port, "/v1/jobs", "{\"type\":\"train\",\"device\":\"cuda\"}", &r);
		CHECK_PROBLEM(r, 422, "invalid-job-spec");
		CHECK(names_field(&r, "device"));
		CHECK_MSG(r.body && (strstr(r.body, "no CUDA backend") || strstr(r.body, "CUDA devices are visible")),
		          "device refusal says why: %s", r.body ? r.body : "");
		resp_free(&r);
	}
	/* An absolute path outside every root. */
	snprintf(outside, sizeof outside, "%s", path_in_tmp("outside"));
	snprintf(spec, sizeof spec, "{\"type\":\"eval\",\"dataset\":\"%s\"}", outside);
	post_json(port, "/v1/jobs", spec, &r);
	CHECK_PROBLEM(r, 422, "invalid-job-spec");
	CHECK(names_field(&r, "dataset"));
	resp_free(&r);
	/* Not JSON at all; not declared as JSON. */
	post_json(port, "/v1/jobs", "{\"type\":", &r);
	CHECK_PROBLEM(r, 400, "bad-json");
	resp_free(&r);
	{
		static const char *const ct[] = {"Content-Type: text/plain", NULL};
		req q = {.path = "/v1/jobs", .headers = ct, .body = "{}", .len = 2, .token = token};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 415, "unsupported-media-type");
		resp_free(&r);
	}
	/* Nothing was queued by any of them. */
	{
		json_t *j;

		CHECK(get(port, "/v1/jobs", &r) == 200);
		j = body_json(&r);
		CHECK(json_integer_value(json_object_get(j, "total")) == 0);
		json_decref(j);
		resp_free(&r);
	}
}

/* Follows a job's events to the end; returns the stream's text (malloc'd). */
static char *follow_sse(int port, const char *id)
{
	char path[128], ct[128] = "";
	resp r;
	char *text;

	snprintf(path, sizeof path, "/v1/jobs/%s/events", id);
	get(port, path, &r);
	CHECK(r.status == 200);
	CHECK(header(&r, "Content-Type", ct, sizeof ct) && strcmp(ct, "text/event-stream") == 0);
	text = r.body ? strdup(r.body) : strdup("");
	resp_free(&r);
	return text;
}

/* The OpenAPI document's JobSpec.params (filled in from core's table of
 * training parameters) describes every parameter a normalized training spec
 * shows, with the defaults it got (those the test did not set) and bounds
 * that hold them; filters is the issue-16 fact: 1..512. */
static void check_schema_matches(int port, const json_t *params)
{
	static const char *const given[] = {"epochs", "filters", "depth", "batch", "patch_frames"};
	resp r;
	json_t *doc, *props, *val;
	const char *key;

	CHECK(get(port, "/v1/openapi.json", &r) == 200);
	doc = body_json(&r);
	props = json_object_get(
	    json_object_get(
	        json_object_get(
	            json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
	                            "JobSpec"),
	            "properties"),
	        "params"),
	    "properties");
	CHECK(json_object_size(params) > 10);
	json_object_foreach((json_t *)params, key, val)
	{
		json_t *s = json_object_get(props, key), *def = json_object_get(s, "default");
		int set = 0;

		CHECK_MSG(s != NULL, "openapi.json: JobSpec.params lacks %s", key);
		for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
			set |= !strcmp(key, given[i]);
		if (def && !set)
			CHECK_MSG(json_equal(def, val) || (json_is_number(def) &&
			                                   json_number_value(def) == json_number_value(val)),
			          "openapi.json: params.%s default differs from a job's", key);
		if (json_is_number(val) && json_object_get(s, "maximum"))
			CHECK_MSG(
			    json_number_value(val) <= json_number_value(json_object_get(s, "maximum")) &&
			        json_number_value(val) >= json_number_value(json_object_get(s, "minimum")),
			    "openapi.json: params.%s out of its own bounds", key);
	}
	CHECK(json_integer_value(json_object_get(json_object_get(props, "filters"), "maximum")) == 512);
	json_decref(doc);
	resp_free(&r);
}

static void test_train_and_eval(int port, char *train_id, size_t cap)
{
	char id[64], loc[128], path[128];
	resp r;
	json_t *j, *m, *p;
	char *events;

	/* A tiny training job, registered under a name when it succeeds. */
	post_json(port, "/v1/jobs",
	          "{\"type\":\"train\",\"dataset\":\"tiny\",\"register_as\":\"tiny1\","
	          "\"params\":{\"epochs\":2,\"filters\":4,\"depth\":2,\"batch\":4,\"patch_frames\":32}}",
	          &r);
	CHECK(r.status == 202);
	j = body_json(&r);
	snprintf(id, sizeof id, "%s",
	         json_string_value(json_object_get(j, "id")) ? json_string_value(json_object_get(j, "id"))
	                                                     : "");
	snprintf(train_id, cap, "%s", id);
	CHECK(header(&r, "Location", loc, sizeof loc));
	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	CHECK(strcmp(loc, path) == 0);
	CHECK(!strcmp(job_state(j), "queued") || !strcmp(job_state(j), "running"));
	/* The spec comes back normalized: defaults filled in. */
	CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(j, "spec"), "params"),
	                                         "lr_patience")) == 5);
	check_schema_matches(port, json_object_get(json_object_get(j, "spec"), "params"));
	json_decref(j);
	resp_free(&r);

	/* Followed by SSE to the end. */
	events = follow_sse(port, id);
	CHECK_MSG(strstr(events, "event: done") != NULL, "events: %.500s", events);
	CHECK(strstr(events, "\"state\":\"succeeded\"") != NULL);
	free(events);
	j = poll_job(port, id, NULL, 60);
	CHECK(j && !strcmp(job_state(j), "succeeded"));
	m = json_object_get(j, "metrics");
	CHECK(json_integer_value(json_object_get(m, "epochs")) == 2);
	CHECK(json_integer_value(json_object_get(m, "best_epoch")) >= 1);
	CHECK(json_is_number(json_object_get(m, "best_val_loss")));
	CHECK(json_is_string(json_object_get(j, "started")) &&
	      json_is_string(json_object_get(j, "finished")));
	CHECK(json_real_value(json_object_get(json_object_get(j, "progress"), "fraction")) == 1.0);
	json_decref(j);

	/* Plots: the training curves. */
	snprintf(path, sizeof path, "/v1/jobs/%s/plots", id);
	CHECK(get(port, path, &r) == 200);
	j = body_json(&r);
	p = json_object_get(j, "training");
	CHECK(json_array_size(json_object_get(p, "epoch")) == 2 &&
	      json_array_size(json_object_get(p, "loss")) == 2 &&
	      json_array_size(json_object_get(p, "val_loss")) == 2);
	json_decref(j);
	resp_free(&r);

	/* Registered and served without a restart, with its version and metrics. */
	for (int i = 0; i < 50; i++) {
		if (get(port, "/v1/models/tiny1", &r) == 200)
			break;
		resp_free(&r);
		sleep_ms(100);
	}
	CHECK(r.status == 200);
	j = body_json(&r);
	CHECK(json_string_value(json_object_get(j, "version")) &&
	      !strcmp(json_string_value(json_object_get(j, "version")), id));
	CHECK(json_string_value(json_object_get(json_object_get(j, "metadata"), "train.best_val_loss")) !=
	      NULL);
	json_decref(j);
	resp_free(&r);
	/* ... and by POST /v1/models under another name. */
	snprintf(path, sizeof path, "{\"job\":\"%s\",\"name\":\"tiny2\"}", id);
	CHECK(post_json(port, "/v1/models", path, &r) == 201);
	resp_free(&r);
	CHECK(get(port, "/v1/models", &r) == 200 && r.body && strstr(r.body, "\"tiny2\"") != NULL);
	j = body_json(&r);
	{
		size_t i;
		json_t *e;
		int seen = 0;

		json_array_foreach(json_object_get(j, "models"), i, e)
		{
			if (strcmp(json_string_value(json_object_get(e, "name")), "tiny2"))
				continue;
			seen = 1;
			CHECK(!strcmp(json_string_value(json_object_get(e, "version")), id));
			CHECK(!strcmp(
			    json_string_value(json_object_get(json_object_get(e, "training"), "job")), id));
			CHECK(
			    json_is_number(json_object_get(json_object_get(e, "training"), "best_val_loss")));
		}
		CHECK(seen);
	}
	json_decref(j);
	resp_free(&r);
	post_json(port, "/v1/models", "{\"job\":\"j999999\",\"name\":\"x\"}", &r);
	CHECK_PROBLEM(r, 404, "unknown-job");
	resp_free(&r);
	snprintf(path, sizeof path, "{\"job\":\"%s\",\"name\":\"speech\"}", id);
	post_json(port, "/v1/models", path, &r);
	CHECK_PROBLEM(r, 422, "invalid-job-spec"); /* the shipped-like model keeps its name */
	CHECK(names_field(&r, "name"));
	resp_free(&r);

	/* An evaluation of the new model, followed by polling. */
	CHECK(
	    submit(port,
	           "{\"type\":\"eval\",\"model\":\"tiny1\",\"dataset\":\"tiny\","
	           "\"params\":{\"split\":\"all\",\"max_files\":2,\"snr_db\":[5,15],\"noise\":[\"white\"]}}",
	           id, sizeof id) == 202);
	j = poll_job(port, id, NULL, 120);
	CHECK_MSG(j && !strcmp(job_state(j), "succeeded"), "eval: %s",
	          j ? json_string_value(json_object_get(j, "error")) : "timeout");
	m = json_object_get(j, "metrics");
	CHECK(json_array_size(json_object_get(m, "by_snr")) == 2);
	CHECK(json_is_object(json_object_get(json_object_get(m, "summary"), "pesq_wb")));
	CHECK(json_object_get(m, "plots") == NULL);
	json_decref(j);
	snprintf(path, sizeof path, "/v1/jobs/%s/plots", id);
	CHECK(get(port, path, &r) == 200);
	j = body_json(&r);
	CHECK(json_array_size(json_object_get(json_object_get(j, "metric_vs_snr"), "x_snr_db")) == 2);
	CHECK(json_is_object(json_object_get(j, "histograms")));
	json_decref(j);
	resp_free(&r);
	/* An evaluation made no model. */
	snprintf(path, sizeof path, "{\"job\":\"%s\",\"name\":\"nomodel\"}", id);
	post_json(port, "/v1/models", path, &r);
	CHECK_PROBLEM(r, 409, "job-state");
	resp_free(&r);

	/* An evaluation on noise recordings alone (the kind "file"), from a
	 * noise folder under the data root. */
	CHECK(submit(port,
	             "{\"type\":\"eval\",\"model\":\"tiny1\",\"dataset\":\"tiny\",\"noise_dataset\":\"noise\","
	             "\"params\":{\"split\":\"all\",\"max_files\":2,\"snr_db\":[0],\"noise\":[\"file\"]}}",
	             id, sizeof id) == 202);
	j = poll_job(port, id, NULL, 120);
	CHECK_MSG(j && !strcmp(job_state(j), "succeeded"), "eval on recordings: %s",
	          j ? json_string_value(json_object_get(j, "error")) : "timeout");
	m = json_object_get(json_object_get(j, "metrics"), "test_set");
	CHECK(json_array_size(json_object_get(m, "noise")) == 1 &&
	      !strcmp(json_string_value(json_array_get(json_object_get(m, "noise"), 0)), "file"));
	CHECK(json_integer_value(json_object_get(m, "noisy_files")) == 2);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(j, "spec"), "noise_dataset")), "noise"));
	json_decref(j);
	/* And a training job mixing synthetic and recorded noise, augmented. */
	CHECK(submit(port,
	             "{\"type\":\"train\",\"dataset\":\"tiny\",\"noise_dataset\":\"noise\","
	             "\"params\":{\"epochs\":1,\"filters\":4,\"depth\":2,\"patch_frames\":16,"
	             "\"augment\":\"real\",\"aug_reverb_prob\":1}}",
	             id, sizeof id) == 202);
	j = poll_job(port, id, NULL, 120);
	CHECK_MSG(j && !strcmp(job_state(j), "succeeded"), "augmented training: %s",
	          j ? json_string_value(json_object_get(j, "error")) : "timeout");
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(json_object_get(j, "spec"), "params"),
	                                                "augment")),
	              "real"));
	json_decref(j);
	/* {"type":"eval"} alone: the default model on the built-in corpus,
	 * which this test points at an empty folder: a clear failure. */
	CHECK(submit(port, "{\"type\":\"eval\"}", id, sizeof id) == 202);
	j = poll_job(port, id, NULL, 60);
	CHECK(j && !strcmp(job_state(j), "failed"));
	CHECK_MSG(j && json_string_value(json_object_get(j, "error")) &&
	              strstr(json_string_value(json_object_get(j, "error")), "make-speech-corpus.py"),
	          "error: %s", j ? json_string_value(json_object_get(j, "error")) : "");
	json_decref(j);
	snprintf(path, sizeof path, "/v1/jobs/%s/plots", id);
	get(port, path, &r);
	CHECK_PROBLEM(r, 409, "job-state");
	resp_free(&r);
	get(port, "/v1/jobs/j999999", &r);
	CHECK_PROBLEM(r, 404, "unknown-job");
	resp_free(&r);
	get(port, "/v1/jobs/j999999/events", &r);
	CHECK_PROBLEM(r, 404, "unknown-job");
	resp_free(&r);
}

static const char *long_train =
    "{\"type\":\"train\",\"dataset\":\"tiny\",\"params\":{\"epochs\":400,\"filters\":4,\"depth\":2,"
    "\"batch\":4,\"patch_frames\":32,\"patches_per_item\":8}}";

static void test_cancel_and_queue(int port)
{
	char run_id[64], q[4][64], path[512];
	req del = {.method = "DELETE", .path = path, .token = token};
	resp r;
	json_t *j;

	CHECK(submit(port, long_train, run_id, sizeof run_id) == 202);
	j = poll_job(port, run_id, "running", 60);
	CHECK(j != NULL);
	json_decref(j);
	/* max_jobs 1, max_queued_jobs 3: three wait, the fourth is refused. */
	for (int i = 0; i < 3; i++)
		CHECK(submit(port, long_train, q[i], sizeof q[i]) == 202);
	post_json(port, "/v1/jobs", long_train, &r);
	CHECK_PROBLEM(r, 429, "too-many-jobs");
	CHECK(header(&r, "Retry-After", path, sizeof path));
	resp_free(&r);
	j = job_get(port, q[0]);
	CHECK(j && !strcmp(job_state(j), "queued"));
	json_decref(j);

	/* Listing: newest first, by state, in pages. */
	CHECK(get(port, "/v1/jobs?state=queued", &r) == 200);
	j = body_json(&r);
	CHECK(json_array_size(json_object_get(j, "jobs")) == 3);
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "jobs"), 0), "id")),
	              q[2]));
	json_decref(j);
	resp_free(&r);
	CHECK(get(port, "/v1/jobs?state=queued&limit=2", &r) == 200);
	j = body_json(&r);
	CHECK(json_array_size(json_object_get(j, "jobs")) == 2);
	CHECK(json_string_value(json_object_get(j, "next_cursor")) &&
	      !strcmp(json_string_value(json_object_get(j, "next_cursor")), q[1]));
	json_decref(j);
	resp_free(&r);
	snprintf(path, sizeof path, "/v1/jobs?state=queued&limit=2&cursor=%s", q[1]);
	CHECK(get(port, path, &r) == 200);
	j = body_json(&r);
	CHECK(json_array_size(json_object_get(j, "jobs")) == 1 &&
	      json_is_null(json_object_get(j, "next_cursor")));
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "jobs"), 0), "id")),
	              q[0]));
	json_decref(j);
	resp_free(&r);
	CHECK(get(port, "/v1/jobs?state=queued&offset=2", &r) == 200 && r.body && strstr(r.body, q[0]));
	resp_free(&r);
	get(port, "/v1/jobs?state=sleeping", &r);
	CHECK_PROBLEM(r, 400, "bad-parameter");
	resp_free(&r);
	get(port, "/v1/jobs?limit=0", &r);
	CHECK_PROBLEM(r, 400, "bad-parameter");
	resp_free(&r);

	/* Cancelling queued jobs: at once (200). */
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "/v1/jobs/%s", q[i]);
		http(port, &del, &r);
		CHECK(r.status == 200);
		resp_free(&r);
	}
	/* The running one stops at its next step (202, then cancelled). */
	snprintf(path, sizeof path, "/v1/jobs/%s", run_id);
	http(port, &del, &r);
	CHECK(r.status == 202);
	j = body_json(&r);
	CHECK(json_is_true(json_object_get(j, "cancel_requested")));
	json_decref(j);
	resp_free(&r);
	j = poll_job(port, run_id, NULL, 60);
	CHECK(j && !strcmp(job_state(j), "cancelled"));
	json_decref(j);
	http(port, &del, &r);
	CHECK_PROBLEM(r, 409, "job-state");
	resp_free(&r);
	CHECK(get(port, "/v1/jobs?state=cancelled", &r) == 200);
	j = body_json(&r);
	CHECK(json_integer_value(json_object_get(j, "total")) == 4);
	json_decref(j);
	resp_free(&r);
}

/* SIGKILL during a training job; the next start resumes it from its last
 * checkpoint, and finished jobs are still there with their results. */
static void test_restart(daemon_proc *d, const char *conf, const char *done_id)
{
	char id[64], eval_id[64];
	json_t *j;
	resp r;

	CHECK(
	    submit(
	        d->port,
	        "{\"type\":\"train\",\"dataset\":\"tiny\",\"params\":{\"epochs\":6,\"filters\":4,\"depth\":2,"
	        "\"batch\":4,\"patch_frames\":32,\"patches_per_item\":6}}",
	        id, sizeof id) == 202);
	/* Queued behind it: must run after the restart. */
	CHECK(
	    submit(
	        d->port,
	        "{\"type\":\"eval\",\"model\":\"tiny1\",\"dataset\":\"tiny\",\"params\":{\"split\":\"test\","
	        "\"max_files\":1,\"snr_db\":[10],\"noise\":[\"pink\"]}}",
	        eval_id, sizeof eval_id) == 202);
	CHECK_MSG(wait_epoch(d->port, id, 2, 120), "job %s never finished epoch 2", id);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	{
		char st[512];
		char *t;

		snprintf(st, sizeof st, "%s/jobs/%s/status.json", path_in_tmp("state"), id);
		t = read_text(st);
		CHECK(t && strstr(t, "\"running\""));
		free(t);
	}
	if (start_daemon(d, "jobs2", conf, NULL) != 0) {
		CHECK_MSG(0, "the daemon did not start again");
		return;
	}
	j = job_get(d->port, id);
	CHECK(j && strcmp(job_state(j), "failed") && json_integer_value(json_object_get(j, "resumes")) == 1);
	json_decref(j);
	j = poll_job(d->port, id, NULL, 120);
	CHECK(j && !strcmp(job_state(j), "succeeded"));
	CHECK(json_integer_value(json_object_get(json_object_get(j, "metrics"), "epochs")) == 6);
	json_decref(j);
	{
		char logp[512];
		char *t;

		snprintf(logp, sizeof logp, "%s/jobs/%s/log", path_in_tmp("state"), id);
		t = read_text(logp);
		CHECK(t && strstr(t, "resuming from the checkpoint"));
		/* Epoch 1 ran once: the second run went on from the checkpoint. */
		CHECK(t && strstr(t, "epoch 1/6") && !strstr(strstr(t, "epoch 1/6") + 1, "epoch 1/6"));
		free(t);
	}
	j = poll_job(d->port, eval_id, NULL, 120);
	CHECK(j && !strcmp(job_state(j), "succeeded"));
	json_decref(j);
	/* Finished before the kill: listed with results. */
	j = job_get(d->port, done_id);
	CHECK(j && !strcmp(job_state(j), "succeeded") && json_is_object(json_object_get(j, "metrics")));
	json_decref(j);
	/* The registered model is served by the new process too. */
	CHECK(get(d->port, "/v1/models/tiny1", &r) == 200);
	resp_free(&r);
}

/* A job killed while it evaluates is failed with the reason (there is no
 * checkpoint), never left running. */
static void test_restart_eval(daemon_proc *d, const char *conf)
{
	char id[64];
	json_t *j;

	CHECK(submit(
	          d->port,
	          "{\"type\":\"eval\",\"model\":\"tiny1\",\"dataset\":\"tiny\",\"params\":{\"split\":\"all\","
	          "\"max_files\":6,\"snr_db\":[0,5,10,15,20]}}",
	          id, sizeof id) == 202);
	j = poll_job(d->port, id, "running", 60);
	CHECK(j != NULL);
	json_decref(j);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	/* A training job that was running when the daemon died for the fourth
	 * time: failed rather than resumed into a restart loop. */
	CHECK(run("mkdir -p '%s/jobs/j000900' && cd '%s/jobs/j000900' && "
	          "printf '%%s' '{\"type\":\"train\",\"dataset\":\"tiny\",\"params\":{}}' >spec.json && "
	          "printf '%%s' '{\"id\":\"j000900\",\"seq\":900,\"type\":\"train\",\"state\":\"running\","
	          "\"created_ms\":1,\"started_ms\":2,\"finished_ms\":0,\"error\":\"\",\"resumes\":3}' "
	          ">status.json",
	          path_in_tmp("state"), path_in_tmp("state")) == 0);
	if (start_daemon(d, "jobs3", conf, NULL) != 0) {
		CHECK_MSG(0, "the daemon did not start again");
		return;
	}
	j = job_get(d->port, id);
	CHECK(j && !strcmp(job_state(j), "failed"));
	CHECK(j && json_string_value(json_object_get(j, "error")) &&
	      strstr(json_string_value(json_object_get(j, "error")), "interrupted"));
	json_decref(j);
	j = job_get(d->port, "j000900");
	CHECK(j && !strcmp(job_state(j), "failed"));
	CHECK(j && json_string_value(json_object_get(j, "error")) &&
	      strstr(json_string_value(json_object_get(j, "error")), "not resumed again"));
	json_decref(j);
}

int main(void)
{
	daemon_proc d;
	char conf[4096], train_id[64] = "";

	builddir = getenv("DN_BUILDDIR") ? getenv("DN_BUILDDIR") : ".";
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CHECK(run("mkdir -p '%s' && cd '%s' && '%s/tools/denoise' model-init speech.safetensors --filters 4 "
	          "--depth 2 "
	          ">/dev/null",
	          path_in_tmp("models"), path_in_tmp("models"), builddir) == 0);
	CHECK(make_dataset(path_in_tmp("data/tiny")) == 0);
	CHECK(make_dataset(path_in_tmp("outside")) == 0);
	CHECK(make_noise(path_in_tmp("data/noise")) == 0);
	CHECK(symlink(path_in_tmp("outside"), path_in_tmp("data/escape")) == 0);
	CHECK(run("mkdir -p '%s' '%s' && printf '%%s\\n' '%s' >'%s' && chmod 600 '%s'", path_in_tmp("state"),
	          path_in_tmp("nocorpus"), token, path_in_tmp("key"), path_in_tmp("key")) == 0);
	/* The built-in corpus is looked for here: absent, on purpose. */
	setenv("DN_SPEECH_DIR", path_in_tmp("nocorpus"), 1);
	snprintf(conf, sizeof conf,
	         "models = %s\n"
	         "default_model = speech\n"
	         "cores = 2\n"
	         "workers = 1\n"
	         "state_dir = %s\n"
	         "data_roots = %s\n"
	         "max_jobs = 1\n"
	         "max_queued_jobs = 3\n"
	         "api_key_file = %s\n"
	         "log_level = info\n",
	         path_in_tmp("models"), path_in_tmp("state"), path_in_tmp("data"), path_in_tmp("key"));
	if (start_daemon(&d, "jobs", conf, NULL) != 0) {
		CHECK_MSG(0, "the daemon did not start");
		return check_status();
	}
	test_auth(d.port);
	test_malformed(d.port);
	test_train_and_eval(d.port, train_id, sizeof train_id);
	test_cancel_and_queue(d.port);
	test_restart(&d, conf, train_id);
	test_restart_eval(&d, conf);
	CHECK(log_contains(&d, "jobs: "));
	CHECK(stop_daemon(&d, SIGTERM) == 0);

	curl_global_cleanup();
	if (check_failures == 0)
		run("rm -rf '%s'", tmp);
	else
		fprintf(stderr, "daemon logs and state kept in %s\n", tmp);
	return check_status();
}
