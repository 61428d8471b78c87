/*
 * file.h — reading a whole file into memory and replacing a file at once,
 * for the codecs that work on bytes (dn_audio_read_file / _write_file,
 * dn_image_read_file / _write_file), for model files and for the daemon's
 * state directory: the one implementation of atomic replacement.
 *
 * Internal to libdenoise and its programs. A file read must be a regular file: its size comes from
 * fstat, so a pipe or a device is refused rather than read without end. A
 * file written goes to a temporary file beside it first and is renamed over
 * it, so a reader never sees half of it and a crash leaves the old one.
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

/* Writes bytes[0..len) to path atomically and durably: a hidden temporary
 * file beside it (.NAME.XXXXXX), fsync'd and renamed over it, then the
 * folder fsync'd. The file keeps the mode of the one it replaces (0644 when
 * new). DN_EINVAL (no path), DN_ENOMEM, DN_ENOSPACE (no space left: ENOSPC
 * or EDQUOT), DN_EIO (any other failure); on either the temporary file is
 * removed and messages name path. bytes stays the caller's. */
int dn_file_write(const char *path, const void *bytes, size_t len, dn_error *err);

#endif
