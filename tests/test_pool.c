/*
 * test_pool.c — the worker pool: every job runs once, on distinct workers;
 * the queue refuses beyond its capacity (that is what turns into 503);
 * shutdown refuses new jobs but finishes queued ones; cancelled jobs are
 * called with no worker; worker-local state is freed on the worker's exit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/pool.h"
#include "tests/check.h"

static atomic_int ran, cancelled, freed;
static atomic_int seen_worker[8];

/* A gate that blocks jobs until the test opens it. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_waiting;

static void gate_set(int open)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = open;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static void wait_for_waiters(int n)
{
	pthread_mutex_lock(&gate_mu);
	while (gate_waiting < n)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
}

static void job(void *arg, void *worker)
{
	pool_worker *w = worker;

	(void)arg;
	if (!w) {
		atomic_fetch_add(&cancelled, 1);
		return;
	}
	if (!w->local)
		w->local = malloc(16); /* freed by local_free */
	if (w->index >= 0 && w->index < 8)
		atomic_fetch_add(&seen_worker[w->index], 1);
	pthread_mutex_lock(&gate_mu);
	gate_waiting++;
	pthread_cond_broadcast(&gate_cv);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	gate_waiting--;
	pthread_mutex_unlock(&gate_mu);
	atomic_fetch_add(&ran, 1);
}

static void local_free(void *p)
{
	free(p);
	atomic_fetch_add(&freed, 1);
}

static void test_args(void)
{
	pool *p = (pool *)1;
	dn_error err;

	CHECK_RC(pool_create(0, 4, NULL, NULL, &p, &err), DN_EINVAL);
	CHECK(p == NULL);
	CHECK_RC(pool_create(1, 0, NULL, NULL, &p, &err), DN_EINVAL);
}

static void test_all_run(void)
{
	pool *p;
	dn_error err;
	int ok = 0;

	atomic_store(&ran, 0);
	atomic_store(&freed, 0);
	gate_set(1);
	CHECK_RC(pool_create(4, 1000, NULL, local_free, &p, &err), DN_OK);
	CHECK(pool_workers(p) == 4 && pool_capacity(p) == 1000);
	for (int i = 0; i < 500; i++)
		ok += pool_submit(p, job, NULL) == DN_OK;
	CHECK(ok == 500);
	CHECK(pool_wait_idle(p, -1) == 1);
	CHECK(atomic_load(&ran) == 500);
	CHECK(pool_queued(p) == 0 && pool_running(p) == 0);
	pool_destroy(p);
	/* Each worker that ran a job allocated its local state once. */
	CHECK(atomic_load(&freed) >= 1 && atomic_load(&freed) <= 4);
}

static void test_full_and_cancel(void)
{
	pool *p;
	dn_error err;

	atomic_store(&ran, 0);
	atomic_store(&cancelled, 0);
	memset(seen_worker, 0, sizeof seen_worker);
	gate_set(0);
	CHECK_RC(pool_create(2, 3, NULL, local_free, &p, &err), DN_OK);
	/* Two jobs occupy both workers... */
	CHECK_RC(pool_submit(p, job, NULL), DN_OK);
	CHECK_RC(pool_submit(p, job, NULL), DN_OK);
	wait_for_waiters(2);
	CHECK(pool_running(p) == 2);
	CHECK(atomic_load(&seen_worker[0]) == 1 && atomic_load(&seen_worker[1]) == 1);
	/* ...three wait, the fourth is refused. */
	for (int i = 0; i < 3; i++)
		CHECK_RC(pool_submit(p, job, NULL), DN_OK);
	CHECK(pool_queued(p) == 3);
	CHECK_RC(pool_submit(p, job, NULL), DN_ELIMIT);
	CHECK(pool_wait_idle(p, 50) == 0);
	/* Shutdown refuses, cancel answers the waiting ones without a worker. */
	pool_shutdown(p);
	CHECK_RC(pool_submit(p, job, NULL), DN_ECANCELLED);
	CHECK(pool_cancel_queued(p) == 3);
	CHECK(atomic_load(&cancelled) == 3);
	CHECK(pool_queued(p) == 0);
	gate_set(1);
	CHECK(pool_wait_idle(p, -1) == 1);
	CHECK(atomic_load(&ran) == 2);
	pool_destroy(p);
}

static void test_shutdown_drains(void)
{
	pool *p;
	dn_error err;

	atomic_store(&ran, 0);
	gate_set(0);
	CHECK_RC(pool_create(1, 8, NULL, local_free, &p, &err), DN_OK);
	for (int i = 0; i < 5; i++)
		CHECK_RC(pool_submit(p, job, NULL), DN_OK);
	wait_for_waiters(1);
	pool_shutdown(p);
	gate_set(1);
	/* destroy runs what was queued before shutdown. */
	pool_destroy(p);
	CHECK(atomic_load(&ran) == 5);
}

int main(void)
{
	test_args();
	test_all_run();
	test_full_and_cancel();
	test_shutdown_drains();
	return check_status();
}
