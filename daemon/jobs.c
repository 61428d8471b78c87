/*
 * jobs.c — see jobs.h; the manager itself. One mutex guards the list of
 * jobs, their states and progress, and the watches of event streams; it is
 * never held while a job computes. Runner threads (max_jobs of them,
 * jobs_run.c) take the oldest queued job and record its outcome; a heartbeat
 * thread wakes every stream each few seconds so that a stream on a quiet job
 * still notices a closed client and its own deadline. Validation is
 * jobs_spec.c, the state directory jobs_store.c, registration
 * jobs_register.c.
 */
#include "daemon/jobs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/jobs_internal.h"
#include "daemon/jobs_run.h"
#include "daemon/jobs_spec.h"
#include "daemon/jobs_store.h"
#include "daemon/log.h"

const char *const jobs_state_names[ST_COUNT] = {"queued", "running", "succeeded", "failed", "cancelled"};
const char *const jobs_type_names[JOB_NTYPES] = {"train", "eval", "train-frame", "eval-frame"};

int jobs_type_index(const char *s)
{
	for (int i = 0; i < JOB_NTYPES; i++)
		if (s && strcmp(s, jobs_type_names[i]) == 0)
			return i;
	return -1;
}

/* Caller holds J->mu. with_metrics: the metrics of a finished job too. */
json_t *jobs_job_json(const job *jb, int with_metrics)
{
	char link[64];
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:O, s:o, s:o, s:o, s:o, s:b, s:i}", "id", jb->id, "type",
	              jobs_type_names[jb->type], "state", jobs_state_names[jb->state], "spec", jb->spec,
	              "created", iso_time(jb->created_ms), "started", iso_time(jb->started_ms), "finished",
	              iso_time(jb->finished_ms), "progress", jobs_progress_json(jb), "cancel_requested",
	              jb->cancel_requested, "resumes", jb->resumes);

	if (!o)
		return NULL;
	json_object_set_new(o, "error", jb->error[0] ? json_string(jb->error) : json_null());
	if (jb->registered[0])
		json_object_set_new(o, "registered_as", json_string(jb->registered));
	if (with_metrics)
		json_object_set_new(o, "metrics", jb->metrics ? json_incref(jb->metrics) : json_null());
	snprintf(link, sizeof link, "/v1/jobs/%s", jb->id);
	json_object_set_new(
	    o, "links",
	    json_pack("{s:s, s:s+, s:s+}", "self", link, "plots", link, "/plots", "events", link, "/events"));
	return o;
}

/* Fires the watches of job id (NULL: all). Caller holds J->mu. */
void jobs_fire_watches(jobs *J, const char *id)
{
	for (size_t i = 0; i < J->nw;) {
		if (!id || strcmp(J->w[i].id, id) == 0) {
			watch w = J->w[i];

			J->w[i] = J->w[--J->nw];
			w.wake(w.arg);
		} else {
			i++;
		}
	}
}

/* Caller holds J->mu. */
void jobs_changed(jobs *J, job *jb)
{
	jb->version++;
	jb->last_wake = mono_s();
	jobs_fire_watches(J, jb->id);
}

job *jobs_find(jobs *J, const char *id)
{
	for (size_t i = 0; i < J->n; i++)
		if (strcmp(J->v[i]->id, id) == 0)
			return J->v[i];
	return NULL;
}

void jobs_job_free(job *jb)
{
	if (!jb)
		return;
	json_decref(jb->spec);
	json_decref(jb->metrics);
	free(jb);
}

static int add_job(jobs *J, job *jb)
{
	if (J->n == J->cap) {
		size_t cap = J->cap ? 2 * J->cap : 32;
		job **v = realloc(J->v, cap * sizeof *v);

		if (!v)
			return DN_ENOMEM;
		J->v = v;
		J->cap = cap;
	}
	/* Kept sorted by seq: recovered jobs come in directory order. */
	size_t at = J->n;

	while (at > 0 && J->v[at - 1]->seq > jb->seq)
		at--;
	memmove(J->v + at + 1, J->v + at, (J->n - at) * sizeof *J->v);
	J->v[at] = jb;
	J->n++;
	return DN_OK;
}

/* Deletes J->v[i] with its folder; 0, or an error (the job stays). Caller
 * holds J->mu. */
