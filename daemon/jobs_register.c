/*
 * jobs_register.c — registration of the model a succeeded training job made
 * (jobs_register_model in jobs.h): copied atomically into STATE_DIR/models
 * and loaded into the serving registry (daemon/models.h) without a restart.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util/file.h"
#include "daemon/jobs_internal.h"
#include "daemon/jobs_spec.h"
#include "daemon/jobs_store.h"

void jobs_models_dir(const char *state_dir, char *out, size_t cap)
{
	snprintf(out, cap, "%s/models", state_dir);
}

int jobs_name_taken(jobs *J, const char *name, dn_error *err)
{
	char dst[PATH_MAX], dir[PATH_MAX];
	api_model *prev = daemon_models_acquire(J->models, name);
	int other;

	if (!prev)
		return DN_OK;
	jobs_models_dir(J->state_dir, dir, sizeof dir);
	if ((size_t)snprintf(dst, sizeof dst, "%s/%s.safetensors", dir, name) >= sizeof dst)
		dst[0] = '\0';
	/* A model a job registered may be replaced by the next; one of the
	 * configured models may not. */
	other = strcmp(daemon_model_path(prev), dst) != 0;
	daemon_models_release(prev);
	if (other)
		return dn_error_set(err, DN_EEXIST,
		                    "a model called '%s' is already loaded (one of the configured models, "
		                    "not registered by a job): choose another name",
		                    name);
	return DN_OK;
}

static int register_locked(jobs *J, const char *id, const char *name, dn_error *err)
{
	char src[PATH_MAX], dir[PATH_MAX], file[256], dst[PATH_MAX];
	job *jb;
	unsigned char *bytes = NULL;
	size_t len = 0;
	int rc = DN_OK, existed;

	if (!jobs_valid_name(name))
		return dn_error_set(err, DN_EINVAL, "name: expected 1-64 of A-Z a-z 0-9 - _ .");
	pthread_mutex_lock(&J->mu);
	jb = jobs_find(J, id);
	if (!jb)
		rc = dn_error_set(err, DN_ENOTFOUND, "no job '%s'", id);
	else if (!jobs_type_trains(jb->type) || jb->state != ST_SUCCEEDED)
		rc = dn_error_set(
		    err, DN_EUNSUPPORTED, "job '%s' is %s %s job: only a succeeded training job has a model",
		    id, jobs_state_names[jb->state], jobs_type_trains(jb->type) ? "training" : "evaluation");
	else
		snprintf(src, sizeof src, "%s/model.safetensors", jb->dir);
	pthread_mutex_unlock(&J->mu);
	if (rc)
		return rc;
	jobs_models_dir(J->state_dir, dir, sizeof dir);
	snprintf(file, sizeof file, "%s.safetensors", name);
	if ((size_t)snprintf(dst, sizeof dst, "%s/%s", dir, file) >= sizeof dst)
		return dn_error_set(err, DN_EINVAL, "state_dir: path too long");
	if ((rc = jobs_name_taken(J, name, err)))
		return rc;
	if ((rc = jobs_mkdir_p(dir, err)))
		return rc;
	existed = access(dst, F_OK) == 0;
	/* Copied whole and renamed in: the registry never loads half a file. */
	if ((rc = dn_file_read(src, &bytes, &len, err)) == DN_OK)
		rc = dn_file_write(dst, bytes, len, err);
	free(bytes);
	if (rc)
		return rc;
	/* Only this file is loaded; the other models are not touched. */
	if ((rc = daemon_models_add_file(J->models, dir, dst, err))) {
		/* Refused or broken: a restart must not serve it either. */
		if (!existed)
			unlink(dst);
		return rc;
	}
	pthread_mutex_lock(&J->mu);
	if ((jb = jobs_find(J, id))) {
		snprintf(jb->registered, sizeof jb->registered, "%s", name);
		jobs_save_status_logged(jb);
		jobs_changed(J, jb);
	}
	pthread_mutex_unlock(&J->mu);
	if (jb)
		jobs_log(jb, "model registered as '%s' (%s)", name, dst);
	return DN_OK;
}

int jobs_register_model(jobs *J, const char *id, const char *name, dn_error *err)
{
	int rc = register_locked(J, id, name, err);

	if (rc)
		jobs_scrub(J, err->msg, sizeof err->msg);
	return rc;
}
