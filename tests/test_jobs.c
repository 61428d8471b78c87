/*
 * test_jobs.c — asynchronous jobs (issue 7) against the real daemon.
 *
 * The harness of tests/harness.c, shared with test_api.c:
 * $DN_BUILDDIR/daemon/denoised on 127.0.0.1 port 0 with models made by
 * `tools/denoise model-init`, spoken to with libcurl. A tiny data set (synthetic voiced sounds, six
 * "speakers") is written under a data root. Covers: submitting a tiny training job and an evaluation job and
 * following them to the end by polling and by Server-Sent Events; metrics and plots; registering the trained
 * model; cancelling a running job; a full queue; listing with filters and cursors; every kind of malformed
 * spec (422 naming the field); data set paths that escape the roots; bearer tokens; SIGKILL in the middle of
 * a training job and what the next start makes of it. Frame jobs (issue 12): a tiny train-frame job on
 * generated photographs followed by events to the end, its curve, PSNR/SSIM per sigma and example crops, its
 * model registered and denoising a frame, an eval-frame job of that model, cancelling a running frame job,
 * and the frame parameters' refusals (422 naming the field).
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
#include "core/image/image.h"
#include "tests/check.h"
#include "tests/harness.h"
#include "tests/jobs_util.h"

char tmp[] = "/tmp/dn_test_jobs_XXXXXX";
const char *builddir;

/* ---- jobs ---- */

const char *token = "s3cret-token";

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
	CHECK_PROBLEM(r, 409, "model-name-taken"); /* the shipped-like model keeps its name */
	CHECK(r.body && strstr(r.body, "'speech'") && !strstr(r.body, tmp));
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
	CHECK(get(port, "/v1/jobs?state=cancelled", &r) == 200);
	j = body_json(&r);
	CHECK(json_integer_value(json_object_get(j, "total")) == 4);
	json_decref(j);
	resp_free(&r);
	/* DELETE of a finished job deletes it. */
	http(port, &del, &r);
	CHECK_MSG(r.status == 204, "DELETE of a cancelled job: %ld %s", r.status, r.body ? r.body : "");
	resp_free(&r);
	j = job_get(port, run_id);
	CHECK(j == NULL);
	json_decref(j);
	http(port, &del, &r);
	CHECK_PROBLEM(r, 404, "unknown-job");
	resp_free(&r);
}

/* n "photographs" of w x h: smooth gradients, a disc and stripes, each
 * different, written as JPEGs named p00.jpg... */
static int make_frames(const char *dir, int n, int w, int h, int seed)
{
	if (run("mkdir -p '%s'", dir) != 0)
		return -1;
	for (int k = 0; k < n; k++) {
		dn_image img = {0};
		dn_error err;
		char path[1024];
		const double cx = w * (0.3 + 0.1 * ((k + seed) % 4)), cy = h * (0.4 + 0.05 * k),
		             rad = h * 0.2;

		if (dn_image_alloc(&img, w, h, 3, &err) != DN_OK)
			return -1;
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++) {
				uint8_t *px = img.data + ((size_t)y * w + x) * 3;
				int disc = (x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad;
				int stripe = ((x + y + 7 * seed) / (6 + k)) % 2;

				px[0] = (uint8_t)(disc ? 220 : 40 + 150 * x / w);
				px[1] = (uint8_t)(disc ? 60 : 30 + 160 * y / h + (stripe ? 20 : 0));
				px[2] = (uint8_t)(disc ? 90 + 20 * k : 120 + (stripe ? 40 : -40));
			}
		snprintf(path, sizeof path, "%s/p%02d.jpg", dir, k);
		if (dn_image_write_file(&img, 95, DN_SUBSAMP_444, path, &err) != DN_OK) {
			fprintf(stderr, "%s: %s\n", path, err.msg);
			dn_image_free(&img);
			return -1;
		}
		dn_image_free(&img);
	}
	return 0;
}

/* The member at a dotted path of j ("plots.training.epoch"), borrowed. */
static json_t *at(json_t *j, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof buf, "%s", path);
	for (char *k = strtok_r(buf, ".", &save); j && k; k = strtok_r(NULL, ".", &save))
		j = json_is_array(j) ? json_array_get(j, (size_t)atoi(k)) : json_object_get(j, k);
	return j;
}

