/*
 * config.c — the table of configuration keys and everything it drives.
 *
 * Defaults are written in the table as text and go through the same parser
 * as the file and the flags, so a default can never be a value the parser
 * would refuse, and `--print-config` shows exactly what the table says.
 */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cuda/cuda.h"

enum cfg_type { CFG_STRING, CFG_INT, CFG_SIZE, CFG_DOUBLE, CFG_ENUM, CFG_LIST };

typedef struct cfg_key {
	const char *name;
	int type;
	size_t offset;
	const char *def;
	double min, max;            /* inclusive bounds for numbers */
	const char *const *choices; /* CFG_ENUM: names, index = value */
	const char *arg;            /* placeholder in --help */
	const char *help;
} cfg_key;

static const char *const log_levels[] = {"error", "warning", "info", "debug", NULL};
static const char *const cpu_precisions[] = {"bf16", "fp32", NULL};

#define OFF(field) offsetof(daemon_config, field)

/* The one table. Order is the order of --help and of etc/denoised.conf. */
static const cfg_key keys[] = {
    {"listen", CFG_STRING, OFF(listen), "127.0.0.1", 0, 0, NULL, "ADDR",
     "IP address to listen on: an IPv4 or IPv6 literal; 0.0.0.0 or :: for every interface."},
    {"port", CFG_INT, OFF(port), "8080", 0, 65535, NULL, "N",
     "TCP port to listen on. 0 lets the system pick a free port (see port_file)."},
    {"port_file", CFG_STRING, OFF(port_file), "", 0, 0, NULL, "FILE",
     "If set, the bound port is written to this file once the daemon listens (useful with port 0)."},
    {"cores", CFG_INT, OFF(cores), "0", 0, 4096, NULL, "N",
     "CPU cores the daemon may use for inference. 0: the CPUs this process may run on. "
     "workers x blas_threads must not exceed it."},
    {"workers", CFG_INT, OFF(workers), "0", 0, 1024, NULL, "N",
     "Inference worker threads; each holds its own context per model. 0: cores / blas_threads."},
    {"blas_threads", CFG_INT, OFF(blas_threads), "1", 1, 1024, NULL, "N",
     "Threads each request uses: the chunks of a long audio file or the tiles of a large frame "
     "run on that many threads at once, each with single-threaded GEMMs (same output). Either "
     "many one-thread workers (the default: most requests per second) or fewer workers with "
     "more threads (lower latency for long files); never N x N."},
    {"queue_length", CFG_INT, OFF(queue_length), "64", 1, 65536, NULL, "N",
     "Requests that may wait for a worker; beyond it requests get 503 with Retry-After."},
    {"http_threads", CFG_INT, OFF(http_threads), "2", 1, 64, NULL, "N",
     "Threads of the HTTP server. They only move bytes and answer cheap routes; "
     "inference always runs on the workers."},
    {"max_connections", CFG_INT, OFF(max_connections), "256", 1, 65536, NULL, "N",
     "Concurrent client connections; further connections are refused."},
    {"max_connections_per_client", CFG_INT, OFF(max_connections_per_client), "32", 0, 65536, NULL, "N",
     "Concurrent connections from one client address; further ones from it are refused, so that "
     "one client cannot take every slot of max_connections. 0: no per-client limit."},
    {"models", CFG_LIST, OFF(models), "", 0, 0, NULL, "LIST",
     "Model files (.safetensors) or directories holding them, comma-separated. Each model is "
     "served under its file name without the extension. Empty: the shipped models, "
     "models/ of the installed data directory ($DENOISE_DATADIR overrides the directory)."},
    {"strict_models", CFG_INT, OFF(strict_models), "0", 0, 1, NULL, "0|1",
     "1: a model file that fails to load stops the start (exit 2). 0: the models that load "
     "serve, readiness and /metrics name the broken ones, and the start fails only when none "
     "loads."},
    {"max_models", CFG_INT, OFF(max_models), "64", 1, 100000, NULL, "N",
     "Models served at once, configured and registered together. A registration (POST /v1/models, "
     "register_as) of a new name beyond it gets 507 too-many-models; files beyond it at a start "
     "or reload are left out and reported like broken ones."},
    {"default_model", CFG_STRING, OFF(default_model), "", 0, 0, NULL, "NAME",
     "Model used when a request names none. Empty: the first audio model by name."},
    {"max_body_bytes", CFG_SIZE, OFF(max_body_bytes), "64M", 1024, 4294967296.0, NULL, "SIZE",
     "Largest request body accepted, in bytes (suffixes K, M, G: powers of 1024). Larger "
     "bodies get 413 before they are read."},
    {"max_audio_seconds", CFG_DOUBLE, OFF(max_audio_seconds), "600", 0.001, 86400, NULL, "SECONDS",
     "Longest audio accepted by /v1/audio:denoise; longer audio gets 413."},
    {"memory_budget", CFG_SIZE, OFF(memory_budget), "1G", 65536, 1099511627776.0, NULL, "SIZE",
     "Memory that request bodies in flight and the decoded audio and frames of requests being "
     "served may hold together (max_connections x max_body_bytes alone would be far more). A "
     "request that would go over it gets 503 with Retry-After."},
    {"max_decoded_audio_bytes", CFG_SIZE, OFF(max_decoded_audio_bytes), "256M", 65536, 17179869184.0, NULL,
     "SIZE",
     "Largest decoded audio (channels x frames x 4 bytes) accepted by /v1/audio:denoise; checked "
     "from the header before decoding, so a small compressed file cannot expand past it. Larger "
     "audio gets 413."},
    {"max_frame_pixels", CFG_SIZE, OFF(max_frame_pixels), "16M", 1, 1099511627776.0, NULL, "PIXELS",
     "Largest frame (width x height) accepted by /v1/frames:denoise, per frame (suffixes K, M: "
     "powers of 1024); checked from the JPEG header or PNG IHDR before decoding, larger frames "
     "get 413."},
    {"connection_timeout", CFG_INT, OFF(connection_timeout), "30", 1, 3600, NULL, "SECONDS",
     "A connection with no bytes moving for this long is closed."},
    {"request_timeout", CFG_INT, OFF(request_timeout), "120", 1, 86400, NULL, "SECONDS",
     "Time allowed to receive a whole request body; a client trickling bytes is cut off after it."},
    {"request_deadline", CFG_DOUBLE, OFF(request_deadline), "300", 0, 86400, NULL, "SECONDS",
     "Longest a denoising request may take from its arrival to its answer; work still running "
     "then is stopped (between chunks or tiles) and the client gets 504. Work for a client that "
     "has closed its connection stops the same way. 0: no deadline."},
    {"header_timeout", CFG_INT, OFF(header_timeout), "10", 0, 3600, NULL, "SECONDS",
     "Time allowed for a request's headers to arrive, from the connection (or the end of the "
     "previous request on it); a client trickling header bytes is cut off after it. 0: only "
     "connection_timeout applies."},
    {"max_streams", CFG_INT, OFF(max_streams), "8", 0, 4096, NULL, "N",
     "Live streams of GET /v1/audio:stream (WebSocket) at once, each on its own thread running a "
     "causal model frame by frame; one more is closed with code 1013 and a JSON message. 0: no "
     "streaming."},
    {"stream_idle_timeout", CFG_DOUBLE, OFF(stream_idle_timeout), "10", 0.1, 3600, NULL, "SECONDS",
     "A stream that receives nothing (no audio, no ping) for this long is closed with code 1001 "
     "and a JSON message."},
    {"stream_max_lag", CFG_DOUBLE, OFF(stream_max_lag), "1", 0.02, 60, NULL, "SECONDS",
     "Audio a stream may have waiting unprocessed (received but not yet denoised) before the "
     "server tells the client it is behind real time (a JSON text message, at most once a "
     "second); the server never buffers more than its socket holds."},
    {"drain_timeout", CFG_INT, OFF(drain_timeout), "30", 0, 3600, NULL, "SECONDS",
     "On SIGTERM, how long to wait for requests in flight before stopping anyway."},
    {"state_dir", CFG_STRING, OFF(state_dir), "", 0, 0, NULL, "DIR",
     "Directory for jobs and their results. Empty: $STATE_DIRECTORY (set by systemd's "
     "StateDirectory=), or none."},
    {"data_roots", CFG_LIST, OFF(data_roots), "", 0, 0, NULL, "LIST",
     "Folders that job data sets may come from, comma-separated. A job's dataset is a built-in "
     "name (speech) or a folder under one of these; anything outside (.., symlinks out, other "
     "absolute paths) is refused. Empty: built-in data sets only."},
    {"max_jobs", CFG_INT, OFF(max_jobs), "1", 1, 64, NULL, "N",
     "Training and evaluation jobs running at once, each on its own thread; the others wait."},
    {"max_queued_jobs", CFG_INT, OFF(max_queued_jobs), "16", 1, 10000, NULL, "N",
     "Jobs that may wait to run; beyond it POST /v1/jobs gets 429 with Retry-After."},
    {"max_jobs_kept", CFG_INT, OFF(max_jobs_kept), "1000", 1, 1000000, NULL, "N",
     "Jobs the state directory keeps, in any state (queued, running and finished); beyond it POST "
     "/v1/jobs gets 429 until finished jobs are deleted (DELETE /v1/jobs/{id}, or retention)."},
    {"job_retention_count", CFG_INT, OFF(job_retention_count), "200", 0, 1000000, NULL, "N",
     "Finished jobs kept; beyond it the oldest finished ones are deleted with their folders (a "
     "model a job registered stays). 0: no limit by count."},
    {"job_retention_age", CFG_DOUBLE, OFF(job_retention_age), "2592000", 0, 315360000, NULL, "SECONDS",
     "A finished job is deleted with its folder this long after it finished (2592000: 30 days). "
     "0: kept until deleted."},
    {"job_memory_budget", CFG_SIZE, OFF(job_memory_budget), "8G", 1048576, 1099511627776.0, NULL, "SIZE",
     "Memory a training job's step may need, estimated at submit from its spec (batch x "
     "patch_frames, or patch, x filters x depth); a spec over it gets 422 naming params.batch. "
     "Frame jobs' decoded photographs are bounded by it too."},
    {"job_nice", CFG_INT, OFF(job_nice), "10", 0, 19, NULL, "N",
     "Nice value of job threads: above 0, training and evaluation yield the CPU to requests."},
    {"device", CFG_STRING, OFF(device), "cpu", 0, 0, NULL, "DEVICE",
     "Where the workers run the models' networks: cpu, or cuda (the first GPU) / cuda:N: then each "
     "model gets a GPU server that batches the chunks and tiles of concurrent requests into one "
     "forward (up to gpu_batch). Needs a build with CUDA and a visible device; checked at start."},
    {"cpu_precision", CFG_ENUM, OFF(cpu_precision), "bf16", 0, 0, cpu_precisions, "bf16|fp32",
     "Arithmetic of the models' 3x3 convolutions on the CPU. bf16: on CPUs with AMX-BF16 (Xeon "
     "Sapphire Rapids and later) inputs and weights are rounded to bf16 and summed in fp32 on the "
     "AMX tiles, about twice as fast, within the model cards' measured quality; other CPUs run "
     "fp32 anyway. fp32: always fp32."},
    {"gpu_batch", CFG_INT, OFF(gpu_batch), "8", 1, 64, NULL, "N",
     "With device = cuda: the most chunks or tiles one GPU forward takes."},
    {"job_device", CFG_STRING, OFF(job_device), "cpu", 0, 0, NULL, "DEVICE",
     "Where training jobs run when their spec names no \"device\": cpu, cuda (the first GPU) or "
     "cuda:N. A GPU needs a build with CUDA (configure --with-cuda) and a visible device."},
    {"log_level", CFG_ENUM, OFF(log_level), "info", 0, 0, log_levels, "LEVEL",
     "Least severe messages logged: error, warning, info (one line per request) or debug."},
    {"cors_origins", CFG_LIST, OFF(cors_origins), "", 0, 0, NULL, "LIST",
     "Origins allowed to call the API from a browser, comma-separated, each as "
     "scheme://host[:port]; * allows any. Empty: no cross-origin access."},
    {"api_key_file", CFG_STRING, OFF(api_key_file), "", 0, 0, NULL, "FILE",
     "File holding a bearer token. When set, requests that write or start work (POST, DELETE) "
     "need 'Authorization: Bearer TOKEN'. Empty: no authentication."},
};

