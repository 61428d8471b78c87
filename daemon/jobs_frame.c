/*
 * jobs_frame.c — see jobs_frame.h. The photographs are decoded once, before
 * the run, with each image's size read from its header and the whole set
 * bounded by job_memory_budget (when set), so a data folder cannot take the
 * daemon's memory. A training run reports after every step (epoch, step,
 * loss, ETA) and after every epoch (validation PSNR at sigma 25); its curve
 * is kept here and becomes plots.json's "training".
 */
#include "daemon/jobs_frame.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/eval_json.h"
#include "core/nn/unet.h"
#include "core/train/frame_data.h"
#include "core/train/train_frame.h"
#include "daemon/jobs_run.h"
#include "daemon/jobs_store.h"

/* Per photograph, whatever the budget: 64 megapixels. */
#define FRAME_MAX_PIXELS ((size_t)1 << 26)

typedef struct curve {
	int n;
	int epoch[DN_TRAIN_MAX_EPOCHS];
	double loss[DN_TRAIN_MAX_EPOCHS], val_psnr[DN_TRAIN_MAX_EPOCHS], lr[DN_TRAIN_MAX_EPOCHS],
	    seconds[DN_TRAIN_MAX_EPOCHS];
	double noisy_psnr;
} curve;

typedef struct frame_ctx {
	jobs *J;
	job *jb;
	curve *cv;
	double val_psnr; /* of the last finished epoch, shown until the next */
} frame_ctx;

static int on_frame_train(const dn_frame_train_epoch *e, void *user)
{
	frame_ctx *c = user;
	job *jb = c->jb;
	jobs_train_report r;
	int stop;

	if (e->epoch_done)
		c->val_psnr = e->val_psnr;
	r = (jobs_train_report){e->epoch, e->epochs,   e->step,  e->steps,
	                        e->loss,  c->val_psnr, e->eta_s, e->epoch_done};
	stop = jobs_report_training(c->J, jb, &r);
	if (e->epoch_done && c->cv->n < DN_TRAIN_MAX_EPOCHS) {
		curve *cv = c->cv;

		cv->epoch[cv->n] = e->epoch;
		cv->loss[cv->n] = e->loss;
		cv->val_psnr[cv->n] = e->val_psnr;
		cv->lr[cv->n] = fdec(e->lr);
		cv->seconds[cv->n] = e->seconds;
		cv->noisy_psnr = e->noisy_psnr;
		cv->n++;
		jobs_log(jb, "epoch %d/%d loss %.6g val_psnr %.3f dB (noisy %.3f) lr %.3g%s", e->epoch,
		         e->epochs, e->loss, e->val_psnr, e->noisy_psnr, (double)e->lr,
		         e->best ? " best" : "");
	}
	return stop;
}

static int on_frame_eval(const dn_frame_eval_progress *p, void *user)
{
	frame_ctx *c = user;

	return jobs_report_files(c->J, c->jb, p->done, p->total, p->eta_s);
}

static json_t *series(const double *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, num(v[i]));
	return a;
}

static json_t *curve_json(const curve *cv, int best_epoch, int stopped)
{
	json_t *ep = json_array();

	for (int i = 0; i < cv->n; i++)
		json_array_append_new(ep, json_integer(cv->epoch[i]));
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:i, s:b, s:b}", "epoch", ep, "loss",
	                 series(cv->loss, cv->n), "val_psnr", series(cv->val_psnr, cv->n), "lr",
	                 series(cv->lr, cv->n), "seconds", series(cv->seconds, cv->n), "noisy_val_psnr",
	                 num(cv->noisy_psnr), "val_sigma", "25", "best_epoch", best_epoch, "stopped_early",
	                 stopped == 1, "time_budget", stopped == 2);
}

/* Photographs of dir, the set's decoded bytes bounded by what is left of
 * the budget once `used` bytes are loaded. */
