/*
 * params.c — see params.h. The rows: what a speech training run can be
 * told, with the bounds every entry point enforces. A bound here is the
 * bound: the loop (train.c), the model (unet.c, whose own limit on
 * base·2^depth still applies), the CLI, the daemon and the OpenAPI document
 * all read it from this table.
 */
#include "core/train/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/noise.h"
#include "core/nn/unet.h"

static const char *const losses[] = {"mse", "mae", NULL};
static const char *const outputs[] = {"magnitude", "mask", NULL};
static const char *const scalings[] = {"none", "log1p", "power", NULL};

#define T(f) offsetof(dn_train_config, train.f)
#define I(f) offsetof(dn_train_config, info.f)
#define D(f) offsetof(dn_train_config, data.f)

static const dn_train_param table[] = {
    {"epochs", "--epochs", DN_PARAM_INT, T(epochs), 1, DN_TRAIN_MAX_EPOCHS, NULL, "N", "epochs at most", 0},
    {"batch", "--batch", DN_PARAM_INT, T(batch), 1, 1024, NULL, "N", "patches per step", 0},
    {"lr", "--lr", DN_PARAM_FLOAT, T(lr), 1e-7, 1, NULL, "X", "Adam's learning rate", 0},
    {"patch_frames", "--patch-frames", DN_PARAM_INT, T(patch_frames), 8, 4096, NULL, "N",
     "STFT frames per patch", 0},
    {"patches_per_item", "--patches-per-item", DN_PARAM_INT, T(patches_per_item), 1, 1000, NULL, "N",
     "patches per file per epoch", 0},
    {"lr_factor", "--lr-factor", DN_PARAM_FLOAT, T(lr_factor), 0.01, 1, NULL, "X", "ReduceLROnPlateau factor",
     0},
    {"lr_patience", "--lr-patience", DN_PARAM_INT, T(lr_patience), 1, 1000, NULL, "N",
     "epochs before reducing the rate", 0},
    {"early_stop", "--early-stop", DN_PARAM_INT, T(early_stop), 1, 1000, NULL, "N",
     "epochs without improvement before stopping", 0},
    {"loss", "--loss", DN_PARAM_ENUM, T(loss), 0, 1, losses, "mse|mae", "training loss", 0},
    {"filters", "--filters", DN_PARAM_INT, I(arch.base_filters), 1, DN_UNET_MAX_FILTERS, NULL, "N",
     "base filters of the U-Net", 0},
    {"depth", "--depth", DN_PARAM_INT, I(arch.depth), 1, DN_UNET_MAX_DEPTH, NULL, "N", "U-Net depth", 0},
    {"causal", "--causal", DN_PARAM_INT, I(arch.causal), 0, 1, NULL, "[0|1]",
     "1: a causal U-Net that can stream (convolutions causal in time, pooling in frequency only)",
     DN_PARAM_SWITCH},
    {"output", "--output", DN_PARAM_ENUM, I(output), 0, 1, outputs, "magnitude|mask", "network output", 0},
    {"scaling", "--scaling", DN_PARAM_ENUM, I(scaling), 0, 2, scalings, "none|log1p|power", "input scaling",
     0},
    {"snr_min_db", NULL, DN_PARAM_DOUBLE, D(snr_min_db), -30, 60, NULL, "DB", "lowest SNR mixed on the fly",
     0},
    {"snr_max_db", NULL, DN_PARAM_DOUBLE, D(snr_max_db), -30, 60, NULL, "DB",
     "highest SNR mixed on the fly, not below snr_min_db", 0},
    {"crop_seconds", NULL, DN_PARAM_DOUBLE, D(crop_seconds), 0, 600, NULL, "S",
     "excerpt length (0: whole files)", 0},
    {"seed", "--seed", DN_PARAM_U64, T(seed), 0, 9007199254740992.0, NULL, "S", "seed", DN_PARAM_EVAL_TOO},
    {"noise", NULL, DN_PARAM_NOISE, D(noise_kinds), 0, 0, NULL, "LIST", "noise kinds", DN_PARAM_EVAL_TOO},
};
#define NROWS (sizeof table / sizeof table[0])

const dn_train_param *dn_train_params_table(size_t *n)
{
	*n = NROWS;
	return table;
}

const dn_train_param *dn_train_param_find(const char *name)
{
	for (size_t i = 0; i < NROWS; i++)
		if (strcmp(table[i].name, name) == 0 || (table[i].flag && strcmp(table[i].flag, name) == 0))
			return &table[i];
	return NULL;
}

dn_train_config dn_train_config_default(void)
{
	dn_train_config c = {.train = dn_train_default_params(),
	                     .info = dn_model_default_info(DN_MODEL_AUDIO),
	                     .data = dn_dataset_default_params()};

	c.data.seed = c.train.seed;
	return c;
}

static void *field(const dn_train_param *p, const dn_train_config *c)
{
	return (char *)c + p->offset;
}

double dn_train_param_get(const dn_train_param *p, const dn_train_config *c)
{
	void *f = field(p, c);

	switch (p->type) {
	case DN_PARAM_INT:
	case DN_PARAM_ENUM: return *(int *)f;
	case DN_PARAM_FLOAT: return *(float *)f;
	case DN_PARAM_DOUBLE: return *(double *)f;
	case DN_PARAM_U64: return (double)*(uint64_t *)f;
	case DN_PARAM_NOISE: return *(unsigned *)f;
	}
	return NAN;
}

