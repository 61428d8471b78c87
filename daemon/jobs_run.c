/*
 * jobs_run.c — see jobs_run.h. The normalized spec (every default filled in)
 * is what spec.json keeps and what a runner re-validates before it starts, so
 * a job recovered after a restart is checked against the configuration of
 * the new process (a data root removed since refuses it). J->mu is never held
 * while a job computes.
 */
#include "daemon/jobs_run.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/eval_json.h"
#include "core/nn/unet.h"
#include "daemon/jobs_frame.h"
#include "daemon/jobs_spec.h"
#include "daemon/jobs_store.h"
#include "daemon/log.h"

#define HEARTBEAT_S      2
#define PROGRESS_WAKE_S  0.2
#define PROGRESS_WRITE_S 1.0

void jobs_progress_report(jobs *J, job *jb, int final)
{
	double t = mono_s();

	jb->have_progress = 1;
	if (final || t - jb->last_wake >= PROGRESS_WAKE_S)
		jobs_changed(J, jb);
	if (final || t - jb->last_write >= PROGRESS_WRITE_S)
		jobs_save_progress(jb);
}

typedef struct run_ctx {
	jobs *J;
	job *jb;
} run_ctx;

int jobs_report_training(jobs *J, job *jb, const jobs_train_report *r)
{
	pthread_mutex_lock(&J->mu);
	jb->epoch = r->epoch;
	jb->epochs = r->epochs;
	jb->step = r->step;
	jb->steps = r->steps;
	jb->loss = r->loss;
	jb->val_loss = r->val;
	jb->eta_s = r->eta_s;
	jb->fraction = r->epochs > 0
	                   ? ((double)(r->epoch - 1) + (r->epoch_done ? 1.0
	                                                : r->steps    ? (double)r->step / (double)r->steps
	                                                              : 0.0)) /
	                         (double)r->epochs
	                   : 0.0;
	jobs_progress_report(J, jb, r->epoch_done);
	pthread_mutex_unlock(&J->mu);
	return atomic_load(&jb->stop) != STOP_NONE;
}

/* Records progress; the job's stop flag is the answer. */
static int on_train(const dn_train_progress *p, void *user)
{
	run_ctx *c = user;
	job *jb = c->jb;
	jobs_train_report r = {p->epoch, p->epochs,   p->step,  p->steps,
	                       p->loss,  p->val_loss, p->eta_s, p->epoch_done};
	int stop = jobs_report_training(c->J, jb, &r);

	if (p->epoch_done)
		jobs_log(jb, "epoch %d/%d loss %.6g val_loss %.6g lr %.3g", p->epoch, p->epochs, p->loss,
		         p->val_loss, (double)p->lr);
	return stop;
}

int jobs_report_files(jobs *J, job *jb, size_t done, size_t total, double eta_s)
{
	pthread_mutex_lock(&J->mu);
	jb->step = (int64_t)done;
	jb->steps = (int64_t)total;
	jb->fraction = total ? (double)done / (double)total : 0.0;
	jb->eta_s = eta_s;
	jobs_progress_report(J, jb, done == total);
	pthread_mutex_unlock(&J->mu);
	return atomic_load(&jb->stop) != STOP_NONE;
}

static int on_eval(const dn_eval_progress *p, void *user)
{
	run_ctx *c = user;

	return jobs_report_files(c->J, c->jb, p->done, p->total, p->eta_s);
}

static int corpus_missing(const job_conf *c, dn_error *err)
{
	if (c->builtin && !jobs_file_exists(c->dataset_path, "manifest.tsv"))
		return dn_error_set(
		    err, DN_ENOTFOUND,
		    "the built-in speech corpus is not at %s: generate it with "
		    "scripts/make-speech-corpus.py --out %s (needs espeak-ng and sox), or name a "
		    "dataset under data_roots",
		    c->dataset_path, c->dataset_path);
	return DN_OK;
}

