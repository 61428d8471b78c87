/*
 * test_api.c — the HTTP API against the real daemon.
 *
 * Starts $DN_BUILDDIR/daemon/denoised on 127.0.0.1 port 0 (the bound port
 * comes back through --port-file), with models made by
 * `tools/denoise model-init`, and speaks HTTP to it with libcurl — and, for
 * what curl will not do (bodies that never come, bytes trickling), with raw
 * sockets. Covers every route, every limit and bad input of issue 5, CORS,
 * bearer tokens, overload, SIGHUP reload and SIGTERM drain. The daemon must
 * exit 0 after SIGTERM, which under --enable-sanitizers also means no leak.
 *
 * Waits are bounded (a hung daemon fails the test) but no assertion is about
 * how long something took.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/audio/audio.h"
#include "core/image/image.h"
#include "tests/check.h"
#include "tests/harness.h"

char tmp[] = "/tmp/dn_test_api_XXXXXX";
const char *builddir;

/* ---- small helpers ---- */

/* White noise at rate Hz, seconds long, as 16-bit WAV bytes (malloc'd). */
static void *make_wav(int rate, double seconds, size_t *len)
{
	dn_audio a = {0};
	void *bytes = NULL;
	dn_error err;
	uint32_t s = 12345;

	a.frames = (size_t)(rate * seconds);
	a.channels = 1;
	a.rate = rate;
	a.data = malloc(a.frames * sizeof(float));
	if (!a.data)
		return NULL;
	for (size_t i = 0; i < a.frames; i++) {
		s = s * 1664525u + 1013904223u;
		a.data[i] = 0.2f * ((float)(s >> 8) / 8388608.0f - 1.0f);
	}
	if (dn_audio_encode(&a, DN_AUDIO_WAV16, &bytes, len, &err) != DN_OK) {
		fprintf(stderr, "encode: %s\n", err.msg);
		bytes = NULL;
	}
	free(a.data);
	return bytes;
}

/* The busy gauge drops just after a worker hands its answer back, so a
 * client can see its reply a moment before the gauge moves: wait for it. */
static int wait_idle(int port)
{
	for (int i = 0; i < 3000; i++) {
		if (metric(port, "denoised_workers_busy") == 0 && metric(port, "denoised_queue_depth") == 0)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

/* Decodes r's body as audio. */
static int decode(const resp *r, dn_audio *a)
{
	dn_error err;
	int rc = r->body ? dn_audio_decode(r->body, r->len, NULL, a, &err) : DN_EFORMAT;

	if (rc != DN_OK)
		fprintf(stderr, "response does not decode: %s\n", r->body ? err.msg : "no body");
	return rc;
}

/* ---- raw sockets ---- */

static int connect_to(int port)
{
	struct sockaddr_in sa = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const void *data, size_t len)
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

/* ---- the tests ---- */

static void *wav1, *wav_long, *wav_big;
static size_t wav1_len, wav_long_len, wav_big_len;

static void test_health_and_docs(int port)
{
	resp r;
	json_error_t je;
	json_t *j;
	char v[256];

	CHECK(get(port, "/v1/health/live", &r) == 200);
	j = json_loads(r.body ? r.body : "", 0, &je);
	CHECK(j && strcmp(json_string_value(json_object_get(j, "status")), "alive") == 0);
	CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "application/json") == 0);
	json_decref(j);
	resp_free(&r);
	{
		req q = {.method = "HEAD", .path = "/v1/health/live"};

		http(port, &q, &r);
		CHECK(r.status == 200 && r.len == 0);
		resp_free(&r);
	}
	CHECK(get(port, "/v1/health/ready", &r) == 200);
	j = json_loads(r.body ? r.body : "", 0, &je);
	CHECK(j && json_integer_value(json_object_get(j, "models")) == 3);
	CHECK(j && json_integer_value(json_object_get(j, "workers")) == 1);
	{
		/* The BLAS kernel is reported, here and in /metrics; on a CPU with
		 * AVX2 or AVX-512 it is never a generic one (issue 13). */
		json_t *b = j ? json_object_get(j, "blas") : NULL;
		const char *kernel = json_string_value(json_object_get(b, "kernel"));
		char series[256];
		resp m;

		CHECK(kernel && *kernel);
		CHECK(json_is_boolean(json_object_get(b, "generic")));
#if defined(__x86_64__) || defined(__i386__)
		if (__builtin_cpu_supports("avx2"))
			CHECK_MSG(json_is_false(json_object_get(b, "generic")), "generic kernel %s",
			          kernel ? kernel : "?");
#endif
		snprintf(series, sizeof series, "kernel=\"%s\"", kernel ? kernel : "?");
		CHECK(get(port, "/metrics", &m) == 200);
		CHECK(m.body && strstr(m.body, "# TYPE denoised_blas_info gauge"));
		CHECK(m.body && strstr(m.body, "denoised_blas_info{library=\"OpenBLAS"));
		CHECK(m.body && strstr(m.body, series));
		resp_free(&m);
	}
	json_decref(j);
	resp_free(&r);

	CHECK(get(port, "/v1/openapi.json", &r) == 200);
	j = json_loads(r.body ? r.body : "", 0, &je);
	CHECK_MSG(j != NULL, "openapi.json: %s at line %d", je.text, je.line);
	CHECK(json_string_value(json_object_get(j, "openapi")) != NULL);
	{
		static const char *const paths[] = {"/v1/health/live", "/v1/health/ready", "/v1/models",
						    "/v1/models/{name}", "/v1/audio:denoise", "/v1/frames:denoise", "/metrics",
						    "/v1/openapi.json"};
		json_t *p = json_object_get(j, "paths");

		for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
			CHECK_MSG(json_object_get(p, paths[i]) != NULL, "openapi.json lacks %s", paths[i]);
	}
	json_decref(j);
	resp_free(&r);

	CHECK(get(port, "/no/such/route", &r) == 404);
	CHECK_PROBLEM(r, 404, "not-found");
	resp_free(&r);
	{
		req q = {.method = "DELETE", .path = "/v1/models"};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 405, "method-not-allowed");
		CHECK(header(&r, "Allow", v, sizeof v) && strstr(v, "GET"));
		resp_free(&r);
	}
	{
		req q = {.path = "/v1/audio:denoise"};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 405, "method-not-allowed");
		resp_free(&r);
	}
}

static void test_models(int port)
{
	resp r;
	json_error_t je;
	json_t *j, *models;

	CHECK(get(port, "/v1/models", &r) == 200);
	j = json_loads(r.body ? r.body : "", 0, &je);
	models = json_object_get(j, "models");
	CHECK(json_array_size(models) == 3);
	/* Sorted by name; the configured default is marked. */
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(models, 0), "name")), "alt") == 0);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(models, 1), "name")), "frame") == 0);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(models, 2), "name")), "speech") == 0);
	CHECK(json_is_true(json_object_get(json_array_get(models, 2), "default")));
	CHECK(strcmp(json_string_value(json_object_get(j, "default")), "speech") == 0);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(models, 1), "kind")), "frame") == 0);
	json_decref(j);
	resp_free(&r);

	CHECK(get(port, "/v1/models/speech", &r) == 200);
	j = json_loads(r.body ? r.body : "", 0, &je);
	CHECK(json_integer_value(json_object_get(json_object_get(j, "audio"), "sample_rate")) == 16000);
	CHECK(json_integer_value(json_object_get(json_object_get(j, "unet"), "base_filters")) == 4);
	CHECK(json_string_value(json_object_get(json_object_get(j, "metadata"), "command")) != NULL);
	json_decref(j);
	resp_free(&r);

	get(port, "/v1/models/nothing", &r);
	CHECK_PROBLEM(r, 404, "unknown-model");
	resp_free(&r);
	get(port, "/v1/models/", &r);
	CHECK_PROBLEM(r, 404, "not-found");
	resp_free(&r);
}

