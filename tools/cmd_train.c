/*
 * cmd_train.c — `denoise train`: trains a speech model with the core loop
 * (core/train/train.c) on a data set, printing progress, and saves the best model
 * with its provenance (data, command, time, machine) in the file's metadata.
 * SIGINT/SIGTERM stop at the next step; the checkpoint of the last finished
 * epoch and the best model so far stay on disk, and --resume continues.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/model/model.h"
#include "core/train/params.h"
#include "core/train/train.h"
#include "core/util/threads.h"
#include "tools/data_opts.h"
#include "tools/device_opts.h"
#include "tools/tools.h"

static const char usage_head[] =
    "usage: denoise train --out MODEL [options]\n"
    "Trains a speech model (defaults: the seed's recipe: Adam 1e-3, batch 16, MSE, 50 epochs,\n"
    "ReduceLROnPlateau 0.5/5, early stopping 10, 257x131 patches).\n" DATA_OPTS_HELP
    "  --out FILE            best model (by validation loss), written atomically\n"
    "  --checkpoint FILE     written every epoch (default OUT.ckpt)\n"
    "  --resume              continue from the checkpoint\n"
    "  --init MODEL          start from this model's weights and settings\n";
static const char usage_tail[] =
    "  --act relu|sigmoid|none --input-scale S\n"
    "  --threads N           OpenBLAS threads (default: all cores)\n" DEVICE_OPTS_HELP
    "  --quiet               print epochs only\n";

/* The options of the training parameters come from their table
 * (core/train/params.c), with their bounds and defaults. */
static void usage(FILE *f)
{
	char table[4096];

	dn_train_params_help(table, sizeof table);
	fprintf(f, "%s%s%s", usage_head, table, usage_tail);
}

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

typedef struct progress_ctx {
	int quiet;
	double last_print;
} progress_ctx;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int on_progress(const dn_train_progress *p, void *user)
{
	progress_ctx *c = user;
	double t = now_s();
	if (p->epoch_done) {
		printf("epoch %d/%d  loss %.5g  val_loss %.5g  lr %.3g  %.1f samples/s  eta %.0f s\n",
		       p->epoch, p->epochs, p->loss, p->val_loss, (double)p->lr, p->samples_per_s, p->eta_s);
		fflush(stdout);
	} else if (!c->quiet && t - c->last_print >= 10.0) {
		printf("  epoch %d step %lld/%lld  loss %.5g  %.1f samples/s  eta %.0f s\n", p->epoch,
		       (long long)p->step, (long long)p->steps, p->loss, p->samples_per_s, p->eta_s);
		fflush(stdout);
		c->last_print = t;
	}
	return stop_requested;
}

