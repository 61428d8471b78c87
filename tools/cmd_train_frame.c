/*
 * cmd_train_frame.c — `denoise train-frame`: trains a frame model with the
 * core loop (core/train/train_frame.c) on a folder of clean photographs (DIR/train
 * and DIR/val, JPEG files, as scripts/make-frame-data.py writes them),
 * printing one line per epoch, and saves the best model with its provenance
 * (data, command, time, machine, validation PSNR) in the file's metadata.
 * SIGINT/SIGTERM stop after the current epoch; the best model so far stays.
 */
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/image/image.h"
#include "core/model/model.h"
#include "core/train/frame_data.h"
#include "core/train/params.h"
#include "core/train/train_frame.h"
#include "tools/device_opts.h"
#include "tools/tools.h"

static const char usage_head[] =
    "usage: denoise train-frame --data DIR --out MODEL [options]\n"
    "Trains a frame (RGB, residual) model on DIR/train/*.{jpg,png}, validating on DIR/val/*.{jpg,png}:\n"
    "random patches with flips/quarter turns, Gaussian noise sigma ~ U[sigma-min, sigma-max]/255,\n"
    "MSE, Adam.\n"
    "  --data DIR            folder with train/ and val/ (scripts/make-frame-data.py)\n"
    "  --out FILE            best model (by validation PSNR at sigma 25), written atomically\n"
    "  --checkpoint FILE     latest model, every epoch (default OUT.ckpt)\n"
    "  --init MODEL          start from this frame model's weights\n"
    "  --threads N           OpenBLAS threads (default all cores)\n";

/* The options of the frame parameter table (core/train/params.c), which
 * "train-frame" jobs take too, then the device options. */
static void usage(FILE *f)
{
	char rows[4096];

	dn_frame_params_help(rows, sizeof rows);
	fputs(usage_head, f);
	fputs(rows, f);
	fputs(DEVICE_OPTS_HELP, f);
}

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int on_epoch(const dn_frame_train_epoch *e, void *user)
{
	(void)user;
	printf("epoch %3d/%d  loss %.6f  val PSNR %.3f dB (noisy %.3f)  lr %.3g  %6.0f s%s\n", e->epoch,
	       e->epochs, e->loss, e->val_psnr, e->noisy_psnr, (double)e->lr, e->seconds,
	       e->best ? "  best" : "");
	fflush(stdout);
	return stop_requested;
}

static int threads_arg(const char *s, double *v)
{
	char *end;
	double x = strtod(s, &end);

	if (end == s || *end || !(x >= 1 && x <= 1024)) {
		fprintf(stderr, "denoise train-frame: --threads wants a number in 1..1024, not '%s'\n", s);
		return -1;
	}
	*v = x;
	return 0;
}

