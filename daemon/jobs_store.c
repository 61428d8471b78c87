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
#include <dirent.h>
#include <ftw.h>
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

/*
 * status.json is rewritten at every change of state, and a full disk must
 * not stop that: a job the API calls failed or cancelled must not be found
 * queued by the next start. So each job folder keeps, besides status.json,
 * a spare of the same fixed size (STATUS_SLOT bytes: the JSON, padded with
 * spaces) made when the job is created. A change writes the spare in place
 * (blocks it already has), syncs it and swaps the two names with
 * renameat2(RENAME_EXCHANGE): as atomic as a rename, no new space needed,
 * and the old status becomes the next spare. Where the file system cannot
 * exchange names, or the spare is missing, dn_file_write does it.
 */
#define STATUS_SLOT  8192
#define STATUS_SPARE ".status.spare"

static int write_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? DN_ENOSPACE : DN_EIO;
}

/* The status as JSON padded with spaces to STATUS_SLOT bytes (or unpadded
 * when longer: never, with the fields' bounds). Caller frees. */
static char *status_text(const job *jb, size_t *len)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:s, s:b, s:i, s:s}", "id", jb->id, "seq",
	                      (json_int_t)jb->seq, "type", jobs_type_names[jb->type], "state",
	                      jobs_state_names[jb->state], "created_ms", (json_int_t)jb->created_ms,
	                      "started_ms", (json_int_t)jb->started_ms, "finished_ms",
	                      (json_int_t)jb->finished_ms, "error", jb->error, "cancel_requested",
	                      jb->cancel_requested, "resumes", jb->resumes, "registered_as", jb->registered);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL, *slot;
	size_t n;

	json_decref(o);
	if (!text)
		return NULL;
	n = strlen(text);
	if (n >= STATUS_SLOT) {
		*len = n;
		return text;
	}
	slot = malloc(STATUS_SLOT);
	if (slot) {
		memcpy(slot, text, n);
		memset(slot + n, ' ', STATUS_SLOT - 1 - n);
		slot[STATUS_SLOT - 1] = '\n';
		*len = STATUS_SLOT;
	}
	free(text);
	return slot;
}

static int pwrite_all(int fd, const char *buf, size_t len)
{
	off_t at = 0;

	while (len > 0) {
		ssize_t w = pwrite(fd, buf, len, at);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
		at += w;
	}
	return 0;
}

/* Writes text into dir's spare in place and swaps it with status.json; 1
 * when this cannot be done here (no spare, no exchange), 0 or an error. */
static int status_swap(const char *dir, const char *text, size_t len, dn_error *err)
{
	char spare[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int fd, dfd, e;

	snprintf(spare, sizeof spare, "%s/" STATUS_SPARE, dir);
	snprintf(path, sizeof path, "%s/status.json", dir);
	fd = open(spare, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (len != STATUS_SLOT || fstat(fd, &st) != 0 || st.st_size != STATUS_SLOT) {
		close(fd);
		return 1;
	}
	if (pwrite_all(fd, text, len) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		return dn_error_set(err, write_code(e), "status.json: %s", strerror(e));
	}
	close(fd);
	if (renameat2(AT_FDCWD, spare, AT_FDCWD, path, RENAME_EXCHANGE) != 0)
		return errno == EINVAL || errno == ENOSYS || errno == ENOTSUP || errno == ENOENT
		           ? 1
		           : dn_error_set(err, DN_EIO, "status.json: %s", strerror(errno));
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) != 0) {
			e = errno;
			close(dfd);
			return dn_error_set(err, DN_EIO, "status.json: %s", strerror(e));
		}
		close(dfd);
	}
	return DN_OK;
}

/* status.json (and, with spare, its spare) of jb written into dir. */
static int status_write(const job *jb, const char *dir, int spare, dn_error *err)
{
	char path[PATH_MAX];
	size_t len = 0;
	char *text = status_text(jb, &len);
	int rc;

	if (!text)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	rc = spare ? 1 : status_swap(dir, text, len, err);
	if (rc == 1) {
		snprintf(path, sizeof path, "%s/status.json", dir);
		rc = dn_file_write(path, text, len, err);
	}
	if (!rc && spare) {
		snprintf(path, sizeof path, "%s/" STATUS_SPARE, dir);
		rc = dn_file_write(path, text, len, err);
	}
	free(text);
	return rc;
}