/* GET /v1/models/alt/card is the problem status/slug, whose detail holds
 * want (when not NULL). */
static void check_card_problem(int port, long status, const char *slug, const char *want)
{
	resp r;

	get(port, "/v1/models/alt/card", &r);
	CHECK_PROBLEM(r, status, slug);
	if (want)
		CHECK_MSG(r.body && strstr(r.body, want), "want \"%s\" in: %s", want, r.body ? r.body : "");
	resp_free(&r);
}

/* GET /v1/models/{name}/card: the .md beside the weights, read at each
 * request; none, a link, a FIFO or an oversized file are each refused with a
 * problem, never served or waited on. */
static void test_model_cards(int port)
{
	static const char card[] =
	    "# alt\n\n| metric | value |\n|---|---:|\n| PESQ | 2.5 |\n\n<b>not HTML</b>\n";
	static const char *const not_routes[][2] = {{"/v1/models/nothing/card", "unknown-model"},
	                                            {"/v1/models/alt/weights", "not-found"},
	                                            {"/v1/models/alt/card/x", "not-found"}};
	const char *md = path_in_tmp("models/alt.md");
	resp r;
	char v[256];

	unlink(md);
	check_card_problem(port, 404, "no-model-card", "alt.md beside its weights");

	CHECK(write_file(md, card, sizeof card - 1) == 0);
	CHECK(get(port, "/v1/models/alt/card", &r) == 200);
	CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "text/markdown; charset=utf-8") == 0);
	CHECK(header(&r, "X-Content-Type-Options", v, sizeof v) && strcmp(v, "nosniff") == 0);
	CHECK(header(&r, "Content-Security-Policy", v, sizeof v) && strstr(v, "default-src 'none'"));
	CHECK_MSG(r.len == sizeof card - 1 && memcmp(r.body, card, r.len) == 0, "card body: %.*s", (int)r.len,
	          r.body ? r.body : "");
	resp_free(&r);
	/* a model's JSON route is unchanged beside it */
	CHECK(get(port, "/v1/models/alt", &r) == 200 && r.body && strstr(r.body, "\"metadata\""));
	resp_free(&r);

	/* a link is not the file beside the weights */
	unlink(md);
	CHECK(symlink(path_in_tmp("models/speech.safetensors"), md) == 0);
	check_card_problem(port, 404, "no-model-card", NULL);
	/* a FIFO would block a reader: refused at once */
	unlink(md);
	CHECK(mkfifo(md, 0600) == 0);
	check_card_problem(port, 404, "no-model-card", NULL);
	/* over the 256 KiB bound */
	unlink(md);
	{
		size_t n = 256 * 1024 + 1;
		char *big = malloc(n);

		CHECK(big != NULL);
		if (big) {
			memset(big, 'x', n);
			CHECK(write_file(md, big, n) == 0);
			free(big);
			check_card_problem(port, 500, "internal", "over the 262144");
		}
	}
	unlink(md);

	for (size_t i = 0; i < sizeof not_routes / sizeof not_routes[0]; i++) {
		get(port, not_routes[i][0], &r);
		CHECK_PROBLEM(r, 404, not_routes[i][1]);
		resp_free(&r);
	}
}

static curl_mime *form_file(CURL *c, void *arg)
{
	const char *const *fields = arg; /* name, value, ..., NULL; "@file" for the WAV */
	curl_mime *m = curl_mime_init(c);

	for (int i = 0; fields[i]; i += 2) {
		curl_mimepart *p = curl_mime_addpart(m);

		curl_mime_name(p, fields[i]);
		if (strcmp(fields[i + 1], "@wav") == 0) {
			curl_mime_data(p, wav1, wav1_len);
			curl_mime_filename(p, "noisy.wav");
			curl_mime_type(p, "audio/wav");
		} else if (strcmp(fields[i + 1], "@text") == 0) {
			curl_mime_data(p, "hello", 5);
			curl_mime_filename(p, "notes.txt");
			curl_mime_type(p, "text/plain");
		} else {
			curl_mime_data(p, fields[i + 1], CURL_ZERO_TERMINATED);
		}
	}
	return m;
}

static void test_audio(int port)
{
	static const char *const wav_ct[] = {"Content-Type: audio/wav", NULL};
	resp r;
	dn_audio a = {0};
	char v[256];

	{
		req q = {.path = "/v1/audio:denoise", .headers = wav_ct, .body = wav1, .len = wav1_len};

		http(port, &q, &r);
		CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body ? r.body : "");
		CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "audio/wav") == 0);
		CHECK(header(&r, "X-Denoised-Model", v, sizeof v) && strcmp(v, "speech") == 0);
		CHECK(decode(&r, &a) == DN_OK && a.frames == 16000 && a.rate == 16000 && a.channels == 1);
		dn_audio_free(&a);
		resp_free(&r);
	}
	{
		req q = {.path = "/v1/audio:denoise?model=alt&format=flac",
			 .headers = wav_ct,
			 .body = wav1,
			 .len = wav1_len};

		http(port, &q, &r);
		CHECK(r.status == 200);
		CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "audio/flac") == 0);
		CHECK(header(&r, "X-Denoised-Model", v, sizeof v) && strcmp(v, "alt") == 0);
		CHECK(decode(&r, &a) == DN_OK && a.frames == 16000);
		dn_audio_free(&a);
		resp_free(&r);
	}
	{
		static const char *const oct[] = {"Content-Type: application/octet-stream", NULL};
		req q = {.path = "/v1/audio:denoise?format=wavf32", .headers = oct, .body = wav1, .len = wav1_len};

		http(port, &q, &r);
		CHECK(r.status == 200 && decode(&r, &a) == DN_OK && a.frames == 16000);
		dn_audio_free(&a);
		resp_free(&r);
	}
	/* Bad parameters and models. */
	{
		static const struct {
			const char *path;
			long status;
			const char *slug;
		} bad[] = {
			{"/v1/audio:denoise?format=mp9", 400, "bad-parameter"},
			{"/v1/audio:denoise?model=nothing", 404, "unknown-model"},
			{"/v1/audio:denoise?model=frame", 400, "wrong-model-kind"},
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			req q = {.path = bad[i].path, .headers = wav_ct, .body = wav1, .len = wav1_len};

			http(port, &q, &r);
			CHECK_PROBLEM(r, bad[i].status, bad[i].slug);
			resp_free(&r);
		}
	}
	/* Wrong content types: 415. */
	{
		static const char *const text[] = {"Content-Type: text/plain", NULL};
		static const char *const none[] = {"Content-Type:", NULL};
		req q = {.path = "/v1/audio:denoise", .headers = text, .body = wav1, .len = wav1_len};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 415, "unsupported-media-type");
		resp_free(&r);
		q.headers = none;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 415, "unsupported-media-type");
		resp_free(&r);
	}
	/* Corrupt and truncated audio: 422; empty: 400. */
	{
		static const char garbage[] = "this is not a sound file, just words words words words";
		req q = {.path = "/v1/audio:denoise", .headers = wav_ct, .body = garbage, .len = sizeof garbage};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 422, "bad-audio");
		resp_free(&r);
		q.body = wav1;
		q.len = 30; /* the fmt chunk cut short */
		http(port, &q, &r);
		CHECK_PROBLEM(r, 422, "bad-audio");
		resp_free(&r);
		q.len = 44; /* a header and no samples */
		http(port, &q, &r);
		CHECK_PROBLEM(r, 422, "bad-audio");
		resp_free(&r);
		q.len = 0;
		q.body = "";
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "no-audio");
		resp_free(&r);
	}
}

