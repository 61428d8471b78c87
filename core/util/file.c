/*
 * file.c — reading and atomically replacing whole files (see file.h).
 *
 * The one copy of both: the audio and image codecs read a file before
 * decoding and replace one after encoding, model files (safetensors.c) and
 * the daemon's state directory (daemon/jobs_store.c) are replaced through
 * dn_file_write.
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

/* Writes all of buf to fd, retrying short writes and EINTR, in pieces of at
 * most 1 GiB (what one write() is sure to take). */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len > (1u << 30) ? (1u << 30) : len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A full disk (or quota) is its own code: the daemon answers it 507, and
 * the fix is the operator's (free space), not the client's. */
static int write_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? DN_ENOSPACE : DN_EIO;
}

int dn_file_write(const char *path, const void *bytes, size_t len, dn_error *err)
{
	if (!path || !*path)
		return dn_error_set(err, DN_EINVAL, "no output path");
	if (!bytes && len)
		return dn_error_set(err, DN_EINVAL, "dn_file_write: no bytes");
	/* The temporary is a hidden name in the target's folder: rename() stays
	 * atomic (same file system) and a scan of the folder for *.safetensors
	 * or *.json never sees a half-written file. */
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	const char *base = slash ? slash + 1 : path;
	char *tmp = malloc(strlen(path) + 10), *dir = malloc(dlen + 2);
	if (!tmp || !dir) {
		free(tmp);
		free(dir);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	if (!slash)
		strcpy(dir, ".");
	else if (dlen == 0)
		strcpy(dir, "/");
	else
		snprintf(dir, dlen + 1, "%s", path);
	sprintf(tmp, "%.*s%s.%s.XXXXXX", (int)dlen, path, slash ? "/" : "", base);
	int rc = DN_OK;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = dn_error_set(err, write_code(errno), "cannot create a temporary file beside '%s': %s",
		                  path, strerror(errno));
		goto done;
	}
	/* mkstemp makes the file 0600: give it the mode of the file it replaces,
	 * or 0644 for a new one. */
	struct stat st;
	mode_t mode = 0644;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		mode = st.st_mode & 07777;
	if (fchmod(fd, mode) != 0 || write_all(fd, bytes, len) != 0 || fsync(fd) != 0) {
		rc = dn_error_set(err, write_code(errno), "cannot write '%s': %s", path, strerror(errno));
		close(fd);
	} else if (close(fd) != 0) {
		rc = dn_error_set(err, write_code(errno), "cannot write '%s': %s", path, strerror(errno));
	} else if (rename(tmp, path) != 0) {
		rc = dn_error_set(err, DN_EIO, "cannot rename the temporary file to '%s': %s", path,
		                  strerror(errno));
	}
	if (rc != DN_OK) {
		unlink(tmp);
		goto done;
	}
	/* The rename is durable once the folder is synced. A folder that cannot
	 * be opened for reading is left as it is (the file is in place). */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0)
			rc = dn_error_set(err, DN_EIO,
			                  "'%s' was written but its folder could not be synced: %s", path,
			                  strerror(errno));
		close(dfd);
	}
done:
	free(tmp);
	free(dir);
	return rc;
}
