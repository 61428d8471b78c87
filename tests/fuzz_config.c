/*
 * fuzz_config.c — libFuzzer target for the daemon's configuration-file
 * parser (daemon/config.h: daemon_config_load), given the bytes as a file
 * (a memfd, so the parser reads it exactly as it reads /etc/denoised).
 *
 * A file that loads must print (daemon_config_print, what --print-config
 * uses for a running configuration) to text that loads again to the same
 * configuration, printed the same; one that fails must say where (its
 * message starts with the file's name). Nothing may leak either way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as a file; its path in path. -1 on failure. */
static int as_file(const void *data, size_t size, char *path, size_t cap)
{
	int fd = memfd_create("fuzz.conf", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

/* c printed, malloc'd. */
static char *printed(const daemon_config *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		abort();
	daemon_config_print(f, c);
	fclose(f);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	daemon_config c, again;
	dn_error err;
	char path[64], path2[64];
	int fd = as_file(data, size, path, sizeof path), fd2;
	char *t1, *t2;
	size_t l1, l2;

	if (fd < 0)
		abort();
	daemon_config_defaults(&c);
	if (daemon_config_load(&c, path, &err) == DN_OK) {
		t1 = printed(&c, &l1);
		fd2 = as_file(t1, l1, path2, sizeof path2);
		if (fd2 < 0)
			abort();
		daemon_config_defaults(&again);
		if (daemon_config_load(&again, path2, &err) != DN_OK) {
			fprintf(stderr, "printed configuration does not load: %s\n%s", err.msg, t1);
			abort();
		}
		t2 = printed(&again, &l2);
		if (l1 != l2 || memcmp(t1, t2, l1) != 0) {
			fprintf(stderr, "printed twice differently:\n%s---\n%s", t1, t2);
			abort();
		}
		free(t1);
		free(t2);
		daemon_config_free(&again);
		close(fd2);
	} else if (strncmp(err.msg, path, strlen(path)) != 0) {
		fprintf(stderr, "an error that does not say where: %s\n", err.msg);
		abort();
	}
	daemon_config_free(&c);
	close(fd);
	return 0;
}
