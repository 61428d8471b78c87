/*
 * cmd_frame.c — `denoise frame IN OUT`: one JPEG or PNG frame through the
 * tiled frame pipeline (core/image/frame.c), written atomically in the format
 * --format names, else the one OUT's extension names (.png, .jpg, .jpeg),
 * else the input's; a JPEG at the quality asked for (default 95) with the
 * input's chroma subsampling (a PNG's is 4:4:4) unless --subsampling. Prints the
 * time the network took (decode and encode excluded, then included) so that
 * benchmarks can read it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/image/frame.h"
#include "core/image/image.h"
#include "core/model/model.h"
#include "core/util/threads.h"
#include "tools/tools.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: denoise frame IN OUT [--model FILE] [--format png|jpeg] [--quality Q]\n"
	           "                            [--subsampling 444|420] [--tile N] [--threads N]\n"
	           "  IN           a JPEG (baseline or progressive; RGB, grayscale or CMYK) or a PNG\n"
	           "               (palette, 16-bit: made 8-bit RGB or gray; alpha: composited over white)\n"
	           "  OUT          the same size, written atomically (grayscale stays grayscale)\n"
	           "  --model FILE a frame model (default: models/frame.safetensors)\n"
	           "  --format F   png or jpeg (default: by OUT's extension, else the input's format)\n"
	           "  --quality Q  JPEG quality 1..100 (default 95)\n"
	           "  --subsampling S  JPEG chroma, 444 or 420 (default: the input's; a PNG's is 444)\n"
	           "  --tile N     output pixels per tile side (default 384; 0: whole frame at once)\n"
	           "  --threads N  tiles denoised at once, one per thread, each with single-threaded\n"
	           "               GEMMs (default: the CPUs this process may use; same output)\n");
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int parse_int(const char *s, long lo, long hi, int *v)
{
	char *end;
	errno = 0;
	long x = strtol(s, &end, 10);
	if (errno || end == s || *end || x < lo || x > hi)
		return -1;
	*v = (int)x;
	return 0;
}

int cmd_frame(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"model", required_argument, NULL, 'm'}, {"quality", required_argument, NULL, 'q'},
	    {"tile", required_argument, NULL, 't'},  {"threads", required_argument, NULL, 'j'},
	    {"format", required_argument, NULL, 'f'}, {"subsampling", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	/* Inference: one thread per tile, serial loops, single-threaded GEMMs
	 * (as cmd_audio.c). */
	dn_threads_set(1);
	const char *model_path = NULL;
	int quality = DN_IMAGE_DEFAULT_QUALITY, c, format = DN_IMAGE_ANY, subsamp = DN_SUBSAMP_KEEP;
	dn_frame_params fp = dn_frame_default_params();
	fp.threads = dn_threads_available() > 64 ? 64 : dn_threads_available();
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:q:t:j:f:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'f':
			if ((format = dn_image_format_parse(optarg)) < 0) {
				fprintf(stderr, "denoise frame: --format wants png or jpeg, not '%s'\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 's':
			if (!strcmp(optarg, "444"))
				subsamp = DN_SUBSAMP_444;
			else if (!strcmp(optarg, "420"))
				subsamp = DN_SUBSAMP_420;
			else {
				fprintf(stderr, "denoise frame: --subsampling wants 444 or 420, not '%s'\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'q':
			if (parse_int(optarg, 1, 100, &quality)) {
				fprintf(stderr, "denoise frame: --quality wants 1..100, not '%s'\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 't':
			if (parse_int(optarg, 0, 8192, &fp.tile)) {
				fprintf(stderr, "denoise frame: --tile wants 0..8192, not '%s'\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'j':
			if (parse_int(optarg, 1, 64, &fp.threads)) {
				fprintf(stderr, "denoise frame: --threads wants 1..64, not '%s'\n", optarg);
				return TOOLS_USAGE;
			}
			break;
		case 'h': usage(stdout); return TOOLS_OK;
		default: usage(stderr); return TOOLS_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "denoise frame: expected IN and OUT, got %d argument(s)\n", argc - optind);
		usage(stderr);
		return TOOLS_USAGE;
	}
	const char *in_path = argv[optind], *out_path = argv[optind + 1];
	if (format == DN_IMAGE_ANY)
		format = dn_image_format_of_path(out_path);
	int status = TOOLS_FAIL;
	dn_error err = {0};
	dn_model *model = NULL;
	dn_frame *fr = NULL;
	dn_image in = {0}, out = {0};
	char *found = NULL;
	if (tools_load_model("frame", DN_MODEL_FRAME, &model_path, &found, &model) != TOOLS_OK)
		goto done;
	if (dn_frame_create(model, &fp, &fr, &err) != DN_OK) {
		fprintf(stderr, "denoise frame: model %s: %s\n", model_path, err.msg);
		goto done;
	}
	double t0 = now();
	if (dn_image_read_file(in_path, 0, &in, &err) != DN_OK) {
		fprintf(stderr, "denoise frame: %s\n", err.msg);
		goto done;
	}
	double t1 = now();
	if (dn_frame_denoise(fr, &in, &out, &err) != DN_OK) {
		fprintf(stderr, "denoise frame: %s: %s\n", in_path, err.msg);
		goto done;
	}
	double t2 = now();
	if (dn_image_write_file_as(&out, format, quality, subsamp, out_path, &err) != DN_OK) {
		fprintf(stderr, "denoise frame: %s\n", err.msg);
		goto done;
	}
	double t3 = now(), mp = (double)in.w * in.h / 1e6;
	fprintf(stderr,
	        "denoise frame: %s -> %s: %dx%d, %d channel(s); network %.1f ms (%.1f ms/MP), with codecs "
	        "%.1f ms\n",
	        in_path, out_path, in.w, in.h, in.channels, (t2 - t1) * 1e3, (t2 - t1) * 1e3 / mp,
	        (t3 - t0) * 1e3);
	status = TOOLS_OK;
done:
	dn_image_free(&in);
	dn_image_free(&out);
	dn_frame_destroy(fr);
	dn_model_destroy(model);
	free(found);
	return status;
}
