/*
 * harness.c — the daemon-and-HTTP test harness of harness.h.
 *
 * Moved here from test_api.c and test_jobs.c, which carried identical
 * copies; see harness.h for what each function promises.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness.h"

char *path_in_tmp(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, 512, "%s/%s", tmp, name);
	return b;
}

int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- the daemon ---- */

/* Starts the daemon with conf (a config file's text) and extra flags. */
int start_daemon(daemon_proc *d, const char *name, const char *conf, const char *const *flags)
{
	char bin[512], portfile[512], confpath[512];
	const char *argv[32];
	int argc = 0;

	snprintf(bin, sizeof bin, "%s/daemon/denoised", builddir);
	snprintf(portfile, sizeof portfile, "%s/%s.port", tmp, name);
	snprintf(confpath, sizeof confpath, "%s/%s.conf", tmp, name);
	snprintf(d->log, sizeof d->log, "%s/%s.log", tmp, name);
	unlink(portfile);
	argv[argc++] = bin;
	if (conf) {
		if (write_file(confpath, conf, strlen(conf)) != 0)
			return -1;
		argv[argc++] = "--config";
		argv[argc++] = confpath;
	}
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--port-file";
	argv[argc++] = portfile;
	for (int i = 0; flags && flags[i] && argc < 30; i++)
		argv[argc++] = flags[i];
	argv[argc] = NULL;

	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	/* Up to 120 s for the port file: loading models under sanitizers. */
	for (int i = 0; i < 1200; i++) {
		char *t = read_text(portfile);
		int status;

		if (t && atoi(t) > 0) {
			d->port = atoi(t);
			free(t);
			return 0;
		}
		free(t);
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			fprintf(stderr, "daemon %s exited during start-up; its log:\n", name);
			run("cat '%s' >&2", d->log);
			d->pid = 0;
			return -1;
		}
		sleep_ms(100);
	}
	fprintf(stderr, "daemon %s did not write its port file\n", name);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	return -1;
}

/* Sends sig and waits (bounded) for the exit; returns the exit code, or -1
 * when killed by a signal or stuck. */
int stop_daemon(daemon_proc *d, int sig)
{
	int status;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	for (int i = 0; i < 1200; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			fprintf(stderr, "daemon killed by signal %d\n", WTERMSIG(status));
			return -1;
		}
		sleep_ms(100);
	}
	fprintf(stderr, "daemon did not stop within 120 s\n");
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
	return -1;
}

int log_contains(const daemon_proc *d, const char *needle)
{
	char *t = read_text(d->log);
	int found = t && strstr(t, needle) != NULL;

	free(t);
	return found;
}

/* ---- HTTP with libcurl ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	resp *r = ud;
	char *nb = realloc(r->body, r->len + size * n + 1);

	if (!nb)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	resp *r = ud;
	size_t k = size * n;

	if (r->hlen + k < sizeof r->headers) {
		memcpy(r->headers + r->hlen, p, k);
		r->hlen += k;
		r->headers[r->hlen] = '\0';
	}
	return k;
}

void resp_free(resp *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* The value of header name in r (last one wins), into out; 0 if absent. */
int header(const resp *r, const char *name, char *out, size_t cap)
{
	const char *p = r->headers;
	size_t n = strlen(name);
	int found = 0;

	while (p && *p) {
		const char *eol = strstr(p, "\r\n");

		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			size_t len;

			while (*v == ' ')
				v++;
			len = eol ? (size_t)(eol - v) : strlen(v);
			if (len >= cap)
				len = cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			found = 1;
		}
		p = eol ? eol + 2 : NULL;
	}
	return found;
}

