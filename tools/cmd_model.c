/*
 * cmd_model.c — `denoise model-init OUT`: a model file with randomly
 * initialised weights (He, from a seed), so that the pipeline, the daemon and
 * their tests run before trained models exist.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/model.h"
#include "core/nn/unet.h"
#include "tools/tools.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: denoise model-init OUT [--filters N] [--depth D] [--seed S] [--kind audio|frame]\n"
	        "                         [--causal [--lookahead N]]\n"
	        "  --filters N  base filters (default: the seed architecture's 32)\n"
	        "  --depth D    pooling steps, 1..6 (default 3)\n"
	        "  --seed S     random seed (default 1)\n"
	        "  --kind K     audio (default) or frame\n"
	        "  --causal     a causal U-Net, which can stream (denoise stream, /v1/audio:stream)\n"
	        "  --lookahead N  STFT frames a causal U-Net sees past its output (0..%d, default 0;\n"
	        "               each adds a hop to the stream's latency)\n",
	        DN_MODEL_MAX_LOOKAHEAD);
}

/* Parses a whole decimal number into [lo, hi]; 0 on success. */
static int parse_num(const char *s, long long lo, long long hi, long long *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || *end || x < lo || x > hi)
		return -1;
	*v = x;
	return 0;
}

int cmd_model_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"filters", required_argument, NULL, 'f'}, {"depth", required_argument, NULL, 'd'},
	    {"seed", required_argument, NULL, 's'},    {"kind", required_argument, NULL, 'k'},
	    {"causal", no_argument, NULL, 'c'},        {"lookahead", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	long long filters = -1, depth = -1, seed = 1, lookahead = 0;
	int kind = DN_MODEL_AUDIO, causal = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:d:s:k:cl:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': causal = 1; break;
		case 'l':
			if (parse_num(optarg, 0, DN_MODEL_MAX_LOOKAHEAD, &lookahead)) {
				fprintf(stderr,
				        "denoise model-init: --lookahead wants 0..%d frames, not '%s'\n",
				        DN_MODEL_MAX_LOOKAHEAD, optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'f':
			if (parse_num(optarg, 1, DN_UNET_MAX_FILTERS, &filters)) {
				fprintf(stderr, "denoise model-init: --filters wants 1..%d, not '%s'\n",
				        DN_UNET_MAX_FILTERS, optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'd':
			if (parse_num(optarg, 1, DN_UNET_MAX_DEPTH, &depth)) {
				fprintf(stderr, "denoise model-init: --depth wants 1..%d, not '%s'\n",
				        DN_UNET_MAX_DEPTH, optarg);
				return TOOLS_USAGE;
			}
			break;
		case 's':
			if (parse_num(optarg, 0, LLONG_MAX, &seed)) {
				fprintf(stderr,
				        "denoise model-init: --seed wants a non-negative integer, not '%s'\n",
				        optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'k':
			if (!strcmp(optarg, "audio")) {
				kind = DN_MODEL_AUDIO;
			} else if (!strcmp(optarg, "frame")) {
				kind = DN_MODEL_FRAME;
			} else {
				fprintf(stderr, "denoise model-init: --kind is audio or frame, not '%s'\n",
				        optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'h': usage(stdout); return TOOLS_OK;
		default: usage(stderr); return TOOLS_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "denoise model-init: expected one OUT file, got %d argument(s)\n",
		        argc - optind);
		usage(stderr);
		return TOOLS_USAGE;
	}
	const char *out = argv[optind];
	dn_model_info info = dn_model_default_info(kind);
	if (filters > 0)
		info.arch.base_filters = (int)filters;
	if (depth > 0)
		info.arch.depth = (int)depth;
	info.arch.causal = causal;
	info.lookahead = (int)lookahead;
	snprintf(info.version, sizeof info.version, "random-%lld", seed);

	dn_error err = {0};
	dn_unet *net;
	dn_model *m;
	if (dn_unet_create(&info.arch, (uint64_t)seed, &net, &err) != DN_OK ||
	    dn_model_create(&info, net, &m, &err) != DN_OK) {
		fprintf(stderr, "denoise model-init: %s\n", err.msg);
		return TOOLS_FAIL;
	}
	char cmdline[160];
	snprintf(cmdline, sizeof cmdline, "denoise model-init --filters %d --depth %d --seed %lld --kind %s",
	         info.arch.base_filters, info.arch.depth, seed, kind == DN_MODEL_AUDIO ? "audio" : "frame");
	const char *extra[] = {"training", "none: random He initialisation", "command", cmdline, NULL};
	int rc = dn_model_save(m, out, extra, &err);
	dn_model_destroy(m);
	if (rc != DN_OK) {
		fprintf(stderr, "denoise model-init: %s\n", err.msg);
		return TOOLS_FAIL;
	}
	fprintf(stderr, "denoise model-init: wrote %s (%s, %d base filters, depth %d, seed %lld)\n", out,
	        kind == DN_MODEL_AUDIO ? "audio" : "frame", info.arch.base_filters, info.arch.depth, seed);
	return TOOLS_OK;
}