static int run_eval(run_ctx *rc, const job_conf *c, json_t **metrics, json_t **plots, dn_error *err)
{
	api_model *m = daemon_models_acquire(rc->J->models, c->model);
	dn_dataset_params dp = c->dp;
	dn_dataset *d = NULL;
	dn_eval_result *res = NULL;
	int st;

	if (!m)
		return dn_error_set(err, DN_ENOTFOUND, "model '%s' is no longer loaded", c->model);
	dp.path = c->dataset_path;
	dp.noise_dir = c->noise_path[0] ? c->noise_path : NULL;
	st = corpus_missing(c, err);
	if (!st)
		st = dn_dataset_open(&dp, &d, err);
	if (!st) {
		dn_clean_source src = dn_dataset_clean_source(d);
		dn_eval_params ep = c->ep;

		ep.noises = dn_dataset_noises(d, &ep.n_noises);

		jobs_log(rc->jb, "evaluating model '%s' on %s (%s split, %zu files; %s)", c->model,
		         c->dataset, dn_split_name(dp.split), dn_dataset_count(d), c->dataset_path);
		st = dn_eval_speech(daemon_model_get(m), &src, &ep, on_eval, rc, &res, err);
	}
	if (!st) {
		json_t *all = api_eval_json(res);

		if (!all) {
			st = dn_error_set(err, DN_ENOMEM, "out of memory encoding the evaluation");
		} else {
			*plots = json_incref(json_object_get(all, "plots"));
			json_object_del(all, "plots");
			json_object_set_new(all, "model_name", json_string(c->model));
			*metrics = all;
		}
	}
	dn_eval_result_free(res);
	dn_dataset_destroy(d);
	daemon_models_release(m);
	return st;
}

static json_t *training_plots(const dn_train_history *h)
{
	json_t *ep = json_array(), *loss = json_array(), *vl = json_array(), *lr = json_array(),
	       *sec = json_array();

	for (int i = 0; i < h->epochs; i++) {
		json_array_append_new(ep, json_integer(i + 1));
		json_array_append_new(loss, num(h->loss[i]));
		json_array_append_new(vl, num(h->val_loss[i]));
		json_array_append_new(lr, num(fdec(h->lr[i])));
		json_array_append_new(sec, num(h->seconds[i]));
	}
	return json_pack("{s:{s:o, s:o, s:o, s:o, s:o, s:i, s:b}}", "training", "epoch", ep, "loss", loss,
	                 "val_loss", vl, "lr", lr, "seconds", sec, "best_epoch", h->best_epoch,
	                 "stopped_early", h->stopped_early);
}

