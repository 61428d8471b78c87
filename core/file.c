/*
 * file.c — reading a whole file into memory (see file.h).
 *
 * One copy of what dn_audio_read_file and dn_image_read_file both need
 * before they hand the bytes to their decoders.
 */
#include "core/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int dn_file_read(const char *path, unsigned char **bytes, size_t *len, dn_error *err)
{
	if (!path || !bytes || !len)
		return dn_error_set(err, DN_EINVAL, "dn_file_read: no path or output");
	*bytes = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return dn_error_set(err, errno == ENOENT ? DN_ENOTFOUND : DN_EIO, "cannot open '%s': %s",
		                    path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return dn_error_set(err, DN_EIO, "'%s' is not a regular file", path);
	}
	size_t size = (size_t)st.st_size;
	unsigned char *buf = malloc(size ? size : 1);
	if (!buf) {
		fclose(f);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate %zu bytes to read '%s'", size, path);
	}
	size_t got = fread(buf, 1, size, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || got != size) {
		free(buf);
		return dn_error_set(err, DN_EIO, "cannot read '%s'", path);
	}
	*bytes = buf;
	*len = size;
	return DN_OK;
}
