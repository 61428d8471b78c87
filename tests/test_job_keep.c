/*
 * test_job_keep.c — how long jobs are kept (issue 14, items 8 and 10's
 * register_as), against the real daemon.
 *
 * DELETE of a finished job deletes it with its folder (204, then 404);
 * DELETE of a job still stopping after a cancel gives 409; submit-then-
 * cancel in a loop keeps no more than job_retention_count finished jobs on
 * disk; max_jobs_kept refuses a submit (429) when the jobs kept reach it
 * even though none is queued; job_retention_age deletes finished jobs by
 * age; a spec whose register_as names a configured model is refused at
 * submit (409 naming it), before any training; registrations (POST
 * /v1/models) beyond max_models get 507 and memory stays flat while they
 * are refused or replace a model.
 */
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/harness.h"
#include "tests/jobs_util.h"

char tmp[] = "/tmp/dn_test_job_keep_XXXXXX";
const char *builddir;
const char *token = NULL;

/* A training job that runs long, with steps long enough (filters 8, depth
 * 3) that a cancel takes a moment to land. */
static const char *slow_train =
    "{\"type\":\"train\",\"dataset\":\"tiny\",\"params\":{\"epochs\":400,\"filters\":8,\"depth\":3,"
    "\"batch\":8,\"patch_frames\":64,\"patches_per_item\":16}}";

/* GET /v1/jobs's total. */
static long total_jobs(int port)
{
	resp r;
	json_t *j;
	long n = -1;

	if (get(port, "/v1/jobs", &r) == 200 && (j = body_json(&r))) {
		n = (long)json_integer_value(json_object_get(j, "total"));
		json_decref(j);
	}
	resp_free(&r);
	return n;
}

static long delete_job(int port, const char *id, resp *r)
{
	char path[128];
	req q = {.method = "DELETE", .path = path};

	snprintf(path, sizeof path, "/v1/jobs/%s", id);
	http(port, &q, r);
	return r->status;
}

/* Submits and at once cancels a job (queued behind the running one). */
static int submit_cancel(int port)
{
	char id[64];
	resp r;
	int ok = submit(port, slow_train, id, sizeof id) == 202 && delete_job(port, id, &r) == 200;

	resp_free(&r);
	return ok;
}

static void test_delete(int port, const char *running)
{
	char id[64];
	resp r;
	struct stat st;
	char dir[1024];

	delete_job(port, "j999999", &r);
	CHECK_PROBLEM(r, 404, "unknown-job");
	resp_free(&r);

	/* A finished job: deleted, folder and all. */
	CHECK(submit(port, slow_train, id, sizeof id) == 202);
	CHECK(delete_job(port, id, &r) == 200);
	resp_free(&r);
	snprintf(dir, sizeof dir, "%s/jobs/%s", path_in_tmp("state"), id);
	CHECK(stat(dir, &st) == 0);
	CHECK_MSG(delete_job(port, id, &r) == 204, "DELETE of a cancelled job: %ld %s", r.status,
	          r.body ? r.body : "");
	resp_free(&r);
	CHECK(stat(dir, &st) != 0);
	delete_job(port, id, &r);
	CHECK_PROBLEM(r, 404, "unknown-job");
	resp_free(&r);

	/* The running one: the first DELETE cancels it, a second one while it
	 * stops is refused, and once it has stopped one deletes it. */
	CHECK(delete_job(port, running, &r) == 202);
	resp_free(&r);
	delete_job(port, running, &r);
	if (r.status != 204)
		CHECK_PROBLEM(r, 409, "job-state");
	CHECK_MSG(r.status == 204 || (r.body && strstr(r.body, "stopping")), "%s", r.body ? r.body : "");
	resp_free(&r);
	json_decref(poll_job(port, running, "cancelled", 120));
	CHECK(delete_job(port, running, &r) == 204 || r.status == 404);
	resp_free(&r);
}

/* Submit-then-cancel, many times: at most job_retention_count (3) finished
 * jobs stay, beside the one running. */
