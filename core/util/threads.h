/*
 * threads.h — how many threads libdenoise's own loops use.
 *
 * The GEMMs run on OpenBLAS's threads; the loops around them (im2col,
 * col2im, batch norm, activations) run on OpenMP when the library is built
 * with it. Both counts come from one call so that a program never runs N
 * workers x N threads by accident: the daemon gives each worker its
 * blas_threads, the CLI its --threads.
 */
#ifndef DN_THREADS_H
#define DN_THREADS_H

/* Sets OpenBLAS's thread count (process-wide) and the OpenMP team size of
 * the calling thread (OpenMP keeps it per thread). n < 1 counts as 1. */
void dn_threads_set(int n);

/* Sets only the calling thread's OpenMP team size: for worker threads that
 * share a process-wide OpenBLAS setting. */
void dn_threads_set_local(int n);

/* For a program's main, before anything else: when OMP_WAIT_POLICY is not
 * set, sets it to PASSIVE and executes the program again with argv. OpenMP
 * threads that spin between parallel regions starve OpenBLAS's threads,
 * which run in between (measured on 16 cores: 0.1 training samples/s
 * spinning, 5.0 passive), and libgomp reads the policy when it is loaded,
 * before main. Returns only when the policy was already set or exec failed. */
void dn_threads_prefer_passive(char **argv);

#endif
