/*
 * serve.c — a model served from a GPU, concurrent requests batched into one
 * forward (see cuda.h).
 *
 * Callers queue a request and sleep; one thread of the server's own owns the
 * device net (every CUDA call of the server happens on it, so the device
 * context is its), takes the requests waiting — up to max_batch, waiting at
 * most window_ms after the first for others —, copies them into a zeroed
 * batch of the fixed padded size, runs dn_gpu_net_forward_eval, copies each
 * answer out and wakes its caller. Plain C on top of dn_gpu_net, so it is
 * built with and without CUDA; without, creating the net says why not.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cuda/cuda.h"

typedef struct request {
	const dn_tensor *x;
	dn_tensor *y;
	int rc, done;
	dn_error err;
	struct request *next;
} request;

struct dn_gpu_server {
	dn_gpu_server_params p;
	dn_unet_config cfg;
	dn_unet *host;     /* borrowed until the device copy exists */
	dn_device dev;
	dn_gpu_net *net;   /* owned by the server's thread */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t arrived, served, started;
	request *head, *tail;
	int queued, stop, ready, start_rc;
	dn_error start_err;
	uint64_t forwards, inputs;
	dn_tensor xb, yb; /* the padded batch, in and out */
};

dn_gpu_server_params dn_gpu_server_default_params(void)
{
	return (dn_gpu_server_params){.max_batch = 8, .window_ms = 2.0};
}

static int pow2_at_least(int k)
{
	int n = 1;
	while (n < k)
		n <<= 1;
	return n;
}

/* The k requests in r[] through one padded forward; each gets its answer
 * or the batch's error. */
static void run_batch(dn_gpu_server *s, request **r, int k)
{
	const int H = s->p.h_max, W = s->p.w_max, ci = s->cfg.in_channels, co = s->cfg.out_channels;
	const int nb = pow2_at_least(k);
	dn_error err = {0};
	int rc = dn_tensor_resize(&s->xb, nb, ci, H, W, &err);
	if (!rc) {
		memset(s->xb.data, 0, dn_tensor_size(&s->xb) * sizeof(float));
		for (int i = 0; i < k; i++) {
			const dn_tensor *x = r[i]->x;
			for (int c = 0; c < ci; c++)
				for (int h = 0; h < x->h; h++)
					memcpy(dn_tensor_plane(&s->xb, i, c) + (size_t)h * W,
					       dn_tensor_plane((dn_tensor *)x, 0, c) + (size_t)h * x->w,
					       (size_t)x->w * sizeof(float));
		}
		rc = dn_gpu_net_forward_eval(s->net, &s->xb, &s->yb, &err);
	}
	for (int i = 0; i < k; i++) {
		const dn_tensor *x = r[i]->x;
		dn_tensor *y = r[i]->y;
		int ri = rc ? rc : dn_tensor_resize(y, 1, co, x->h, x->w, &r[i]->err);
		if (!ri)
			for (int c = 0; c < co; c++)
				for (int h = 0; h < x->h; h++)
					memcpy(dn_tensor_plane(y, 0, c) + (size_t)h * x->w,
					       dn_tensor_plane(&s->yb, i, c) + (size_t)h * W, (size_t)x->w * sizeof(float));
		if (rc)
			r[i]->err = err;
		r[i]->rc = ri;
	}
}

static void deadline_after(struct timespec *t, double ms)
{
	clock_gettime(CLOCK_REALTIME, t);
	long long ns = t->tv_nsec + (long long)(ms * 1e6);
	t->tv_sec += (time_t)(ns / 1000000000LL);
	t->tv_nsec = (long)(ns % 1000000000LL);
}

