/*
 * eval.c — speech model evaluation (see eval.h): the results as data; their
 * JSON is api/eval_json.c's.
 *
 * For each clean file, each noise kind and each SNR: noise is generated from
 * a stream seeded by (seed, file, kind·64 + snr index), mixed at the SNR, run
 * through the model's pipeline (core/speech), and both the noisy mix and the
 * output are scored against the clean reference. A metric that is undefined
 * for a file (e.g. STOI on a clip shorter than its 30-frame minimum) is
 * recorded as NaN and left out of that metric's aggregates, whose counts say
 * so — never silently replaced by a number.
 */
#include "core/train/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/audio/audio.h"
#include "core/metrics/metrics.h"
#include "core/audio/noise.h"
#include "core/util/rng.h"
#include "core/audio/speech.h"
#include "core/audio/stft.h"

static const char *const metric_names[DN_EVAL_NMETRICS] = {
    "pesq_wb", "stoi", "si_sdr_db", "snr_db", "spec_mse", "spec_mae", "spec_ssim", "spec_psnr_db"};

const char *dn_eval_metric_name(int metric)
{
	return metric >= 0 && metric < DN_EVAL_NMETRICS ? metric_names[metric] : NULL;
}

dn_eval_params dn_eval_default_params(void)
{
	dn_eval_params p = {.noise_mask =
	                        (1u << DN_NOISE_WHITE) | (1u << DN_NOISE_PINK) | (1u << DN_NOISE_BROWN),
	                    .n_snr = 5,
	                    .seed = 20261125,
	                    .examples = 3,
	                    .hist_bins = 20};
	for (int i = 0; i < 5; i++)
		p.snr_db[i] = 5.0 * (i + 1);
	return p;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float scaled(const dn_model_info *info, float m)
{
	switch (info->scaling) {
	case DN_SCALE_LOG1P: m = log1pf(m); break;
	case DN_SCALE_POWER: m = powf(m, info->power); break;
	default: break;
	}
	return m * info->input_scale;
}

/* Scratch for one file's scoring. */
typedef struct scorer {
	const dn_model_info *info;
	dn_stft *stft;
	float *ref_spec, *spec;
	size_t cap;
} scorer;

static int spectrum(scorer *s, const float *x, size_t n, float *out, dn_error *err)
{
	size_t need = dn_stft_frames(s->stft, n) * (size_t)dn_stft_bins(s->stft);
	int rc = dn_stft_forward(s->stft, x, n, out, NULL, err);
	for (size_t i = 0; !rc && i < need; i++)
		out[i] = scaled(s->info, out[i]);
	return rc;
}

static int grow(scorer *s, size_t n, dn_error *err)
{
	size_t need = dn_stft_frames(s->stft, n) * (size_t)dn_stft_bins(s->stft);
	if (need <= s->cap)
		return DN_OK;
	float *a = realloc(s->ref_spec, need * sizeof(float));
	if (a)
		s->ref_spec = a;
	float *b = a ? realloc(s->spec, need * sizeof(float)) : NULL;
	if (b)
		s->spec = b;
	if (!a || !b)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate spectrograms of %zu samples", n);
	s->cap = need;
	return DN_OK;
}

/* Scores x against ref (ref_spec already holds ref's scaled spectrogram). */
static void score(scorer *s, const float *ref, const float *x, size_t n, int rate, double *out)
{
	for (int k = 0; k < DN_EVAL_NMETRICS; k++)
		out[k] = NAN;
	double v;
	if (dn_metrics_pesq(ref, n, x, n, rate, DN_PESQ_WB, &v, NULL) == DN_OK)
		out[DN_EVAL_PESQ_WB] = v;
	if (dn_metrics_stoi(ref, x, n, rate, 0, &v, NULL) == DN_OK)
		out[DN_EVAL_STOI] = v;
	if (dn_metrics_si_sdr(ref, x, n, &v, NULL) == DN_OK)
		out[DN_EVAL_SI_SDR] = v;
	if (dn_metrics_snr(ref, x, n, &v, NULL) == DN_OK)
		out[DN_EVAL_SNR] = v;
	const int bins = dn_stft_bins(s->stft), frames = (int)dn_stft_frames(s->stft, n);
	const size_t ns = (size_t)bins * frames;
	if (spectrum(s, x, n, s->spec, NULL))
		return;
	float peak = 0.0f;
	for (size_t i = 0; i < ns; i++)
		peak = fmaxf(peak, s->ref_spec[i]);
	if (dn_metrics_mse(s->ref_spec, s->spec, ns, &v, NULL) == DN_OK)
		out[DN_EVAL_SPEC_MSE] = v;
	if (dn_metrics_mae(s->ref_spec, s->spec, ns, &v, NULL) == DN_OK)
		out[DN_EVAL_SPEC_MAE] = v;
	if (peak > 0.0f && dn_metrics_ssim(s->ref_spec, s->spec, bins, frames, peak, &v, NULL) == DN_OK)
		out[DN_EVAL_SPEC_SSIM] = v;
	if (peak > 0.0f && dn_metrics_psnr(s->ref_spec, s->spec, ns, peak, &v, NULL) == DN_OK)
		out[DN_EVAL_SPEC_PSNR] = v;
}

/* A downsampled dB spectrogram for the plots: bins averaged in groups of 4,
 * frames in groups so that at most 128 remain. */
static int example_spec(dn_stft *stft, const float *x, size_t n, float **out, int *ob, int *of, dn_error *err)
{
	const int bins = dn_stft_bins(stft), frames = (int)dn_stft_frames(stft, n);
	float *mag = malloc((size_t)bins * frames * sizeof(float));
	if (!mag)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	int rc = dn_stft_forward(stft, x, n, mag, NULL, err);
	const int gb = 4, gf = (frames + 127) / 128;
	*ob = (bins + gb - 1) / gb;
	*of = (frames + gf - 1) / gf;
	*out = rc ? NULL : calloc((size_t)*ob * *of, sizeof(float));
	if (!rc && !*out)
		rc = dn_error_set(err, DN_ENOMEM, "out of memory");
	for (int b = 0; !rc && b < *ob; b++)
		for (int f = 0; f < *of; f++) {
			double s = 0.0;
			int c = 0;
			for (int i = b * gb; i < (b + 1) * gb && i < bins; i++)
				for (int j = f * gf; j < (f + 1) * gf && j < frames; j++, c++)
					s += mag[(size_t)i * frames + j];
			(*out)[(size_t)b * *of + f] = (float)(20.0 * log10(s / c + 1e-5));
		}
	free(mag);
	return rc;
}

void dn_eval_result_free(dn_eval_result *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n_examples; i++) {
		free(r->ex[i].clean);
		free(r->ex[i].noisy);
		free(r->ex[i].denoised);
	}
	free(r->rec);
	free(r);
}

