/*
 * pool.h — the inference worker threads and their bounded queue.
 *
 * HTTP threads never run inference: they hand a job to the pool and go back
 * to moving bytes. The queue has a fixed capacity so that overload turns into
 * a quick 503 rather than unbounded memory and latency. Each worker has a
 * slot for thread-local state (its per-model inference contexts), created on
 * first use by the jobs and destroyed by the pool's `local_free` when the
 * worker exits.
 */
#ifndef DAEMON_POOL_H
#define DAEMON_POOL_H

#include <stddef.h>

#include "core/dn.h"

typedef struct pool pool;

typedef struct pool_worker {
	int index;   /* 0 .. workers-1 */
	void *local; /* owned by the worker; freed with the pool's local_free */
} pool_worker;

/* A job. worker is the pool_worker running it, or NULL when the job is cancelled
 * (pool_cancel_queued) and must only clean up and answer. */
typedef void (*pool_fn)(void *arg, void *worker);

/* Starts `workers` threads (each calls thread_init(index) first if given, e.g. to
 * set its BLAS threads). local_free(local) runs on the worker's thread as it
 * exits. */
int pool_create(int workers, size_t capacity, void (*thread_init)(int index), void (*local_free)(void *local),
                pool **out, dn_error *err);

/* Queues fn(arg). DN_ELIMIT when the queue is full, DN_ECANCELLED after
 * pool_shutdown; on failure fn is not called and arg stays the caller's. */
int pool_submit(pool *p, pool_fn fn, void *arg);

/* Jobs waiting, jobs running, capacity, workers. */
size_t pool_queued(pool *p);
size_t pool_running(pool *p);
size_t pool_capacity(const pool *p);
int pool_workers(const pool *p);

/* Refuses new jobs; queued and running ones still complete. */
void pool_shutdown(pool *p);
/* Calls every queued job with w = NULL (on the caller's thread) and empties
 * the queue; returns how many. */
size_t pool_cancel_queued(pool *p);
/* Waits until nothing is queued or running, at most timeout_ms (-1: forever);
 * returns 1 when idle. */
int pool_wait_idle(pool *p, long timeout_ms);
/* Shuts down, runs the remaining jobs, joins the workers and frees p. */
void pool_destroy(pool *p);

#endif
