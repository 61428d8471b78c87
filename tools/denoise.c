/*
 * denoise.c — the `denoise` command-line tool: the engine of denoised
 * offline, without a server. Only dispatch lives here; each subcommand is in
 * its own cmd_*.c and registered in the table below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nn/unet.h"
#include "core/util/blas.h"
#include "core/util/threads.h"
#include "tools/tools.h"

typedef struct tools_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} tools_cmd;

static const tools_cmd commands[] = {
    {"audio", cmd_audio,
     "denoise a sound file: denoise audio IN OUT [--model FILE] [--format wav|wavf32|flac]"},
    {"stream", cmd_stream,
     "denoise live PCM, stdin to stdout: denoise stream [--model FILE] [--rate HZ] [--format s16le|f32le]"},
    {"frame", cmd_frame, "denoise a JPEG frame: denoise frame IN OUT [--model FILE] [--quality Q]"},
    {"metrics", cmd_metrics,
     "speech quality of DEGRADED against CLEAN as JSON: denoise metrics CLEAN DEGRADED"},
    {"train", cmd_train, "train a speech model: denoise train --data DIR --out MODEL [options]"},
    {"train-frame", cmd_train_frame,
     "train a frame model: denoise train-frame --data DIR --out MODEL [options]"},
    {"eval", cmd_eval, "score a speech model per noise and SNR: denoise eval [--model FILE] [--data DIR]"},
    {"devices", cmd_devices, "list the devices training can use: cpu, and cuda:N for each visible GPU"},
    {"model-init", cmd_model_init, "write a randomly initialised model file (until trained ones exist)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: denoise COMMAND [ARGS...]   (denoise COMMAND --help for its options)\n"
	           "       denoise --version           (also the BLAS and convolution kernels in use)\n"
	           "       denoise --fp32 COMMAND ...  (fp32 convolutions even where the CPU has AMX-BF16;\n"
	           "                                    default: bf16 on its tiles, see --version)\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
	dn_threads_prepare(argv); /* see core/util/threads.h */
	dn_blas_info bi;
	dn_blas_info_get(&bi);
	if (argc >= 2 && !strcmp(argv[1], "--fp32")) {
		dn_unet_set_cpu_precision("fp32", NULL);
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("denoise %s\nblas: %s\ncpu: %s\nconvolutions: %s\n", DN_VERSION, bi.line,
		       bi.cpu_model[0] ? bi.cpu_model : "unknown", dn_unet_conv_kernels());
		return fflush(stdout) == 0 ? TOOLS_OK : TOOLS_FAIL;
	}
	/* Say so when the kernel was changed, or when it is still wrong. */
	if (bi.overridden || bi.generic)
		fprintf(stderr, "denoise: %s\n", bi.line);
	if (argc < 2) {
		usage(stderr);
		return TOOLS_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return TOOLS_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "denoise: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return TOOLS_USAGE;
}