static void test_multipart(int port)
{
	resp r;
	dn_audio a = {0};
	char v[256];

	{
		const char *fields[] = {"file", "@wav", "model", "alt", "format", "flac", NULL};
		req q = {.path = "/v1/audio:denoise", .mime = form_file, .mime_arg = fields};

		http(port, &q, &r);
		CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body ? r.body : "");
		CHECK(header(&r, "X-Denoised-Model", v, sizeof v) && strcmp(v, "alt") == 0);
		CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "audio/flac") == 0);
		CHECK(decode(&r, &a) == DN_OK && a.frames == 16000);
		dn_audio_free(&a);
		resp_free(&r);
	}
	{
		/* The query wins over the form; any field name with a filename
		 * is taken as the file. */
		const char *fields[] = {"upload", "@wav", "model", "nothing", NULL};
		req q = {.path = "/v1/audio:denoise?model=speech", .mime = form_file, .mime_arg = fields};

		http(port, &q, &r);
		CHECK(r.status == 200 && header(&r, "X-Denoised-Model", v, sizeof v) && strcmp(v, "speech") == 0);
		resp_free(&r);
	}
	{
		const char *fields[] = {"file", "@wav", "model", "nothing", NULL};
		req q = {.path = "/v1/audio:denoise", .mime = form_file, .mime_arg = fields};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 404, "unknown-model");
		resp_free(&r);
	}
	{
		const char *fields[] = {"model", "speech", NULL};
		req q = {.path = "/v1/audio:denoise", .mime = form_file, .mime_arg = fields};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "no-audio");
		resp_free(&r);
	}
	{
		const char *fields[] = {"file", "@text", NULL};
		req q = {.path = "/v1/audio:denoise", .mime = form_file, .mime_arg = fields};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 415, "unsupported-media-type");
		resp_free(&r);
	}
	/* Malformed multipart: 400. */
	{
		static const char *const ct[] = {"Content-Type: multipart/form-data; boundary=XyZ", NULL};
		static const char *const nob[] = {"Content-Type: multipart/form-data", NULL};
		static const char truncated[] = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
						"filename=\"a.wav\"\r\n\r\nRIFF....";
		static const char nodisp[] = "--XyZ\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--XyZ--\r\n";
		req q = {.path = "/v1/audio:denoise", .headers = ct, .body = truncated, .len = sizeof truncated - 1};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "bad-multipart");
		resp_free(&r);
		q.body = nodisp;
		q.len = sizeof nodisp - 1;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "bad-multipart");
		resp_free(&r);
		q.headers = nob;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "bad-multipart");
		resp_free(&r);
	}
}

static void test_body_limits(int port)
{
	static const char *const wav_ct[] = {"Content-Type: audio/wav", NULL};
	resp r;

	/* Declared over the limit: refused from the headers alone. */
	{
		req q = {.path = "/v1/audio:denoise", .headers = wav_ct, .body = wav_big, .len = wav_big_len};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 413, "body-too-large");
		resp_free(&r);
	}
	/* Proof that the body is not read: headers announce 50 MB, none is
	 * sent, and the 413 still comes. */
	{
		int fd = connect_to(port), closed;
		char buf[4096];
		static const char head[] = "POST /v1/audio:denoise HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
					   "Content-Length: 52428800\r\n\r\n";

		CHECK(fd >= 0 && send_all(fd, head, sizeof head - 1) == 0);
		sock_read(fd, buf, sizeof buf, 30000, &closed);
		CHECK_MSG(strncmp(buf, "HTTP/1.1 413", 12) == 0, "got: %.80s", buf);
		CHECK(closed);
		close(fd);
	}
	/* Chunked (no Content-Length): counted as it streams. */
	{
		req q = {.path = "/v1/audio:denoise",
			 .headers = wav_ct,
			 .body = wav_big,
			 .len = wav_big_len,
			 .chunked = 1};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 413, "body-too-large");
		resp_free(&r);
	}
	/* A chunked stream far over the limit is cut off, not read forever. */
	{
		int fd = connect_to(port), closed = 0, refused = 0;
		static const char head[] = "POST /v1/audio:denoise HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
					   "Transfer-Encoding: chunked\r\n\r\n";
		static char chunk[65536 + 16];
		size_t n = (size_t)sprintf(chunk, "10000\r\n");
		char buf[4096];

		memset(chunk + n, 'x', 65536);
		memcpy(chunk + n + 65536, "\r\n", 2);
		CHECK(fd >= 0 && send_all(fd, head, sizeof head - 1) == 0);
		/* Up to 64 MiB; the server (1 MiB limit) must stop us well before. */
		for (int i = 0; i < 1024 && !refused; i++)
			refused = send_all(fd, chunk, n + 65536 + 2) != 0;
		if (!refused)
			sock_read(fd, buf, sizeof buf, 30000, &closed);
		CHECK_MSG(refused || closed, "the server kept reading a 64 MiB stream");
		close(fd);
	}
	CHECK(get(port, "/v1/health/live", &r) == 200);
	resp_free(&r);
}

static void test_slow_clients(int port)
{
	char buf[4096];
	int fd, closed;
	size_t n;

	/* Headers that never end: closed after connection_timeout. */
	fd = connect_to(port);
	CHECK(fd >= 0 && send_all(fd, "GET /v1/health/live HTTP/1.1\r\nHost: x\r\n", 40) == 0);
	n = sock_read(fd, buf, sizeof buf, 60000, &closed);
	CHECK_MSG(closed && n == 0, "closed %d after %zu bytes", closed, n);
	close(fd);

	/* A body trickling a byte at a time: each byte keeps the connection
	 * active, so request_timeout is what ends it. */
	fd = connect_to(port);
	{
		static const char head[] = "POST /v1/audio:denoise HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
					   "Content-Length: 100000\r\n\r\n";
		int cut = 0;

		CHECK(fd >= 0 && send_all(fd, head, sizeof head - 1) == 0);
		for (int i = 0; i < 600 && !cut; i++) {
			struct pollfd p = {fd, POLLIN, 0};

			if (send_all(fd, "R", 1) != 0 || (poll(&p, 1, 200) > 0 && recv(fd, buf, sizeof buf, 0) <= 0))
				cut = 1;
		}
		CHECK_MSG(cut, "a trickling client was never cut off");
	}
	close(fd);
}