CURL *prepare(int port, const req *q, resp *r, struct curl_slist **hl, curl_mime **mime)
{
	CURL *c = curl_easy_init();
	char url[1024];

	memset(r, 0, sizeof *r);
	*hl = NULL;
	*mime = NULL;
	if (!c)
		return NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, q->path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	for (int i = 0; q->headers && q->headers[i]; i++)
		*hl = curl_slist_append(*hl, q->headers[i]);
	if (q->token) {
		char h[256];

		snprintf(h, sizeof h, "Authorization: Bearer %s", q->token);
		*hl = curl_slist_append(*hl, h);
	}
	if (q->chunked)
		*hl = curl_slist_append(*hl, "Transfer-Encoding: chunked");
	if (q->mime) {
		*mime = q->mime(c, q->mime_arg);
		curl_easy_setopt(c, CURLOPT_MIMEPOST, *mime);
	} else if (q->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
	}
	if (q->method && strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (q->method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
	return c;
}

void http(int port, const req *q, resp *r)
{
	struct curl_slist *hl;
	curl_mime *mime;
	CURL *c = prepare(port, q, r, &hl, &mime);

	if (!c) {
		r->rc = CURLE_FAILED_INIT;
		return;
	}
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_mime_free(mime);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
}

long get(int port, const char *path, resp *r)
{
	req q = {.path = path};

	http(port, &q, r);
	return r->status;
}

/* The problem+json answer's type ends with slug, with the right status. */
int is_problem(const resp *r, long status, const char *slug)
{
	char ct[128] = "";
	json_error_t je;
	json_t *j;
	const char *type;
	int ok;

	if (r->status != status)
		return 0;
	if (!header(r, "Content-Type", ct, sizeof ct) || strcmp(ct, "application/problem+json") != 0)
		return 0;
	j = r->body ? json_loads(r->body, 0, &je) : NULL;
	type = json_string_value(json_object_get(j, "type"));
	ok = type && strncmp(type, "urn:denoised:problem:", 21) == 0 && strcmp(type + 21, slug) == 0 &&
	     json_integer_value(json_object_get(j, "status")) == status &&
	     json_string_value(json_object_get(j, "title")) &&
	     json_string_value(json_object_get(j, "detail"));
	json_decref(j);
	return ok;
}

/* ---- raw sockets ---- */

int sock_connect_from(int port, const char *from)
{
	struct sockaddr_in sa = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (from) {
		struct sockaddr_in src = {0};

		src.sin_family = AF_INET;
		inet_pton(AF_INET, from, &src.sin_addr);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
			close(fd);
			return -1;
		}
	}
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int sock_send(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t sock_read(int fd, char *buf, size_t cap, int wait_ms, int *closed)
{
	size_t n = 0;
	int waited = 0;

	*closed = 0;
	while (waited < wait_ms) {
		struct pollfd p = {fd, POLLIN, 0};
		int rc = poll(&p, 1, 100);
		ssize_t k;

		if (rc == 0) {
			waited += 100;
			continue;
		}
		k = recv(fd, buf + n, cap - n - 1, 0);
		if (k <= 0) {
			*closed = 1;
			break;
		}
		n += (size_t)k;
		if (n + 1 >= cap)
			break;
	}
	buf[n] = '\0';
	return n;
}

int sock_closed(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	char c;

	return poll(&p, 1, 0) > 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

/* A sample of a Prometheus metric with exactly these labels; -1 if absent. */
double metric(int port, const char *series)
{
	resp r;
	double v = -1;
	size_t n = strlen(series);

	if (get(port, "/metrics", &r) == 200 && r.body) {
		for (char *line = r.body; line && *line;) {
			char *eol = strchr(line, '\n');

			if (strncmp(line, series, n) == 0 && line[n] == ' ')
				v = strtod(line + n + 1, NULL);
			line = eol ? eol + 1 : NULL;
		}
	}
	resp_free(&r);
	return v;
}

void harness_begin(void)
{
	builddir = getenv("DN_BUILDDIR") ? getenv("DN_BUILDDIR") : ".";
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		exit(1);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int harness_end(int failures, const char *what)
{
	curl_global_cleanup();
	if (failures == 0)
		run("rm -rf '%s'", tmp);
	else
		fprintf(stderr, "%s kept in %s\n", what, tmp);
	return failures ? 1 : 0;
}

/* ---- WebSocket client ---- */

/* Bytes read past what a caller consumed, per socket (tests use few). */
#define WS_FDS 64
static struct {
	unsigned char *buf;
	size_t len;
} ws_pending[WS_FDS];

void ws_drop(int fd)
{
	if (fd >= 0 && fd < WS_FDS) {
		free(ws_pending[fd].buf);
		ws_pending[fd].buf = NULL;
		ws_pending[fd].len = 0;
	}
	if (fd >= 0)
		close(fd);
}

static void ws_keep(int fd, const unsigned char *p, size_t n)
{
	if (fd < 0 || fd >= WS_FDS || !n)
		return;
	unsigned char *b = realloc(ws_pending[fd].buf, ws_pending[fd].len + n);
	if (!b)
		return;
	memcpy(b + ws_pending[fd].len, p, n);
	ws_pending[fd].buf = b;
	ws_pending[fd].len += n;
}

int ws_open(int port, const char *target, const char *extra, char *head, size_t cap, int *status)
{
	/* The key of RFC 6455's example, whose accept value it gives. */
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==", accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
	char rq[2048];
	int fd = sock_connect_from(port, NULL);
	*status = 0;
	head[0] = '\0';
	if (fd < 0)
		return -1;
	if (fd < WS_FDS)
		ws_pending[fd].len = 0;
	snprintf(rq, sizeof rq,
	         "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
	         target, port, key, extra ? extra : "");
	if (sock_send(fd, rq, strlen(rq)) != 0) {
		close(fd);
		return -1;
	}
	/* the head, byte by byte up to the blank line; the rest is frames */
	size_t n = 0;
	int waited = 0;
	while (n + 1 < cap && waited < 10000) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 100) <= 0) {
			waited += 100;
			continue;
		}
		ssize_t k = recv(fd, head + n, 1, 0);
		if (k <= 0)
			break;
		n++;
		head[n] = '\0';
		if (n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4))
			break;
	}
	if (n > 12 && !strncmp(head, "HTTP/1.1 ", 9))
		*status = atoi(head + 9);
	if (*status != 101 || !strstr(head, accept)) {
		/* a refusal's body, for the caller to look at */
		size_t m = strlen(head);
		sock_read(fd, head + m, cap - m, 500, &waited);
		close(fd);
		return -1;
	}
	return fd;
}

static int ws_frame(int fd, int opcode, const void *data, size_t len, int fin, int mask)
{
	unsigned char h[14], m[4] = {0x12, 0x34, 0x56, 0x78};
	size_t hl = 2;
	h[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		h[1] = (unsigned char)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int k = 0; k < 8; k++)
			h[2 + k] = (unsigned char)((uint64_t)len >> (56 - 8 * k));
		hl = 10;
	}
	if (mask) {
		h[1] |= 0x80;
		memcpy(h + hl, m, 4);
		hl += 4;
	}
	unsigned char *b = malloc(hl + len + 1);
	if (!b)
		return -1;
	memcpy(b, h, hl);
	for (size_t i = 0; i < len; i++)
		b[hl + i] = ((const unsigned char *)data)[i] ^ (mask ? m[i & 3] : 0);
	int rc = sock_send(fd, b, hl + len);
	free(b);
	return rc;
}

