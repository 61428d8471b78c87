/*
 * main.c — denoised: configuration, start-up, the signal loop, shutdown.
 *
 * Signals use a self-pipe: the handler only writes the signal number to a
 * pipe, and the main thread reads it and does the work (which may take locks
 * and allocate). A signalfd would need the signals blocked in every thread,
 * and OpenBLAS starts its threads from a library constructor, before main,
 * with nothing blocked: a SIGHUP delivered to one of them would kill the
 * process. Models load before the server listens, so READY=1 means ready.
 *
 * SIGTERM: stop accepting, wait (drain_timeout at most) for requests in
 * flight, cancel what is still queued (503), let running jobs finish, stop,
 * exit 0. SIGHUP: reload the models (see models.h).
 */
#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/nn/unet.h"
#include "core/util/blas.h"
#include "core/util/file.h"
#include "core/util/paths.h"
#include "core/util/threads.h"
#include "daemon/config.h"
#include "daemon/jobs.h"
#include "daemon/log.h"
#include "daemon/models.h"
#include "daemon/notify.h"
#include "daemon/pool.h"

/* What the host lends to api/ (see api_host). */
typedef struct daemon_ctx {
	daemon_config *cfg;
	daemon_models *models;
	pool *pool;
	jobs *jobs; /* NULL without a state_dir */
	atomic_ullong reloads_ok, reloads_failed;
} daemon_ctx;

/* Workers only run inference, whose loops around the GEMMs stay serial:
 * OpenMP regions between OpenBLAS calls made the 2-thread forward 1.8x
 * slower than the 1-thread one (bench/bench_unet.sh). */
static void worker_init(int index)
{
	(void)index;
	dn_threads_set_local(1);
}

/* The job manager, as the host lends it to api/ (see jobs.h). */
static int host_job_submit(void *ctx, const json_t *spec, json_t **job, char *field, size_t cap,
                           dn_error *err)
{
	return jobs_submit(((daemon_ctx *)ctx)->jobs, spec, job, field, cap, err);
}

static json_t *host_job_get(void *ctx, const char *id, int plots, dn_error *err)
{
	return jobs_get(((daemon_ctx *)ctx)->jobs, id, plots ? JOBS_VIEW_PLOTS : JOBS_VIEW_STATUS, err);
}

static json_t *host_job_list(void *ctx, const char *state, size_t limit, const char *cursor, size_t offset,
                             dn_error *err)
{
	return jobs_list(((daemon_ctx *)ctx)->jobs, state, limit, cursor, offset, err);
}

static int host_job_cancel(void *ctx, const char *id, json_t **job, dn_error *err)
{
	return jobs_cancel(((daemon_ctx *)ctx)->jobs, id, job, err);
}

static uint64_t host_job_version(void *ctx, const char *id, int *finished)
{
	return jobs_version(((daemon_ctx *)ctx)->jobs, id, finished);
}

static int host_job_watch(void *ctx, const char *id, uint64_t seen, void (*wake)(void *arg), void *arg)
{
	return jobs_watch(((daemon_ctx *)ctx)->jobs, id, seen, wake, arg);
}

static void host_job_unwatch(void *ctx, void *arg)
{
	jobs_unwatch(((daemon_ctx *)ctx)->jobs, arg);
}

static int host_job_closing(void *ctx)
{
	return jobs_closing(((daemon_ctx *)ctx)->jobs);
}

static int host_job_register(void *ctx, const char *id, const char *name, dn_error *err)
{
	return jobs_register_model(((daemon_ctx *)ctx)->jobs, id, name, err);
}

/* Starts the job manager when there is a state directory, and serves the
 * models that jobs registered before. */
static int start_jobs(daemon_ctx *d, dn_error *err)
{
	char dir[PATH_MAX];
	struct stat st;
	jobs_params jp = {.state_dir = d->cfg->state_dir,
	                  .data_roots = d->cfg->data_roots,
	                  .job_device = d->cfg->job_device,
	                  .max_jobs = d->cfg->max_jobs,
	                  .max_queued = d->cfg->max_queued_jobs,
	                  .max_kept = d->cfg->max_jobs_kept,
	                  .keep_finished = d->cfg->job_retention_count,
	                  .keep_seconds = d->cfg->job_retention_age,
	                  .nice = d->cfg->job_nice,
	                  .job_memory_budget = d->cfg->job_memory_budget,
	                  .models = d->models};

	if (!d->cfg->state_dir[0]) {
		daemon_log(LOG_LVL_WARNING, "no state_dir: jobs are off (set state_dir or --state-dir DIR)");
		return DN_OK;
	}
	jobs_models_dir(d->cfg->state_dir, dir, sizeof dir);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
		int failed = daemon_models_add(d->models, dir, err);

		if (failed < 0)
			return failed;
		if (failed)
			daemon_log(LOG_LVL_WARNING, "%d registered models in %s failed to load", failed, dir);
	}
	return jobs_create(&jp, &d->jobs, err);
}

