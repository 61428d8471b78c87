/*
 * cmd_metrics.c — `denoise metrics CLEAN DEGRADED`: every waveform metric of
 * core/metrics/metrics.h for one pair of files, as one JSON object on stdout.
 *
 * Both files must have the same sample rate. Multi-channel files are mixed
 * down to mono (the metrics are defined on one signal). Files of different
 * length are refused unless --trim asks to compare the common prefix, since
 * sample-aligned metrics (SNR, SI-SDR) are meaningless on misaligned signals.
 * Values JSON cannot hold (±inf for identical signals, NaN where a metric is
 * undefined, e.g. PESQ at rates other than 8/16 kHz) are written as null.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audio/audio.h"
#include "core/metrics/metrics.h"
#include "tools/tools.h"

static const char usage_text[] =
    "usage: denoise metrics CLEAN DEGRADED [--trim]\n"
    "  prints PESQ (wb, nb), STOI, ESTOI, SI-SDR, SNR and segmental SNR as JSON\n"
    "  --trim  compare the common prefix when the lengths differ\n";

/* Mono mixdown in place: data[0..frames) becomes the channel mean. */
static void mixdown(dn_audio *a)
{
	if (a->channels == 1)
		return;
	for (size_t i = 0; i < a->frames; i++) {
		float s = 0.0f;
		for (int c = 0; c < a->channels; c++)
			s += a->data[i * (size_t)a->channels + c];
		a->data[i] = s / (float)a->channels;
	}
	a->channels = 1;
}

static json_t *number_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

int cmd_metrics(int argc, char **argv)
{
	const char *paths[2] = {NULL, NULL};
	int npaths = 0, trim = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return TOOLS_OK;
		} else if (!strcmp(argv[i], "--trim")) {
			trim = 1;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "denoise metrics: unknown option '%s'\n%s", argv[i], usage_text);
			return TOOLS_USAGE;
		} else if (npaths < 2) {
			paths[npaths++] = argv[i];
		} else {
			fprintf(stderr, "denoise metrics: too many arguments\n%s", usage_text);
			return TOOLS_USAGE;
		}
	}
	if (npaths != 2) {
		fprintf(stderr, "denoise metrics: need CLEAN and DEGRADED files\n%s", usage_text);
		return TOOLS_USAGE;
	}
	dn_audio a[2] = {{0}, {0}};
	dn_audio_limits lim = dn_audio_default_limits();
	dn_error err = {0};
	int status = TOOLS_FAIL;
	for (int i = 0; i < 2; i++) {
		if (dn_audio_read_file(paths[i], &lim, &a[i], &err)) {
			fprintf(stderr, "denoise metrics: %s: %s\n", paths[i], err.msg);
			goto out;
		}
		mixdown(&a[i]);
	}
	if (a[0].rate != a[1].rate) {
		fprintf(stderr,
		        "denoise metrics: sample rates differ (%s: %d Hz, %s: %d Hz); resample one first\n",
		        paths[0], a[0].rate, paths[1], a[1].rate);
		goto out;
	}
	size_t n = a[0].frames < a[1].frames ? a[0].frames : a[1].frames;
	if (a[0].frames != a[1].frames && !trim) {
		fprintf(stderr,
		        "denoise metrics: lengths differ (%zu and %zu samples); pass --trim to compare the "
		        "first %zu\n",
		        a[0].frames, a[1].frames, n);
		goto out;
	}
	dn_speech_metrics m;
	if (dn_metrics_speech(a[0].data, a[1].data, n, a[0].rate, &m, &err)) {
		fprintf(stderr, "denoise metrics: %s\n", err.msg);
		goto out;
	}
	json_t *o = json_object();
	json_object_set_new(o, "clean", json_string(paths[0]));
	json_object_set_new(o, "degraded", json_string(paths[1]));
	json_object_set_new(o, "sample_rate", json_integer(a[0].rate));
	json_object_set_new(o, "samples", json_integer((json_int_t)n));
	json_object_set_new(o, "pesq_wb", number_or_null(m.pesq_wb));
	json_object_set_new(o, "pesq_nb", number_or_null(m.pesq_nb));
	json_object_set_new(o, "stoi", number_or_null(m.stoi));
	json_object_set_new(o, "estoi", number_or_null(m.estoi));
	json_object_set_new(o, "si_sdr_db", number_or_null(m.si_sdr_db));
	json_object_set_new(o, "snr_db", number_or_null(m.snr_db));
	json_object_set_new(o, "seg_snr_db", number_or_null(m.seg_snr_db));
	if (!isfinite(m.snr_db) || !isfinite(m.si_sdr_db))
		json_object_set_new(
		    o, "note",
		    json_string("null SNR/SI-SDR: the signals are identical (+inf) or the degraded "
		                "one is silent (-inf)"));
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (text) {
		puts(text);
		free(text);
		status = TOOLS_OK;
	}
out:
	dn_audio_free(&a[0]);
	dn_audio_free(&a[1]);
	return status;
}
