/*
 * jobs_run.h — the threads of the job manager. A runner takes the oldest
 * queued job, re-validates its spec, runs core's training or evaluation loop
 * with a progress callback that records progress, wakes the streams and
 * returns the job's stop flag, then records the outcome. The heartbeat wakes
 * every stream each few seconds. Part of the job manager (jobs_internal.h).
 */
#ifndef DAEMON_JOBS_RUN_H
#define DAEMON_JOBS_RUN_H

/* Thread functions; arg is the manager (jobs *). Both return when
 * J->stopping is set. */
void *jobs_runner(void *arg);
void *jobs_heartbeat(void *arg);

#include "daemon/jobs_internal.h"

/* After a runner updated jb's progress fields (caller holds J->mu): marks
 * it as having progress, wakes its streams and writes its progress file, at
 * most every 0.2 s and 1 s, and always when final. */
void jobs_progress_report(jobs *J, job *jb, int final);
/* A training run's progress: epoch of epochs, step of steps in it, the
 * loss, the validation figure (val_loss, or train-frame's val_psnr). */
typedef struct jobs_train_report {
	int epoch, epochs;
	int64_t step, steps;
	double loss, val, eta_s;
	int epoch_done;
} jobs_train_report;
/* Records r under J->mu, reports it, and returns whether the job is asked
 * to stop. */
int jobs_report_training(jobs *J, job *jb, const jobs_train_report *r);
/* An evaluation's progress (done of total items): records it under J->mu,
 * reports it, and returns whether the job is asked to stop. */
int jobs_report_files(jobs *J, job *jb, size_t done, size_t total, double eta_s);

#endif
