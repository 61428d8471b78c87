/*
 * tools_common.c — helpers the subcommands share (tools.h).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/model/model.h"
#include "core/util/paths.h"
#include "tools/tools.h"

char *tools_default_model_path(int kind, char *tried, size_t tried_size)
{
	return tools_find_model_file(kind == DN_MODEL_FRAME ? "frame.safetensors" : "speech.safetensors", tried,
	                             tried_size);
}

char *tools_find_model_file(const char *file, char *tried, size_t tried_size)
{
	const char *env = getenv("DENOISE_MODEL_DIR");
	char dirs[2][4096];
	int n = 0;
	if (env && *env)
		snprintf(dirs[n++], sizeof dirs[0], "%s", env);
	snprintf(dirs[n++], sizeof dirs[0], "%s/models", dn_data_dir());
	size_t used = 0;
	if (tried_size)
		tried[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t len = strlen(dirs[i]) + strlen(file) + 2;
		char *path = malloc(len);
		if (!path)
			return NULL;
		snprintf(path, len, "%s/%s", dirs[i], file);
		if (access(path, R_OK) == 0)
			return path;
		if (used < tried_size) {
			int w = snprintf(tried + used, tried_size - used, "%s%s", used ? ", " : "", path);
			used += w > 0 ? (size_t)w : 0;
		}
		free(path);
	}
	return NULL;
}

int tools_load_model(const char *cmd, int kind, const char **path, char **found, dn_model **out)
{
	char tried[2048];
	dn_error err = {0};

	*found = NULL;
	*out = NULL;
	if (!*path) {
		if (!(*found = tools_default_model_path(kind, tried, sizeof tried))) {
			fprintf(
			    stderr,
			    "denoise %s: no model given and none found (looked for %s); pass --model FILE, "
			    "or make one with `denoise model-init %sFILE`\n",
			    cmd, tried, kind == DN_MODEL_FRAME ? "--kind frame " : "");
			return TOOLS_FAIL;
		}
		*path = *found;
	}
	if (dn_model_load(*path, out, &err) != DN_OK) {
		fprintf(stderr, "denoise %s: model %s: %s\n", cmd, *path, err.msg);
		return TOOLS_FAIL;
	}
	return TOOLS_OK;
}

void tools_set_provenance(dn_model *m, int argc, char **argv, const char *data)
{
	char cmdline[2048] = "denoise", host[256] = "", when[64], buf[512];

	for (int i = 0; i < argc; i++) {
		size_t l = strlen(cmdline);
		snprintf(cmdline + l, sizeof cmdline - l, " %s", argv[i]);
	}
	gethostname(host, sizeof host - 1);
	time_t now = time(NULL);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	/* A model given to --init brings its own run's record: its command is
	 * kept as the stage before this one, its outcome (time, epochs, best
	 * figures, curves) is dropped so that a best model saved mid-run never
	 * carries the earlier run's figures as its own. */
	const char *prev = dn_model_metadata(m, "train.command");
	if (prev)
		dn_model_set_metadata(m, "train.init_command", prev, NULL);
	static const char *const outcome[] = {"train.seconds",       "train.epochs",
	                                      "train.best_val_loss", "train.best_epoch",
	                                      "train.device",        "train.best_val_psnr_sigma25",
	                                      "train.loss",          "train.val_loss",
	                                      "train.lrs",           "train.noisy_val_psnr_sigma25",
	                                      "train.gpu_wait_share"};
	for (size_t i = 0; i < sizeof outcome / sizeof outcome[0]; i++)
		dn_model_set_metadata(m, outcome[i], NULL, NULL);
	dn_model_set_metadata(m, "train.data", data, NULL);
	dn_model_set_metadata(m, "train.command", cmdline, NULL);
	dn_model_set_metadata(m, "train.started", when, NULL);
	snprintf(buf, sizeof buf, "%s, %ld CPUs, %d BLAS threads", host, sysconf(_SC_NPROCESSORS_ONLN),
	         openblas_get_num_threads());
	dn_model_set_metadata(m, "train.machine", buf, NULL);
}

int tools_parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}