/* ---- overload ---- */

static void test_overload(int port)
{
	static const char *const wav_ct[] = {"Content-Type: audio/wav", NULL};
	enum { N = 8 };
	CURLM *m = curl_multi_init();
	CURL *c[N];
	resp r[N];
	struct curl_slist *hl[N];
	curl_mime *mime[N];
	int running = 1, ok = 0, busy = 0, other = 0, with_retry = 0;
	req q = {.path = "/v1/audio:denoise?model=alt", .headers = wav_ct, .body = wav_long, .len = wav_long_len};

	/* 15 s of audio each (under the 20 s limit) for alt, the model of 16
	 * filters: enough work that the one worker and one queue slot are
	 * taken while the others arrive. (The 4-filter model does 15 s in
	 * tens of milliseconds since the AVX-512 kernels.) */
	for (int i = 0; i < N; i++) {
		c[i] = prepare(port, &q, &r[i], &hl[i], &mime[i]);
		curl_multi_add_handle(m, c[i]);
	}
	for (int rounds = 0; running && rounds < 100000; rounds++) {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < N; i++) {
		char v[64];

		curl_easy_getinfo(c[i], CURLINFO_RESPONSE_CODE, &r[i].status);
		if (r[i].status == 200)
			ok++;
		else if (is_problem(&r[i], 503, "overloaded")) {
			busy++;
			with_retry += header(&r[i], "Retry-After", v, sizeof v) && atoi(v) > 0;
		} else {
			other++;
			fprintf(stderr, "overload: request %d got %ld: %s\n", i, r[i].status,
				r[i].body ? r[i].body : "");
		}
		curl_multi_remove_handle(m, c[i]);
		curl_easy_cleanup(c[i]);
		curl_mime_free(mime[i]);
		curl_slist_free_all(hl[i]);
		resp_free(&r[i]);
	}
	curl_multi_cleanup(m);
	CHECK_MSG(ok >= 1 && busy >= 1 && other == 0, "%d ok, %d overloaded, %d other", ok, busy, other);
	CHECK(with_retry == busy);
	/* Nothing is left behind. */
	CHECK(wait_idle(port));
}

/* A request on another thread, to overlap with signals. */
typedef struct bg {
	pthread_t t;
	int port;
	resp r;
} bg;

static void *bg_run(void *arg)
{
	static const char *const wav_ct[] = {"Content-Type: audio/wav", NULL};
	bg *b = arg;
	/* alt, the slow model: the request must still be running when the
	 * caller has seen the worker busy and sent its signal */
	req q = {.path = "/v1/audio:denoise?model=alt", .headers = wav_ct, .body = wav_long, .len = wav_long_len};

	http(b->port, &q, &b->r);
	return NULL;
}

