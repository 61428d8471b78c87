/*
 * jobs.h — the job manager: asynchronous training and evaluation jobs (issue
 * 7, DESIGN.md "Job"), their state directory and their recovery after a
 * restart.
 *
 * A spec (JSON, see api/openapi.json "JobSpec") is validated in full before
 * it is accepted: unknown keys, wrong types and values out of range are
 * refused with the offending field named. An accepted job is queued; at most
 * max_jobs run at once, each on a thread of the manager (never on a request
 * worker or an HTTP thread), through core's dn_train_speech/dn_eval_speech
 * with a progress callback that also carries cancellation.
 *
 * Every job is a folder STATE_DIR/jobs/ID holding spec.json, status.json,
 * progress (the last progress report, JSON), log (text lines), metrics.json
 * and plots.json when done, and for training checkpoint.safetensors and
 * model.safetensors. JSON files are written atomically (temporary file,
 * fsync, rename, fsync of the folder). At start-up finished jobs are listed
 * with their results, queued jobs run again, and a job found "running" (the
 * daemon was killed) is resumed from its checkpoint when it is a training job
 * and marked failed (with that reason) when it is an evaluation.
 *
 * Thread-safety: every function may be called from any thread. JSON returned
 * is a new reference the caller owns.
 */
#ifndef DAEMON_JOBS_H
#define DAEMON_JOBS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dn.h"
#include "daemon/models.h"

typedef struct jobs jobs;

typedef struct jobs_params {
	const char *state_dir;      /* required: the jobs/ folder lives here */
	const char *data_roots;     /* comma-separated folders data sets may come from */
	const char *speech_dir;     /* the built-in corpus ("speech"); NULL: the default places */
	const char *job_device;     /* a training job's device when its spec names none (NULL: cpu) */
	int max_jobs;               /* running at once */
	int max_queued;             /* waiting; beyond it submit gives DN_ELIMIT */
	int max_kept;               /* kept in any state; beyond it submit gives DN_ELIMIT */
	int keep_finished;          /* finished jobs kept, the oldest deleted beyond (0: all) */
	double keep_seconds;        /* finished jobs deleted this long after they finished (0: never) */
	int nice;                   /* of the runner threads (0: as the process) */
	uint64_t job_memory_budget; /* a training job's estimated step memory; 0: no limit */
	daemon_models *models;      /* for eval's model and for registration (borrowed) */
} jobs_params;

/* Scans STATE_DIR/jobs, recovers what it finds and starts the runner
 * threads. */
int jobs_create(const jobs_params *p, jobs **out, dn_error *err);
/* Interrupts running jobs at their next step (they are saved as queued, to
 * run again at the next start), joins the threads, frees everything. */
void jobs_destroy(jobs *j);

/* Validates spec and queues the job. On success *job is the job's object
 * (as jobs_get gives it). DN_EINVAL: spec invalid, field names the member
 * ("params.epochs"); DN_ELIMIT: the queue is full, or max_kept jobs are kept;
 * DN_ENOSPACE (no space left) or DN_EIO writing the state directory, and
 * then no folder is left of it; DN_ECANCELLED when shutting down. Messages
 * name no path of the server. */
int jobs_submit(jobs *j, const json_t *spec, json_t **job, char *field, size_t field_cap, dn_error *err);

enum { JOBS_VIEW_STATUS = 0, JOBS_VIEW_PLOTS = 1 };
/* The job's object (with metrics when done), or its plots; NULL with
 * DN_ENOTFOUND when there is no such job (or, for plots, none yet). */
json_t *jobs_get(jobs *j, const char *id, int view, dn_error *err);
/* {"jobs": [...newest first...], "next_cursor": ID|null, "total": N}; state
 * NULL or a state name; cursor NULL or the last id of the previous page;
 * offset skips that many after the cursor. DN_EINVAL for an unknown state or
 * cursor. */
json_t *jobs_list(jobs *j, const char *state, size_t limit, const char *cursor, size_t offset, dn_error *err);
/* DELETE: cancels a queued job at once and a running one at its next step
 * (*job shows cancel_requested), and deletes a finished job with its folder
 * (*job NULL). DN_ENOTFOUND; DN_EUNSUPPORTED while a cancelled job is still
 * stopping; DN_ENOSPACE or DN_EIO when the cancel of a queued job cannot be
 * recorded (the job stays queued) or the folder cannot be removed. */
int jobs_cancel(jobs *j, const char *id, json_t **job, dn_error *err);

/* Event streams. jobs_version is the job's change counter (0 when there is
 * no such job) and *finished whether it reached a final state. jobs_watch
 * arranges one call of wake(arg) at the job's next change, at the next
 * heartbeat (a few seconds) or at shutdown, whichever comes first; it
 * returns 1 without arranging anything when the version already differs
 * from seen. jobs_unwatch cancels an arranged call (after it returns, wake
 * will not run for arg). */
uint64_t jobs_version(jobs *j, const char *id, int *finished);
int jobs_watch(jobs *j, const char *id, uint64_t seen, void (*wake)(void *arg), void *arg);
void jobs_unwatch(jobs *j, void *arg);
/* Fires every watch and makes jobs_closing true: streams end. */
void jobs_close_streams(jobs *j);
int jobs_closing(jobs *j);

/* Registers the model a succeeded training job made, under name: copied to
 * STATE_DIR/models/NAME.safetensors (its version and metrics in the
 * metadata) and loaded into the registry without a restart, alone (no other
 * model is reloaded). DN_ENOTFOUND (no such job), DN_EUNSUPPORTED (not a
 * succeeded training job), DN_EINVAL (bad name), DN_EEXIST (a model of that
 * name not registered by a job is loaded), DN_ELIMIT (max_models are
 * served and the name is new; the file is not kept), DN_ENOSPACE/DN_EIO.
 * Messages name no path of the server. Slow (a copy and a load): not for an
 * HTTP thread. */
int jobs_register_model(jobs *j, const char *id, const char *name, dn_error *err);

/* STATE_DIR/models, where registered models live (for start-up). */
void jobs_models_dir(const char *state_dir, char *out, size_t cap);

#endif