static int parse_float(const char *s, float *out)
{
	char *end;
	float v = strtof(s, &end);
	if (*end || end == s || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static int pick(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

int cmd_train(int argc, char **argv)
{
	dn_train_config cfg = dn_train_config_default();
	dn_dataset_params dp = dn_dataset_default_params();
	dp.cache_bytes = DATA_OPTS_CACHE_MB << 20;
	dp.path = "data/speech";
	dn_train_params tp;
	dn_model_info info;
	const char *out = NULL, *ckpt = NULL, *init = NULL;
	int kind_given = 0, threads = 0, quiet = 0, bad = 0, lookahead_given = 0;
	static const char *const acts[] = {"none", "relu", "sigmoid"};
	for (int i = 1; i < argc && !bad; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			usage(stdout);
			return TOOLS_OK;
		}
		int r = data_opts_parse(argc, argv, &i, &dp, "train");
		if (r < 0)
			return TOOLS_USAGE;
		if (r > 0) {
			kind_given |= !strcmp(o, "--dataset");
			continue;
		}
		if ((r = device_opts_parse(argc, argv, &i, &cfg.train.device, &cfg.train.loader_threads,
		                           "train")) < 0)
			return TOOLS_USAGE;
		if (r > 0)
			continue;
		if (!strcmp(o, "--resume") || !strcmp(o, "--quiet")) {
			*(strcmp(o, "--resume") ? &quiet : &cfg.train.resume) = 1;
			continue;
		}
		const dn_train_param *sw = o[0] == '-' && o[1] == '-' ? dn_train_param_find(o) : NULL;
		if (sw && sw->flag && (sw->flags & DN_PARAM_SWITCH) &&
		    (i + 1 >= argc || (strcmp(argv[i + 1], "0") && strcmp(argv[i + 1], "1")))) {
			dn_train_param_set(sw, &cfg, 1, NULL);
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "denoise train: %s needs a value (or is unknown)\n", o);
			usage(stderr);
			return TOOLS_USAGE;
		}
		const char *v = argv[++i];
		const dn_train_param *param = o[0] == '-' && o[1] == '-' ? dn_train_param_find(o) : NULL;
		if (param && param->flag) {
			dn_error perr = {0};
			if (dn_train_param_parse(param, &cfg, v, &perr)) {
				fprintf(stderr, "denoise train: %s\n", perr.msg);
				return TOOLS_USAGE;
			}
			lookahead_given |= !strcmp(param->name, "lookahead");
		} else if (!strcmp(o, "--out"))
			out = v;
		else if (!strcmp(o, "--checkpoint"))
			ckpt = v;
		else if (!strcmp(o, "--init"))
			init = v;
		else if (!strcmp(o, "--act"))
			bad = (cfg.info.arch.out_act = pick(v, acts, 3)) < 0;
		else if (!strcmp(o, "--input-scale"))
			bad = parse_float(v, &cfg.info.input_scale);
		else if (!strcmp(o, "--threads"))
			bad = tools_parse_int(v, 1, 1024, &threads);
		else {
			fprintf(stderr, "denoise train: unknown option '%s'\n", o);
			usage(stderr);
			return TOOLS_USAGE;
		}
		if (bad)
			fprintf(stderr, "denoise train: bad value '%s' for %s\n", v, o);
	}
	tp = cfg.train;
	info = cfg.info;
	dp.seed = tp.seed;
	dp.augment = cfg.data.augment; /* --augment and --aug-* are table rows */
	if (bad)
		return TOOLS_USAGE;
	if (!out) {
		fprintf(stderr, "denoise train: --out MODEL is required\n");
		usage(stderr);
		return TOOLS_USAGE;
	}
	if (device_opts_check(&tp.device, "train"))
		return TOOLS_USAGE;
	if (threads)
		dn_threads_set(threads);
	data_opts_guess_kind(&dp, kind_given);
	char ckpt_buf[4096];
	if (!ckpt) {
		snprintf(ckpt_buf, sizeof ckpt_buf, "%s.ckpt", out);
		ckpt = ckpt_buf;
	}
	tp.checkpoint = ckpt;
	tp.best = out;

	dn_error err = {0};
	dn_dataset *train = NULL, *valid = NULL;
	dn_model *m = NULL;
	int status = TOOLS_FAIL;
	dp.split = DN_SPLIT_TRAIN;
	if (dn_dataset_open(&dp, &train, &err)) {
		fprintf(stderr, "denoise train: training data: %s\n", err.msg);
		goto done;
	}
	dn_dataset_params vp = dp;
	vp.split = DN_SPLIT_VALID;
	vp.crop_seconds = 0.0;
	if (dn_dataset_open(&vp, &valid, &err)) {
		fprintf(stderr, "denoise train: validation data: %s\n", err.msg);
		goto done;
	}
	if (init) {
		if (dn_model_load(init, &m, &err)) {
			fprintf(stderr, "denoise train: --init: %s\n", err.msg);
			goto done;
		}
		/* --init keeps the model's settings; a lookahead given beside it
		 * retrains those weights for it */
		if (lookahead_given && dn_model_set_lookahead(m, info.lookahead, &err)) {
			fprintf(stderr, "denoise train: --lookahead with --init %s: %s\n", init, err.msg);
			goto done;
		}
	} else {
		dn_unet *net;
		if (dn_unet_create(&info.arch, tp.seed, &net, &err) ||
		    dn_model_create(&info, net, &m, &err)) {
			fprintf(stderr, "denoise train: %s\n", err.msg);
			goto done;
		}
	}
	/* Provenance: what a reader of the model file needs to reproduce it. */
	char buf[256];
	snprintf(buf, sizeof buf, "%s dataset at %s: %zu training / %zu validation files, SNR %g..%g dB",
	         dn_dataset_kind_name(dp.kind), dp.path, dn_dataset_count(train), dn_dataset_count(valid),
	         dp.snr_min_db, dp.snr_max_db);
	tools_set_provenance(m, argc, argv, buf);
	printf("training on %zu files, validating on %zu (%s); %zu parameters\n", dn_dataset_count(train),
	       dn_dataset_count(valid), dp.path, dn_unet_param_count(dn_model_unet(m)));
	fflush(stdout);

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	dn_pair_source ts = dn_dataset_pair_source(train), vs = dn_dataset_pair_source(valid);
	progress_ctx pc = {.quiet = quiet, .last_print = now_s()};
	static dn_train_history hist;
	double t0 = now_s();
	int rc = dn_train_speech(m, &ts, &vs, &tp, on_progress, &pc, &hist, &err);
	if (rc == DN_ECANCELLED) {
		fprintf(stderr,
		        "denoise train: stopped; checkpoint %s and best model %s kept (--resume continues)\n",
		        ckpt, out);
	} else if (rc) {
		fprintf(stderr, "denoise train: %s\n", err.msg);
	} else {
		/* Record the run's outcome in the best model's file. */
		snprintf(buf, sizeof buf, "%.1f", now_s() - t0);
		dn_model_set_metadata(m, "train.seconds", buf, NULL);
		snprintf(buf, sizeof buf, "%d of %d%s", hist.epochs, tp.epochs,
		         hist.stopped_early ? " (early stop)" : "");
		dn_model_set_metadata(m, "train.epochs", buf, NULL);
		snprintf(buf, sizeof buf, "%.9g", hist.best_val_loss);
		dn_model_set_metadata(m, "train.best_val_loss", buf, NULL);
		snprintf(buf, sizeof buf, "%d", hist.best_epoch);
		dn_model_set_metadata(m, "train.best_epoch", buf, NULL);
		dn_model_set_metadata(m, "train.device", hist.device, NULL);
		printf("device %s: %.1f s, the step waited %.1f%% of it for batches\n", hist.device,
		       hist.wall_s, hist.wall_s > 0 ? 100.0 * hist.data_wait_s / hist.wall_s : 0.0);
		if (dn_model_save(m, out, NULL, &err)) {
			fprintf(stderr, "denoise train: %s\n", err.msg);
		} else {
			printf("best epoch %d (val_loss %.5g); model written to %s\n", hist.best_epoch,
			       hist.best_val_loss, out);
			status = TOOLS_OK;
		}
	}
done:
	dn_model_destroy(m);
	dn_dataset_destroy(train);
	dn_dataset_destroy(valid);
	return status;
}