static int run_train(run_ctx *rc, const job_conf *c, json_t **metrics, json_t **plots, dn_error *err)
{
	job *jb = rc->jb;
	dn_dataset_params dp = c->dp, vp;
	dn_dataset *train = NULL, *valid = NULL;
	dn_model *m = NULL;
	dn_train_params tp = c->tp;
	dn_train_history *hist = calloc(1, sizeof *hist);
	char ckpt[PATH_MAX], best[PATH_MAX], buf[512], when[64];
	double t0 = mono_s();
	time_t now = time(NULL);
	int st;

	if (!hist)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", jb->dir);
	snprintf(best, sizeof best, "%s/model.safetensors", jb->dir);
	tp.checkpoint = ckpt;
	tp.best = best;
	tp.resume = 1; /* from the checkpoint when there is one (a restart) */
	dp.path = c->dataset_path;
	dp.noise_dir = c->noise_path[0] ? c->noise_path : NULL;
	dp.split = DN_SPLIT_TRAIN;
	vp = dp;
	vp.split = DN_SPLIT_VALID;
	vp.crop_seconds = 0.0;
	st = corpus_missing(c, err);
	if (!st && (st = dn_dataset_open(&dp, &train, err)))
		dn_error_set(err, st, "training data: %s", err->msg);
	if (!st && (st = dn_dataset_open(&vp, &valid, err)))
		dn_error_set(err, st, "validation data: %s", err->msg);
	if (!st && c->model[0]) {
		api_model *am = daemon_models_acquire(rc->J->models, c->model);

		if (!am)
			st = dn_error_set(err, DN_ENOTFOUND, "model '%s' is no longer loaded", c->model);
		else
			st = dn_model_load(daemon_model_path(am), &m, err);
		daemon_models_release(am);
	} else if (!st) {
		dn_model_info info = c->info;
		dn_unet *net;

		snprintf(info.version, sizeof info.version, "%s", jb->id);
		if (!(st = dn_unet_create(&info.arch, tp.seed, &net, err)))
			st = dn_model_create(&info, net, &m, err);
	}
	if (!st) {
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		snprintf(buf, sizeof buf,
		         "%s dataset %.100s (%.200s): %zu training / %zu validation files, SNR %g..%g dB",
		         dn_dataset_kind_name(dp.kind), c->dataset, dp.path, dn_dataset_count(train),
		         dn_dataset_count(valid), dp.snr_min_db, dp.snr_max_db);
		dn_model_set_metadata(m, "train.data", buf, NULL);
		dn_model_set_metadata(m, "train.job", jb->id, NULL);
		dn_model_set_metadata(m, "train.started", when, NULL);
		jobs_log(jb, "training on %zu files, validating on %zu; %zu parameters%s",
		         dn_dataset_count(train), dn_dataset_count(valid),
		         dn_unet_param_count(dn_model_unet(m)),
		         access(ckpt, F_OK) == 0 ? "; resuming from the checkpoint" : "");
		{
			dn_pair_source ts = dn_dataset_pair_source(train), vs = dn_dataset_pair_source(valid);

			st = dn_train_speech(m, &ts, &vs, &tp, on_train, rc, hist, err);
		}
	}
	if (!st) {
		snprintf(buf, sizeof buf, "%.1f", mono_s() - t0);
		dn_model_set_metadata(m, "train.seconds", buf, NULL);
		snprintf(buf, sizeof buf, "%d of %d%s", hist->epochs, tp.epochs,
		         hist->stopped_early ? " (early stop)" : "");
		dn_model_set_metadata(m, "train.epochs", buf, NULL);
		snprintf(buf, sizeof buf, "%.9g", hist->best_val_loss);
		dn_model_set_metadata(m, "train.best_val_loss", buf, NULL);
		snprintf(buf, sizeof buf, "%d", hist->best_epoch);
		dn_model_set_metadata(m, "train.best_epoch", buf, NULL);
		st = dn_model_save(m, best, NULL, err);
	}
	if (!st) {
		int last = hist->epochs - 1;

		*metrics = json_pack(
		    "{s:i, s:o, s:i, s:i, s:b, s:o, s:o, s:I, s:I, s:I, s:s}", "best_epoch", hist->best_epoch,
		    "best_val_loss", num(hist->best_val_loss), "epochs", hist->epochs, "max_epochs",
		    tp.epochs, "stopped_early", hist->stopped_early, "final_loss",
		    num(last >= 0 ? hist->loss[last] : NAN), "final_val_loss",
		    num(last >= 0 ? hist->val_loss[last] : NAN), "train_files",
		    (json_int_t)dn_dataset_count(train), "valid_files", (json_int_t)dn_dataset_count(valid),
		    "parameters", (json_int_t)dn_unet_param_count(dn_model_unet(m)), "model_version",
		    dn_model_get_info(m)->version);
		*plots = training_plots(hist);
	}
	dn_model_destroy(m);
	dn_dataset_destroy(train);
	dn_dataset_destroy(valid);
	free(hist);
	return st;
}

/* A failed job keeps no results: no model a registration or a client could
 * take for the outcome (the best weights of an earlier epoch), no plots of
 * half a run. The checkpoint stays: it is what a resubmit goes on from. */
static void drop_results(const job *jb)
{
	static const char *const files[] = {"model.safetensors", "plots.json", "metrics.json"};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", jb->dir, files[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			daemon_log(LOG_LVL_WARNING, "job %s: cannot remove %s: %s", jb->id, files[i],
			           strerror(errno));
	}
}

