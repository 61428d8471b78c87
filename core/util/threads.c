/*
 * threads.c — one place that sets OpenBLAS's and OpenMP's thread counts.
 * Without OpenMP the local part does nothing and the loops run serially.
 * dn_threads_prepare() also puts right the OpenBLAS kernel (blas.h).
 */
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/util/threads.h"

#include "core/util/blas.h"

void dn_threads_set_local(int n)
{
#ifdef _OPENMP
	omp_set_num_threads(n < 1 ? 1 : n);
#else
	(void)n;
#endif
}

int dn_threads_available(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

void dn_threads_set(int n)
{
	if (n < 1)
		n = 1;
	openblas_set_num_threads(n);
	dn_threads_set_local(n);
}

void dn_threads_prepare(char **argv)
{
	int again = 0, kernel = 0;
	if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0)
		again = 1;
	const char *want = dn_blas_override_now();
	if (want && setenv(DN_BLAS_ENV_CHOSE, openblas_get_corename(), 1) == 0) {
		if (setenv("OPENBLAS_CORETYPE", want, 1) == 0)
			again = kernel = 1;
		else
			unsetenv(DN_BLAS_ENV_CHOSE);
	}
	if (!again)
		return;
	execv("/proc/self/exe", argv);
	/* Still this process and its kernels: do not claim otherwise. */
	if (kernel) {
		unsetenv("OPENBLAS_CORETYPE");
		unsetenv(DN_BLAS_ENV_CHOSE);
	}
}

#define MAX_SLOTS 64

typedef struct slot_run {
	dn_task_fn fn;
	void *arg;
	int slot, threads, n;
	int rc, task; /* first failure of this slot: code and task index */
	dn_error err;
} slot_run;

static void run_slot(slot_run *r)
{
	r->rc = DN_OK;
	r->task = r->n;
	for (int t = r->slot; t < r->n; t += r->threads) {
		dn_error e;
		dn_error_clear(&e);
		int rc = r->fn(r->arg, t, r->slot, &e);
		if (rc != DN_OK && r->rc == DN_OK) {
			r->rc = rc;
			r->task = t;
			r->err = e;
		}
	}
}

static void *slot_main(void *p)
{
	dn_threads_set_local(1);
	run_slot(p);
	return NULL;
}

int dn_threads_run(int threads, int n, dn_task_fn fn, void *arg, dn_error *err)
{
	if (n <= 0)
		return DN_OK;
	if (threads > n)
		threads = n;
	if (threads > MAX_SLOTS)
		threads = MAX_SLOTS;
	if (threads < 1)
		threads = 1;
	slot_run r[MAX_SLOTS];
	pthread_t tid[MAX_SLOTS];
	int started = 1;
	for (int k = 0; k < threads; k++)
		r[k] = (slot_run){.fn = fn, .arg = arg, .slot = k, .threads = threads, .n = n};
	for (; started < threads; started++)
		if (pthread_create(&tid[started], NULL, slot_main, &r[started]) != 0)
			break;
	/* Slots whose thread could not start run here, after slot 0's tasks:
	 * slower, same results. */
	run_slot(&r[0]);
	for (int k = started; k < threads; k++)
		run_slot(&r[k]);
	for (int k = 1; k < started; k++)
		pthread_join(tid[k], NULL);
	int best = -1;
	for (int k = 0; k < threads; k++)
		if (r[k].rc != DN_OK && (best < 0 || r[k].task < r[best].task))
			best = k;
	if (best < 0)
		return DN_OK;
	if (err)
		*err = r[best].err;
	return r[best].rc;
}