static int load(jobs *J, const char *dir, size_t max_files, uint64_t used, const char *what, dn_frame_set *s,
                dn_error *err)
{
	uint64_t b = J->job_memory_budget;
	int rc =
	    dn_frame_set_load(dir, max_files, FRAME_MAX_PIXELS, b ? (b > used ? b - used : 1) : 0, s, err);

	if (rc)
		dn_error_set(err, rc, "%s: %s%s", what, err->msg,
		             rc == DN_ELIMIT && J->job_memory_budget ? " (job_memory_budget)" : "");
	return rc;
}

/* eval-frame's document: plots apart, the model's served name inside. */
static int split_eval(json_t *all, const char *name, json_t **metrics, json_t **plots, dn_error *err)
{
	if (!all)
		return dn_error_set(err, DN_ENOMEM, "out of memory encoding the evaluation");
	*plots = json_incref(json_object_get(all, "plots"));
	json_object_del(all, "plots");
	json_object_set_new(all, "model_name", json_string(name));
	*metrics = all;
	return DN_OK;
}

int jobs_run_eval_frame(jobs *J, job *jb, const job_conf *c, json_t **metrics, json_t **plots, dn_error *err)
{
	api_model *m = daemon_models_acquire(J->models, c->model);
	frame_ctx fc = {J, jb, NULL, NAN};
	dn_frame_set set = {0};
	dn_frame_eval_result *res = NULL;
	char dir[PATH_MAX];
	int st;

	if (!m)
		return dn_error_set(err, DN_ENOTFOUND, "model '%s' is no longer loaded", c->model);
	dn_frame_set_eval_dir(c->dataset_path, dir, sizeof dir);
	st = load(J, dir, c->frame_files, 0, "dataset", &set, err);
	if (!st) {
		jobs_log(jb, "evaluating frame model '%s' on %zu photographs of %s at %d sigmas", c->model,
		         set.n, dir, c->fe.n_sigma);
		st = dn_eval_frames(daemon_model_get(m), set.img, (const char *const *)set.name, set.n,
		                    &c->fe, on_frame_eval, &fc, &res, err);
	}
	if (!st)
		st = split_eval(api_eval_frame_json(res, c->model), c->model, metrics, plots, err);
	dn_frame_eval_result_free(res);
	dn_frame_set_free(&set);
	daemon_models_release(m);
	return st;
}

static int make_model(jobs *J, job *jb, const job_conf *c, dn_model **m, dn_error *err)
{
	api_model *am;
	dn_model_info info = c->fc.info;
	int st;

	if (!c->model[0]) {
		snprintf(info.version, sizeof info.version, "%s", jb->id);
		return dn_frame_model_create(&info, c->fc.train.seed, m, err);
	}
	am = daemon_models_acquire(J->models, c->model);
	if (!am)
		return dn_error_set(err, DN_ENOTFOUND, "model '%s' is no longer loaded", c->model);
	st = dn_model_load(daemon_model_path(am), m, err);
	daemon_models_release(am);
	return st;
}