int dn_eval_speech(const dn_model *m, const dn_clean_source *src, const dn_eval_params *p, dn_eval_cb cb,
                   void *user, dn_eval_result **out, dn_error *err)
{
	const dn_model_info *info = dn_model_get_info(m);
	int nkinds = 0;
	for (int k = 0; k < DN_NOISE_NKINDS; k++)
		nkinds += (p->noise_mask >> k) & 1;
	if (info->kind != DN_MODEL_AUDIO)
		return dn_error_set(err, DN_EINVAL, "evaluation needs an audio model");
	if (nkinds == 0 || (p->noise_mask >> DN_NOISE_NKINDS))
		return dn_error_set(err, DN_EINVAL,
		                    "noise kinds must be a non-empty set of white, pink, brown and file");
	if ((p->noise_mask & (1u << DN_NOISE_FILE)) && (!p->noises || p->n_noises == 0))
		return dn_error_set(err, DN_EINVAL,
		                    "noise kind 'file' needs noise recordings (a noise folder)");
	if (p->n_snr < 1 || p->n_snr > DN_EVAL_MAX_SNRS)
		return dn_error_set(err, DN_EINVAL, "between 1 and %d SNRs, not %d", DN_EVAL_MAX_SNRS,
		                    p->n_snr);
	for (int i = 0; i < p->n_snr; i++)
		if (!(p->snr_db[i] >= -20.0 && p->snr_db[i] <= 60.0))
			return dn_error_set(err, DN_EINVAL, "SNR %g dB is outside -20..60", p->snr_db[i]);
	if (p->examples < 0 || p->examples > 8 || p->hist_bins < 1 || p->hist_bins > 200)
		return dn_error_set(err, DN_EINVAL, "examples must be 0..8 and hist_bins 1..200");
	size_t files = src->count(src->ctx);
	if (p->max_files && files > p->max_files)
		files = p->max_files;
	if (files == 0)
		return dn_error_set(err, DN_EINVAL, "the test set is empty");

	dn_eval_result *r = calloc(1, sizeof *r);
	dn_speech *sp = NULL;
	scorer sc = {.info = info};
	float *clean = NULL, *noise = NULL, *noisy = NULL;
	dn_audio out_audio = {0};
	int rc = DN_OK;
	if (!r)
		return dn_error_set(err, DN_ENOMEM, "out of memory");
	r->params = *p;
	snprintf(r->model_name, sizeof r->model_name, "%s", info->name);
	snprintf(r->model_version, sizeof r->model_version, "%s", info->version);
	r->files = files;
	const size_t total = files * (size_t)nkinds * (size_t)p->n_snr;
	r->rec = calloc(total, sizeof *r->rec);
	if (!r->rec) {
		rc = dn_error_set(err, DN_ENOMEM, "out of memory");
		goto out;
	}
	dn_speech_params sparams = dn_speech_default_params();
	if ((rc = dn_speech_create(m, &sparams, &sp, err)) ||
	    (rc = dn_stft_create(info->n_fft, info->hop, &sc.stft, err)))
		goto out;
	double t0 = now_s();
	for (size_t f = 0; f < files; f++) {
		size_t n = 0;
		free(clean);
		clean = NULL;
		if ((rc = src->load(src->ctx, f, &clean, &n, err)))
			goto out;
		float *grown = realloc(noise, n * sizeof(float));
		if (grown)
			noise = grown;
		float *grown2 = grown ? realloc(noisy, n * sizeof(float)) : NULL;
		if (grown2)
			noisy = grown2;
		if (!grown || !grown2 || (rc = grow(&sc, n, err))) {
			rc = rc ? rc : dn_error_set(err, DN_ENOMEM, "out of memory");
			goto out;
		}
		for (int kind = 0, kidx = -1; kind < DN_NOISE_NKINDS; kind++) {
			if (!((p->noise_mask >> kind) & 1))
				continue;
			kidx++;
			for (int si = 0; si < p->n_snr; si++) {
				dn_rng rng;
				dn_rng_seed3(&rng, p->seed, f, (uint64_t)kind * 64 + (uint64_t)si);
				float gain = 1.0f;
				if (kind == DN_NOISE_FILE)
					dn_noise_source_fill(p->noises[dn_rng_below(&rng, p->n_noises)], &rng,
					                     noise, n);
				if ((kind != DN_NOISE_FILE &&
				     (rc = dn_noise_generate(kind, info->sample_rate, &rng, noise, n, err))) ||
				    (rc = dn_mix_at_snr(clean, noise, n, p->snr_db[si], noisy, &gain, err)))
					goto out;
				/* The reference that matches the mix: clean x the mixer's gain. */
				for (size_t i = 0; i < n && gain != 1.0f; i++)
					noise[i] = clean[i] * gain;
				const float *ref = gain != 1.0f ? noise : clean;
				if (p->on_mix && (rc = p->on_mix(p->on_mix_user, f, kind, p->snr_db[si], ref,
				                                 noisy, n, info->sample_rate))) {
					dn_error_set(err, rc,
					             "evaluation stopped by its mix hook at file %zu", f);
					goto out;
				}
				dn_audio in = {
				    .data = noisy, .frames = n, .channels = 1, .rate = info->sample_rate};
				double td = now_s();
				dn_audio_free(&out_audio);
				if ((rc = dn_speech_denoise(sp, &in, &out_audio, NULL, err)))
					goto out;
				double tm = now_s();
				r->denoise_seconds += tm - td;
				r->audio_seconds += (double)n / info->sample_rate;
				dn_eval_record *rec = &r->rec[r->n++];
				rec->file = f;
				rec->noise = kind;
				rec->snr = si;
				if ((rc = spectrum(&sc, ref, n, sc.ref_spec, err)))
					goto out;
				score(&sc, ref, noisy, n, info->sample_rate, rec->noisy);
				score(&sc, ref, out_audio.data, n, info->sample_rate, rec->model);
				r->metric_seconds += now_s() - tm;
				/* Examples: file i at the lowest SNR, noise kinds in turn. */
				if (si == 0 && f < (size_t)p->examples && (size_t)r->n_examples == f &&
				    (size_t)kidx == f % (size_t)nkinds) {
					dn_eval_example *ex = &r->ex[r->n_examples];
					const char *nm = src->name ? src->name(src->ctx, f) : NULL;
					snprintf(ex->name, sizeof ex->name, "%s", nm ? nm : "");
					ex->noise = kind;
					ex->snr_db = p->snr_db[si];
					if ((rc = example_spec(sc.stft, ref, n, &ex->clean, &ex->bins,
					                       &ex->frames, err)) ||
					    (rc = example_spec(sc.stft, noisy, n, &ex->noisy, &ex->bins,
					                       &ex->frames, err)) ||
					    (rc = example_spec(sc.stft, out_audio.data, n, &ex->denoised,
					                       &ex->bins, &ex->frames, err)))
						goto out;
					r->n_examples++;
				}
				if (cb) {
					double el = now_s() - t0;
					dn_eval_progress pr = {.done = r->n,
					                       .total = total,
					                       .eta_s = el / (double)r->n *
					                                (double)(total - r->n)};
					if (cb(&pr, user)) {
						rc = dn_error_set(
						    err, DN_ECANCELLED,
						    "evaluation cancelled after %zu of %zu files", r->n,
						    total);
						goto out;
					}
				}
			}
		}
	}
out:
	free(clean);
	free(noise);
	free(noisy);
	free(sc.ref_spec);
	free(sc.spec);
	dn_audio_free(&out_audio);
	dn_stft_destroy(sc.stft);
	dn_speech_destroy(sp);
	if (rc) {
		dn_eval_result_free(r);
		return rc;
	}
	*out = r;
	return DN_OK;
}

