/*
 * fft.c — double-precision real FFTs over FFTW3 (fft.h).
 *
 * Both plans work in place on one fftw_malloc'd buffer of n + 2 doubles, the
 * padded layout FFTW's in-place r2c/c2r transforms use. The c2r transform
 * destroys its input, which is what an in-place inverse does anyway.
 */
#include "core/audio/fft.h"

#include <pthread.h>
#include <stdlib.h>

#include <fftw3.h>

/* FFTW's (double-precision) planner keeps global state: the only static of
 * the module. */
static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

struct dn_fft {
	long n;
	double *data; /* n + 2 */
	fftw_plan fwd, inv;
};

int dn_fft_create(long n, dn_fft **out, dn_error *err)
{
	*out = NULL;
	if (n < 2 || n > (1L << 26) || n % 2)
		return dn_error_set(err, DN_EINVAL, "FFT length must be even, 2..2^26 (got %ld)", n);
	dn_fft *f = calloc(1, sizeof *f);
	if (!f)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	f->n = n;
	f->data = fftw_malloc(sizeof(double) * (size_t)(n + 2));
	if (!f->data) {
		dn_fft_destroy(f);
		return dn_error_set(err, DN_ENOMEM, "out of memory for a %ld-point FFT", n);
	}
	pthread_mutex_lock(&plan_lock);
	f->fwd = fftw_plan_dft_r2c_1d((int)n, f->data, (fftw_complex *)f->data, FFTW_ESTIMATE);
	f->inv = fftw_plan_dft_c2r_1d((int)n, (fftw_complex *)f->data, f->data, FFTW_ESTIMATE);
	pthread_mutex_unlock(&plan_lock);
	if (!f->fwd || !f->inv) {
		dn_fft_destroy(f);
		return dn_error_set(err, DN_ENOMEM, "FFTW could not plan a %ld-point transform", n);
	}
	*out = f;
	return DN_OK;
}

void dn_fft_destroy(dn_fft *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&plan_lock);
	if (f->fwd)
		fftw_destroy_plan(f->fwd);
	if (f->inv)
		fftw_destroy_plan(f->inv);
	pthread_mutex_unlock(&plan_lock);
	fftw_free(f->data);
	free(f);
}

long dn_fft_size(const dn_fft *f)
{
	return f->n;
}

double *dn_fft_data(dn_fft *f)
{
	return f->data;
}

void dn_fft_forward(dn_fft *f)
{
	fftw_execute(f->fwd);
}

void dn_fft_inverse(dn_fft *f)
{
	fftw_execute(f->inv);
}
