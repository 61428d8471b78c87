/*
 * params.c — see params.h. The rows: what a speech training run can be
 * told, with the bounds every entry point enforces. A bound here is the
 * bound: the loop (train.c), the model (unet.c, whose own limit on
 * base·2^depth still applies), the CLI, the daemon and the OpenAPI document
 * all read it from this table.
 */
#include "core/train/params.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/noise.h"
#include "core/nn/unet.h"

static const char *const losses[] = {"mse", "mae", NULL};
static const char *const outputs[] = {"magnitude", "mask", "cmask", NULL};
static const char *const scalings[] = {"none", "log1p", "power", NULL};
static const char *const presets[] = {"none", "real", NULL};

#define T(f) offsetof(dn_train_config, train.f)
#define I(f) offsetof(dn_train_config, info.f)
#define D(f) offsetof(dn_train_config, data.f)
#define A(f) offsetof(dn_train_config, data.augment.f)

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
    {"lookahead", "--lookahead", DN_PARAM_INT, I(lookahead), 0, DN_MODEL_MAX_LOOKAHEAD, NULL, "N",
     "causal U-Net: STFT frames it sees past the one it outputs (hop ms each, added to the stream's latency)",
     0},
    {"output", "--output", DN_PARAM_ENUM, I(output), 0, 2, outputs, "magnitude|mask|cmask",
     "network output (cmask: a mask on power-compressed magnitudes; needs scaling power)", 0},
    {"scaling", "--scaling", DN_PARAM_ENUM, I(scaling), 0, 2, scalings, "none|log1p|power", "input scaling",
     0},
    {"power", "--power", DN_PARAM_FLOAT, I(power), 0.05, 2, NULL, "P",
     "exponent of scaling power (0.3 compresses as loudness does)", 0},
    {"snr_min_db", NULL, DN_PARAM_DOUBLE, D(snr_min_db), -30, 60, NULL, "DB", "lowest SNR mixed on the fly",
     0},
    {"snr_max_db", NULL, DN_PARAM_DOUBLE, D(snr_max_db), -30, 60, NULL, "DB",
     "highest SNR mixed on the fly, not below snr_min_db", 0},
    {"crop_seconds", NULL, DN_PARAM_DOUBLE, D(crop_seconds), 0, 600, NULL, "S",
     "excerpt length (0: whole files)", 0},
    {"augment", "--augment", DN_PARAM_ENUM, A(preset), 0, 1, presets, "none|real",
     "augmentation: real = level, channel, room, clipping (docs/data-sources.md)", 0},
    {"aug_level_prob", "--aug-level", DN_PARAM_DOUBLE, A(level_prob), -1, 1, NULL, "P",
     "chance of a speech level in -35..-10 dBFS; -1: preset's", 0},
    {"level_min_dbfs", NULL, DN_PARAM_DOUBLE, A(level_min_dbfs), -60, 0, NULL, "DB",
     "lowest speech RMS level", 0},
    {"level_max_dbfs", NULL, DN_PARAM_DOUBLE, A(level_max_dbfs), -60, 0, NULL, "DB",
     "highest speech RMS level, not below level_min_dbfs", 0},
    {"aug_band_prob", "--aug-band", DN_PARAM_DOUBLE, A(band_prob), -1, 1, NULL, "P",
     "chance of a 300-3400 Hz phone band-pass; -1: preset's", 0},
    {"aug_tilt_prob", "--aug-tilt", DN_PARAM_DOUBLE, A(tilt_prob), -1, 1, NULL, "P",
     "chance of a bright/dark EQ tilt; -1: preset's", 0},
    {"aug_tilt_db_oct", NULL, DN_PARAM_DOUBLE, A(tilt_db_oct), 0, 12, NULL, "DB",
     "largest tilt, dB per octave either way", 0},
    {"aug_reverb_prob", "--aug-reverb", DN_PARAM_DOUBLE, A(reverb_prob), -1, 1, NULL, "P",
     "chance of a room, RT60 0.15..0.8 s; -1: preset's", 0},
    {"rt60_min_s", NULL, DN_PARAM_DOUBLE, A(rt60_min_s), 0.05, 1, NULL, "S", "shortest room RT60", 0},
    {"rt60_max_s", NULL, DN_PARAM_DOUBLE, A(rt60_max_s), 0.05, 1, NULL, "S",
     "longest room RT60, not below rt60_min_s", 0},
    {"aug_clip_prob", "--aug-clip", DN_PARAM_DOUBLE, A(clip_prob), -1, 1, NULL, "P",
     "chance of clipping the mix 1..6 dB; -1: preset's", 0},
    {"clip_min_db", NULL, DN_PARAM_DOUBLE, A(clip_min_db), 0, 20, NULL, "DB",
     "least clipping, dB below the mix's peak", 0},
    {"clip_max_db", NULL, DN_PARAM_DOUBLE, A(clip_max_db), 0, 20, NULL, "DB",
     "most clipping, not below clip_min_db", 0},
    {"seed", "--seed", DN_PARAM_U64, T(seed), 0, 9007199254740992.0, NULL, "S", "seed", DN_PARAM_EVAL_TOO},
    {"noise", NULL, DN_PARAM_NOISE, D(noise_kinds), 0, 0, NULL, "LIST", "noise kinds", DN_PARAM_EVAL_TOO},
};
#define NROWS (sizeof table / sizeof table[0])

