/*
 * eval_json.c — see eval_json.h. The aggregates come from core
 * (dn_eval_stats, dn_eval_histogram); this file only lays them out.
 */
#include "api/eval_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/noise.h"
#include "core/image/image.h"

/* A finite number with six significant digits, or null (JSON has no NaN). */
static json_t *num(double v)
{
	char buf[32];

	if (!isfinite(v))
		return json_null();
	snprintf(buf, sizeof buf, "%.6g", v);
	return json_real(strtod(buf, NULL));
}

static json_t *stats_json(const dn_eval_result *r, int metric, int noise, int snr, int which)
{
	double mean, std;
	size_t n;

	dn_eval_stats(r, metric, noise, snr, which, &mean, &std, &n);
	return json_pack("{s:o, s:o, s:I}", "mean", num(mean), "std", num(std), "n", (json_int_t)n);
}

static double mean_of(const dn_eval_result *r, int metric, int snr, int which)
{
	double mean, std;
	size_t n;

	dn_eval_stats(r, metric, -1, snr, which, &mean, &std, &n);
	return mean;
}

/* {"pesq_wb": {"model": {...}, "noisy": {...}}, ..., "snr_improvement_db": {...}} */
static json_t *cell_json(const dn_eval_result *r, int noise, int snr)
{
	json_t *o = json_object();

	for (int k = 0; k < DN_EVAL_NMETRICS; k++)
		json_object_set_new(o, dn_eval_metric_name(k),
		                    json_pack("{s:o, s:o}", "model", stats_json(r, k, noise, snr, 1), "noisy",
		                              stats_json(r, k, noise, snr, 0)));
	json_object_set_new(o, "snr_improvement_db", stats_json(r, DN_EVAL_SNR, noise, snr, 2));
	return o;
}

static json_t *floats_2d(const float *a, int rows, int cols)
{
	json_t *outer = json_array();

	for (int i = 0; i < rows; i++) {
		json_t *row = json_array();

		for (int j = 0; j < cols; j++)
			json_array_append_new(row, num(round(a[(size_t)i * cols + j] * 10.0) / 10.0));
		json_array_append_new(outer, row);
	}
	return outer;
}

static json_t *histograms(const dn_eval_result *r)
{
	const int nb = r->params.hist_bins;
	json_t *h = json_object();
	size_t *cn = calloc(nb > 0 ? (size_t)nb : 1, sizeof *cn),
	       *cm = calloc(nb > 0 ? (size_t)nb : 1, sizeof *cm);

	for (int k = 0; cn && cm && k < DN_EVAL_NMETRICS; k++) {
		double lo, hi;
		json_t *edges, *jm, *jn;

		if (!dn_eval_histogram(r, k, &lo, &hi, cn, cm))
			continue;
		edges = json_array();
		jm = json_array();
		jn = json_array();
		for (int b = 0; b <= nb; b++)
			json_array_append_new(edges, num(lo + (hi - lo) * b / nb));
		for (int b = 0; b < nb; b++) {
			json_array_append_new(jm, json_integer((json_int_t)cm[b]));
			json_array_append_new(jn, json_integer((json_int_t)cn[b]));
		}
		json_object_set_new(h, dn_eval_metric_name(k),
		                    json_pack("{s:o, s:o, s:o}", "edges", edges, "model", jm, "noisy", jn));
	}
	free(cn);
	free(cm);
	return h;
}

static json_t *plots_json(const dn_eval_result *r, json_t *snrs)
{
	const dn_eval_params *p = &r->params;
	json_t *plots = json_object(), *series = json_object(), *exs = json_array();

	for (int k = 0; k < DN_EVAL_NMETRICS; k++) {
		json_t *ym = json_array(), *yn = json_array();

		for (int i = 0; i < p->n_snr; i++) {
			json_array_append_new(ym, num(mean_of(r, k, i, 1)));
			json_array_append_new(yn, num(mean_of(r, k, i, 0)));
		}
		json_object_set_new(series, dn_eval_metric_name(k),
		                    json_pack("{s:o, s:o}", "model", ym, "noisy", yn));
	}
	{
		json_t *ym = json_array();

		for (int i = 0; i < p->n_snr; i++)
			json_array_append_new(ym, num(mean_of(r, DN_EVAL_SNR, i, 2)));
		json_object_set_new(series, "snr_improvement_db", json_pack("{s:o}", "model", ym));
	}
	json_object_set_new(plots, "metric_vs_snr",
	                    json_pack("{s:O, s:o}", "x_snr_db", snrs, "series", series));
	json_object_set_new(plots, "histograms", histograms(r));
	for (int i = 0; i < r->n_examples; i++) {
		const dn_eval_example *e = &r->ex[i];

		json_array_append_new(exs,
		                      json_pack("{s:s, s:s, s:o, s:i, s:i, s:s, s:o, s:o, s:o}", "file",
		                                e->name, "noise", dn_noise_kind_name(e->noise), "snr_db",
		                                num(e->snr_db), "bins", e->bins, "frames", e->frames, "unit",
		                                "dB", "clean", floats_2d(e->clean, e->bins, e->frames),
		                                "noisy", floats_2d(e->noisy, e->bins, e->frames), "denoised",
		                                floats_2d(e->denoised, e->bins, e->frames)));
	}
	json_object_set_new(plots, "spectrograms", exs);
	return plots;
}

