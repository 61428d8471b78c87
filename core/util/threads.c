/*
 * threads.c — one place that sets OpenBLAS's and OpenMP's thread counts.
 * Without OpenMP the local part does nothing and the loops run serially.
 */
#include <cblas.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/util/threads.h"

void dn_threads_set_local(int n)
{
#ifdef _OPENMP
	omp_set_num_threads(n < 1 ? 1 : n);
#else
	(void)n;
#endif
}

void dn_threads_set(int n)
{
	if (n < 1)
		n = 1;
	openblas_set_num_threads(n);
	dn_threads_set_local(n);
}

void dn_threads_prefer_passive(char **argv)
{
	if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0)
		execv("/proc/self/exe", argv);
}
