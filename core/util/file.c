/*
 * file.c — reading and atomically replacing whole files (see file.h).
 *
 * One copy of what the audio and image codecs need around their bytes:
 * reading a file before decoding, replacing one after encoding.
 */
#include "core/util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Writes all of buf to fd, retrying short writes and EINTR. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int dn_file_write(const char *path, const void *bytes, size_t len, dn_error *err)
{
	if (!path || !*path)
		return dn_error_set(err, DN_EINVAL, "no output path");
	if (!bytes && len)
		return dn_error_set(err, DN_EINVAL, "dn_file_write: no bytes");
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	if (!tmp)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	/* The temporary file sits beside the target so rename() stays atomic. */
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	int rc = DN_OK;
	int fd = mkstemp(tmp);
	if (fd < 0) {
		rc = dn_error_set(err, DN_EIO, "cannot create a file beside '%s': %s", path, strerror(errno));
		free(tmp);
		return rc;
	}
	if (fchmod(fd, 0644) != 0 || write_all(fd, bytes, len) != 0 || fsync(fd) != 0) {
		rc = dn_error_set(err, DN_EIO, "cannot write '%s': %s", tmp, strerror(errno));
		close(fd);
	} else if (close(fd) != 0) {
		rc = dn_error_set(err, DN_EIO, "cannot write '%s': %s", tmp, strerror(errno));
	} else if (rename(tmp, path) != 0) {
		rc = dn_error_set(err, DN_EIO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
	}
	if (rc != DN_OK) {
		unlink(tmp);
	} else {
		/* Make the rename itself durable. */
		char *slash = strrchr(tmp, '/');
		if (slash)
			slash[slash == tmp ? 1 : 0] = '\0';
		int dfd = open(slash ? tmp : ".", O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	free(tmp);
	return rc;
}
