/*
 * config.h — the daemon's configuration, defined once.
 *
 * One table in config.c lists every key with its type, default, bounds and
 * help text. That table drives the configuration-file parser, the command-line
 * flags (--key value), `--help`, `--check-config` and `--print-config`, whose
 * output is the shipped etc/denoised.conf (a test keeps the two identical).
 */
#ifndef DAEMON_CONFIG_H
#define DAEMON_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "core/dn.h"

typedef struct daemon_config {
	char *listen;                   /* address literal */
	int port;                       /* 0: any free port */
	char *port_file;                /* "" or where the bound port is written */
	int cores;                      /* 0 until resolved: CPUs available */
	int workers;                    /* 0 until resolved: cores / blas_threads */
	int blas_threads;               /* OpenBLAS threads per worker */
	int queue_length;               /* requests waiting for a worker */
	int http_threads;               /* libmicrohttpd polling threads */
	int max_connections;            /* concurrent TCP connections */
	int max_connections_per_client; /* from one address; 0 = no limit */
	char *models;                   /* comma-separated files or directories; "" = shipped */
	char *default_model;            /* "" = first by name */
	int strict_models;              /* 1: any model that fails to load fails the start */
	int max_models;                 /* served at once, configured and registered */
	uint64_t max_body_bytes;
	uint64_t memory_budget; /* bodies in flight + decoded audio/frames */ /* request body limit */
	double max_audio_seconds;
	uint64_t max_decoded_audio_bytes; /* channels x frames x 4 of decoded audio */
	uint64_t max_frame_pixels;
	int connection_timeout;     /* s of inactivity before a connection is closed */
	int request_timeout;        /* s to receive a whole request body */
	double request_deadline;    /* s for a denoising request's work; 0 = none */
	int header_timeout;         /* s to receive a request's headers; 0 = off */
	int max_streams;            /* WebSocket streams at once; 0 = none */
	double stream_idle_timeout; /* s without a frame before a stream is closed */
	double stream_max_lag;      /* s of unprocessed audio before "behind" is sent */
	int drain_timeout;          /* s that SIGTERM waits for requests in flight */
	char *state_dir;            /* "" = $STATE_DIRECTORY, else none */
	char *data_roots;           /* comma-separated folders job data sets may come from */
	int max_jobs;               /* training/evaluation jobs running at once */
	int max_queued_jobs;        /* jobs waiting to run */
	int max_jobs_kept;          /* jobs of any state in the state directory */
	int job_retention_count;    /* finished jobs kept; 0 = no limit */
	double job_retention_age;   /* s a finished job is kept; 0 = forever */
	uint64_t job_memory_budget; /* a training step's estimated memory */
	int job_nice;               /* nice value of job threads */
	char *device;               /* where workers run the networks: cpu, cuda, cuda:N */
	int device_index;           /* resolved: -1 cpu, else the GPU */
	int gpu_batch;              /* chunks/tiles per GPU forward at most */
	char *job_device;           /* where training jobs run unless their spec says: cpu, cuda, cuda:N */
	int log_level;              /* enum daemon_log_level */
	int cpu_precision;          /* 0 bf16 (AMX where the CPU has it), 1 fp32 */
	char *cors_origins;         /* comma-separated origins, or "*" */
	char *api_key_file;         /* "" = no authentication */
} daemon_config;

/* What the command line asks for besides configuration keys. */
typedef struct daemon_options {
	const char *config_path; /* --config FILE, NULL if none */
	int check_config;        /* --check-config */
	int print_config;        /* --print-config */
	int help;                /* --help */
	int version;             /* --version */
} daemon_options;

/* Fills c with the table's defaults. c owns its strings (daemon_config_free). */
void daemon_config_defaults(daemon_config *c);
void daemon_config_free(daemon_config *c);

/* Sets one key from its text form, checking type and bounds. DN_ENOTFOUND for
 * an unknown key, DN_EINVAL for a bad value; err says which and why. */
int daemon_config_set(daemon_config *c, const char *key, const char *value, dn_error *err);

/* Reads "key = value" lines ('#' starts a comment line, blank lines are
 * ignored, a value may be "double-quoted"). A key given twice, an unknown key
 * or a bad value fails with "path:line: ..." in err. */
int daemon_config_load(daemon_config *c, const char *path, dn_error *err);

/* Defaults, then the --config file if any, then every --key value / --key=value
 * flag on top (flags win). o receives the non-key options. */
int daemon_config_from_args(daemon_config *c, daemon_options *o, int argc, char **argv, dn_error *err);

/* Fills in automatic values (cores, workers) and checks what involves several
 * keys: workers x blas_threads must not exceed cores. */
int daemon_config_resolve(daemon_config *c, dn_error *err);

/* The documented default configuration file (etc/denoised.conf). */
void daemon_config_print_default(FILE *f);
/* The effective value of every key, "key = value" per line. */
void daemon_config_print(FILE *f, const daemon_config *c);
/* --help text. */
void daemon_config_usage(FILE *f, const char *prog);

/* Splits a comma-separated list: calls fn for each trimmed, non-empty item
 * (item is NUL-terminated, valid during the call). Stops at fn's first
 * non-zero return, which it returns. */
int daemon_config_list_each(const char *list, int (*fn)(void *ctx, const char *item), void *ctx);

#endif