#define NKEYS (sizeof keys / sizeof keys[0])

static const cfg_key *find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len && strncmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

static void *field(daemon_config *c, const cfg_key *k)
{
	return (char *)c + k->offset;
}

static const void *cfield(const daemon_config *c, const cfg_key *k)
{
	return (const char *)c + k->offset;
}

/* Integers with an optional K, M or G (binary) suffix, also written KiB, MB... */
static int parse_size(const char *s, double *out)
{
	char *end;
	unsigned long long v;
	double mult = 1;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		mult = 1024.0;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1024.0 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1024.0 * 1024 * 1024;
		end++;
		break;
	default: break;
	}
	if (mult > 1 && *end == 'i')
		end++;
	if (mult > 1 && (*end == 'B' || *end == 'b'))
		end++;
	else if (mult == 1 && *end == 'B')
		end++;
	if (*end)
		return -1;
	*out = (double)v * mult;
	return 0;
}

static int set_value(daemon_config *c, const cfg_key *k, const char *value, dn_error *err)
{
	char *end;

	switch (k->type) {
	case CFG_STRING:
	case CFG_LIST: {
		char *dup = strdup(value);
		char **slot = field(c, k);

		if (!dup)
			return dn_error_set(err, DN_ENOMEM, "out of memory");
		if (k->type == CFG_STRING && strchr(value, '\n')) {
			free(dup);
			return dn_error_set(err, DN_EINVAL, "%s: a value cannot span lines", k->name);
		}
		free(*slot);
		*slot = dup;
		return DN_OK;
	}
	case CFG_INT: {
		long v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end)
			return dn_error_set(err, DN_EINVAL, "%s: '%s' is not an integer", k->name, value);
		if (v < k->min || v > k->max)
			return dn_error_set(err, DN_EINVAL, "%s: %ld is out of range [%.0f, %.0f]", k->name,
			                    v, k->min, k->max);
		*(int *)field(c, k) = (int)v;
		return DN_OK;
	}
	case CFG_SIZE: {
		double v;

		if (parse_size(value, &v) != 0)
			return dn_error_set(err, DN_EINVAL, "%s: '%s' is not a size (bytes, or with K, M, G)",
			                    k->name, value);
		if (v < k->min || v > k->max)
			return dn_error_set(err, DN_EINVAL, "%s: %s is out of range [%.0f, %.0f] bytes",
			                    k->name, value, k->min, k->max);
		*(uint64_t *)field(c, k) = (uint64_t)v;
		return DN_OK;
	}
	case CFG_DOUBLE: {
		double v;

		errno = 0;
		v = strtod(value, &end);
		if (errno || end == value || *end || !isfinite(v))
			return dn_error_set(err, DN_EINVAL, "%s: '%s' is not a number", k->name, value);
		if (v < k->min || v > k->max)
			return dn_error_set(err, DN_EINVAL, "%s: %g is out of range [%g, %g]", k->name, v,
			                    k->min, k->max);
		*(double *)field(c, k) = v;
		return DN_OK;
	}
	case CFG_ENUM:
		for (int i = 0; k->choices[i]; i++)
			if (strcmp(k->choices[i], value) == 0) {
				*(int *)field(c, k) = i;
				return DN_OK;
			}
		return dn_error_set(err, DN_EINVAL, "%s: '%s' is not one of the accepted values", k->name,
		                    value);
	}
	return dn_error_set(err, DN_EINVAL, "%s: bad key type", k->name);
}