/* Waits (bounded) until a worker is busy. */
static int wait_busy(int port)
{
	for (int i = 0; i < 3000; i++) {
		if (metric(port, "denoised_workers_busy") >= 1)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

static void test_metrics(int port)
{
	resp r;
	char v[256];
	double live = metric(port, "denoised_http_requests_total{route=\"/v1/health/live\",status=\"200\"}");

	for (int i = 0; i < 3; i++) {
		get(port, "/v1/health/live", &r);
		resp_free(&r);
	}
	CHECK(metric(port, "denoised_http_requests_total{route=\"/v1/health/live\",status=\"200\"}") == live + 3);
	CHECK(metric(port, "denoised_http_requests_total{route=\"/v1/audio:denoise\",status=\"413\"}") >= 3);
	CHECK(metric(port, "denoised_http_requests_total{route=\"/v1/audio:denoise\",status=\"503\"}") >= 1);
	CHECK(metric(port, "denoised_http_request_duration_seconds_count{route=\"/v1/audio:denoise\"}") >= 10);
	CHECK(metric(port, "denoised_http_request_duration_seconds_bucket{route=\"/v1/health/live\",le=\"+Inf\"}") >=
	      live + 3);
	CHECK(metric(port, "denoised_models_loaded") == 3);
	CHECK(metric(port, "denoised_workers") == 1);
	CHECK(metric(port, "denoised_queue_capacity") == 1);
	/* The scrape itself is in flight while it is rendered. The earlier
	 * requests leave the gauge when the server's completion callback runs,
	 * which may be a moment after their client saw the answer. */
	{
		int i = 0;
		double inflight;

		while ((inflight = metric(port, "denoised_http_inflight_requests")) != 1 && i++ < 1000)
			sleep_ms(10);
		CHECK_MSG(inflight == 1, "in flight: %g", inflight);
	}
	CHECK(get(port, "/metrics", &r) == 200);
	CHECK(header(&r, "Content-Type", v, sizeof v) && strncmp(v, "text/plain; version=0.0.4", 25) == 0);
	CHECK(r.body && strstr(r.body, "# TYPE denoised_http_request_duration_seconds histogram"));
	resp_free(&r);
}

static void test_cors(int port)
{
	resp r;
	char v[256];

	{
		static const char *const h[] = {"Origin: https://app.example", NULL};
		req q = {.path = "/v1/models", .headers = h};

		http(port, &q, &r);
		CHECK(r.status == 200);
		CHECK(header(&r, "Access-Control-Allow-Origin", v, sizeof v) && strcmp(v, "https://app.example") == 0);
		CHECK(header(&r, "Vary", v, sizeof v) && strcmp(v, "Origin") == 0);
		resp_free(&r);
	}
	{
		static const char *const h[] = {"Origin: https://evil.example", NULL};
		req q = {.path = "/v1/models", .headers = h};

		http(port, &q, &r);
		CHECK(r.status == 200 && !header(&r, "Access-Control-Allow-Origin", v, sizeof v));
		resp_free(&r);
	}
	{
		static const char *const h[] = {"Origin: https://app.example", "Access-Control-Request-Method: POST",
						"Access-Control-Request-Headers: content-type", NULL};
		req q = {.method = "OPTIONS", .path = "/v1/audio:denoise", .headers = h};

		http(port, &q, &r);
		CHECK(r.status == 204);
		CHECK(header(&r, "Access-Control-Allow-Origin", v, sizeof v) && strcmp(v, "https://app.example") == 0);
		CHECK(header(&r, "Access-Control-Allow-Methods", v, sizeof v) && strstr(v, "POST"));
		CHECK(header(&r, "Access-Control-Allow-Headers", v, sizeof v) && strstr(v, "Content-Type"));
		resp_free(&r);
	}
	{
		static const char *const h[] = {"Origin: https://evil.example", "Access-Control-Request-Method: POST",
						NULL};
		req q = {.method = "OPTIONS", .path = "/v1/audio:denoise", .headers = h};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 403, "origin-not-allowed");
		CHECK(!header(&r, "Access-Control-Allow-Origin", v, sizeof v));
		resp_free(&r);
	}
	{
		static const char *const h[] = {"Origin: https://app.example", "Content-Type: text/plain", NULL};
		req q = {.path = "/v1/audio:denoise", .headers = h, .body = "x", .len = 1};

		/* Errors carry CORS headers too, or the page could not read them. */
		http(port, &q, &r);
		CHECK(r.status == 415 && header(&r, "Access-Control-Allow-Origin", v, sizeof v));
		resp_free(&r);
	}
}

/* SIGHUP: a new file replaces a model, a broken one leaves the old serving,
 * and a request in flight during the reload completes. */
static void test_reload(daemon_proc *d)
{
	resp r;
	json_error_t je;
	json_t *j;
	char before[256] = "", after[256] = "";
	const char *cmd;
	double ok0 = metric(d->port, "denoised_model_reloads_total{result=\"ok\"}");
	double failed0 = metric(d->port, "denoised_model_reloads_total{result=\"failed\"}");
	bg b = {.port = d->port};

	get(d->port, "/v1/models/speech", &r);
	j = json_loads(r.body ? r.body : "", 0, &je);
	cmd = json_string_value(json_object_get(json_object_get(j, "metadata"), "command"));
	snprintf(before, sizeof before, "%s", cmd ? cmd : "");
	json_decref(j);
	resp_free(&r);
	CHECK(strstr(before, "--seed 1") != NULL);

	/* A new speech model (another seed), written beside and renamed in. */
	CHECK(run("'%s/tools/denoise' model-init '%s' --filters 4 --depth 2 --seed 7 >/dev/null && mv '%s' '%s'",
		  builddir, path_in_tmp("new.safetensors.tmp"), path_in_tmp("new.safetensors.tmp"),
		  path_in_tmp("models/speech.safetensors")) == 0);
	CHECK(wait_idle(d->port));
	pthread_create(&b.t, NULL, bg_run, &b);
	CHECK(wait_busy(d->port));
	kill(d->pid, SIGHUP);
	pthread_join(b.t, NULL);
	CHECK_MSG(b.r.status == 200, "request during reload: %ld", b.r.status);
	resp_free(&b.r);
	for (int i = 0; i < 600 && metric(d->port, "denoised_model_reloads_total{result=\"ok\"}") < ok0 + 1; i++)
		sleep_ms(50);
	CHECK(metric(d->port, "denoised_model_reloads_total{result=\"ok\"}") == ok0 + 1);
	get(d->port, "/v1/models/speech", &r);
	j = json_loads(r.body ? r.body : "", 0, &je);
	cmd = json_string_value(json_object_get(json_object_get(j, "metadata"), "command"));
	snprintf(after, sizeof after, "%s", cmd ? cmd : "");
	json_decref(j);
	resp_free(&r);
	CHECK_MSG(strstr(after, "--seed 7") != NULL, "after reload: %s", after);

	/* A broken file: the old alt keeps serving, the log says why. */
	CHECK(write_file(path_in_tmp("models/alt.safetensors"), "\x10\0\0\0\0\0\0\0{broken json}   ", 24) == 0);
	kill(d->pid, SIGHUP);
	for (int i = 0; i < 600 && metric(d->port, "denoised_model_reloads_total{result=\"failed\"}") < failed0 + 1;
	     i++)
		sleep_ms(50);
	CHECK(metric(d->port, "denoised_model_reloads_total{result=\"failed\"}") == failed0 + 1);
	CHECK(get(d->port, "/v1/models/alt", &r) == 200);
	resp_free(&r);
	{
		static const char *const wav_ct[] = {"Content-Type: audio/wav", NULL};
		req q = {.path = "/v1/audio:denoise?model=alt", .headers = wav_ct, .body = wav1, .len = wav1_len};

		http(d->port, &q, &r);
		CHECK(r.status == 200);
		resp_free(&r);
	}
	CHECK(log_contains(d, "alt.safetensors") && log_contains(d, "keeps serving"));
	CHECK(metric(d->port, "denoised_models_loaded") == 3);
}

/* SIGTERM: the request in flight completes, then the daemon exits 0. */
static void test_drain(daemon_proc *d)
{
	bg b = {.port = d->port};
	int rc, fd;

	CHECK(wait_idle(d->port));
	pthread_create(&b.t, NULL, bg_run, &b);
	CHECK(wait_busy(d->port));
	rc = stop_daemon(d, SIGTERM);
	pthread_join(b.t, NULL);
	CHECK_MSG(b.r.status == 200, "request in flight at SIGTERM: %ld (curl %d)", b.r.status, (int)b.r.rc);
	resp_free(&b.r);
	CHECK_MSG(rc == 0, "exit status %d; see %s", rc, d->log);
	CHECK(log_contains(d, "draining") && log_contains(d, "stopped"));
	fd = connect_to(d->port);
	CHECK(fd < 0);
	if (fd >= 0)
		close(fd);
}

/* A second daemon with a bearer token. */
static void test_auth(void)
{
	static const char *const wav_ct[] = {"Content-Type: audio/wav", NULL};
	daemon_proc d;
	char conf[2048];
	resp r;
	char v[256];

	CHECK(write_file(path_in_tmp("token"), "s3cret-token\n", 13) == 0);
	chmod(path_in_tmp("token"), 0600);
	snprintf(conf, sizeof conf,
		 "models = %s\napi_key_file = %s\nworkers = 1\ncores = 1\nlog_level = warning\n",
		 path_in_tmp("models/speech.safetensors"), path_in_tmp("token"));
	if (start_daemon(&d, "auth", conf, NULL) != 0) {
		CHECK_MSG(0, "the auth daemon did not start");
		return;
	}
	{
		req q = {.path = "/v1/audio:denoise", .headers = wav_ct, .body = wav1, .len = wav1_len};

		http(d.port, &q, &r);
		CHECK_PROBLEM(r, 401, "unauthorized");
		CHECK(header(&r, "WWW-Authenticate", v, sizeof v) && strncmp(v, "Bearer", 6) == 0);
		resp_free(&r);
		q.token = "s3cret-tokeN";
		http(d.port, &q, &r);
		CHECK_PROBLEM(r, 401, "unauthorized");
		resp_free(&r);
		q.token = "s3cret-token";
		http(d.port, &q, &r);
		CHECK(r.status == 200);
		resp_free(&r);
	}
	/* Reading needs no token. */
	CHECK(get(d.port, "/v1/models", &r) == 200);
	resp_free(&r);
	CHECK(get(d.port, "/v1/health/ready", &r) == 200);
	resp_free(&r);
	CHECK(stop_daemon(&d, SIGTERM) == 0);
}

/* --check-config, and start-up refusals. */
static void test_check_config(void)
{
	char bin[512];
	daemon_proc d;
	const char *flags[] = {"--models", NULL, NULL};

	snprintf(bin, sizeof bin, "%s/daemon/denoised", builddir);
	CHECK(run("'%s' --check-config --models '%s' 2>/dev/null", bin, path_in_tmp("models/speech.safetensors")) ==
	      0);
	CHECK(run("mkdir -p '%s' && printf nope > '%s'", path_in_tmp("bad"), path_in_tmp("bad/broken.safetensors")) ==
	      0);
	CHECK(run("'%s' --check-config --models '%s' 2>'%s'", bin, path_in_tmp("bad"), path_in_tmp("check.err")) == 1);
	CHECK(run("grep -q broken.safetensors '%s'", path_in_tmp("check.err")) == 0);
	CHECK(run("'%s' --check-config --models '%s' --default-model nope 2>/dev/null", bin,
		  path_in_tmp("models/speech.safetensors")) == 1);
	/* A daemon with a broken model refuses to start (exit 2). */
	flags[1] = path_in_tmp("bad");
	CHECK(start_daemon(&d, "broken", NULL, flags) != 0);
	CHECK(log_contains(&d, "broken.safetensors"));
}

/* No configuration at all: the documented defaults and the shipped models
 * (models/ of the source tree, when it has any). */
static void test_defaults(void)
{
	daemon_proc d;
	resp r;
	json_error_t je;
	json_t *j;
	int shipped = run("ls '%s'/models/*.safetensors >/dev/null 2>&1", getenv("DN_SRCDIR") ? getenv("DN_SRCDIR") : ".") ==
		      0;

	if (start_daemon(&d, "defaults", NULL, NULL) != 0) {
		CHECK_MSG(0, "the daemon did not start with no configuration");
		return;
	}
	CHECK(get(d.port, "/v1/health/live", &r) == 200);
	resp_free(&r);
	get(d.port, "/v1/health/ready", &r);
	CHECK_MSG(shipped ? r.status == 200 : is_problem(&r, 503, "not-ready"), "ready: %ld", r.status);
	resp_free(&r);
	CHECK(get(d.port, "/v1/models", &r) == 200);
	j = json_loads(r.body ? r.body : "", 0, &je);
	CHECK(shipped ? json_array_size(json_object_get(j, "models")) > 0
		      : json_array_size(json_object_get(j, "models")) == 0);
	json_decref(j);
	resp_free(&r);
	CHECK(metric(d.port, "denoised_queue_capacity") == 64);
	CHECK(stop_daemon(&d, SIGINT) == 0);
}

/* ---- POST /v1/frames:denoise ---- */

/* A JPEG of a w x h smooth picture (channels 1 or 3), malloc'd. */
static void *make_jpeg(int w, int h, int channels, size_t *len)
{
	dn_image img;
	void *bytes = NULL;

	*len = 0;
	if (dn_image_alloc(&img, w, h, channels, NULL) != DN_OK)
		return NULL;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < channels; c++)
				img.data[((size_t)y * w + x) * channels + c] = (unsigned char)((x * 3 + y * 2 + c * 50) & 255);
	if (dn_image_encode(&img, 90, DN_SUBSAMP_420, &bytes, len, NULL) != DN_OK)
		bytes = NULL;
	dn_image_free(&img);
	return bytes;
}

