/*
 * tools_common.c — helpers the subcommands share (tools.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model.h"
#include "tools/tools.h"

#ifndef DN_DATADIR
#define DN_DATADIR "/usr/local/share/denoised"
#endif
#ifndef DN_SRCDIR
#define DN_SRCDIR "."
#endif

char *tools_default_model_path(int kind, char *tried, size_t tried_size)
{
	const char *file = kind == DN_MODEL_FRAME ? "frame.safetensors" : "speech.safetensors";
	const char *env = getenv("DENOISE_MODEL_DIR");
	char dirs[3][4096];
	int n = 0;
	if (env && *env)
		snprintf(dirs[n++], sizeof dirs[0], "%s", env);
	snprintf(dirs[n++], sizeof dirs[0], "%s/models", DN_DATADIR);
	snprintf(dirs[n++], sizeof dirs[0], "%s/models", DN_SRCDIR);
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
