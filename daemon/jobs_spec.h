/*
 * jobs_spec.h — validation of a job spec (api/openapi.json "JobSpec"): every
 * member checked, the offending one named, defaults filled in from core's
 * default parameters, the data set resolved under data_roots. Part of the job
 * manager (see jobs_internal.h); nothing here touches the state directory.
 */
#ifndef DAEMON_JOBS_SPEC_H
#define DAEMON_JOBS_SPEC_H

#include <limits.h>

#include "core/model/model.h"
#include "core/train/dataset.h"
#include "core/train/eval.h"
#include "core/train/eval_frame.h"
#include "core/train/params.h"
#include "core/train/train.h"
#include "daemon/jobs_internal.h"

/* Where a refusal is reported: field (field_cap bytes) gets the member's
 * name ("params.epochs"), err the message. */
typedef struct vstate {
	char *field;
	size_t cap;
	dn_error *err;
} vstate;

/* What a runner needs, from a normalized spec. */
typedef struct job_conf {
	int type;
	char model[128]; /* "" = the default (eval) or a new network (train) */
	char dataset[PATH_MAX];
	char dataset_path[PATH_MAX];
	int dataset_kind;
	int builtin;
	char noise_dataset[PATH_MAX]; /* "": none; else a folder of noise recordings */
	char noise_path[PATH_MAX];    /* its real path: the runner's dp.noise_dir */
	char register_as[128];
	char device[32]; /* as the spec (or job_device) names it: "cpu", "cuda:0" */
	dn_device dev;   /* parsed; copied into tp.device */
	dn_train_params tp;
	dn_model_info info;
	dn_dataset_params dp;
	dn_eval_params ep;
	/* frame jobs: a train-frame job's loop and network, an eval-frame
	 * job's scoring and how many photographs it reads (0: all) */
	dn_frame_config fc;
	dn_frame_eval_params fe;
	size_t frame_files;
} job_conf;

/* Validates spec; fills c and (if norm is not NULL) the normalized spec (a
 * new reference: every default filled in). DN_EINVAL with v->field set;
 * DN_ENOMEM. Reads J's data roots and model registry, never its list. */
int jobs_spec_parse(jobs *J, const json_t *spec, job_conf *c, json_t **norm, vstate *v);
/* Whether s is a model name: 1-64 of A-Z a-z 0-9 - _ . not starting with a dot. */
int jobs_valid_name(const char *s);

#endif
