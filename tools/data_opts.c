/*
 * data_opts.c — the dataset options `denoise train` and `denoise eval` share
 * (data_opts.h); the adapters and layout guessing live in core/train/dataset.c.
 */
#include "tools/data_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/noise.h"

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
	} else if (!strcmp(o, "--cache-mb")) {
		if (!(v = value(argc, argv, i, cmd)))
			return -1;
		char *end;
		double mb = strtod(v, &end);
		if (*end || !(mb >= 0.0 && mb <= 1048576.0)) {
			fprintf(stderr, "denoise %s: --cache-mb '%s': expected MiB from 0 to 1048576\n", cmd, v);
			return -1;
		}
		p->cache_bytes = (size_t)(mb * 1048576.0);
	} else {
		return 0;
	}
	return 1;
}

void data_opts_guess_kind(dn_dataset_params *p, int kind_given)
{
	if (kind_given || !p->path)
		return;
	p->kind = dn_dataset_kind_guess(p->path);
}
