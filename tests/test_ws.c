/*
 * test_ws.c — GET /v1/audio:stream against the real daemon, spoken to by a
 * raw WebSocket client (tests/harness.c), and the handshake's SHA-1 and
 * base64 against the standards' test vectors.
 *
 * The daemon serves a random causal model with a lookahead of one frame
 * (denoise model-init --causal --lookahead 1: 32 ms of window + 8 ms) and
 * a plain one, with max_streams 2 and a 1 s idle timeout. Checked: a GET
 * without the upgrade gets 426; the handshake's accept key; a sine+noise
 * signal sent in 37 ms messages (one of them fragmented, a ping between its
 * fragments) comes back, in binary messages, as exactly the bytes `denoise
 * stream` makes of it, with "ready" first and "done" and its counts at the
 * close; the configuration as a first JSON message; a bad format, a model
 * that is not causal, a third stream, an idle stream and an unmasked frame
 * each get their JSON problem and close code; audio sent far faster than
 * real time is told it is behind; /v1/models shows the latency and the
 * lookahead.
 */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/ws.h"
#include "tests/check.h"
#include "tests/harness.h"

char tmp[] = "/tmp/dn_test_ws_XXXXXX";
const char *builddir;

static void test_vectors(void)
{
	/* FIPS 180 examples, and a message whose padding needs a second block */
	static const struct {
		const char *msg;
		const char *hex;
	} v[] = {
	    {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
	    {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
	    {"The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		unsigned char d[20];
		char hex[41];
		ws_sha1(v[i].msg, strlen(v[i].msg), d);
		for (int k = 0; k < 20; k++)
			snprintf(hex + 2 * k, 3, "%02x", d[k]);
		CHECK_MSG(!strcmp(hex, v[i].hex), "sha1(\"%s\") = %s, expected %s", v[i].msg, hex, v[i].hex);
	}
	/* a million 'a' (FIPS 180-2 appendix) */
	char *m = malloc(1000000);
	memset(m, 'a', 1000000);
	unsigned char d[20];
	ws_sha1(m, 1000000, d);
	free(m);
	char hex[41];
	for (int k = 0; k < 20; k++)
		snprintf(hex + 2 * k, 3, "%02x", d[k]);
	CHECK_MSG(!strcmp(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"), "sha1(a x 1e6) = %s", hex);
	/* RFC 4648 section 10 */
	static const char *const b64[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
	                                     {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
	                                     {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < 7; i++) {
		char out[16];
		ws_base64((const unsigned char *)b64[i][0], strlen(b64[i][0]), out);
		CHECK_MSG(!strcmp(out, b64[i][1]), "base64(\"%s\") = %s", b64[i][0], out);
	}
	/* RFC 6455 section 1.3 */
	char acc[29];
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc);
	CHECK(!strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
}

/* 1.2 s of a sine chord and noise, s16le mono 16 kHz. */
static unsigned char *make_pcm(size_t frames)
{
	unsigned char *b = malloc(frames * 2);
	uint32_t s = 7;
	for (size_t i = 0; i < frames; i++) {
		double t = (double)i / 16000;
		s = s * 1664525u + 1013904223u;
		double v = 0.3 * sin(2 * M_PI * 220 * t) + 0.2 * sin(2 * M_PI * 1330 * t) +
		           0.1 * ((double)(s >> 8) / 8388608.0 - 1.0);
		int16_t q = (int16_t)lrint(v * 32767);
		b[2 * i] = (unsigned char)(q & 0xff);
		b[2 * i + 1] = (unsigned char)((uint16_t)q >> 8);
	}
	return b;
}

/* Reads messages until the close frame: binary ones appended to *pcm, the
 * text ones' JSON kept by type (ready, done, behind, error) in *texts.
 * Returns the close code (0 if none came). */
static int drain(int fd, unsigned char **pcm, size_t *pcm_len, json_t *texts, int wait_ms)
{
	for (;;) {
		unsigned char *d;
		size_t n;
		int op = ws_recv(fd, &d, &n, wait_ms);
		if (op <= 0)
			return 0;
		if (op == 2 && pcm) {
			*pcm = realloc(*pcm, *pcm_len + n);
			memcpy(*pcm + *pcm_len, d, n);
			*pcm_len += n;
		} else if (op == 1) {
			json_t *j = json_loads((const char *)d, 0, NULL);
			const char *t = json_string_value(json_object_get(j, "type"));
			if (t && !strcmp(t, "behind"))
				json_object_set(texts, "behind", j);
			else if (t && strstr(t, "urn:"))
				json_object_set(texts, "error", j);
			else if (t)
				json_object_set(texts, t, j);
			json_decref(j);
		} else if (op == 8) {
			int code = n >= 2 ? d[0] << 8 | d[1] : 1005;
			free(d);
			return code;
		}
		free(d);
	}
}

static const char *error_type(json_t *texts)
{
	return json_string_value(json_object_get(json_object_get(texts, "error"), "type"));
}

/* Opens target and expects it to be refused over the socket: the close
 * code, and the problem type ending in slug. */
static void expect_refused(int port, const char *target, int code, const char *slug)
{
	char head[4096];
	int st, fd, got;
	json_t *t;
	/* Streams closed just before give their slots back on their own
	 * threads, slower under the sanitizers: while the refusal is for want
	 * of a slot and another one is expected, try again (for up to 10 s). */
	for (int tries = 0;; tries++) {
		fd = ws_open(port, target, NULL, head, sizeof head, &st);
		CHECK_MSG(fd >= 0, "%s: no upgrade (status %d)", target, st);
		if (fd < 0)
			return;
		t = json_object();
		got = drain(fd, NULL, NULL, t, 5000);
		if (got != 1013 || code == 1013 || tries == 50)
			break;
		json_decref(t);
		ws_drop(fd);
		sleep_ms(200);
	}
	const char *type = error_type(t);
	CHECK_MSG(got == code, "%s: close code %d, expected %d", target, got, code);
	CHECK_MSG(type && strstr(type, slug), "%s: problem type %s, expected %s", target, type ? type : "(none)",
	          slug);
	CHECK(json_string_value(json_object_get(json_object_get(t, "error"), "detail")) != NULL);
	json_decref(t);
	ws_drop(fd);
}

static void test_daemon(void)
{
	if (run("%s/tools/denoise model-init --causal --lookahead 1 --filters 4 --depth 2 --seed 3 "
	        "%s/models/live.safetensors "
	        ">/dev/null 2>&1",
	        builddir, tmp) ||
	    run("%s/tools/denoise model-init --filters 4 --depth 2 %s/models/plain.safetensors >/dev/null "
	        "2>&1",
	        builddir, tmp)) {
		CHECK_MSG(0, "model-init failed");
		return;
	}
	const size_t frames = 19200;
	unsigned char *pcm = make_pcm(frames);
	CHECK(write_file(path_in_tmp("in.raw"), pcm, frames * 2) == 0);
	CHECK(run("%s/tools/denoise stream --quiet --model %s/models/live.safetensors <%s/in.raw >%s/cli.raw",
	          builddir, tmp, tmp, tmp) == 0);
	char conf[1024];
	snprintf(conf, sizeof conf,
	         "models = %s/models\ndefault_model = plain\nmax_streams = 2\nstream_idle_timeout = 1\n"
	         "stream_max_lag = 0.25\nworkers = 1\ncores = 1\nlog_level = info\n",
	         tmp);
	daemon_proc d;
	if (start_daemon(&d, "ws", conf, NULL) != 0) {
		CHECK_MSG(0, "the daemon did not start");
		free(pcm);
		return;
	}
	resp r;
	/* not a WebSocket handshake */
	CHECK(get(d.port, "/v1/audio:stream", &r) == 426 && is_problem(&r, 426, "websocket-required"));
	resp_free(&r);
	/* the models list says which can stream */
	CHECK(get(d.port, "/v1/models", &r) == 200);
	json_t *ml = json_loadb(r.body, r.len, 0, NULL);
	resp_free(&r);
	int seen = 0;
	for (size_t i = 0; i < json_array_size(json_object_get(ml, "models")); i++) {
		json_t *m = json_array_get(json_object_get(ml, "models"), i);
		const char *name = json_string_value(json_object_get(m, "name"));
		json_t *sm = json_object_get(m, "streaming");
		if (name && !strcmp(name, "live"))
			seen += json_real_value(json_object_get(sm, "latency_ms")) == 40.0 &&
			        json_real_value(json_object_get(sm, "lookahead_ms")) == 8.0 &&
			        json_integer_value(json_object_get(sm, "lookahead_frames")) == 1 &&
			        json_is_true(json_object_get(json_object_get(m, "unet"), "causal"));
		if (name && !strcmp(name, "plain"))
			seen += json_is_null(sm);
	}
	CHECK_MSG(seen == 2,
	          "/v1/models: streaming latency 40 ms (8 of lookahead) for live and null for plain");
	json_decref(ml);

	/* the echo: 37 ms messages (592 samples), one fragmented with a ping
	 * between its fragments, then close */
	char head[4096];
	int st;
	int fd = ws_open(d.port, "/v1/audio:stream?rate=16000&channels=1&format=s16le&model=live", NULL, head,
	                 sizeof head, &st);
	CHECK_MSG(fd >= 0, "handshake: status %d, head %s", st, head);
	if (fd >= 0) {
		const size_t msg = 592 * 2;
		int pong = 0;
		for (size_t off = 0, k = 0; off < frames * 2; off += msg, k++) {
			size_t n = frames * 2 - off < msg ? frames * 2 - off : msg;
			if (k == 5) {
				/* fragmented: 3 bytes (mid-sample), a ping, the rest */
				CHECK(ws_send(fd, 2, pcm + off, 3, 0) == 0);
				CHECK(ws_send(fd, 9, "hi", 2, 1) == 0);
				CHECK(ws_send(fd, 0, pcm + off + 3, n - 3, 1) == 0);
				continue;
			}
			CHECK(ws_send(fd, 2, pcm + off, n, 1) == 0);
			(void)pong;
		}
		CHECK(ws_send(fd, 8, "\x03\xe8", 2, 1) == 0);
		unsigned char *out = NULL;
		size_t out_len = 0;
		json_t *t = json_object();
		/* pongs are read by drain as other messages: count them there */
		int code = drain(fd, &out, &out_len, t, 10000);
		CHECK_MSG(code == 1000, "echo: close code %d", code);
		json_t *ready = json_object_get(t, "ready"), *done = json_object_get(t, "done");
		CHECK(ready && json_integer_value(json_object_get(ready, "rate")) == 16000 &&
		      json_real_value(json_object_get(ready, "latency_ms")) == 40.0);
		CHECK_MSG(done && json_integer_value(json_object_get(done, "frames_in")) == (json_int_t)frames &&
		              json_integer_value(json_object_get(done, "frames_out")) == (json_int_t)frames,
		          "done: frames_in/out %lld/%lld of %zu",
		          (long long)json_integer_value(json_object_get(done, "frames_in")),
		          (long long)json_integer_value(json_object_get(done, "frames_out")), frames);
		size_t cli_len = 0;
		char *cli = NULL;
		FILE *f = fopen(path_in_tmp("cli.raw"), "rb");
		if (f) {
			cli = malloc(frames * 2 + 1);
			cli_len = fread(cli, 1, frames * 2 + 1, f);
			fclose(f);
		}
		CHECK_MSG(out_len == frames * 2 && cli_len == out_len && !memcmp(out, cli, out_len),
		          "echo: %zu bytes back, the CLI made %zu; equal: %d", out_len, cli_len,
		          out && cli && out_len == cli_len && !memcmp(out, cli, out_len));
		free(cli);
		free(out);
		json_decref(t);
		ws_drop(fd);
	}

	/* the configuration as the first message (no query), then end */
	fd = ws_open(d.port, "/v1/audio:stream?model=live", NULL, head, sizeof head, &st);
	CHECK(fd >= 0);
	if (fd >= 0) {
		const char *cfg = "{\"rate\": 48000, \"channels\": 2, \"format\": \"f32le\"}";
		CHECK(ws_send(fd, 1, cfg, strlen(cfg), 1) == 0);
		float x[2 * 4800];
		for (int i = 0; i < 2 * 4800; i++)
			x[i] = 0.2f * sinf(0.05f * (float)i);
		CHECK(ws_send(fd, 2, x, sizeof x, 1) == 0);
		CHECK(ws_send(fd, 1, "{\"type\": \"end\"}", 15, 1) == 0);
		unsigned char *out = NULL;
		size_t out_len = 0;
		json_t *t = json_object();
		int code = drain(fd, &out, &out_len, t, 10000);
		CHECK_MSG(code == 1000, "config message: close %d", code);
		CHECK(json_integer_value(json_object_get(json_object_get(t, "ready"), "channels")) == 2);
		CHECK_MSG(out_len == sizeof x, "48 kHz stereo f32le: %zu bytes back of %zu", out_len, sizeof x);
		free(out);
		json_decref(t);
		ws_drop(fd);
	}

	/* refusals over the socket */
	expect_refused(d.port, "/v1/audio:stream?model=live&format=u8", 1008, "bad-parameter");
	expect_refused(d.port, "/v1/audio:stream?model=plain&rate=16000", 1008, "model-not-streamable");
	expect_refused(d.port, "/v1/audio:stream?model=nosuch&rate=16000", 1008, "unknown-model");
	/* no model named: the first causal one, not the (plain) default */
	fd = ws_open(d.port, "/v1/audio:stream?rate=16000", NULL, head, sizeof head, &st);
	if (fd >= 0) {
		unsigned char *m;
		size_t n;
		CHECK(ws_recv(fd, &m, &n, 3000) == 1 && strstr((char *)m, "\"model\":\"live\""));
		free(m);
		ws_drop(fd);
	}
	/* an idle stream is closed after stream_idle_timeout */
	expect_refused(d.port, "/v1/audio:stream?model=live&rate=16000", 1001, "stream-idle");
	/* max_streams 2: a third is refused while two run */
	sleep_ms(300); /* the streams above have given their slots back */
	int a = ws_open(d.port, "/v1/audio:stream?model=live&rate=16000", NULL, head, sizeof head, &st);
	int b = ws_open(d.port, "/v1/audio:stream?model=live&rate=16000", NULL, head, sizeof head, &st);
	CHECK(a >= 0 && b >= 0);
	expect_refused(d.port, "/v1/audio:stream?model=live&rate=16000", 1013, "too-many-streams");
	ws_drop(a);
	ws_drop(b);
	/* an unmasked frame breaks the protocol */
	sleep_ms(1500); /* a and b time out and free their slots */
	fd = ws_open(d.port, "/v1/audio:stream?model=live&rate=16000", NULL, head, sizeof head, &st);
	if (fd >= 0) {
		CHECK(ws_send_unmasked(fd, 2, pcm, 64) == 0);
		json_t *t = json_object();
		int code = drain(fd, NULL, NULL, t, 5000);
		CHECK_MSG(code == 1002 && error_type(t) && strstr(error_type(t), "websocket-protocol"),
		          "unmasked frame: close %d", code);
		json_decref(t);
		ws_drop(fd);
	}
	/* a ping is answered with its payload */
	fd = ws_open(d.port, "/v1/audio:stream?model=live&rate=16000", NULL, head, sizeof head, &st);
	if (fd >= 0) {
		unsigned char *m;
		size_t n;
		CHECK(ws_recv(fd, &m, &n, 3000) == 1); /* ready */
		free(m);
		CHECK(ws_send(fd, 9, "abc", 3, 1) == 0);
		CHECK(ws_recv(fd, &m, &n, 3000) == 10 && n == 3 && !memcmp(m, "abc", 3));
		free(m);
		/* 20 s of audio at once: far faster than real time, so behind */
		size_t big = 16000 * 20 * 2;
		unsigned char *z = calloc(big, 1);
		CHECK(ws_send(fd, 2, z, big, 1) == 0);
		CHECK(ws_send(fd, 8, "\x03\xe8", 2, 1) == 0);
		unsigned char *out = NULL;
		size_t out_len = 0;
		json_t *t = json_object();
		CHECK(drain(fd, &out, &out_len, t, 30000) == 1000);
		json_t *bh = json_object_get(t, "behind");
		CHECK_MSG(bh && json_real_value(json_object_get(bh, "lag_seconds")) > 0.25 &&
		              json_string_value(json_object_get(bh, "detail")),
		          "20 s at once: no \"behind\" message");
		CHECK(out_len == big);
		CHECK(json_integer_value(json_object_get(json_object_get(t, "done"), "behind")) >= 1);
		free(out);
		free(z);
		json_decref(t);
		ws_drop(fd);
	}
	CHECK(log_contains(&d, "GET /v1/audio:stream"));
	CHECK(stop_daemon(&d, SIGTERM) == 0);
	free(pcm);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	builddir = getenv("DN_BUILDDIR") ? getenv("DN_BUILDDIR") : ".";
	if (!mkdtemp(tmp))
		return 1;
	run("mkdir -p %s/models", tmp);
	test_vectors();
	test_daemon();
	run("rm -rf %s", tmp);
	return check_status();
}
