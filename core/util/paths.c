/*
 * paths.c — the data directory (paths.h).
 */
#include "core/util/paths.h"

#include <stdlib.h>

#ifndef DN_DATADIR
#define DN_DATADIR "/usr/local/share/denoised"
#endif

const char *dn_data_dir(void)
{
	const char *env = getenv("DENOISE_DATADIR");
	return env && *env ? env : DN_DATADIR;
}