static void run_one(jobs *J, job *jb)
{
	run_ctx rc = {J, jb};
	job_conf *c = calloc(1, sizeof *c);
	json_t *metrics = NULL, *plots = NULL;
	char field[96];
	vstate v;
	dn_error err = {0};
	int st, stop;

	v = (vstate){field, sizeof field, &err};
	if (!c) {
		st = dn_error_set(&err, DN_ENOMEM, "out of memory");
	} else {
		pthread_mutex_lock(&J->mu);
		st = jobs_spec_parse(J, jb->spec, c, NULL, &v);
		pthread_mutex_unlock(&J->mu);
		if (st)
			dn_error_set(&err, st, "the spec is no longer valid here: %s", err.msg);
	}
	if (!st)
		st = c->type == JOB_TRAIN         ? run_train(&rc, c, &metrics, &plots, &err)
		     : c->type == JOB_TRAIN_FRAME ? jobs_run_train_frame(J, jb, c, &metrics, &plots, &err)
		     : c->type == JOB_EVAL_FRAME  ? jobs_run_eval_frame(J, jb, c, &metrics, &plots, &err)
		                                  : run_eval(&rc, c, &metrics, &plots, &err);
	if (!st && plots && (st = jobs_write_json(jb->dir, "plots.json", plots, &err)) == DN_OK)
		st = jobs_write_json(jb->dir, "metrics.json", metrics, &err);
	if (st && st != DN_ECANCELLED)
		drop_results(jb);
	stop = atomic_load(&jb->stop);
	pthread_mutex_lock(&J->mu);
	if (st == DN_ECANCELLED && stop == STOP_SHUTDOWN) {
		/* Not the user's doing: runs again at the next start. */
		jb->state = ST_QUEUED;
		jb->started_ms = 0;
	} else {
		jb->finished_ms = now_ms();
		if (!st) {
			jb->state = ST_SUCCEEDED;
			jb->metrics = json_incref(metrics);
			jb->fraction = 1.0;
		} else if (st == DN_ECANCELLED) {
			jb->state = ST_CANCELLED;
		} else {
			jb->state = ST_FAILED;
			snprintf(jb->error, sizeof jb->error, "%s", err.msg);
			jobs_scrub(J, jb->error, sizeof jb->error);
		}
	}
	jobs_save_progress(jb);
	jobs_save_status_logged(jb);
	jobs_changed(J, jb);
	pthread_mutex_unlock(&J->mu);
	if (st == DN_ECANCELLED && stop == STOP_SHUTDOWN)
		jobs_log(jb, "interrupted by shutdown; runs again at the next start");
	else if (st == DN_ECANCELLED)
		jobs_log(jb, "cancelled%s",
		         jobs_file_exists(jb->dir, "checkpoint.safetensors")
		             ? "; the checkpoint of the last finished epoch is kept"
		             : "");
	else if (st)
		jobs_log(jb, "failed: %s", err.msg);
	else
		jobs_log(jb, "succeeded");
	if (!st && c->register_as[0]) {
		dn_error rerr;

		if (jobs_register_model(J, jb->id, c->register_as, &rerr) != DN_OK)
			jobs_log(jb, "register_as %s: %s", c->register_as, rerr.msg);
	}
	json_decref(metrics);
	json_decref(plots);
	free(c);
}

void *jobs_runner(void *arg)
{
	jobs *J = arg;

	/* Linux's nice is per thread: jobs give way to the request workers
	 * instead of doubling their latency. */
	if (J->nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), J->nice) != 0)
		daemon_log(LOG_LVL_WARNING, "jobs: cannot set nice %d on a job thread: %s", J->nice,
		           strerror(errno));
	pthread_mutex_lock(&J->mu);
	for (;;) {
		job *jb = NULL;

		for (size_t i = 0; i < J->n && !jb; i++)
			if (J->v[i]->state == ST_QUEUED)
				jb = J->v[i];
		if (J->stopping)
			break;
		if (!jb) {
			pthread_cond_wait(&J->work, &J->mu);
			continue;
		}
		jb->state = ST_RUNNING;
		jb->busy = 1;
		jb->started_ms = now_ms();
		atomic_store(&jb->stop, STOP_NONE);
		jobs_save_status_logged(jb);
		jobs_changed(J, jb);
		pthread_mutex_unlock(&J->mu);
		jobs_log(jb, "started");
		run_one(J, jb);
		pthread_mutex_lock(&J->mu);
		jb->busy = 0;
		pthread_cond_broadcast(&J->idle);
	}
	pthread_mutex_unlock(&J->mu);
	return NULL;
}

void *jobs_heartbeat(void *arg)
{
	jobs *J = arg;

	pthread_mutex_lock(&J->mu);
	while (!J->stopping) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += HEARTBEAT_S;
		pthread_cond_timedwait(&J->tick, &J->mu, &ts);
		jobs_fire_watches(J, NULL);
		if (!J->stopping)
			jobs_maintain(J);
	}
	pthread_mutex_unlock(&J->mu);
	return NULL;
}
