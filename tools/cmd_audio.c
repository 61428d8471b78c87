/*
 * cmd_audio.c — `denoise audio IN OUT`: one sound file through the speech
 * pipeline, written atomically in the format asked for (by --format, else by
 * OUT's extension, else 16-bit WAV).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/audio/audio.h"
#include "core/model/model.h"
#include "core/audio/speech.h"
#include "core/util/threads.h"
#include "tools/tools.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: denoise audio IN OUT [--model FILE] [--format wav|wavf32|flac] [--threads N]\n"
	           "  IN           any sound file libsndfile reads (WAV, FLAC, Ogg/Vorbis, AIFF, ...)\n"
	           "  OUT          written atomically; same rate, channels and length as IN\n"
	           "  --model FILE an audio model (default: models/speech.safetensors)\n"
	           "  --format F   wav (16-bit PCM), wavf32 (32-bit float) or flac; default from\n"
	           "               OUT's extension (.flac -> flac), else wav\n"
	           "  --threads N  chunks of the file denoised at once, one per thread, each with\n"
	           "               single-threaded GEMMs (default: the CPUs this process may use;\n"
	           "               the output is the same for any N)\n");
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int cmd_audio(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"model", required_argument, NULL, 'm'},
	    {"format", required_argument, NULL, 'f'},
	    {"threads", required_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* Inference: one thread per chunk, each running serial loops and
	 * single-threaded GEMMs; OpenBLAS's own threads spun in sched_yield and
	 * made two of them 3x slower than one (issue 13). */
	dn_threads_set(1);
	const char *model_path = NULL, *format_name = NULL;
	int c, threads = dn_threads_available();
	char *end;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:f:j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'f': format_name = optarg; break;
		case 'j':
			threads = (int)strtol(optarg, &end, 10);
			if (end == optarg || *end || threads < 1 || threads > 64) {
				fprintf(stderr, "denoise audio: --threads wants 1..64, not '%s'\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'h': usage(stdout); return TOOLS_OK;
		default: usage(stderr); return TOOLS_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "denoise audio: expected IN and OUT, got %d argument(s)\n", argc - optind);
		usage(stderr);
		return TOOLS_USAGE;
	}
	const char *in_path = argv[optind], *out_path = argv[optind + 1];
	int format = DN_AUDIO_WAV16;
	if (format_name) {
		format = dn_audio_format_parse(format_name);
		if (format < 0) {
			fprintf(stderr, "denoise audio: unknown format '%s' (wav, wavf32 or flac)\n",
			        format_name);
			return TOOLS_USAGE;
		}
	} else {
		const char *dot = strrchr(out_path, '.');
		if (dot && !strcasecmp(dot, ".flac"))
			format = DN_AUDIO_FLAC;
	}

	int status = TOOLS_FAIL;
	dn_model *model = NULL;
	dn_speech *sp = NULL;
	dn_audio in = {0}, out = {0};
	dn_speech_stats st;
	dn_audio_limits lim = dn_audio_default_limits();
	lim.max_seconds = 0; /* offline: as long as memory allows */
	dn_error err = {0};
	char *found = NULL;

	if (tools_load_model("audio", DN_MODEL_AUDIO, &model_path, &found, &model) != TOOLS_OK)
		goto done;
	if (dn_model_get_info(model)->kind != DN_MODEL_AUDIO) {
		fprintf(stderr, "denoise audio: %s is not an audio model\n", model_path);
		goto done;
	}
	if (dn_audio_read_file(in_path, &lim, &in, &err) != DN_OK) {
		fprintf(stderr, "denoise audio: %s\n", err.msg);
		goto done;
	}
	dn_speech_params sparams = dn_speech_default_params();
	sparams.threads = threads > 64 ? 64 : threads;
	if (dn_speech_create(model, &sparams, &sp, &err) != DN_OK) {
		fprintf(stderr, "denoise audio: model %s: %s\n", model_path, err.msg);
		goto done;
	}
	double t0 = now();
	if (dn_speech_denoise(sp, &in, &out, &st, &err) != DN_OK) {
		fprintf(stderr, "denoise audio: %s: %s\n", in_path, err.msg);
		goto done;
	}
	double t = now() - t0;
	if (dn_audio_write_file(&out, format, out_path, &err) != DN_OK) {
		fprintf(stderr, "denoise audio: %s\n", err.msg);
		goto done;
	}
	double secs = (double)in.frames / in.rate;
	fprintf(stderr, "denoise audio: %s -> %s: %d channel(s), %d Hz, %.2f s in %.2f s (%.3fx real time)\n",
	        in_path, out_path, in.channels, in.rate, secs, t, secs > 0 ? t / secs : 0.0);
	if (st.limited_samples)
		fprintf(stderr,
		        "denoise audio: output peaked at %.2f; the soft limiter changed %zu samples\n",
		        (double)st.peak, st.limited_samples);
	status = TOOLS_OK;
done:
	dn_audio_free(&in);
	dn_audio_free(&out);
	dn_speech_destroy(sp);
	dn_model_destroy(model);
	free(found);
	return status;
}