int ws_send(int fd, int opcode, const void *data, size_t len, int fin)
{
	return ws_frame(fd, opcode, data, len, fin, 1);
}

int ws_send_unmasked(int fd, int opcode, const void *data, size_t len)
{
	return ws_frame(fd, opcode, data, len, 1, 0);
}

/* Exactly n bytes (buffered ones first) within the deadline: 1, 0 on
 * timeout, -1 when closed. */
static int ws_read_exact(int fd, unsigned char *out, size_t n, struct timespec *t0, int wait_ms)
{
	size_t got = 0;
	if (fd < WS_FDS && ws_pending[fd].len) {
		size_t k = ws_pending[fd].len < n ? ws_pending[fd].len : n;
		memcpy(out, ws_pending[fd].buf, k);
		memmove(ws_pending[fd].buf, ws_pending[fd].buf + k, ws_pending[fd].len - k);
		ws_pending[fd].len -= k;
		got = k;
	}
	while (got < n) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long ms = (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
		if (ms > wait_ms) {
			ws_keep(fd, out, got); /* put back what a later call needs */
			return 0;
		}
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t k = recv(fd, out + got, n - got, 0);
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 1;
}

int ws_recv(int fd, unsigned char **data, size_t *len, int wait_ms)
{
	struct timespec t0;
	unsigned char *msg = NULL;
	size_t mlen = 0;
	int op = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*data = NULL;
	*len = 0;
	for (;;) {
		unsigned char h[10];
		int rc = ws_read_exact(fd, h, 2, &t0, wait_ms);
		if (rc <= 0) {
			free(msg);
			return rc;
		}
		uint64_t n = h[1] & 0x7f;
		size_t ext = n == 126 ? 2 : n == 127 ? 8 : 0;
		if (ext && (rc = ws_read_exact(fd, h + 2, ext, &t0, wait_ms + 5000)) <= 0) {
			free(msg);
			return rc < 0 ? -1 : 0;
		}
		if (ext) {
			n = 0;
			for (size_t k = 0; k < ext; k++)
				n = n << 8 | h[2 + k];
		}
		unsigned char *b = realloc(msg, mlen + (size_t)n + 1);
		if (!b) {
			free(msg);
			return -1;
		}
		msg = b;
		if (n && (rc = ws_read_exact(fd, msg + mlen, (size_t)n, &t0, wait_ms + 5000)) <= 0) {
			free(msg);
			return rc < 0 ? -1 : 0;
		}
		mlen += (size_t)n;
		msg[mlen] = 0;
		if ((h[0] & 0x0f) != 0)
			op = h[0] & 0x0f;
		if (h[0] & 0x80)
			break;
	}
	*data = msg;
	*len = mlen;
	return op;
}