/* DIR/sub's photographs, or a message naming what is wrong. */
static int load_set(const char *data, const char *sub, dn_frame_set *s)
{
	char path[4096];
	dn_error err = {0};

	snprintf(path, sizeof path, "%s/%s", data, sub);
	if (dn_frame_set_load(path, 0, (size_t)1 << 28, 0, s, &err)) {
		fprintf(stderr, "denoise train-frame: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int cmd_train_frame(int argc, char **argv)
{
	const char *data = NULL, *out = NULL, *ckpt = NULL, *init = NULL;
	dn_frame_config cfg = dn_frame_config_default();
	dn_frame_train_params tp;
	dn_device device = cfg.train.device;
	int loaders = 0;
	double threads = 0;
	char ckpt_buf[4096];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return TOOLS_OK;
		}
		int dr = device_opts_parse(argc, argv, &i, &device, &loaders, "train-frame");
		if (dr < 0)
			return TOOLS_USAGE;
		if (dr > 0)
			continue;
		if (!val) {
			fprintf(stderr, "denoise train-frame: '%s' needs a value (or is unknown)\n", a);
			usage(stderr);
			return TOOLS_USAGE;
		}
		i++;
		const dn_train_param *row = strncmp(a, "--", 2) == 0 ? dn_frame_param_find(a) : NULL;
		dn_error perr = {0};
		if (!strcmp(a, "--data"))
			data = val;
		else if (!strcmp(a, "--out"))
			out = val;
		else if (!strcmp(a, "--checkpoint"))
			ckpt = val;
		else if (!strcmp(a, "--init"))
			init = val;
		else if (!strcmp(a, "--threads")) {
			if (threads_arg(val, &threads))
				return TOOLS_USAGE;
		} else if (row) {
			if (dn_frame_param_parse(row, &cfg, val, &perr)) {
				fprintf(stderr, "denoise train-frame: %s: %s\n", a, perr.msg);
				return TOOLS_USAGE;
			}
		} else {
			fprintf(stderr, "denoise train-frame: unknown option '%s'\n", a);
			usage(stderr);
			return TOOLS_USAGE;
		}
	}
	if (!data || !out) {
		fprintf(stderr, "denoise train-frame: --data and --out are required\n");
		usage(stderr);
		return TOOLS_USAGE;
	}
	{
		dn_error cerr = {0};
		if (dn_frame_config_check(&cfg, &cerr)) {
			fprintf(stderr, "denoise train-frame: %s\n", cerr.msg);
			return TOOLS_USAGE;
		}
	}
	tp = dn_frame_config_params(&cfg);
	tp.device = device;
	tp.loader_threads = loaders;
	if (!ckpt) {
		snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", out);
		ckpt = ckpt_buf;
	}
	if (threads > 0)
		openblas_set_num_threads((int)threads);
	tp.checkpoint = ckpt;
	tp.best = out;

	int status = TOOLS_FAIL;
	dn_frame_set train = {0}, val = {0};
	dn_model *m = NULL;
	dn_error err = {0};
	if (load_set(data, "train", &train) || load_set(data, "val", &val))
		goto done;
	if (init) {
		if (dn_model_load(init, &m, &err)) {
			fprintf(stderr, "denoise train-frame: %s\n", err.msg);
			goto done;
		}
	} else {
		dn_model_info info = cfg.info;
		snprintf(info.version, sizeof info.version, "trained");
		if (dn_frame_model_create(&info, tp.seed, &m, &err)) {
			fprintf(stderr, "denoise train-frame: %s\n", err.msg);
			goto done;
		}
	}
	char buf[256];
	snprintf(buf, sizeof buf,
	         "clean photographs at %s: %zu training / %zu validation images, sigma 0..%g/255", data,
	         train.n, val.n, (double)tp.sigma_max * 255.0);
	tools_set_provenance(m, argc, argv, buf);
	printf("training on %zu images, validating on %zu (%s); %zu parameters\n", train.n, val.n, data,
	       dn_unet_param_count(dn_model_unet(m)));
	fflush(stdout);

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (device_opts_check(&tp.device, "train-frame"))
		goto done;
	dn_frame_train_result res = {0};
	int rc = dn_frame_train(m, train.img, train.n, val.img, val.n, &tp, on_epoch, NULL, &res, &err);
	if (rc && rc != DN_ECANCELLED) {
		fprintf(stderr, "denoise train-frame: %s\n", err.msg);
		goto done;
	}
	snprintf(buf, sizeof buf, "%.1f", res.seconds);
	dn_model_set_metadata(m, "train.seconds", buf, NULL);
	snprintf(buf, sizeof buf, "%d of %d%s", res.epochs, tp.epochs,
	         rc == DN_ECANCELLED ? " (stopped by signal)"
	         : res.stopped == 1  ? " (early stop)"
	         : res.stopped == 2  ? " (time budget)"
	                             : "");
	dn_model_set_metadata(m, "train.epochs", buf, NULL);
	dn_model_set_metadata(m, "train.device", res.device, NULL);
	printf("device %s: %.1f s, the step waited %.1f%% of it for patches\n", res.device, res.seconds,
	       res.seconds > 0 ? 100.0 * res.data_wait_s / res.seconds : 0.0);
	snprintf(buf, sizeof buf, "%.4f", res.best_val_psnr);
	dn_model_set_metadata(m, "train.best_val_psnr_sigma25", buf, NULL);
	snprintf(buf, sizeof buf, "%.4f", res.noisy_val_psnr);
	dn_model_set_metadata(m, "train.noisy_val_psnr_sigma25", buf, NULL);
	snprintf(buf, sizeof buf, "%d", res.best_epoch);
	dn_model_set_metadata(m, "train.best_epoch", buf, NULL);
	if (dn_model_save(m, out, NULL, &err)) {
		fprintf(stderr, "denoise train-frame: %s\n", err.msg);
		goto done;
	}
	printf("best epoch %d (val PSNR %.3f dB, noisy %.3f dB); model written to %s\n", res.best_epoch,
	       res.best_val_psnr, res.noisy_val_psnr, out);
	status = TOOLS_OK;
done:
	dn_model_destroy(m);
	dn_frame_set_free(&train);
	dn_frame_set_free(&val);
	return status;
}
