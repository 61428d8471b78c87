/*
 * cmd_eval.c — `denoise eval`: evaluates a speech model on a data set's test
 * split at every noise kind x input SNR (core/train/eval.c), prints the per-SNR
 * table with the noisy input's scores beside the model's, and writes the full
 * result as JSON (docs/eval-json.md). --write-mixes saves the exact noisy
 * files and references, so that other denoisers can be scored on the same
 * input (bench/speech_compare.sh).
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/eval_json.h"
#include "core/audio/audio.h"
#include "core/train/eval.h"
#include "core/model/model.h"
#include "core/audio/noise.h"
#include "core/util/threads.h"
#include "tools/data_opts.h"
#include "tools/tools.h"

static const char usage_text[] =
    "usage: denoise eval [options]\n"
    "Scores a speech model and the noisy input on the test split, per noise kind and input "
    "SNR.\n" DATA_OPTS_HELP "  --model FILE          the model (default: the shipped speech model)\n"
    "  --split NAME          test (default), valid, train or all\n"
    "  --max-files N         evaluate at most N clean files\n"
    "  --snrs LIST           input SNRs in dB (default 5,10,15,20,25; -20..60)\n"
    "                        (real noise: --noise file --noise-dir data/noise/test\n"
    "                        --snrs 0,5,10,15,20 scores recordings held out of training)\n"
    "  --seed S              noise seed (default: fixed, so runs compare)\n"
    "  --json FILE           write the result JSON here ('-': stdout)\n"
    "  --write-mixes DIR     write DIR/clean/*.wav, DIR/noisy/*.wav and DIR/mixes.tsv\n"
    "  --threads N           OpenBLAS threads\n";

typedef struct mix_writer {
	const char *dir;
	FILE *tsv;
	const dn_clean_source *src;
} mix_writer;

static int write_mix(void *user, size_t file, int noise, double snr_db, const float *clean,
                     const float *noisy, size_t n, int rate)
{
	mix_writer *w = user;
	const char *name = w->src->name(w->src->ctx, file);
	char stem[256], path[4096];
	snprintf(stem, sizeof stem, "%.*s_%s_%+gdB",
	         (int)(strcspn(name, ".") < 200 ? strcspn(name, ".") : 200), name, dn_noise_kind_name(noise),
	         snr_db);
	dn_error err;
	const float *sig[2] = {clean, noisy};
	const char *sub[2] = {"clean", "noisy"};
	for (int k = 0; k < 2; k++) {
		dn_audio a = {.data = (float *)sig[k], .frames = n, .channels = 1, .rate = rate};
		snprintf(path, sizeof path, "%s/%s/%s.wav", w->dir, sub[k], stem);
		if (dn_audio_write_file(&a, DN_AUDIO_WAVF32, path, &err)) {
			fprintf(stderr, "denoise eval: %s\n", err.msg);
			return DN_EIO;
		}
	}
	fprintf(w->tsv, "%s\t%s\t%g\tclean/%s.wav\tnoisy/%s.wav\n", name, dn_noise_kind_name(noise), snr_db,
	        stem, stem);
	return DN_OK;
}

static int on_progress(const dn_eval_progress *p, void *user)
{
	(void)user;
	if (p->done % 25 == 0 || p->done == p->total) {
		fprintf(stderr, "  %zu/%zu noisy files, eta %.0f s\n", p->done, p->total, p->eta_s);
	}
	return 0;
}

static void print_table(const dn_eval_result *r)
{
	const int cols[4] = {DN_EVAL_PESQ_WB, DN_EVAL_STOI, DN_EVAL_SI_SDR, DN_EVAL_SNR};
	printf("model %s (version %s), %zu clean files x %d noise kinds\n", r->model_name, r->model_version,
	       r->files, (int)(r->n / r->files / (size_t)r->params.n_snr));
	printf("%-8s | %-15s | %-15s | %-17s | %s\n", "SNR in", "PESQ-WB", "STOI", "SI-SDR dB",
	       "SNR improvement");
	printf("%-8s | %-15s | %-15s | %-17s | %s\n", "", "noisy -> model", "noisy -> model",
	       "noisy -> model", "dB");
	for (int s = -1; s < r->params.n_snr; s++) {
		char label[16];
		if (s < 0)
			continue;
		snprintf(label, sizeof label, "%g dB", r->params.snr_db[s]);
		printf("%-8s", label);
		for (int c = 0; c < 4; c++) {
			double mn, mm, sd, imp;
			size_t n;
			dn_eval_stats(r, cols[c], -1, s, 0, &mn, &sd, &n);
			dn_eval_stats(r, cols[c], -1, s, 1, &mm, &sd, &n);
			if (c < 3) {
				printf(c == 2 ? " | %6.2f -> %6.2f" : " | %5.3f -> %5.3f", mn, mm);
			} else {
				dn_eval_stats(r, DN_EVAL_SNR, -1, s, 2, &imp, &sd, &n);
				printf(" | %+6.2f ± %.2f\n", imp, sd);
			}
		}
	}
	double mins = r->audio_seconds / 60.0;
	printf("denoising: %.2f s per minute of audio (%.1f min of noisy audio)\n", r->denoise_seconds / mins,
	       mins);
}

int cmd_eval(int argc, char **argv)
{
	dn_dataset_params dp = dn_dataset_default_params();
	dp.cache_bytes = DATA_OPTS_CACHE_MB << 20;
	dp.path = "data/speech";
	dp.split = DN_SPLIT_TEST;
	dn_eval_params ep = dn_eval_default_params();
	const char *model_path = NULL, *json_path = NULL, *mixes = NULL;
	int kind_given = 0, threads = 0;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			fputs(usage_text, stdout);
			return TOOLS_OK;
		}
		int r = data_opts_parse(argc, argv, &i, &dp, "eval");
		if (r < 0)
			return TOOLS_USAGE;
		if (r > 0) {
			kind_given |= !strcmp(o, "--dataset");
			if (!strcmp(o, "--noise"))
				ep.noise_mask = dp.noise_kinds;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "denoise eval: %s needs a value (or is unknown)\n%s", o, usage_text);
			return TOOLS_USAGE;
		}
		const char *v = argv[++i];
		char *end = NULL;
		if (!strcmp(o, "--model")) {
			model_path = v;
		} else if (!strcmp(o, "--json")) {
			json_path = v;
		} else if (!strcmp(o, "--write-mixes")) {
			mixes = v;
		} else if (!strcmp(o, "--split")) {
			if ((dp.split = dn_split_parse(v)) < 0) {
				fprintf(stderr,
				        "denoise eval: --split '%s': expected test, valid, train or all\n",
				        v);
				return TOOLS_USAGE;
			}
		} else if (!strcmp(o, "--max-files")) {
			ep.max_files = strtoul(v, &end, 10);
		} else if (!strcmp(o, "--seed")) {
			ep.seed = strtoull(v, &end, 10);
		} else if (!strcmp(o, "--threads")) {
			threads = (int)strtol(v, &end, 10);
			if (threads < 1)
				end = (char *)v;
		} else if (!strcmp(o, "--snrs")) {
			ep.n_snr = 0;
			const char *s = v;
			while (*s && ep.n_snr < DN_EVAL_MAX_SNRS) {
				ep.snr_db[ep.n_snr++] = strtod(s, &end);
				if (end == s || (*end && *end != ','))
					break;
				s = *end ? end + 1 : end;
			}
		} else {
			fprintf(stderr, "denoise eval: unknown option '%s'\n%s", o, usage_text);
			return TOOLS_USAGE;
		}
		if (end && *end) {
			fprintf(stderr, "denoise eval: bad value '%s' for %s\n", v, o);
			return TOOLS_USAGE;
		}
	}
	if (threads)
		dn_threads_set(threads);
	data_opts_guess_kind(&dp, kind_given);
	/* Recordings are scored like the synthetic kinds: --noise-dir adds
	 * "file" (as in training), --noise file alone scores only them. */
	if ((ep.noise_mask & (1u << DN_NOISE_FILE)) && !dp.noise_dir) {
		fprintf(stderr, "denoise eval: --noise file needs --noise-dir DIR (a folder of noise "
		                "recordings, e.g. data/noise/test from scripts/make-real-noise.sh)\n");
		return TOOLS_USAGE;
	}
	if (dp.noise_dir)
		ep.noise_mask |= 1u << DN_NOISE_FILE;
	char *default_model = NULL;
	dn_error err = {0};
	dn_model *m = NULL;
	dn_dataset *d = NULL;
	dn_eval_result *res = NULL;
	char *json = NULL;
	mix_writer mw = {.dir = mixes};
	int status = TOOLS_FAIL;
	if (tools_load_model("eval", DN_MODEL_AUDIO, &model_path, &default_model, &m) != TOOLS_OK)
		goto done;
	if (dn_dataset_open(&dp, &d, &err)) {
		fprintf(stderr, "denoise eval: %s\n", err.msg);
		goto done;
	}
	dn_clean_source src = dn_dataset_clean_source(d);
	ep.noises = dn_dataset_noises(d, &ep.n_noises);
	if (mixes) {
		char path[4096];
		snprintf(path, sizeof path, "%s/clean", mixes);
		mkdir(mixes, 0755);
		mkdir(path, 0755);
		snprintf(path, sizeof path, "%s/noisy", mixes);
		mkdir(path, 0755);
		snprintf(path, sizeof path, "%s/mixes.tsv", mixes);
		if (!(mw.tsv = fopen(path, "w"))) {
			fprintf(stderr, "denoise eval: cannot write %s: %s\n", path, strerror(errno));
			goto done;
		}
		fprintf(mw.tsv, "file\tnoise\tsnr_db\tclean\tnoisy\n");
		mw.src = &src;
		ep.on_mix = write_mix;
		ep.on_mix_user = &mw;
	}
	if (dn_eval_speech(m, &src, &ep, on_progress, NULL, &res, &err)) {
		fprintf(stderr, "denoise eval: %s\n", err.msg);
		goto done;
	}
	print_table(res);
	if (json_path) {
		json_t *doc = api_eval_json(res);
		json = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
		json_decref(doc);
		if (!json) {
			fprintf(stderr, "denoise eval: out of memory encoding the evaluation\n");
			goto done;
		}
		FILE *f = strcmp(json_path, "-") ? fopen(json_path, "w") : stdout;
		if (!f || fputs(json, f) < 0 || fputc('\n', f) < 0 || (f != stdout && fclose(f))) {
			fprintf(stderr, "denoise eval: cannot write %s: %s\n", json_path, strerror(errno));
			goto done;
		}
	}
	status = TOOLS_OK;
done:
	if (mw.tsv)
		fclose(mw.tsv);
	free(json);
	free(default_model);
	dn_eval_result_free(res);
	dn_dataset_destroy(d);
	dn_model_destroy(m);
	return status;
}
