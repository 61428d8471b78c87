/*
 * prefetch.h — training batches made by CPU threads ahead of the step that
 * consumes them.
 *
 * Batches 0 .. count−1 are made by `threads` threads into `depth` slots and
 * handed out strictly in order, so a batch function that depends only on its
 * index gives the same run at any thread count. While the consumer (the CPU
 * or GPU step) works on batch i, the threads fill i+1 … i+depth−1: the data
 * pipeline overlaps the step, and the consumer's waits measure how far it
 * falls behind.
 */
#ifndef DN_PREFETCH_H
#define DN_PREFETCH_H

#include <stdint.h>

#include "core/dn.h"
#include "core/nn/tensor.h"

/* Makes batch `index` into x and t (resize them as needed). `scratch` is the
 * calling thread's own, from new_scratch. Returns DN_OK or an error code. */
typedef int (*dn_batch_fn)(void *ctx, void *scratch, int64_t index, dn_tensor *x, dn_tensor *t,
                           dn_error *err);

typedef struct dn_prefetch_ops {
	void *ctx;
	dn_batch_fn make;
	void *(*new_scratch)(void *ctx); /* NULL: no scratch */
	void (*free_scratch)(void *ctx, void *scratch);
} dn_prefetch_ops;

typedef struct dn_prefetch dn_prefetch;

/* Starts the threads (threads >= 1; depth >= threads + 1). */
int dn_prefetch_start(const dn_prefetch_ops *ops, int threads, int depth, int64_t count, dn_prefetch **out,
                      dn_error *err);
/* The next batch in order, waiting for it; valid until dn_prefetch_release.
 * An error of the batch function comes back here, with its message. */
int dn_prefetch_next(dn_prefetch *p, const dn_tensor **x, const dn_tensor **t, dn_error *err);
/* Gives the slot of the batch last returned back to the threads. */
void dn_prefetch_release(dn_prefetch *p);
/* Stops and joins the threads (also midway); frees p. */
void dn_prefetch_stop(dn_prefetch *p);
/* Seconds dn_prefetch_next spent waiting so far. */
double dn_prefetch_wait_seconds(const dn_prefetch *p);

/* Loader threads for "auto" (0): half the CPUs this process may use, 1..8. */
int dn_prefetch_auto_threads(void);

#endif