typedef struct jpeg_parts {
	const void *data[3];
	size_t len[3];
	const char *type[3];
} jpeg_parts;

static curl_mime *form_frames(CURL *c, void *arg)
{
	const jpeg_parts *jp = arg;
	curl_mime *m = curl_mime_init(c);
	static const char *const names[] = {"a.jpg", "b.jpg", "c.jpg"};

	for (int i = 0; i < 3; i++) {
		curl_mimepart *p = curl_mime_addpart(m);

		curl_mime_name(p, "file");
		curl_mime_data(p, jp->data[i], jp->len[i]);
		curl_mime_filename(p, names[i]);
		curl_mime_type(p, jp->type[i]);
	}
	{
		curl_mimepart *p = curl_mime_addpart(m);

		curl_mime_name(p, "quality");
		curl_mime_data(p, "80", CURL_ZERO_TERMINATED);
	}
	return m;
}

/* Decodes the JPEG parts of a multipart/mixed answer, in order. */
static int mixed_parts(const resp *r, dn_image *out, int max)
{
	char ct[256], delim[128];
	const char *b, *p, *end;
	int n = 0;

	if (!header(r, "Content-Type", ct, sizeof ct) || strncmp(ct, "multipart/mixed", 15) != 0 ||
	    !(b = strstr(ct, "boundary=")))
		return -1;
	snprintf(delim, sizeof delim, "--%s", b + 9);
	p = r->body;
	end = r->body + r->len;
	while (p && n < max) {
		const char *hdr_end, *next;
		size_t dl = strlen(delim);

		p = memmem(p, (size_t)(end - p), delim, dl);
		if (!p || p + dl + 2 > end || (p[dl] == '-' && p[dl + 1] == '-'))
			break;
		hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (!hdr_end)
			return -1;
		hdr_end += 4;
		next = memmem(hdr_end, (size_t)(end - hdr_end), delim, dl);
		if (!next || next - hdr_end < 2)
			return -1;
		if (dn_image_decode(hdr_end, (size_t)(next - hdr_end - 2), 0, &out[n], NULL) != DN_OK)
			return -1;
		n++;
		p = next;
	}
	return n;
}