static int remove_at(jobs *J, size_t i, dn_error *err)
{
	job *jb = J->v[i];
	char id[sizeof jb->id];
	int rc = jobs_folder_remove(J, jb, err);

	if (rc)
		return rc;
	snprintf(id, sizeof id, "%s", jb->id);
	memmove(J->v + i, J->v + i + 1, (J->n - i - 1) * sizeof *J->v);
	J->n--;
	jobs_job_free(jb);
	/* A stream on it sees no job any more and ends. */
	jobs_fire_watches(J, id);
	daemon_log(LOG_LVL_INFO, "job %s: deleted", id);
	return DN_OK;
}

static int removable(const job *jb)
{
	return jb->state >= ST_SUCCEEDED && !jb->busy;
}

/* Retention: finished jobs past keep_seconds, and the oldest finished ones
 * beyond keep_finished, are deleted. Caller holds J->mu. */
static void prune(jobs *J)
{
	int64_t cut = J->keep_seconds > 0 ? now_ms() - (int64_t)(J->keep_seconds * 1000.0) : INT64_MIN;
	size_t done = 0;
	dn_error err;

	for (size_t i = 0; i < J->n; i++)
		done += removable(J->v[i]);
	for (size_t i = 0; i < J->n;) {
		job *jb = J->v[i];
		int old = removable(jb) && jb->finished_ms<cut, many = J->keep_finished> 0 &&
		          done > (size_t)J->keep_finished && removable(jb);

		if ((old || many) && remove_at(J, i, &err) == DN_OK) {
			done--;
			continue;
		}
		if (old || many)
			daemon_log(LOG_LVL_WARNING, "retention: %s", err.msg);
		i++;
	}
}

