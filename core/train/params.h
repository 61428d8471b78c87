/*
 * params.h — the parameters of a speech training run, defined once (and
 * below, those of a frame training run, in a table of their own). One
 * table (name, type, bounds, choices, help, where the value lives) drives
 * core's own check of a run (dn_train_speech), `denoise train`'s options and
 * their --help lines, the bounds `denoise train-frame` shares, the daemon's
 * job spec and the JobSpec schema of the OpenAPI document (which api/ fills
 * from this table), so that none of them can disagree.
 *
 * Defaults are not repeated here: a parameter's default is its field's value
 * in dn_train_config_default() (dn_train_default_params,
 * dn_model_default_info(DN_MODEL_AUDIO), dn_dataset_default_params), read
 * through the table's offsets.
 *
 * To add a parameter: a field in one of the three structs, its default in
 * that struct's default function, and one row in params.c.
 */
#ifndef DN_TRAIN_PARAMS_H
#define DN_TRAIN_PARAMS_H

#include <stddef.h>

#include "core/dn.h"
#include "core/model/model.h"
#include "core/train/dataset.h"
#include "core/train/train.h"
#include "core/train/train_frame.h"

/* Everything a speech training run is configured by. */
typedef struct dn_train_config {
	dn_train_params train;
	dn_model_info info; /* of a new network */
	dn_dataset_params data;
} dn_train_config;

enum dn_param_type {
	DN_PARAM_INT,    /* int */
	DN_PARAM_FLOAT,  /* float */
	DN_PARAM_DOUBLE, /* double */
	DN_PARAM_U64,    /* uint64_t */
	DN_PARAM_ENUM,   /* int, an index of choices */
	DN_PARAM_NOISE,  /* unsigned, a mask of 1u << DN_NOISE_* (white, pink, brown) */
};

/* flags */
#define DN_PARAM_EVAL_TOO 1u /* an evaluation takes it too (with a default of its own) */
#define DN_PARAM_SWITCH   2u /* an INT 0..1 whose command-line flag alone means 1 */

typedef struct dn_train_param {
	const char *name;           /* as a job spec spells it: "patch_frames" */
	const char *flag;           /* `denoise train`'s option, "--patch-frames"; NULL: a dataset
	                             * option of tools/data_opts.c (--snr, --crop, --noise) */
	int type;                   /* enum dn_param_type */
	size_t offset;              /* of the value in dn_train_config (dn_frame_config for
	                             * the frame table's rows) */
	double lo, hi;              /* inclusive bounds (INT, FLOAT, DOUBLE, U64) */
	const char *const *choices; /* ENUM: the names, by value, NULL-terminated */
	const char *arg;            /* the value in --help: "N", "X", "mse|mae" */
	const char *help;           /* what it is, one line */
	unsigned flags;             /* DN_PARAM_* */
} dn_train_param;

/* The table, in the order a job spec lists the parameters; *n its length. */
const dn_train_param *dn_train_params_table(size_t *n);
/* The row called name ("lr"), or whose flag is name ("--lr"); NULL if none. */
const dn_train_param *dn_train_param_find(const char *name);

/* The defaults of every parameter (and of the fields no row names). */
dn_train_config dn_train_config_default(void);

/* A parameter's value as a number: INT, FLOAT, DOUBLE, U64 as themselves,
 * ENUM its index, NOISE its mask. */
double dn_train_param_get(const dn_train_param *p, const dn_train_config *c);
/* Sets a parameter after checking its bounds (and, but for FLOAT and DOUBLE,
 * that v is whole; NOISE: a non-empty mask of white, pink, brown). DN_EINVAL
 * naming the parameter. */
int dn_train_param_set(const dn_train_param *p, dn_train_config *c, double v, dn_error *err);
/* Sets a parameter from text as a command line writes it: a number, one of
 * the choices, or a comma-separated list of noise kinds. DN_EINVAL naming
 * the parameter, its bounds or choices. */
int dn_train_param_parse(const dn_train_param *p, dn_train_config *c, const char *text, dn_error *err);
/* Checks every row's value in c (what dn_train_speech does first). */
int dn_train_config_check(const dn_train_config *c, dn_error *err);
/* Checks the rows that live in dn_train_params, for a run that takes its
 * network from elsewhere (dn_train_speech, --init). */
int dn_train_params_check(const dn_train_params *p, dn_error *err);

/* "  --epochs N            epochs at most (1..1000; default 50)\n" for every
 * row with a flag, into buf (cap bytes, always terminated). */
void dn_train_params_help(char *buf, size_t cap);

/* ---- frame training: `denoise train-frame` and "train-frame" jobs ----
 *
 * The same row type and rules over a table of its own (the names a speech
 * run shares, epochs, batch, lr, filters, ..., keep their meaning; bounds
 * and defaults are the frame loop's). Defaults are dn_frame_config_default:
 * dn_frame_train_default_params and a 16-filter depth-3 frame U-Net. */
typedef struct dn_frame_config {
	dn_frame_train_params train; /* sigma_min/max and max_seconds unused: below */
	dn_model_info info;          /* of a new network */
	float sigma_min, sigma_max;  /* noise sigma on the 0..255 scale, as people write it */
	double minutes;              /* time budget (0: none) */
} dn_frame_config;

const dn_train_param *dn_frame_params_table(size_t *n);
const dn_train_param *dn_frame_param_find(const char *name);
dn_frame_config dn_frame_config_default(void);
double dn_frame_param_get(const dn_train_param *p, const dn_frame_config *c);
int dn_frame_param_set(const dn_train_param *p, dn_frame_config *c, double v, dn_error *err);
int dn_frame_param_parse(const dn_train_param *p, dn_frame_config *c, const char *text, dn_error *err);
/* Every row within bounds, sigma_min <= sigma_max, patch a multiple of
 * 2^depth. DN_EINVAL naming the parameter. */
int dn_frame_config_check(const dn_frame_config *c, dn_error *err);
/* The loop's parameters (sigma on the 0..1 scale, the budget in seconds). */
dn_frame_train_params dn_frame_config_params(const dn_frame_config *c);
/* --help lines of the frame table's rows, as dn_train_params_help. */
void dn_frame_params_help(char *buf, size_t cap);

#endif
