/*
 * prefetch.c — ordered batch prefetching on POSIX threads (prefetch.h).
 *
 * Slot k holds batches k, k + depth, k + 2·depth, …; thread j makes batches
 * j, j + threads, …. A thread waits until its batch's slot is free (the
 * consumer released the batch depth places earlier), fills it outside the
 * lock and marks it ready; the consumer waits for the batch it wants.
 */
#include "core/train/prefetch.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

struct slot {
	int64_t index; /* batch held (or being made); -1: free */
	int ready, rc;
	dn_error err;
	dn_tensor x, t;
};

struct worker {
	dn_prefetch *p;
	int id;
	pthread_t tid;
	int started;
};

struct dn_prefetch {
	dn_prefetch_ops ops;
	int threads, depth;
	int64_t count, next; /* next batch the consumer takes */
	int stop;
	struct slot *slots;
	struct worker *workers;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	double wait_s;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	dn_prefetch *p = w->p;
	void *scratch = p->ops.new_scratch ? p->ops.new_scratch(p->ops.ctx) : NULL;
	for (int64_t i = w->id; i < p->count; i += p->threads) {
		struct slot *s = &p->slots[i % p->depth];
		pthread_mutex_lock(&p->mu);
		/* The slot is this batch's once the batch depth places earlier
		 * was released (before that, i >= next + depth). */
		while (!p->stop && !(s->index < 0 && i < p->next + p->depth))
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		s->index = i;
		s->ready = 0;
		pthread_mutex_unlock(&p->mu);
		dn_error e = {0};
		int rc = scratch || !p->ops.new_scratch
		             ? p->ops.make(p->ops.ctx, scratch, i, &s->x, &s->t, &e)
		             : dn_error_set(&e, DN_ENOMEM, "cannot allocate a loader's scratch");
		pthread_mutex_lock(&p->mu);
		s->rc = rc;
		s->err = e;
		s->ready = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (rc)
			break;
	}
	if (scratch && p->ops.free_scratch)
		p->ops.free_scratch(p->ops.ctx, scratch);
	return NULL;
}

int dn_prefetch_start(const dn_prefetch_ops *ops, int threads, int depth, int64_t count, dn_prefetch **out,
                      dn_error *err)
{
	if (threads < 1)
		threads = 1;
	if (depth < threads + 1)
		depth = threads + 1;
	dn_prefetch *p = calloc(1, sizeof *p);
	if (!p)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate the batch prefetcher");
	p->ops = *ops;
	p->threads = threads;
	p->depth = depth;
	p->count = count;
	p->slots = calloc((size_t)depth, sizeof *p->slots);
	p->workers = calloc((size_t)threads, sizeof *p->workers);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (!p->slots || !p->workers) {
		dn_prefetch_stop(p);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate the batch prefetcher");
	}
	for (int k = 0; k < depth; k++)
		p->slots[k].index = -1;
	for (int j = 0; j < threads; j++) {
		p->workers[j] = (struct worker){.p = p, .id = j};
		if (pthread_create(&p->workers[j].tid, NULL, run, &p->workers[j]) != 0) {
			dn_prefetch_stop(p);
			return dn_error_set(err, DN_ENOMEM, "cannot start loader thread %d", j);
		}
		p->workers[j].started = 1;
	}
	*out = p;
	return DN_OK;
}

int dn_prefetch_next(dn_prefetch *p, const dn_tensor **x, const dn_tensor **t, dn_error *err)
{
	if (p->next >= p->count)
		return dn_error_set(err, DN_EINVAL, "no batch %lld: the epoch has %lld", (long long)p->next,
		                    (long long)p->count);
	struct slot *s = &p->slots[p->next % p->depth];
	double t0 = now_s();
	pthread_mutex_lock(&p->mu);
	while (!(s->index == p->next && s->ready))
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	p->wait_s += now_s() - t0;
	if (s->rc) {
		if (err)
			*err = s->err;
		return s->rc;
	}
	*x = &s->x;
	*t = &s->t;
	return DN_OK;
}

void dn_prefetch_release(dn_prefetch *p)
{
	pthread_mutex_lock(&p->mu);
	struct slot *s = &p->slots[p->next % p->depth];
	s->index = -1;
	s->ready = 0;
	p->next++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void dn_prefetch_stop(dn_prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int j = 0; p->workers && j < p->threads; j++)
		if (p->workers[j].started)
			pthread_join(p->workers[j].tid, NULL);
	for (int k = 0; p->slots && k < p->depth; k++) {
		dn_tensor_free(&p->slots[k].x);
		dn_tensor_free(&p->slots[k].t);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->slots);
	free(p->workers);
	free(p);
}

double dn_prefetch_wait_seconds(const dn_prefetch *p)
{
	return p->wait_s;
}

int dn_prefetch_auto_threads(void)
{
	cpu_set_t set;
	int n = 2;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	n /= 2;
	return n < 1 ? 1 : (n > 8 ? 8 : n);
}
