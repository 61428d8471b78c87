/*
 * test_file.c — dn_file_read: a file's bytes come back whole, an empty file
 * gives a buffer of size 0, and a missing file, a directory or missing
 * arguments give their error codes with *bytes left NULL. dn_file_write:
 * creates and replaces a file (mode 0644), and where it cannot write leaves
 * neither the target nor a temporary file behind.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/file.h"
#include "tests/check.h"

static char tmp[] = "/tmp/dn_test_file_XXXXXX";

static int write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int main(void)
{
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	char full[512], empty[512], missing[512];
	snprintf(full, sizeof full, "%s/full", tmp);
	snprintf(empty, sizeof empty, "%s/empty", tmp);
	snprintf(missing, sizeof missing, "%s/missing", tmp);

	/* Bytes, including NULs, come back as written. */
	unsigned char data[1000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 7);
	CHECK(write_bytes(full, data, sizeof data) == 0);
	unsigned char *bytes = NULL;
	size_t len = 0;
	dn_error err = {0};
	CHECK_RC(dn_file_read(full, &bytes, &len, &err), DN_OK);
	CHECK(bytes && len == sizeof data && memcmp(bytes, data, len) == 0);
	free(bytes);

	/* An empty file: DN_OK, a buffer to free, length 0. */
	CHECK(write_bytes(empty, "", 0) == 0);
	CHECK_RC(dn_file_read(empty, &bytes, &len, &err), DN_OK);
	CHECK(bytes != NULL && len == 0);
	free(bytes);

	/* Errors leave no buffer and name the path. */
	bytes = (unsigned char *)data;
	len = 1;
	CHECK_RC(dn_file_read(missing, &bytes, &len, &err), DN_ENOTFOUND);
	CHECK(bytes == NULL && len == 0);
	CHECK(strstr(err.msg, missing) != NULL);
	CHECK_RC(dn_file_read(tmp, &bytes, &len, &err), DN_EIO);
	CHECK(bytes == NULL && len == 0);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	CHECK_RC(dn_file_read(NULL, &bytes, &len, &err), DN_EINVAL);
	CHECK_RC(dn_file_read(full, NULL, &len, NULL), DN_EINVAL);

	/* Writing: a new file, then one replaced by shorter contents. */
	char written[512], nodir[600];
	snprintf(written, sizeof written, "%s/written", tmp);
	snprintf(nodir, sizeof nodir, "%s/no/such/dir", tmp);
	CHECK_RC(dn_file_write(written, data, sizeof data, &err), DN_OK);
	CHECK_RC(dn_file_read(written, &bytes, &len, &err), DN_OK);
	CHECK(bytes && len == sizeof data && memcmp(bytes, data, len) == 0);
	free(bytes);
	CHECK_RC(dn_file_write(written, "abc", 3, &err), DN_OK);
	CHECK_RC(dn_file_read(written, &bytes, &len, &err), DN_OK);
	CHECK(bytes && len == 3 && memcmp(bytes, "abc", 3) == 0);
	free(bytes);
	struct stat st;
	CHECK(stat(written, &st) == 0 && (st.st_mode & 0777) == 0644);
	CHECK_RC(dn_file_write(nodir, "abc", 3, &err), DN_EIO);
	CHECK(strstr(err.msg, nodir) != NULL);
	CHECK_RC(dn_file_write("", "abc", 3, &err), DN_EINVAL);
	CHECK_RC(dn_file_write(NULL, "abc", 3, NULL), DN_EINVAL);

	/* Nothing but the three files is left: no temporary file survived. */
	int entries = 0;
	DIR *d = opendir(tmp);
	for (struct dirent *e; d && (e = readdir(d));)
		entries += e->d_name[0] != '.';
	if (d)
		closedir(d);
	CHECK(entries == 3);

	unlink(full);
	unlink(empty);
	unlink(written);
	rmdir(tmp);
	return check_status();
}
