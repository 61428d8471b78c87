/*
 * cmd_stream.c — `denoise stream`: raw PCM on stdin, denoised raw PCM on
 * stdout, for pipelines (`arecord -f S16_LE -r 16000 | denoise stream |
 * aplay -f S16_LE -r 16000`).
 *
 * Whatever read() returns is pushed at once and whatever the stream gives
 * back is written at once, so the pipeline's delay is the model's
 * algorithmic latency plus the pipe's own buffering; the output has exactly
 * as many frames as the input once stdin ends. The model must be causal
 * (dn_stream refuses others with a message that says so).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/audio/stream.h"
#include "core/model/model.h"
#include "core/util/threads.h"
#include "tools/tools.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: denoise stream [--model FILE] [--rate HZ] [--channels N] [--format s16le|f32le]\n"
	           "  reads raw interleaved PCM from stdin and writes the denoised PCM, same\n"
	           "  rate, channels, format and length, to stdout as it is ready\n"
	           "  --model FILE a causal audio model (denoise train --causal; default:\n"
	           "               models/speech-live.safetensors, the shipped streaming model)\n"
	           "  --rate HZ    the PCM's sample rate, 8000..192000 (default: the model's)\n"
	           "  --channels N 1..8 (default 1)\n"
	           "  --format F   s16le (default) or f32le\n"
	           "  --quiet      no summary on stderr at the end\n");
}

/* Writes all n bytes (stdout may take them in parts). */
static int write_all(const void *p, size_t n)
{
	const char *b = p;
	while (n > 0) {
		ssize_t k = write(STDOUT_FILENO, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The stream's ready output, encoded into *buf (grown as needed), to stdout. */
static int drain(dn_stream *s, int channels, int fmt, unsigned char **buf, size_t *cap)
{
	size_t frames;
	const float *y = dn_stream_take(s, &frames);
	size_t samples = frames * (size_t)channels, bytes = samples * dn_pcm_sample_bytes(fmt);
	if (bytes > *cap) {
		unsigned char *b = realloc(*buf, bytes);
		if (!b)
			return -1;
		*buf = b;
		*cap = bytes;
	}
	dn_pcm_encode(y, samples, fmt, *buf);
	return write_all(*buf, bytes);
}

int cmd_stream(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"model", required_argument, NULL, 'm'},   {"rate", required_argument, NULL, 'r'},
	    {"channels", required_argument, NULL, 'c'}, {"format", required_argument, NULL, 'f'},
	    {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* One stream, one thread: single-threaded GEMMs on small matrices. */
	dn_threads_set(1);
	const char *model_path = NULL;
	dn_stream_params sp = dn_stream_default_params();
	int fmt = DN_PCM_S16LE, quiet = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:r:c:f:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'r':
			if (tools_parse_int(optarg, 8000, 192000, &sp.rate)) {
				fprintf(stderr, "denoise stream: --rate wants 8000..192000 Hz, not '%s'\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'c':
			if (tools_parse_int(optarg, 1, 8, &sp.channels)) {
				fprintf(stderr, "denoise stream: --channels wants 1..8, not '%s'\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'f':
			if ((fmt = dn_pcm_format_parse(optarg)) < 0) {
				fprintf(stderr, "denoise stream: unknown format '%s' (s16le or f32le)\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return TOOLS_OK;
		default: usage(stderr); return TOOLS_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "denoise stream: unexpected argument '%s' (stdin in, stdout out)\n", argv[optind]);
		usage(stderr);
		return TOOLS_USAGE;
	}
	signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error, reported */
	int status = TOOLS_FAIL;
	dn_model *model = NULL;
	dn_stream *s = NULL;
	char *found = NULL;
	unsigned char in[8192], *obuf = NULL;
	size_t ocap = 0;
	dn_error err = {0};
	/* No model named: the shipped streaming model, else the default (which
	 * dn_stream_create refuses with a message unless it is causal). */
	char *live = model_path ? NULL : tools_find_model_file("speech-live.safetensors", NULL, 0);
	if (live)
		model_path = live;
	if (tools_load_model("stream", DN_MODEL_AUDIO, &model_path, &found, &model) != TOOLS_OK)
		goto done;
	if (dn_stream_create(model, &sp, &s, &err) != DN_OK) {
		fprintf(stderr, "denoise stream: model %s: %s\n", model_path, err.msg);
		goto done;
	}
	for (;;) {
		ssize_t k = read(STDIN_FILENO, in, sizeof in);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			fprintf(stderr, "denoise stream: reading stdin: %s\n", strerror(errno));
			goto done;
		}
		if (k == 0)
			break;
		if (dn_stream_push_bytes(s, in, (size_t)k, fmt, &err) != DN_OK) {
			fprintf(stderr, "denoise stream: %s\n", err.msg);
			goto done;
		}
		if (drain(s, sp.channels, fmt, &obuf, &ocap)) {
			fprintf(stderr, "denoise stream: writing stdout: %s\n", strerror(errno));
			goto done;
		}
	}
	if (dn_stream_finish(s, &err) != DN_OK) {
		fprintf(stderr, "denoise stream: %s\n", err.msg);
		goto done;
	}
	if (drain(s, sp.channels, fmt, &obuf, &ocap)) {
		fprintf(stderr, "denoise stream: writing stdout: %s\n", strerror(errno));
		goto done;
	}
	if (!quiet)
		fprintf(stderr, "denoise stream: %zu frames of %d channel(s) at %d Hz, latency %.1f ms\n",
		        dn_stream_frames_out(s), sp.channels,
		        sp.rate ? sp.rate : dn_model_get_info(model)->sample_rate, 1e3 * dn_stream_latency(s));
	status = TOOLS_OK;
done:
	free(obuf);
	dn_stream_destroy(s);
	dn_model_destroy(model);
	free(found);
	free(live);
	return status;
}