static api_model *host_acquire(void *ctx, const char *name)
{
	return daemon_models_acquire(((daemon_ctx *)ctx)->models, name);
}

static void host_release(void *ctx, api_model *m)
{
	(void)ctx;
	daemon_models_release(m);
}

static void host_each(void *ctx, void (*fn)(void *arg, api_model *m, int is_default), void *arg)
{
	daemon_models_each(((daemon_ctx *)ctx)->models, fn, arg);
}

static int host_submit(void *ctx, void (*fn)(void *arg, void *worker), void *arg)
{
	return pool_submit(((daemon_ctx *)ctx)->pool, fn, arg);
}

/* A request's threads are its chunks' or tiles' (blas_threads of them),
 * each running single-threaded GEMMs (see main). */
static dn_speech *host_worker_speech(void *ctx, void *worker, api_model *m, dn_error *err)
{
	daemon_ctx *d = ctx;
	const daemon_serve sv = {d->cfg->device_index, d->cfg->gpu_batch};
	return daemon_models_cache_speech(&((pool_worker *)worker)->local, m, d->cfg->blas_threads, &sv, err);
}

static dn_frame *host_worker_frame(void *ctx, void *worker, api_model *m, dn_error *err)
{
	daemon_ctx *d = ctx;
	const daemon_serve sv = {d->cfg->device_index, d->cfg->gpu_batch};
	return daemon_models_cache_frame(&((pool_worker *)worker)->local, m, d->cfg->blas_threads, &sv, err);
}

static void host_gauges(void *ctx, api_gauges *g)
{
	daemon_ctx *d = ctx;

	g->queue_depth = pool_queued(d->pool);
	g->queue_capacity = pool_capacity(d->pool);
	g->busy_workers = pool_running(d->pool);
	g->workers = pool_workers(d->pool);
	g->blas_threads = d->cfg->blas_threads;
	g->models_loaded = daemon_models_count(d->models);
	g->models_failed = daemon_models_failed(d->models, NULL, NULL);
	g->reloads_ok = atomic_load(&d->reloads_ok);
	g->reloads_failed = atomic_load(&d->reloads_failed);
}

static void host_model_failures(void *ctx, void (*fn)(void *arg, const char *name, const char *why),
                                void *arg)
{
	daemon_models_failed(((daemon_ctx *)ctx)->models, fn, arg);
}

static void host_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	daemon_log(level, "%s", line);
}

/* The shipped models: models/ of the data directory (core/util/paths.h). */
static void default_models_dir(char *out, size_t cap)
{
	snprintf(out, cap, "%s/models", dn_data_dir());
}

