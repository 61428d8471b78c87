/*
 * file.h — reading a whole file into memory, for the decoders that take
 * bytes (dn_audio_read_file, dn_image_read_file).
 *
 * Internal to core. The file must be a regular file: its size comes from
 * fstat, so a pipe or a device is refused rather than read without end.
 */
#ifndef DN_FILE_H
#define DN_FILE_H

#include <stddef.h>

#include "core/dn.h"

/* Reads all of path into *bytes (malloc'd, the caller frees; never NULL on
 * success, even for an empty file) and its size into *len. DN_ENOTFOUND (no
 * such file), DN_EIO (cannot open or read, not a regular file), DN_ENOMEM.
 * Messages name the path. On error *bytes is NULL and *len 0. */
int dn_file_read(const char *path, unsigned char **bytes, size_t *len, dn_error *err);

#endif
