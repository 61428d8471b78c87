/*
 * device_opts.c — parsing of --device, --precision, --deterministic and
 * --loaders (device_opts.h), and `denoise devices`.
 */
#include "tools/device_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

static int precision_given;

int device_opts_parse(int argc, char **argv, int *i, dn_device *dev, int *loaders, const char *cmd)
{
	const char *o = argv[*i];
	dn_error err = {0};
	if (!strcmp(o, "--deterministic")) {
		dev->deterministic = 1;
		return 1;
	}
	if (strcmp(o, "--device") && strcmp(o, "--precision") && strcmp(o, "--loaders"))
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "denoise %s: %s needs a value\n", cmd, o);
		return -1;
	}
	const char *v = argv[++*i];
	int rc = DN_OK;
	if (!strcmp(o, "--device")) {
		rc = dn_device_parse(v, &dev->index, &err);
	} else if (!strcmp(o, "--precision")) {
		rc = dn_precision_parse(v, &dev->precision, &err);
		precision_given = 1;
	} else {
		char *end;
		long n = strtol(v, &end, 10);
		if (*end || end == v || n < 1 || n > 256)
			rc = dn_error_set(&err, DN_EINVAL, "--loaders %s: must be 1..256", v);
		else
			*loaders = (int)n;
	}
	if (rc) {
		fprintf(stderr, "denoise %s: %s\n", cmd, err.msg);
		return -1;
	}
	return 1;
}

int device_opts_check(const dn_device *dev, const char *cmd)
{
	if (dev->index < 0 && (precision_given && dev->precision != DN_PRECISION_FP32)) {
		fprintf(stderr, "denoise %s: --precision %s needs --device cuda (the CPU trains in fp32)\n", cmd,
		        dn_precision_name(dev->precision));
		return -1;
	}
	return 0;
}

int cmd_devices(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("cpu\n");
	if (!dn_cuda_built()) {
		printf("# no CUDA backend in this build (configure --with-cuda)\n");
		return TOOLS_OK;
	}
	int n = dn_cuda_device_count();
	for (int d = 0; d < n; d++) {
		char desc[160];
		dn_error err = {0};
		if (dn_cuda_device_describe(d, desc, sizeof desc, &err))
			printf("cuda:%d  # %s\n", d, err.msg);
		else
			printf("cuda:%d  %s\n", d, desc);
	}
	if (!n)
		printf("# CUDA backend built, but no CUDA device is visible\n");
	return TOOLS_OK;
}