static void test_retention_count(int port)
{
	char run_id[64];

	CHECK(submit(port, slow_train, run_id, sizeof run_id) == 202);
	json_decref(poll_job(port, run_id, "running", 60));
	for (int i = 0; i < 12; i++)
		CHECK(submit_cancel(port));
	/* The last cancel is pruned at the next heartbeat (or submit). */
	for (int i = 0; i < 100 && total_jobs(port) != 4; i++)
		sleep_ms(100);
	CHECK_MSG(total_jobs(port) == 4, "%ld jobs kept, want 1 running + 3 finished", total_jobs(port));
	CHECK_MSG(count_job_folders(path_in_tmp("state")) == 4, "%d job folders",
	          count_job_folders(path_in_tmp("state")));
	test_delete(port, run_id);
}

/* With no count limit, max_jobs_kept (5) refuses the sixth job although
 * none waits; deleting a finished one makes room. */
static char kept_run[64];

static void test_max_kept(int port)
{
	char *run_id = kept_run, id[64], first[64] = "";
	resp r;
	json_t *j;

	CHECK(submit(port, slow_train, run_id, sizeof kept_run) == 202);
	json_decref(poll_job(port, run_id, "running", 60));
	for (int i = 0; i < 4; i++) {
		CHECK(submit(port, slow_train, id, sizeof id) == 202);
		if (!first[0])
			snprintf(first, sizeof first, "%s", id);
		CHECK(delete_job(port, id, &r) == 200);
		resp_free(&r);
	}
	post_json(port, "/v1/jobs", slow_train, &r);
	CHECK_PROBLEM(r, 429, "too-many-jobs");
	CHECK_MSG(r.body && strstr(r.body, "max_jobs_kept"), "%s", r.body ? r.body : "");
	resp_free(&r);
	CHECK(delete_job(port, first, &r) == 204);
	resp_free(&r);
	CHECK(submit(port, slow_train, id, sizeof id) == 202);
	/* The age limit is off here: cancelled jobs are still listed. */
	sleep_ms(2500);
	CHECK(total_jobs(port) == 5);
	j = job_get(port, run_id);
	CHECK(j && !strcmp(job_state(j), "running"));
	json_decref(j);
}

/* job_retention_age 1: the finished jobs of before are gone within a few
 * heartbeats; the two unfinished ones (the one running at the stop, queued
 * again by it, and the one waiting) stay. */
static void test_retention_age(int port, const char *running)
{
	int i;

	for (i = 0; i < 200 && total_jobs(port) > 2; i++)
		sleep_ms(100);
	CHECK_MSG(total_jobs(port) == 2, "%ld jobs kept after their age", total_jobs(port));
	json_t *j = job_get(port, running);
	CHECK(j != NULL);
	json_decref(j);
}

static void test_register_as(int port)
{
	resp r;

	post_json(port, "/v1/jobs",
	          "{\"type\":\"train\",\"dataset\":\"tiny\",\"register_as\":\"speech\","
	          "\"params\":{\"epochs\":1,\"filters\":4,\"depth\":2}}",
	          &r);
	CHECK_PROBLEM(r, 409, "model-name-taken");
	CHECK_MSG(r.body && strstr(r.body, "\"register_as: a model called 'speech' is already loaded"), "%s",
	          r.body ? r.body : "");
	CHECK_MSG(r.body && !strstr(r.body, tmp), "a path in %s", r.body ? r.body : "");
	resp_free(&r);
}

/* The daemon's resident memory, KiB (-1 when unreadable). */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static long register_as(int port, const char *job, const char *name, resp *r)
{
	char body[256];

	snprintf(body, sizeof body, "{\"job\":\"%s\",\"name\":\"%s\"}", job, name);
	return post_json(port, "/v1/models", body, r);
}

/* max_models 3 with one configured model: two registrations fit, a third
 * name gets 507 and leaves no file; replacing a registered name still
 * works; neither refused nor replacing registrations make memory grow. */
