/*
 * device.c — naming devices and precisions ("cpu", "cuda:1", "bf16"), the
 * same in builds with and without the CUDA backend.
 */
#include <stdlib.h>
#include <string.h>

#include "core/cuda/cuda.h"

static const char *const precision_names[] = {"fp32", "tf32", "bf16"};

int dn_precision_parse(const char *s, int *out, dn_error *err)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, precision_names[i]) == 0) {
			*out = i;
			return DN_OK;
		}
	return dn_error_set(err, DN_EINVAL, "precision \"%s\": must be fp32, tf32 or bf16", s ? s : "");
}

const char *dn_precision_name(int precision)
{
	return precision >= 0 && precision < 3 ? precision_names[precision] : "?";
}

int dn_device_parse(const char *s, int *index, dn_error *err)
{
	if (s && strcmp(s, "cpu") == 0) {
		*index = -1;
		return DN_OK;
	}
	long n = 0;
	if (!s || strncmp(s, "cuda", 4) != 0)
		return dn_error_set(err, DN_EINVAL, "device \"%s\": must be cpu, cuda or cuda:N", s ? s : "");
	if (s[4] == ':') {
		char *end;
		n = strtol(s + 5, &end, 10);
		if (end == s + 5 || *end || n < 0 || n > 1024)
			return dn_error_set(err, DN_EINVAL, "device \"%s\": N of cuda:N must be a device number", s);
	} else if (s[4]) {
		return dn_error_set(err, DN_EINVAL, "device \"%s\": must be cpu, cuda or cuda:N", s);
	}
	if (!dn_cuda_built())
		return dn_error_set(err, DN_EUNSUPPORTED,
		                    "device \"%s\": this build has no CUDA backend (configure --with-cuda)", s);
	int count = dn_cuda_device_count();
	if (n >= count)
		return dn_error_set(err, DN_EUNSUPPORTED, "device \"%s\": %d CUDA device%s visible", s, count,
		                    count == 1 ? " is" : "s are");
	*index = (int)n;
	return DN_OK;
}