static int nchoices(const dn_train_param *p)
{
	int n = 0;

	while (p->choices && p->choices[n])
		n++;
	return n;
}

/* Whether v is within p's bounds (and whole where it must be). */
static int in_range(const dn_train_param *p, double v)
{
	if (v != floor(v) && p->type != DN_PARAM_FLOAT && p->type != DN_PARAM_DOUBLE)
		return 0;
	if (p->type == DN_PARAM_ENUM)
		return v >= 0 && v < nchoices(p);
	if (p->type == DN_PARAM_NOISE) /* a non-empty mask of white, pink, brown */
		return v >= 1 && v < (1u << DN_NOISE_FILE);
	return v >= p->lo && v <= p->hi;
}

static int out_of_range(const dn_train_param *p, double v, dn_error *err)
{
	if (p->type == DN_PARAM_ENUM)
		return dn_error_set(err, DN_EINVAL, "%s: unknown value %g (%s)", p->name, v, p->help);
	if (p->type == DN_PARAM_NOISE)
		return dn_error_set(err, DN_EINVAL, "%s: expected some of white, pink, brown", p->name);
	if (p->type == DN_PARAM_INT || p->type == DN_PARAM_U64)
		return dn_error_set(err, DN_EINVAL, "%s: %.17g is not a whole number in %.17g..%.17g (%s)",
		                    p->name, v, p->lo, p->hi, p->help);
	return dn_error_set(err, DN_EINVAL, "%s: %g is outside %g..%g (%s)", p->name, v, p->lo, p->hi,
	                    p->help);
}

int dn_train_param_set(const dn_train_param *p, dn_train_config *c, double v, dn_error *err)
{
	void *f = field(p, c);

	if (!in_range(p, v))
		return out_of_range(p, v, err);
	switch (p->type) {
	case DN_PARAM_INT:
	case DN_PARAM_ENUM: *(int *)f = (int)v; break;
	case DN_PARAM_FLOAT: *(float *)f = (float)v; break;
	case DN_PARAM_DOUBLE: *(double *)f = v; break;
	case DN_PARAM_U64: *(uint64_t *)f = (uint64_t)v; break;
	case DN_PARAM_NOISE: *(unsigned *)f = (unsigned)v; break;
	}
	return DN_OK;
}

int dn_train_param_parse(const dn_train_param *p, dn_train_config *c, const char *text, dn_error *err)
{
	char *end;
	double v;

	if (p->type == DN_PARAM_NOISE) {
		unsigned mask;
		int rc = dn_noise_kinds_parse(text, &mask, err);

		return rc ? rc : dn_train_param_set(p, c, mask, err);
	}
	if (p->type == DN_PARAM_ENUM) {
		char list[128] = "";

		for (int i = 0; p->choices[i]; i++)
			if (strcmp(text, p->choices[i]) == 0)
				return dn_train_param_set(p, c, i, err);
		for (int i = 0; p->choices[i]; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
			         p->choices[i]);
		return dn_error_set(err, DN_EINVAL, "%s: '%s' is not one of %s", p->name, text, list);
	}
	v = strtod(text, &end);
	if (end == text || *end || !isfinite(v))
		return dn_error_set(err, DN_EINVAL, "%s: '%s' is not a number", p->name, text);
	return dn_train_param_set(p, c, v, err);
}

static int check_rows(const dn_train_config *c, int only_train, dn_error *err)
{
	for (size_t i = 0; i < NROWS; i++) {
		const dn_train_param *p = &table[i];
		double v;

		/* train is the first member: its rows are those below its end. */
		if (only_train && p->offset >= offsetof(dn_train_config, train) + sizeof c->train)
			continue;
		v = dn_train_param_get(p, c);
		if (!in_range(p, v))
			return out_of_range(p, v, err);
	}
	return DN_OK;
}

int dn_train_config_check(const dn_train_config *c, dn_error *err)
{
	int rc = check_rows(c, 0, err);

	if (!rc && c->data.snr_min_db > c->data.snr_max_db)
		rc = dn_error_set(err, DN_EINVAL, "snr_max_db: must not be below snr_min_db");
	return rc;
}

int dn_train_params_check(const dn_train_params *p, dn_error *err)
{
	dn_train_config c = dn_train_config_default();

	c.train = *p;
	return check_rows(&c, 1, err);
}

void dn_train_params_help(char *buf, size_t cap)
{
	dn_train_config d = dn_train_config_default();
	size_t len = 0;

	if (cap)
		buf[0] = '\0';
	for (size_t i = 0; i < NROWS && len < cap; i++) {
		const dn_train_param *p = &table[i];
		char opt[96], def[160];
		double v = dn_train_param_get(p, &d);
		int n;

		if (!p->flag)
			continue;
		snprintf(opt, sizeof opt, "%s %s", p->flag, p->arg);
		if (p->type == DN_PARAM_ENUM)
			snprintf(def, sizeof def, "default %s", p->choices[(int)v]);
		else
			snprintf(def, sizeof def, "%.16g..%.16g; default %.7g", p->lo, p->hi, v);
		n = snprintf(buf + len, cap - len,
		             strlen(opt) > 21 ? "  %s\n%24s%s (%s)\n" : "  %-21s%s %s (%s)\n", opt, "",
		             p->help, def);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}
