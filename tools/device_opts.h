/*
 * device_opts.h — the options that say where a training run's steps go,
 * shared by `denoise train` and `denoise train-frame`:
 *   --device cpu|cuda|cuda:N  --precision fp32|tf32|bf16  --deterministic
 *   --loaders N (threads making batches ahead of the step; default: auto)
 */
#ifndef TOOLS_DEVICE_OPTS_H
#define TOOLS_DEVICE_OPTS_H

#include "core/cuda/cuda.h"

#define DEVICE_OPTS_HELP                                                                                     \
	"  --device cpu|cuda|cuda:N  where steps run (default cpu; `denoise devices` lists GPUs)\n"         \
	"  --precision fp32|tf32|bf16  GPU arithmetic (default fp32)\n"                                      \
	"  --deterministic       GPU: only deterministic algorithms (same seed, same weights)\n"            \
	"  --loaders N           threads making batches ahead of the step (default: half the CPUs)\n"

/* Looks at argv[*i]: 1 consumed it (and its value, advancing *i), 0 not a
 * device option, -1 a bad value (a message naming it went to stderr). */
int device_opts_parse(int argc, char **argv, int *i, dn_device *dev, int *loaders, const char *cmd);

/* After parsing: -1 (message printed) when --precision or --deterministic
 * was given for the CPU, where they mean nothing. */
int device_opts_check(const dn_device *dev, const char *cmd);

#endif
