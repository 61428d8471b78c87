/*
 * paths.h — where the installed data lives: the shipped models, the built-in
 * speech corpus and the web page, under one data directory.
 *
 * The directory is $(pkgdatadir) of the build (e.g. /usr/local/share/denoised),
 * or $DENOISE_DATADIR when set and not empty: that is how the test suite and a
 * developer run the programs from a build tree against the source tree's
 * models/ without installing. No compiled-in path points into the build tree.
 */
#ifndef DN_PATHS_H
#define DN_PATHS_H

/* The data directory (a static string or the environment's; never NULL). */
const char *dn_data_dir(void);

#endif
