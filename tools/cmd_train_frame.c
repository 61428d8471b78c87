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
#include "core/train/params.h"
#include "core/train/train_frame.h"
#include "tools/device_opts.h"
#include "tools/tools.h"

static const char usage_text[] =
    "usage: denoise train-frame --data DIR --out MODEL [options]\n"
    "Trains a frame (RGB, residual) model on DIR/train/*.{jpg,png}, validating on DIR/val/*.{jpg,png}:\n"
    "random patches with flips/quarter turns, Gaussian noise sigma ~ U[0, 50]/255, MSE, Adam.\n"
    "  --data DIR            folder with train/ and val/ (scripts/make-frame-data.py)\n"
    "  --out FILE            best model (by validation PSNR at sigma 25), written atomically\n"
    "  --checkpoint FILE     latest model, every epoch (default OUT.ckpt)\n"
    "  --init MODEL          start from this frame model's weights\n"
    "  --filters N --depth N network size (default 16, 3)\n"
    "  --epochs N (50) --steps N (100 per epoch) --batch N (16) --patch N (64) --lr X (1e-3)\n"
    "  --sigma-max S (50, on the 0..255 scale) --lr-patience N (5) --early-stop N (10)\n"
    "  --clip-noise 0|1      clip noisy pixels to [0, 255], as 8-bit frames are (default 0)\n"
    "  --minutes M           stop after the epoch that crosses M minutes (default: no limit)\n"
    "  --seed S (1) --threads N (OpenBLAS threads; default all cores)\n" DEVICE_OPTS_HELP;

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

/* Loads every *.jpg / *.jpeg / *.png of dir (sorted by name, so runs repeat). */
static int load_dir(const char *dir, dn_image **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "denoise train-frame: cannot open '%s': %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t cnt = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && dn_image_format_of_path(de->d_name)) {
			char **nn = realloc(names, (cnt + 1) * sizeof *names);
			if (!nn)
				break;
			names = nn;
			names[cnt++] = strdup(de->d_name);
		}
	}
	closedir(d);
	for (size_t i = 1; i < cnt; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	dn_image *imgs = calloc(cnt ? cnt : 1, sizeof *imgs);
	int rc = imgs ? 0 : -1;
	for (size_t i = 0; i < cnt; i++) {
		char path[4096];
		dn_error err = {0};
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (!rc && dn_image_read_file(path, (size_t)1 << 28, &imgs[i], &err)) {
			fprintf(stderr, "denoise train-frame: %s\n", err.msg);
			rc = -1;
		}
		free(names[i]);
	}
	free(names);
	if (!rc && cnt == 0) {
		fprintf(stderr, "denoise train-frame: no .jpg or .png files in '%s'\n", dir);
		rc = -1;
	}
	*out = imgs;
	*n = cnt;
	return rc;
}

static void free_images(dn_image *imgs, size_t n)
{
	for (size_t i = 0; imgs && i < n; i++)
		dn_image_free(&imgs[i]);
	free(imgs);
}

static int num(const char *opt, const char *s, double lo, double hi, double *v)
{
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (errno || end == s || *end || !(x >= lo && x <= hi)) {
		fprintf(stderr, "denoise train-frame: %s wants a number in %g..%g, not '%s'\n", opt, lo, hi,
		        s);
		return -1;
	}
	*v = x;
	return 0;
}

/* An option that a speech training run has too: its bounds are the
 * training parameters' (core/train/params.c); the defaults stay the frame
 * model's own. */
static int shared(const char *opt, const char *s, const char *name, double *v)
{
	const dn_train_param *p = dn_train_param_find(name);

	return num(opt, s, p->lo, p->hi, v);
}

static int known(const char *a)
{
	static const char *const opts[] = {
	    "--data",        "--out",        "--checkpoint", "--init",  "--filters", "--depth",
	    "--epochs",      "--steps",      "--batch",      "--patch", "--lr",      "--sigma-max",
	    "--lr-patience", "--early-stop", "--minutes",    "--seed",  "--threads", "--clip-noise"};
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if (!strcmp(a, opts[i]))
			return 1;
	return 0;
}

