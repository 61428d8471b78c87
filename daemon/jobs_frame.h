/*
 * jobs_frame.h — the runs of the frame job types: "train-frame" (core's
 * dn_frame_train on DATASET/train, validated on DATASET/val, then the best
 * model scored by dn_eval_frames on the validation photographs) and
 * "eval-frame" (dn_eval_frames on a folder's photographs). Called by the
 * runner (jobs_run.c) without J->mu held, with a validated job_conf; their
 * metrics and plots are what jobs_run.c writes and the API serves. Part of
 * the job manager (jobs_internal.h).
 */
#ifndef DAEMON_JOBS_FRAME_H
#define DAEMON_JOBS_FRAME_H

#include "daemon/jobs_internal.h"
#include "daemon/jobs_spec.h"

/* Both: DN_OK with *metrics and *plots new references; DN_ECANCELLED when
 * the job's stop flag was raised; another code with err set. */
int jobs_run_train_frame(jobs *J, job *jb, const job_conf *c, json_t **metrics, json_t **plots,
                         dn_error *err);
int jobs_run_eval_frame(jobs *J, job *jb, const job_conf *c, json_t **metrics, json_t **plots, dn_error *err);

#endif