/* ---- aggregates ---- */

typedef struct stats {
	double mean, std;
	size_t n;
} stats;

/* Mean and sample std of one metric over the records matching (noise, snr)
 * (-1: any); which = 0 noisy, 1 model, 2 model − noisy. */
static stats collect(const dn_eval_result *r, int metric, int noise, int snr, int which)
{
	double s = 0.0, s2 = 0.0;
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++) {
		const dn_eval_record *e = &r->rec[i];
		if ((noise >= 0 && e->noise != noise) || (snr >= 0 && e->snr != snr))
			continue;
		double v = which == 0   ? e->noisy[metric]
		           : which == 1 ? e->model[metric]
		                        : e->model[metric] - e->noisy[metric];
		if (!isfinite(v))
			continue;
		s += v;
		s2 += v * v;
		n++;
	}
	stats st = {NAN, NAN, n};
	if (n) {
		st.mean = s / (double)n;
		st.std = n > 1 ? sqrt(fmax(0.0, (s2 - s * s / (double)n) / (double)(n - 1))) : 0.0;
	}
	return st;
}

void dn_eval_stats(const dn_eval_result *r, int metric, int noise, int snr, int which, double *mean,
                   double *std, size_t *n)
{
	stats st = collect(r, metric, noise, snr, which);
	*mean = st.mean;
	*std = st.std;
	*n = st.n;
}

int dn_eval_histogram(const dn_eval_result *r, int metric, double *lo_out, double *hi_out, size_t *noisy,
                      size_t *model)
{
	const int nb = r->params.hist_bins;
	double lo = INFINITY, hi = -INFINITY;
	for (size_t i = 0; i < r->n; i++)
		for (int w = 0; w < 2; w++) {
			double v = w ? r->rec[i].model[metric] : r->rec[i].noisy[metric];
			if (isfinite(v)) {
				lo = fmin(lo, v);
				hi = fmax(hi, v);
			}
		}
	if (!(lo <= hi) || nb < 1)
		return 0;
	if (hi == lo)
		hi = lo + 1.0;
	for (int w = 0; w < 2; w++) {
		size_t *count = w ? model : noisy;
		memset(count, 0, (size_t)nb * sizeof *count);
		for (size_t i = 0; i < r->n; i++) {
			double v = w ? r->rec[i].model[metric] : r->rec[i].noisy[metric];
			if (!isfinite(v))
				continue;
			int b = (int)((v - lo) / (hi - lo) * nb);
			count[b >= nb ? nb - 1 : b]++;
		}
	}
	*lo_out = lo;
	*hi_out = hi;
	return 1;
}