int jobs_run_train_frame(jobs *J, job *jb, const job_conf *c, json_t **metrics, json_t **plots, dn_error *err)
{
	dn_frame_train_params tp = dn_frame_config_params(&c->fc);
	dn_frame_train_result res = {0};
	dn_frame_eval_params ep = dn_frame_eval_default_params();
	dn_frame_eval_result *ev = NULL;
	dn_frame_set train = {0}, val = {0};
	curve *cv = calloc(1, sizeof *cv);
	frame_ctx fc = {J, jb, cv, NAN};
	dn_model *m = NULL;
	char ckpt[PATH_MAX], best[PATH_MAX], dir[PATH_MAX + 8], buf[512], when[64];
	time_t now = time(NULL);
	json_t *eval = NULL;
	int st;

	if (!cv)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", jb->dir);
	snprintf(best, sizeof best, "%s/model.safetensors", jb->dir);
	tp.checkpoint = ckpt;
	tp.best = best;
	tp.step_progress = 1;
	tp.device = c->dev;
	snprintf(dir, sizeof dir, "%s/train", c->dataset_path);
	st = load(J, dir, 0, 0, "training photographs", &train, err);
	snprintf(dir, sizeof dir, "%s/val", c->dataset_path);
	if (!st)
		st = load(J, dir, 0, train.bytes, "validation photographs", &val, err);
	if (!st)
		st = make_model(J, jb, c, &m, err);
	if (!st) {
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		snprintf(buf, sizeof buf,
		         "clean photographs %.100s (%.200s): %zu training / %zu validation images, sigma "
		         "%g..%g/255",
		         c->dataset, c->dataset_path, train.n, val.n, (double)c->fc.sigma_min,
		         (double)c->fc.sigma_max);
		dn_model_set_metadata(m, "train.data", buf, NULL);
		dn_model_set_metadata(m, "train.job", jb->id, NULL);
		dn_model_set_metadata(m, "train.started", when, NULL);
		jobs_log(jb, "training a frame model on %zu photographs, validating on %zu; %zu parameters",
		         train.n, val.n, dn_unet_param_count(dn_model_unet(m)));
		st = dn_frame_train(m, train.img, train.n, val.img, val.n, &tp, on_frame_train, &fc, &res,
		                    err);
	}
	if (!st) {
		snprintf(buf, sizeof buf, "%.1f", res.seconds);
		dn_model_set_metadata(m, "train.seconds", buf, NULL);
		snprintf(buf, sizeof buf, "%d of %d%s", res.epochs, tp.epochs,
		         res.stopped == 1   ? " (early stop)"
		         : res.stopped == 2 ? " (time budget)"
		                            : "");
		dn_model_set_metadata(m, "train.epochs", buf, NULL);
		dn_model_set_metadata(m, "train.device", res.device, NULL);
		snprintf(buf, sizeof buf, "%.4f", res.best_val_psnr);
		dn_model_set_metadata(m, "train.best_val_psnr_sigma25", buf, NULL);
		snprintf(buf, sizeof buf, "%d", res.best_epoch);
		dn_model_set_metadata(m, "train.best_epoch", buf, NULL);
		st = dn_model_save(m, best, NULL, err);
	}
	/* The best model's figures per sigma, on the validation photographs. */
	if (!st) {
		jobs_log(jb, "scoring the best model (epoch %d) on the validation photographs",
		         res.best_epoch);
		st = dn_eval_frames(m, val.img, (const char *const *)val.name, val.n, &ep, NULL, NULL, &ev,
		                    err);
	}
	if (!st && !(eval = api_eval_frame_json(ev, jb->id)))
		st = dn_error_set(err, DN_ENOMEM, "out of memory encoding the evaluation");
	if (!st) {
		json_t *ep_plots = json_object_get(eval, "plots");
		int last = cv->n - 1;

		*metrics = json_pack(
		    "{s:i, s:o, s:o, s:i, s:i, s:b, s:o, s:I, s:I, s:I, s:s, s:s, s:O, s:O}", "best_epoch",
		    res.best_epoch, "best_val_psnr", num(res.best_val_psnr), "noisy_val_psnr",
		    num(res.noisy_val_psnr), "epochs", res.epochs, "max_epochs", tp.epochs, "stopped_early",
		    res.stopped == 1, "final_loss", num(last >= 0 ? cv->loss[last] : NAN), "train_files",
		    (json_int_t)train.n, "valid_files", (json_int_t)val.n, "parameters",
		    (json_int_t)dn_unet_param_count(dn_model_unet(m)), "model_version",
		    dn_model_get_info(m)->version, "device", res.device, "summary",
		    json_object_get(eval, "summary"), "by_sigma", json_object_get(eval, "by_sigma"));
		*plots = json_pack("{s:o, s:O, s:O}", "training", curve_json(cv, res.best_epoch, res.stopped),
		                   "metric_vs_sigma", json_object_get(ep_plots, "metric_vs_sigma"),
		                   "examples", json_object_get(ep_plots, "examples"));
		if (!*metrics || !*plots) {
			json_decref(*metrics);
			json_decref(*plots);
			*metrics = *plots = NULL;
			st = dn_error_set(err, DN_ENOMEM, "out of memory");
		}
	}
	json_decref(eval);
	dn_frame_eval_result_free(ev);
	dn_model_destroy(m);
	dn_frame_set_free(&train);
	dn_frame_set_free(&val);
	free(cv);
	return st;
}