int jobs_create(const jobs_params *p, jobs **out, dn_error *err)
{
	jobs *J = calloc(1, sizeof *J);
	DIR *d;
	struct dirent *de;
	int rc;

	*out = NULL;
	if (!J)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	pthread_mutex_init(&J->mu, NULL);
	pthread_cond_init(&J->work, NULL);
	pthread_cond_init(&J->tick, NULL);
	pthread_cond_init(&J->idle, NULL);
	J->state_dir = strdup(p->state_dir ? p->state_dir : "");
	J->data_roots = strdup(p->data_roots ? p->data_roots : "");
	J->speech_dir = strdup(p->speech_dir ? p->speech_dir : "");
	J->job_device = strdup(p->job_device && *p->job_device ? p->job_device : "cpu");
	J->max_jobs = p->max_jobs > 0 ? p->max_jobs : 1;
	J->max_queued = p->max_queued > 0 ? p->max_queued : 1;
	J->max_kept = p->max_kept > 0 ? p->max_kept : 1000;
	J->keep_finished = p->keep_finished;
	J->keep_seconds = p->keep_seconds;
	J->job_memory_budget = p->job_memory_budget;
	J->nice = p->nice;
	J->models = p->models;
	J->next_seq = 1;
	if (!J->state_dir || !J->data_roots || !J->speech_dir || !J->job_device) {
		jobs_destroy(J);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	if (strlen(J->state_dir) + 6 >= sizeof J->jobs_dir) {
		jobs_destroy(J);
		return dn_error_set(err, DN_EINVAL, "state_dir: path too long");
	}
	snprintf(J->jobs_dir, sizeof J->jobs_dir, "%s/jobs", J->state_dir);
	if ((rc = jobs_mkdir_p(J->jobs_dir, err))) {
		jobs_destroy(J);
		return rc;
	}
	d = opendir(J->jobs_dir);
	if (!d) {
		rc = dn_error_set(err, DN_EIO, "%s: %s", J->jobs_dir, strerror(errno));
		jobs_destroy(J);
		return rc;
	}
	while ((de = readdir(d))) {
		job *jb;

		if (de->d_name[0] == '.') {
			jobs_folder_sweep(J, de->d_name);
			continue;
		}
		if (!(jb = jobs_recover(J, de->d_name)))
			continue;
		if (jobs_find(J, jb->id) || add_job(J, jb) != DN_OK) {
			jobs_job_free(jb);
			continue;
		}
		if (jb->seq >= J->next_seq)
			J->next_seq = jb->seq + 1;
	}
	closedir(d);
	prune(J);
	J->runners = calloc((size_t)J->max_jobs, sizeof *J->runners);
	if (!J->runners) {
		jobs_destroy(J);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	for (int i = 0; i < J->max_jobs; i++) {
		if (pthread_create(&J->runners[i], NULL, jobs_runner, J) != 0) {
			jobs_destroy(J);
			return dn_error_set(err, DN_EIO, "cannot start a job thread");
		}
		J->nrunners++;
	}
	if (pthread_create(&J->ticker, NULL, jobs_heartbeat, J) != 0) {
		jobs_destroy(J);
		return dn_error_set(err, DN_EIO, "cannot start the heartbeat thread");
	}
	J->ticker_started = 1;
	daemon_log(LOG_LVL_INFO, "jobs: %zu in %s; %d at a time, %d may wait", J->n, J->jobs_dir, J->max_jobs,
	           J->max_queued);
	*out = J;
	return DN_OK;
}

void jobs_destroy(jobs *J)
{
	if (!J)
		return;
	pthread_mutex_lock(&J->mu);
	J->stopping = 1;
	J->closing = 1;
	for (size_t i = 0; i < J->n; i++)
		if (J->v[i]->state == ST_RUNNING)
			atomic_store(&J->v[i]->stop, STOP_SHUTDOWN);
	jobs_fire_watches(J, NULL);
	pthread_cond_broadcast(&J->work);
	pthread_cond_broadcast(&J->tick);
	pthread_mutex_unlock(&J->mu);
	for (int i = 0; i < J->nrunners; i++)
		pthread_join(J->runners[i], NULL);
	if (J->ticker_started)
		pthread_join(J->ticker, NULL);
	for (size_t i = 0; i < J->n; i++) {
		if (J->v[i]->unsaved)
			jobs_save_status_logged(J->v[i]);
		jobs_job_free(J->v[i]);
	}
	free(J->v);
	free(J->w);
	free(J->runners);
	free(J->state_dir);
	free(J->data_roots);
	free(J->speech_dir);
	free(J->job_device);
	pthread_cond_destroy(&J->work);
	pthread_cond_destroy(&J->tick);
	pthread_cond_destroy(&J->idle);
	pthread_mutex_destroy(&J->mu);
	free(J);
}

/* ---- the API ---- */

int jobs_submit(jobs *J, const json_t *spec, json_t **out, char *field, size_t field_cap, dn_error *err)
{
	job_conf *c = calloc(1, sizeof *c);
	json_t *norm = NULL;
	vstate v = {field, field_cap, err};
	size_t queued = 0;
	job *jb;
	int rc;

	*out = NULL;
	if (field_cap)
		field[0] = '\0';
	if (!c)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	rc = jobs_spec_parse(J, spec, c, &norm, &v);
	free(c);
	if (rc)
		return rc;
	jb = calloc(1, sizeof *jb);
	if (!jb) {
		json_decref(norm);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	jb->spec = norm;
	jb->type = jobs_type_index(json_string_value(json_object_get(norm, "type")));
	jb->state = ST_QUEUED;
	jb->val_loss = jb->loss = NAN;
	pthread_mutex_lock(&J->mu);
	prune(J);
	for (size_t i = 0; i < J->n; i++)
		queued += J->v[i]->state == ST_QUEUED;
	if (J->stopping) {
		rc = dn_error_set(err, DN_ECANCELLED, "the daemon is shutting down");
	} else if (queued >= (size_t)J->max_queued) {
		rc = dn_error_set(err, DN_ELIMIT, "%zu jobs are waiting (max_queued_jobs); retry later",
		                  queued);
	} else if (J->n >= (size_t)J->max_kept) {
		rc = dn_error_set(err, DN_ELIMIT,
		                  "%zu jobs are kept (max_jobs_kept): delete finished ones (DELETE "
		                  "/v1/jobs/{id}) or wait for job_retention_count/job_retention_age",
		                  J->n);
	} else {
		jb->seq = J->next_seq++;
		snprintf(jb->id, sizeof jb->id, "j%06llu", (unsigned long long)jb->seq);
		snprintf(jb->dir, sizeof jb->dir, "%s/%s", J->jobs_dir, jb->id);
		jb->created_ms = now_ms();
		rc = jobs_folder_create(J, jb, err);
		if (!rc && add_job(J, jb) != DN_OK) {
			dn_error derr;

			jobs_folder_remove(J, jb, &derr);
			rc = dn_error_set(err, DN_ENOMEM, "out of memory");
		}
		if (rc) {
			/* Nothing of it is left: its number is free again. */
			J->next_seq--;
			if (rc == DN_ENOSPACE)
				dn_error_set(err, DN_ENOSPACE,
				             "no space left in state_dir for a new job: free space there, or "
				             "delete finished jobs (DELETE /v1/jobs/{id})");
			jobs_scrub(J, err->msg, sizeof err->msg);
		} else {
			*out = jobs_job_json(jb, 1);
			pthread_cond_signal(&J->work);
		}
	}
	pthread_mutex_unlock(&J->mu);
	if (rc) {
		jobs_job_free(jb);
		return rc;
	}
	jobs_log(jb, "queued: %s", json_string_value(json_object_get(norm, "type")));
	return DN_OK;
}

json_t *jobs_get(jobs *J, const char *id, int view, dn_error *err)
{
	json_t *o = NULL;
	job *jb;
	char dir[PATH_MAX];
	int state;

	pthread_mutex_lock(&J->mu);
	jb = jobs_find(J, id);
	if (jb && view == JOBS_VIEW_STATUS)
		o = jobs_job_json(jb, 1);
	if (jb) {
		snprintf(dir, sizeof dir, "%s", jb->dir);
		state = jb->state;
	}
	pthread_mutex_unlock(&J->mu);
	if (!jb) {
		dn_error_set(err, DN_ENOTFOUND, "no job '%s' (GET /v1/jobs lists them)", id);
		return NULL;
	}
	if (view == JOBS_VIEW_PLOTS) {
		o = state == ST_SUCCEEDED ? jobs_read_json(dir, "plots.json") : NULL;
		if (!o)
			dn_error_set(err, DN_EUNSUPPORTED, "job '%s' is %s: plots come with success", id,
			             jobs_state_names[state]);
	}
	if (!o && view == JOBS_VIEW_STATUS)
		dn_error_set(err, DN_ENOMEM, "out of memory");
	return o;
}

json_t *jobs_list(jobs *J, const char *state, size_t limit, const char *cursor, size_t offset, dn_error *err)
{
	int want = -1;
	json_t *arr, *o;
	size_t i, skipped = 0, total = 0;
	const job *last = NULL;
	int more = 0;

	if (state && (want = jobs_state_index(state)) < 0) {
		dn_error_set(err, DN_EINVAL,
		             "state: '%s' is not queued, running, succeeded, failed or cancelled", state);
		return NULL;
	}
	arr = json_array();
	if (!arr) {
		dn_error_set(err, DN_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&J->mu);
	i = J->n;
	if (cursor) {
		job *c = jobs_find(J, cursor);

		if (!c) {
			pthread_mutex_unlock(&J->mu);
			json_decref(arr);
			dn_error_set(err, DN_EINVAL, "cursor: no job '%s'", cursor);
			return NULL;
		}
		while (i > 0 && J->v[i - 1]->seq >= c->seq)
			i--;
	}
	for (size_t k = 0; k < J->n; k++)
		total += want < 0 || J->v[k]->state == want;
	for (; i > 0; i--) {
		const job *jb = J->v[i - 1];

		if (want >= 0 && jb->state != want)
			continue;
		if (skipped < offset) {
			skipped++;
			continue;
		}
		if (json_array_size(arr) == limit) {
			more = 1;
			break;
		}
		json_array_append_new(arr, jobs_job_json(jb, 0));
		last = jb;
	}
	o = json_pack("{s:o, s:I}", "jobs", arr, "total", (json_int_t)total);
	if (o)
		json_object_set_new(o, "next_cursor", more && last ? json_string(last->id) : json_null());
	pthread_mutex_unlock(&J->mu);
	if (!o)
		dn_error_set(err, DN_ENOMEM, "out of memory");
	return o;
}

int jobs_cancel(jobs *J, const char *id, json_t **out, dn_error *err)
{
	job *jb;
	int rc = DN_OK, removed = 0;

	*out = NULL;
	pthread_mutex_lock(&J->mu);
	jb = jobs_find(J, id);
	/* A job already at its end whose runner is still putting it down (its
	 * last writes, a moment) is waited for, a few seconds at most: a client
	 * that saw "cancelled" or "succeeded" and then deletes the job gets it
	 * deleted, not a 409. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	while (jb && jb->state >= ST_SUCCEEDED && jb->busy) {
		if (pthread_cond_timedwait(&J->idle, &J->mu, &until) == ETIMEDOUT)
			break;
		jb = jobs_find(J, id); /* another DELETE may have removed it meanwhile */
	}
	if (!jb) {
		rc = dn_error_set(err, DN_ENOTFOUND, "no job '%s'", id);
	} else if (jb->state == ST_QUEUED) {
		/* On disk first: the answer says what a restart will find. */
		jb->state = ST_CANCELLED;
		jb->cancel_requested = 1;
		jb->finished_ms = now_ms();
		if ((rc = jobs_save_status(jb, err))) {
			jb->state = ST_QUEUED;
			jb->cancel_requested = 0;
			jb->finished_ms = 0;
			jobs_scrub(J, err->msg, sizeof err->msg);
		} else {
			jobs_changed(J, jb);
		}
	} else if (jb->state == ST_RUNNING && !jb->cancel_requested) {
		jb->cancel_requested = 1;
		atomic_store(&jb->stop, STOP_CANCEL);
		jobs_save_status_logged(jb);
		jobs_changed(J, jb);
	} else if (jb->state == ST_RUNNING || jb->busy) {
		rc = dn_error_set(err, DN_EUNSUPPORTED,
		                  "job '%s' is %s; DELETE it again once it has stopped to remove it", id,
		                  jb->state == ST_RUNNING ? "stopping after a cancel" : "finishing");
	} else {
		for (size_t i = 0; i < J->n; i++)
			if (J->v[i] == jb)
				rc = remove_at(J, i, err);
		if (rc)
			jobs_scrub(J, err->msg, sizeof err->msg);
		removed = !rc;
	}
	if (jb && !rc && !removed)
		*out = jobs_job_json(jb, 0);
	pthread_mutex_unlock(&J->mu);
	if (!rc && !removed)
		jobs_log(jb, "cancel requested");
	return rc;
}

void jobs_maintain(jobs *J)
{
	dn_error err;

	for (size_t i = 0; i < J->n; i++)
		if (J->v[i]->unsaved && jobs_save_status(J->v[i], &err) == DN_OK) {
			J->v[i]->unsaved = 0;
			daemon_log(LOG_LVL_INFO, "job %s: status.json written again", J->v[i]->id);
		}
	prune(J);
}

uint64_t jobs_version(jobs *J, const char *id, int *finished)
{
	uint64_t v = 0;
	job *jb;

	pthread_mutex_lock(&J->mu);
	jb = jobs_find(J, id);
	if (jb) {
		v = jb->version + 1; /* never 0 for a job that exists */
		*finished = jb->state >= ST_SUCCEEDED;
	} else {
		*finished = 1;
	}
	pthread_mutex_unlock(&J->mu);
	return v;
}

int jobs_watch(jobs *J, const char *id, uint64_t seen, void (*wake)(void *arg), void *arg)
{
	job *jb;
	int now = 0;

	pthread_mutex_lock(&J->mu);
	jb = jobs_find(J, id);
	if (!jb || jb->version + 1 != seen || J->closing) {
		now = 1;
	} else if (J->nw == J->capw) {
		size_t cap = J->capw ? 2 * J->capw : 16;
		watch *w = realloc(J->w, cap * sizeof *w);

		if (!w)
			now = 1;
		else {
			J->w = w;
			J->capw = cap;
		}
	}
	if (!now) {
		snprintf(J->w[J->nw].id, sizeof J->w[J->nw].id, "%s", id);
		J->w[J->nw].wake = wake;
		J->w[J->nw].arg = arg;
		J->nw++;
	}
	pthread_mutex_unlock(&J->mu);
	return now;
}

void jobs_unwatch(jobs *J, void *arg)
{
	pthread_mutex_lock(&J->mu);
	for (size_t i = 0; i < J->nw;)
		if (J->w[i].arg == arg)
			J->w[i] = J->w[--J->nw];
		else
			i++;
	pthread_mutex_unlock(&J->mu);
}

void jobs_close_streams(jobs *J)
{
	pthread_mutex_lock(&J->mu);
	J->closing = 1;
	jobs_fire_watches(J, NULL);
	pthread_mutex_unlock(&J->mu);
}

int jobs_closing(jobs *J)
{
	int c;

	pthread_mutex_lock(&J->mu);
	c = J->closing;
	pthread_mutex_unlock(&J->mu);
	return c;
}