/* The OpenAPI document names the frame types, and every parameter a
 * normalized spec of `type` shows is a member for that type (x-job-types)
 * with that type's default (x-defaults) unless the test set it. */
static void check_typed_schema(int port, const char *type, const json_t *params, const char *const *given)
{
	resp r;
	json_t *doc, *js, *props, *val, *e;
	const char *key;
	size_t i;
	int found = 0;

	CHECK(get(port, "/v1/openapi.json", &r) == 200);
	doc = body_json(&r);
	js = at(doc, "components.schemas.JobSpec.properties");
	json_array_foreach(at(js, "type.enum"), i, e) found |= !strcmp(json_string_value(e), type);
	CHECK_MSG(found, "openapi.json: JobSpec.type lacks %s", type);
	props = at(js, "params.properties");
	CHECK(json_object_size(params) >= 4);
	json_object_foreach((json_t *)params, key, val)
	{
		json_t *s = json_object_get(props, key), *def = at(s, "x-defaults");
		int set = 0, typed = 0;

		json_array_foreach(json_object_get(s, "x-job-types"), i, e) typed |=
		    !strcmp(json_string_value(e), type);
		CHECK_MSG(s && typed, "openapi.json: params.%s is not marked for %s", key, type);
		for (i = 0; given[i]; i++)
			set |= !strcmp(key, given[i]);
		def = json_object_get(def, type);
		if (!set)
			CHECK_MSG(def && (json_equal(def, val) ||
			                  (json_is_number(def) &&
			                   json_number_value(def) == json_number_value(val))),
			          "openapi.json: params.%s's %s default differs from a job's", key, type);
	}
	/* Speech and frame networks default differently: no single default. */
	CHECK(json_integer_value(at(props, "filters.x-defaults.train")) == 32);
	CHECK(json_integer_value(at(props, "filters.x-defaults.train-frame")) == 16);
	CHECK(json_object_get(json_object_get(props, "filters"), "default") == NULL);
	json_decref(doc);
	resp_free(&r);
}

static const char *frame_train =
    "{\"type\":\"train-frame\",\"dataset\":\"frames\",\"register_as\":\"frame1\","
    "\"params\":{\"epochs\":2,\"steps_per_epoch\":3,\"batch\":2,\"patch\":32,\"filters\":4,\"depth\":2}}";

