/*
 * bench_train_gpu.c — training throughput of the seed U-Net on a CUDA device.
 *
 * For each batch size and precision: one training step (forward in training
 * mode, MSE, backward, Adam) repeated on a random 257 x 131 batch, timed by
 * wall clock after warm-up steps (each step ends with the loss read back,
 * so wall time is device time plus launch overhead). Prints samples/s,
 * ms/step, the FLOP rate of the step (3x the forward's FLOPs at the padded
 * size: forward, backward-data, backward-filter) and its share of the
 * device's measured GEMM rate in the same precision, one JSON line per
 * configuration after a header naming the CPU, the BLAS and the GPU.
 * bench/bench_train_gpu.sh puts PyTorch's figures beside these.
 *
 *   bench_train_gpu [--batches 16,64] [--precisions fp32,tf32,bf16]
 *                   [--steps 30] [--filters 32] [--height 257] [--width 131]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cuda/cuda.h"
#include "core/nn/adam.h"
#include "core/nn/unet.h"
#include "core/train/trainer.h"
#include "core/util/rng.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void cpu_model(char *buf, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	snprintf(buf, cap, "unknown");
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "model name", 10)) {
			char *c = strchr(line, ':');
			if (c) {
				snprintf(buf, cap, "%s", c + 2);
				buf[strcspn(buf, "\n")] = 0;
			}
			break;
		}
	if (f)
		fclose(f);
}

extern char *openblas_get_corename(void);

int main(int argc, char **argv)
{
	const char *batches = "16,64", *precisions = "fp32,tf32,bf16";
	int steps = 30, filters = 32, h = 257, w = 131;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--batches"))
			batches = argv[i + 1];
		else if (!strcmp(argv[i], "--precisions"))
			precisions = argv[i + 1];
		else if (!strcmp(argv[i], "--steps"))
			steps = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--filters"))
			filters = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--height"))
			h = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--width"))
			w = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "bench_train_gpu: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	char cpu[256], gpu[160];
	cpu_model(cpu, sizeof cpu);
	if (dn_cuda_device_count() == 0) {
		printf("# bench_train_gpu: no CUDA device (%s)\n",
		       dn_cuda_built() ? "none visible" : "built without CUDA");
		return 77;
	}
	dn_cuda_device_describe(0, gpu, sizeof gpu, NULL);
	printf("# cpu: %s; blas: OpenBLAS %s; gpu: %s\n", cpu, openblas_get_corename(), gpu);
	printf("# seed U-Net %d filters, %dx%d, %d timed steps after 5 warm-up\n", filters, h, w, steps);

	dn_unet_config cfg = dn_unet_default_config();
	cfg.base_filters = filters;
	const double step_flops = 3.0 * dn_unet_forward_flops(&cfg, h, w);
	char pbuf[64];
	snprintf(pbuf, sizeof pbuf, "%s", precisions);
	for (char *ps = strtok(pbuf, ","); ps; ps = strtok(NULL, ",")) {
		int prec;
		dn_error err = {0};
		if (dn_precision_parse(ps, &prec, &err)) {
			fprintf(stderr, "bench_train_gpu: %s\n", err.msg);
			return 2;
		}
		double peak = 0.0;
		if (dn_cuda_gemm_peak(0, prec, 8192, &peak, &err))
			fprintf(stderr, "bench_train_gpu: peak: %s\n", err.msg);
		char bbuf[64];
		snprintf(bbuf, sizeof bbuf, "%s", batches);
		char *save = NULL;
		for (char *bs = strtok_r(bbuf, ",", &save); bs; bs = strtok_r(NULL, ",", &save)) {
			const int b = atoi(bs);
			dn_unet *net;
			dn_adam *opt;
			dn_trainer *tr;
			dn_adam_params ap = dn_adam_default_params();
			dn_device dev = {.index = 0, .precision = prec};
			dn_tensor x = {0}, t = {0};
			if (dn_unet_create(&cfg, 1, &net, &err) ||
			    dn_adam_create(&ap, dn_unet_param_count(net), &opt, &err) ||
			    dn_trainer_create(net, opt, &dev, &tr, &err) || dn_tensor_init(&x, b, 1, h, w, &err) ||
			    dn_tensor_init(&t, b, 1, h, w, &err)) {
				fprintf(stderr, "bench_train_gpu: %s\n", err.msg);
				return 1;
			}
			dn_rng r;
			dn_rng_seed(&r, 1);
			for (size_t i = 0; i < dn_tensor_size(&x); i++) {
				x.data[i] = (float)dn_rng_uniform(&r);
				t.data[i] = (float)dn_rng_uniform(&r);
			}
			double loss = 0, t0 = 0;
			for (int s = 0; s < steps + 5; s++) {
				if (s == 5)
					t0 = now_s();
				if (dn_trainer_step(tr, &x, &t, 0, &loss, &err)) {
					fprintf(stderr, "bench_train_gpu: %s\n", err.msg);
					return 1;
				}
			}
			const double dt = (now_s() - t0) / steps;
			const double tf = step_flops * b / dt / 1e12;
			printf("{\"impl\":\"denoised\",\"precision\":\"%s\",\"batch\":%d,\"ms_per_step\":%.3f,"
			       "\"samples_per_s\":%.1f,\"tflops\":%.2f,\"gemm_peak_tflops\":%.1f,"
			       "\"share_of_peak\":%.3f,\"loss\":%.6g}\n",
			       ps, b, dt * 1e3, b / dt, tf, peak, peak > 0 ? tf / peak : 0.0, loss);
			fflush(stdout);
			dn_tensor_free(&x);
			dn_tensor_free(&t);
			dn_trainer_destroy(tr);
			dn_adam_destroy(opt);
			dn_unet_destroy(net);
		}
	}
	return 0;
}
