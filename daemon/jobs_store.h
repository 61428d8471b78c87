/*
 * jobs_store.h — the job manager's state directory: every job is a folder
 * STATE_DIR/jobs/ID holding spec.json, status.json, progress, log and, when
 * done, metrics.json and plots.json (see jobs.h). JSON files are replaced
 * atomically. At start-up jobs_recover reads a folder back and decides what
 * a job found running becomes. Part of the job manager (jobs_internal.h).
 */
#ifndef DAEMON_JOBS_STORE_H
#define DAEMON_JOBS_STORE_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/jobs_internal.h"

/* j as compact ASCII JSON into dir/name, replaced atomically and durably
 * (dn_file_write). DN_EIO, DN_ENOMEM, DN_EINVAL (path too long). */
int jobs_write_json(const char *dir, const char *name, const json_t *j, dn_error *err);
/* dir/name parsed, a new reference; NULL when missing or not JSON. */
json_t *jobs_read_json(const char *dir, const char *name);
int jobs_file_exists(const char *dir, const char *name);
/* Appends a time-stamped line to the job's log (and the daemon's). */
void jobs_log(const job *jb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The job's progress as served and as the file "progress" keeps it (null
 * before the first report). New reference. */
json_t *jobs_progress_json(const job *jb);
/* status.json: what a restart needs besides the spec, swapped in through
 * the folder's spare so that a full disk does not stop it. Caller holds
 * J->mu. DN_ENOSPACE, DN_EIO, DN_ENOMEM. */
int jobs_save_status(const job *jb, dn_error *err);
/* The same, logging a failure and marking the job unsaved (the heartbeat
 * tries again) instead of returning it. */
void jobs_save_status_logged(job *jb);
/* Writes the file "progress". Caller holds J->mu. */
void jobs_save_progress(job *jb);

/* The index of a state name, or -1. */
int jobs_state_index(const char *s);
/* Loads the job folder J->jobs_dir/name; NULL (logged) when it is not one. */
job *jobs_recover(jobs *J, const char *name);
/* mkdir -p. DN_EIO. */
int jobs_mkdir_p(const char *path, dn_error *err);

/* Makes jb's folder (jb->dir) with spec.json, status.json and its spare, or
 * nothing: it is built as a hidden .new-ID and renamed in. DN_ENOSPACE,
 * DN_EIO; messages name the job, not the path. */
int jobs_folder_create(const jobs *J, job *jb, dn_error *err);
/* Removes jb's folder: renamed away (which is the deletion) then emptied.
 * DN_EIO when it cannot be renamed (the job stays). */
int jobs_folder_remove(const jobs *J, const job *jb, dn_error *err);
/* At start-up: removes name in J->jobs_dir when it is what a crash left of
 * a creation or a deletion (.new-*, .deleted-*). */
void jobs_folder_sweep(const jobs *J, const char *name);
/* Replaces the state directory's path in msg by "state_dir": answers name
 * no paths of the server. */
void jobs_scrub(const jobs *J, char *msg, size_t cap);

#endif
