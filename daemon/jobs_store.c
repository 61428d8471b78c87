/*
 * jobs_store.c — see jobs_store.h. Every write of a JSON file of a job goes
 * through jobs_write_json, so that a crash leaves the old file or the new
 * one, never a torn one; recovery trusts nothing it reads (a folder that is
 * not a job is skipped with a warning).
 */
#include "daemon/jobs_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/file.h"
#include "daemon/log.h"

/* Restarts after which a training job found running is failed instead. */
#define JOB_MAX_RESUMES 3

int jobs_write_json(const char *dir, const char *name, const json_t *j, dn_error *err)
{
	char path[PATH_MAX];
	char *text;
	int rc;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return dn_error_set(err, DN_EINVAL, "%s/%s: path too long", dir, name);
	text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!text)
		return dn_error_set(err, DN_ENOMEM, "out of memory encoding %s", name);
	rc = dn_file_write(path, text, strlen(text), err);
	free(text);
	return rc;
}

json_t *jobs_read_json(const char *dir, const char *name)
{
	char path[PATH_MAX];
	json_error_t je;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return NULL;
	return json_load_file(path, 0, &je);
}

int jobs_file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return 0;
	return access(path, F_OK) == 0;
}

/* Appends a time-stamped line to the job's log. */
void jobs_log(const job *jb, const char *fmt, ...)
{
	char path[PATH_MAX], line[1024];
	va_list ap;
	json_t *t = iso_time(now_ms());
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof path, "%s/log", jb->dir);
	f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s %s\n", json_string_value(t) ? json_string_value(t) : "-", line);
		fclose(f);
	}
	json_decref(t);
	daemon_log(LOG_LVL_INFO, "job %s: %s", jb->id, line);
}

json_t *jobs_progress_json(const job *jb)
{
	json_t *p;

	if (!jb->have_progress)
		return json_null();
	p = json_pack("{s:o, s:o}", "fraction", num(jb->fraction), "eta_s", num(jb->eta_s));
	if (p && jobs_type_trains(jb->type)) {
		json_object_set_new(p, "epoch", json_integer(jb->epoch));
		json_object_set_new(p, "epochs", json_integer(jb->epochs));
		json_object_set_new(p, "step", json_integer((json_int_t)jb->step));
		json_object_set_new(p, "steps", json_integer((json_int_t)jb->steps));
		json_object_set_new(p, "loss", num(jb->loss));
		json_object_set_new(p, jb->type == JOB_TRAIN_FRAME ? "val_psnr" : "val_loss",
		                    num(jb->val_loss));
	} else if (p) {
		json_object_set_new(p, "files_done", json_integer((json_int_t)jb->step));
		json_object_set_new(p, "files", json_integer((json_int_t)jb->steps));
	}
	return p;
}

/* status.json: what a restart needs besides the spec. Caller holds J->mu. */
int jobs_save_status(const job *jb, dn_error *err)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:b, s:i, s:s}", "id", jb->id, "seq",
	                      (json_int_t)jb->seq, "type", jobs_type_names[jb->type], "state",
	                      jobs_state_names[jb->state], "created_ms", (json_int_t)jb->created_ms,
	                      "started_ms", (json_int_t)jb->started_ms, "finished_ms",
	                      (json_int_t)jb->finished_ms, "error", jb->error, "cancel_requested",
	                      jb->cancel_requested, "resumes", jb->resumes, "registered_as", jb->registered);
	int rc;

	if (!o)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	rc = jobs_write_json(jb->dir, "status.json", o, err);
	json_decref(o);
	return rc;
}

void jobs_save_status_logged(const job *jb)
{
	dn_error err;

	if (jobs_save_status(jb, &err) != DN_OK)
		daemon_log(LOG_LVL_ERROR, "job %s: %s", jb->id, err.msg);
}

void jobs_save_progress(job *jb)
{
	json_t *p = jobs_progress_json(jb);
	dn_error err;

	if (p && !json_is_null(p) && jobs_write_json(jb->dir, "progress", p, &err) != DN_OK)
		daemon_log(LOG_LVL_WARNING, "job %s: %s", jb->id, err.msg);
	json_decref(p);
	jb->last_write = mono_s();
}

int jobs_state_index(const char *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (s && strcmp(s, jobs_state_names[i]) == 0)
			return i;
	return -1;
}

