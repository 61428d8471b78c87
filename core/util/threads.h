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

#include "core/dn.h"

/* Sets OpenBLAS's thread count (process-wide) and the OpenMP team size of
 * the calling thread (OpenMP keeps it per thread). n < 1 counts as 1. */
void dn_threads_set(int n);

/* Sets only the calling thread's OpenMP team size: for worker threads that
 * share a process-wide OpenBLAS setting. */
void dn_threads_set_local(int n);

/* CPUs this process may run on (its affinity mask), at least 1. */
int dn_threads_available(void);

/* One task of dn_threads_run: task is its index, slot the thread running
 * it (0 .. threads-1; slot 0 is the caller), so that a task can use that
 * thread's scratch. */
typedef int (*dn_task_fn)(void *arg, int task, int slot, dn_error *err);

/* Runs fn for tasks 0 .. n-1 on min(threads, n) threads, slot k taking tasks
 * k, k + threads, ... in order. Returns DN_OK, or the code and message of
 * the failed task of lowest index (every task runs regardless). Helper
 * threads run OpenMP regions serially (dn_threads_set_local(1)); the GEMMs
 * should be single-threaded too (dn_threads_set(1)), or the threads would
 * multiply. A slot whose thread cannot be started runs on the caller's. */
int dn_threads_run(int threads, int n, dn_task_fn fn, void *arg, dn_error *err);

/* For a program's main, before anything else; executes the program again
 * with argv, once, when either of two settings read only while the
 * libraries load (before main) is wrong:
 *  - OMP_WAIT_POLICY, when not set, becomes PASSIVE. OpenMP threads that
 *    spin between parallel regions starve OpenBLAS's threads, which run in
 *    between (measured on 16 cores: 0.1 training samples/s spinning, 5.0
 *    passive).
 *  - OPENBLAS_CORETYPE, when not set and OpenBLAS chose older kernels than
 *    the CPU supports, becomes the right ones (see blas.h); the kernel
 *    OpenBLAS had chosen goes along in DN_BLAS_ENV_CHOSE so that
 *    dn_blas_info_get() can say why.
 * Returns only when nothing needed changing or exec failed. */
void dn_threads_prepare(char **argv);

#endif