int jobs_save_status(const job *jb, dn_error *err)
{
	return status_write(jb, jb->dir, 0, err);
}

void jobs_save_status_logged(job *jb)
{
	dn_error err;

	jb->unsaved = jobs_save_status(jb, &err) != DN_OK;
	if (jb->unsaved)
		daemon_log(LOG_LVL_ERROR, "job %s: %s (retried at every heartbeat)", jb->id, err.msg);
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
	if (!jobs_file_exists(jb->dir, STATUS_SPARE)) {
		/* A folder of a version before the spare: given one now, when
		 * there is space for it. */
		dn_error err;

		if (status_write(jb, jb->dir, 1, &err) != DN_OK)
			daemon_log(LOG_LVL_WARNING, "job %s: %s", jb->id, err.msg);
	}
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

/* ---- job folders, whole or not at all ---- */

#define NEW_PREFIX     ".new-"
#define DELETED_PREFIX ".deleted-"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf path (no symbolic link is followed). */
static int remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

void jobs_scrub(const jobs *J, char *msg, size_t cap)
{
	size_t n = strlen(J->state_dir), o = 0;
	char out[1024];
	const char *p = msg, *at;

	if (n < 2 || !strstr(msg, J->state_dir))
		return;
	while ((at = strstr(p, J->state_dir)) && o < sizeof out) {
		o += (size_t)snprintf(out + o, sizeof out - o, "%.*sstate_dir", (int)(at - p), p);
		p = at + n;
	}
	if (o < sizeof out)
		snprintf(out + o, sizeof out - o, "%s", p);
	snprintf(msg, cap, "%s", out);
}

int jobs_folder_create(const jobs *J, job *jb, dn_error *err)
{
	char tmpdir[JOB_DIR_MAX + 16];
	int rc = DN_OK;

	snprintf(tmpdir, sizeof tmpdir, "%s/" NEW_PREFIX "%s", J->jobs_dir, jb->id);
	remove_tree(tmpdir);
	if (mkdir(tmpdir, 0755) != 0) {
		rc = dn_error_set(err, write_code(errno), "cannot make the folder of job %s: %s", jb->id,
		                  strerror(errno));
		goto fail;
	}
	if ((rc = jobs_write_json(tmpdir, "spec.json", jb->spec, err)) ||
	    (rc = status_write(jb, tmpdir, 1, err)))
		goto fail;
	if (rename(tmpdir, jb->dir) != 0 || sync_dir(J->jobs_dir) != 0) {
		rc = dn_error_set(err, write_code(errno), "cannot make the folder of job %s: %s", jb->id,
		                  strerror(errno));
		goto fail;
	}
	return DN_OK;
fail:
	remove_tree(tmpdir);
	remove_tree(jb->dir);
	return rc;
}

int jobs_folder_remove(const jobs *J, const job *jb, dn_error *err)
{
	char gone[JOB_DIR_MAX + 16];

	snprintf(gone, sizeof gone, "%s/" DELETED_PREFIX "%s", J->jobs_dir, jb->id);
	remove_tree(gone);
	/* The rename is the deletion: a start after a crash in what follows
	 * finds no job, only a hidden folder it sweeps away. */
	if (rename(jb->dir, gone) != 0)
		return dn_error_set(err, DN_EIO, "cannot remove the folder of job %s: %s", jb->id,
		                    strerror(errno));
	sync_dir(J->jobs_dir);
	if (remove_tree(gone) != 0)
		daemon_log(LOG_LVL_WARNING,
		           "job %s: its folder was left half removed (%s); the next start "
		           "sweeps it",
		           jb->id, strerror(errno));
	return DN_OK;
}

void jobs_folder_sweep(const jobs *J, const char *name)
{
	char path[JOB_DIR_MAX + 256];

	if (strncmp(name, NEW_PREFIX, strlen(NEW_PREFIX)) &&
	    strncmp(name, DELETED_PREFIX, strlen(DELETED_PREFIX)))
		return;
	snprintf(path, sizeof path, "%s/%s", J->jobs_dir, name);
	if (remove_tree(path) != 0)
		daemon_log(LOG_LVL_WARNING, "state_dir: cannot remove the leftover %s: %s", path,
		           strerror(errno));
}