void daemon_config_defaults(daemon_config *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < NKEYS; i++) {
		/* The defaults are part of the table and parse by construction;
		 * test_config checks that they do. */
		if (set_value(c, &keys[i], keys[i].def, NULL) != DN_OK)
			abort();
	}
}

void daemon_config_free(daemon_config *c)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == CFG_STRING || keys[i].type == CFG_LIST) {
			char **slot = field(c, &keys[i]);

			free(*slot);
			*slot = NULL;
		}
}

int daemon_config_set(daemon_config *c, const char *key, const char *value, dn_error *err)
{
	const cfg_key *k = find_key(key, strlen(key));

	if (!k)
		return dn_error_set(err, DN_ENOTFOUND, "unknown key '%s'", key);
	return set_value(c, k, value, err);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int daemon_config_load(daemon_config *c, const char *path, dn_error *err)
{
	unsigned char seen[NKEYS] = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = DN_OK;
	FILE *f = fopen(path, "r");

	if (!f)
		return dn_error_set(err, DN_EIO, "%s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *s, *eq, *key, *value;
		const cfg_key *k;
		dn_error e;

		lineno++;
		if ((size_t)n != strlen(line)) {
			rc = dn_error_set(err, DN_EINVAL, "%s:%d: NUL byte in line", path, lineno);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			rc = dn_error_set(err, DN_EINVAL, "%s:%d: expected 'key = value'", path, lineno);
			break;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		k = find_key(key, strlen(key));
		if (!k) {
			rc = dn_error_set(err, DN_EINVAL, "%s:%d: unknown key '%s'", path, lineno, key);
			break;
		}
		if (seen[k - keys]) {
			rc = dn_error_set(err, DN_EINVAL, "%s:%d: '%s' is set twice", path, lineno, key);
			break;
		}
		seen[k - keys] = 1;
		if (*value == '"') {
			size_t len = strlen(value);

			if (len < 2 || value[len - 1] != '"') {
				rc = dn_error_set(err, DN_EINVAL, "%s:%d: unterminated quote", path, lineno);
				break;
			}
			value[len - 1] = '\0';
			value++;
		}
		if (set_value(c, k, value, &e) != DN_OK) {
			rc = dn_error_set(err, e.code, "%s:%d: %s", path, lineno, e.msg);
			break;
		}
	}
	if (rc == DN_OK && ferror(f))
		rc = dn_error_set(err, DN_EIO, "%s: read error", path);
	free(line);
	fclose(f);
	return rc;
}

/* --some-key -> some_key; returns 0 if the flag is not a key of the table. */
static const cfg_key *flag_key(const char *flag, size_t len)
{
	char name[64];

	if (len >= sizeof name)
		return NULL;
	for (size_t i = 0; i < len; i++)
		name[i] = flag[i] == '-' ? '_' : flag[i];
	return find_key(name, len);
}

int daemon_config_from_args(daemon_config *c, daemon_options *o, int argc, char **argv, dn_error *err)
{
	memset(o, 0, sizeof *o);
	daemon_config_defaults(c);

	/* First pass: the options that are not keys, and the file to read. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			o->help = 1;
		else if (strcmp(a, "--version") == 0)
			o->version = 1;
		else if (strcmp(a, "--check-config") == 0)
			o->check_config = 1;
		else if (strcmp(a, "--print-config") == 0)
			o->print_config = 1;
		else if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
			if (i + 1 >= argc)
				return dn_error_set(err, DN_EINVAL, "%s needs a file name", a);
			o->config_path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0)
			o->config_path = a + 9;
		else if (strncmp(a, "--", 2) == 0) {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);

			if (!flag_key(a + 2, len))
				return dn_error_set(err, DN_EINVAL, "unknown option '%s' (see --help)", a);
			if (!eq && ++i >= argc)
				return dn_error_set(err, DN_EINVAL, "%s needs a value", a);
		} else
			return dn_error_set(err, DN_EINVAL, "unexpected argument '%s' (see --help)", a);
	}
	if (o->help || o->version || o->print_config)
		return DN_OK;
	if (o->config_path) {
		int rc = daemon_config_load(c, o->config_path, err);

		if (rc != DN_OK)
			return rc;
	}
	/* Second pass: flags override the file. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *value;
		const cfg_key *k;
		size_t len;
		dn_error e;

		if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--", 2) != 0)
			continue;
		eq = strchr(a + 2, '=');
		len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
		k = flag_key(a + 2, len);
		if (!k)
			continue;
		value = eq ? eq + 1 : argv[++i];
		if (set_value(c, k, value, &e) != DN_OK)
			return dn_error_set(err, e.code, "--%.*s: %s", (int)len, a + 2, e.msg);
	}
	return DN_OK;
}

static int available_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int daemon_config_resolve(daemon_config *c, dn_error *err)
{
	if (c->cores == 0)
		c->cores = available_cpus();
	if (c->blas_threads > c->cores)
		return dn_error_set(err, DN_EINVAL, "blas_threads (%d) exceeds cores (%d)", c->blas_threads,
		                    c->cores);
	if (c->workers == 0)
		c->workers = c->cores / c->blas_threads;
	if ((long)c->workers * c->blas_threads > c->cores)
		return dn_error_set(err, DN_EINVAL,
		                    "workers x blas_threads = %d x %d exceeds cores (%d): lower one of them",
		                    c->workers, c->blas_threads, c->cores);
	if (c->listen[0] == '\0')
		return dn_error_set(err, DN_EINVAL, "listen: an address is needed");
	dn_error derr = {0};
	if (dn_device_parse(c->device, &c->device_index, &derr) != DN_OK)
		return dn_error_set(err, DN_EINVAL, "device: %s", derr.msg);
	return DN_OK;
}

static void print_wrapped(FILE *f, const char *prefix, const char *text, size_t width)
{
	const char *p = text;

	while (*p) {
		size_t len = strlen(p), cut = len;

		if (len > width) {
			cut = width;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = width;
		}
		fprintf(f, "%s%.*s\n", prefix, (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static const char *type_name(const cfg_key *k)
{
	switch (k->type) {
	case CFG_STRING: return "string";
	case CFG_INT: return "integer";
	case CFG_SIZE: return "size";
	case CFG_DOUBLE: return "number";
	case CFG_ENUM: return "one of";
	case CFG_LIST: return "list";
	}
	return "?";
}

static void print_type_line(FILE *f, const char *prefix, const cfg_key *k)
{
	fprintf(f, "%s%s", prefix, type_name(k));
	if (k->type == CFG_ENUM) {
		for (int i = 0; k->choices[i]; i++)
			fprintf(f, "%s%s", i ? ", " : " ", k->choices[i]);
	} else if (k->type == CFG_INT || k->type == CFG_SIZE) {
		fprintf(f, ", %.0f to %.0f", k->min, k->max);
	} else if (k->type == CFG_DOUBLE) {
		fprintf(f, ", %g to %g", k->min, k->max);
	}
	fprintf(f, "; default: %s\n", k->def[0] ? k->def : "(empty)");
}

void daemon_config_print_default(FILE *f)
{
	fputs("# denoised.conf: configuration of denoised, the speech and video-frame\n"
	      "# denoising daemon.\n"
	      "#\n"
	      "# Generated by `denoised --print-config` from the table of keys in\n"
	      "# daemon/config.c; `make update-config` regenerates it. Every key is listed\n"
	      "# with its default, commented out. Format: `key = value` per line, `#` starts\n"
	      "# a comment line, a value may be \"double-quoted\". A flag --key VALUE (or\n"
	      "# --key=VALUE, with - for _) overrides the file. `denoised --check-config\n"
	      "# --config FILE` checks a file and the models it names, then exits.\n",
	      f);
	for (size_t i = 0; i < NKEYS; i++) {
		fputc('\n', f);
		print_wrapped(f, "# ", keys[i].help, 76);
		print_type_line(f, "# ", &keys[i]);
		fprintf(f, "#%s = %s\n", keys[i].name, keys[i].def[0] ? keys[i].def : "\"\"");
	}
}

void daemon_config_print(FILE *f, const daemon_config *c)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const cfg_key *k = &keys[i];
		const void *v = cfield(c, k);

		fprintf(f, "%s = ", k->name);
		switch (k->type) {
		case CFG_STRING:
		case CFG_LIST: fprintf(f, "\"%s\"\n", *(char *const *)v); break;
		case CFG_INT: fprintf(f, "%d\n", *(const int *)v); break;
		case CFG_SIZE: fprintf(f, "%llu\n", (unsigned long long)*(const uint64_t *)v); break;
		case CFG_DOUBLE: fprintf(f, "%g\n", *(const double *)v); break;
		case CFG_ENUM: fprintf(f, "%s\n", k->choices[*(const int *)v]); break;
		}
	}
}

void daemon_config_usage(FILE *f, const char *prog)
{
	fprintf(f,
	        "Usage: %s [--config FILE] [--KEY VALUE]...\n"
	        "Serves speech denoising over HTTP (see DESIGN.md, \"HTTP API (v1)\").\n\n"
	        "  -c, --config FILE   read configuration keys from FILE (flags override it)\n"
	        "      --check-config  check the configuration and the models, then exit\n"
	        "      --print-config  print the documented default configuration file\n"
	        "  -h, --help          this text\n"
	        "      --version       print the version\n\n"
	        "Configuration keys, also accepted as flags (--key VALUE or --key=VALUE):\n",
	        prog);
	for (size_t i = 0; i < NKEYS; i++) {
		char flag[96];
		int n = snprintf(flag, sizeof flag, "  --%s %s", keys[i].name, keys[i].arg);

		for (char *p = flag + 4; *p && *p != ' '; p++)
			if (*p == '_')
				*p = '-';
		fprintf(f, "%s\n", flag);
		(void)n;
		print_wrapped(f, "        ", keys[i].help, 70);
		print_type_line(f, "        ", &keys[i]);
	}
}

int daemon_config_list_each(const char *list, int (*fn)(void *ctx, const char *item), void *ctx)
{
	const char *p = list;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *item = strndup(p, len), *t;
		int rc = 0;

		if (!item)
			return DN_ENOMEM;
		t = trim(item);
		if (*t)
			rc = fn(ctx, t);
		free(item);
		if (rc)
			return rc;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}