/* Loads one job folder; NULL (logged) when it is not one. */
job *jobs_recover(jobs *J, const char *name)
{
	job *jb = calloc(1, sizeof *jb);
	json_t *st, *prog;
	const char *s;

	if (!jb)
		return NULL;
	if ((size_t)snprintf(jb->dir, sizeof jb->dir, "%s/%s", J->jobs_dir, name) >= sizeof jb->dir) {
		jobs_job_free(jb);
		return NULL;
	}
	jb->spec = jobs_read_json(jb->dir, "spec.json");
	st = jobs_read_json(jb->dir, "status.json");
	if (!jb->spec || !st || !json_is_string(json_object_get(st, "id")) ||
	    jobs_state_index(json_string_value(json_object_get(st, "state"))) < 0) {
		daemon_log(LOG_LVL_WARNING, "state_dir: %s is not a readable job folder; skipped", jb->dir);
		json_decref(st);
		jobs_job_free(jb);
		return NULL;
	}
	snprintf(jb->id, sizeof jb->id, "%s", json_string_value(json_object_get(st, "id")));
	jb->seq = (uint64_t)json_integer_value(json_object_get(st, "seq"));
	s = json_string_value(json_object_get(st, "type"));
	jb->type = jobs_type_index(s) >= 0 ? jobs_type_index(s) : JOB_EVAL;
	jb->state = jobs_state_index(json_string_value(json_object_get(st, "state")));
	jb->created_ms = json_integer_value(json_object_get(st, "created_ms"));
	jb->started_ms = json_integer_value(json_object_get(st, "started_ms"));
	jb->finished_ms = json_integer_value(json_object_get(st, "finished_ms"));
	jb->cancel_requested = json_is_true(json_object_get(st, "cancel_requested"));
	jb->resumes = (int)json_integer_value(json_object_get(st, "resumes"));
	snprintf(jb->error, sizeof jb->error, "%s",
	         json_string_value(json_object_get(st, "error"))
	             ? json_string_value(json_object_get(st, "error"))
	             : "");
	snprintf(jb->registered, sizeof jb->registered, "%s",
	         json_string_value(json_object_get(st, "registered_as"))
	             ? json_string_value(json_object_get(st, "registered_as"))
	             : "");
	json_decref(st);
	prog = jobs_read_json(jb->dir, "progress");
	if (prog) {
		jb->have_progress = 1;
		jb->fraction = json_number_value(json_object_get(prog, "fraction"));
		jb->eta_s = json_number_value(json_object_get(prog, "eta_s"));
		jb->epoch = (int)json_integer_value(json_object_get(prog, "epoch"));
		jb->epochs = (int)json_integer_value(json_object_get(prog, "epochs"));
		jb->step = json_integer_value(
		    json_object_get(prog, jobs_type_trains(jb->type) ? "step" : "files_done"));
		jb->steps =
		    json_integer_value(json_object_get(prog, jobs_type_trains(jb->type) ? "steps" : "files"));
		jb->loss = json_is_number(json_object_get(prog, "loss"))
		               ? json_number_value(json_object_get(prog, "loss"))
		               : NAN;
		{
			const char *vk = jb->type == JOB_TRAIN_FRAME ? "val_psnr" : "val_loss";

			jb->val_loss = json_is_number(json_object_get(prog, vk))
			                   ? json_number_value(json_object_get(prog, vk))
			                   : NAN;
		}
		json_decref(prog);
	}
	if (jb->state == ST_SUCCEEDED)
		jb->metrics = jobs_read_json(jb->dir, "metrics.json");
	if (jb->state == ST_RUNNING) {
		/* The daemon died while it ran. */
		if (jobs_type_trains(jb->type) && jb->resumes >= JOB_MAX_RESUMES) {
			/* The job may be what kills the daemon (memory): a restart
			 * loop would take the service down with it. */
			jb->state = ST_FAILED;
			jb->finished_ms = now_ms();
			snprintf(jb->error, sizeof jb->error,
			         "the daemon stopped while this job ran %d times; not resumed again (its "
			         "checkpoint is kept; submit it again to go on)",
			         jb->resumes + 1);
			jobs_log(jb, "%s", jb->error);
		} else if (jb->type == JOB_TRAIN_FRAME) {
			/* The frame loop has no resumable state (its checkpoint holds
			 * weights, not Adam's moments or the schedule): it runs again
			 * from the start, and being deterministic for its seed, ends
			 * where an uninterrupted run would have. */
			jb->state = ST_QUEUED;
			jb->started_ms = 0;
			jb->resumes++;
			jb->have_progress = 0;
			jobs_log(jb, "the daemon stopped while this job ran; queued again, from the start "
			             "(a frame training run is not resumable)");
		} else if (jb->type == JOB_TRAIN) {
			int ck = jobs_file_exists(jb->dir, "checkpoint.safetensors");

			jb->state = ST_QUEUED;
			jb->started_ms = 0;
			jb->resumes++;
			jobs_log(jb, "the daemon stopped while this job ran; queued again, %s",
			         ck ? "to resume from its last checkpoint"
			            : "from the start (no epoch had finished)");
		} else {
			jb->state = ST_FAILED;
			jb->finished_ms = now_ms();
			snprintf(
			    jb->error, sizeof jb->error,
			    "interrupted: the daemon stopped while this evaluation ran (an evaluation has no "
			    "checkpoint); submit it again");
			jobs_log(jb, "%s", jb->error);
		}
		jobs_save_status_logged(jb);
	}
	return jb;
}

int jobs_mkdir_p(const char *path, dn_error *err)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return dn_error_set(err, DN_EIO, "%s: %s", path, strerror(errno));
	return DN_OK;
}
