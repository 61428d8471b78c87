/*
 * test_config.c — the daemon's table of configuration keys: defaults, the
 * parser of each type and its bounds, the file format and its errors, flags
 * over the file, the cross-key check (workers x BLAS threads <= cores) and
 * that the printed default configuration parses back to the defaults.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "tests/check.h"

static char tmpdir[] = "/tmp/dn_test_config_XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void)
{
	daemon_config c;

	daemon_config_defaults(&c);
	CHECK(strcmp(c.listen, "127.0.0.1") == 0);
	CHECK(c.port == 8080);
	CHECK(c.blas_threads == 1);
	CHECK(c.workers == 0);
	CHECK(c.max_body_bytes == 64ull * 1024 * 1024);
	CHECK(c.log_level == LOG_LVL_INFO);
	CHECK(c.models[0] == '\0');
	CHECK(c.max_audio_seconds == 600);
	daemon_config_free(&c);
}

static void test_set(void)
{
	daemon_config c;
	dn_error err;

	daemon_config_defaults(&c);
	CHECK_RC(daemon_config_set(&c, "port", "9000", &err), DN_OK);
	CHECK(c.port == 9000);
	CHECK_RC(daemon_config_set(&c, "port", "65536", &err), DN_EINVAL);
	CHECK_MSG(strstr(err.msg, "port") && strstr(err.msg, "range"), "%s", err.msg);
	CHECK_RC(daemon_config_set(&c, "port", "-1", &err), DN_EINVAL);
	CHECK_RC(daemon_config_set(&c, "port", "80x", &err), DN_EINVAL);
	CHECK_RC(daemon_config_set(&c, "port", "", &err), DN_EINVAL);
	CHECK(c.port == 9000); /* a refused value leaves the old one */

	CHECK_RC(daemon_config_set(&c, "max_body_bytes", "1K", &err), DN_OK);
	CHECK(c.max_body_bytes == 1024);
	CHECK_RC(daemon_config_set(&c, "max_body_bytes", "3MiB", &err), DN_OK);
	CHECK(c.max_body_bytes == 3ull << 20);
	CHECK_RC(daemon_config_set(&c, "max_body_bytes", "2G", &err), DN_OK);
	CHECK(c.max_body_bytes == 2ull << 30);
	CHECK_RC(daemon_config_set(&c, "max_body_bytes", "5000", &err), DN_OK);
	CHECK(c.max_body_bytes == 5000);
	CHECK_RC(daemon_config_set(&c, "max_body_bytes", "100", &err), DN_EINVAL); /* under 1 KiB */
	CHECK_RC(daemon_config_set(&c, "max_body_bytes", "5T", &err), DN_EINVAL);
	CHECK_RC(daemon_config_set(&c, "max_body_bytes", "-5", &err), DN_EINVAL);
	CHECK_RC(daemon_config_set(&c, "max_body_bytes", "8G", &err), DN_EINVAL);

	CHECK_RC(daemon_config_set(&c, "max_audio_seconds", "2.5", &err), DN_OK);
	CHECK(c.max_audio_seconds == 2.5);
	CHECK_RC(daemon_config_set(&c, "max_audio_seconds", "nan", &err), DN_EINVAL);
	CHECK_RC(daemon_config_set(&c, "max_audio_seconds", "0", &err), DN_EINVAL);
	CHECK_RC(daemon_config_set(&c, "max_audio_seconds", "1e9", &err), DN_EINVAL);

	CHECK_RC(daemon_config_set(&c, "log_level", "debug", &err), DN_OK);
	CHECK(c.log_level == LOG_LVL_DEBUG);
	CHECK_RC(daemon_config_set(&c, "log_level", "loud", &err), DN_EINVAL);

	CHECK_RC(daemon_config_set(&c, "listen", "::1", &err), DN_OK);
	CHECK(strcmp(c.listen, "::1") == 0);
	CHECK_RC(daemon_config_set(&c, "no_such_key", "1", &err), DN_ENOTFOUND);
	CHECK_MSG(strstr(err.msg, "no_such_key"), "%s", err.msg);
	daemon_config_free(&c);
}