json_t *api_eval_json(const dn_eval_result *r)
{
	const dn_eval_params *p = &r->params;
	json_t *root = json_object(), *noises = json_array(), *snrs = json_array(), *by_snr = json_array(),
	       *by_cell = json_array();
	double minutes = r->audio_seconds / 60.0;

	for (int k = 0; k < DN_NOISE_NKINDS; k++)
		if ((p->noise_mask >> k) & 1)
			json_array_append_new(noises, json_string(dn_noise_kind_name(k)));
	for (int i = 0; i < p->n_snr; i++)
		json_array_append_new(snrs, num(p->snr_db[i]));
	json_object_set_new(root, "model",
	                    json_pack("{s:s, s:s}", "name", r->model_name, "version", r->model_version));
	json_object_set_new(root, "test_set",
	                    json_pack("{s:I, s:O, s:O, s:I, s:I}", "files", (json_int_t)r->files, "noise",
	                              noises, "snr_db", snrs, "noisy_files", (json_int_t)r->n, "seed",
	                              (json_int_t)p->seed));
	json_object_set_new(root, "summary", cell_json(r, -1, -1));
	for (int i = 0; i < p->n_snr; i++) {
		json_t *c = cell_json(r, -1, i);

		json_object_set_new(c, "snr_db", num(p->snr_db[i]));
		json_array_append_new(by_snr, c);
		for (int k = 0; k < DN_NOISE_NKINDS; k++) {
			json_t *d;

			if (!((p->noise_mask >> k) & 1))
				continue;
			d = cell_json(r, k, i);
			json_object_set_new(d, "snr_db", num(p->snr_db[i]));
			json_object_set_new(d, "noise", json_string(dn_noise_kind_name(k)));
			json_array_append_new(by_cell, d);
		}
	}
	json_object_set_new(root, "by_snr", by_snr);
	json_object_set_new(root, "by_noise_snr", by_cell);
	json_object_set_new(root, "plots", plots_json(r, snrs));
	json_object_set_new(root, "timing",
	                    json_pack("{s:o, s:o, s:o, s:o}", "audio_seconds", num(r->audio_seconds),
	                              "denoise_seconds", num(r->denoise_seconds), "metric_seconds",
	                              num(r->metric_seconds), "denoise_seconds_per_audio_minute",
	                              num(minutes > 0 ? r->denoise_seconds / minutes : NAN)));
	json_decref(noises);
	json_decref(snrs);
	if (!root || !json_object_get(root, "timing") || !json_object_get(root, "plots")) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ---- frames ---- */

static double fmean(const double *v, size_t n)
{
	double sum = 0.0;

	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return n ? sum / n : NAN;
}

/* {"mean", "std", "n"} of v[0..n). */
static json_t *fstats(const double *v, size_t n)
{
	double sq = 0.0, mean = fmean(v, n);

	for (size_t i = 0; i < n; i++)
		sq += (v[i] - mean) * (v[i] - mean);
	return json_pack("{s:o, s:o, s:I}", "mean", num(mean), "std", num(n > 1 ? sqrt(sq / (n - 1)) : 0.0),
	                 "n", (json_int_t)n);
}

/* The figures of sigma index s, or of all sigmas pooled (s = -1): the
 * arrays hold sigma after sigma, files each. */
static json_t *frame_cell(const dn_frame_eval_result *r, int s)
{
	const size_t n = s < 0 ? r->files * (size_t)r->params.n_sigma : r->files,
	             at = s < 0 ? 0 : (size_t)s * r->files;
	double *gain = malloc((n ? n : 1) * sizeof(double));
	json_t *o;

	if (!gain)
		return NULL;
	for (size_t i = 0; i < n; i++)
		gain[i] = r->psnr[at + i] - r->noisy_psnr[at + i];
	o = json_pack("{s:{s:o, s:o}, s:{s:o, s:o}, s:o}", "psnr", "model", fstats(r->psnr + at, n), "noisy",
	              fstats(r->noisy_psnr + at, n), "ssim", "model", fstats(r->ssim + at, n), "noisy",
	              fstats(r->noisy_ssim + at, n), "psnr_improvement_db", fstats(gain, n));
	free(gain);
	return o;
}

/* "data:image/jpeg;base64,..." of img (quality 90, 4:4:4), or null. */
static json_t *jpeg_url(const dn_image *img)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char head[] = "data:image/jpeg;base64,";
	void *bytes = NULL;
	size_t len = 0, o = sizeof head - 1;
	dn_error err;
	char *out;
	json_t *j;

	if (dn_image_encode(img, 90, DN_SUBSAMP_444, &bytes, &len, &err) != DN_OK)
		return json_null();
	out = malloc(sizeof head + (len + 2) / 3 * 4);
	if (!out) {
		free(bytes);
		return json_null();
	}
	memcpy(out, head, o);
	for (size_t i = 0; i < len; i += 3) {
		const unsigned char *b = (const unsigned char *)bytes + i;
		unsigned v =
		    (unsigned)b[0] << 16 | (i + 1 < len ? (unsigned)b[1] << 8 : 0) | (i + 2 < len ? b[2] : 0);

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	j = json_stringn(out, o);
	free(out);
	free(bytes);
	return j;
}

json_t *api_eval_frame_json(const dn_frame_eval_result *r, const char *name)
{
	const dn_frame_eval_params *p = &r->params;
	json_t *root = json_object(), *sig = json_array(), *by = json_array(), *series = json_object(),
	       *exs = json_array(), *plots;
	const double *arrays[4] = {r->psnr, r->noisy_psnr, r->ssim, r->noisy_ssim};
	json_t *lines[4];

	for (int a = 0; a < 4; a++)
		lines[a] = json_array();
	for (int s = 0; s < p->n_sigma; s++) {
		json_t *c = frame_cell(r, s);

		json_array_append_new(sig, num(p->sigma[s]));
		if (c)
			json_object_set_new(c, "sigma", num(p->sigma[s]));
		json_array_append_new(by, c);
		for (int a = 0; a < 4; a++)
			json_array_append_new(lines[a],
			                      num(fmean(arrays[a] + (size_t)s * r->files, r->files)));
	}
	json_object_set_new(series, "psnr", json_pack("{s:o, s:o}", "model", lines[0], "noisy", lines[1]));
	json_object_set_new(series, "ssim", json_pack("{s:o, s:o}", "model", lines[2], "noisy", lines[3]));
	for (int i = 0; i < r->n_examples; i++) {
		const dn_frame_eval_example *e = &r->ex[i];

		json_array_append_new(exs,
		                      json_pack("{s:s, s:o, s:i, s:i, s:o, s:o, s:o}", "file", e->name,
		                                "sigma", num(e->sigma), "w", e->clean.w, "h", e->clean.h,
		                                "clean", jpeg_url(&e->clean), "noisy", jpeg_url(&e->noisy),
		                                "denoised", jpeg_url(&e->denoised)));
	}
	plots = json_pack("{s:{s:O, s:o}, s:o}", "metric_vs_sigma", "x_sigma", sig, "series", series,
	                  "examples", exs);
	json_object_set_new(root, "model",
	                    json_pack("{s:s, s:s}", "name", name, "version", r->model_version));
	json_object_set_new(root, "test_set",
	                    json_pack("{s:I, s:O, s:I, s:I, s:s}", "files", (json_int_t)r->files, "sigma",
	                              sig, "noisy_files", (json_int_t)(r->files * (size_t)p->n_sigma), "seed",
	                              (json_int_t)p->seed, "noise",
	                              "gaussian, rounded and clipped to 8 bits"));
	json_object_set_new(root, "summary", frame_cell(r, -1));
	json_object_set_new(root, "by_sigma", by);
	json_object_set_new(root, "plots", plots);
	json_object_set_new(root, "timing",
	                    json_pack("{s:o, s:o, s:o, s:o}", "megapixels", num(r->megapixels),
	                              "denoise_seconds", num(r->denoise_seconds), "metric_seconds",
	                              num(r->metric_seconds), "denoise_seconds_per_megapixel",
	                              num(r->megapixels > 0 ? r->denoise_seconds / r->megapixels : NAN)));
	json_decref(sig);
	if (!root || !json_object_get(root, "timing") || !json_object_get(root, "plots") ||
	    !json_object_get(root, "summary")) {
		json_decref(root);
		return NULL;
	}
	return root;
}