int cmd_train_frame(int argc, char **argv)
{
	const char *data = NULL, *out = NULL, *ckpt = NULL, *init = NULL;
	dn_frame_train_params tp = dn_frame_train_default_params();
	double filters = 16, depth = 3, threads = 0, v;
	char ckpt_buf[4096];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return TOOLS_OK;
		}
		int dr = device_opts_parse(argc, argv, &i, &tp.device, &tp.loader_threads, "train-frame");
		if (dr < 0)
			return TOOLS_USAGE;
		if (dr > 0)
			continue;
		if (!val) {
			fprintf(stderr, "denoise train-frame: '%s' needs a value (or is unknown)\n", a);
			fputs(usage_text, stderr);
			return TOOLS_USAGE;
		}
		i++;
		int bad = 0;
		if (!strcmp(a, "--data"))
			data = val;
		else if (!strcmp(a, "--out"))
			out = val;
		else if (!strcmp(a, "--checkpoint"))
			ckpt = val;
		else if (!strcmp(a, "--init"))
			init = val;
		else if (!strcmp(a, "--filters"))
			bad = shared(a, val, "filters", &filters);
		else if (!strcmp(a, "--depth"))
			bad = shared(a, val, "depth", &depth);
		else if (!strcmp(a, "--epochs") && !(bad = shared(a, val, "epochs", &v)))
			tp.epochs = (int)v;
		else if (!strcmp(a, "--steps") && !(bad = num(a, val, 1, 1e7, &v)))
			tp.steps_per_epoch = (int)v;
		else if (!strcmp(a, "--batch") && !(bad = shared(a, val, "batch", &v)))
			tp.batch = (int)v;
		else if (!strcmp(a, "--patch") && !(bad = num(a, val, 8, 1024, &v)))
			tp.patch = (int)v;
		else if (!strcmp(a, "--lr") && !(bad = shared(a, val, "lr", &v)))
			tp.lr = (float)v;
		else if (!strcmp(a, "--sigma-max") && !(bad = num(a, val, 0, 255, &v)))
			tp.sigma_max = (float)(v / 255.0);
		else if (!strcmp(a, "--lr-patience") && !(bad = shared(a, val, "lr_patience", &v)))
			tp.lr_patience = (int)v;
		else if (!strcmp(a, "--early-stop") && !(bad = shared(a, val, "early_stop", &v)))
			tp.early_stop = (int)v;
		else if (!strcmp(a, "--minutes") && !(bad = num(a, val, 0, 1e6, &v)))
			tp.max_seconds = v * 60.0;
		else if (!strcmp(a, "--seed") && !(bad = shared(a, val, "seed", &v)))
			tp.seed = (uint64_t)v;
		else if (!strcmp(a, "--clip-noise") && !(bad = num(a, val, 0, 1, &v)))
			tp.clip = (int)v;
		else if (!strcmp(a, "--threads"))
			bad = num(a, val, 1, 1024, &threads);
		else if (!known(a)) {
			fprintf(stderr, "denoise train-frame: unknown option '%s'\n", a);
			fputs(usage_text, stderr);
			return TOOLS_USAGE;
		}
		if (bad)
			return TOOLS_USAGE;
	}
	if (!data || !out) {
		fprintf(stderr, "denoise train-frame: --data and --out are required\n");
		fputs(usage_text, stderr);
		return TOOLS_USAGE;
	}
	if (!ckpt) {
		snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", out);
		ckpt = ckpt_buf;
	}
	if (threads > 0)
		openblas_set_num_threads((int)threads);
	tp.checkpoint = ckpt;
	tp.best = out;

	int status = TOOLS_FAIL;
	dn_image *train = NULL, *val = NULL;
	size_t ntrain = 0, nval = 0;
	dn_model *m = NULL;
	dn_error err = {0};
	char path[4096];
	snprintf(path, sizeof path, "%s/train", data);
	if (load_dir(path, &train, &ntrain))
		goto done;
	snprintf(path, sizeof path, "%s/val", data);
	if (load_dir(path, &val, &nval))
		goto done;
	if (init) {
		if (dn_model_load(init, &m, &err)) {
			fprintf(stderr, "denoise train-frame: %s\n", err.msg);
			goto done;
		}
	} else {
		dn_model_info info = dn_model_default_info(DN_MODEL_FRAME);
		info.arch.base_filters = (int)filters;
		info.arch.depth = (int)depth;
		snprintf(info.version, sizeof info.version, "trained");
		dn_unet *net;
		if (dn_unet_create(&info.arch, tp.seed, &net, &err)) {
			fprintf(stderr, "denoise train-frame: %s\n", err.msg);
			goto done;
		}
		/* A zero output convolution makes the fresh residual net the
		 * identity (it predicts no noise), so training starts at the noisy
		 * input's PSNR instead of a random image's; gradients still reach
		 * the output weights, which are the first to move. */
		size_t np;
		const dn_param *prm = dn_unet_params(net, &np);
		for (size_t k = 0; k < np; k++)
			if (!strcmp(prm[k].name, "out.weight") || !strcmp(prm[k].name, "out.bias"))
				memset(prm[k].data, 0, prm[k].size * sizeof(float));
		if (dn_model_create(&info, net, &m, &err)) {
			fprintf(stderr, "denoise train-frame: %s\n", err.msg);
			goto done;
		}
	}
	char buf[256];
	snprintf(buf, sizeof buf,
	         "clean photographs at %s: %zu training / %zu validation images, sigma 0..%g/255", data,
	         ntrain, nval, (double)tp.sigma_max * 255.0);
	tools_set_provenance(m, argc, argv, buf);
	printf("training on %zu images, validating on %zu (%s); %zu parameters\n", ntrain, nval, data,
	       dn_unet_param_count(dn_model_unet(m)));
	fflush(stdout);

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (device_opts_check(&tp.device, "train-frame"))
		goto done;
	dn_frame_train_result res = {0};
	int rc = dn_frame_train(m, train, ntrain, val, nval, &tp, on_epoch, NULL, &res, &err);
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
	free_images(train, ntrain);
	free_images(val, nval);
	return status;
}