/* Reads the bearer token: the file's first line, surrounding blanks removed. */
static int read_api_key(const char *path, char **out, dn_error *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *s, *e;
	size_t cap = 0;
	ssize_t n;
	struct stat st;

	*out = NULL;
	if (!f)
		return dn_error_set(err, DN_EIO, "api_key_file %s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0004))
		daemon_log(LOG_LVL_WARNING, "api_key_file %s is readable by everyone", path);
	n = getline(&line, &cap, f);
	fclose(f);
	if (n <= 0) {
		free(line);
		return dn_error_set(err, DN_EINVAL, "api_key_file %s is empty", path);
	}
	for (s = line; *s == ' ' || *s == '\t'; s++)
		;
	e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (*s == '\0') {
		free(line);
		return dn_error_set(err, DN_EINVAL, "api_key_file %s holds no token", path);
	}
	*out = strdup(s);
	free(line);
	return *out ? DN_OK : dn_error_set(err, DN_ENOMEM, "out of memory");
}

static int check_state_dir(daemon_config *c, dn_error *err)
{
	struct stat st;

	if (!c->state_dir[0]) {
		const char *env = getenv("STATE_DIRECTORY");

		if (!env || !*env)
			return DN_OK;
		free(c->state_dir);
		/* systemd may list several, separated by ':'; the first is ours. */
		c->state_dir = strndup(env, strcspn(env, ":"));
		if (!c->state_dir)
			return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	if (stat(c->state_dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return dn_error_set(err, DN_EIO, "state_dir %s is not a directory", c->state_dir);
	if (access(c->state_dir, W_OK) != 0)
		return dn_error_set(err, DN_EIO, "state_dir %s is not writable", c->state_dir);
	return DN_OK;
}

static int write_port_file(const char *path, int port, dn_error *err)
{
	char text[32];
	dn_error e;
	int rc;

	/* Replaced at once, so a reader never sees a partial number. */
	snprintf(text, sizeof text, "%d\n", port);
	rc = dn_file_write(path, text, strlen(text), &e);
	if (rc)
		dn_error_set(err, rc, "port_file: %s", e.msg);
	return rc;
}

static int sig_pipe[2] = {-1, -1};

/* Async-signal-safe: one write, errno preserved. A full pipe drops the
 * signal, which is harmless (one pending SIGTERM is as good as ten). */
static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(sig_pipe[1], &b, 1) < 0) {
		/* nothing to do: the pipe is full */
	}
	errno = saved;
}

static int setup_signals(dn_error *err)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return dn_error_set(err, DN_EIO, "pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return DN_OK;
}

/* The next signal from the pipe, or 0 if none is pending. */
static int next_signal(int fd)
{
	unsigned char b;

	return read(fd, &b, 1) == 1 ? b : 0;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void describe(daemon_ctx *d, char *buf, size_t cap)
{
	snprintf(buf, cap, "serving %zu models; %d workers x %d BLAS threads on %d cores",
	         daemon_models_count(d->models), d->cfg->workers, d->cfg->blas_threads, d->cfg->cores);
}

static void reload(daemon_ctx *d)
{
	char status[256];
	int failed;

	daemon_notify_reloading();
	daemon_log(LOG_LVL_INFO, "SIGHUP: reloading models");
	failed = daemon_models_reload(d->models);
	if (failed)
		atomic_fetch_add(&d->reloads_failed, 1);
	else
		atomic_fetch_add(&d->reloads_ok, 1);
	describe(d, status, sizeof status);
	daemon_log(LOG_LVL_INFO, "reload done (%d files failed); %s", failed, status);
	daemon_notify_ready(status);
}

/* Waits for a signal, sending the watchdog ping on time. Returns the signal. */
static int wait_signal(int sfd, uint64_t wd_usec, int64_t *next_ping)
{
	for (;;) {
		struct pollfd pfd = {sfd, POLLIN, 0};
		int timeout = -1, rc;

		if (wd_usec) {
			int64_t left = *next_ping - now_ms();

			if (left <= 0) {
				daemon_notify_watchdog();
				*next_ping = now_ms() + (int64_t)(wd_usec / 2000);
				left = (int64_t)(wd_usec / 2000);
			}
			timeout = (int)left;
		}
		rc = poll(&pfd, 1, timeout);
		if (rc < 0 && errno != EINTR)
			return SIGTERM; /* cannot wait for signals: stop cleanly */
		if (rc > 0) {
			int sig = next_signal(sfd);

			if (sig)
				return sig;
		}
	}
}

static void drain(daemon_ctx *d, api_server *srv, int sfd)
{
	int64_t deadline = now_ms() + (int64_t)d->cfg->drain_timeout * 1000;
	size_t cancelled;

	daemon_notify_stopping();
	api_server_quiesce(srv);
	/* Event streams end now rather than hold the drain. */
	if (d->jobs)
		jobs_close_streams(d->jobs);
	daemon_log(LOG_LVL_INFO, "draining: %u requests in flight, up to %d s", api_server_inflight(srv),
	           d->cfg->drain_timeout);
	while (api_server_inflight(srv) > 0 && now_ms() < deadline) {
		struct pollfd pfd = {sfd, POLLIN, 0};

		/* A second SIGTERM or SIGINT cuts the wait short. */
		if (poll(&pfd, 1, 50) > 0) {
			int sig = next_signal(sfd);

			if (sig && sig != SIGHUP)
				break;
		}
	}
	pool_shutdown(d->pool);
	cancelled = pool_cancel_queued(d->pool);
	pool_wait_idle(d->pool, -1);
	/* Give the answers just resumed a moment to be written. */
	deadline = now_ms() + 2000;
	while (api_server_inflight(srv) > 0 && now_ms() < deadline)
		poll(NULL, 0, 10);
	daemon_log(LOG_LVL_INFO, "stopping: %zu queued requests cancelled, %u still open", cancelled,
	           api_server_inflight(srv));
}

int main(int argc, char **argv)
{
	daemon_config cfg;
	daemon_options opt;
	daemon_ctx d;
	api_server *srv = NULL;
	char models_dir[PATH_MAX], status[256], *api_key = NULL;
	api_params ap;
	api_host host = {0};
	dn_error err;
	int sfd = -1, sig, rc;
	uint64_t wd_usec;
	int64_t next_ping;

	dn_threads_prepare(argv); /* see core/util/threads.h */
	dn_blas_info blas;
	dn_blas_info_get(&blas);

	memset(&d, 0, sizeof d);
	if (daemon_config_from_args(&cfg, &opt, argc, argv, &err) != DN_OK) {
		fprintf(stderr, "denoised: %s\n", err.msg);
		daemon_config_free(&cfg);
		return 2;
	}
	if (opt.help || opt.version || opt.print_config) {
		if (opt.help)
			daemon_config_usage(stdout, "denoised");
		else if (opt.version)
			printf("denoised %s\nblas: %s\ncpu: %s\nconvolutions: %s\n", DN_VERSION, blas.line,
			       blas.cpu_model[0] ? blas.cpu_model : "unknown", dn_unet_conv_kernels());
		else
			daemon_config_print_default(stdout);
		daemon_config_free(&cfg);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	daemon_log_init(cfg.log_level);
	/* What runs the GEMMs, and why: a generic kernel is a bug to report. */
	daemon_log(blas.generic ? LOG_LVL_WARNING : LOG_LVL_INFO, "blas: %s", blas.line);
	/* Before any model is prepared: what its convolutions run on. */
	dn_unet_set_cpu_precision(cfg.cpu_precision ? "fp32" : "bf16", NULL);
	daemon_log(LOG_LVL_INFO, "convolutions: %s", dn_unet_conv_kernels());
	rc = daemon_config_resolve(&cfg, &err);
	if (rc == DN_OK)
		rc = check_state_dir(&cfg, &err);
	if (rc == DN_OK && cfg.api_key_file[0])
		rc = read_api_key(cfg.api_key_file, &api_key, &err);
	default_models_dir(models_dir, sizeof models_dir);
	if (rc == DN_OK)
		rc = daemon_models_create(cfg.models, models_dir, cfg.default_model, cfg.strict_models,
		                          cfg.max_models, &d.models, &err);
	if (rc != DN_OK) {
		daemon_log(LOG_LVL_ERROR, "%s%s", opt.config_path ? "configuration: " : "", err.msg);
		free(api_key);
		daemon_config_free(&cfg);
		return opt.check_config ? 1 : 2;
	}
	d.cfg = &cfg;
	if (opt.check_config) {
		daemon_log(LOG_LVL_INFO,
		           "configuration OK: %zu models from %s; %d workers x %d BLAS threads on %d cores; "
		           "%s kernel %s",
		           daemon_models_count(d.models), cfg.models[0] ? cfg.models : models_dir,
		           cfg.workers, cfg.blas_threads, cfg.cores, blas.library, blas.kernel);
		if (daemon_log_enabled(LOG_LVL_DEBUG))
			daemon_config_print(stderr, &cfg);
		daemon_models_destroy(d.models);
		free(api_key);
		daemon_config_free(&cfg);
		return 0;
	}
	if (daemon_models_count(d.models) == 0)
		daemon_log(LOG_LVL_WARNING,
		           "no models found (models = \"%s\", shipped models in %s); not ready", cfg.models,
		           models_dir);

	if (setup_signals(&err) != DN_OK) {
		daemon_log(LOG_LVL_ERROR, "%s", err.msg);
		rc = 1;
		goto out;
	}
	sfd = sig_pipe[0];
	/* Never N workers x N threads: the config check bounded workers x
	 * blas_threads by cores. A request's blas_threads threads are its
	 * chunks' or tiles', each with single-threaded GEMMs: OpenBLAS's own
	 * threads spin in sched_yield between calls and made a 2-thread
	 * request slower than a 1-thread one (issue 13). */
	openblas_set_num_threads(1);
	if (pool_create(cfg.workers, (size_t)cfg.queue_length, worker_init, daemon_models_cache_free, &d.pool,
	                &err) != DN_OK) {
		daemon_log(LOG_LVL_ERROR, "%s", err.msg);
		rc = 1;
		goto out;
	}
	if (start_jobs(&d, &err) != DN_OK) {
		daemon_log(LOG_LVL_ERROR, "jobs: %s", err.msg);
		rc = 1;
		goto out;
	}
	host = (api_host){.ctx = &d,
	                  .model_acquire = host_acquire,
	                  .model_release = host_release,
	                  .model_each = host_each,
	                  .model_get = daemon_model_get,
	                  .model_name = daemon_model_name,
	                  .model_loaded_at = daemon_model_loaded_at,
	                  .model_path = daemon_model_path,
	                  .submit = host_submit,
	                  .worker_speech = host_worker_speech,
	                  .worker_frame = host_worker_frame,
	                  .gauges = host_gauges,
	                  .model_failures = host_model_failures,
	                  .log = host_log};
	if (d.jobs) {
		host.job_submit = host_job_submit;
		host.job_get = host_job_get;
		host.job_list = host_job_list;
		host.job_cancel = host_job_cancel;
		host.job_version = host_job_version;
		host.job_watch = host_job_watch;
		host.job_unwatch = host_job_unwatch;
		host.job_closing = host_job_closing;
		host.job_register = host_job_register;
	}
	ap = (api_params){.listen = cfg.listen,
	                  .port = cfg.port,
	                  .http_threads = cfg.http_threads,
	                  .max_connections = cfg.max_connections,
	                  .max_body_bytes = cfg.max_body_bytes,
	                  .max_audio_seconds = cfg.max_audio_seconds,
	                  .max_decoded_audio_bytes = cfg.max_decoded_audio_bytes,
	                  .memory_budget = cfg.memory_budget,
	                  .request_deadline = cfg.request_deadline,
	                  .max_streams = cfg.max_streams,
	                  .stream_idle_timeout = cfg.stream_idle_timeout,
	                  .stream_max_lag = cfg.stream_max_lag,
	                  .max_frame_pixels = cfg.max_frame_pixels,
	                  .connection_timeout = cfg.connection_timeout,
	                  .request_timeout = cfg.request_timeout,
	                  .header_timeout = cfg.header_timeout,
	                  .max_connections_per_client = cfg.max_connections_per_client,
	                  .cors_origins = cfg.cors_origins,
	                  .api_key = api_key,
	                  .retry_after = 1};
	if (api_server_start(&ap, &host, &srv, &err) != DN_OK) {
		daemon_log(LOG_LVL_ERROR, "%s", err.msg);
		rc = 1;
		goto out;
	}
	if (cfg.port_file[0] && write_port_file(cfg.port_file, api_server_port(srv), &err) != DN_OK) {
		daemon_log(LOG_LVL_ERROR, "%s", err.msg);
		rc = 1;
		goto out;
	}
	describe(&d, status, sizeof status);
	daemon_log(LOG_LVL_INFO, "listening on %s port %d; %s", cfg.listen, api_server_port(srv), status);
	daemon_notify_ready(status);

	wd_usec = daemon_notify_watchdog_usec();
	next_ping = now_ms();
	while ((sig = wait_signal(sfd, wd_usec, &next_ping)) == SIGHUP)
		reload(&d);
	daemon_log(LOG_LVL_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	drain(&d, srv, sfd);
	rc = 0;
out:
	/* Streams end before the server stops (none may stay suspended);
	 * running jobs stop at their next step and run again at the next
	 * start. */
	if (d.jobs)
		jobs_close_streams(d.jobs);
	jobs_destroy(d.jobs);
	api_server_stop(srv);
	pool_destroy(d.pool);
	daemon_models_destroy(d.models);
	if (sig_pipe[0] >= 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
	}
	free(api_key);
	daemon_config_free(&cfg);
	if (rc == 0)
		daemon_log(LOG_LVL_INFO, "stopped");
	return rc;
}