static void *serve_loop(void *arg)
{
	dn_gpu_server *s = arg;
	request **batch = malloc((size_t)s->p.max_batch * sizeof *batch);
	dn_error err = {0};
	int rc = batch ? dn_gpu_net_create(s->host, NULL, &s->dev, &s->net, &err)
	               : dn_error_set(&err, DN_ENOMEM, "out of memory");
	pthread_mutex_lock(&s->mu);
	s->start_rc = rc;
	s->start_err = err;
	s->ready = 1;
	pthread_cond_broadcast(&s->started);
	while (!rc) {
		while (!s->queued && !s->stop)
			pthread_cond_wait(&s->arrived, &s->mu);
		if (!s->queued)
			break; /* stopping, nothing left */
		struct timespec until;
		deadline_after(&until, s->p.window_ms);
		while (s->queued < s->p.max_batch && !s->stop &&
		       pthread_cond_timedwait(&s->arrived, &s->mu, &until) != ETIMEDOUT)
			;
		int k = 0;
		while (s->head && k < s->p.max_batch) {
			batch[k++] = s->head;
			s->head = s->head->next;
			s->queued--;
		}
		if (!s->head)
			s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		run_batch(s, batch, k);
		pthread_mutex_lock(&s->mu);
		for (int i = 0; i < k; i++)
			batch[i]->done = 1;
		s->forwards++;
		s->inputs += (uint64_t)k;
		pthread_cond_broadcast(&s->served);
	}
	pthread_mutex_unlock(&s->mu);
	dn_gpu_net_destroy(s->net);
	s->net = NULL;
	free(batch);
	return NULL;
}

int dn_gpu_server_create(dn_unet *net, const dn_device *dev, const dn_gpu_server_params *p,
                         dn_gpu_server **out, dn_error *err)
{
	*out = NULL;
	if (p->max_batch < 1 || p->max_batch > 64 || !(p->window_ms >= 0.0 && p->window_ms <= 1000.0) ||
	    p->h_max < 1 || p->w_max < 1)
		return dn_error_set(err, DN_EINVAL,
		                    "GPU server: max_batch %d (1..64), window %g ms (0..1000), size %dx%d",
		                    p->max_batch, p->window_ms, p->h_max, p->w_max);
	dn_gpu_server *s = calloc(1, sizeof *s);
	if (!s)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	s->p = *p;
	s->cfg = *dn_unet_get_config(net);
	s->host = net;
	s->dev = *dev;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->arrived, NULL);
	pthread_cond_init(&s->served, NULL);
	pthread_cond_init(&s->started, NULL);
	if (pthread_create(&s->thread, NULL, serve_loop, s) != 0) {
		free(s);
		return dn_error_set(err, DN_ENOMEM, "cannot start the GPU server's thread");
	}
	pthread_mutex_lock(&s->mu);
	while (!s->ready)
		pthread_cond_wait(&s->started, &s->mu);
	pthread_mutex_unlock(&s->mu);
	s->host = NULL;
	if (s->start_rc) {
		if (err)
			*err = s->start_err;
		int rc = s->start_rc;
		dn_gpu_server_destroy(s);
		return rc;
	}
	*out = s;
	return DN_OK;
}

void dn_gpu_server_destroy(dn_gpu_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->arrived);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL); /* serves what is queued first */
	dn_tensor_free(&s->xb);
	dn_tensor_free(&s->yb);
	pthread_cond_destroy(&s->arrived);
	pthread_cond_destroy(&s->served);
	pthread_cond_destroy(&s->started);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int server_run(void *ctx, const dn_tensor *x, dn_tensor *y, dn_error *err)
{
	dn_gpu_server *s = ctx;
	if (x->n != 1 || x->c != s->cfg.in_channels || x->h > s->p.h_max || x->w > s->p.w_max)
		return dn_error_set(err, DN_ESHAPE, "GPU server takes 1 x %d x (<= %d) x (<= %d), not %dx%dx%dx%d",
		                    s->cfg.in_channels, s->p.h_max, s->p.w_max, x->n, x->c, x->h, x->w);
	request r = {.x = x, .y = y};
	pthread_mutex_lock(&s->mu);
	if (s->stop) {
		pthread_mutex_unlock(&s->mu);
		return dn_error_set(err, DN_ECANCELLED, "the GPU server is stopping");
	}
	if (s->tail)
		s->tail->next = &r;
	else
		s->head = &r;
	s->tail = &r;
	s->queued++;
	pthread_cond_signal(&s->arrived);
	while (!r.done)
		pthread_cond_wait(&s->served, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (r.rc && err)
		*err = r.err;
	return r.rc;
}

dn_net_runner dn_gpu_server_runner(dn_gpu_server *s)
{
	return (dn_net_runner){.run = server_run, .ctx = s};
}

void dn_gpu_server_counts(dn_gpu_server *s, uint64_t *forwards, uint64_t *inputs)
{
	pthread_mutex_lock(&s->mu);
	*forwards = s->forwards;
	*inputs = s->inputs;
	pthread_mutex_unlock(&s->mu);
}
