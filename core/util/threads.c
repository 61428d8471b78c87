/*
 * threads.c — one place that sets OpenBLAS's and OpenMP's thread counts.
 * Without OpenMP the local part does nothing and the loops run serially.
 * dn_threads_prepare() also puts right the OpenBLAS kernel (blas.h).
 */
#include <cblas.h>
#include <stdlib.h>
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
