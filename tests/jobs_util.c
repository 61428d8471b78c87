/*
 * jobs_util.c — see jobs_util.h.
 */
#include "tests/jobs_util.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/audio.h"

const char *const long_train =
    "{\"type\":\"train\",\"dataset\":\"tiny\",\"params\":{\"epochs\":400,\"filters\":4,\"depth\":2,"
    "\"batch\":4,\"patch_frames\":32,\"patches_per_item\":8}}";

void jobs_conf(char *out, size_t cap, const char *extra)
{
	snprintf(out, cap,
	         "models = %s\n"
	         "default_model = speech\n"
	         "cores = 2\n"
	         "workers = 1\n"
	         "state_dir = %s\n"
	         "data_roots = %s\n"
	         "max_jobs = 1\n"
	         "%s",
	         path_in_tmp("models"), path_in_tmp("state"), path_in_tmp("data"), extra);
}

int count_job_folders(const char *state_dir)
{
	char path[1024];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "%s/jobs", state_dir);
	if (!(d = opendir(path)))
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

void job_disk_state(const char *state_dir, const char *id, char *out, size_t cap)
{
	char path[1024];
	json_error_t je;
	json_t *j;
	const char *s;

	snprintf(path, sizeof path, "%s/jobs/%s/status.json", state_dir, id);
	j = json_load_file(path, 0, &je);
	s = json_string_value(json_object_get(j, "state"));
	snprintf(out, cap, "%s", s ? s : "");
	json_decref(j);
}

/* The JSON body of r (a new reference), or NULL. */
json_t *body_json(const resp *r)
{
	json_error_t je;

	return r->body ? json_loads(r->body, 0, &je) : NULL;
}

/* POST path with a JSON body (and the token). */
long post_json(int port, const char *path, const char *json, resp *r)
{
	static const char *const ct[] = {"Content-Type: application/json", NULL};
	req q = {.path = path, .headers = ct, .body = json, .len = strlen(json), .token = token};

	http(port, &q, r);
	return r->status;
}

/* Submits spec; the job's id into id (empty on failure). */
long submit(int port, const char *spec, char *id, size_t cap)
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
json_t *job_get(int port, const char *id)
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

const char *job_state(const json_t *j)
{
	const char *s = json_string_value(json_object_get(j, "state"));

	return s ? s : "?";
}

int finished(const char *s)
{
	return !strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

/* Polls until the job is finished (or until want_state, when not NULL);
 * returns its object, or NULL after the wait (bounded). */
json_t *poll_job(int port, const char *id, const char *want_state, int seconds)
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
int wait_epoch(int port, const char *id, int epoch, int seconds)
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
int make_dataset(const char *dir)
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
