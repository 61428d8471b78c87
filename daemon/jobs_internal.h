/*
 * jobs_internal.h — what the files of the job manager share and nothing
 * outside daemon/jobs*.c may use: the job record, the manager's state (one
 * mutex, the list of jobs, the watches of event streams), the states and the
 * functions of jobs.c that the others call. The public contract is jobs.h.
 *
 * The manager is six files, one job each:
 *   jobs.c          the manager: create/destroy, the list, watches, the API
 *                   functions of jobs.h (submit, get, list, cancel, streams);
 *   jobs_spec.c     validation of a job spec into a job_conf (jobs_spec.h);
 *   jobs_store.c    the state directory: atomic JSON files, the job log,
 *                   status/progress, recovery at start-up (jobs_store.h);
 *   jobs_run.c      the runner and heartbeat threads and core's training and
 *                   evaluation loops (jobs_run.h);
 *   jobs_frame.c    the frame jobs' runs (train-frame, eval-frame);
 *   jobs_register.c a succeeded training job's model into the registry.
 */
#ifndef DAEMON_JOBS_INTERNAL_H
#define DAEMON_JOBS_INTERNAL_H

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "daemon/jobs.h"

/* Folders are kept short enough that every file name fits in PATH_MAX. */
#define JOB_DIR_MAX 2048

/* Job types, as the API spells them in jobs_type_names (jobs.c). */
enum { JOB_TRAIN = 0, JOB_EVAL = 1, JOB_TRAIN_FRAME = 2, JOB_EVAL_FRAME = 3, JOB_NTYPES };
enum { ST_QUEUED, ST_RUNNING, ST_SUCCEEDED, ST_FAILED, ST_CANCELLED, ST_COUNT };
enum { STOP_NONE = 0, STOP_CANCEL = 1, STOP_SHUTDOWN = 2 };
/* The state names, as the API and status.json spell them (jobs.c). */
extern const char *const jobs_state_names[ST_COUNT];
extern const char *const jobs_type_names[JOB_NTYPES];
/* The type called s, or -1. */
int jobs_type_index(const char *s);
/* Whether a type trains (makes a model: checkpoint, register_as, device). */
static inline int jobs_type_trains(int t)
{
	return t == JOB_TRAIN || t == JOB_TRAIN_FRAME;
}
static inline int jobs_type_frames(int t)
{
	return t == JOB_TRAIN_FRAME || t == JOB_EVAL_FRAME;
}

typedef struct job {
	uint64_t seq;
	char id[24];
	char dir[JOB_DIR_MAX];
	int type, state;
	json_t *spec; /* normalized */
	int64_t created_ms, started_ms, finished_ms;
	char error[512];
	int cancel_requested;
	atomic_int stop;
	int resumes; /* runs started again after a restart */
	/* progress */
	int have_progress;
	int epoch, epochs;
	int64_t step, steps;
	double fraction, eta_s, loss, val_loss; /* val_loss: validation PSNR for train-frame */
	json_t *metrics; /* when succeeded */
	char registered[128];
	uint64_t version;
	double last_wake, last_write;
	int unsaved; /* status.json is behind: the heartbeat writes it again */
	int busy;    /* a runner still uses the record: not deleted before it is done */
} job;

typedef struct watch {
	char id[24];
	void (*wake)(void *arg);
	void *arg;
} watch;

struct jobs {
	pthread_mutex_t mu;
	pthread_cond_t work, tick;
	pthread_cond_t idle; /* a runner has put its job down (busy back to 0) */
	char *state_dir, *data_roots, *speech_dir, *job_device;
	char jobs_dir[JOB_DIR_MAX - 32];
	int max_jobs, max_queued, nice;
	int max_kept;        /* jobs of any state the state directory keeps */
	int keep_finished;   /* finished jobs kept; older ones go (0: no limit) */
	double keep_seconds; /* finished jobs kept this long (0: forever) */
	uint64_t job_memory_budget;
	daemon_models *models;
	job **v; /* ascending seq */
	size_t n, cap;
	uint64_t next_seq;
	int stopping, closing;
	pthread_t *runners;
	int nrunners;
	pthread_t ticker;
	int ticker_started;
	watch *w;
	size_t nw, capw;
};

/* ---- small helpers ---- */

static inline int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static inline double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline json_t *iso_time(int64_t ms)
{
	char buf[64];
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0)
		return json_null();
	gmtime_r(&s, &tm);
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(buf);
}

/* A float parameter as the decimal it was written as (1e-3, not
 * 0.0010000000474974513). */
static inline double fdec(float x)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%.7g", (double)x);
	return strtod(buf, NULL);
}

/* A finite number, or null (JSON has no NaN). */
static inline json_t *num(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

/* ---- jobs.c: the list and its watches (caller holds J->mu for all) ---- */

/* The job's object as the API shows it; with_metrics: the metrics of a
 * finished job too. New reference. */
json_t *jobs_job_json(const job *jb, int with_metrics);
/* Fires the watches of job id (NULL: all). */
void jobs_fire_watches(jobs *J, const char *id);
/* Counts a change of jb and fires its watches. */
void jobs_changed(jobs *J, job *jb);
/* The job called id, or NULL. */
job *jobs_find(jobs *J, const char *id);
/* Writes status.json of jobs that are behind and applies retention (the
 * heartbeat, every few seconds). */
void jobs_maintain(jobs *J);
/* jobs_register.c: DN_EEXIST when name is a loaded model that no job
 * registered (a job's registration may replace its predecessor's). */
int jobs_name_taken(jobs *J, const char *name, dn_error *err);
/* Frees a job record (NULL is fine). Needs no lock. */
void jobs_job_free(job *jb);

#endif
