/*
 * pool.c — see pool.h. A ring buffer of jobs under one mutex; workers sleep
 * on a condition variable. Jobs are coarse (a whole request), so one lock is
 * not a bottleneck.
 */
#include "daemon/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct pool_job {
	pool_fn fn;
	void *arg;
} pool_job;

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job was queued, or shutdown */
	pthread_cond_t idle; /* a job finished */
	pool_job *ring;
	size_t capacity, head, count, running;
	int stopping;
	int nworkers;
	pthread_t *threads;
	pool_worker *workers;
	void (*thread_init)(int index);
	void (*local_free)(void *local);
};

static void *worker_run(void *arg)
{
	pool *p = arg;
	pool_worker *w;
	int index;

	pthread_mutex_lock(&p->mu);
	/* Threads are started in order; each takes the next slot. */
	for (index = 0; index < p->nworkers && p->workers[index].index != -1; index++)
		;
	w = &p->workers[index];
	w->index = index;
	pthread_mutex_unlock(&p->mu);
	if (p->thread_init)
		p->thread_init(index);

	pthread_mutex_lock(&p->mu);
	for (;;) {
		pool_job job;

		while (p->count == 0 && !p->stopping)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->count == 0)
			break; /* stopping and nothing left */
		job = p->ring[p->head];
		p->head = (p->head + 1) % p->capacity;
		p->count--;
		p->running++;
		pthread_mutex_unlock(&p->mu);
		job.fn(job.arg, w);
		pthread_mutex_lock(&p->mu);
		p->running--;
		pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->mu);
	if (p->local_free && w->local)
		p->local_free(w->local);
	w->local = NULL;
	return NULL;
}

int pool_create(int workers, size_t capacity, void (*thread_init)(int index), void (*local_free)(void *local),
                pool **out, dn_error *err)
{
	pool *p;
	int started = 0;

	*out = NULL;
	if (workers < 1 || capacity < 1)
		return dn_error_set(err, DN_EINVAL, "pool needs at least one worker and one queue slot");
	p = calloc(1, sizeof *p);
	if (!p)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	p->ring = calloc(capacity, sizeof *p->ring);
	p->threads = calloc((size_t)workers, sizeof *p->threads);
	p->workers = calloc((size_t)workers, sizeof *p->workers);
	if (!p->ring || !p->threads || !p->workers) {
		free(p->ring);
		free(p->threads);
		free(p->workers);
		free(p);
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	}
	for (int i = 0; i < workers; i++)
		p->workers[i].index = -1;
	p->capacity = capacity;
	p->nworkers = workers;
	p->thread_init = thread_init;
	p->local_free = local_free;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (; started < workers; started++) {
		int rc = pthread_create(&p->threads[started], NULL, worker_run, p);

		if (rc != 0) {
			p->nworkers = started;
			pool_destroy(p);
			return dn_error_set(err, DN_ENOMEM, "cannot start worker thread %d: error %d",
			                    started, rc);
		}
	}
	*out = p;
	return DN_OK;
}

int pool_submit(pool *p, pool_fn fn, void *arg)
{
	int rc = DN_OK;

	pthread_mutex_lock(&p->mu);
	if (p->stopping)
		rc = DN_ECANCELLED;
	else if (p->count == p->capacity)
		rc = DN_ELIMIT;
	else {
		p->ring[(p->head + p->count) % p->capacity] = (pool_job){fn, arg};
		p->count++;
		pthread_cond_signal(&p->work);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

size_t pool_queued(pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = p->count;
	pthread_mutex_unlock(&p->mu);
	return n;
}

size_t pool_running(pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = p->running;
	pthread_mutex_unlock(&p->mu);
	return n;
}

size_t pool_capacity(const pool *p)
{
	return p->capacity;
}

int pool_workers(const pool *p)
{
	return p->nworkers;
}

void pool_shutdown(pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
}

size_t pool_cancel_queued(pool *p)
{
	size_t n = 0;

	for (;;) {
		pool_job job;

		pthread_mutex_lock(&p->mu);
		if (p->count == 0) {
			pthread_cond_broadcast(&p->idle);
			pthread_mutex_unlock(&p->mu);
			return n;
		}
		job = p->ring[p->head];
		p->head = (p->head + 1) % p->capacity;
		p->count--;
		pthread_mutex_unlock(&p->mu);
		job.fn(job.arg, NULL);
		n++;
	}
}

int pool_wait_idle(pool *p, long timeout_ms)
{
	struct timespec deadline;
	int idle;

	clock_gettime(CLOCK_REALTIME, &deadline);
	if (timeout_ms >= 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&p->mu);
	while (p->count + p->running > 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&p->idle, &p->mu);
		else if (pthread_cond_timedwait(&p->idle, &p->mu, &deadline) == ETIMEDOUT)
			break;
	}
	idle = p->count + p->running == 0;
	pthread_mutex_unlock(&p->mu);
	return idle;
}

void pool_destroy(pool *p)
{
	if (!p)
		return;
	pool_shutdown(p);
	for (int i = 0; i < p->nworkers; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->idle);
	free(p->ring);
	free(p->threads);
	free(p->workers);
	free(p);
}
