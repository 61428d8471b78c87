/*
 * data_io.h — reading sound files for the data modules (noise recordings,
 * data sets) as one mono float channel at a fixed rate.
 *
 * Internal to core's data side. It reads with libsndfile and resamples with
 * libsoxr (one-shot, high quality) so that data sets such as Valentini's,
 * which are 48 kHz, can be used as they are.
 */
#ifndef DN_DATA_IO_H
#define DN_DATA_IO_H

#include <stddef.h>

#include "core/dn.h"

/* Reads path, averages its channels, resamples to rate. *out is malloc'd
 * (free()); *n its length. DN_EIO (cannot open or read), DN_EFORMAT (no
 * frames, no channels), DN_ELIMIT (longer than max_seconds, checked from the
 * header before reading), DN_ENOMEM. Messages name the path. */
int dn_data_read_mono(const char *path, int rate, double max_seconds, float **out, size_t *n, dn_error *err);

/* Writes n mono samples at rate as 16-bit PCM WAV (clipped to full scale);
 * for tests and tools. DN_EIO. */
int dn_data_write_wav16(const char *path, const float *x, size_t n, int rate, dn_error *err);

#endif