static void test_frame_malformed(int port)
{
	static const struct {
		const char *spec, *field;
	} bad[] = {
	    {"{\"type\":\"train-frame\"}", "dataset"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"tiny\"}", "dataset"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"nowhere\"}", "dataset"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"frames\",\"params\":{\"patch\":36}}", "params.patch"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"frames\",\"params\":{\"steps_per_epoch\":0}}",
	     "params.steps_per_epoch"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"frames\",\"params\":{\"sigma_min\":30,\"sigma_max\":20}"
	     "}",
	     "params.sigma_max"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"frames\",\"params\":{\"patch_frames\":32}}",
	     "params.patch_frames"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"frames\",\"params\":{\"lr\":0.9}}", "params.lr"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"frames\",\"params\":{\"batch\":1024,\"patch\":1024,"
	     "\"filters\":512}}",
	     "params.batch"},
	    {"{\"type\":\"train-frame\",\"dataset\":\"frames\",\"model\":\"speech\"}", "model"},
	    {"{\"type\":\"eval-frame\",\"dataset\":\"frames\",\"model\":\"speech\"}", "model"},
	    {"{\"type\":\"eval-frame\",\"model\":\"frame1\"}", "dataset"},
	    {"{\"type\":\"eval-frame\",\"model\":\"frame1\",\"dataset\":\"frames\",\"register_as\":\"x\"}",
	     "register_as"},
	    {"{\"type\":\"eval-frame\",\"model\":\"frame1\",\"dataset\":\"frames\",\"device\":\"cpu\"}",
	     "device"},
	    {"{\"type\":\"eval-frame\",\"model\":\"frame1\",\"dataset\":\"frames\",\"params\":{\"sigma\":[25,"
	     "300]}}",
	     "params.sigma[1]"},
	    {"{\"type\":\"eval-frame\",\"model\":\"frame1\",\"dataset\":\"frames\",\"params\":{\"sigma\":[]}"
	     "}",
	     "params.sigma"},
	    {"{\"type\":\"eval-frame\",\"model\":\"frame1\",\"dataset\":\"frames\",\"params\":{\"snr_db\":[5]"
	     "}}",
	     "params.snr_db"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		resp r;
		json_t *j;

		post_json(port, "/v1/jobs", bad[i].spec, &r);
		j = body_json(&r);
		CHECK_MSG(r.status == 422 && names_field(&r, bad[i].field) &&
		              json_string_length(json_object_get(j, "detail")) > 10,
		          "%s: %ld %s (want 422 naming %s)", bad[i].spec, r.status, r.body ? r.body : "",
		          bad[i].field);
		json_decref(j);
		resp_free(&r);
	}
}

/* POST /v1/frames:denoise?model=NAME with a generated JPEG. */
static long denoise_frame(int port, const char *model, resp *r)
{
	static const char *const ct[] = {"Content-Type: image/jpeg", NULL};
	char path[256];
	unsigned char *bytes = NULL;
	size_t len = 0;
	FILE *f = fopen(path_in_tmp("data/frames/val/p00.jpg"), "rb");
	req q = {.path = path, .headers = ct, .token = token};

	if (f) {
		bytes = malloc(1 << 20);
		len = bytes ? fread(bytes, 1, 1 << 20, f) : 0;
		fclose(f);
	}
	snprintf(path, sizeof path, "/v1/frames:denoise?model=%s", model);
	q.body = bytes;
	q.len = len;
	http(port, &q, r);
	free(bytes);
	return r->status;
}

static void test_frames(int port)
{
	char id[64], eid[64], cid[64], path[128];
	req del = {.method = "DELETE", .path = path, .token = token};
	resp r;
	json_t *j, *m, *p;
	char *events;
	const char *url;

	/* No frame model is loaded yet: an eval-frame job is told to name one. */
	post_json(port, "/v1/jobs", "{\"type\":\"eval-frame\",\"dataset\":\"frames\"}", &r);
	CHECK(r.status == 422 && names_field(&r, "model") && strstr(r.body, "no frame model"));
	resp_free(&r);

	/* Train, follow the events to the end, read the results. */
	CHECK(submit(port, frame_train, id, sizeof id) == 202);
	events = follow_sse(port, id);
	CHECK(strstr(events, "event: progress") != NULL || strstr(events, "\"epoch\"") != NULL);
	CHECK(strstr(events, "\"eta_s\"") != NULL);
	CHECK(strstr(events, "succeeded") != NULL);
	free(events);
	j = poll_job(port, id, "succeeded", 120);
	CHECK_MSG(j != NULL, "train-frame job %s did not succeed", id);
	CHECK(!strcmp(json_string_value(json_object_get(j, "type")), "train-frame"));
	/* The normalized spec: the frame table's defaults filled in. */
	CHECK(json_number_value(at(j, "spec.params.sigma_max")) == 50);
	CHECK(json_integer_value(at(j, "spec.params.steps_per_epoch")) == 3);
	CHECK(!strcmp(json_string_value(at(j, "spec.device")), "cpu"));
	CHECK(json_integer_value(at(j, "progress.epoch")) == 2);
	CHECK(json_is_number(at(j, "progress.val_psnr")));
	{
		static const char *const given[] = {"epochs",  "steps_per_epoch", "batch", "patch",
		                                    "filters", "depth",           NULL};

		check_typed_schema(port, "train-frame", at(j, "spec.params"), given);
	}
	m = json_object_get(j, "metrics");
	CHECK(json_integer_value(json_object_get(m, "epochs")) == 2);
	CHECK(json_is_number(json_object_get(m, "best_val_psnr")));
	CHECK(json_number_value(json_object_get(m, "best_val_psnr")) >=
	      json_number_value(json_object_get(m, "noisy_val_psnr")) - 0.5);
	CHECK(json_array_size(json_object_get(m, "by_sigma")) == 3);
	CHECK(json_number_value(at(m, "by_sigma.0.sigma")) == 15);
	/* Noisier input scores lower: the figures are measured, not made up. */
	CHECK(json_number_value(at(m, "by_sigma.0.psnr.noisy.mean")) >
	      json_number_value(at(m, "by_sigma.2.psnr.noisy.mean")) + 5);
	CHECK(json_number_value(at(m, "by_sigma.1.ssim.model.mean")) > 0 &&
	      json_number_value(at(m, "by_sigma.1.ssim.model.mean")) <= 1);
	json_decref(j);

	snprintf(path, sizeof path, "/v1/jobs/%s/plots", id);
	CHECK(get(port, path, &r) == 200);
	p = body_json(&r);
	CHECK(json_array_size(at(p, "training.epoch")) == 2);
	CHECK(json_array_size(at(p, "training.val_psnr")) == 2 &&
	      json_is_number(at(p, "training.val_psnr.1")));
	CHECK(json_array_size(at(p, "metric_vs_sigma.x_sigma")) == 3);
	CHECK(json_array_size(at(p, "metric_vs_sigma.series.psnr.model")) == 3);
	CHECK(json_array_size(at(p, "metric_vs_sigma.series.ssim.noisy")) == 3);
	CHECK(json_array_size(at(p, "examples")) >= 1);
	url = json_string_value(at(p, "examples.0.denoised"));
	/* A JPEG: FF D8 FF is "/9j/" in base64. */
	CHECK_MSG(url && !strncmp(url, "data:image/jpeg;base64,/9j/", 27), "example crop: %.40s",
	          url ? url : "");
	CHECK(json_integer_value(at(p, "examples.0.w")) > 0);
	CHECK(json_string_value(at(p, "examples.0.clean")) && json_string_value(at(p, "examples.0.noisy")));
	json_decref(p);
	resp_free(&r);

	/* register_as: the model serves frames. */
	for (int i = 0; i < 100; i++) {
		const char *reg;

		j = job_get(port, id);
		reg = json_string_value(json_object_get(j, "registered_as"));
		i = reg && !strcmp(reg, "frame1") ? 1000 : i;
		json_decref(j);
		if (i < 1000)
			sleep_ms(100);
	}
	CHECK(denoise_frame(port, "frame1", &r) == 200);
	CHECK(header(&r, "Content-Type", path, sizeof path) && !strcmp(path, "image/jpeg"));
	CHECK(r.len > 100 && (unsigned char)r.body[0] == 0xFF && (unsigned char)r.body[1] == 0xD8);
	resp_free(&r);
	test_frame_malformed(port);

	/* eval-frame of that model, on the folder's test/ photographs. */
	CHECK(submit(port,
	             "{\"type\":\"eval-frame\",\"model\":\"frame1\",\"dataset\":\"frames\","
	             "\"params\":{\"sigma\":[5,30],\"examples\":1}}",
	             eid, sizeof eid) == 202);
	j = poll_job(port, eid, NULL, 120);
	CHECK_MSG(j && !strcmp(job_state(j), "succeeded"), "eval-frame: %s",
	          j ? json_string_value(json_object_get(j, "error")) : "no answer");
	{
		static const char *const given[] = {"sigma", "examples", NULL};

		check_typed_schema(port, "eval-frame", at(j, "spec.params"), given);
	}
	m = json_object_get(j, "metrics");
	CHECK(!strcmp(json_string_value(json_object_get(m, "model_name")), "frame1"));
	CHECK(json_integer_value(at(m, "test_set.files")) == 2);
	CHECK(json_array_size(json_object_get(m, "by_sigma")) == 2);
	CHECK(json_number_value(at(m, "by_sigma.1.sigma")) == 30);
	CHECK(json_integer_value(at(m, "summary.psnr.model.n")) == 4);
	CHECK(json_is_number(at(m, "summary.psnr_improvement_db.mean")));
	CHECK(json_is_number(at(m, "timing.denoise_seconds_per_megapixel")));
	CHECK(json_integer_value(at(j, "progress.files")) == 4);
	json_decref(j);
	snprintf(path, sizeof path, "/v1/jobs/%s/plots", eid);
	CHECK(get(port, path, &r) == 200);
	p = body_json(&r);
	CHECK(json_array_size(at(p, "examples")) == 1 && json_number_value(at(p, "examples.0.sigma")) == 30);
	CHECK(json_array_size(at(p, "metric_vs_sigma.series.psnr.model")) == 2);
	json_decref(p);
	resp_free(&r);

	/* Cancel a running frame training job: it stops within a step. */
	CHECK(submit(port,
	             "{\"type\":\"train-frame\",\"dataset\":\"frames\",\"params\":{\"epochs\":1000,"
	             "\"steps_per_epoch\":100000,\"batch\":2,\"patch\":32,\"filters\":4,\"depth\":2}}",
	             cid, sizeof cid) == 202);
	for (int i = 0; i < 600; i++) {
		j = job_get(port, cid);
		i = json_integer_value(at(j, "progress.step")) >= 2 ? 1000 : i;
		if (i == 1000) {
			CHECK(json_is_number(at(j, "progress.eta_s")));
			CHECK(json_integer_value(at(j, "progress.steps")) == 100000);
		}
		json_decref(j);
		if (i < 1000)
			sleep_ms(100);
	}
	snprintf(path, sizeof path, "/v1/jobs/%s", cid);
	http(port, &del, &r);
	CHECK(r.status == 202);
	resp_free(&r);
	j = poll_job(port, cid, NULL, 60);
	CHECK(j && !strcmp(job_state(j), "cancelled"));
	json_decref(j);
}

/* The job's log file (malloc'd), or NULL. */
static char *job_log(const char *id)
{
	char logp[512];

	snprintf(logp, sizeof logp, "%s/jobs/%s/log", path_in_tmp("state"), id);
	return read_text(logp);
}

/* SIGKILL the daemon, check that the job's status.json was left
 * "running", then start the daemon again as name; 0 when it started. */
static int kill_and_start(daemon_proc *d, const char *conf, const char *name, const char *id)
{
	char st[512];
	char *t;

	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	snprintf(st, sizeof st, "%s/jobs/%s/status.json", path_in_tmp("state"), id);
	t = read_text(st);
	CHECK_MSG(t && strstr(t, "\"running\""), "job %s was not running when killed", id);
	free(t);
	if (start_daemon(d, name, conf, NULL) != 0) {
		CHECK_MSG(0, "the daemon did not start again");
		return -1;
	}
	return 0;
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
	if (kill_and_start(d, conf, "jobs2", id))
		return;
	j = job_get(d->port, id);
	CHECK(j && strcmp(job_state(j), "failed") && json_integer_value(json_object_get(j, "resumes")) == 1);
	json_decref(j);
	j = poll_job(d->port, id, NULL, 120);
	CHECK(j && !strcmp(job_state(j), "succeeded"));
	CHECK(json_integer_value(json_object_get(json_object_get(j, "metrics"), "epochs")) == 6);
	json_decref(j);
	{
		char *t = job_log(id);

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

/* SIGKILL during a frame training job: the next start runs it again from
 * the start (resumes 1), and since the loop is deterministic for its seed it
 * ends with the figures of the same spec run without a break. The frame
 * model registered earlier is served by the new process. */
static void test_restart_frame(daemon_proc *d, const char *conf)
{
	static const char *spec =
	    "{\"type\":\"train-frame\",\"dataset\":\"frames\",\"params\":{\"epochs\":2,"
	    "\"steps_per_epoch\":150,\"batch\":2,\"patch\":32,\"filters\":4,\"depth\":2}}";
	char ref[64], id[64];
	json_t *j, *rj;
	resp r;
	int seen = 0;

	CHECK(submit(d->port, spec, ref, sizeof ref) == 202);
	rj = poll_job(d->port, ref, NULL, 180);
	CHECK(rj && !strcmp(job_state(rj), "succeeded"));
	CHECK(submit(d->port, spec, id, sizeof id) == 202);
	for (int i = 0; i < 1200 && !seen; i++) {
		j = job_get(d->port, id);
		seen = !strcmp(job_state(j), "running") && json_integer_value(at(j, "progress.step")) >= 1;
		json_decref(j);
		if (!seen)
			sleep_ms(50);
	}
	CHECK_MSG(seen, "frame job %s never ran a step", id);
	if (kill_and_start(d, conf, "jobs4", id)) {
		json_decref(rj);
		return;
	}
	j = job_get(d->port, id);
	CHECK(j && strcmp(job_state(j), "failed") && json_integer_value(json_object_get(j, "resumes")) == 1);
	json_decref(j);
	j = poll_job(d->port, id, NULL, 180);
	CHECK(j && !strcmp(job_state(j), "succeeded"));
	CHECK(json_integer_value(at(j, "metrics.epochs")) == 2);
	CHECK_MSG(fabs(json_number_value(at(j, "metrics.best_val_psnr")) -
	               json_number_value(at(rj, "metrics.best_val_psnr"))) < 0.01,
	          "rerun %g dB, uninterrupted %g dB", json_number_value(at(j, "metrics.best_val_psnr")),
	          json_number_value(at(rj, "metrics.best_val_psnr")));
	json_decref(j);
	json_decref(rj);
	{
		char *t = job_log(id);

		CHECK(t && strstr(t, "from the start (a frame training run is not resumable)"));
		free(t);
	}
	CHECK(get(d->port, "/v1/models/frame1", &r) == 200);
	resp_free(&r);
	CHECK(denoise_frame(d->port, "frame1", &r) == 200);
	resp_free(&r);
}

int main(void)
{
	daemon_proc d;
	char conf[4096], train_id[64] = "";

	harness_begin();
	CHECK(run("mkdir -p '%s' && cd '%s' && '%s/tools/denoise' model-init speech.safetensors --filters 4 "
	          "--depth 2 "
	          ">/dev/null",
	          path_in_tmp("models"), path_in_tmp("models"), builddir) == 0);
	CHECK(make_dataset(path_in_tmp("data/tiny")) == 0);
	CHECK(make_dataset(path_in_tmp("outside")) == 0);
	CHECK(make_frames(path_in_tmp("data/frames/train"), 3, 160, 144, 1) == 0);
	CHECK(make_frames(path_in_tmp("data/frames/val"), 1, 160, 160, 2) == 0);
	CHECK(make_frames(path_in_tmp("data/frames/test"), 2, 150, 130, 3) == 0);
	CHECK(make_noise(path_in_tmp("data/noise")) == 0);
	CHECK(symlink(path_in_tmp("outside"), path_in_tmp("data/escape")) == 0);
	CHECK(run("mkdir -p '%s' '%s' && printf '%%s\\n' '%s' >'%s' && chmod 600 '%s'", path_in_tmp("state"),
	          path_in_tmp("nocorpus"), token, path_in_tmp("key"), path_in_tmp("key")) == 0);
	/* The built-in corpus is looked for here: absent, on purpose. */
	setenv("DN_SPEECH_DIR", path_in_tmp("nocorpus"), 1);
	{
		char extra[1024];

		snprintf(extra, sizeof extra, "max_queued_jobs = 3\napi_key_file = %s\nlog_level = info\n",
		         path_in_tmp("key"));
		jobs_conf(conf, sizeof conf, extra);
	}
	if (start_daemon(&d, "jobs", conf, NULL) != 0) {
		CHECK_MSG(0, "the daemon did not start");
		return check_status();
	}
	test_auth(d.port);
	test_malformed(d.port);
	test_train_and_eval(d.port, train_id, sizeof train_id);
	test_cancel_and_queue(d.port);
	test_frames(d.port);
	test_restart(&d, conf, train_id);
	test_restart_eval(&d, conf);
	test_restart_frame(&d, conf);
	CHECK(log_contains(&d, "jobs: "));
	CHECK(stop_daemon(&d, SIGTERM) == 0);

	harness_end(check_failures, "daemon logs and state");
	return check_status();
}
