/*
 * absent.c — the GPU backend's functions in a build without CUDA: no
 * devices, and DN_EUNSUPPORTED for anything that would need one.
 */
#include "core/cuda/cuda.h"

int dn_cuda_built(void)
{
	return 0;
}

int dn_cuda_device_count(void)
{
	return 0;
}

int dn_cuda_device_describe(int index, char *buf, size_t cap, dn_error *err)
{
	(void)buf;
	(void)cap;
	return dn_error_set(err, DN_ENOTFOUND, "no CUDA device %d: built without CUDA", index);
}

static int absent(dn_error *err)
{
	return dn_error_set(err, DN_EUNSUPPORTED, "this build has no CUDA backend (configure --with-cuda)");
}

int dn_gpu_net_create(const dn_unet *net, const dn_device *dev, dn_gpu_net **out, dn_error *err)
{
	(void)net;
	(void)dev;
	*out = NULL;
	return absent(err);
}

void dn_gpu_net_destroy(dn_gpu_net *g)
{
	(void)g;
}

int dn_gpu_net_upload(dn_gpu_net *g, dn_unet *net, dn_adam *opt, dn_error *err)
{
	(void)g;
	(void)net;
	(void)opt;
	return absent(err);
}

int dn_gpu_net_download(dn_gpu_net *g, dn_unet *net, dn_adam *opt, dn_error *err)
{
	(void)g;
	(void)net;
	(void)opt;
	return absent(err);
}

int dn_gpu_net_train_step(dn_gpu_net *g, const dn_tensor *x, const dn_tensor *t, int loss, float lr,
                          double *loss_out, dn_error *err)
{
	(void)g;
	(void)x;
	(void)t;
	(void)loss;
	(void)lr;
	(void)loss_out;
	return absent(err);
}

int dn_gpu_net_forward_eval(dn_gpu_net *g, const dn_tensor *x, dn_tensor *y, dn_error *err)
{
	(void)g;
	(void)x;
	(void)y;
	return absent(err);
}

int dn_cuda_gemm_peak(int device, int precision, int n, double *tflops, dn_error *err)
{
	(void)device;
	(void)precision;
	(void)n;
	*tflops = 0.0;
	return absent(err);
}

double dn_gpu_net_busy_seconds(const dn_gpu_net *g)
{
	(void)g;
	return 0.0;
}