static void test_frames(int port)
{
	static const char *const jpeg_ct[] = {"Content-Type: image/jpeg", NULL};
	size_t len, glen, blen;
	void *jpg = make_jpeg(120, 80, 3, &len), *gray = make_jpeg(64, 48, 1, &glen),
	     *big = make_jpeg(400, 300, 3, &blen); /* 120000 pixels: over max_frame_pixels */
	resp r;
	char v[256];

	CHECK(jpg && gray && big);
	{
		req q = {.path = "/v1/frames:denoise", .headers = jpeg_ct, .body = jpg, .len = len};
		dn_image img;

		http(port, &q, &r);
		CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body ? r.body : "");
		CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "image/jpeg") == 0);
		CHECK(header(&r, "X-Denoised-Model", v, sizeof v) && strcmp(v, "frame") == 0);
		CHECK(dn_image_decode(r.body, r.len, 0, &img, NULL) == DN_OK && img.w == 120 && img.h == 80 &&
		      img.channels == 3);
		dn_image_free(&img);
		resp_free(&r);
		/* Grayscale in, grayscale out; a quality and the model by name. */
		q.path = "/v1/frames:denoise?model=frame&quality=60";
		q.body = gray;
		q.len = glen;
		http(port, &q, &r);
		CHECK(r.status == 200);
		CHECK(dn_image_decode(r.body, r.len, 0, &img, NULL) == DN_OK && img.w == 64 && img.h == 48 &&
		      img.channels == 1);
		dn_image_free(&img);
		resp_free(&r);
	}
	/* A form with three frames: multipart/mixed, same order, same sizes. */
	{
		jpeg_parts jp = {{jpg, gray, jpg}, {len, glen, len}, {"image/jpeg", "image/jpeg", "image/jpeg"}};
		req q = {.path = "/v1/frames:denoise", .mime = form_frames, .mime_arg = &jp};
		dn_image out[4];
		int n;

		http(port, &q, &r);
		CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body ? r.body : "");
		n = mixed_parts(&r, out, 4);
		CHECK_MSG(n == 3, "%d parts", n);
		if (n == 3) {
			CHECK(out[0].w == 120 && out[0].h == 80 && out[0].channels == 3);
			CHECK(out[1].w == 64 && out[1].h == 48 && out[1].channels == 1);
			CHECK(out[2].w == 120 && out[2].h == 80);
		}
		for (int i = 0; i < n; i++)
			dn_image_free(&out[i]);
		resp_free(&r);
		/* One part of the form is not a JPEG: 415; corrupt: 422 naming it. */
		jp.type[1] = "text/plain";
		http(port, &q, &r);
		CHECK_PROBLEM(r, 415, "unsupported-media-type");
		resp_free(&r);
		jp.type[1] = "image/jpeg";
		jp.len[2] = len / 2;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 422, "bad-frame");
		CHECK(r.body && strstr(r.body, "frame 3") != NULL);
		resp_free(&r);
	}
	/* Refusals: type, parameters, model kind, corrupt, truncated, empty, size. */
	{
		static const char *const text[] = {"Content-Type: text/plain", NULL};
		static const char *const wav_ct[] = {"Content-Type: audio/wav", NULL};
		static const char garbage[] = "\xff\xd8 not really a JPEG, only its first two bytes";
		req q = {.path = "/v1/frames:denoise", .headers = text, .body = jpg, .len = len};

		http(port, &q, &r);
		CHECK_PROBLEM(r, 415, "unsupported-media-type");
		resp_free(&r);
		q.headers = wav_ct;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 415, "unsupported-media-type");
		resp_free(&r);
		q.headers = jpeg_ct;
		q.path = "/v1/frames:denoise?quality=0";
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "bad-parameter");
		resp_free(&r);
		q.path = "/v1/frames:denoise?quality=101";
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "bad-parameter");
		resp_free(&r);
		q.path = "/v1/frames:denoise?model=speech";
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "wrong-model-kind");
		resp_free(&r);
		q.path = "/v1/frames:denoise";
		q.body = garbage;
		q.len = sizeof garbage;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 422, "bad-frame");
		resp_free(&r);
		q.body = jpg;
		q.len = len / 2;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 422, "bad-frame");
		resp_free(&r);
		q.body = "";
		q.len = 0;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "no-frame");
		resp_free(&r);
		q.body = big;
		q.len = blen;
		http(port, &q, &r);
		CHECK_PROBLEM(r, 413, "frame-over-limit");
		CHECK(r.body && strstr(r.body, "max_frame_pixels") != NULL);
		resp_free(&r);
	}
	free(jpg);
	free(gray);
	free(big);
}

/* The sampling factors (H << 4 | V) of component c in a JPEG's SOF0/1/2; -1
 * when there is none. Read from the bytes, not through our decoder. */
static int sof_sampling(const void *bytes, size_t len, int c)
{
	const unsigned char *p = bytes;

	for (size_t i = 2; i + 10 + 3 * (size_t)c < len;) {
		if (p[i] != 0xFF) {
			i++;
			continue;
		}
		if (p[i + 1] >= 0xC0 && p[i + 1] <= 0xC2)
			return c < p[i + 9] ? p[i + 11 + 3 * c] : -1;
		if (p[i + 1] == 0xDA)
			return -1;
		i += 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
	}
	return -1;
}

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xFFFFFFFFu;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* PNG in and out, the answer's format (format, Accept, the input's), JPEG
 * chroma subsampling read from the SOF, and a PNG bomb. */
static void test_frames_png(int port)
{
	static const char *const png_ct[] = {"Content-Type: image/png", NULL};
	static const char *const jpeg_ct[] = {"Content-Type: image/jpeg", NULL};
	static const char *const png_accept_jpeg[] = {"Content-Type: image/png", "Accept: image/jpeg", NULL};
	static const char *const jpeg_accept_png[] = {"Content-Type: image/jpeg",
						      "Accept: image/jpeg;q=0.5, image/png", NULL};
	static const char *const jpeg_accept_wild[] = {"Content-Type: image/jpeg",
						       "Accept: image/*;q=0.9, image/png;q=0.2", NULL};
	dn_image img;
	void *png = NULL, *jpg;
	size_t plen = 0, jlen;
	resp r;
	char v[256];

	CHECK(dn_image_alloc(&img, 120, 80, 3, NULL) == DN_OK);
	for (size_t i = 0; i < (size_t)120 * 80 * 3; i++)
		img.data[i] = (unsigned char)(i * 7 % 251);
	CHECK(dn_image_encode_as(&img, DN_IMAGE_PNG, 0, DN_SUBSAMP_KEEP, &png, &plen, NULL) == DN_OK);
	dn_image_free(&img);
	jpg = make_jpeg(120, 80, 3, &jlen); /* 4:2:0 */
	CHECK(png && jpg);
	{
		req q = {.path = "/v1/frames:denoise", .headers = png_ct, .body = png, .len = plen};
		dn_image out;

		/* PNG in, no preference: PNG out. */
		http(port, &q, &r);
		CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body ? r.body : "");
		CHECK(header(&r, "Content-Type", v, sizeof v) && strcmp(v, "image/png") == 0);
		CHECK(header(&r, "Content-Disposition", v, sizeof v) && strstr(v, "denoised.png"));
		CHECK(header(&r, "Vary", v, sizeof v) && strstr(v, "Accept"));
		CHECK(dn_image_decode(r.body, r.len, 0, &out, NULL) == DN_OK && out.format == DN_IMAGE_PNG &&
		      out.w == 120 && out.h == 80 && out.channels == 3);
		dn_image_free(&out);
		resp_free(&r);
		/* Accept: image/jpeg: a JPEG, 4:4:4 by default from a PNG. */
		q.headers = png_accept_jpeg;
		http(port, &q, &r);
		CHECK(r.status == 200 && header(&r, "Content-Type", v, sizeof v) && strcmp(v, "image/jpeg") == 0);
		CHECK_MSG(sof_sampling(r.body, r.len, 0) == 0x11 && sof_sampling(r.body, r.len, 1) == 0x11 &&
			      sof_sampling(r.body, r.len, 2) == 0x11,
			  "luma sampling %#x", sof_sampling(r.body, r.len, 0));
		resp_free(&r);
		/* ... or 4:2:0 when asked. */
		q.path = "/v1/frames:denoise?subsampling=420";
		http(port, &q, &r);
		CHECK(r.status == 200 && sof_sampling(r.body, r.len, 0) == 0x22 &&
		      sof_sampling(r.body, r.len, 1) == 0x11);
		resp_free(&r);
		/* The format parameter wins over Accept. */
		q.path = "/v1/frames:denoise?format=png";
		http(port, &q, &r);
		CHECK(r.status == 200 && header(&r, "Content-Type", v, sizeof v) && strcmp(v, "image/png") == 0);
		resp_free(&r);
		q.path = "/v1/frames:denoise?format=gif";
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "bad-parameter");
		CHECK(r.body && strstr(r.body, "format 'gif'") && strstr(r.body, "png or jpeg"));
		resp_free(&r);
		q.path = "/v1/frames:denoise?subsampling=422";
		http(port, &q, &r);
		CHECK_PROBLEM(r, 400, "bad-parameter");
		CHECK(r.body && strstr(r.body, "444"));
		resp_free(&r);
	}
	{
		req q = {.path = "/v1/frames:denoise", .headers = jpeg_ct, .body = jpg, .len = jlen};

		/* JPEG in: JPEG out keeping 4:2:0; ?subsampling=444 gives 4:4:4. */
		http(port, &q, &r);
		CHECK(r.status == 200 && header(&r, "Content-Type", v, sizeof v) && strcmp(v, "image/jpeg") == 0);
		CHECK(sof_sampling(r.body, r.len, 0) == 0x22);
		resp_free(&r);
		q.path = "/v1/frames:denoise?subsampling=444";
		http(port, &q, &r);
		CHECK(r.status == 200 && sof_sampling(r.body, r.len, 0) == 0x11);
		resp_free(&r);
		/* Accept by q: image/png (1) over image/jpeg (0.5) ... */
		q.path = "/v1/frames:denoise";
		q.headers = jpeg_accept_png;
		http(port, &q, &r);
		CHECK(r.status == 200 && header(&r, "Content-Type", v, sizeof v) && strcmp(v, "image/png") == 0);
		resp_free(&r);
		/* ... and the most specific range deciding: png 0.2, jpeg 0.9 by image/... */
		q.headers = jpeg_accept_wild;
		http(port, &q, &r);
		CHECK(r.status == 200 && header(&r, "Content-Type", v, sizeof v) && strcmp(v, "image/jpeg") == 0);
		resp_free(&r);
	}
	/* A form: a PNG part and a JPEG part, each answered in its own format. */
	{
		jpeg_parts jp = {{png, jpg, png}, {plen, jlen, plen}, {"image/png", "image/jpeg", "image/png"}};
		req q = {.path = "/v1/frames:denoise", .mime = form_frames, .mime_arg = &jp};
		dn_image out[4];
		int n;

		http(port, &q, &r);
		CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body ? r.body : "");
		n = mixed_parts(&r, out, 4);
		CHECK_MSG(n == 3, "%d parts", n);
		if (n == 3)
			CHECK(out[0].format == DN_IMAGE_PNG && out[1].format == DN_IMAGE_JPEG &&
			      out[2].format == DN_IMAGE_PNG);
		CHECK(r.body && memmem(r.body, r.len, "Content-Type: image/png", 23) &&
		      memmem(r.body, r.len, "filename=\"a.png\"", 16));
		for (int i = 0; i < n; i++)
			dn_image_free(&out[i]);
		resp_free(&r);
		q.path = "/v1/frames:denoise?format=jpeg";
		http(port, &q, &r);
		n = mixed_parts(&r, out, 4);
		CHECK(n == 3 && out[0].format == DN_IMAGE_JPEG && out[2].format == DN_IMAGE_JPEG);
		CHECK(r.body && memmem(r.body, r.len, "filename=\"a.jpg\"", 16) &&
		      !memmem(r.body, r.len, "Content-Type: image/png", 23));
		for (int i = 0; i < n; i++)
			dn_image_free(&out[i]);
		resp_free(&r);
	}
	/* A PNG bomb: 20000 x 20000 declared in 45 bytes, refused from its IHDR. */
	{
		unsigned char bomb[45] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
		req q = {.path = "/v1/frames:denoise", .headers = png_ct, .body = bomb, .len = sizeof bomb};

		put_be32(bomb + 16, 20000);
		put_be32(bomb + 20, 20000);
		bomb[24] = 8;
		bomb[25] = 2;
		put_be32(bomb + 29, crc32_png(bomb + 12, 17));
		put_be32(bomb + 33, 0);
		memcpy(bomb + 37, "IEND", 4);
		put_be32(bomb + 41, crc32_png(bomb + 37, 4));
		http(port, &q, &r);
		CHECK_PROBLEM(r, 413, "frame-over-limit");
		CHECK(r.body && strstr(r.body, "20000x20000") && strstr(r.body, "max_frame_pixels is 100000"));
		resp_free(&r);
	}
	free(png);
	free(jpg);
}

