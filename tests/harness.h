/*
 * harness.h — the HTTP test harness that test_api and test_jobs share.
 *
 * Starts the real daemon ($DN_BUILDDIR/daemon/denoised) on 127.0.0.1 port 0,
 * learns the bound port through --port-file, stops it with a signal and
 * reads its exit code; speaks HTTP to it with libcurl and checks
 * problem+json answers. Every wait is bounded, so a hung daemon fails the
 * test instead of hanging it.
 *
 * Each test program that links harness.c defines `tmp` (its scratch
 * directory, made with mkdtemp before any helper here runs) and `builddir`
 * (where the daemon binary lies); the harness only reads them. It holds no
 * check counters: the CHECK macros of check.h stay in the test programs.
 */
#ifndef DN_TESTS_HARNESS_H
#define DN_TESTS_HARNESS_H

#include <curl/curl.h>
#include <stddef.h>
#include <sys/types.h>

/* Defined by the test program: its scratch directory and build directory. */
extern char tmp[];
extern const char *builddir;

/* ---- a test program's start and end ---- */

/* Sets builddir from $DN_BUILDDIR (else "."), ignores SIGPIPE, makes tmp
 * (mkdtemp; exits 1 when it cannot) and starts libcurl. */
void harness_begin(void);
/* Stops libcurl; removes tmp when failures is 0, else says it is kept
 * (what holds: what). Returns failures ? 1 : 0. */
int harness_end(int failures, const char *what);

/* ---- small helpers ---- */

/* tmp/name in one of eight rotating static buffers (not thread-safe). */
char *path_in_tmp(const char *name);
/* Writes len bytes to path; 0 or -1. */
int write_file(const char *path, const void *data, size_t len);
/* The whole file as a NUL-terminated string (caller frees); NULL if unreadable. */
char *read_text(const char *path);
void sleep_ms(int ms);
/* Runs a shell command made with printf's format; its exit status, 128 if it
 * did not exit normally. */
int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the daemon ---- */

typedef struct daemon_proc {
	pid_t pid;
	int port;
	char log[512];
} daemon_proc;

/* Starts the daemon with conf (a config file's text, or NULL) and extra
 * NULL-terminated flags; its stderr goes to tmp/name.log. Waits up to 120 s
 * for the port file; 0, or -1 (the log is printed) when it did not start. */
int start_daemon(daemon_proc *d, const char *name, const char *conf, const char *const *flags);
/* Sends sig and waits (bounded) for the exit; returns the exit code, or -1
 * when killed by a signal or stuck. */
int stop_daemon(daemon_proc *d, int sig);
/* Whether the daemon's log holds needle. */
int log_contains(const daemon_proc *d, const char *needle);

/* ---- HTTP with libcurl ---- */

typedef struct resp {
	CURLcode rc;
	long status;
	char *body;
	size_t len;
	char headers[8192];
	size_t hlen;
} resp;

typedef struct req {
	const char *method; /* NULL: GET, or POST when there is a body */
	const char *path;
	const char *const *headers; /* NULL-terminated */
	const void *body;
	size_t len;
	int chunked; /* send the body with Transfer-Encoding: chunked */
	curl_mime *(*mime)(CURL *c, void *arg);
	void *mime_arg;
	const char *token;
} req;

/* Frees r's body and zeroes r. */
void resp_free(resp *r);
/* The value of header name in r (last one wins), into out; 0 if absent. */
int header(const resp *r, const char *name, char *out, size_t cap);
/* An easy handle set up for q, writing into r (zeroed first); the caller
 * frees *hl with curl_slist_free_all and *mime with curl_mime_free once the
 * transfer is done. NULL when curl cannot make a handle. */
CURL *prepare(int port, const req *q, resp *r, struct curl_slist **hl, curl_mime **mime);
/* Performs q and fills r; the caller frees r with resp_free. */
void http(int port, const req *q, resp *r);
/* GET path; returns the status. */
long get(int port, const char *path, resp *r);
/* A sample of a Prometheus metric of /metrics with exactly these labels
 * ("name{a=\"b\"}"); -1 if absent. */
double metric(int port, const char *series);
/* The problem+json answer's type ends with slug, with the right status. */
int is_problem(const resp *r, long status, const char *slug);

/* ---- raw sockets, for what curl will not do ---- */

/* A TCP connection to 127.0.0.1:port, from the local address `from` (another
 * loopback address such as 127.0.0.2 makes another client) or any when NULL;
 * -1 on failure. */
int sock_connect_from(int port, const char *from);
/* Sends all of data; 0, or -1 when the peer is gone. */
int sock_send(int fd, const void *data, size_t len);
/* Reads until the peer closes or wait_ms passes; bytes read (buf is
 * NUL-terminated), *closed set when the peer closed. */
size_t sock_read(int fd, char *buf, size_t cap, int wait_ms, int *closed);
/* Whether the peer has closed fd (without waiting). */
int sock_closed(int fd);

/* Needs check.h's CHECK_MSG, included by the test program. */
#define CHECK_PROBLEM(r_, status_, slug_)                                                                    \
	CHECK_MSG(is_problem(&(r_), status_, slug_), "want %d %s, got %ld (curl %d): %s", (int)(status_),    \
	          slug_, (r_).status, (int)(r_).rc, (r_).body ? (r_).body : "(no body)")

/* ---- a raw WebSocket client (RFC 6455), for GET /v1/audio:stream ---- */

/* Connects and sends the handshake for target (path and query) with extra
 * header lines (each ending in CRLF, or NULL). Reads the answer's head into
 * head (cap bytes) and returns the socket when it is 101 with the right
 * Sec-WebSocket-Accept, else -1 (head still holds what came; *status the
 * HTTP status, 0 if none). Bytes that came after the head (the server's
 * first frames) are kept for ws_recv. */
int ws_open(int port, const char *target, const char *extra, char *head, size_t cap, int *status);
/* Sends one frame, masked as a client must; fin 0 starts or continues a
 * fragmented message. 0 or -1. */
int ws_send(int fd, int opcode, const void *data, size_t len, int fin);
/* An unmasked frame, which a client must not send (for protocol tests). */
int ws_send_unmasked(int fd, int opcode, const void *data, size_t len);
/* Receives one whole message (fragments joined) within wait_ms: returns its
 * opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong), with *len bytes in
 * *data (malloc'd, NUL-terminated; caller frees); 0 on timeout, -1 when the
 * connection closed. For a close frame, *data holds the payload (2-byte
 * code, then the reason). */
int ws_recv(int fd, unsigned char **data, size_t *len, int wait_ms);
/* Closes fd and forgets its buffered bytes. */
void ws_drop(int fd);

#endif