static void test_file(void)
{
	daemon_config c;
	dn_error err;
	const char *p;

	daemon_config_defaults(&c);
	p = write_tmp("good.conf", "# a comment\n\n  port = 1234  \nlisten=\"0.0.0.0\"\n"
				   "cors_origins = https://a.example, https://b.example\n"
				   "api_key_file = \"\"\n   # indented comment\n");
	CHECK_RC(daemon_config_load(&c, p, &err), DN_OK);
	CHECK(c.port == 1234);
	CHECK(strcmp(c.listen, "0.0.0.0") == 0);
	CHECK(strcmp(c.cors_origins, "https://a.example, https://b.example") == 0);
	CHECK(c.api_key_file[0] == '\0');
	daemon_config_free(&c);

	static const struct {
		const char *text;
		const char *want; /* in the message */
	} bad[] = {
		{"port = 1\nbogus = 2\n", ":2: unknown key 'bogus'"},
		{"port = 1\nport = 2\n", ":2: 'port' is set twice"},
		{"just words\n", ":1: expected 'key = value'"},
		{"\n\nworkers = many\n", ":3: workers"},
		{"listen = \"open\n", ":1: unterminated quote"},
		{"listen = \"\n", ":1: unterminated quote"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		daemon_config_defaults(&c);
		p = write_tmp("bad.conf", bad[i].text);
		CHECK_RC(daemon_config_load(&c, p, &err), DN_EINVAL);
		CHECK_MSG(strstr(err.msg, bad[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
		daemon_config_free(&c);
	}
	daemon_config_defaults(&c);
	CHECK_RC(daemon_config_load(&c, "/nonexistent/denoised.conf", &err), DN_EIO);
	CHECK(strstr(err.msg, "/nonexistent/denoised.conf") != NULL);
	daemon_config_free(&c);
}

static int args(daemon_config *c, daemon_options *o, dn_error *err, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = "denoised";
	va_start(ap, err);
	for (char *a; argc < 31 && (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	return daemon_config_from_args(c, o, argc, argv, err);
}

static void test_args(void)
{
	daemon_config c;
	daemon_options o;
	dn_error err;
	const char *p = write_tmp("args.conf", "port = 1111\nworkers = 3\n");
	char path[256];

	snprintf(path, sizeof path, "%s", p);
	/* The file sets port and workers; the flag wins for port, in either
	 * order on the command line. */
	CHECK_RC(args(&c, &o, &err, "--port", "2222", "--config", path, NULL), DN_OK);
	CHECK(c.port == 2222 && c.workers == 3);
	CHECK(o.config_path && strcmp(o.config_path, path) == 0);
	daemon_config_free(&c);
	CHECK_RC(args(&c, &o, &err, "-c", path, "--port=3333", "--max-body-bytes", "2M", "--check-config", NULL),
		 DN_OK);
	CHECK(c.port == 3333 && c.max_body_bytes == 2u << 20 && o.check_config);
	daemon_config_free(&c);
	CHECK_RC(args(&c, &o, &err, "--frobnicate", "1", NULL), DN_EINVAL);
	CHECK_MSG(strstr(err.msg, "--frobnicate"), "%s", err.msg);
	daemon_config_free(&c);
	CHECK_RC(args(&c, &o, &err, "--port", NULL), DN_EINVAL);
	daemon_config_free(&c);
	CHECK_RC(args(&c, &o, &err, "--port", "x", NULL), DN_EINVAL);
	CHECK_MSG(strstr(err.msg, "--port"), "%s", err.msg);
	daemon_config_free(&c);
	CHECK_RC(args(&c, &o, &err, "--config", NULL), DN_EINVAL);
	daemon_config_free(&c);
	CHECK_RC(args(&c, &o, &err, "stray", NULL), DN_EINVAL);
	daemon_config_free(&c);
	CHECK_RC(args(&c, &o, &err, "--config", "/nonexistent.conf", NULL), DN_EIO);
	daemon_config_free(&c);
	CHECK_RC(args(&c, &o, &err, "--print-config", NULL), DN_OK);
	CHECK(o.print_config);
	daemon_config_free(&c);
}

static void test_resolve(void)
{
	daemon_config c;
	dn_error err;

	daemon_config_defaults(&c);
	c.cores = 8;
	c.blas_threads = 2;
	CHECK_RC(daemon_config_resolve(&c, &err), DN_OK);
	CHECK(c.workers == 4);
	c.workers = 5;
	CHECK_RC(daemon_config_resolve(&c, &err), DN_EINVAL);
	CHECK_MSG(strstr(err.msg, "exceeds cores"), "%s", err.msg);
	c.workers = 1;
	c.blas_threads = 9;
	CHECK_RC(daemon_config_resolve(&c, &err), DN_EINVAL);
	c.blas_threads = 8;
	CHECK_RC(daemon_config_resolve(&c, &err), DN_OK);
	/* cores 0: what the process may use, at least one. */
	c.cores = 0;
	c.workers = 0;
	c.blas_threads = 1;
	CHECK_RC(daemon_config_resolve(&c, &err), DN_OK);
	CHECK(c.cores >= 1 && c.workers == c.cores);
	daemon_config_free(&c);
}

/* The printed default file, with every "#key = value" line uncommented,
 * parses and gives the defaults. */
static void test_print_default(void)
{
	char *text = NULL, *out = NULL;
	size_t len = 0, olen = 0;
	FILE *f = open_memstream(&text, &len), *g;
	daemon_config c, d;
	dn_error err;
	int keys = 0;

	daemon_config_print_default(f);
	fclose(f);
	g = open_memstream(&out, &olen);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (line[0] == '#' && line[1] != ' ' && line[1] != '\0' && strchr(line, '=')) {
			fprintf(g, "%s\n", line + 1);
			keys++;
		}
	fclose(g);
	CHECK(keys >= 18);
	daemon_config_defaults(&c);
	CHECK_RC(daemon_config_load(&c, write_tmp("printed.conf", out), &err), DN_OK);
	daemon_config_defaults(&d);
	CHECK(c.port == d.port && c.max_body_bytes == d.max_body_bytes && c.log_level == d.log_level &&
	      strcmp(c.listen, d.listen) == 0 && strcmp(c.models, d.models) == 0 &&
	      c.max_audio_seconds == d.max_audio_seconds);
	daemon_config_free(&c);
	daemon_config_free(&d);
	free(text);
	free(out);
}

static int collect(void *ctx, const char *item)
{
	char *buf = ctx;

	strcat(buf, "[");
	strcat(buf, item);
	strcat(buf, "]");
	return strcmp(item, "stop") == 0 ? 7 : 0;
}

static void test_list(void)
{
	char buf[256] = "";

	CHECK(daemon_config_list_each(" a, b ,,c ", collect, buf) == 0);
	CHECK(strcmp(buf, "[a][b][c]") == 0);
	buf[0] = '\0';
	CHECK(daemon_config_list_each("x,stop,y", collect, buf) == 7);
	CHECK(strcmp(buf, "[x][stop]") == 0);
	buf[0] = '\0';
	CHECK(daemon_config_list_each("", collect, buf) == 0 && buf[0] == '\0');
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_defaults();
	test_set();
	test_file();
	test_args();
	test_resolve();
	test_print_default();
	test_list();
	{
		char cmd[300];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return check_status();
}
