/*
 * data_opts.c — shared dataset options and dataset adapters (data_opts.h).
 */
#include "tools/data_opts.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/noise.h"

static const char *value(int argc, char **argv, int *i, const char *cmd)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "denoise %s: %s needs a value\n", cmd, argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

int data_opts_parse(int argc, char **argv, int *i, dn_dataset_params *p, const char *cmd)
{
	const char *o = argv[*i], *v;
	dn_error err;
	if (!strcmp(o, "--data")) {
		if (!(v = value(argc, argv, i, cmd)))
			return -1;
		p->path = v;
	} else if (!strcmp(o, "--dataset")) {
		if (!(v = value(argc, argv, i, cmd)))
			return -1;
		if ((p->kind = dn_dataset_kind_parse(v)) < 0) {
			fprintf(stderr, "denoise %s: --dataset '%s': expected corpus, folder or valentini\n",
			        cmd, v);
			return -1;
		}
	} else if (!strcmp(o, "--snr")) {
		if (!(v = value(argc, argv, i, cmd)))
			return -1;
		char *end;
		p->snr_min_db = strtod(v, &end);
		if (*end == ':')
			p->snr_max_db = strtod(end + 1, &end);
		else
			p->snr_max_db = p->snr_min_db;
		if (*end || !(p->snr_min_db <= p->snr_max_db)) {
			fprintf(stderr, "denoise %s: --snr '%s': expected MIN:MAX in dB with MIN <= MAX\n",
			        cmd, v);
			return -1;
		}
	} else if (!strcmp(o, "--noise")) {
		if (!(v = value(argc, argv, i, cmd)))
			return -1;
		if (dn_noise_kinds_parse(v, &p->noise_kinds, &err)) {
			fprintf(stderr, "denoise %s: --noise: %s\n", cmd, err.msg);
			return -1;
		}
	} else if (!strcmp(o, "--noise-dir")) {
		if (!(v = value(argc, argv, i, cmd)))
			return -1;
		p->noise_dir = v;
	} else if (!strcmp(o, "--crop")) {
		if (!(v = value(argc, argv, i, cmd)))
			return -1;
		char *end;
		p->crop_seconds = strtod(v, &end);
		if (*end || !(p->crop_seconds > 0.0)) {
			fprintf(stderr, "denoise %s: --crop '%s': expected a positive number of seconds\n",
			        cmd, v);
			return -1;
		}
	} else {
		return 0;
	}
	return 1;
}

static int has_clean_wav_dirs(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int found = 0;
	while (d && !found && (e = readdir(d)))
		found = !strncmp(e->d_name, "clean_", 6) && strstr(e->d_name, "_wav") != NULL;
	if (d)
		closedir(d);
	return found;
}

void data_opts_guess_kind(dn_dataset_params *p, int kind_given)
{
	if (kind_given || !p->path)
		return;
	char manifest[4096];
	struct stat st;
	snprintf(manifest, sizeof manifest, "%s/manifest.tsv", p->path);
	if (stat(manifest, &st) == 0)
		p->kind = DN_DATASET_CORPUS;
	else if (has_clean_wav_dirs(p->path))
		p->kind = DN_DATASET_VALENTINI;
	else
		p->kind = DN_DATASET_FOLDER;
}

static size_t ds_count(void *ctx)
{
	return dn_dataset_count(ctx);
}

static int ds_pair(void *ctx, size_t i, uint64_t epoch, float **clean, float **noisy, size_t *n,
                   dn_error *err)
{
	dn_dataset_item it;
	int rc = dn_dataset_load(ctx, i, epoch, &it, err);
	if (rc)
		return rc;
	*clean = it.clean;
	*noisy = it.noisy;
	*n = it.n;
	return DN_OK;
}

/* The clean signal alone: the item's reference undone of the mix's gain. */
static int ds_clean(void *ctx, size_t i, float **clean, size_t *n, dn_error *err)
{
	dn_dataset_item it;
	int rc = dn_dataset_load(ctx, i, 0, &it, err);
	if (rc)
		return rc;
	if (it.gain > 0.0f && it.gain != 1.0f)
		for (size_t k = 0; k < it.n; k++)
			it.clean[k] /= it.gain;
	*clean = it.clean;
	*n = it.n;
	it.clean = NULL;
	dn_dataset_item_free(&it);
	return DN_OK;
}

static const char *ds_name(void *ctx, size_t i)
{
	const char *p = dn_dataset_entry_at(ctx, i)->clean, *slash = strrchr(p, '/');
	return slash ? slash + 1 : p;
}

dn_pair_source data_pair_source(dn_dataset *d)
{
	return (dn_pair_source){.ctx = d, .count = ds_count, .load = ds_pair};
}

dn_clean_source data_clean_source(dn_dataset *d)
{
	return (dn_clean_source){.ctx = d, .count = ds_count, .load = ds_clean, .name = ds_name};
}