const dn_train_param *dn_train_params_table(size_t *n)
{
	*n = NROWS;
	return table;
}

static const dn_train_param *find_of(const dn_train_param *rows, size_t nrows, const char *name)
{
	for (size_t i = 0; i < nrows; i++)
		if (strcmp(rows[i].name, name) == 0 || (rows[i].flag && strcmp(rows[i].flag, name) == 0))
			return &rows[i];
	return NULL;
}

const dn_train_param *dn_train_param_find(const char *name)
{
	return find_of(table, NROWS, name);
}

dn_train_config dn_train_config_default(void)
{
	dn_train_config c = {.train = dn_train_default_params(),
	                     .info = dn_model_default_info(DN_MODEL_AUDIO),
	                     .data = dn_dataset_default_params()};

	c.data.seed = c.train.seed;
	return c;
}

/* The speech and the frame table share their rows' type; every function
 * below works on a row and the base of its config struct. */
static void *field(const dn_train_param *p, const void *base)
{
	return (char *)base + p->offset;
}

static double get_at(const dn_train_param *p, const void *base)
{
	void *f = field(p, base);

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

static int set_at(const dn_train_param *p, void *base, double v, dn_error *err)
{
	void *f = field(p, base);

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

static int parse_at(const dn_train_param *p, void *c, const char *text, dn_error *err)
{
	char *end;
	double v;

	if (p->type == DN_PARAM_NOISE) {
		unsigned mask;
		int rc = dn_noise_kinds_parse(text, &mask, err);

		return rc ? rc : set_at(p, c, mask, err);
	}
	if (p->type == DN_PARAM_ENUM) {
		char list[128] = "";

		for (int i = 0; p->choices[i]; i++)
			if (strcmp(text, p->choices[i]) == 0)
				return set_at(p, c, i, err);
		for (int i = 0; p->choices[i]; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
			         p->choices[i]);
		return dn_error_set(err, DN_EINVAL, "%s: '%s' is not one of %s", p->name, text, list);
	}
	v = strtod(text, &end);
	if (end == text || *end || !isfinite(v))
		return dn_error_set(err, DN_EINVAL, "%s: '%s' is not a number", p->name, text);
	return set_at(p, c, v, err);
}

/* Checks the rows whose value lies below offset end (SIZE_MAX: all). */
static int check_rows_of(const dn_train_param *rows, size_t nrows, const void *c, size_t end, dn_error *err)
{
	for (size_t i = 0; i < nrows; i++) {
		const dn_train_param *p = &rows[i];
		double v;

		if (p->offset >= end)
			continue;
		v = get_at(p, c);
		if (!in_range(p, v))
			return out_of_range(p, v, err);
	}
	return DN_OK;
}

int dn_train_config_check(const dn_train_config *c, dn_error *err)
{
	int rc = check_rows_of(table, NROWS, c, SIZE_MAX, err);

	if (!rc && c->data.snr_min_db > c->data.snr_max_db)
		rc = dn_error_set(err, DN_EINVAL, "snr_max_db: must not be below snr_min_db");
	if (!rc)
		rc = dn_augment_check(&c->data.augment, err);
	return rc;
}

int dn_train_params_check(const dn_train_params *p, dn_error *err)
{
	dn_train_config c = dn_train_config_default();

	c.train = *p;
	/* train is the first member: its rows are those below its end. */
	return check_rows_of(table, NROWS, &c, offsetof(dn_train_config, train) + sizeof c.train, err);
}

static void help_of(const dn_train_param *rows, size_t nrows, const void *d, char *buf, size_t cap)
{
	size_t len = 0;

	if (cap)
		buf[0] = '\0';
	for (size_t i = 0; i < nrows && len < cap; i++) {
		const dn_train_param *p = &rows[i];
		char opt[96], def[160];
		double v = get_at(p, d);
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

double dn_train_param_get(const dn_train_param *p, const dn_train_config *c)
{
	return get_at(p, c);
}

int dn_train_param_set(const dn_train_param *p, dn_train_config *c, double v, dn_error *err)
{
	return set_at(p, c, v, err);
}

int dn_train_param_parse(const dn_train_param *p, dn_train_config *c, const char *text, dn_error *err)
{
	return parse_at(p, c, text, err);
}

void dn_train_params_help(char *buf, size_t cap)
{
	dn_train_config d = dn_train_config_default();

	help_of(table, NROWS, &d, buf, cap);
}

/* ---- frame training (`denoise train-frame`, "train-frame" jobs) ---- */

#define F(f)  offsetof(dn_frame_config, train.f)
#define FI(f) offsetof(dn_frame_config, info.f)
#define FC(f) offsetof(dn_frame_config, f)

/* lr stays below 1: dn_frame_train refuses 1 itself. */
static const dn_train_param frame_table[] = {
    {"epochs", "--epochs", DN_PARAM_INT, F(epochs), 1, DN_TRAIN_MAX_EPOCHS, NULL, "N", "epochs at most", 0},
    {"steps_per_epoch", "--steps", DN_PARAM_INT, F(steps_per_epoch), 1, 1e7, NULL, "N", "steps per epoch", 0},
    {"batch", "--batch", DN_PARAM_INT, F(batch), 1, 1024, NULL, "N", "patches per step", 0},
    {"patch", "--patch", DN_PARAM_INT, F(patch), 8, 1024, NULL, "N",
     "patch side in pixels, a multiple of 2^depth", 0},
    {"lr", "--lr", DN_PARAM_FLOAT, F(lr), 1e-7, 0.5, NULL, "X", "Adam's learning rate", 0},
    {"lr_factor", "--lr-factor", DN_PARAM_FLOAT, F(lr_factor), 0.01, 1, NULL, "X", "ReduceLROnPlateau factor",
     0},
    {"lr_patience", "--lr-patience", DN_PARAM_INT, F(lr_patience), 1, 1000, NULL, "N",
     "epochs before reducing the rate", 0},
    {"early_stop", "--early-stop", DN_PARAM_INT, F(early_stop), 1, 1000, NULL, "N",
     "epochs without improvement before stopping", 0},
    {"filters", "--filters", DN_PARAM_INT, FI(arch.base_filters), 1, DN_UNET_MAX_FILTERS, NULL, "N",
     "base filters of the U-Net", 0},
    {"depth", "--depth", DN_PARAM_INT, FI(arch.depth), 1, DN_UNET_MAX_DEPTH, NULL, "N", "U-Net depth", 0},
    {"sigma_min", "--sigma-min", DN_PARAM_FLOAT, FC(sigma_min), 0, 255, NULL, "S",
     "lowest noise sigma drawn per patch (0..255 scale)", 0},
    {"sigma_max", "--sigma-max", DN_PARAM_FLOAT, FC(sigma_max), 0, 255, NULL, "S",
     "highest noise sigma drawn per patch, not below sigma_min", 0},
    {"clip_noise", "--clip-noise", DN_PARAM_INT, F(clip), 0, 1, NULL, "0|1",
     "1: noisy pixels clipped to 0..255, as 8-bit frames are", 0},
    {"poisson_max", "--poisson-max", DN_PARAM_FLOAT, F(poisson_max), 0, 1, NULL, "A",
     "Poisson-Gaussian noise: variance sigma^2 + a x (x the clean value, 0..1), a ~ U[0, A] per patch "
     "(0: Gaussian only)",
     0},
    {"jpeg_prob", "--jpeg-prob", DN_PARAM_FLOAT, F(jpeg_prob), 0, 1, NULL, "P",
     "share of patches whose noisy input is stored as an 8-bit 4:2:0 JPEG first", 0},
    {"jpeg_quality_min", "--jpeg-quality-min", DN_PARAM_INT, F(jpeg_quality_min), 10, 95, NULL, "Q",
     "lowest quality of those JPEGs (drawn up to 95)", 0},
    {"max_minutes", "--minutes", DN_PARAM_DOUBLE, FC(minutes), 0, 1e6, NULL, "M",
     "stop after the epoch that crosses it (0: no limit)", 0},
    {"seed", "--seed", DN_PARAM_U64, F(seed), 0, 9007199254740992.0, NULL, "S", "seed", 0},
};
#define NFRAME (sizeof frame_table / sizeof frame_table[0])

const dn_train_param *dn_frame_params_table(size_t *n)
{
	*n = NFRAME;
	return frame_table;
}

const dn_train_param *dn_frame_param_find(const char *name)
{
	return find_of(frame_table, NFRAME, name);
}

dn_frame_config dn_frame_config_default(void)
{
	dn_frame_config c = {.train = dn_frame_train_default_params(),
	                     .info = dn_model_default_info(DN_MODEL_FRAME)};

	/* The network `denoise train-frame` has always made by default. */
	c.info.arch.base_filters = 16;
	c.info.arch.depth = 3;
	c.sigma_min = c.train.sigma_min * 255.0f;
	c.sigma_max = roundf(c.train.sigma_max * 255.0f);
	c.minutes = 0.0;
	return c;
}

double dn_frame_param_get(const dn_train_param *p, const dn_frame_config *c)
{
	return get_at(p, c);
}

int dn_frame_param_set(const dn_train_param *p, dn_frame_config *c, double v, dn_error *err)
{
	return set_at(p, c, v, err);
}

int dn_frame_param_parse(const dn_train_param *p, dn_frame_config *c, const char *text, dn_error *err)
{
	return parse_at(p, c, text, err);
}

int dn_frame_config_check(const dn_frame_config *c, dn_error *err)
{
	int rc = check_rows_of(frame_table, NFRAME, c, SIZE_MAX, err);
	int align = 1 << c->info.arch.depth;

	if (rc)
		return rc;
	if (c->sigma_min > c->sigma_max)
		return dn_error_set(err, DN_EINVAL, "sigma_max: must not be below sigma_min");
	if (c->train.patch % align)
		return dn_error_set(err, DN_EINVAL, "patch: %d is not a multiple of 2^depth = %d (depth %d)",
		                    c->train.patch, align, c->info.arch.depth);
	return DN_OK;
}

dn_frame_train_params dn_frame_config_params(const dn_frame_config *c)
{
	dn_frame_train_params p = c->train;

	p.sigma_min = c->sigma_min / 255.0f;
	p.sigma_max = c->sigma_max / 255.0f;
	p.max_seconds = c->minutes * 60.0;
	return p;
}

void dn_frame_params_help(char *buf, size_t cap)
{
	dn_frame_config d = dn_frame_config_default();

	help_of(frame_table, NFRAME, &d, buf, cap);
}