int main(void)
{
	daemon_proc d;
	char conf[4096];

	harness_begin();
	wav1 = make_wav(16000, 1.0, &wav1_len);
	wav_long = make_wav(16000, 15.0, &wav_long_len);
	wav_big = make_wav(16000, 40.0, &wav_big_len); /* 1.28 MB: over the 1 MiB limit */
	CHECK(wav1 && wav_long && wav_big);
	/* Models: two audio models and a frame model. alt has 16 filters, so
	 * that its requests take long enough to overlap others (overload) and
	 * signals (reload, drain) on any CPU. */
	CHECK(run("mkdir -p '%s' && cd '%s' && D='%s/tools/denoise' && "
		  "$D model-init speech.safetensors --filters 4 --depth 2 >/dev/null && "
		  "$D model-init alt.safetensors --filters 16 --depth 2 --seed 2 >/dev/null && "
		  "$D model-init frame.safetensors --filters 4 --depth 2 --kind frame >/dev/null",
		  path_in_tmp("models"), path_in_tmp("models"), builddir) == 0);

	snprintf(conf, sizeof conf,
		 "# the API test's configuration\n"
		 "models = %s\n"
		 "default_model = speech\n"
		 "cores = 2\n"
		 "workers = 1\n"
		 "queue_length = 1\n"
		 "max_body_bytes = 1M\n"
		 "max_audio_seconds = 20\n"
		 "max_frame_pixels = 100000\n"
		 "connection_timeout = 2\n"
		 "request_timeout = 4\n"
		 "cors_origins = https://app.example, https://other.example\n"
		 "log_level = info\n",
		 path_in_tmp("models"));
	{
		size_t n;
		/* Over max_audio_seconds (25 s) yet under the byte limit (400 KB). */
		void *w = make_wav(8000, 25.0, &n);

		CHECK(w != NULL);
		if (start_daemon(&d, "main", conf, NULL) != 0) {
			CHECK_MSG(0, "the daemon did not start");
			free(w);
			return check_status();
		}
		test_health_and_docs(d.port);
		test_models(d.port);
		test_model_cards(d.port);
		test_audio(d.port);
		/* Longer than max_audio_seconds: 413, found from the header. */
		{
			static const char *const wav_ct[] = {"Content-Type: audio/wav", NULL};
			req q = {.path = "/v1/audio:denoise", .headers = wav_ct, .body = w, .len = n};
			resp r;

			http(d.port, &q, &r);
			CHECK_PROBLEM(r, 413, "audio-over-limit");
			resp_free(&r);
		}
		free(w);
	}
	test_multipart(d.port);
	test_frames(d.port);
	test_frames_png(d.port);
	test_body_limits(d.port);
	test_cors(d.port);
	test_slow_clients(d.port);
	test_overload(d.port);
	test_metrics(d.port);
	test_reload(&d);
	CHECK(log_contains(&d, "POST /v1/audio:denoise 200 in="));
	CHECK(log_contains(&d, "POST /v1/frames:denoise 200 in="));
	CHECK(log_contains(&d, "POST /v1/frames:denoise 413 in="));
	test_drain(&d);
	test_auth();
	test_check_config();
	test_defaults();

	free(wav1);
	free(wav_long);
	free(wav_big);
	harness_end(check_failures, "daemon logs");
	return check_status();
}