static void test_register_bounded(daemon_proc *d)
{
	char id[64], file[1024];
	resp r;
	json_t *j;
	long rss0, rss1;

	CHECK(submit(d->port,
	             "{\"type\":\"train\",\"dataset\":\"tiny\",\"params\":{\"epochs\":1,\"filters\":4,"
	             "\"depth\":2,\"batch\":4,\"patch_frames\":32,\"patches_per_item\":2}}",
	             id, sizeof id) == 202);
	j = poll_job(d->port, id, "succeeded", 120);
	CHECK(j != NULL);
	json_decref(j);
	CHECK(register_as(d->port, id, "r1", &r) == 201);
	resp_free(&r);
	CHECK(register_as(d->port, id, "r2", &r) == 201);
	resp_free(&r);
	register_as(d->port, id, "r3", &r);
	CHECK_PROBLEM(r, 507, "too-many-models");
	CHECK_MSG(r.body && strstr(r.body, "max_models") && !strstr(r.body, tmp), "%s", r.body ? r.body : "");
	resp_free(&r);
	snprintf(file, sizeof file, "%s/models/r3.safetensors", path_in_tmp("state"));
	CHECK(access(file, F_OK) != 0);
	rss0 = rss_kib(d->pid);
	for (int i = 0; i < 20; i++) {
		CHECK(register_as(d->port, id, "r3", &r) == 507);
		resp_free(&r);
		CHECK(register_as(d->port, id, "r2", &r) == 201);
		resp_free(&r);
	}
	rss1 = rss_kib(d->pid);
	fprintf(stderr, "RSS around 20 refused and 20 replacing registrations: %ld -> %ld KiB\n", rss0, rss1);
	CHECK_MSG(rss0 > 0 && rss1 > 0 && rss1 - rss0 < 32 * 1024, "RSS %ld KiB -> %ld KiB", rss0, rss1);
	CHECK(get(d->port, "/v1/models", &r) == 200);
	j = body_json(&r);
	CHECK_MSG(json_array_size(json_object_get(j, "models")) == 3, "%s", r.body ? r.body : "");
	json_decref(j);
	resp_free(&r);
	CHECK(get(d->port, "/v1/models/r2", &r) == 200);
	resp_free(&r);
}

static int start(daemon_proc *d, const char *name, int keep, int max_kept, const char *age)
{
	char conf[4096], extra[512];

	snprintf(extra, sizeof extra,
	         "max_queued_jobs = 8\nmax_jobs_kept = %d\njob_retention_count = %d\njob_retention_age = %s\n"
	         "max_models = 3\nlog_level = info\n",
	         max_kept, keep, age);
	jobs_conf(conf, sizeof conf, extra);
	return start_daemon(d, name, conf, NULL);
}

int main(void)
{
	daemon_proc d;

	harness_begin();
	CHECK(run("mkdir -p '%s' '%s' && cd '%s' && '%s/tools/denoise' model-init speech.safetensors "
	          "--filters 4 --depth 2 >/dev/null",
	          path_in_tmp("models"), path_in_tmp("state"), path_in_tmp("models"), builddir) == 0);
	CHECK(make_dataset(path_in_tmp("data/tiny")) == 0);

	if (start(&d, "count", 3, 1000, "0") != 0) {
		CHECK_MSG(0, "the daemon did not start");
		return check_status();
	}
	test_register_as(d.port);
	test_register_bounded(&d);
	test_retention_count(d.port);
	CHECK(stop_daemon(&d, SIGTERM) == 0);

	CHECK(run("rm -rf '%s' && mkdir '%s'", path_in_tmp("state"), path_in_tmp("state")) == 0);
	if (start(&d, "kept", 0, 5, "0") != 0) {
		CHECK_MSG(0, "the daemon did not start");
		return check_status();
	}
	test_max_kept(d.port);
	CHECK(stop_daemon(&d, SIGTERM) == 0);

	/* The same state directory with an age limit: the running job was
	 * saved as queued by the stop and runs again. */
	if (start(&d, "age", 0, 5, "1") != 0) {
		CHECK_MSG(0, "the daemon did not start");
		return check_status();
	}
	test_retention_age(d.port, kept_run);
	CHECK(stop_daemon(&d, SIGTERM) == 0);

	check_status();
	return harness_end(check_failures, "daemon logs and state");
}
